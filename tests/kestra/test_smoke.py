"""`python -m kestra.smoke` against the stand-in: success, failure, timeout, HTTP errors, bad outputs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kestra import smoke
from tests.kestra.conftest import flow_source

REPO = Path(__file__).resolve().parents[2]
GCS_FLOW = flow_source(flow_id="gcs_connection_test").replace("- id: log", "- id: list_bucket")


@pytest.fixture
def outputs(standin) -> dict:
    standin.put_flow_directly(GCS_FLOW)
    return {"kestraUrl": standin.url, "kestraUsername": standin.username, "kestraPassword": standin.password,
            "bucketName": "b"}


def run(outputs: dict, **kw) -> tuple[int, str]:
    out = io.StringIO()
    args = dict(namespace="dev.testing", flow_id="gcs_connection_test", timeout=5, interval=0)
    args.update(kw)
    return smoke.run(outputs, out=out, **args), out.getvalue()


def test_success_exits_zero(outputs, standin):
    code, text = run(outputs)
    assert code == 0 and "succeeded" in text
    assert len(standin.executions) == 1
    assert standin.password not in text


def test_failure_names_state_task_and_error(outputs, standin):
    standin.execution_outcomes[("dev.testing", "gcs_connection_test")] = {
        "state": "FAILED", "task": "list_bucket", "error": "403 Forbidden: storage.objects.list denied"}
    code, text = run(outputs)
    assert code == smoke.EXIT_FAILED
    assert "ended FAILED" in text and "failing task(s): list_bucket" in text
    assert "[list_bucket] 403 Forbidden: storage.objects.list denied" in text


def test_timeout(outputs, standin):
    standin.execution_outcomes[("dev.testing", "gcs_connection_test")] = {"state": "RUNNING"}
    clock = iter(range(100))
    out = io.StringIO()
    code = smoke.run(outputs, "dev.testing", "gcs_connection_test", timeout=3, interval=0,
                     out=out, clock=lambda: next(clock), sleep=lambda s: None)
    assert code == smoke.EXIT_TIMEOUT
    assert "timed out after 3 s" in out.getvalue() and "is still RUNNING" in out.getvalue()
    assert len(standin.calls("GET", "/executions/")) == 2  # ticks 1 and 2 poll, tick 3 is the deadline


def test_unknown_flow_is_an_api_error(outputs):
    code, text = run(outputs, flow_id="missing")
    assert code == smoke.EXIT_API and "Requested Flow is not found" in text and "404" in text


def test_wrong_password_is_reported_without_it(outputs):
    code, text = run({**outputs, "kestraPassword": "Wr0ng-Passw0rd"})
    assert code == smoke.EXIT_API and "401" in text and "Wr0ng-Passw0rd" not in text


def test_cli_reads_outputs_from_stdin_and_exits_with_the_status(outputs, standin):
    done = subprocess.run(
        [sys.executable, "-m", "kestra.smoke", "--stack-output", "-", "--interval", "0", "--timeout", "10"],
        input=json.dumps(outputs), cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout and standin.password not in done.stdout + done.stderr


def test_cli_reads_a_file_and_honours_flow_flags(outputs, standin, tmp_path):
    standin.put_flow_directly(flow_source(flow_id="other", ns="dev.other"))
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    code = smoke.main(["--stack-output", str(path), "--namespace", "dev.other", "--flow-id", "other",
                       "--interval", "0"])
    assert code == 0
    assert [(e.namespace, e.flow_id) for e in standin.executions.values()] == [("dev.other", "other")]


@pytest.mark.parametrize(
    "text,message",
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"kestraUrl": "http://x"}', "lack kestraUsername, kestraPassword"),
        ('{"kestraUrl": "http://x", "kestraUsername": "u", "kestraPassword": "[secret]"}', "--show-secrets"),
    ],
)
def test_unusable_outputs(text, message):
    with pytest.raises(smoke.SmokeError, match=message) as err:
        smoke.load_outputs("-", stdin=io.StringIO(text))
    assert err.value.code == smoke.EXIT_CONFIG


def test_missing_file_is_a_config_error(tmp_path, capsys):
    assert smoke.main(["--stack-output", str(tmp_path / "nope.json")]) == smoke.EXIT_CONFIG
    assert "cannot read the stack outputs" in capsys.readouterr().out
