"""An existing Kestra at `kestraUrl` (the external profile): the stack creates no runtime."""

from __future__ import annotations

from infra.config import StackConfig
from infra.runtimes.contract import KestraRuntimeOutputs


def external_runtime(config: StackConfig) -> KestraRuntimeOutputs:
    """An existing Kestra at `kestraUrl`: the stack controls none of its configuration."""
    url = config.access.external_url
    return KestraRuntimeOutputs(url=url, password=config.access.password, internal_url=url, ready=[])
