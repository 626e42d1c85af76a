"""KestraClient against the stand-in: endpoints, error mapping, retries, the deadline."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from kestra.client import (
    KestraApiError,
    KestraAuthError,
    KestraClient,
    KestraNotFound,
    KestraUnavailable,
    KestraValidationError,
    YAML_SPLIT,
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


def test_put_flow_adopts_with_a_read_and_writes_only_a_difference(client, standin):
    standin.put_flow_directly(flow_source(message="by hand"))
    assert client.put_flow("dev.testing", "hello", flow_source())["revision"] == 2  # POST 422 → GET → PUT
    assert [(c.method, c.status) for c in standin.calls(path_contains="/flows")] == [
        ("POST", 422), ("GET", 200), ("PUT", 200)
    ]
    standin.reset_log()
    assert client.put_flow("dev.testing", "hello", flow_source())["revision"] == 2  # same: no write
    assert [(c.method, c.status) for c in standin.calls(path_contains="/flows")] == [("POST", 422), ("GET", 200)]


def test_put_flow_of_a_flow_deleted_by_hand_reads_then_creates_and_never_puts(client, standin):
    # The state says the flow exists, but someone deleted it in the UI: a PUT could freeze Kestra
    # 1.1 (kestra-io/kestra#12984), so the client reads, sees 404 and creates.
    assert client.put_flow("dev.testing", "hello", flow_source(), exists=True)["revision"] == 1
    assert [(c.method, c.status) for c in standin.calls(path_contains="/flows")] == [("GET", 404), ("POST", 200)]


def test_put_flow_of_an_existing_flow_is_a_read_then_one_put(client, standin):
    client.create_flow(flow_source())
    standin.reset_log()
    assert client.put_flow("dev.testing", "hello", flow_source(message="bye"), exists=True)["revision"] == 2
    assert [(c.method, c.status) for c in standin.calls(path_contains="/flows")] == [("GET", 200), ("PUT", 200)]
    standin.reset_log()  # the same source again: the read shows it, nothing is written
    assert client.put_flow("dev.testing", "hello", flow_source(message="bye"), exists=True)["revision"] == 2
    assert [(c.method, c.status) for c in standin.calls(path_contains="/flows")] == [("GET", 200)]


def test_update_flow_of_a_missing_flow_is_not_found_without_a_put(client, standin):
    with pytest.raises(KestraNotFound) as err:
        client.update_flow("dev.testing", "hello", flow_source())
    assert err.value.obj == "flow dev.testing/hello"
    assert [c.method for c in standin.calls(path_contains="/flows")] == ["GET"]


def test_dashboard_deleted_by_hand_is_read_then_created_and_never_put(client, standin):
    source = "id: d1\ntitle: One\ncharts: []\n"
    assert client.put_dashboard("d1", source, exists=True)["title"] == "One"
    assert [(c.method, c.status) for c in standin.calls(path_contains="/dashboards")] == [
        ("GET", 404), ("POST", 200)]
    standin.reset_log()
    client.put_dashboard("d1", source.replace("One", "Two"), exists=True)
    assert [(c.method, c.status) for c in standin.calls(path_contains="/dashboards")] == [("GET", 200), ("PUT", 200)]
    client.delete_dashboard("d1")
    standin.reset_log()
    with pytest.raises(KestraNotFound):
        client.update_dashboard("d1", source)
    assert [(c.method, c.status) for c in standin.calls(path_contains="/dashboards")] == [("GET", 404)]


def test_validate_reports_constraints_with_http_200(client, standin):
    assert validation_problems(client.validate_flow(flow_source())) == []
    bad = "id: x\nnamespace: dev.testing\ntasks:\n  - id: t\n    type: io.kestra.plugin.Nope\n"
    # Kestra 1.1.7's words (recorded: "a batch whose second flow has an unknown type").
    assert validation_problems(client.validate_flow(bad)) == [
        "jakarta.validation.ConstraintViolationException: Invalid type: io.kestra.plugin.Nope"]
    with pytest.raises(KestraValidationError, match="Invalid type: io.kestra.plugin.Nope"):
        client.check_flow(bad, obj="flow dev.testing/x")
    # Kestra 1.1's validate route takes YAML only: one request per validation, never a 415.
    assert [c.status for c in standin.calls("POST", "/flows/validate")] == [200, 200, 200]


def test_validate_splits_where_a_line_starts_with_dashes(client):
    # FlowService.validate splits on "\n+---": a "---" at the start of a line cuts the flow in two,
    # an indented one (inside a block scalar) does not.
    indented = flow_source().replace("stand-in test flow", "|\n  intro\n  ---\n  more")
    assert not YAML_SPLIT.search(indented)
    assert len(client.validate_flow(indented)) == 1
    at_line_start = flow_source() + "---\n" + flow_source(flow_id="second")
    assert YAML_SPLIT.search(at_line_start)
    results = client.validate_flow(at_line_start)
    assert [(r["index"], r["flow"]) for r in results] == [(0, "hello"), (1, "second")]
    glued = flow_source() + "---# not a separator in YAML, but Kestra splits here\n"
    assert len(client.validate_flow(glued)) == 2


def test_validation_problems_reads_both_result_shapes():
    assert validation_problems([{"index": 0, "constraints": "tasks: must not be empty"}]) == ["tasks: must not be empty"]
    assert validation_problems({"index": 0, "errors": [{"message": "id: must not be null"}]}) == ["id: must not be null"]
    assert validation_problems([{"index": 0, "warnings": ["deprecated"]}]) == []


def test_namespace_files_round_trip_bytes(client, standin):
    client.upload_namespace_file("dev.testing", "/scripts/a.py", "print('é')\n")
    # The GET route produces application/octet-stream only: the client asks for exactly that.
    assert client.get_namespace_file("dev.testing", "/scripts/a.py") == "print('é')\n".encode()
    call = standin.calls("POST", "/files")[0]
    assert call.path == "/api/v1/main/namespaces/dev.testing/files" and "path=%2Fscripts%2Fa.py" in call.query
    client.delete_namespace_file("dev.testing", "/scripts/a.py")
    with pytest.raises(KestraNotFound):
        client.get_namespace_file("dev.testing", "/scripts/a.py")


def _hand_uploaded_sibling(client, standin):
    client.upload_namespace_file("dev.testing", "/scripts/ours.py", "ours\n")
    client.upload_namespace_file("dev.testing", "/scripts/theirs.py", "theirs\n")  # "by hand"
    standin.reset_log()


def test_namespace_file_delete_retried_after_a_reset_spares_the_sibling(client, standin):
    _hand_uploaded_sibling(client, standin)
    # The DELETE is applied, then the connection is reset: the client must not re-send it
    # blindly, because Kestra would cascade-delete the folder holding only theirs.py.
    standin.inject("reset", when="after", method="DELETE", path_contains="/files")
    client.delete_namespace_file("dev.testing", "/scripts/ours.py")
    assert ("main", "dev.testing", "/scripts/ours.py") not in standin.files
    assert standin.files[("main", "dev.testing", "/scripts/theirs.py")] == b"theirs\n"
    assert [(c.method, c.status) for c in standin.calls(path_contains="/files")] == [
        ("GET", 200), ("DELETE", None), ("GET", 404)
    ]


def test_second_namespace_file_delete_sends_no_delete(client, standin):
    _hand_uploaded_sibling(client, standin)
    client.delete_namespace_file("dev.testing", "/scripts/ours.py")
    client.delete_namespace_file("dev.testing", "/scripts/ours.py")  # a second destroy
    assert standin.files[("main", "dev.testing", "/scripts/theirs.py")] == b"theirs\n"
    assert [c.method for c in standin.calls("DELETE", "/files")] == ["DELETE"]


def test_namespace_file_delete_re_sends_when_the_first_delete_did_not_land(client, standin):
    _hand_uploaded_sibling(client, standin)
    standin.inject("reset", method="DELETE", path_contains="/files")  # before it is applied
    client.delete_namespace_file("dev.testing", "/scripts/ours.py")
    assert ("main", "dev.testing", "/scripts/ours.py") not in standin.files
    assert ("main", "dev.testing", "/scripts/theirs.py") in standin.files
    assert [(c.method, c.status) for c in standin.calls(path_contains="/files")] == [
        ("GET", 200), ("DELETE", None), ("GET", 200), ("DELETE", 200)
    ]


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
    # KVController quotes an unparsable body back ("Invalid JSON value for: ..."); an unterminated
    # string is one (a bare word is not: Kestra's Ion reader takes it as a symbol).
    with pytest.raises(KestraApiError) as err:
        client._request(
            "PUT", "namespaces/ns/kv/K", "kv ns/K", data=b'"s3cr3t-token{', content_type="text/plain",
            secrets=["s3cr3t-token{"],
        )
    assert err.value.status == 422 and "Invalid JSON value" in str(err.value)
    assert "s3cr3t" not in str(err.value) and "***" in str(err.value)


def test_kestra_refusing_a_flow_or_dashboard_is_a_validation_error_on_create_and_update(client, standin):
    """One class to catch for "Kestra refuses this document", whichever write met the refusal:
    Kestra 1.1.7 answers 422 "Invalid entity: Invalid type: ..." to a create and to an update
    (recorded: "create a flow whose task type is unknown", "update with an unknown type")."""
    bad_flow = flow_source().replace("core.log.Log", "core.log.Nope")
    with pytest.raises(KestraValidationError, match="Invalid entity: Invalid type: io.kestra.plugin.core.log.Nope"):
        client.create_flow(bad_flow)
    client.create_flow(flow_source())
    for write in (lambda: client.update_flow("dev.testing", "hello", bad_flow),
                  lambda: client.put_flow("dev.testing", "hello", bad_flow, exists=True),
                  lambda: client.put_flow("dev.testing", "hello", bad_flow)):
        with pytest.raises(KestraValidationError, match="Invalid type: io.kestra.plugin.core.log.Nope") as err:
            write()
        assert err.value.status == 422 and not err.value.already_exists
    with pytest.raises(KestraValidationError) as err:
        client.create_flow(flow_source())
    assert err.value.already_exists
    bad_chart = "id: d1\ntitle: One\ncharts:\n  - id: c\n    type: io.kestra.Nope\n"
    with pytest.raises(KestraValidationError, match="Invalid type: io.kestra.Nope"):
        client.create_dashboard(bad_chart)
    client.put_dashboard("d1", "id: d1\ntitle: One\ncharts: []\n")
    with pytest.raises(KestraValidationError, match="title: must not be"):
        client.put_dashboard("d1", "id: d1\ncharts: []\n", exists=True)
    with pytest.raises(KestraValidationError, match="Invalid type: io.kestra.Nope"):
        client.update_dashboard("d1", bad_chart)
    # A 422 about anything but a flow or dashboard document stays a plain KestraApiError.
    with pytest.raises(KestraApiError) as err:
        client.put_kv("ns", "bad$key", 1)
    assert err.value.status == 422 and not isinstance(err.value, KestraValidationError)


def test_dashboards_need_an_id_and_adopt(client, standin):
    with pytest.raises(KestraApiError, match="Dashboard id is mandatory"):
        client.create_dashboard("title: no id\ncharts: []\n")
    client.put_dashboard("d1", "id: d1\ntitle: One\ncharts: []\n")
    assert client.get_dashboard("d1")["sourceCode"] == "id: d1\ntitle: One\ncharts: []\n"
    assert client.put_dashboard("d1", "id: d1\ntitle: Two\ncharts: []\n")["title"] == "Two"  # adopted
    with pytest.raises(KestraValidationError, match="title: must not be null"):
        client.check_dashboard("id: d1\ncharts: []\n", obj="dashboard d1")


def test_deleting_a_missing_dashboard_is_kestras_409_read_as_gone(client, standin):
    client.put_dashboard("d1", "id: d1\ntitle: One\ncharts: []\n")
    client.delete_dashboard("d1")
    with pytest.raises(KestraNotFound) as err:
        client.delete_dashboard("d1")
    assert err.value.status == 409 and "Dashboard d1 doesn't exists" in str(err.value)


def test_any_other_409_on_a_dashboard_delete_is_an_error(client, standin):
    client.put_dashboard("d1", "id: d1\ntitle: One\ncharts: []\n")
    standin.inject("status", status=409, method="DELETE")
    with pytest.raises(KestraApiError) as err:
        client.delete_dashboard("d1")
    assert err.value.status == 409 and not isinstance(err.value, KestraNotFound)


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
    # A URL pasted with credentials in it must not leak them into logs or CI output.
    url = standin.url.replace("http://", "http://someone:hunter22@")
    client = KestraClient(url, standin.username, standin.password)
    assert "hunter22" not in client.url and "someone" not in client.url
    standin.inject("status", count=1, status=400, method="GET")  # 400 is not retried: an error at once
    with pytest.raises(KestraApiError) as err:
        client.get_flow("dev.testing", "hello")
    message = str(err.value)
    assert "HTTP 400 on GET /api/v1/main/flows/dev.testing/hello" in message
    assert "hunter22" not in message and "someone" not in message
    assert standin.requests[-1].authorized is True  # the configured login, not the URL's, was sent


def test_503_burst_is_retried_for_writes(client, standin):
    standin.inject("status", count=3, status=503)
    client.create_flow(flow_source())
    assert [c.status for c in standin.calls("POST", "/flows")] == [503, 503, 503, 200]


def test_reset_after_write_is_retried_and_adopted(client, standin):
    standin.inject("reset", when="after", method="POST", path_contains="/flows")
    doc = client.put_flow("dev.testing", "hello", flow_source())
    assert doc["revision"] == 1 and len(standin.flows) == 1
    # The retried POST finds the flow, a read shows it is ours: no second write.
    assert [(c.method, c.status) for c in standin.calls(path_contains="/flows")] == [
        ("POST", None), ("POST", 422), ("GET", 200)
    ]


class FakeClock:
    """A clock for the client's deadline logic: sleeping advances it, nothing else does."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fake_client(url, standin, clock, **kw) -> KestraClient:
    return KestraClient(url, standin.username, standin.password, clock=clock.monotonic, sleep=clock.sleep, **kw)


def test_slow_reply_times_out_and_is_retried(standin):
    clock = FakeClock()
    standin.inject("slow", seconds=2.5, method="GET")
    with fake_client(standin.url, standin, clock, deadline=3, timeout=(1, 1), backoff_factor=0.01) as c:
        c.upload_namespace_file("ns", "/a.txt", "x")
        started = time.monotonic()
        assert c.get_namespace_file("ns", "/a.txt") == b"x"
    assert time.monotonic() - started >= 0.9  # the read timeout fired, it cannot fire early
    assert len(standin.calls("GET", "/files")) == 2  # then one retry answered
    assert sum(clock.sleeps) < 3


def test_deadline_gives_a_clear_error(standin):
    clock = FakeClock()
    standin.inject("status", count=10_000, status=503)
    with fake_client(standin.url, standin, clock, deadline=0.6, backoff_factor=0.01) as c:
        with pytest.raises(KestraUnavailable) as err:
            c.get_kv("ns", "K")
    assert sum(clock.sleeps) <= 0.6 and max(clock.sleeps) <= 0.05  # backoff capped, never past the deadline
    # Each attempt but the last is followed by a pause (urllib3's first retry has a zero one).
    assert len(clock.sleeps) + 1 <= len(standin.calls("GET")) <= len(clock.sleeps) + 2
    assert err.value.status in (503, None) and "0.6 s" in str(err.value) and "kv ns/K" in str(err.value)


def test_connection_refused_until_deadline(standin):
    clock = FakeClock()
    standin.stop()  # nothing listens on the port any more
    with fake_client(standin.url, standin, clock, deadline=0.5, backoff_factor=0.01) as c:
        with pytest.raises(KestraUnavailable) as err:
            c.get_flow("dev.testing", "hello")
    assert err.value.status is None and "0.5 s" in str(err.value)
    assert sum(clock.sleeps) <= 0.5 and len(clock.sleeps) >= 5
    assert standin.password not in str(err.value)


class _Recorder(BaseHTTPRequestHandler):
    """A bare HTTP server for answers the stand-in does not give (redirects, Retry-After)."""

    answer: tuple = (503, {})
    seen: list

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        status, headers = self.answer
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def bare_server():
    servers = []

    def make(status: int, headers: dict):
        handler = type("H", (_Recorder,), {"answer": (status, headers), "seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", handler.seen

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_pause_longer_than_the_deadline_gives_up_at_once(standin, bare_server):
    url, seen = bare_server(503, {"Retry-After": "30"})
    clock = FakeClock()
    with fake_client(url, standin, clock, deadline=5) as c:
        with pytest.raises(KestraUnavailable) as err:
            c.get_flow("dev.testing", "hello")
    assert clock.sleeps == [] and len(seen) == 1  # no sleep at all, no second attempt
    assert "due in 30 s" in str(err.value) and "5 s deadline" in str(err.value)


def test_credentials_never_follow_a_redirect_to_another_host(standin, bare_server):
    other, other_seen = bare_server(200, {})
    url, seen = bare_server(307, {"Location": f"{other}/api/v1/main/flows/dev.testing/hello"})
    with KestraClient(url, "admin@kestra.io", "S3cretPass", deadline=1) as c:
        with pytest.raises(KestraApiError) as err:
            c.get_flow("dev.testing", "hello")
    assert err.value.status == 307 and other in str(err.value) and "not followed" in str(err.value)
    assert seen[0]["Authorization"].startswith("Basic ") and other_seen == []
    # What requests itself does when it follows (Session.rebuild_auth / should_strip_auth): the
    # Authorization header is dropped when the host or port changes.
    assert requests.get(f"{url}/x", auth=("admin@kestra.io", "S3cretPass"), timeout=5).status_code == 200
    assert len(other_seen) == 1 and "Authorization" not in other_seen[0]


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
    with pytest.raises(KestraNotFound, match="Requested Flow is not found"):
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


def test_pooled_clients_share_one_connection_per_thread(standin):
    def client():
        return KestraClient(standin.url, standin.username, standin.password, deadline=2, reuse_connections=True)

    with client() as a:
        a.create_flow(flow_source())
        first = a._session
    with client() as b:
        b.get_flow("dev.testing", "hello")
        assert b._session is first  # handed back by a.close(), not closed
    other: list = []
    worker = threading.Thread(target=lambda: other.append(client()._http()[0]))
    worker.start()
    worker.join()
    assert other[0] is not first  # a session is never shared between threads
    with KestraClient(standin.url, standin.username, "An0therPassword", deadline=2, reuse_connections=True) as c:
        assert c._http()[0] is not first  # nor between logins


def test_a_pooled_connection_survives_a_kestra_restart(standin):
    with KestraClient(standin.url, standin.username, standin.password, deadline=3, reuse_connections=True) as c:
        c.create_flow(flow_source())
    standin.stop()
    standin.start()  # same port, same state: the kept-alive connection is dead
    with KestraClient(standin.url, standin.username, standin.password, deadline=3, reuse_connections=True) as c:
        assert c.get_flow("dev.testing", "hello")["revision"] == 1


def test_a_request_never_repeated_gets_its_own_connection(standin):
    standin.put_flow_directly(flow_source())
    with KestraClient(standin.url, standin.username, standin.password, deadline=3, reuse_connections=True) as c:
        c.get_flow("dev.testing", "hello")
        pooled = c._session
        c.trigger_execution("dev.testing", "hello")
        assert c._session is pooled and len(standin.executions) == 1


def test_namespace_file_delete_is_not_repeated_on_a_503_with_retry_after(standin):
    # urllib3 retries a 503 carrying Retry-After even outside the status list; the DELETE must
    # still go out once per read that shows the file, never twice in a row.
    with KestraClient(standin.url, standin.username, standin.password, deadline=3) as c:
        retry = c._retry(False, retry_statuses=())
    assert retry.is_retry("DELETE", 503, has_retry_after=True) is False
