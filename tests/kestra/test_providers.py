"""The dynamic providers driven as the engine drives them, over real HTTP to the stand-in.

Each test calls check → diff → create/update/read/delete with the property dicts the Python
dynamic-provider host would pass (secrets already unwrapped, `__provider` included).
"""

from __future__ import annotations

import pytest
from pulumi.output import Unknown

from kestra.client import KestraApiError, KestraAuthError, KestraUnavailable, KestraValidationError
from kestra.resources import DashboardProvider, FlowProvider, KvEntryProvider, NamespaceFileProvider
from tests.kestra.conftest import DASHBOARD, flow_source

PROVIDER = {"__provider": "serialized-provider"}


def checked(provider, news: dict, olds: dict | None = None) -> dict:
    result = provider.check(olds or {}, {**PROVIDER, **news})
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def failures(provider, news: dict) -> dict[str, str]:
    return {f.property: f.reason for f in provider.check({}, {**PROVIDER, **news}).failures}


def state(provider, news: dict) -> tuple[str, dict]:
    """Check + create, as a first `pulumi up` does; returns (id, outputs)."""
    created = provider.create(checked(provider, news))
    return created.id, {**created.outs, **PROVIDER}


# -- flows ------------------------------------------------------------------------------------


@pytest.fixture
def flow(conn) -> dict:
    return {**conn, "namespace": "dev.testing", "flow_id": "hello", "source": flow_source(),
            "origin": "flows/dev.testing/hello.yaml"}


def test_flow_create_is_one_request(standin, flow):
    fid, outs = state(FlowProvider(), flow)
    assert fid == "dev.testing/hello"
    assert outs["revision"] == 1 and outs["source"] == flow_source() and outs["password"] == flow["password"]
    # Kestra validates on POST (422 with the constraints): no separate validate call.
    assert [(c.method, c.path) for c in standin.requests] == [("POST", "/api/v1/main/flows")]
    assert standin.flow_source("dev.testing", "hello") == flow_source()


def test_flow_noop_diff_makes_no_http_call(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    standin.reset_log()
    reformatted = flow_source().replace("# a comment", "# another comment").replace('"hi"', "hi")
    news = checked(p, {**flow, "source": reformatted})
    diff = p.diff(fid, outs, news)
    assert diff.changes is False and diff.replaces == [] and diff.diffs == []
    assert standin.requests == []


def test_flow_update_writes_exact_source_and_bumps_revision(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    news = checked(p, {**flow, "source": flow_source(message="bye")})
    diff = p.diff(fid, outs, news)
    assert diff.changes is True and diff.replaces == [] and diff.diffs == ["source"]
    updated = p.update(fid, outs, news)
    assert updated.outs["revision"] == 2 and updated.outs["source"] == flow_source(message="bye")
    assert standin.flow_source("dev.testing", "hello") == flow_source(message="bye")


@pytest.mark.parametrize("key,value", [("flow_id", "hello2"), ("namespace", "dev.other"), ("tenant", "other")])
def test_flow_identity_change_replaces(standin, flow, key, value):
    p = FlowProvider()
    fid, outs = state(p, flow)
    news = {**flow, key: value}
    if key != "tenant":
        news["source"] = flow_source(flow_id=news["flow_id"], ns=news["namespace"])
    diff = p.diff(fid, outs, checked(p, news))
    assert diff.changes is True and diff.replaces == [key]


def test_flow_connection_change_updates_state_without_rewriting(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    standin.reset_log()
    news = checked(p, {**flow, "url": standin.url + "/", "deadline": 10, "origin": "elsewhere.yaml"})
    diff = p.diff(fid, outs, news)
    assert diff.changes is True and diff.replaces == [] and diff.diffs == ["url"]
    updated = p.update(fid, outs, news)
    assert [c.method for c in standin.requests] == ["GET"]  # verified, not rewritten
    assert updated.outs["url"] == standin.url + "/" and updated.outs["revision"] == 1


def test_flow_connection_change_repairs_a_missing_flow(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    standin.flows.clear()  # e.g. the URL now points at a fresh Kestra
    updated = p.update(fid, outs, checked(p, {**flow, "username": standin.username}))
    assert updated.outs["revision"] == 1 and standin.flow_source("dev.testing", "hello") == flow_source()


def test_flow_only_origin_or_deadline_change_is_no_change(flow, conn):
    p = FlowProvider()
    outs = {**flow, **PROVIDER, "revision": 1}
    diff = p.diff("dev.testing/hello", outs, checked(p, {**flow, "origin": "moved.yaml", "deadline": 99}))
    assert diff.changes is False


def test_flow_create_adopts_an_existing_flow(standin, flow):
    standin.put_flow_directly(flow_source(message="made by hand"))
    fid, outs = state(FlowProvider(), flow)
    assert outs["revision"] == 2 and len(standin.flows) == 1
    assert standin.flow_source("dev.testing", "hello") == flow_source()
    assert [c.method for c in standin.requests] == ["POST", "GET", "PUT"]  # refused create, read, one write


def test_flow_create_adopts_an_identical_flow_without_writing(standin, flow):
    standin.put_flow_directly(flow_source())
    fid, outs = state(FlowProvider(), flow)
    assert outs["revision"] == 1
    assert [(c.method, c.status) for c in standin.requests] == [("POST", 422), ("GET", 200)]


def test_flow_update_recreates_a_vanished_flow(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    standin.flows.clear()
    updated = p.update(fid, outs, checked(p, {**flow, "source": flow_source(message="again")}))
    assert updated.outs["revision"] == 1 and standin.flow_source("dev.testing", "hello") == flow_source(message="again")


def test_flow_read_shows_drift_and_returns_inputs(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    standin.put_flow_directly(flow_source(message="edited in the UI"))
    read = p.read(fid, outs)
    assert read.id == fid and read.outs["revision"] == 2
    assert read.outs["source"] == flow_source(message="edited in the UI")
    assert read.inputs["source"] == flow_source(message="edited in the UI")
    assert set(read.inputs) >= {"url", "username", "password", "tenant", "namespace", "flow_id", "source"}
    # The next up sees the drift and writes the program's source back.
    assert p.diff(fid, read.outs, checked(p, flow)).changes is True


def test_flow_read_keeps_exact_text_when_live_means_the_same(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    standin.put_flow_directly(flow_source().replace("# a comment that Kestra keeps", "# reformatted"))
    read = p.read(fid, outs)
    assert read.outs["source"] == flow_source() and read.outs["revision"] == 2


def test_flow_read_of_a_deleted_flow_is_gone(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    standin.flows.clear()
    read = p.read(fid, outs)
    assert read.id == "" and read.outs == {}


def test_flow_delete_twice(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    p.delete(fid, outs)
    p.delete(fid, outs)  # 404 is success
    assert standin.flows == {}
    assert [c.status for c in standin.calls("DELETE")] == [204, 404]


def test_flow_check_failures_name_object_origin_and_reason(flow):
    p = FlowProvider()
    bad_yaml = failures(p, {**flow, "source": "id: hello\nnamespace: dev.testing\ntasks: [\n"})
    assert bad_yaml["source"].startswith("flow dev.testing/hello (flows/dev.testing/hello.yaml): invalid YAML at line 4")
    mismatch = failures(p, {**flow, "source": flow_source(flow_id="helo")})
    assert "the source says id: 'helo' but the resource expects 'hello'" in mismatch["source"]
    wrong_ns = failures(p, {**flow, "source": flow_source(ns="dev.prod")})
    assert "namespace: 'dev.prod'" in wrong_ns["source"]
    assert "the source has no 'id'" in failures(p, {**flow, "source": "namespace: dev.testing\n"})["source"]
    assert "not a mapping" in failures(p, {**flow, "source": "- a\n- b\n"})["source"]
    assert failures(p, {**flow, "url": "localhost:8080"})["url"].endswith("url must start with http:// or https://")
    assert "flow_id must be a non-empty string" in failures(p, {**flow, "flow_id": ""})["flow_id"]


def test_flow_check_and_diff_tolerate_unknowns(standin, flow):
    p = FlowProvider()
    fid, outs = state(p, flow)
    preview = p.check({}, {**PROVIDER, **flow, "url": Unknown(), "source": Unknown()})
    assert preview.failures == []
    diff = p.diff(fid, outs, preview.inputs)
    assert diff.changes is True and diff.replaces == [] and set(diff.diffs) == {"source", "url"}
    assert p.diff(fid, outs, {**flow, "flow_id": Unknown()}).replaces == ["flow_id"]


def test_flow_invalid_for_kestra_fails_with_its_constraint(standin, flow):
    p = FlowProvider()
    source = flow_source().replace("io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.log.Nope")
    with pytest.raises(KestraValidationError) as err:  # Kestra refuses the flow: what a user catches
        p.create(checked(p, {**flow, "source": source}))
    assert str(err.value).startswith("flow dev.testing/hello (flows/dev.testing/hello.yaml): ")
    assert "Invalid entity: Invalid type: io.kestra.plugin.core.log.Nope" in str(err.value)
    assert err.value.status == 422
    assert [(c.path, c.status) for c in standin.requests] == [("/api/v1/main/flows", 422)]  # one request
    assert standin.flows == {}


def test_kestra_422_on_write_carries_kestras_message(standin, kv):
    # check() would refuse this key; create() is called directly to see Kestra's own answer.
    with pytest.raises(KestraApiError) as err:
        KvEntryProvider().create({**PROVIDER, **kv, "key": "bad$key"})
    assert err.value.status == 422
    assert str(err.value).startswith("kv gcp.ecommerce/bad$key: ")
    assert "Key must start with an alphanumeric character" in str(err.value)


def test_wrong_password_is_clear_and_does_not_leak(standin, flow):
    p = FlowProvider()
    with pytest.raises(KestraAuthError) as err:
        p.create(checked(p, {**flow, "password": "Not-The-Passw0rd"}))
    assert "basic-auth username and password" in str(err.value) and "Not-The-Passw0rd" not in str(err.value)
    assert "flow dev.testing/hello" in str(err.value)


def test_provider_gives_a_clear_error_after_the_deadline(standin, flow):
    standin.inject("status", count=10_000, status=503)
    with pytest.raises(KestraUnavailable, match=r"still answered 503 within the 0\.5 s deadline"):
        FlowProvider().create(checked(FlowProvider(), {**flow, "deadline": 0.5}))
    assert standin.flows == {}


# -- namespace files --------------------------------------------------------------------------


@pytest.fixture
def nsfile(conn) -> dict:
    return {**conn, "namespace": "dev.testing", "path": "scripts/process.py", "content": "print('hello')\n"}


def test_namespace_file_lifecycle(standin, nsfile):
    p = NamespaceFileProvider()
    inputs = checked(p, nsfile)
    assert inputs["path"] == "/scripts/process.py"
    fid, outs = state(p, nsfile)
    assert fid == "dev.testing:/scripts/process.py" and len(outs["sha256"]) == 64
    assert standin.files[("main", "dev.testing", "/scripts/process.py")] == b"print('hello')\n"

    standin.reset_log()
    assert p.diff(fid, outs, checked(p, {**nsfile, "path": "/scripts/process.py"})).changes is False
    assert standin.requests == []

    news = checked(p, {**nsfile, "content": "print('bye')\n"})
    assert p.diff(fid, outs, news).diffs == ["content"]
    outs = {**p.update(fid, outs, news).outs, **PROVIDER}
    assert standin.files[("main", "dev.testing", "/scripts/process.py")] == b"print('bye')\n"

    standin.files[("main", "dev.testing", "/scripts/process.py")] = b"edited\n"
    read = p.read(fid, outs)
    assert read.outs["content"] == "edited\n" and read.outs["sha256"] != outs["sha256"]
    assert read.inputs["content"] == "edited\n"

    assert p.diff(fid, outs, checked(p, {**nsfile, "path": "/scripts/other.py"})).replaces == ["path"]
    p.delete(fid, outs)
    p.delete(fid, outs)
    assert p.read(fid, outs).id == ""


@pytest.mark.parametrize(
    "path,reason",
    [("/flows.zip", ".zip upload is extracted"), ("/_flows/x.yaml", "imported by Kestra as flows"),
     ("../etc/passwd", "must name a file"), ("/", "must name a file")],
)
def test_namespace_file_check_refuses_paths_kestra_treats_specially(nsfile, path, reason):
    assert reason in failures(NamespaceFileProvider(), {**nsfile, "path": path})["path"]


def test_namespace_file_content_must_be_text(nsfile):
    assert "content must be text" in failures(NamespaceFileProvider(), {**nsfile, "content": 12})["content"]


# -- KV entries -------------------------------------------------------------------------------


@pytest.fixture
def kv(conn) -> dict:
    return {**conn, "namespace": "gcp.ecommerce", "key": "GCS_BUCKET", "value": "my-bucket"}


def test_kv_lifecycle(standin, kv):
    p = KvEntryProvider()
    fid, outs = state(p, kv)
    assert fid == "gcp.ecommerce/GCS_BUCKET" and standin.kv[("main", "gcp.ecommerce", "GCS_BUCKET")] == "my-bucket"
    standin.reset_log()
    assert p.diff(fid, outs, checked(p, kv)).changes is False and standin.requests == []
    news = checked(p, {**kv, "value": "other-bucket"})
    assert p.diff(fid, outs, news).diffs == ["value"]
    outs = {**p.update(fid, outs, news).outs, **PROVIDER}
    assert standin.kv[("main", "gcp.ecommerce", "GCS_BUCKET")] == "other-bucket"
    standin.kv[("main", "gcp.ecommerce", "GCS_BUCKET")] = "changed-by-hand"
    assert p.read(fid, outs).outs["value"] == "changed-by-hand"
    assert p.diff(fid, outs, checked(p, {**kv, "key": "BQ_DATASET_RAW"})).replaces == ["key"]
    p.delete(fid, outs)
    p.delete(fid, outs)
    assert p.read(fid, outs).id == ""


def test_kv_numbers_from_pulumi_are_normalised(standin, kv):
    p = KvEntryProvider()
    inputs = checked(p, {**kv, "value": {"retries": 3.0, "ratio": 0.5, "flag": True}})
    assert inputs["value"] == {"retries": 3, "ratio": 0.5, "flag": True}
    fid, outs = state(p, {**kv, "value": 42.0})
    assert standin.kv[("main", "gcp.ecommerce", "GCS_BUCKET")] == 42
    assert type(standin.kv[("main", "gcp.ecommerce", "GCS_BUCKET")]) is int
    assert p.diff(fid, outs, checked(p, {**kv, "value": 42})).changes is False
    assert p.diff(fid, outs, checked(p, {**kv, "value": True})).changes is True  # true is not 1


def test_kv_check_failures(kv):
    p = KvEntryProvider()
    assert "invalid KV key" in failures(p, {**kv, "key": "bad key!"})["key"]
    assert "value is missing" in failures(p, {**{k: v for k, v in kv.items() if k != "value"}})["value"]
    nan = failures(p, {**kv, "value": float("nan")})["value"]
    assert "cannot be stored" in nan and "nan" not in nan.split("(")[0].lower()


def test_kv_secret_value_never_appears_in_errors(standin, kv):
    secret = "sk-live-0123456789abcdef"
    p = KvEntryProvider()
    bad = p.check({}, {**PROVIDER, **kv, "key": "bad key", "value": secret})
    assert all(secret not in f.reason for f in bad.failures)
    standin.inject("status", count=10_000, status=503)
    with pytest.raises(KestraUnavailable) as err:
        p.create(checked(p, {**kv, "value": secret, "deadline": 0.3}))
    assert secret not in str(err.value) and "kv gcp.ecommerce/GCS_BUCKET" in str(err.value)
    standin.faults.clear()
    with pytest.raises(KestraAuthError) as err:
        p.create(checked(p, {**kv, "value": secret, "password": "Wr0ng-pass"}))
    assert secret not in str(err.value)


# -- dashboards -------------------------------------------------------------------------------


@pytest.fixture
def dashboard(conn) -> dict:
    return {**conn, "source": DASHBOARD.format(id="ops_overview", title="Ops")}


def test_dashboard_lifecycle(standin, dashboard):
    p = DashboardProvider()
    inputs = checked(p, dashboard)
    assert inputs["dashboard_id"] == "ops_overview"
    fid, outs = state(p, dashboard)
    assert fid == "ops_overview" and outs["dashboard_id"] == "ops_overview"
    assert [c.path for c in standin.requests] == ["/api/v1/main/dashboards"]

    standin.reset_log()
    same = checked(p, {**dashboard, "source": "# c\n" + DASHBOARD.format(id="ops_overview", title="Ops")})
    assert p.diff(fid, outs, same).changes is False and standin.requests == []

    news = checked(p, {**dashboard, "source": DASHBOARD.format(id="ops_overview", title="Ops v2")})
    assert p.diff(fid, outs, news).diffs == ["source"]
    outs = {**p.update(fid, outs, news).outs, **PROVIDER}
    assert standin.dashboards[("main", "ops_overview")]["parsed"]["title"] == "Ops v2"

    standin.dashboards[("main", "ops_overview")]["source"] = DASHBOARD.format(id="ops_overview", title="UI edit")
    assert "UI edit" in p.read(fid, outs).outs["source"]

    renamed = checked(p, {**dashboard, "source": DASHBOARD.format(id="ops", title="Ops")})
    assert p.diff(fid, outs, renamed).replaces == ["dashboard_id"]
    standin.reset_log()
    p.delete(fid, outs)
    p.delete(fid, outs)  # Kestra answers 409 "Dashboard ops_overview doesn't exists": already gone
    assert [(c.method, c.status) for c in standin.requests] == [("DELETE", 204), ("DELETE", 409)]
    assert p.read(fid, outs).id == ""


def test_dashboard_create_adopts_existing(standin, dashboard, client):
    client.create_dashboard(DASHBOARD.format(id="ops_overview", title="Old"))
    state(DashboardProvider(), dashboard)
    assert standin.dashboards[("main", "ops_overview")]["parsed"]["title"] == "Ops"


def test_dashboard_check_requires_id(dashboard):
    p = DashboardProvider()
    reasons = failures(p, {**dashboard, "source": "title: no id\ncharts: []\n"})
    assert list(reasons) == ["source"] and "has no 'id'" in reasons["source"]


def test_dashboard_invalid_for_kestra(standin, dashboard):
    with pytest.raises(KestraApiError, match="title: must not be null"):
        DashboardProvider().create(checked(DashboardProvider(), {**dashboard, "source": "id: x\ncharts: []\n"}))
    assert standin.dashboards == {}
