"""Every flow and dashboard under flows/ held to Kestra 1.1.7's own parser and validator, the flows
that need neither the cloud nor an unserved plugin run in an embedded Kestra, and deliberately
broken samples (tests/kestra_model/broken/) rejected with Kestra's message.

One JVM run serves the whole module (see kestra_run.py). What Kestra could not check here is said
in the test output, never passed silently: tasks of plugins whose jars Maven Central does not serve
(UNSERVED_GROUPS) are masked during validation — Kestra still checks the flow around them and the
properties every task shares (retry, timeout, ...); their type names are checked by
tests/flows/plugin_types.txt — and flows that use them are not executed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.flows.conftest import DASHBOARDS, FLOWS, load_allowlist
from tests.flows.flow_walk import iter_tasks
from tests.kestra_model import kestra_run
from tests.kestra_model.kestra_run import Execution
from tests.support.tiers import require

pytestmark = pytest.mark.kestra_model

BROKEN_DIR = Path(__file__).with_name("broken")
DEBUG_DEMO = kestra_run.REPO_ROOT / "flows" / "gcp.ecommerce" / "debug_demo.yaml"

# Each broken sample and what Kestra 1.1.7 says about it (a fragment of its message).
BROKEN_VALIDATION = {
    "misspelt_property.yaml": ("constraints", 'Unrecognized field "mesage" (class io.kestra.plugin.core.log.Log)'),
    "wrong_type.yaml": ("constraints", 'Cannot deserialize value of type `boolean` from String "sometimes"'),
    "missing_required.yaml": ("constraints", "hello.message: must not be null"),
    "unknown_type.yaml": ("constraints", "Invalid type: io.kestra.plugin.core.log.Logg"),
    "deprecated_property.yaml": ("deprecationPaths", "inputs[0]"),
    "missing_subflow.yaml": ("warnings", "The subflow 'no_such_flow' not found in namespace 'kestra_model.broken'."),
    "masked_plugin_core_property.yaml": ("constraints", 'Unrecognized field "maxDurations"'),
    "dashboard_misspelt_property.yaml": ("constraints", 'Unrecognized field "titel" (class io.kestra.core.models.dashboards.Dashboard)'),
    "broken_dashboard.yaml": ("constraints", "Illegal dashboard source"),
}
# Valid as a model; Kestra's Pebble parser rejects it when the task renders its message.
BAD_PEBBLE = BROKEN_DIR / "bad_pebble.yaml"
BAD_PEBBLE_MESSAGE = 'ParserException: Unexpected token of value "}}"'

EXECUTIONS = [
    Execution("debug_demo: fail = false", DEBUG_DEMO, {"fail": False}),
    Execution("debug_demo: fail = true", DEBUG_DEMO, {"fail": True}),
    Execution("bad_pebble", BAD_PEBBLE, {}),
]


def broken_kind(name: str) -> str:
    return "dashboard" if name.startswith(("dashboard_", "broken_dashboard")) else "flow"


@pytest.fixture(scope="session")
def kestra_report(tmp_path_factory) -> dict:
    jdk, mvn = kestra_run.find_jdk(), kestra_run.find_maven()
    require(jdk is not None, f"a JDK {kestra_run.MIN_JAVA}+ (for Kestra 1.1)", kestra_run.INSTALL_HINT)
    require(mvn is not None, "Maven (mvn)", kestra_run.INSTALL_HINT)
    kestra_run.build(jdk, mvn)
    validate = [(s.path, "flow") for s in FLOWS] + [(s.path, "dashboard") for s in DASHBOARDS]
    validate += [(BROKEN_DIR / name, broken_kind(name)) for name in BROKEN_VALIDATION]
    validate.append((BAD_PEBBLE, "flow"))
    report = kestra_run.run(jdk, tmp_path_factory.mktemp("kestra_model"), validate, EXECUTIONS)
    kestra_run.LAST_REPORT.update(report)
    return report


def verdict(report: dict, path: Path) -> dict:
    matches = [v for v in report["validations"] if Path(v["path"]) == path]
    assert len(matches) == 1, f"no single Kestra verdict for {path}"
    return matches[0]


def execution(report: dict, name: str) -> dict:
    result = next(e for e in report["executions"] if e["name"] == name)
    assert "error" not in result, f"{name}: the embedded Kestra could not run it: {result['error']}"
    return result


def problems(v: dict) -> list[str]:
    found = []
    if v.get("constraints"):
        found.append(f"constraints: {v['constraints'].strip()}")
    found += [f"deprecated: {p}" for p in v.get("deprecationPaths") or []]
    found += [f"warning: {w}" for w in v.get("warnings") or []]
    found += [f"info: {i}" for i in v.get("infos") or []]
    return found


# --------------------------------------------------------------------------------------------
# flows/ under Kestra's validator
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", FLOWS + DASHBOARDS, ids=[s.rel for s in FLOWS + DASHBOARDS])
def test_kestra_accepts(source, kestra_report):
    """FlowService#validate (POST /api/v1/flows/validate) or the dashboard validation finds nothing:
    no constraint violation, no deprecated property, no warning (e.g. a subflow that is not there)."""
    v = verdict(kestra_report, source.path)
    found = problems(v)
    assert not found, f"{source.rel}: Kestra 1.1.7 rejects it:\n" + "\n".join(found)
    # Masked tasks (v["masked"]) are not a failure; conftest.py lists them after every run.


def test_masked_tasks_are_only_allowlisted_plugin_types(kestra_report):
    """Masking covers exactly the unserved plugins, whose type names our allowlist checks instead."""
    allowlist = load_allowlist()
    masked = {m["type"] for v in kestra_report["validations"] for m in v["masked"]}
    assert masked, "nothing was masked: the unserved-plugin list is stale, or the harness changed"
    assert all(t.startswith(kestra_run.UNSERVED_GROUPS) for t in masked)
    flows_masked = {m["type"] for v in kestra_report["validations"]
                    if Path(v["path"]).is_relative_to(kestra_run.REPO_ROOT / "flows") for m in v["masked"]}
    assert flows_masked <= set(allowlist), sorted(flows_masked - set(allowlist))


def test_every_core_only_flow_is_checked_whole(kestra_report):
    """A flow without unserved plugins is validated as written, nothing masked."""
    for source in FLOWS:
        uses_unserved = any(g in source.text for g in kestra_run.UNSERVED_GROUPS)
        if not uses_unserved:
            assert verdict(kestra_report, source.path)["masked"] == [], source.rel


# --------------------------------------------------------------------------------------------
# Negative proof: the harness fails on broken flows, with Kestra's message
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BROKEN_VALIDATION))
def test_kestra_rejects_broken_sample(name, kestra_report):
    field, fragment = BROKEN_VALIDATION[name]
    v = verdict(kestra_report, BROKEN_DIR / name)
    value = v.get(field)
    text = value if isinstance(value, str) else "\n".join(value or [])
    assert fragment in text, f"{name}: expected Kestra to say {fragment!r} in {field}, got: {problems(v)}"


def test_bad_pebble_passes_validation_but_fails_at_run_time(kestra_report):
    assert problems(verdict(kestra_report, BAD_PEBBLE)) == []
    result = execution(kestra_report, "bad_pebble")
    assert result["state"] == "FAILED"
    errors = [log["message"] for log in result["logs"] if log["level"] == "ERROR"]
    assert any(BAD_PEBBLE_MESSAGE in m for m in errors), errors


# --------------------------------------------------------------------------------------------
# Executions in the embedded Kestra
# --------------------------------------------------------------------------------------------

def debug_demo_task_ids() -> list[str]:
    return [t["id"] for t in yaml.safe_load(DEBUG_DEMO.read_text(encoding="utf-8"))["tasks"]]


def test_debug_demo_succeeds_when_fail_is_false(kestra_report):
    result = execution(kestra_report, "debug_demo: fail = false")
    assert result["state"] == "SUCCESS"
    runs = {t["taskId"]: t for t in result["taskRuns"]}
    assert list(runs) == debug_demo_task_ids()
    assert all(t["state"] == "SUCCESS" for t in runs.values())
    assert runs["prepare"]["outputs"]["values"]["will_fail"] == "false"
    levels = {(log["taskId"], log["level"]) for log in result["logs"]}
    # Logging at WARN and ERROR is only logging: the tasks succeeded above.
    assert {("log_info", "INFO"), ("log_warn", "WARN"), ("log_error", "ERROR")} <= levels


def test_debug_demo_stops_at_failure_gate_when_fail_is_true(kestra_report):
    result = execution(kestra_report, "debug_demo: fail = true")
    assert result["state"] == "FAILED"
    states = {t["taskId"]: t["state"] for t in result["taskRuns"]}
    assert states["failure_gate"] == "FAILED"
    assert "done" not in states, "tasks after failure_gate must not run"
    assert all(states[t] == "SUCCESS" for t in ("log_info", "log_debug", "log_warn", "log_error", "prepare"))
    assert result["outputs"] in (None, {})
    gate = next(t for t in yaml.safe_load(DEBUG_DEMO.read_text(encoding="utf-8"))["tasks"] if t["id"] == "failure_gate")
    errors = [log["message"] for log in result["logs"] if log["level"] == "ERROR" and log["taskId"] == "failure_gate"]
    assert gate["errorMessage"] in errors


# --------------------------------------------------------------------------------------------
# The harness's own plumbing
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("release,major", [
    ('JAVA_VERSION="25.0.1"', 25), ('JAVA_VERSION="21"', 21), ('JAVA_VERSION="17.0.13"', 17),
    ('JAVA_VERSION="1.8.0_412"', 8), ("IMPLEMENTOR=x", 0),
])
def test_java_major_reads_the_jdk_release_file(tmp_path, release, major):
    (tmp_path / "release").write_text(release + "\n", encoding="utf-8")
    assert kestra_run.java_major(tmp_path) == major


def test_find_jdk_ignores_a_java_home_older_than_21(tmp_path, monkeypatch):
    old = tmp_path / "jdk17"
    (old / "bin").mkdir(parents=True)
    (old / "bin" / "javac").touch()
    (old / "release").write_text('JAVA_VERSION="17.0.13"\n', encoding="utf-8")
    monkeypatch.setenv("KESTRA_MODEL_JAVA_HOME", str(old))
    monkeypatch.setenv("JAVA_HOME", str(old))
    assert kestra_run.find_jdk() != old


def test_every_flow_the_embedded_kestra_can_run_is_executed():
    """A flow runs here when it and every flow it calls use only what this harness can load (no
    unserved plugin, hence no GCP). Today that is debug_demo alone: parent_service is core-only
    but its child aggregates with the DuckDB plugin. A new such flow must be added to EXECUTIONS."""
    by_ref = {(s.doc.get("namespace"), s.doc.get("id")): s for s in FLOWS if s.doc}

    def runnable(source, seen=()) -> bool:
        if source.path in seen or any(g in source.text for g in kestra_run.UNSERVED_GROUPS):
            return False
        children = [(t.get("namespace"), t.get("flowId")) for _, t, _ in iter_tasks(source.doc)
                    if t.get("type") in ("io.kestra.plugin.core.flow.Subflow", "io.kestra.plugin.core.flow.ForEachItem")]
        return all(ref in by_ref and runnable(by_ref[ref], (*seen, source.path)) for ref in children)

    can_run = {s.path for s in FLOWS if s.doc and runnable(s)}
    executed = {e.path for e in EXECUTIONS}
    assert can_run <= executed, sorted(str(p) for p in can_run - executed)
    assert DEBUG_DEMO in can_run
