"""gcp.yellowcab/event_ingest: which uploaded objects it loads, and its error handler.

The rule a user relies on: a Parquet file at the bucket root (the walkthrough's end-to-end test
uploads yellow_tripdata_2025-03.parquet there) or directly under yellow-cab/ (fetch_data) is
loaded; nothing else is, in particular nothing our own flows write (archives, errors, staging), so
an archive copy never loads a file twice. The flow's own Pebble (variables and If condition) is
evaluated by tests/flows/pebble_expr.py on sample object names.
"""

from __future__ import annotations

import pytest

from tests.flows.flow_walk import iter_tasks
from tests.flows.pebble_expr import Evaluator, Undefined, is_true
from tests.flows.sql_support import FLOWS_ROOT, load_flow, render, task

BUCKET = "demo-kestra"


@pytest.fixture(scope="module")
def flow():
    return load_flow("gcp.yellowcab", "event_ingest")


def gcs_event(name: str) -> dict:
    """The trigger variables of a Pub/Sub message from a GCS notification (JSON_API_V1 payload)."""
    return {"trigger": {"data": {"name": name, "bucket": BUCKET, "size": "1024"},
                        "attributes": {"eventType": "OBJECT_FINALIZE", "objectId": name, "bucketId": BUCKET},
                        "messageId": "1"}}


def evaluator(flow: dict, context: dict) -> Evaluator:
    context = {"inputs": {"object_name": None}, **context}
    return Evaluator(context, variables=flow["variables"], kv={"GCS_BUCKET": BUCKET})


def loads(flow: dict, name: str) -> bool:
    return is_true(evaluator(flow, gcs_event(name)).render(task(flow, "route")["condition"]))


def rule(name: str) -> bool:
    """The rule, stated plainly: a .parquet name with no folder, or with exactly yellow-cab/."""
    folder, _, file = name.rpartition("/")
    return file.endswith(".parquet") and folder in ("", "yellow-cab")


@pytest.mark.parametrize("name, expected", [
    ("yellow_tripdata_2025-03.parquet", True),  # the walkthrough's end-to-end test
    ("yellow-cab/yellow_tripdata_2024-01.parquet", True),  # fetch_data's uploads
    ("yellow-cab-archive/yellow_tripdata_2024-01.parquet", False),  # parallel_pipeline's archive
    ("yellow-cab/archive/yellow_tripdata_2024-01.parquet", False),
    ("yellow-cab/staging/yellow_tripdata_2024-01.parquet", False),
    ("staging/yellow_tripdata_2024-01.parquet", False),
    ("yc-retry/archive/yellow_tripdata_2024-01.parquet", False),
    ("yc-retry/errors/yellow_tripdata_2024-01.parquet", False),
    ("archive/yellow_tripdata_2024-01.parquet", False),
    ("errors/yellow_tripdata_2024-01.parquet", False),
    ("taxi_zone_lookup.csv", False),  # sample data at the root
    ("data.csv", False),
    ("yellow-cab/", False),  # the folder placeholder
    ("yellow-cab/notes.txt", False),
    ("yellow_tripdata_2025-03.parquet.tmp", False),
])
def test_which_objects_are_loaded(flow, name, expected):
    assert rule(name) is expected
    assert loads(flow, name) is expected


def test_nothing_our_flows_write_is_loaded_again(flow):
    # Every GCS destination of every flow, except fetch_data's upload (loading it is the point).
    destinations = []
    for path in sorted(FLOWS_ROOT.glob("*/*.yaml")):
        other = load_flow(path.parent.name, path.stem)
        for _, t, _ in iter_tasks(other):
            to = t.get("to")
            if isinstance(to, str) and to.startswith("gs://") and (other["id"], t["id"]) != ("fetch_data", "upload"):
                destinations.append((other["id"], t["id"], to))
    assert len(destinations) >= 4
    prefix = "gs://{{ kv('GCS_BUCKET') }}/"
    for flow_id, task_id, to in destinations:
        assert to.startswith(prefix), (flow_id, task_id)
        folder = to.removeprefix(prefix).rpartition("/")[0]
        assert folder, f"{flow_id}.{task_id} writes to the bucket root, where the event flow loads Parquet"
        assert not loads(flow, f"{folder}/yellow_tripdata_2024-01.parquet"), (flow_id, task_id, folder)


def test_fetch_data_uploads_are_loaded(flow):
    fetch = load_flow("gcp.yellowcab", "fetch_data")
    uploaded = render(task(fetch, "upload")["to"], {"inputs.year": "2024", "taskrun.value": "01",
                                                     "kv('GCS_BUCKET')": BUCKET})
    assert loads(flow, uploaded.removeprefix(f"gs://{BUCKET}/"))


def test_manual_run_loads_the_named_object_or_nothing(flow):
    condition = task(flow, "route")["condition"]
    named = evaluator(flow, {"inputs": {"object_name": "yellow-cab/yellow_tripdata_2024-02.parquet"}})
    assert is_true(named.render(condition))
    assert named.render(task(flow, "load_object")["from"][0]) == \
        f"gs://{BUCKET}/yellow-cab/yellow_tripdata_2024-02.parquet"
    nothing = evaluator(flow, {})
    assert not is_true(nothing.render(condition))
    assert "Nothing to load: ''" in nothing.render(task(flow, "ignore")["message"])


def test_event_loads_into_pub_sub_raw(flow):
    load = task(flow, "load_object")
    assert render(load["destinationTable"]) == "bq_dataset_yellowcab.pub_sub_raw"
    assert evaluator(flow, gcs_event("yellow_tripdata_2025-03.parquet")).render(load["from"][0]) == \
        f"gs://{BUCKET}/yellow_tripdata_2025-03.parquet"


def test_error_handler_names_bucket_and_object_also_on_manual_runs(flow):
    [handler] = flow["errors"]
    assert handler["type"] == "io.kestra.plugin.core.log.Log" and handler["level"] == "ERROR"
    on_event = evaluator(flow, gcs_event("yellow_tripdata_2025-03.parquet")).render(handler["message"])
    assert on_event.startswith("ERROR during RAW ingest")
    assert BUCKET in on_event and "yellow_tripdata_2025-03.parquet" in on_event
    manual = evaluator(flow, {}).render(handler["message"])  # no trigger, no input: no crash
    assert manual.startswith("ERROR during RAW ingest") and BUCKET in manual
    # Without ?? the same message would fail on a manual run (strict variables).
    with pytest.raises(Undefined):
        evaluator(flow, {}).render("{{ trigger.data.name }}")


def test_rows_loaded_output_falls_back_to_zero(flow):
    [output] = flow["outputs"]
    assert output["id"] == "rows_loaded"
    assert evaluator(flow, {}).render(output["value"]) == "0"
    loaded = evaluator(flow, {"outputs": {"load_object": {"rows": 42}}})
    assert loaded.render(output["value"]) == "42"
