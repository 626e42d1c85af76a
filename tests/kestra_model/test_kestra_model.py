"""Every flow and dashboard under flows/ held to Kestra 1.1.7's own parser and validator, every
fixed Property value converted as a run converts it, the flows that need neither the cloud nor an
unserved plugin run in an embedded Kestra, and deliberately broken samples (tests/kestra_model/broken/)
rejected with Kestra's message.

One JVM run serves the whole module (see kestra_run.py). What Kestra could not check here is said
in the test output, never passed silently: tasks of plugins whose jars Maven Central does not serve
(UNSERVED_GROUPS) are masked during validation — Kestra still checks the flow around them and the
properties every task shares (retry, timeout, ...); their type names are checked by
tests/flows/plugin_types.txt, their enum values by tests/flows/plugin_enums.txt — and flows that
use them are not executed.

With KESTRA_PLUGINS_DIR naming a folder of the real plugin jars (docs/testing.md, the kestra_model
tier), the harness registers them instead: nothing is masked, Kestra judges every task, the enum
facts are checked against the plugins' own classes, and the flows that run without the cloud or
Docker (DuckDB, shell through the Process runner) are executed too. CI does not set it.
"""

from __future__ import annotations

import csv
import functools
import http.server
import threading
from pathlib import Path

import pytest
import yaml

from tests.flows.conftest import DASHBOARDS, FLOWS, load_allowlist, load_enum_facts
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

# Valid for Kestra's validator (a Property stays an unconverted string); wrong for a run, which
# converts the fixed value to the property's type. Each: the task.property and the value named.
BROKEN_CONVERSION = {
    "bad_enum_core.yaml": ("shout.level", '"LOUD"'),
    "bad_enum_masked_plugin.yaml": ("query.fetchType", '"FETCH_UNO"'),
}
BAD_ENUM_CORE = BROKEN_DIR / "bad_enum_core.yaml"
# What the run itself says (Property.as -> Jackson), in the Log task's ERROR line.
BAD_ENUM_RUN_MESSAGE = 'Cannot deserialize value of type `org.slf4j.event.Level` from String "LOUD"'

EXECUTIONS = [
    Execution("debug_demo: fail = false", DEBUG_DEMO, {"fail": False}),
    Execution("debug_demo: fail = true", DEBUG_DEMO, {"fail": True}),
    Execution("bad_pebble", BAD_PEBBLE, {}),
    Execution("bad_enum_core", BAD_ENUM_CORE, {}),
]

# With the real plugin jars: the flows that run on the test machine (no GCP, no GitHub, no Docker; script
# tasks forced onto the Process runner, the JDK and Maven of the machine), and why the others are not.
DEV = kestra_run.REPO_ROOT / "flows" / "dev.testing"
ORDERS = [  # Kestra's public orders.csv layout (critical_service_subflow's input description)
    (1, "Ann", "ann@example.com", 10, 5.5, 2, 11.0),
    (2, "Bob", "bob@example.com", 11, 20.0, 1, 20.0),
    (3, "Ann", "ann@example.com", 12, 3.25, 4, 13.0),
    (4, "Cid", "cid@example.net", 13, 4.0, 4, 16.0),
]
REAL_PLUGIN_EXECUTIONS = [
    Execution("critical_service_subflow: local orders", DEV / "critical_service_subflow.yaml",
              {"orders_url": "{orders_url}"}),
    Execution("java_hello_world", DEV / "java_hello_world.yaml", {}, timeout=120),
    Execution("java_namespace_file", DEV / "java_namespace_file.yaml", {}, timeout=120),
]
NOT_EXECUTED_WITH_REAL_PLUGINS = {
    "dev.testing/gcs_connection_test.yaml": "needs GCP",
    "dev.testing/parent_service.yaml": "its child downloads the orders sample from huggingface.co "
                                       "(run here with a local URL instead: critical_service_subflow)",
    "dev.testing/git_namespace_sync.yaml": "needs a Git server and the GITHUB_TOKEN secret",
    "system/tenant_sync.yaml": "needs a Git server, the KESTRA_USER/KESTRA_PASSWORD secrets and Kestra's API",
    "dev.testing/python_inline_pandas.yaml": "needs uv, a uv-managed Python and pandas from PyPI",
    "dev.testing/python_multi_step.yaml": "needs uv, a uv-managed Python and pandas from PyPI",
    "dev.testing/python_namespace_file.yaml": "needs uv, a uv-managed Python and pandas from PyPI",
    "dev.testing/java_maven_project.yaml": "its Maven build downloads plugins from Maven Central",
    "gcp.ecommerce/ingest_clean.yaml": "needs GCP",
    "gcp.yellowcab/event_ingest.yaml": "needs GCP",
    "gcp.yellowcab/fetch_data.yaml": "needs GCP and the NYC TLC download site",
    "gcp.yellowcab/parallel_pipeline.yaml": "needs GCP",
    "gcp.yellowcab/parallel_pipeline_transform.yaml": "needs GCP",
    "gcp.yellowcab/retry_rollback.yaml": "needs GCP",
    "gcp.yellowcab/retry_rollback_insert.yaml": "needs GCP",
    "gcp.yellowcab/sequential_ingest.yaml": "needs GCP",
}
PLUGINS_DIR = kestra_run.plugins_dir()
REAL_PLUGINS = PLUGINS_DIR is not None


def plugin_mode(real: bool):
    """Tests of one mode only: with the real jars (KESTRA_PLUGINS_DIR) or masking (CI, and any run without
    KESTRA_PLUGINS_DIR); each mode's tests state the same behaviour for their side."""
    reason = (f"{kestra_run.PLUGINS_DIR_VAR} is not set (CI masks)" if real
              else f"{kestra_run.PLUGINS_DIR_VAR} is set: nothing is masked")
    return pytest.mark.skipif(REAL_PLUGINS != real, reason=reason)


needs_real_plugins = plugin_mode(True)
masked_only = plugin_mode(False)


def broken_kind(name: str) -> str:
    return "dashboard" if name.startswith(("dashboard_", "broken_dashboard")) else "flow"


@pytest.fixture(scope="session")
def orders_url(tmp_path_factory):
    """ORDERS as a CSV served on 127.0.0.1 (the embedded Kestra downloads it like the public one)."""
    folder = tmp_path_factory.mktemp("orders")
    with (folder / "orders.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["order_id", "customer_name", "customer_email", "product_id", "price", "quantity", "total"])
        writer.writerows(ORDERS)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/orders.csv"
    server.shutdown()


def namespace_files() -> list[dict]:
    """Every file under flows/<namespace>/files/, as pulumi up stores it."""
    return [{"namespace": ns.name, "path": "/" + f.relative_to(ns / "files").as_posix(), "file": str(f)}
            for ns in sorted((kestra_run.REPO_ROOT / "flows").iterdir()) if (ns / "files").is_dir()
            for f in sorted((ns / "files").rglob("*")) if f.is_file()]


@pytest.fixture(scope="session")
def kestra_report(tmp_path_factory, request) -> dict:
    jdk, mvn = kestra_run.find_jdk(), kestra_run.find_maven()
    require(jdk is not None, f"a JDK {kestra_run.MIN_JAVA}+ (for Kestra 1.1)", kestra_run.INSTALL_HINT)
    require(mvn is not None, "Maven (mvn)", kestra_run.INSTALL_HINT)
    kestra_run.build(jdk, mvn)
    validate = [(s.path, "flow") for s in FLOWS] + [(s.path, "dashboard") for s in DASHBOARDS]
    validate += [(BROKEN_DIR / name, broken_kind(name)) for name in BROKEN_VALIDATION]
    validate += [(BROKEN_DIR / name, "flow") for name in BROKEN_CONVERSION]
    validate.append((BAD_PEBBLE, "flow"))
    executions = list(EXECUTIONS)
    if REAL_PLUGINS:
        url = request.getfixturevalue("orders_url")
        executions += [Execution(e.name, e.path, {k: v.format(orders_url=url) if isinstance(v, str) else v
                                                  for k, v in e.inputs.items()}, e.timeout)
                       for e in REAL_PLUGIN_EXECUTIONS]
    report = kestra_run.run(
        jdk, tmp_path_factory.mktemp("kestra_model"), validate, executions,
        plugins_dir=PLUGINS_DIR, enum_facts=load_enum_facts(), process_runner=REAL_PLUGINS,
        namespace_files=namespace_files() if REAL_PLUGINS else [],
    )
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
    """What Kestra's validator says about a file."""
    found = []
    if v.get("constraints"):
        found.append(f"constraints: {v['constraints'].strip()}")
    found += [f"deprecated: {p}" for p in v.get("deprecationPaths") or []]
    found += [f"warning: {w}" for w in v.get("warnings") or []]
    found += [f"info: {i}" for i in v.get("infos") or []]
    return found


def conversion_problems(v: dict) -> list[str]:
    """Fixed Property values a run could not convert (and enum facts a masked task breaks)."""
    found = [f"conversion: {p}" for p in (v.get("properties") or {}).get("problems") or []]
    if v.get("propertiesError"):
        found.append(f"properties not checked: {v['propertiesError']}")
    return found


# --------------------------------------------------------------------------------------------
# flows/ under Kestra's validator
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", FLOWS + DASHBOARDS, ids=[s.rel for s in FLOWS + DASHBOARDS])
def test_kestra_accepts(source, kestra_report):
    """FlowService#validate (POST /api/v1/flows/validate) or the dashboard validation finds nothing:
    no constraint violation, no deprecated property, no warning (e.g. a subflow that is not there)."""
    v = verdict(kestra_report, source.path)
    found = problems(v) + conversion_problems(v)
    assert not found, f"{source.rel}: Kestra 1.1.7 rejects it:\n" + "\n".join(found)
    # Masked tasks (v["masked"]) are not a failure; conftest.py lists them after every run.


def test_the_conversion_pass_checked_every_flow(kestra_report):
    """Every flow went through the conversion pass, and it really converts: debug_demo's log
    levels come back as the org.slf4j.event.Level constants its Log tasks name."""
    for source in FLOWS:
        assert verdict(kestra_report, source.path).get("properties") is not None, source.rel
    converted = verdict(kestra_report, DEBUG_DEMO)["properties"]["enums"]
    levels = {(e["taskId"], e["value"]) for e in converted if e["property"] == "level"}
    tasks = yaml.safe_load(DEBUG_DEMO.read_text(encoding="utf-8"))["tasks"]
    assert levels == {(t["id"], t["level"]) for t in tasks if "level" in t}
    assert {e["enum"] for e in converted if e["property"] == "level"} == {"org.slf4j.event.Level"}


@masked_only
def test_without_plugin_jars_every_unserved_group_is_masked(kestra_report):
    """CI's mode: no KESTRA_PLUGINS_DIR, no external plugin, every unserved group masked."""
    plugins = kestra_report["plugins"]
    assert plugins["external"] == []
    assert plugins["maskedGroups"] == list(kestra_run.UNSERVED_GROUPS)


@needs_real_plugins
def test_with_plugin_jars_nothing_in_flows_is_masked(kestra_report):
    """KESTRA_PLUGINS_DIR: the jars are registered, and Kestra itself judges every task of flows/."""
    plugins = kestra_report["plugins"]
    assert plugins["external"], f"{PLUGINS_DIR}: no plugin registered from these jars"
    assert all(str(PLUGINS_DIR) in e["location"] for e in plugins["external"])
    assert plugins["maskedGroups"] == [], f"no jar in {PLUGINS_DIR} for {plugins['maskedGroups']}"
    flows_dir = kestra_run.REPO_ROOT / "flows"
    masked = [(v["path"], m["type"]) for v in kestra_report["validations"]
              if Path(v["path"]).is_relative_to(flows_dir) for m in v["masked"]]
    assert masked == []


@masked_only
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


@masked_only
def test_masked_enum_values_are_held_to_the_facts(kestra_report):
    """Every enum fact is what some masked task of flows/ was checked against (none is stale)."""
    flows_dir = kestra_run.REPO_ROOT / "flows"
    used = {(u["type"], u["property"]) for v in kestra_report["validations"]
            if Path(v["path"]).is_relative_to(flows_dir) for u in (v.get("properties") or {}).get("factsUsed") or []}
    facts = {(f["type"], f["property"]) for f in load_enum_facts()}
    assert facts <= used, f"facts no flow relies on: {sorted(facts - used)}"


@needs_real_plugins
def test_enum_facts_are_the_real_plugins_constants(kestra_report):
    """plugin_enums.txt against the plugins' own classes: the same constants, in their order."""
    checks = {(c["type"], c["property"]): c for c in kestra_report["plugins"]["factChecks"]}
    for fact in load_enum_facts():
        check = checks[(fact["type"], fact["property"])]
        assert check["loaded"], f"{fact['type']}: not in the plugin jars of {PLUGINS_DIR}"
        assert "error" not in check, f"{fact['type']}.{fact['property']}: {check['error']}"
        assert check["constants"] == fact["values"], (fact["type"], fact["property"], check["enum"])


def fixed_keys(doc: dict) -> set[tuple[str, str]]:
    """(type, key) of every task and trigger key a flow sets to a value without Pebble."""
    def fixed(value) -> bool:
        text = yaml.safe_dump(value)
        return not any(mark in text for mark in ("{{", "{%", "{#"))
    items = [t for _, t, _ in iter_tasks(doc)] + list(doc.get("triggers") or [])
    return {(t.get("type"), k) for t in items for k, value in t.items() if k != "type" and fixed(value)}


@needs_real_plugins
def test_every_enum_a_flow_sets_on_a_plugin_task_has_a_fact(kestra_report):
    """Completeness of plugin_enums.txt: each enum-typed property (plain or Property) a flow sets
    on a task of an unserved group, as the real classes declare them, is listed."""
    facts = {(f["type"], f["property"]) for f in load_enum_facts()}
    missing = set()
    for source in FLOWS:
        v = verdict(kestra_report, source.path)
        enum_fields = {(e["type"], e["property"]) for e in (v.get("properties") or {}).get("enumFields") or []}
        used = fixed_keys(source.doc) & enum_fields
        missing |= {key for key in used if key[0].startswith(kestra_run.UNSERVED_GROUPS)} - facts
    assert not missing, f"add to tests/flows/plugin_enums.txt: {sorted(missing)}"


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


@pytest.mark.parametrize("name", sorted(BROKEN_CONVERSION))
def test_fixed_value_a_run_cannot_convert_is_reported(name, kestra_report):
    """Kestra's validator accepts these; the conversion a run makes does not (masked or real)."""
    v = verdict(kestra_report, BROKEN_DIR / name)
    assert problems(v) == [], f"{name}: Kestra's validator was expected to accept it"
    where, value = BROKEN_CONVERSION[name]
    found = (v.get("properties") or {}).get("problems") or []
    assert any(p.startswith(f"{where}: ") and value in p for p in found), f"{name}: {conversion_problems(v)}"


def test_bad_enum_in_a_core_task_fails_at_run_time(kestra_report):
    """The premise of the conversion check: the run itself fails on the value the validator took."""
    result = execution(kestra_report, "bad_enum_core")
    assert result["state"] == "FAILED"
    errors = [log["message"] for log in result["logs"] if log["level"] == "ERROR"]
    assert any(BAD_ENUM_RUN_MESSAGE in m for m in errors), errors


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


def test_every_flow_is_executed_with_real_plugins_or_says_why_not():
    """With the real plugin jars each flow of flows/ either runs here or has its reason listed."""
    executed = {e.path for e in EXECUTIONS + REAL_PLUGIN_EXECUTIONS}
    flows_dir = kestra_run.REPO_ROOT / "flows"
    names = {s.path.relative_to(flows_dir).as_posix(): s for s in FLOWS}
    for name, source in names.items():
        listed = name in NOT_EXECUTED_WITH_REAL_PLUGINS
        assert listed != (source.path in executed), f"{name}: executed and listed, or neither"
    assert set(NOT_EXECUTED_WITH_REAL_PLUGINS) <= set(names)


@needs_real_plugins
def test_critical_service_subflow_aggregates_the_orders_with_duckdb(kestra_report):
    result = execution(kestra_report, "critical_service_subflow: local orders")
    assert result["state"] == "SUCCESS", result
    totals, quantities = [row[6] for row in ORDERS], [row[5] for row in ORDERS]
    assert result["outputs"] == {
        "order_count": len(ORDERS),
        "total_revenue": sum(totals),
        "avg_order_value": sum(totals) / len(ORDERS),
        "avg_quantity": sum(quantities) / len(ORDERS),
    }
    row = next(t for t in result["taskRuns"] if t["taskId"] == "aggregate_orders")["outputs"]["row"]
    assert row["customer_count"] == len({r[2] for r in ORDERS})


@needs_real_plugins
def test_java_hello_world_compiles_and_runs_on_the_process_runner(kestra_report):
    result = execution(kestra_report, "java_hello_world")
    assert result["state"] == "SUCCESS", result
    version = result["outputs"]["java_version"]
    assert version and version[0].isdigit()
    logs = [log["message"] for log in result["logs"] if log["taskId"] == "hello_java"]
    assert any(f"Hello, Kestra dev.testing! Java {version}" in m for m in logs), logs


@needs_real_plugins
def test_java_namespace_file_summarises_the_sales(kestra_report):
    """The namespace file java/DataProcessor.java, stored as pulumi up stores it, compiled and run."""
    result = execution(kestra_report, "java_namespace_file")
    assert result["state"] == "SUCCESS", result
    task = next(t for t in yaml.safe_load((DEV / "java_namespace_file.yaml").read_text())["tasks"] if t["id"] == "process_sales")
    sales = list(csv.DictReader(task["inputFiles"]["sales.csv"].splitlines()))
    assert result["outputs"]["products"] == len({r["product"] for r in sales})
    assert result["outputs"]["total_revenue"] == pytest.approx(
        sum(int(r["quantity"]) * float(r["unit_price"]) for r in sales), abs=0.01)


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
