"""The tier rule: a missing tool skips a test locally and fails it in CI."""

import re
from pathlib import Path

import pytest

from tests.support import kube_control_plane, tiers


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


def test_kube_tier_runs_only_with_every_control_plane_tool(tmp_path):
    # Any one missing (or not executable) makes the kube fixtures skip locally and fail in CI.
    assert kube_control_plane.find_tools(tmp_path) is None
    for tool in kube_control_plane.TOOLS:
        (tmp_path / tool).write_text("")
        (tmp_path / tool).chmod(0o755)
    assert kube_control_plane.find_tools(tmp_path) == tmp_path
    (tmp_path / "kube-scheduler").chmod(0o644)
    assert kube_control_plane.find_tools(tmp_path) is None
    (tmp_path / "kube-scheduler").chmod(0o755)
    (tmp_path / "kwok-stages.yaml").unlink()
    assert kube_control_plane.find_tools(tmp_path) is None


def test_ci_builds_every_tiers_tools_before_requiring_every_tier():
    lines = [line.strip() for line in (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().splitlines()]
    required = lines.index(f"export {tiers.REQUIRE_ENV}=1")
    for script in ("scripts/install-tools", "scripts/install-kube-tools"):
        assert lines.index(script) < required, script
    assert required < lines.index("python -m pytest -q")


def test_kube_marker_is_registered_and_its_tests_are_engine_tests():
    import configparser

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "pytest.ini")
    markers = [line.split(":", 1)[0].strip() for line in config["pytest"]["markers"].splitlines() if line.strip()]
    assert "kube" in markers
    # In tests/engine/: the engine conftest marks them engine, so the offline selection leaves them out.
    assert (Path(__file__).resolve().parent / "engine" / "test_kube_gke.py").is_file()


# Skips that are not about a missing tool, each with why it cannot hide a tier in CI.
ALLOWED_SKIPS = {
    # Opt-in by design: the integration tier needs a real Kestra the user points at.
    "tests/integration/": 'pytest.mark.skipif(not os.environ.get("KESTRA_URL")',
    # Opt-in by design: Kestra publishes neither its server nor jdbc-postgres, so CI cannot build the
    # Kestra these tests boot (KESTRA_LAUNCHER); CI checks the rendered keys instead (test_config_keys).
    "tests/real_kestra/": 'pytest.mark.skipif(MISSING is not None, reason=f"{MISSING}; {real_kestra.HOW_TO_GET}")',
    # The same opt-in, for the gke configuration read back from the kube tier's apiserver.
    "tests/engine/test_kube_gke.py": 'pytest.mark.skipif(MISSING_KESTRA is not None, reason=f"{MISSING_KESTRA}; {real_kestra.HOW_TO_GET}")',
    # Opt-in by design: the kestra_model tier's real-plugin mode needs jars Maven Central does not
    # serve (KESTRA_PLUGINS_DIR, which .ci/run unsets); CI runs the masked mode's counterparts.
    "tests/kestra_model/test_kestra_model.py": "pytest.mark.skipif(REAL_PLUGINS != real, reason=reason)",
    # A flow that does not parse is reported (and fails) in test_yaml_parses; its other checks skip.
    "tests/flows/test_structure.py": 'pytest.skip(f"{yaml_file.rel} does not parse; reported by test_yaml_parses")',
}


def test_every_tool_dependent_skip_goes_through_the_tier_rule():
    # A bare skipif/importorskip on a missing tool would let CI go green without running the tier.
    root = Path(__file__).resolve().parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        if rel == "tests/support/tiers.py" or path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"pytest\.(skip\b|mark\.skip|importorskip)", line):
                allowed = next((text for prefix, text in ALLOWED_SKIPS.items()
                                if rel == prefix or (prefix.endswith("/") and rel.startswith(prefix))), None)
                if allowed is None or allowed not in line:
                    offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders, "skip through tests.support.tiers.require instead:\n" + "\n".join(offenders)
