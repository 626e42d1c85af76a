"""One rule for test tiers whose tools may be missing on a developer's machine.

Locally, a tier whose tool is absent skips with the command that installs it. In CI (`.ci/run`
exports ``KESTRA_GCP_REQUIRE_TIERS=1``) nothing may skip that way: the same call fails the test,
so a CI run cannot go green while a tier silently did not run.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ENV = "KESTRA_GCP_REQUIRE_TIERS"


def tiers_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def require(available: bool, what: str, install: str) -> None:
    """Skips (locally) or fails (CI) the calling test when `what` is not available."""
    if available:
        return
    message = f"{what} is not available; install it with: {install}"
    if tiers_required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1: every tier must run here)", pytrace=False)
    pytest.skip(message)
