"""The stand-in's executions and logs behave like Kestra 1.1's (ExecutionController, LogController).

These pin the model the smoke and tour tests rely on: the execution JSON (state history, task runs
with their own states and outputs, flow outputs, trigger), the way it unfolds poll by poll, the
logs endpoint's minLevel filter (org.slf4j.event.Level order), and the search endpoint.
"""

from __future__ import annotations

import pytest

from kestra import tour
from kestra.client import KestraApiError
from tests.kestra.conftest import flow_source
from tests.support.standin_executions import FlowScript, Spawn, TaskStep

LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
LOGGING_FLOW = """\
id: levels
namespace: dev.testing
inputs:
  - {id: fail, type: BOOL, defaults: false}
  - {id: rows, type: INT, defaults: 10}
  - {id: months, type: MULTISELECT, values: ["01", "02"], defaults: ["01"]}
tasks:
  - {id: t_trace, type: io.kestra.plugin.core.log.Log, level: TRACE, message: trace line}
  - {id: t_debug, type: io.kestra.plugin.core.log.Log, level: DEBUG, message: debug line}
  - {id: t_info, type: io.kestra.plugin.core.log.Log, message: info line}
  - {id: t_warn, type: io.kestra.plugin.core.log.Log, level: WARN, message: warn line}
  - {id: t_error, type: io.kestra.plugin.core.log.Log, level: ERROR, message: error line}
"""


def finish(client, execution: dict) -> dict:
    for _ in range(10):
        execution = client.get_execution(execution["id"])
        if execution["state"]["current"] not in ("CREATED", "RUNNING"):
            return execution
    raise AssertionError("never ended")


def test_execution_goes_created_running_then_ends_with_history_and_task_runs(standin, client):
    standin.put_flow_directly(flow_source())
    created = client.trigger_execution("dev.testing", "hello")
    assert created["state"]["current"] == "CREATED" and created["taskRunList"] == []
    assert created["url"].endswith(f"/ui/main/executions/dev.testing/hello/{created['id']}")
    assert "endDate" not in created["state"]
    seen = [client.get_execution(created["id"])["state"]["current"] for _ in range(3)]
    assert seen == ["CREATED", "RUNNING", "SUCCESS"]
    done = client.get_execution(created["id"])
    assert [h["state"] for h in done["state"]["histories"]] == ["CREATED", "RUNNING", "SUCCESS"]
    assert done["state"]["duration"].startswith("PT") and done["state"]["endDate"]
    assert [(r["taskId"], r["state"]["current"]) for r in done["taskRunList"]] == [("log", "SUCCESS")]
    assert "outputs" in done["taskRunList"][0]  # @JsonInclude(ALWAYS): present even when null


def test_running_execution_shows_its_first_task_run_running(standin, client):
    standin.put_flow_directly(flow_source())
    standin.execution_model.script("dev.testing", "hello", FlowScript(running_polls=3))
    execution = client.trigger_execution("dev.testing", "hello")
    client.get_execution(execution["id"])
    running = client.get_execution(execution["id"])
    assert running["state"]["current"] == "RUNNING"
    assert [(r["taskId"], r["state"]["current"]) for r in running["taskRunList"]] == [("log", "RUNNING")]
    assert "endDate" not in running["state"]


@pytest.mark.parametrize(
    "task_states,expected",
    [
        (["SUCCESS", "WARNING", "SUCCESS"], "WARNING"),
        (["SUCCESS", "FAILED", "WARNING"], "FAILED"),
        (["FAILED", "KILLED"], "KILLED"),
        (["SUCCESS", "SUCCESS"], "SUCCESS"),
    ],
)
def test_end_state_is_guessed_from_top_level_task_runs_like_kestra(standin, client, task_states, expected):
    """Execution.guessFinalState: the last KILLED, else FAILED, else WARNING task run decides."""
    standin.put_flow_directly(flow_source())
    steps = [TaskStep(f"t{i}", state=s) for i, s in enumerate(task_states)]
    steps.append(TaskStep("nested", state="FAILED", parent="t0"))  # a child run does not decide
    standin.execution_model.script("dev.testing", "hello", FlowScript(tasks=steps))
    done = finish(client, client.trigger_execution("dev.testing", "hello"))
    assert done["state"]["current"] == expected


def test_task_outputs_flow_outputs_and_iterations(standin, client):
    standin.put_flow_directly(flow_source())
    standin.execution_model.script("dev.testing", "hello", FlowScript(
        outputs={"gcs_uri": "gs://b/test/hello.txt"},
        tasks=[TaskStep("each"), TaskStep("load", value="01", parent="each", outputs={"rows": 7})]))
    done = finish(client, client.trigger_execution("dev.testing", "hello"))
    assert done["outputs"] == {"gcs_uri": "gs://b/test/hello.txt"}
    each, load = done["taskRunList"]
    assert load["outputs"] == {"rows": 7} and load["value"] == "01" and load["parentTaskRunId"] == each["id"]


def test_inputs_are_typed_and_defaulted_from_the_flows_declaration(standin, client):
    standin.put_flow_directly(LOGGING_FLOW)
    execution = client.trigger_execution("dev.testing", "levels", {"fail": True, "months": ["02"]})
    assert execution["inputs"] == {"fail": True, "rows": 10, "months": ["02"]}


def test_logs_min_level_keeps_that_level_and_above(standin, client):
    standin.put_flow_directly(LOGGING_FLOW)
    done = finish(client, client.trigger_execution("dev.testing", "levels"))
    for i, level in enumerate(LEVELS):
        got = [entry["level"] for entry in client.execution_logs(done["id"], level)]
        assert got == LEVELS[i:], level
    entry = client.execution_logs(done["id"], "ERROR")[0]
    assert entry["message"] == "error line" and entry["taskId"] == "t_error" and entry["executionId"] == done["id"]


def test_logs_without_min_level_are_all_and_task_filter_narrows(standin, client):
    standin.put_flow_directly(LOGGING_FLOW)
    done = finish(client, client.trigger_execution("dev.testing", "levels"))
    session = client._http()[0]
    url = f"{standin.url}/api/v1/main/logs/{done['id']}"
    assert len(session.get(url).json()) == 5
    assert [e["message"] for e in session.get(url, params={"taskId": "t_warn"}).json()] == ["warn line"]


def test_unknown_min_level_is_a_conversion_error(standin, client):
    standin.put_flow_directly(LOGGING_FLOW)
    done = finish(client, client.trigger_execution("dev.testing", "levels"))
    with pytest.raises(KestraApiError) as err:
        client.execution_logs(done["id"], "WARNING")  # Kestra's level is WARN
    assert err.value.status == 422 and "Failed to convert argument [minLevel]" in str(err.value)


def test_logs_of_an_unknown_execution_are_empty(client):
    assert client.execution_logs("nope", "INFO") == []


def test_search_finds_executions_of_a_flow_since_a_date_and_spawned_ones_carry_their_trigger(standin, client):
    standin.put_flow_directly(flow_source())
    standin.put_flow_directly(flow_source(flow_id="on_upload"))
    trigger = {"id": "gcs_upload", "type": "io.kestra.plugin.gcp.pubsub.RealtimeTrigger",
               "variables": {"data": {"name": "a.parquet"}}}
    standin.execution_model.script("dev.testing", "hello", FlowScript(then=[Spawn("dev.testing", "on_upload", trigger)]))
    first = finish(client, client.trigger_execution("dev.testing", "hello"))
    found = client.search_executions("dev.testing", "on_upload")
    assert len(found) == 1 and found[0]["trigger"] == trigger
    later = client.search_executions("dev.testing", "on_upload", start_date="2999-01-01T00:00:00.000Z")
    assert later == []
    # The client asks for exactly this namespace (filters[namespace][EQUALS]), not its children.
    assert client.search_executions("dev", "hello") == []
    assert first["id"] in {e["id"] for e in client.search_executions("dev.testing", "hello")}
    # From the execution's own start, to the millisecond, it is found: >= on the ms-truncated start.
    since = tour._search_date(found[0]["state"]["startDate"])
    assert [e["id"] for e in client.search_executions("dev.testing", "on_upload", start_date=since)] == [found[0]["id"]]
    with pytest.raises(KestraApiError) as err:  # ZonedDateTime.parse needs an offset: Kestra's 500
        client.search_executions("dev.testing", "on_upload", start_date="2025-11-28T19:01:52.123")
    assert err.value.status == 500


def test_copilot_route_exists_only_when_ai_is_configured(standin, client):
    with pytest.raises(KestraApiError) as err:
        client.generate_flow("write a flow", "c1")
    assert err.value.status == 404
    assert str(err.value).startswith("AI copilot: ")  # what the tour prints when Kestra has no AI
    standin.execution_model.ai_answer = "id: x\nnamespace: y\ntasks: []\n"
    assert client.generate_flow("write a flow", "c1") == "id: x\nnamespace: y\ntasks: []\n"
    assert standin.execution_model.ai_prompts == [{"conversationId": "c1", "userPrompt": "write a flow", "flowYaml": ""}]


def test_older_outcome_shorthand_still_scripts_a_failing_task(standin, client):
    standin.put_flow_directly(flow_source())
    standin.execution_outcomes[("dev.testing", "hello")] = {"state": "FAILED", "task": "log", "error": "boom"}
    done = finish(client, client.trigger_execution("dev.testing", "hello"))
    assert done["state"]["current"] == "FAILED"
    assert [(r["taskId"], r["state"]["current"]) for r in done["taskRunList"]] == [("log", "FAILED")]
    assert [e["message"] for e in client.execution_logs(done["id"], "ERROR")] == ["boom"]
