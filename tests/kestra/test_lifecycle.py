"""Each of the four object kinds through a whole life against the stand-in, as Kestra 1.1 answers:
create under 503s and resets, no-op diff, refresh with a real drift (an edit made in the UI),
update, adopt, and a delete run twice — nothing lost, nothing duplicated, a hand-made neighbour
untouched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from kestra.resources import DashboardProvider, FlowProvider, KvEntryProvider, NamespaceFileProvider
from tests.kestra.conftest import DASHBOARD, flow_source

PROVIDER = {"__provider": "serialized-provider"}


@dataclass
class Kind:
    provider: Any
    v1: dict  # desired inputs (without the connection)
    v2: dict  # an update of the content
    same_as_v1: dict  # v1 written differently (comments/layout) where that means the same
    write: tuple  # (method, exact path) of the create write
    update: tuple  # (method, exact path) of the update write
    content: Callable  # standin -> the stored content of our object (None when missing)
    count: Callable  # standin -> how many objects of this kind exist
    ui_edit: Callable  # standin -> edits our object as a user in the UI would
    neighbour: Callable  # standin -> creates a hand-made object next to ours; returns a check


def kinds() -> dict[str, Kind]:
    ns = "dev.testing"
    files = "/api/v1/main/namespaces/dev.testing/files"

    def file_neighbour(s):
        s.files[("main", ns, "/scripts/theirs.py")] = b"theirs\n"
        s.folders.add(("main", ns, "/scripts/"))
        return lambda: s.files.get(("main", ns, "/scripts/theirs.py")) == b"theirs\n"

    def flow_neighbour(s):
        s.put_flow_directly(flow_source(flow_id="theirs"))
        return lambda: s.flow_source(ns, "theirs") == flow_source(flow_id="theirs")

    def kv_neighbour(s):
        s.kv[("main", ns, "THEIRS")] = "x"
        return lambda: s.kv.get(("main", ns, "THEIRS")) == "x"

    def dashboard_neighbour(s):
        s.dashboards[("main", "theirs")] = {"source": DASHBOARD.format(id="theirs", title="T"),
                                            "parsed": {"id": "theirs", "title": "T"}, "created": "", "updated": ""}
        return lambda: ("main", "theirs") in s.dashboards

    def ui_dashboard(s):
        stored = s.dashboards[("main", "ops")]
        stored["source"] = DASHBOARD.format(id="ops", title="Edited in the UI")
        stored["parsed"] = {"id": "ops", "title": "Edited in the UI", "charts": []}

    return {
        "flow": Kind(
            FlowProvider(),
            {"namespace": ns, "flow_id": "hello", "source": flow_source()},
            {"namespace": ns, "flow_id": "hello", "source": flow_source(message="v2")},
            {"namespace": ns, "flow_id": "hello", "source": flow_source().replace("# a comment", "# reworded")},
            ("POST", "/api/v1/main/flows"), ("PUT", "/api/v1/main/flows/dev.testing/hello"),
            lambda s: s.flow_source(ns, "hello"), lambda s: len(s.flows),
            lambda s: s.put_flow_directly(flow_source(message="edited in the UI")),
            flow_neighbour,
        ),
        "file": Kind(
            NamespaceFileProvider(),
            {"namespace": ns, "path": "/scripts/ours.py", "content": "x = 1\n"},
            {"namespace": ns, "path": "/scripts/ours.py", "content": "x = 2\n"},
            {"namespace": ns, "path": "scripts/ours.py", "content": "x = 1\n"},
            ("POST", files), ("POST", files),
            lambda s: (lambda b: b.decode() if b is not None else None)(s.files.get(("main", ns, "/scripts/ours.py"))),
            lambda s: len(s.files),
            lambda s: s.files.__setitem__(("main", ns, "/scripts/ours.py"), b"edited in the UI\n"),
            file_neighbour,
        ),
        "kv": Kind(
            KvEntryProvider(),
            {"namespace": ns, "key": "K", "value": {"a": 1}},
            {"namespace": ns, "key": "K", "value": {"a": 2}},
            {"namespace": ns, "key": "K", "value": {"a": 1.0}},  # Pulumi sends numbers as floats
            ("PUT", "/api/v1/main/namespaces/dev.testing/kv/K"), ("PUT", "/api/v1/main/namespaces/dev.testing/kv/K"),
            lambda s: s.kv.get(("main", ns, "K")), lambda s: len(s.kv),
            lambda s: s.kv.__setitem__(("main", ns, "K"), {"a": "edited in the UI"}),
            kv_neighbour,
        ),
        "dashboard": Kind(
            DashboardProvider(),
            {"source": DASHBOARD.format(id="ops", title="Ops")},
            {"source": DASHBOARD.format(id="ops", title="Ops v2")},
            {"source": "# layout only\n" + DASHBOARD.format(id="ops", title="Ops")},
            ("POST", "/api/v1/main/dashboards"), ("PUT", "/api/v1/main/dashboards/ops"),
            lambda s: (s.dashboards.get(("main", "ops")) or {}).get("source"), lambda s: len(s.dashboards),
            ui_dashboard,
            dashboard_neighbour,
        ),
    }


def checked(provider, props: dict) -> dict:
    result = provider.check({}, {**PROVIDER, **props})
    assert result.failures == [], [f.reason for f in result.failures]
    return result.inputs


def written(kind: Kind, props: dict) -> Any:
    """What the stand-in should hold after writing `props`."""
    return props.get("source") or props.get("content") or props.get("value")


@pytest.mark.parametrize("name", ["flow", "file", "kv", "dashboard"])
def test_whole_life_of_each_kind(standin, conn, name):
    kind = kinds()[name]
    p = kind.provider
    neighbour_ok = kind.neighbour(standin)
    others = kind.count(standin)

    # create, with Kestra still booting (503s) and the write applied but its answer lost
    method, path = kind.write
    standin.inject("status", status=503, count=2, method=method, path=path)
    standin.inject("reset", when="after", method=method, path=path)
    created = p.create(checked(p, {**conn, **kind.v1}))
    assert kind.content(standin) == written(kind, kind.v1) and kind.count(standin) == others + 1
    state = {**created.outs, **PROVIDER}
    if name == "flow":
        assert state["revision"] == 1

    # no-op: the same thing written differently is no change, and costs no request
    standin.reset_log()
    assert p.diff(created.id, state, checked(p, {**conn, **kind.same_as_v1})).changes is False
    assert standin.requests == []

    # refresh after an edit in the UI shows the drift, and the next up reverts it
    kind.ui_edit(standin)
    read = p.read(created.id, state)
    assert read.id == created.id and read.outs != state
    drifted = {**read.outs, **PROVIDER}
    assert p.diff(created.id, drifted, checked(p, {**conn, **kind.v1})).changes is True
    reverted = p.update(created.id, drifted, checked(p, {**conn, **kind.v1}))
    assert kind.content(standin) == written(kind, kind.v1)

    # update, with the write applied and its answer lost
    method, path = kind.update
    standin.inject("reset", when="after", method=method, path=path)
    state = {**reverted.outs, **PROVIDER}
    updated = p.update(created.id, state, checked(p, {**conn, **kind.v2}))
    assert kind.content(standin) == written(kind, kind.v2) and kind.count(standin) == others + 1
    state = {**updated.outs, **PROVIDER}

    # adopt: the state is lost (e.g. a stack re-created) while Kestra still holds the object
    standin.reset_log()
    adopted = p.create(checked(p, {**conn, **kind.v2}))
    assert adopted.id == created.id and kind.count(standin) == others + 1
    writes = [c for c in standin.requests if c.method in ("POST", "PUT") and c.status == 200]
    assert len(writes) <= 1  # a read, and a write only where Kestra cannot tell (upserts)

    # delete, with its answer lost, then a second destroy
    standin.inject("reset", when="after", method="DELETE")
    p.delete(created.id, state)
    p.delete(created.id, state)
    assert kind.content(standin) is None and kind.count(standin) == others
    assert neighbour_ok(), "a hand-made neighbour was lost"
