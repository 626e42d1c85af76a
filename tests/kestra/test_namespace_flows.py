"""NamespaceFlowsProvider driven as the engine drives it, over real HTTP to the stand-in.

Every flow of a namespace is one property (``<namespace>/<id>``) of one resource. Each test calls
check → diff → create/update/read/delete with the property dicts the Python dynamic-provider host
passes (secrets unwrapped, ``__provider`` included) and states what the user sees: requests
Kestra receives, flows Kestra ends up holding, what the engine's diff names, what errors say.
"""

from __future__ import annotations

import pytest
from pulumi.output import Unknown

import kestra.resources as resources
from kestra.client import KestraApiError, KestraAuthError, KestraValidationError
from kestra.resources import FlowProvider, NamespaceFlowsProvider
from tests.kestra.conftest import flow_source

PROVIDER = {"__provider": "serialized-provider"}
NS = "dev.testing"
CREATE_PATH = "/api/v1/main/flows"


@pytest.fixture(autouse=True)
def no_claims():
    """The hand-over claims live in the provider host's module: start and end each test with none."""
    resources._CLAIMS.clear()
    yield
    resources._CLAIMS.clear()


def key(flow_id: str, ns: str = NS) -> str:
    return f"{ns}/{flow_id}"


def flows_path(flow_id: str, ns: str = NS) -> str:
    return f"/api/v1/main/flows/{ns}/{flow_id}"


def props(conn: dict, flows: dict[str, str], ns: str = NS) -> dict:
    """The inputs of the ``<ns>/flows`` resource: connection, namespace, directory, one per flow."""
    return {**conn, "namespace": ns, "directory": f"flows/{ns}", **{key(fid, ns): src for fid, src in flows.items()}}


def sources(ids, ns: str = NS, message: str = "hi") -> dict[str, str]:
    return {fid: flow_source(fid, ns, message) for fid in ids}


def checked(p, news: dict, olds: dict | None = None) -> dict:
    result = p.check(olds or {}, {**PROVIDER, **news})
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def state(p, news: dict) -> dict:
    """Check + create, as a first `pulumi up` does; returns the outputs the state keeps."""
    created = p.create(checked(p, news))
    return {**created.outs, **PROVIDER}


def up(p, outs: dict, news: dict):
    """A later `pulumi up`: check (with the old state) → diff → update when the diff says so."""
    inputs = checked(p, news, outs)
    diff = p.diff("id", outs, inputs)
    assert diff.changes is True and diff.replaces == []
    return p.update("id", outs, inputs)


def live(standin, ns: str = NS) -> dict[str, str]:
    """What Kestra holds in `ns`: flow id → source."""
    return {fid: f.source for (tenant, n, fid), f in standin.flows.items() if n == ns and tenant == "main"}


def log(standin) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in standin.requests]


def assert_every_put_follows_a_get_that_showed_the_flow(standin) -> None:
    """Kestra 1.1 can freeze on a PUT of a missing flow: each PUT must come after a GET of the same
    flow that answered 200, with no DELETE of it in between (the request log, in order)."""
    shown: set[str] = set()
    for r in standin.requests:
        if r.method == "GET" and r.status == 200:
            shown.add(r.path)
        elif r.method == "DELETE":
            shown.discard(r.path)
        elif r.method == "PUT":
            assert r.path in shown, f"PUT {r.path} without a GET showing the flow first: {log(standin)}"
            shown.discard(r.path)
    assert standin.hazards == []


SUB = """\
id: {id}
namespace: dev.testing
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: dev.testing
    flowId: {callee}
"""


def caller(flow_id: str, callee: str) -> str:
    return SUB.format(id=flow_id, callee=callee)


def invalid(flow_id: str, ns: str = NS) -> str:
    """A flow Kestra refuses with 422 (a task type no plugin registers)."""
    return flow_source(flow_id, ns).replace("io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.log.Nope")


# -- create ---------------------------------------------------------------------------------------


def test_create_is_one_post_per_flow_and_stores_each_source_byte_for_byte(standin, conn):
    flows = sources(["alpha", "beta", "gamma"])
    outs = state(NamespaceFlowsProvider(), props(conn, flows))
    assert log(standin) == [("POST", CREATE_PATH)] * 3
    assert live(standin) == flows
    assert outs["revisions"] == {key("alpha"): 1, key("beta"): 1, key("gamma"): 1}
    assert all(outs[key(fid)] == src for fid, src in flows.items())


def test_create_adopts_an_identical_existing_flow_without_writing(standin, conn):
    standin.put_flow_directly(flow_source("alpha"))
    outs = state(NamespaceFlowsProvider(), props(conn, sources(["alpha"])))
    assert [(r.method, r.path, r.status) for r in standin.requests] == [
        ("POST", CREATE_PATH, 422), ("GET", flows_path("alpha"), 200)]
    assert outs["revisions"] == {key("alpha"): 1}


def test_create_adopts_a_different_existing_flow_with_one_write(standin, conn):
    standin.put_flow_directly(flow_source("alpha", message="made by hand"))
    state(NamespaceFlowsProvider(), props(conn, sources(["alpha"])))
    assert [r.method for r in standin.requests] == ["POST", "GET", "PUT"]
    assert live(standin) == sources(["alpha"])
    assert_every_put_follows_a_get_that_showed_the_flow(standin)


# -- diff -----------------------------------------------------------------------------------------


def test_noop_diff_makes_no_http_call(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta"])))
    standin.reset_log()
    inputs = checked(p, props(conn, sources(["alpha", "beta"])), outs)
    diff = p.diff("id", outs, inputs)
    assert diff.changes is False and diff.replaces == [] and diff.diffs == []
    assert standin.requests == []


def test_comment_only_change_is_not_shown_and_check_keeps_the_old_text(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta"])))
    standin.reset_log()
    reworded = flow_source("alpha").replace("# a comment", "# another comment").replace('"hi"', "hi")
    inputs = checked(p, props(conn, {"alpha": reworded, "beta": flow_source("beta")}), outs)
    # The engine diffs the texts itself: the old text back means it shows nothing for this flow.
    assert inputs[key("alpha")] == flow_source("alpha")
    diff = p.diff("id", outs, inputs)
    assert diff.changes is False and diff.diffs == []
    assert standin.requests == []


def test_diff_names_exactly_the_flows_changed_added_and_removed(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta", "gamma"])))
    news = {"alpha": flow_source("alpha", message="bye"), "beta": flow_source("beta"), "delta": flow_source("delta")}
    diff = p.diff("id", outs, checked(p, props(conn, news), outs))
    assert diff.changes is True and diff.replaces == []
    assert sorted(diff.diffs) == [key("alpha"), key("delta"), key("gamma")]


def test_directory_or_deadline_change_alone_is_no_change(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha"])))
    news = {**props(conn, sources(["alpha"])), "directory": "elsewhere/dev.testing", "deadline": 99}
    assert p.diff("id", outs, checked(p, news, outs)).changes is False


@pytest.mark.parametrize("field,value", [("namespace", "dev.other"), ("tenant", "other")])
def test_namespace_or_tenant_change_replaces(standin, conn, field, value):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha"])))
    assert p.diff("id", outs, {**outs, field: value}).replaces == [field]


# -- update ---------------------------------------------------------------------------------------


def test_one_changed_flow_out_of_many_costs_a_read_and_a_write(standin, conn):
    p = NamespaceFlowsProvider()
    ids = [f"flow_{i:02d}" for i in range(12)]
    outs = state(p, props(conn, sources(ids)))
    standin.reset_log()
    changed = {**sources(ids), "flow_07": flow_source("flow_07", message="bye")}
    updated = up(p, outs, props(conn, changed))
    assert log(standin) == [("GET", flows_path("flow_07")), ("PUT", flows_path("flow_07"))]
    assert live(standin) == changed
    assert updated.outs["revisions"] == {**{key(i): 1 for i in ids}, key("flow_07"): 2}
    assert updated.outs[key("flow_07")] == changed["flow_07"]


def test_add_and_remove_in_one_update(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta"])))
    standin.reset_log()
    updated = up(p, outs, props(conn, sources(["beta", "gamma"])))
    assert log(standin) == [("POST", CREATE_PATH), ("DELETE", flows_path("alpha"))]  # deletes come last
    assert live(standin) == sources(["beta", "gamma"])
    assert updated.outs["revisions"] == {key("beta"): 1, key("gamma"): 1}
    assert key("alpha") not in updated.outs


def test_removing_a_file_deletes_exactly_that_flow(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta", "gamma"])))
    standin.reset_log()
    updated = up(p, outs, props(conn, sources(["alpha", "gamma"])))
    assert log(standin) == [("DELETE", flows_path("beta"))]
    assert live(standin) == sources(["alpha", "gamma"])
    assert updated.outs["revisions"] == {key("alpha"): 1, key("gamma"): 1}


def test_update_of_a_flow_deleted_by_hand_creates_it_without_a_put(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta"])))
    del standin.flows[("main", NS, "alpha")]
    standin.reset_log()
    up(p, outs, props(conn, {**sources(["beta"]), "alpha": flow_source("alpha", message="bye")}))
    assert [(r.method, r.status) for r in standin.requests] == [("GET", 404), ("POST", 200)]
    assert live(standin)["alpha"] == flow_source("alpha", message="bye")
    assert_every_put_follows_a_get_that_showed_the_flow(standin)


def test_connection_change_verifies_each_flow_and_rewrites_only_the_missing(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta"])))
    del standin.flows[("main", NS, "beta")]  # e.g. the URL now reaches a Kestra that lost one
    standin.reset_log()
    updated = up(p, outs, props({**conn, "url": standin.url + "/"}, sources(["alpha", "beta"])))
    assert sorted((r.method, r.path) for r in standin.requests) == sorted(
        [("GET", flows_path("alpha")), ("GET", flows_path("beta")), ("POST", CREATE_PATH)])
    assert live(standin) == sources(["alpha", "beta"]) and updated.outs["url"] == standin.url + "/"
    assert_every_put_follows_a_get_that_showed_the_flow(standin)


def test_a_removed_flow_is_deleted_with_the_new_password(standin, conn):
    """Kestra's password rotated in the same `up` that drops a flow: the old one is refused (401),
    so the removal must use the credentials the update brings, like every write of it."""
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta"])))
    standin.password = "R0tated!pass"
    up(p, outs, props({**conn, "password": "R0tated!pass"}, sources(["alpha"])))
    assert live(standin) == sources(["alpha"])


# -- subflows -------------------------------------------------------------------------------------


def test_callees_are_created_before_their_callers(standin, conn):
    flows = {"top": caller("top", "middle"), "middle": caller("middle", "leaf"), "leaf": flow_source("leaf"),
             "other": flow_source("other")}
    state(NamespaceFlowsProvider(), props(conn, flows))
    created = [fid for (_, ns, fid) in standin.flows if ns == NS]  # Kestra's insertion order
    assert created.index("leaf") < created.index("middle") < created.index("top")
    assert live(standin) == flows


def test_an_added_callee_is_written_before_the_changed_caller(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, {"top": flow_source("top")}))
    standin.reset_log()
    up(p, outs, props(conn, {"top": caller("top", "aaa_new"), "aaa_new": flow_source("aaa_new")}))
    methods = [(r.method, r.path) for r in standin.requests]
    assert methods.index(("POST", CREATE_PATH)) < methods.index(("PUT", flows_path("top")))
    assert_every_put_follows_a_get_that_showed_the_flow(standin)


# -- failures leave Kestra as it was --------------------------------------------------------------


def test_a_refused_flow_in_a_create_leaves_kestra_as_before(standin, conn):
    # One flow existed (made by hand): the create adopts and rewrites it, creates others, then
    # Kestra refuses one; afterwards Kestra holds exactly what it held before.
    standin.put_flow_directly(flow_source("alpha", message="made by hand"))
    before = live(standin)
    flows = {**sources(["alpha", "beta", "gamma", "delta", "epsilon"]), "omega": invalid("omega")}
    p = NamespaceFlowsProvider()
    with pytest.raises(KestraValidationError) as err:
        p.create(checked(p, props(conn, flows)))
    assert live(standin) == before
    message = str(err.value)
    assert "dev.testing/omega" in message and "flows/dev.testing/omega.yaml" in message
    assert "Invalid type: io.kestra.plugin.core.log.Nope" in message
    assert_every_put_follows_a_get_that_showed_the_flow(standin)


def test_a_refused_callee_stops_before_its_caller_is_written(standin, conn):
    p = NamespaceFlowsProvider()
    flows = {"top": caller("top", "leaf"), "leaf": invalid("leaf")}
    with pytest.raises(KestraValidationError, match=r"dev\.testing/leaf \(flows/dev\.testing/leaf\.yaml\)"):
        p.create(checked(p, props(conn, flows)))
    assert live(standin) == {}
    assert [r.method for r in standin.requests] == ["POST"]


def test_a_refused_flow_in_an_update_leaves_kestra_as_before(standin, conn):
    p = NamespaceFlowsProvider()
    ids = ["alpha", "beta", "gamma", "delta", "epsilon"]
    outs = state(p, props(conn, sources(ids)))
    before = live(standin)
    news = {
        **{fid: flow_source(fid, message="changed") for fid in ["alpha", "beta", "gamma", "delta"]},
        "zeta": flow_source("zeta"),  # added
        "omega": invalid("omega"),  # added, refused
    }  # epsilon removed: it must not be deleted, since the update fails
    inputs = checked(p, props(conn, news), outs)
    with pytest.raises(KestraValidationError) as err:
        p.update("id", outs, inputs)
    assert live(standin) == before
    assert "dev.testing/omega (flows/dev.testing/omega.yaml)" in str(err.value)
    assert not standin.calls("DELETE", "/epsilon")
    assert_every_put_follows_a_get_that_showed_the_flow(standin)


def test_a_refused_change_of_an_existing_flow_puts_the_others_back(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta"])))
    before = live(standin)
    news = {"alpha": flow_source("alpha", message="changed"), "beta": invalid("beta")}
    with pytest.raises(KestraValidationError, match=r"dev\.testing/beta \(flows/dev\.testing/beta\.yaml\)"):
        p.update("id", outs, checked(p, props(conn, news), outs))
    assert live(standin) == before
    assert_every_put_follows_a_get_that_showed_the_flow(standin)


# -- read -----------------------------------------------------------------------------------------


def test_read_shows_drift_and_drops_a_deleted_flow(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta", "gamma"])))
    standin.put_flow_directly(flow_source("alpha", message="edited in the UI"))
    del standin.flows[("main", NS, "beta")]
    read = p.read("id", outs)
    edited = flow_source("alpha", message="edited in the UI")
    assert read.outs[key("alpha")] == edited and read.inputs[key("alpha")] == edited
    assert key("beta") not in read.outs and key("beta") not in read.inputs
    assert read.outs[key("gamma")] == flow_source("gamma")
    assert read.outs["revisions"] == {key("alpha"): 2, key("gamma"): 1}
    assert {"url", "username", "password", "tenant", "namespace"} <= set(read.inputs)
    # The next up writes back the edited flow and creates the deleted one.
    diff = p.diff("id", read.outs, checked(p, props(conn, sources(["alpha", "beta", "gamma"])), read.outs))
    assert sorted(diff.diffs) == [key("alpha"), key("beta")]


def test_read_of_an_unchanged_kestra_shows_no_drift(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta"])))
    read = p.read("id", outs)
    assert all(read.outs[key(fid)] == flow_source(fid) for fid in ["alpha", "beta"])
    assert p.diff("id", read.outs, checked(p, props(conn, sources(["alpha", "beta"])), read.outs)).changes is False


# -- delete ---------------------------------------------------------------------------------------


def test_delete_removes_every_flow_and_takes_not_found_as_done(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta", "gamma"])))
    standin.put_flow_directly(flow_source("other", ns="dev.other"))
    del standin.flows[("main", NS, "beta")]
    standin.reset_log()
    p.delete("id", outs)
    assert live(standin) == {} and live(standin, "dev.other") == {"other": flow_source("other", ns="dev.other")}
    assert sorted((r.path, r.status) for r in standin.calls("DELETE")) == [
        (flows_path("alpha"), 204), (flows_path("beta"), 404), (flows_path("gamma"), 204)]
    p.delete("id", outs)  # again: every flow is already gone


# -- check ----------------------------------------------------------------------------------------


def _failures(p, news: dict) -> dict[str, str]:
    return {f.property: f.reason for f in p.check({}, {**PROVIDER, **news}).failures}


def test_check_failures_name_the_property_the_file_and_the_field(conn):
    p = NamespaceFlowsProvider()
    bad = {
        "broken": "id: broken\nnamespace: dev.testing\ntasks: [\n",
        "renamed": flow_source("renamd"),
        "moved": flow_source("moved", ns="dev.prod"),
        "anonymous": "namespace: dev.testing\ntasks: []\n",
        "listed": "- a\n- b\n",
        "good": flow_source("good"),
    }
    found = _failures(p, props(conn, bad))
    assert set(found) == {key(f) for f in ["broken", "renamed", "moved", "anonymous", "listed"]}
    for fid, reason in found.items():
        flow_id = fid.split("/")[1]
        assert reason.startswith(f"flow dev.testing/{flow_id} (flows/dev.testing/{flow_id}.yaml): "), reason
    assert "invalid YAML at line 4" in found[key("broken")]
    assert "id: 'renamd'" in found[key("renamed")] and "'renamed'" in found[key("renamed")]
    assert "namespace: 'dev.prod'" in found[key("moved")]
    assert "the source has no 'id'" in found[key("anonymous")]
    assert "not a mapping" in found[key("listed")]


def test_check_refuses_a_flow_property_of_another_namespace(conn):
    p = NamespaceFlowsProvider()
    news = {**props(conn, {}), key("stray", "dev.other"): flow_source("stray", ns="dev.other")}
    found = _failures(p, news)
    assert list(found) == [key("stray", "dev.other")]
    assert "dev.other" in found[key("stray", "dev.other")] and "dev.testing" in found[key("stray", "dev.other")]


def test_check_failures_for_the_connection_name_the_key(conn):
    p = NamespaceFlowsProvider()
    found = _failures(p, props({**conn, "url": "localhost:8080", "username": ""}, sources(["alpha"])))
    assert found["url"].endswith("url must start with http:// or https://")
    assert "username must be a non-empty string" in found["username"]


def test_check_and_diff_tolerate_unknown_values(standin, conn):
    p = NamespaceFlowsProvider()
    outs = state(p, props(conn, sources(["alpha", "beta"])))
    preview = p.check(outs, {**PROVIDER, **props({**conn, "url": Unknown()}, {"alpha": Unknown(),
                                                                                 "beta": flow_source("beta")})})
    assert preview.failures == []
    diff = p.diff("id", outs, preview.inputs)
    assert diff.changes is True and diff.replaces == []
    assert set(diff.diffs) == {key("alpha"), "url"}
    unknown_ns = p.check({}, {**PROVIDER, **props(conn, sources(["alpha"])), "namespace": Unknown()})
    assert unknown_ns.failures == []
    assert p.diff("id", outs, {**outs, "namespace": Unknown()}).replaces == ["namespace"]


# -- hand-over from the per-flow resources of an earlier state ------------------------------------


def test_a_claimed_flow_is_handed_over_and_an_unclaimed_one_deleted(standin, conn):
    # An earlier state holds one Flow per flow; the program now declares the namespace resource,
    # whose check the engine runs before it deletes the old Flow resources.
    standin.put_flow_directly(flow_source("alpha"))
    standin.put_flow_directly(flow_source("dropped"))
    old_flow = {**conn, **PROVIDER, "namespace": NS, "source": flow_source("alpha"), "revision": 1}
    NamespaceFlowsProvider().check({}, {**PROVIDER, **props(conn, sources(["alpha"]))})
    standin.reset_log()
    FlowProvider().delete(key("alpha"), {**old_flow, "flow_id": "alpha"})
    assert standin.requests == [] and live(standin)["alpha"] == flow_source("alpha")
    FlowProvider().delete(key("dropped"), {**old_flow, "flow_id": "dropped", "source": flow_source("dropped")})
    assert log(standin) == [("DELETE", flows_path("dropped"))] and "dropped" not in live(standin)


def test_a_claim_is_per_tenant_and_namespace(standin, conn):
    standin.put_flow_directly(flow_source("alpha"))
    NamespaceFlowsProvider().check({}, {**PROVIDER, **props({**conn, "tenant": "other"}, sources(["alpha"]))})
    NamespaceFlowsProvider().check({}, {**PROVIDER, **props(conn, sources(["alpha"], ns="dev.other"), "dev.other")})
    FlowProvider().delete(key("alpha"), {**conn, **PROVIDER, "namespace": NS, "flow_id": "alpha",
                                         "source": flow_source("alpha")})
    assert log(standin) == [("DELETE", flows_path("alpha"))] and live(standin) == {}


def test_errors_are_kestra_api_errors_naming_the_flow(standin, conn):
    p = NamespaceFlowsProvider()
    with pytest.raises(KestraAuthError) as err:
        p.create(checked(p, props({**conn, "password": "wrong-password"}, sources(["alpha"]))))
    assert isinstance(err.value, KestraApiError)
    assert "flow dev.testing/alpha (flows/dev.testing/alpha.yaml)" in str(err.value)
    assert "wrong-password" not in str(err.value)
