"""KestraClient against the stand-in: endpoints, error mapping, retries, the deadline."""

from __future__ import annotations

import time

import pytest

from kestra.client import (
    KestraApiError,
    KestraAuthError,
    KestraClient,
    KestraNotFound,
    KestraUnavailable,
    KestraValidationError,
    validation_problems,
)
from tests.kestra.conftest import flow_source
from tests.support.kestra_standin import KestraStandin


def test_flow_crud_uses_tenant_paths_and_yaml(client, standin):
    created = client.create_flow(flow_source())
    assert created["revision"] == 1 and created["source"] == flow_source()
    post = standin.calls("POST", "/flows")[0]
    assert post.path == "/api/v1/main/flows" and post.authorized

    assert client.get_flow("dev.testing", "hello")["source"] == flow_source()
    assert client.update_flow("dev.testing", "hello", flow_source(message="bye"))["revision"] == 2
    # Same source again: Kestra keeps the revision.
    assert client.update_flow("dev.testing", "hello", flow_source(message="bye"))["revision"] == 2
    client.delete_flow("dev.testing", "hello")
    with pytest.raises(KestraNotFound) as err:
        client.get_flow("dev.testing", "hello")
    assert err.value.status == 404 and err.value.obj == "flow dev.testing/hello"


def test_create_existing_flow_is_422_already_exists(client):
    client.create_flow(flow_source())
    with pytest.raises(KestraApiError) as err:
        client.create_flow(flow_source())
    assert err.value.status == 422 and err.value.already_exists
    assert "Flow id already exists" in str(err.value)


def test_put_flow_adopts_and_recreates(client, standin):
    standin.put_flow_directly(flow_source(message="by hand"))
    assert client.put_flow("dev.testing", "hello", flow_source())["revision"] == 2  # POST 422 → PUT
    client.delete_flow("dev.testing", "hello")
    assert client.put_flow("dev.testing", "hello", flow_source(), exists=True)["revision"] == 1  # PUT 404 → POST
    assert [c.method for c in standin.calls(path_contains="/flows")][-2:] == ["PUT", "POST"]


def test_validate_reports_constraints_with_http_200(client, standin):
    assert validation_problems(client.validate_flow(flow_source())) == []
    bad = "id: x\nnamespace: dev.testing\ntasks:\n  - id: t\n    type: io.kestra.plugin.Nope\n"
    assert validation_problems(client.validate_flow(bad)) == ["tasks[0].type: Invalid type: io.kestra.plugin.Nope"]
    assert all(c.status == 200 for c in standin.calls("POST", "/flows/validate"))
    with pytest.raises(KestraValidationError, match="Invalid type: io.kestra.plugin.Nope"):
        client.check_flow(bad, obj="flow dev.testing/x")


def test_validate_sends_one_multipart_file_so_dashes_do_not_split(client):
    source = flow_source().replace("stand-in test flow", "|\n  intro\n  ---\n  more")
    assert validation_problems(client.validate_flow(source)) == []


def test_validate_falls_back_to_a_yaml_body_where_multipart_is_refused(client, standin):
    standin.validate_accepts_multipart = False
    assert validation_problems(client.validate_flow(flow_source())) == []
    bad = "id: x\nnamespace: dev.testing\ntasks:\n  - id: t\n    type: io.kestra.plugin.Nope\n"
    assert validation_problems(client.validate_flow(bad)) == ["tasks[0].type: Invalid type: io.kestra.plugin.Nope"]
    calls = standin.calls("POST", "/flows/validate")
    assert [c.status for c in calls] == [415, 200, 415, 200]


def test_validate_without_multipart_never_sends_a_body_kestra_would_split(client, standin):
    standin.validate_accepts_multipart = False
    two_documents = flow_source() + "\n---\n" + flow_source()
    assert client.validate_flow(two_documents) == []
    assert [c.status for c in standin.calls("POST", "/flows/validate")] == [415]


def test_validation_problems_reads_both_result_shapes():
    assert validation_problems([{"index": 0, "constraints": "tasks: must not be empty"}]) == ["tasks: must not be empty"]
    assert validation_problems({"index": 0, "errors": [{"message": "id: must not be null"}]}) == ["id: must not be null"]
    assert validation_problems([{"index": 0, "warnings": ["deprecated"]}]) == []


def test_namespace_files_round_trip_bytes(client, standin):
    client.upload_namespace_file("dev.testing", "/scripts/a.py", "print('é')\n")
    assert client.get_namespace_file("dev.testing", "/scripts/a.py") == "print('é')\n".encode()
    call = standin.calls("POST", "/files")[0]
    assert call.path == "/api/v1/main/namespaces/dev.testing/files" and "path=%2Fscripts%2Fa.py" in call.query
    client.delete_namespace_file("dev.testing", "/scripts/a.py")
    with pytest.raises(KestraNotFound):
        client.get_namespace_file("dev.testing", "/scripts/a.py")


@pytest.mark.parametrize(
    "value,kind", [("text", "STRING"), (42, "NUMBER"), (True, "BOOLEAN"), ({"a": [1, 2]}, "JSON"), ([1], "JSON")]
)
def test_kv_values_are_sent_as_json_literals(client, standin, value, kind):
    client.put_kv("gcp.ecommerce", "GCS_BUCKET", value)
    assert standin.kv[("main", "gcp.ecommerce", "GCS_BUCKET")] == value
    assert client.get_kv("gcp.ecommerce", "GCS_BUCKET") == {"type": kind, "value": value}


def test_kv_delete_answers_whether_it_existed(client):
    client.put_kv("ns", "K", "v")
    assert client.delete_kv("ns", "K") is True
    assert client.delete_kv("ns", "K") is False
    with pytest.raises(KestraNotFound, match="No value found for key 'K'"):
        client.get_kv("ns", "K")


def test_kestra_echo_of_a_value_is_scrubbed(client):
    # KVController quotes an unparsable body back ("Invalid JSON value for: ...").
    with pytest.raises(KestraApiError) as err:
        client._request(
            "PUT", "namespaces/ns/kv/K", "kv ns/K", data=b"s3cr3t-token{", content_type="application/json",
            secrets=["s3cr3t-token{"],
        )
    assert err.value.status == 422 and "Invalid JSON value" in str(err.value)
    assert "s3cr3t" not in str(err.value) and "***" in str(err.value)


def test_dashboards_need_an_id_and_adopt(client, standin):
    with pytest.raises(KestraApiError, match="Dashboard id is mandatory"):
        client.create_dashboard("title: no id\ncharts: []\n")
    client.put_dashboard("d1", "id: d1\ntitle: One\ncharts: []\n")
    assert client.get_dashboard("d1")["sourceCode"] == "id: d1\ntitle: One\ncharts: []\n"
    assert client.put_dashboard("d1", "id: d1\ntitle: Two\ncharts: []\n")["title"] == "Two"  # adopted
    with pytest.raises(KestraValidationError, match="title: must not be null"):
        client.check_dashboard("id: d1\ncharts: []\n", obj="dashboard d1")
    client.delete_dashboard("d1")
    with pytest.raises(KestraNotFound):
        client.delete_dashboard("d1")


def test_wrong_password_is_a_clear_auth_error_without_the_password(standin):
    secret = "Wr0ngPassw0rd!"
    with KestraClient(standin.url, standin.username, secret, deadline=1) as bad:
        with pytest.raises(KestraAuthError) as err:
            bad.get_flow("dev.testing", "hello")
    assert err.value.status == 401
    assert "basic-auth username and password" in str(err.value) and secret not in str(err.value)
    assert secret not in repr(bad)
    assert standin.requests[-1].authorized is False


def test_url_userinfo_is_dropped_from_messages(standin):
    url = standin.url.replace("http://", "http://someone:hunter22@")
    client = KestraClient(url, standin.username, standin.password)
    assert "hunter22" not in client.url


def test_503_burst_is_retried_for_writes(client, standin):
    standin.inject("status", count=3, status=503)
    client.create_flow(flow_source())
    assert [c.status for c in standin.calls("POST", "/flows")] == [503, 503, 503, 200]


def test_reset_after_write_is_retried_and_adopted(client, standin):
    standin.inject("reset", when="after", method="POST", path_contains="/flows")
    doc = client.put_flow("dev.testing", "hello", flow_source())
    assert doc["revision"] == 1 and len(standin.flows) == 1
    assert [(c.method, c.status) for c in standin.calls(path_contains="/flows")] == [
        ("POST", None), ("POST", 422), ("PUT", 200)
    ]


def test_slow_reply_times_out_and_is_retried(client, standin):
    standin.inject("slow", seconds=2.5, method="GET")
    client.upload_namespace_file("ns", "/a.txt", "x")
    started = time.monotonic()
    assert client.get_namespace_file("ns", "/a.txt") == b"x"
    assert 2 <= time.monotonic() - started < 3  # one read timeout (2 s), then a quick answer
    assert len(standin.calls("GET", "/files")) == 2


def test_deadline_gives_a_clear_error(standin):
    standin.inject("status", count=10_000, status=503)
    with KestraClient(standin.url, standin.username, standin.password, deadline=0.6, backoff_factor=0.01) as c:
        started = time.monotonic()
        with pytest.raises(KestraUnavailable) as err:
            c.get_kv("ns", "K")
    assert time.monotonic() - started < 1.5
    assert err.value.status == 503 and "after 0.6 s of retrying" in str(err.value)
    assert "kv ns/K" in str(err.value)


def test_connection_refused_until_deadline(standin):
    standin.stop()  # nothing listens on the port any more
    with KestraClient(standin.url, standin.username, standin.password, deadline=0.5, backoff_factor=0.01) as c:
        with pytest.raises(KestraUnavailable) as err:
            c.get_flow("dev.testing", "hello")
    assert err.value.status is None and "no answer within 0.5 s" in str(err.value)
    assert standin.password not in str(err.value)


def test_kestra_still_starting_is_waited_for():
    server = KestraStandin().start(delay=0.6)  # connections refused for 0.6 s
    try:
        with KestraClient(server.url, server.username, server.password, deadline=5, backoff_factor=0.05) as c:
            assert c.create_flow(flow_source())["revision"] == 1
        assert len(server.flows) == 1
    finally:
        server.stop()


def test_trigger_is_not_repeated_after_a_reset(client, standin):
    standin.put_flow_directly(flow_source())
    standin.inject("reset", when="after", method="POST", path_contains="/executions")
    with pytest.raises(KestraUnavailable, match="may already have run"):
        client.trigger_execution("dev.testing", "hello")
    assert len(standin.executions) == 1 and len(standin.calls("POST", "/executions")) == 1


def test_trigger_waits_out_503_and_polls(client, standin):
    standin.put_flow_directly(flow_source())
    standin.inject("status", count=2, status=503, path_contains="/executions")
    execution = client.trigger_execution("dev.testing", "hello")
    assert execution["state"]["current"] == "CREATED" and len(standin.executions) == 1
    states = [client.get_execution(execution["id"])["state"]["current"] for _ in range(4)]
    assert states == ["CREATED", "RUNNING", "SUCCESS", "SUCCESS"]


def test_trigger_unknown_flow_is_not_found(client):
    with pytest.raises(KestraNotFound, match="Unable to find flow"):
        client.trigger_execution("dev.testing", "missing")


def test_error_str_names_object_status_and_path(client):
    with pytest.raises(KestraApiError) as err:
        client.put_kv("ns", "bad$key", "v")
    text = str(err.value)
    assert text.startswith("kv ns/bad$key: ")
    assert "(HTTP 422 on PUT /api/v1/main/namespaces/ns/kv/bad%24key)" in text
    assert "Key must start with an alphanumeric character" in text


def test_client_rejects_a_url_without_scheme():
    with pytest.raises(ValueError, match="http://"):
        KestraClient("localhost:8080", "u", "p")
