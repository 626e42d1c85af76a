"""The provider lifecycle against a real Kestra 1.1.

Skipped unless ``KESTRA_URL`` is set (with ``KESTRA_USERNAME``, ``KESTRA_PASSWORD``, optional
``KESTRA_TENANT``). Every test works in its own namespace (``itest.kestra_gcp.<random>``) or with
its own dashboard id, and removes what it created, also when it fails.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
import requests

from kestra.client import KestraClient, KestraNotFound, KestraValidationError
from kestra.resources import DashboardProvider, FlowProvider, KvEntryProvider, NamespaceFileProvider

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("KESTRA_URL"), reason="KESTRA_URL is not set"),
]

PROVIDER = {"__provider": "serialized-provider"}

FLOW = """\
# integration test flow
id: {id}
namespace: {ns}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{message}"
"""

DASHBOARD = """\
id: {id}
title: {title}
charts:
  - id: notes
    type: io.kestra.plugin.core.dashboard.chart.Markdown
    chartOptions:
      displayName: Notes
    content: |
      kestra-gcp integration test
"""


@pytest.fixture
def conn() -> dict:
    return {
        "url": os.environ["KESTRA_URL"],
        "username": os.environ.get("KESTRA_USERNAME", ""),
        "password": os.environ.get("KESTRA_PASSWORD", ""),
        "tenant": os.environ.get("KESTRA_TENANT", "main"),
        "deadline": 60,
    }


@pytest.fixture
def live(conn):
    with KestraClient(conn["url"], conn["username"], conn["password"], conn["tenant"], deadline=60) as client:
        yield client


@pytest.fixture
def namespace(live):
    ns = f"itest.kestra_gcp.n{uuid.uuid4().hex[:10]}"
    created: list = []
    yield ns, created
    for cleanup in reversed(created):
        try:
            cleanup()
        except KestraNotFound:
            pass


def checked(provider, news: dict) -> dict:
    result = provider.check({}, {**PROVIDER, **news})
    assert result.failures == [], [f.reason for f in result.failures]
    return result.inputs


def lifecycle(provider, props: dict, changed: dict, drift) -> None:
    """create → no-op diff → update → drift seen by read → delete twice → read gone."""
    created = provider.create(checked(provider, props))
    outs = {**created.outs, **PROVIDER}
    assert provider.diff(created.id, outs, checked(provider, props)).changes is False
    news = checked(provider, {**props, **changed})
    assert provider.diff(created.id, outs, news).changes is True
    outs = {**provider.update(created.id, outs, news).outs, **PROVIDER}
    assert provider.read(created.id, outs).id == created.id
    drift()
    read = provider.read(created.id, outs)
    assert read.id == created.id and provider.diff(created.id, read.outs, news).changes is True
    provider.delete(created.id, outs)
    provider.delete(created.id, outs)
    assert provider.read(created.id, outs).id == ""


def test_flow_lifecycle(conn, live, namespace):
    ns, cleanup = namespace
    cleanup.append(lambda: live.delete_flow(ns, "hello"))
    props = {**conn, "namespace": ns, "flow_id": "hello", "source": FLOW.format(id="hello", ns=ns, message="hi")}
    lifecycle(
        FlowProvider(), props, {"source": FLOW.format(id="hello", ns=ns, message="bye")},
        lambda: live.update_flow(ns, "hello", FLOW.format(id="hello", ns=ns, message="edited")),
    )


def test_flow_create_adopts_existing(conn, live, namespace):
    ns, cleanup = namespace
    live.create_flow(FLOW.format(id="adopt", ns=ns, message="by hand"))
    cleanup.append(lambda: live.delete_flow(ns, "adopt"))
    created = FlowProvider().create(
        checked(FlowProvider(), {**conn, "namespace": ns, "flow_id": "adopt",
                                 "source": FLOW.format(id="adopt", ns=ns, message="managed")})
    )
    assert created.outs["revision"] >= 2
    assert "managed" in live.get_flow(ns, "adopt")["source"]


def test_invalid_flow_reports_kestras_constraint(conn, namespace):
    ns, _ = namespace
    source = FLOW.format(id="bad", ns=ns, message="x").replace("core.log.Log", "core.log.DoesNotExist")
    with pytest.raises(KestraValidationError, match="DoesNotExist"):
        FlowProvider().create(checked(FlowProvider(), {**conn, "namespace": ns, "flow_id": "bad", "source": source}))


def test_namespace_file_lifecycle(conn, live, namespace):
    ns, cleanup = namespace
    cleanup.append(lambda: live.delete_namespace_file(ns, "/scripts/a.py"))
    props = {**conn, "namespace": ns, "path": "scripts/a.py", "content": "print('a')\n"}
    lifecycle(
        NamespaceFileProvider(), props, {"content": "print('b')\n"},
        lambda: live.upload_namespace_file(ns, "/scripts/a.py", "edited\n"),
    )


def test_kv_lifecycle(conn, live, namespace):
    ns, cleanup = namespace
    cleanup.append(lambda: live.delete_kv(ns, "GCS_BUCKET"))
    props = {**conn, "namespace": ns, "key": "GCS_BUCKET", "value": "bucket-a"}
    lifecycle(KvEntryProvider(), props, {"value": {"a": 1, "n": 2.0}}, lambda: live.put_kv(ns, "GCS_BUCKET", "x"))


def test_dashboard_lifecycle(conn, live, namespace):
    did = f"itest_{uuid.uuid4().hex[:10]}"
    _, cleanup = namespace
    cleanup.append(lambda: live.delete_dashboard(did))
    props = {**conn, "source": DASHBOARD.format(id=did, title="One")}
    lifecycle(
        DashboardProvider(), props, {"source": DASHBOARD.format(id=did, title="Two")},
        lambda: live.update_dashboard(did, DASHBOARD.format(id=did, title="Edited")),
    )


def test_execution_runs_to_a_terminal_state(conn, live, namespace):
    ns, cleanup = namespace
    live.create_flow(FLOW.format(id="run", ns=ns, message="smoke"))
    cleanup.append(lambda: live.delete_flow(ns, "run"))
    from kestra import smoke

    outputs = {"kestraUrl": conn["url"], "kestraUsername": conn["username"], "kestraPassword": conn["password"]}
    assert smoke.run(outputs, ns, "run", timeout=120, interval=1) == smoke.EXIT_OK


def test_objects_deleted_by_hand_come_back_on_an_update_and_kestra_stays_responsive(conn, live, namespace):
    """`pulumi up` without a refresh after a flow and a dashboard were deleted in the UI: the state
    says both exist and their files changed, so the engine calls update. On Kestra 1.1.7 a PUT of a
    deleted flow froze the whole server (kestra-io/kestra#12984); the client must read first and
    create. Several rounds, because the freeze came on the second such PUT in our tries."""
    ns, cleanup = namespace
    did = f"itest_{uuid.uuid4().hex[:10]}"
    cleanup.append(lambda: live.delete_dashboard(did))
    flows, dashboards = FlowProvider(), DashboardProvider()
    for round_ in range(3):
        fid = f"gone{round_}"
        cleanup.append(lambda fid=fid: live.delete_flow(ns, fid))
        flow_props = {**conn, "namespace": ns, "flow_id": fid, "source": FLOW.format(id=fid, ns=ns, message="v1")}
        dash_props = {**conn, "source": DASHBOARD.format(id=did, title=f"Round {round_}")}
        flow = flows.create(checked(flows, flow_props))
        dash = dashboards.create(checked(dashboards, dash_props))
        live.delete_flow(ns, fid)  # by hand, in the UI
        live.delete_dashboard(did)

        changed_flow = checked(flows, {**flow_props, "source": FLOW.format(id=fid, ns=ns, message="v2")})
        changed_dash = checked(dashboards, {**dash_props, "source": DASHBOARD.format(id=did, title=f"Changed {round_}")})
        flows.update(flow.id, {**flow.outs, **PROVIDER}, changed_flow)
        dashboards.update(dash.id, {**dash.outs, **PROVIDER}, changed_dash)

        assert live.get_flow(ns, fid)["source"] == changed_flow["source"]
        assert live.get_dashboard(did)["sourceCode"] == changed_dash["source"]
        started = time.monotonic()
        answer = requests.get(f"{conn['url'].rstrip('/')}/api/v1/configs", timeout=10)
        assert answer.status_code == 200 and time.monotonic() - started < 5, "Kestra stopped answering promptly"
        if round_ < 2:
            live.delete_dashboard(did)  # the next round creates it again
