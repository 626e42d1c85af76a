"""What users see at the edges of kestra/: the package's public names, the messages of the
password and settings rules, and python -m kestra.validate when Kestra is unreachable."""

from __future__ import annotations

import io
import socket

import pytest

import kestra
from kestra import validate
from kestra.config import KestraSettings, basic_auth_password_problem, validate_settings

PUBLIC = {
    "KestraClient": "kestra.client", "KestraApiError": "kestra.client", "KestraNotFound": "kestra.client",
    "KestraAuthError": "kestra.client", "KestraUnavailable": "kestra.client",
    "KestraValidationError": "kestra.client", "KestraConnection": "kestra.resources", "Flow": "kestra.resources",
    "NamespaceFile": "kestra.resources", "KvEntry": "kestra.resources", "Dashboard": "kestra.resources",
}


@pytest.mark.parametrize("name, module", sorted(PUBLIC.items()))
def test_the_package_exports_its_documented_names(name, module):
    # `from kestra import KestraClient` is the documented entry point (kestra/__init__.py).
    import importlib

    assert getattr(kestra, name) is getattr(importlib.import_module(module), name)
    assert name in kestra.__all__


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match=r"^module 'kestra' has no attribute 'Nope'$"):
        kestra.Nope  # noqa: B018


@pytest.mark.parametrize("password, problem", [
    ("abcdefg1", "must contain upper-case and lower-case letters (Kestra's basic-auth rule)"),
    ("ABCDEFG1", "must contain upper-case and lower-case letters (Kestra's basic-auth rule)"),
    ("Abcdefgh", "must contain a digit (Kestra's basic-auth rule)"),
    ("Abc1", "must be at least 8 characters (Kestra's basic-auth rule)"),
])
def test_password_problems_say_which_rule_and_whose(password, problem):
    # Kestra's BasicAuthService refuses such a password at startup; the message says why.
    assert basic_auth_password_problem(password) == problem


def _settings(**changes) -> KestraSettings:
    values = dict(postgres_password="pg-Password-1234", basic_auth_username="admin@kestra.io",
                  basic_auth_password="Abcdefg12", public_url="http://localhost:8080")
    values.update(changes)
    return KestraSettings(**values)


def test_a_relative_storage_path_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="storage_path: must be an absolute path"):
        validate_settings(_settings(storage_path="app/storage"))


def test_an_unset_gemini_model_is_refused_when_ai_is_on():
    with pytest.raises(ValueError, match="gemini_model: must not be empty"):
        validate_settings(_settings(gemini_api_key="AIza-key", gemini_model=None))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_validate_reports_an_unreachable_kestra_as_an_api_error(tmp_path):
    # Connection refused until the deadline: a one-line error and exit 3, not a traceback.
    flows = tmp_path / "flows"
    (flows / "dev.testing").mkdir(parents=True)
    (flows / "dev.testing" / "hello.yaml").write_text(
        "id: hello\nnamespace: dev.testing\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
    out = io.StringIO()
    env = {"KESTRA_URL": f"http://127.0.0.1:{_closed_port()}", "KESTRA_PASSWORD": "Abcdefg12"}
    code = validate.main([str(flows), "--deadline", "1"], environ=env, out=out)
    assert code == validate.EXIT_API
    assert out.getvalue().startswith("error: ")


def test_validate_reads_flows_in_the_current_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    code = validate.main([], environ={"KESTRA_URL": "http://127.0.0.1:1", "KESTRA_PASSWORD": "x"}, out=out)
    assert code == validate.EXIT_CONFIG
    assert out.getvalue() == "error: flows: not a directory\n"


def test_a_phase_failure_without_details_still_says_so():
    from kestra.tour import PhaseFailed

    assert str(PhaseFailed([])) == "phase failed"
    assert str(PhaseFailed(["task load failed", "last log line"])) == "task load failed"


def test_validate_reports_a_bad_url_as_a_config_error(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    out = io.StringIO()
    code = validate.main([str(flows)], environ={"KESTRA_URL": "kestra.internal:8080", "KESTRA_PASSWORD": "x"}, out=out)
    assert code == validate.EXIT_CONFIG
    assert out.getvalue() == "error: Kestra URL must start with http:// or https://, got 'kestra.internal:8080'\n"


def test_a_deadline_spent_before_any_answer_is_reported_as_unavailable():
    # Connection refused with the deadline already used up: the client's own error naming the
    # deadline and the cause, not an internal AttributeError about a missing response.
    from kestra.client import KestraClient, KestraUnavailable

    client = KestraClient(f"http://127.0.0.1:{_closed_port()}", "admin@kestra.io", "Abcdefg12", deadline=0.0001)
    with pytest.raises(KestraUnavailable, match=r"gave no answer within the 0.0001 s deadline: NewConnectionError"):
        client.get_flow("dev.testing", "hello")


def test_a_refused_flow_creation_names_the_flow_in_the_error(standin):
    from kestra.client import KestraApiError, KestraClient
    from tests.kestra.conftest import flow_source

    with KestraClient(standin.url, standin.username, standin.password, deadline=3) as client:
        client.create_flow(flow_source())
        with pytest.raises(KestraApiError) as info:
            client.create_flow(flow_source())
    assert info.value.obj == "flow"
    assert str(info.value).startswith("flow: ")


def test_a_secret_given_as_base64_must_be_base64():
    # A key pasted with a stray character would reach flows as garbage; refused naming the secret.
    from kestra.config import secret_env

    with pytest.raises(ValueError, match="GCP_SERVICE_ACCOUNT: is not valid base64"):
        secret_env(base64_encoded={"GCP_SERVICE_ACCOUNT": "eyJhIjogMX0=!"})
    assert secret_env(base64_encoded={"GCP_SERVICE_ACCOUNT": "eyJhIjogMX0="}) == ["SECRET_GCP_SERVICE_ACCOUNT=eyJhIjogMX0="]


def test_a_bad_postgres_port_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="postgres_port: must be a port number"):
        validate_settings(_settings(postgres_port=0))


def test_validate_usage_names_the_command_to_type(capsys):
    with pytest.raises(SystemExit):
        validate.main(["--help"])
    assert capsys.readouterr().out.startswith("usage: python -m kestra.validate ")


def test_a_failed_phase_lists_every_failed_and_killed_task_run():
    # Kestra kills the siblings of a failing task in a Parallel/ForEach: the report names the
    # failed and the killed runs, not only the last one.
    from kestra.tour import Tour

    class NoLogs:
        def execution_logs(self, execution_id, level):
            return []

    tour = Tour.__new__(Tour)  # only the report formatting is exercised
    tour.client = NoLogs()
    runs = [{"taskId": "load", "value": "a.csv", "state": {"current": "FAILED"}},
            {"taskId": "load", "value": "b.csv", "state": {"current": "KILLED"}},
            {"taskId": "report", "state": {"current": "SUCCESS"}}]
    lines = tour._task_logs({"id": "e1", "taskRunList": runs}, [runs[0]])
    assert lines == ["failing task: load (failed or killed: load[a.csv], load[b.csv])"]
