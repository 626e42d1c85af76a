"""A namespace's flows as one resource (`NamespaceFlowsProvider`), against a real Kestra 1.1.

Skipped unless ``KESTRA_URL`` is set (see test_kestra_live.py). Each test works in its own
namespace and deletes what it created, also when it fails.
"""

from __future__ import annotations

import os

import pytest

from kestra.client import KestraApiError, KestraNotFound, KestraValidationError
from kestra.resources import FlowProvider, NamespaceFlowsProvider, flow_key
from tests.integration.test_kestra_live import FLOW, PROVIDER, conn, live, namespace  # noqa: F401

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("KESTRA_URL"), reason="KESTRA_URL is not set"),
]

def checked(provider, news: dict, olds: dict | None = None) -> dict:
    result = provider.check(olds or {}, {**PROVIDER, **news})
    assert result.failures == [], [f.reason for f in result.failures]
    return result.inputs


def props_for(conn, ns: str, sources: dict[str, str]) -> dict:  # noqa: F811
    return {**conn, "namespace": ns, "directory": f"flows/{ns}",
            **{flow_key(ns, fid): source for fid, source in sources.items()}}


def sources(ns: str, ids, message: str = "v1") -> dict[str, str]:
    return {fid: FLOW.format(id=fid, ns=ns, message=message) for fid in ids}


def held(live, ns: str, ids) -> dict:  # noqa: F811
    found = {}
    for fid in ids:
        try:
            found[fid] = live.get_flow(ns, fid)
        except KestraNotFound:
            pass
    return found


def test_a_namespace_of_flows_lives_its_whole_life(conn, live, namespace):  # noqa: F811
    ns, cleanup = namespace
    ids = [f"f{i}" for i in range(6)] + ["added"]
    cleanup += [lambda fid=fid: live.delete_flow(ns, fid) for fid in ids]
    p = NamespaceFlowsProvider()
    first = sources(ns, ids[:6])
    created = p.create(checked(p, props_for(conn, ns, first)))
    outs = {**created.outs, **PROVIDER}
    assert created.id == ns
    assert {fid: doc["source"] for fid, doc in held(live, ns, ids).items()} == first
    assert set(outs["revisions"]) == {flow_key(ns, fid) for fid in ids[:6]}

    # One changed, one added, one removed: Kestra holds exactly the new set.
    second = {**first, "f1": FLOW.format(id="f1", ns=ns, message="v2"), "added": FLOW.format(id="added", ns=ns, message="new")}
    del second["f5"]
    news = checked(p, props_for(conn, ns, second), outs)
    diff = p.diff(ns, outs, news)
    assert diff.changes and sorted(diff.diffs) == sorted(flow_key(ns, f) for f in ("f1", "added", "f5"))
    outs = {**p.update(ns, outs, news).outs, **PROVIDER}
    now = held(live, ns, ids)
    assert {fid: doc["source"] for fid, doc in now.items()} == second
    assert now["f0"]["revision"] == 1 and now["f1"]["revision"] == 2

    # Drift: an edit in the UI and a flow deleted by hand both show on read.
    live.update_flow(ns, "f2", FLOW.format(id="f2", ns=ns, message="edited in the UI"))
    live.delete_flow(ns, "f3")
    read = p.read(ns, outs)
    assert "edited in the UI" in read.outs[flow_key(ns, "f2")]
    assert flow_key(ns, "f3") not in read.outs and flow_key(ns, "f3") not in read.inputs
    changed = p.diff(ns, {**read.outs, **PROVIDER}, checked(p, props_for(conn, ns, second)))
    assert sorted(changed.diffs) == sorted(flow_key(ns, f) for f in ("f2", "f3"))

    # The next update puts both back, the deleted one with a create (never a PUT of a missing flow).
    outs = {**p.update(ns, {**read.outs, **PROVIDER}, checked(p, props_for(conn, ns, second))).outs, **PROVIDER}
    assert {fid: doc["source"] for fid, doc in held(live, ns, ids).items()} == second

    p.delete(ns, outs)
    p.delete(ns, outs)  # again: every flow is already gone
    assert held(live, ns, ids) == {}


def test_a_flow_kestra_refuses_leaves_the_namespace_as_it_was(conn, live, namespace):  # noqa: F811
    ns, cleanup = namespace
    ids = ["keep", "edit", "new", "bad"]
    cleanup += [lambda fid=fid: live.delete_flow(ns, fid) for fid in ids]
    p = NamespaceFlowsProvider()
    before = sources(ns, ["keep", "edit"])
    outs = {**p.create(checked(p, props_for(conn, ns, before))).outs, **PROVIDER}

    after = {**before, "edit": FLOW.format(id="edit", ns=ns, message="v2"),
             "new": FLOW.format(id="new", ns=ns, message="v1"),
             "bad": FLOW.format(id="bad", ns=ns, message="x").replace("core.log.Log", "core.log.DoesNotExist")}
    with pytest.raises(KestraValidationError, match=rf"flow {ns}/bad \(flows/{ns}/bad.yaml\).*DoesNotExist"):
        p.update(ns, outs, checked(p, props_for(conn, ns, after), outs))
    assert {fid: doc["source"] for fid, doc in held(live, ns, ids).items()} == before


def test_a_per_flow_resource_hands_its_flow_over(conn, live, namespace):  # noqa: F811
    """A state of the previous layout: the engine deletes the Flow resources after the namespace's
    resource declared (and adopted) their flows; the flows stay in Kestra, untouched."""
    ns, cleanup = namespace
    cleanup += [lambda fid=fid: live.delete_flow(ns, fid) for fid in ("kept", "dropped")]
    legacy = FlowProvider()
    old = {}
    for fid in ("kept", "dropped"):
        made = legacy.create(checked(legacy, {**conn, "namespace": ns, "flow_id": fid,
                                               "source": FLOW.format(id=fid, ns=ns, message="v1")}))
        old[fid] = {**made.outs, **PROVIDER}

    p = NamespaceFlowsProvider()
    p.create(checked(p, props_for(conn, ns, sources(ns, ["kept"]))))  # "dropped" left the tree
    for fid, outs in old.items():
        legacy.delete(f"{ns}/{fid}", outs)
    docs = held(live, ns, ["kept", "dropped"])
    assert set(docs) == {"kept"} and docs["kept"]["revision"] == 1


def test_an_unreachable_kestra_fails_the_operation_naming_the_flow(conn, namespace):  # noqa: F811
    ns, _ = namespace
    p = NamespaceFlowsProvider()
    unreachable = {**conn, "url": "http://127.0.0.1:9", "deadline": 1}
    with pytest.raises(KestraApiError, match=rf"flow {ns}/only \(flows/{ns}/only.yaml\)"):
        p.create(checked(p, props_for(unreachable, ns, sources(ns, ["only"]))))
