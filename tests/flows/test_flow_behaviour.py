"""What the flows do when they run, read from their YAML: where each load and query writes, which
steps retry, and how a failure travels from a file to its rollback and from a subflow to its
parent. Expected values come from the walkthrough and from Kestra's documented task semantics.
"""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from tests.flows.sql_support import LOAD_FROM_GCS, QUERY, iter_tasks, load_flow, render, task

# --- Where data lands: the walkthrough's table names (adopted by the flows in issue 12) --------
# (namespace, flow, task id) -> (dataset KV key, table).
WALKTHROUGH_TABLES = {
    ("gcp.yellowcab", "sequential_ingest", "load_file"): ("BQ_DATASET_YELLOWCAB", "raw_data"),
    ("gcp.yellowcab", "parallel_pipeline", "create_raw_trips"): ("BQ_DATASET_YELLOWCAB", "raw_trips"),
    ("gcp.yellowcab", "parallel_pipeline", "append_file_rows"): ("BQ_DATASET_YELLOWCAB", "raw_trips"),
    ("gcp.yellowcab", "event_ingest", "load_object"): ("BQ_DATASET_YELLOWCAB", "pub_sub_raw"),
    ("gcp.yellowcab", "parallel_pipeline_transform", "enrich"): ("BQ_DATASET_YELLOWCAB", "trips_with_zone"),
    ("gcp.yellowcab", "parallel_pipeline_transform", "detect_suspicious"): ("BQ_DATASET_YELLOWCAB", "suspicious_trips"),
    ("gcp.yellowcab", "parallel_pipeline_transform", "detect_short"): ("BQ_DATASET_YELLOWCAB", "short_trips"),
    ("gcp.yellowcab", "parallel_pipeline_transform", "detect_long"): ("BQ_DATASET_YELLOWCAB", "long_trips"),
    ("gcp.yellowcab", "parallel_pipeline_transform", "detect_invalid_location"): ("BQ_DATASET_YELLOWCAB", "invalid_gps"),
    ("gcp.yellowcab", "parallel_pipeline_transform", "count_per_borough"): ("BQ_DATASET_YELLOWCAB", "trips_per_borough"),
    ("gcp.yellowcab", "parallel_pipeline_transform", "average_fare_per_borough"): ("BQ_DATASET_YELLOWCAB", "avg_fare_per_borough"),
    ("gcp.yellowcab", "parallel_pipeline_transform", "aggregate_by_hour"): ("BQ_DATASET_YELLOWCAB", "trips_by_hour"),
    ("gcp.yellowcab", "parallel_pipeline_transform", "curate"): ("BQ_DATASET_YELLOWCAB", "trips_cleaned"),
    ("gcp.yellowcab", "retry_rollback", "create_target"): ("BQ_DATASET_YC_RETRY", "yellowcab_result"),
    ("gcp.yellowcab", "retry_rollback_insert", "strict_insert"): ("BQ_DATASET_YC_RETRY", "yellowcab_result"),
    ("gcp.yellowcab", "retry_rollback_insert", "soft_insert"): ("BQ_DATASET_YC_RETRY", "yellowcab_result"),
    ("gcp.ecommerce", "ingest_clean", "load_raw"): ("BQ_DATASET_RAW", "transactions_raw"),
}


WRITE_RE = re.compile(
    r"^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?|INSERT\s+INTO\s+)"
    r"\{\{\s*kv\('(\w+)'\)\s*\}\}\.(\w+)",
    re.IGNORECASE | re.MULTILINE,
)


def written_tables(step: dict) -> set[tuple[str, str]]:
    """(dataset KV key, table) a LoadFromGcs or Query task writes to: its destinationTable and,
    for a query, the tables its SQL creates or inserts into."""
    assert step["type"] in (LOAD_FROM_GCS, QUERY), step["type"]
    written = set(WRITE_RE.findall(step.get("sql", "")))
    if "destinationTable" in step:
        match = re.fullmatch(r"\{\{\s*kv\('(\w+)'\)\s*\}\}\.(\w+)", step["destinationTable"])
        assert match, step["destinationTable"]
        written.add(match.groups())
    return written


@pytest.mark.parametrize("where", sorted(WALKTHROUGH_TABLES), ids=lambda w: f"{w[1]}.{w[2]}")
def test_each_load_and_query_writes_the_walkthrough_table(where):
    namespace, flow_id, task_id = where
    dataset_key, table = WALKTHROUGH_TABLES[where]
    step = task(load_flow(namespace, flow_id), task_id)
    assert written_tables(step) == {(dataset_key, table)}


def test_the_pipeline_transform_reads_the_table_the_pipeline_loads():
    # parallel_pipeline loads, then calls the transform subflow: it must read that very table.
    loaded = written_tables(task(load_flow("gcp.yellowcab", "parallel_pipeline"), "append_file_rows"))
    (dataset_key, table), = loaded
    enrich = task(load_flow("gcp.yellowcab", "parallel_pipeline_transform"), "enrich")["sql"]
    assert f"FROM {{{{ kv('{dataset_key}') }}}}.{table} " in enrich


def test_the_retry_target_is_created_where_inserts_and_rollbacks_go():
    main = load_flow("gcp.yellowcab", "retry_rollback")
    created = written_tables(task(main, "create_target"))
    inserted = written_tables(task(load_flow("gcp.yellowcab", "retry_rollback_insert"), "strict_insert"))
    assert created == inserted
    (dataset_key, table), = created
    rollback = task(main, "rollback")["sql"]
    assert rollback.startswith(f"DELETE FROM {{{{ kv('{dataset_key}') }}}}.{table} WHERE ")


# --- Retries: transient cloud errors are retried, deterministic ones are not ------------------

def retry_of(namespace: str, flow_id: str, task_id: str) -> dict | None:
    return task(load_flow(namespace, flow_id), task_id).get("retry")


@pytest.mark.parametrize("where", [
    ("gcp.yellowcab", "event_ingest", "load_object"),
    ("gcp.yellowcab", "parallel_pipeline", "stage_file"),
    ("gcp.yellowcab", "parallel_pipeline", "create_raw_trips"),
    ("gcp.yellowcab", "parallel_pipeline", "forget_file_rows"),
    ("gcp.yellowcab", "parallel_pipeline", "append_file_rows"),
    ("gcp.yellowcab", "retry_rollback", "load_staging"),
    ("gcp.ecommerce", "ingest_clean", "load_raw"),
    ("gcp.yellowcab", "retry_rollback_insert", "clear_previous"),
    ("gcp.yellowcab", "retry_rollback_insert", "soft_insert"),
    ("gcp.yellowcab", "fetch_data", "download"),
], ids=lambda w: f"{w[1]}.{w[2]}")
def test_a_transient_cloud_error_is_retried_with_growing_waits(where):
    # BigQuery's rate limits and parallel appends racing on table creation fail a job once and
    # succeed later; Kestra retries a task only when it has a `retry` (exponential: waits grow
    # from `interval` up to `maxInterval`; `maxAttempts` bounds the attempts).
    retry = retry_of(*where)
    assert retry is not None, f"{where}: no retry, one transient error fails the run"
    assert retry["type"] == "exponential"
    assert retry["maxAttempts"] >= 3
    assert retry["interval"] in ("PT5S", "PT10S")
    assert "maxInterval" in retry


def test_a_rollback_tries_harder_than_the_load_it_undoes():
    # A rollback that gives up leaves a failed file's rows in the target: it gets more attempts
    # than the load whose failure triggered it.
    rollback = retry_of("gcp.yellowcab", "retry_rollback", "rollback")
    load = retry_of("gcp.yellowcab", "retry_rollback", "load_staging")
    assert rollback["type"] == "exponential"
    assert rollback["maxAttempts"] > load["maxAttempts"]


def test_the_strict_insert_is_not_retried_because_a_bad_cast_fails_every_time():
    # Retrying it would only delay the SAFE_CAST fallback by the whole backoff.
    assert retry_of("gcp.yellowcab", "retry_rollback_insert", "strict_insert") is None


# --- Failures: how they travel -----------------------------------------------------------------

SUBFLOW = "io.kestra.plugin.core.flow.Subflow"
SUBFLOW_CALLS = {
    ("dev.testing", "parent_service", "call_critical_service"),
    ("gcp.yellowcab", "parallel_pipeline", "transform"),
    ("gcp.yellowcab", "retry_rollback", "insert"),
}


def test_the_subflow_calls_are_the_known_ones():
    found = set()
    for namespace, flow_id in {(n, f) for n, f, _ in SUBFLOW_CALLS}:
        found |= {(namespace, flow_id, t["id"]) for t in iter_tasks(load_flow(namespace, flow_id))
                  if t["type"] == SUBFLOW}
    assert found == SUBFLOW_CALLS


@pytest.mark.parametrize("where", sorted(SUBFLOW_CALLS), ids=lambda w: f"{w[1]}.{w[2]}")
def test_a_parent_waits_for_its_subflow_and_fails_with_it(where):
    # Kestra's Subflow: without `wait` the parent carries on (archives the files) while the
    # child still runs; without `transmitFailed` a failed child leaves the parent green, so no
    # errors branch (rollback) ever runs.
    namespace, flow_id, task_id = where
    call = task(load_flow(namespace, flow_id), task_id)
    assert call["wait"] is True
    assert call["transmitFailed"] is True


def test_one_bad_file_does_not_stop_the_other_files():
    # retry_rollback: each file is a Sequential inside the ForEach; allowFailure on it turns a
    # file's failure (after its errors branch has rolled it back) into WARNING and the loop
    # goes on with the next file. The loop itself must not swallow failures of its own.
    main = load_flow("gcp.yellowcab", "retry_rollback")
    per_file = task(main, "process_file")
    assert per_file["type"] == "io.kestra.plugin.core.flow.Sequential"
    assert per_file["allowFailure"] is True
    assert [t["id"] for t in per_file["errors"]] == ["rollback", "move_to_errors", "drop_failed_staging"]
    assert task(main, "each_file").get("allowFailure", False) is False


def test_a_failed_strict_insert_falls_back_instead_of_failing_the_file():
    insert = load_flow("gcp.yellowcab", "retry_rollback_insert")
    rows = task(insert, "insert_rows")
    assert rows["allowFailure"] is True
    assert [t["id"] for t in rows["tasks"]] == ["strict_insert"]
    assert "soft_insert" in [t["id"] for t in rows["errors"]]


FILE_A = "gs://bucket/yc-retry/data/retry-ok-file.csv"


def _where_of(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="bigquery").args["where"].this


@pytest.mark.parametrize("flow_id, task_id, expression", [
    ("retry_rollback", "rollback", "parent.taskrun.value"),
    ("retry_rollback_insert", "clear_previous", "inputs.source_file"),
    ("parallel_pipeline", "forget_file_rows", "taskrun.value"),
])
def test_a_rollback_deletes_exactly_its_own_file(flow_id, task_id, expression):
    # Rows carry the file's full URI in source_file; only an equality on it keeps a rollback of
    # one file from deleting another file's rows (a LIKE/prefix match would also hit
    # `retry-ok-file.csv.bak`).
    sql = render(task(load_flow("gcp.yellowcab", flow_id), task_id)["sql"], {expression: FILE_A})
    where = _where_of(sql)
    assert isinstance(where, exp.EQ)
    assert where.this.name == "source_file"
    assert where.expression.is_string and where.expression.this == FILE_A


def test_the_inserted_rows_carry_the_value_the_rollback_matches():
    # The subflow tags rows with its source_file input; the parent passes the same expression
    # its rollback deletes by.
    call = task(load_flow("gcp.yellowcab", "retry_rollback"), "insert")
    assert call["inputs"]["source_file"] == "{{ parent.taskrun.value }}"
    assert "'{{ parent.taskrun.value }}'" in task(load_flow("gcp.yellowcab", "retry_rollback"), "rollback")["sql"]


def test_a_reloaded_pipeline_file_replaces_its_rows_instead_of_doubling_them():
    # parallel_pipeline tags appended rows with the file URI and first deletes rows carrying it.
    flow = load_flow("gcp.yellowcab", "parallel_pipeline")
    steps = [t["id"] for t in task(flow, "load_files")["tasks"]]
    assert steps.index("forget_file_rows") < steps.index("append_file_rows")
    assert "'{{ taskrun.value }}' AS source_file" in task(flow, "append_file_rows")["sql"]
