"""`python -m kestra.smoke` on the execution endings a real Kestra produces besides SUCCESS/FAILED.

Kestra 1.1's State.Type: WARNING is terminal and "not failed" (isTerminatedNoFail) — a task allowed
to fail did, and the flow went on; KILLED is terminal and failed (someone or something stopped a
task). A user running the smoke test wants a WARNING run to pass but be told why it warned, unless
they ask for a clean run (--fail-on-warning), and a killed run to fail naming the killed task.
"""

from __future__ import annotations

import io

import pytest

from kestra import smoke
from tests.kestra.conftest import flow_source
from tests.support.standin_executions import FlowScript, TaskStep

NS, FLOW = "dev.testing", "gcs_connection_test"


@pytest.fixture
def outputs(standin) -> dict:
    standin.put_flow_directly(flow_source(flow_id=FLOW))
    return {"kestraUrl": standin.url, "kestraUsername": standin.username, "kestraPassword": standin.password}


def run(outputs: dict, **kw) -> tuple[int, str]:
    out = io.StringIO()
    code = smoke.run(outputs, NS, FLOW, timeout=5, interval=0, out=out, **kw)
    return code, out.getvalue()


WARNING_RUN = FlowScript(tasks=[
    TaskStep("write_file", logs=[("INFO", "wrote 41 bytes"), ("DEBUG", "tmp file /tmp/x")]),
    TaskStep("upload", state="WARNING", logs=[("WARN", "bucket has no lifecycle rule"), ("INFO", "uploaded")]),
    TaskStep("log_uri", logs=[("ERROR", "logged at ERROR without failing")]),
])


def test_warning_passes_and_names_the_warning_task_with_its_warn_and_error_lines(outputs, standin):
    standin.execution_model.script(NS, FLOW, WARNING_RUN)
    code, text = run(outputs)
    assert code == smoke.EXIT_OK
    assert "ended WARNING, which Kestra counts as not failed" in text
    assert "warning: warning task(s): upload" in text
    assert "[upload] bucket has no lifecycle rule" in text and "[log_uri] logged at ERROR without failing" in text
    # Logs are asked for from WARN up; INFO and DEBUG lines stay out of the report.
    assert "uploaded" not in text.replace("warning task(s): upload", "") and "tmp file" not in text
    assert [c.query for c in standin.calls("GET", "/logs/")] == ["minLevel=WARN"]


def test_warning_fails_with_fail_on_warning(outputs, standin):
    standin.execution_model.script(NS, FLOW, WARNING_RUN)
    code, text = run(outputs, fail_on_warning=True)
    assert code == smoke.EXIT_FAILED
    assert "ended WARNING" in text and "warning task(s): upload" in text and "counts as not failed" not in text


def test_warning_flag_on_the_command_line(outputs, standin, tmp_path):
    import json

    standin.execution_model.script(NS, FLOW, WARNING_RUN)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    assert smoke.main(["--stack-output", str(path), "--interval", "0"]) == smoke.EXIT_OK
    assert smoke.main(["--stack-output", str(path), "--interval", "0", "--fail-on-warning"]) == smoke.EXIT_FAILED


def test_killed_task_run_fails_and_is_named(outputs, standin):
    standin.execution_model.script(NS, FLOW, FlowScript(tasks=[
        TaskStep("write_file"),
        TaskStep("upload", state="KILLED", logs=[("WARN", "Kill requested"), ("ERROR", "upload interrupted")]),
    ]))
    code, text = run(outputs)
    assert code == smoke.EXIT_FAILED
    assert "ended KILLED" in text and "killed task(s): upload" in text
    assert "[upload] upload interrupted" in text
    assert "Kill requested" not in text  # a failed run reports ERROR lines only


def test_failed_run_reports_only_error_lines(outputs, standin):
    standin.execution_model.script(NS, FLOW, FlowScript(tasks=[
        TaskStep("write_file", logs=[("INFO", "wrote 41 bytes")]),
        TaskStep("upload", state="FAILED", logs=[("WARN", "retrying"), ("ERROR", "403 storage.objects.create denied")]),
    ]))
    code, text = run(outputs)
    assert code == smoke.EXIT_FAILED
    assert "failing task(s): upload" in text and "[upload] 403 storage.objects.create denied" in text
    assert "wrote 41 bytes" not in text and "retrying" not in text
    assert [c.query for c in standin.calls("GET", "/logs/")] == ["minLevel=ERROR"]


def test_foreach_iterations_are_named_with_their_value(outputs, standin):
    standin.execution_model.script(NS, FLOW, FlowScript(tasks=[
        # A failed iteration fails its ForEach (the parent's state is guessed from its children).
        TaskStep("each", state="FAILED"), TaskStep("upload", value="01", parent="each"),
        TaskStep("upload", value="02", parent="each", state="FAILED", logs=[("ERROR", "404 on month 02")]),
    ]))
    code, text = run(outputs)
    assert code == smoke.EXIT_FAILED and "failing task(s): each, upload[02]" in text


@pytest.mark.parametrize("key", ["kestraUrl", "kestraUsername", "kestraPassword"])
def test_preview_placeholder_in_outputs_is_refused(key):
    """`pulumi preview` shows values only `up` will know as this placeholder; they are not usable."""
    outputs = {"kestraUrl": "http://127.0.0.1:8080", "kestraUsername": "admin@kestra.io", "kestraPassword": "Pw0rdpass"}
    outputs[key] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    import json

    with pytest.raises(smoke.SmokeError, match=f"{key} not known yet.*run `pulumi up`") as err:
        smoke.load_outputs("-", stdin=io.StringIO(json.dumps(outputs)))
    assert err.value.code == smoke.EXIT_CONFIG
