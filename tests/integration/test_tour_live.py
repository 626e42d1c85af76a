"""The tour's assumptions about Kestra's execution API, against a real Kestra 1.1.

Skipped unless ``KESTRA_URL`` is set (with ``KESTRA_USERNAME``, ``KESTRA_PASSWORD``). Deploys the
repository's ``debug_demo`` (no GCP needed) into its own namespace, runs it through the tour's
runner, and removes the flow again. Checks what the stand-in imitates: log levels and the
``minLevel`` filter, the FAILED report naming the failing task and its log line, and the search
endpoint accepting the ``startDate`` the tour sends.
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import pytest

from kestra import tour
from kestra.client import KestraClient

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("KESTRA_URL"), reason="KESTRA_URL is not set"),
]

DEBUG_DEMO = Path(__file__).resolve().parents[2] / "flows" / "gcp.ecommerce" / "debug_demo.yaml"


@pytest.fixture
def live_flow():
    client = KestraClient(os.environ["KESTRA_URL"], os.environ.get("KESTRA_USERNAME", ""),
                          os.environ.get("KESTRA_PASSWORD", ""), deadline=60)
    namespace = f"itest.kestra_gcp.tour_{uuid.uuid4().hex[:8]}"
    source = DEBUG_DEMO.read_text().replace("namespace: gcp.ecommerce", f"namespace: {namespace}")
    client.create_flow(source)
    try:
        yield client, namespace
    finally:
        client.delete_flow(namespace, "debug_demo")
        client.close()


def run_phase(client: KestraClient, step: tour.Step) -> tuple[int, tour.Tour, str]:
    out = io.StringIO()
    runner = tour.Tour(client, {"flows": [step.name]}, timeout=300, interval=1, out=out, progress=io.StringIO())
    code = runner.run([tour.Phase("debug", "live", (step,))])
    return code, runner, out.getvalue()


def test_debug_flow_logs_at_each_level_and_search_finds_it(live_flow):
    client, namespace = live_flow
    code, runner, text = run_phase(client, tour.Step(namespace, "debug_demo", tour.LogLevels(), inputs={"fail": False}))
    assert code == tour.EXIT_OK, text
    # debug_demo logs once at ERROR, WARN and DEBUG, twice at INFO (log_info, done).
    assert "1 ERROR, 1 WARN, 2 INFO, 1 DEBUG" in runner.rows[0].figure
    found = client.search_executions(namespace, "debug_demo", start_date="2020-01-01T00:00:00.000Z")
    assert len(found) == 1
    execution = found[0]
    assert [e["level"] for e in client.execution_logs(execution["id"], "WARN")] == ["WARN", "ERROR"]
    assert client.search_executions(
        namespace, "debug_demo", start_date=tour._search_date(execution["state"]["startDate"])
    )


def test_failed_run_names_the_failing_task_and_its_message(live_flow):
    client, namespace = live_flow
    code, _, text = run_phase(client, tour.Step(namespace, "debug_demo", tour.LogLevels(), inputs={"fail": True}))
    assert code == tour.EXIT_FAILED
    assert "failing task: failure_gate" in text and "Replay it from this task" in text
