"""No object duplicated or lost when Kestra misbehaves: 503 bursts, resets, writes applied then reset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from kestra.resources import DashboardProvider, FlowProvider, KvEntryProvider, NamespaceFileProvider
from tests.kestra.conftest import DASHBOARD, flow_source

PROVIDER = {"__provider": "serialized-provider"}


@dataclass
class Case:
    provider: Any
    props: dict
    write: tuple[str, str]  # the request that writes the object: (method, exact path)
    stored: Callable[[Any], list]  # what the stand-in holds for this kind
    expected: list


def make_case(kind: str, conn: dict) -> Case:
    if kind == "flow":
        return Case(FlowProvider(), {**conn, "namespace": "dev.testing", "flow_id": "hello", "source": flow_source()},
                    ("POST", "/api/v1/main/flows"), lambda s: [f.source for f in s.flows.values()], [flow_source()])
    if kind == "file":
        return Case(NamespaceFileProvider(), {**conn, "namespace": "dev.testing", "path": "/a.py", "content": "x = 1\n"},
                    ("POST", "/api/v1/main/namespaces/dev.testing/files"), lambda s: list(s.files.values()), [b"x = 1\n"])
    if kind == "kv":
        return Case(KvEntryProvider(), {**conn, "namespace": "dev.testing", "key": "K", "value": {"a": 1}},
                    ("PUT", "/api/v1/main/namespaces/dev.testing/kv/K"), lambda s: list(s.kv.values()), [{"a": 1}])
    source = DASHBOARD.format(id="d", title="T")
    return Case(DashboardProvider(), {**conn, "source": source}, ("POST", "/api/v1/main/dashboards"),
                lambda s: [d["source"] for d in s.dashboards.values()], [source])


def deploy(provider, props: dict):
    result = provider.check({}, {**PROVIDER, **props})
    assert result.failures == []
    return provider.create(result.inputs)


FAULTS = {
    "503x3": dict(kind="status", status=503, count=3),
    "502x2": dict(kind="status", status=502, count=2),
    "reset-before-x2": dict(kind="reset", count=2),
    "reset-after-write": dict(kind="reset", when="after"),
    "504-after-write": dict(kind="status", when="after", status=504),
}


@pytest.mark.parametrize("kind", ["flow", "file", "kv", "dashboard"])
@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_create_converges_under_faults(standin, conn, kind, fault):
    case = make_case(kind, conn)
    method, path = case.write
    standin.inject(method=method, path=path, **fault)  # aimed at the write itself
    created = deploy(case.provider, case.props)
    assert created.id
    assert case.stored(standin) == case.expected  # exactly one object, with the right content
    writes = [c.status for c in standin.calls(method) if c.path == path]
    assert writes[0] in (None, 502, 503, 504) and len(writes) >= 2  # the fault did hit the write
    if kind == "flow":
        assert created.outs["revision"] == 1  # adopting our own write did not add a revision


@pytest.mark.parametrize("kind", ["flow", "file", "kv", "dashboard"])
def test_delete_applied_then_reset_is_done(standin, conn, kind):
    case = make_case(kind, conn)
    created = deploy(case.provider, case.props)
    standin.inject("reset", when="after", method="DELETE")
    case.provider.delete(created.id, {**created.outs, **PROVIDER})
    assert case.stored(standin) == []
    deletes = standin.calls("DELETE")
    assert deletes[0].status is None
    # A namespace-file DELETE is never re-sent blindly (Kestra's cascade): a read shows it is gone.
    assert len(deletes) == (1 if kind == "file" else 2)


def test_update_applied_then_reset_converges(standin, conn):
    case = make_case("flow", conn)
    created = deploy(case.provider, case.props)
    news = case.provider.check({}, {**PROVIDER, **case.props, "source": flow_source(message="bye")}).inputs
    standin.inject("reset", when="after", method="PUT")
    updated = case.provider.update(created.id, {**created.outs, **PROVIDER}, news)
    assert updated.outs["revision"] == 2  # the repeated PUT carried the same source: no third revision
    assert standin.flow_source("dev.testing", "hello") == flow_source(message="bye")


def test_many_flows_through_a_flaky_kestra(standin, conn):
    """Thirty flows while every write fails once in one of three ways: thirty flows, revision 1 each."""
    ways = [dict(kind="status", status=503), dict(kind="reset"), dict(kind="reset", when="after")]
    expected = {}
    for i in range(30):
        source = flow_source(flow_id=f"f{i:02d}")
        expected[("main", "dev.testing", f"f{i:02d}")] = source
        standin.inject(method="POST", path="/api/v1/main/flows", **ways[i % 3])
        deploy(FlowProvider(), {**conn, "namespace": "dev.testing", "flow_id": f"f{i:02d}", "source": source})
    assert {k: f.source for k, f in standin.flows.items()} == expected
    assert {f.revision for f in standin.flows.values()} == {1}
    assert standin.faults == []  # every fault was consumed
