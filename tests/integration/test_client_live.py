"""What the client, `kestra.validate` and `kestra.smoke` rely on, against a real Kestra 1.1.

Skipped unless ``KESTRA_URL`` is set (with ``KESTRA_USERNAME``, ``KESTRA_PASSWORD``). Every test
works in its own namespace (``itest.kestra_gcp.<random>``) or with its own dashboard id and
removes what it created. `test_the_repositorys_flows_are_valid_for_kestra` needs the plugins
docs/flows-as-code.md lists for an existing Kestra (Kestra's official image has them).
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import pytest

from kestra import smoke, tour, validate
from kestra.client import KestraApiError, KestraClient, KestraNotFound, KestraValidationError
from kestra.resources import NamespaceFileProvider

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("KESTRA_URL"), reason="KESTRA_URL is not set"),
]

REPO = Path(__file__).resolve().parents[2]
PROVIDER = {"__provider": "serialized-provider"}

RUNS = """\
id: runs
namespace: {ns}
inputs:
  - id: rows
    type: INT
  - id: label
    type: STRING
    defaults: none
  - id: loud
    type: BOOL
    defaults: false
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "rows={{{{ inputs.rows }}}} label={{{{ inputs.label }}}}"
  - id: quiet
    type: io.kestra.plugin.core.log.Log
    level: DEBUG
    message: a debug line
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ inputs.rows * 2 }}}}"
  - id: careful
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: a warning
outputs:
  - id: doubled
    type: STRING
    value: "{{{{ outputs.answer.value }}}}"
"""

FAILING = """\
id: failing
namespace: {ns}
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: before the failure
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: the boom task failed on purpose
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: never logged
"""


@pytest.fixture
def live():
    with KestraClient(os.environ["KESTRA_URL"], os.environ.get("KESTRA_USERNAME", ""),
                      os.environ.get("KESTRA_PASSWORD", ""), deadline=60) as client:
        yield client


@pytest.fixture
def ns(live):
    namespace = f"itest.kestra_gcp.n{uuid.uuid4().hex[:10]}"
    yield namespace
    for flow in live._json(live._request("GET", f"flows/{namespace}", "namespace")) or []:
        try:
            live.delete_flow(namespace, flow["id"])
        except KestraNotFound:
            pass


def outputs() -> dict:
    return {"kestraUrl": os.environ["KESTRA_URL"], "kestraUsername": os.environ.get("KESTRA_USERNAME", ""),
            "kestraPassword": os.environ.get("KESTRA_PASSWORD", "")}


def finish(live: KestraClient, execution: dict) -> dict:
    done, finished = smoke.wait_for(live, execution, timeout=120, interval=0.5)
    assert finished, f"execution {execution['id']} still {smoke.state_of(done)}"
    return done


# -- namespace files -----------------------------------------------------------------------------

def test_deleting_a_missing_file_never_takes_its_neighbour(live, ns):
    """Kestra's DELETE of a missing file whose folder holds one other file deletes that folder
    (NamespaceFileController.deleteFileDirectory): the client and the provider must not send it."""
    live.upload_namespace_file(ns, "/scripts/theirs.py", "print('made by hand')\n")
    try:
        assert live.delete_namespace_file(ns, "/scripts/ours.py") is False
        conn = {"url": os.environ["KESTRA_URL"], "username": os.environ.get("KESTRA_USERNAME", ""),
                "password": os.environ.get("KESTRA_PASSWORD", ""), "tenant": "main", "deadline": 60}
        provider = NamespaceFileProvider()
        props = provider.check({}, {**PROVIDER, **conn, "namespace": ns, "path": "scripts/ours.py",
                                    "content": "print('ours')\n"}).inputs
        created = provider.create(props)
        live.delete_namespace_file(ns, "/scripts/ours.py")  # by hand, in the UI
        provider.delete(created.id, {**created.outs, **PROVIDER})
        assert live.get_namespace_file(ns, "/scripts/theirs.py") == b"print('made by hand')\n"
    finally:
        live.delete_namespace_file(ns, "/scripts/theirs.py")


# -- KV ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,kind", [
    ("a bucket", "STRING"), ("42", "STRING"), ('say "hi"', "STRING"), ("", "STRING"),
    (42, "NUMBER"), (2.5, "NUMBER"), (True, "BOOLEAN"), (False, "BOOLEAN"),
    ({"a": 1, "nested": {"b": [1, "two"]}}, "JSON"), ([1, "two", None], "JSON"),
])
def test_kv_values_come_back_with_their_type(live, ns, value, kind):
    live.put_kv(ns, "K", value)
    try:
        assert live.get_kv(ns, "K") == {"type": kind, "value": value}
    finally:
        assert live.delete_kv(ns, "K") is True
    assert live.delete_kv(ns, "K") is False
    with pytest.raises(KestraNotFound, match="No value found for key 'K'"):
        live.get_kv(ns, "K")


# -- dashboards ----------------------------------------------------------------------------------

def test_deleting_a_missing_dashboard_is_kestras_409_read_as_gone(live):
    did = f"itest_{uuid.uuid4().hex[:10]}"
    live.put_dashboard(did, f"id: {did}\ntitle: One\ncharts: []\n")
    live.delete_dashboard(did)
    with pytest.raises(KestraNotFound) as err:
        live.delete_dashboard(did)
    assert err.value.status == 409 and f"Dashboard {did} doesn't exists" in err.value.detail


def test_refused_documents_are_validation_errors_on_create_and_update(live, ns):
    bad_flow = f"id: bad\nnamespace: {ns}\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Nope\n    message: x\n"
    with pytest.raises(KestraValidationError, match="Invalid type: io.kestra.plugin.core.log.Nope"):
        live.put_flow(ns, "bad", bad_flow)
    live.create_flow(bad_flow.replace("core.log.Nope", "core.log.Log"))
    with pytest.raises(KestraValidationError, match="Invalid type: io.kestra.plugin.core.log.Nope"):
        live.put_flow(ns, "bad", bad_flow, exists=True)
    did = f"itest_{uuid.uuid4().hex[:10]}"
    with pytest.raises(KestraValidationError, match="title: must not be"):
        live.put_dashboard(did, f"id: {did}\ncharts: []\n")
    live.put_dashboard(did, f"id: {did}\ntitle: One\ncharts: []\n")
    try:
        with pytest.raises(KestraValidationError, match="Invalid type: io.kestra.Nope"):
            live.put_dashboard(did, f"id: {did}\ntitle: One\ncharts:\n  - id: c\n    type: io.kestra.Nope\n",
                               exists=True)
    finally:
        live.delete_dashboard(did)


# -- validate ------------------------------------------------------------------------------------

def test_validate_batches_map_every_result_back_to_its_file(live, ns, tmp_path):
    """One request for the files Kestra splits as expected, one more for a file with its own
    ``---`` line; problems and deprecations named by file and flow."""
    root = tmp_path / "flows"
    files = {
        f"{ns}/a.yaml": f"id: a\nnamespace: {ns}\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: a\n",
        f"{ns}/broken.yaml": f"id: broken\nnamespace: {ns}\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Nope\n",
        f"{ns}/old.yaml": (f"id: old\nnamespace: {ns}\ninputs:\n  - id: flag\n    type: BOOLEAN\ntasks:\n"
                           "  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: old\n"),
        f"{ns}/two.yaml": (f"id: two\nnamespace: {ns}\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
                           f"    message: two\n---\nid: second\nnamespace: {ns}\n"),
        f"{ns}/dashboards/ok.yaml": "id: ok\ntitle: Fine\ncharts: []\n",
        f"{ns}/dashboards/untitled.yaml": "id: untitled\ncharts: []\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    report = validate.validate_tree(live, root)
    # Kestra lists a dashboard's title violations in either order (a HashSet): compared as sets.
    problems = {(Path(name).name, flow, frozenset(reason.splitlines())) for name, flow, reason in report.problems}
    assert problems == {
        ("broken.yaml", f"{ns}/broken",
         frozenset({"jakarta.validation.ConstraintViolationException: Invalid type: io.kestra.plugin.core.log.Nope"})),
        ("two.yaml", f"{ns}/second", frozenset({"tasks: must not be empty"})),
        ("untitled.yaml", "untitled", frozenset({"title: must not be null", "title: must not be blank"})),
    }
    assert [(Path(name).name, flow, why) for name, flow, why in report.warnings] == [
        ("old.yaml", f"{ns}/old", "deprecated: inputs[0]")]
    assert (report.requests, report.documents) == (4, 6)  # 3 flows batched + two.yaml + 2 dashboards


def test_the_repositorys_flows_are_valid_for_kestra(live):
    out = io.StringIO()
    env = {"KESTRA_URL": os.environ["KESTRA_URL"], "KESTRA_USERNAME": os.environ.get("KESTRA_USERNAME", ""),
           "KESTRA_PASSWORD": os.environ.get("KESTRA_PASSWORD", "")}
    code = validate.main([str(REPO / "flows")], environ=env, out=out)
    assert code == validate.EXIT_OK, out.getvalue()
    assert "all valid" in out.getvalue()


# -- executions ----------------------------------------------------------------------------------

def test_an_execution_types_its_inputs_runs_every_task_and_logs_by_level(live, ns):
    live.create_flow(RUNS.format(ns=ns))
    execution = live.trigger_execution(ns, "runs", {"rows": 21, "loud": True})
    assert execution["state"]["current"] == "CREATED"
    assert execution["inputs"] == {"rows": 21, "label": "none", "loud": True}
    done = finish(live, execution)
    assert done["state"]["current"] == "SUCCESS"
    assert [(r["taskId"], r["state"]["current"]) for r in done["taskRunList"]] == [
        ("hello", "SUCCESS"), ("quiet", "SUCCESS"), ("answer", "SUCCESS"), ("careful", "SUCCESS")]
    assert {r["taskId"]: r["outputs"] for r in done["taskRunList"]}["answer"] == {"value": "42"}
    assert done["outputs"] == {"doubled": "42"}
    every = live.execution_logs(done["id"], "TRACE")
    assert ("hello", "INFO", "rows=21 label=none") in [(e.get("taskId"), e["level"], e["message"]) for e in every]
    assert {e["level"] for e in every} >= {"DEBUG", "INFO", "WARN"}
    assert [(e["taskId"], e["level"]) for e in live.execution_logs(done["id"], "WARN")] == [("careful", "WARN")]
    assert [e["taskId"] for e in live.execution_logs(done["id"], "INFO")] == ["hello", "careful"]
    with pytest.raises(KestraApiError) as err:
        live.execution_logs(done["id"], "WARNING")  # org.slf4j.event.Level says WARN
    assert err.value.status == 422


def test_a_missing_required_input_is_refused_and_starts_nothing(live, ns):
    live.create_flow(RUNS.format(ns=ns))
    with pytest.raises(KestraApiError) as err:
        live.trigger_execution(ns, "runs", {"label": "x"})
    assert err.value.status == 422 and "missing required input" in str(err.value)
    assert live.search_executions(ns, "runs") == []


def test_search_finds_an_execution_from_its_own_start_and_nothing_after(live, ns):
    live.create_flow(RUNS.format(ns=ns))
    done = finish(live, live.trigger_execution(ns, "runs", {"rows": 1}))
    since = tour._search_date(done["state"]["startDate"])
    assert [e["id"] for e in live.search_executions(ns, "runs", start_date=since)] == [done["id"]]
    assert live.search_executions(ns, "runs", start_date="2999-01-01T00:00:00.000Z") == []
    assert live.search_executions(ns.rsplit(".", 1)[0], "runs") == []  # exactly this namespace
    assert [e["id"] for e in live.search_executions(ns, "runs")] == [done["id"]]


def test_a_failing_task_stops_the_run_and_smoke_names_it(live, ns):
    live.create_flow(FAILING.format(ns=ns))
    done = finish(live, live.trigger_execution(ns, "failing"))
    assert done["state"]["current"] == "FAILED"
    assert [(r["taskId"], r["state"]["current"]) for r in done["taskRunList"]] == [
        ("first", "SUCCESS"), ("boom", "FAILED")]
    assert [(e["taskId"], e["message"]) for e in live.execution_logs(done["id"], "ERROR")] == [
        ("boom", "the boom task failed on purpose")]
    out = io.StringIO()
    code = smoke.run(outputs(), ns, "failing", timeout=120, interval=0.5, out=out)
    assert code == smoke.EXIT_FAILED
    assert "failing task(s): boom" in out.getvalue() and "the boom task failed on purpose" in out.getvalue()


def test_triggering_a_missing_flow_is_not_found(live, ns):
    with pytest.raises(KestraNotFound, match="Requested Flow is not found"):
        live.trigger_execution(ns, "nope")
    code = smoke.run(outputs(), ns, "nope", timeout=10, interval=0.5, out=io.StringIO())
    assert code == smoke.EXIT_API
