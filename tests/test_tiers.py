"""The tier rule: a missing tool skips a test locally and fails it in CI."""

import pytest

from tests.support import tiers


def test_missing_tool_skips_locally_with_the_install_command(monkeypatch):
    monkeypatch.delenv(tiers.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="install it with: scripts/install-tools"):
        tiers.require(False, "the Pulumi CLI", "scripts/install-tools")


def test_missing_tool_fails_in_ci(monkeypatch):
    monkeypatch.setenv(tiers.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="the Pulumi CLI is not available"):
        tiers.require(False, "the Pulumi CLI", "scripts/install-tools")


def test_present_tool_neither_skips_nor_fails(monkeypatch):
    monkeypatch.setenv(tiers.REQUIRE_ENV, "1")
    assert tiers.require(True, "the Pulumi CLI", "scripts/install-tools") is None
