"""The runtime contract: whichever way the stack gets its Kestra, it yields the same things.

`__main__.py` picks one runtime — Kestra in Docker (`docker.py`), Kestra on GKE (`gke/`) or an
existing Kestra at `kestraUrl` (`external.py`) — and hands its `KestraRuntimeOutputs` to the flows'
deployment and to the stack outputs. Nothing downstream knows which runtime it got.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi


@dataclass(frozen=True)
class KestraRuntimeOutputs:
    url: pulumi.Input[str]  # Kestra's API/UI as the machine running Pulumi reaches it
    password: pulumi.Input[str]  # basic-auth password (exported as a secret)
    internal_url: pulumi.Input[str]  # Kestra's API as flows inside Kestra reach it
    ready: Sequence[pulumi.Resource]  # what the flows must wait for (Kestra up and serving)
    ca_certificate: Optional[pulumi.Input[str]] = None  # PEM of the CA to verify `url` with, when self-issued
    deadline: Optional[float] = None  # seconds each API call may retry (None: the client's default)
    # Whether the stack handed this Kestra the optional GitHub token / Gemini key itself.
    configures_secrets: bool = False
