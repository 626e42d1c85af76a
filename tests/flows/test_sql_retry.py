"""gcp.yellowcab retry_rollback (+ retry_rollback_insert) on DuckDB, over the three yc-retry files.

The target table comes from retry_rollback's DDL, the staging tables from its all-STRING load
schema; the inserts, the verification and the rollback are the flows' own SQL. Which cells a
strict CAST must reject, and which rows the target must refuse even softly (no readable pickup or
dropoff time), is decided here independently (strict number and timestamp formats).

What each sample file must do (data/README.md): retry-ok-file.csv loads strictly,
retry-dirty-file.csv only through the SAFE_CAST fallback, retry-error-file.csv through neither,
so the parent rolls it back and moves it to yc-retry/errors/.
"""

from __future__ import annotations

import re
from datetime import datetime

import duckdb
import pytest

from tests.flows.sql_support import (
    DATA_DIR,
    connect,
    evaluate,
    fetch_bigquery,
    kv_name,
    load_csv_as_text,
    load_flow,
    load_schema,
    render,
    rows,
    run_bigquery,
    sql_of,
    task,
)

RETRY = kv_name("BQ_DATASET_YC_RETRY")
OK_FILE = DATA_DIR / "yc-retry" / "retry-ok-file.csv"
DIRTY_FILE = DATA_DIR / "yc-retry" / "retry-dirty-file.csv"
ERROR_FILE = DATA_DIR / "yc-retry" / "retry-error-file.csv"
SAMPLES = (OK_FILE, DIRTY_FILE, ERROR_FILE)
TARGET = f"{RETRY}.yellowcab_result"
URI_PREFIX = "gs://bucket/yc-retry/data/"

INT_COLUMNS = {"VendorID", "passenger_count", "RatecodeID", "PULocationID", "DOLocationID", "payment_type"}
TIMESTAMP_COLUMNS = {"tpep_pickup_datetime", "tpep_dropoff_datetime"}
TEXT_COLUMNS = {"store_and_fwd_flag"}
INTEGER = re.compile(r"^-?[0-9]+$")
FLOAT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def typed(column: str, text: str | None):
    """The value a strict CAST gives, or ValueError where it must refuse the text."""
    if text is None or column in TEXT_COLUMNS:
        return text
    if column in INT_COLUMNS and INTEGER.match(text):
        return int(text)
    if column in TIMESTAMP_COLUMNS:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # raises ValueError itself
    if column not in INT_COLUMNS and column not in TIMESTAMP_COLUMNS and FLOAT.match(text):
        return float(text)
    raise ValueError(f"{column}: {text!r}")


def has_times(row: dict) -> bool:
    """What even the soft path needs: a pickup and a dropoff time a strict CAST can read."""
    return all(text is not None and strict_value(c, text)[1] for c, text in row.items() if c in TIMESTAMP_COLUMNS)


def strict_value(column: str, text: str | None):
    try:
        return typed(column, text), True
    except ValueError:
        return None, False


# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def main():
    return load_flow("gcp.yellowcab", "retry_rollback")


@pytest.fixture(scope="module")
def sub():
    return load_flow("gcp.yellowcab", "retry_rollback_insert")


def staging_name(main: dict, uri: str) -> str:
    return evaluate(main["variables"]["staging_table"], {"parent.taskrun.value": uri})


def sub_values(main: dict, path) -> dict:
    uri = URI_PREFIX + path.name
    return {"inputs.staging_table": staging_name(main, uri), "inputs.source_file": uri}


def main_values(main: dict, path) -> dict:
    uri = URI_PREFIX + path.name
    return {"parent.taskrun.value": uri, "render(vars.staging_table)": staging_name(main, uri)}


@pytest.fixture()
def db(main):
    """Target table created by the main flow's DDL, both files staged as the main flow loads them."""
    con = connect(RETRY)
    run_bigquery(con, render(sql_of(main, "create_target")))
    columns = [name for name, _ in load_schema(main, "load_staging")]
    for path in SAMPLES:
        table = sub_values(main, path)["inputs.staging_table"]
        load_csv_as_text(con, f"{RETRY}.{table}", path, columns)
    return con


def run_task(con, flow: dict, task_id: str, values: dict):
    run_bigquery(con, render(sql_of(flow, task_id), values))


def loaded(con, path) -> list[dict]:
    return rows(con, f"SELECT * FROM {TARGET} WHERE source_file = '{URI_PREFIX + path.name}'")


def staged(con, main, path) -> list[dict]:
    return rows(con, f"SELECT * FROM {RETRY}.{sub_values(main, path)['inputs.staging_table']}")


# ------------------------------------------------------------------------------------------------
# The subflow as Kestra runs it: strict, else (errors branch) soft, then verify
# ------------------------------------------------------------------------------------------------

def run_insert_subflow(con, main: dict, sub: dict, path) -> dict:
    """retry_rollback_insert's SQL in its task order. A failing strict insert hands over to the
    errors branch (soft insert); a failing soft insert ends insert_rows (allowFailure), and verify
    decides. Returns what happened: the paths that failed and verify's row or error."""
    values = sub_values(main, path)
    run_task(con, sub, "clear_previous", values)
    failed = []
    try:
        run_task(con, sub, "strict_insert", values)
    except duckdb.Error:
        failed.append("strict")
        try:
            run_task(con, sub, "soft_insert", values)
        except duckdb.Error:
            failed.append("soft")
    try:
        [check] = fetch_bigquery(con, render(sql_of(sub, "verify"), values))
    except duckdb.Error as error:
        return {"failed": failed, "verify_error": str(error)}
    return {"failed": failed, "verify": check}


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------

def test_staging_tables_are_named_after_their_file(main):
    assert staging_name(main, URI_PREFIX + "retry-ok-file.csv") == "stg_retry_ok_file"
    assert staging_name(main, URI_PREFIX + "retry-error-file.csv") == "stg_retry_error_file"
    assert staging_name(main, URI_PREFIX + "jan 2024.v2.csv") == "stg_jan_2024_v2"
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", staging_name(main, URI_PREFIX + name))
               for name in ("a-b.c d+e.csv", "x.csv"))


def test_the_sample_files_are_clean_dirty_and_broken(db, main):
    ok, dirty, error = (staged(db, main, path) for path in SAMPLES)
    assert all(strict_value(c, r[c])[1] for r in ok for c in r)
    # dirty: bad values in several columns, but every trip has its times
    bad = [(c, r[c]) for r in dirty for c in r if not strict_value(c, r[c])[1]]
    assert len({c for c, _ in bad}) >= 5
    assert {"N/A", "abc", ""} <= {v for _, v in bad}  # '' is the quoted empty string
    assert all(has_times(r) for r in dirty)
    # error: some trips without a readable time
    assert 0 < sum(not has_times(r) for r in error) < len(error)


@pytest.mark.parametrize("path, failed, outcome", [
    (OK_FILE, [], {"staged_rows": 237, "loaded_rows": 237, "load_mode": "strict"}),
    (DIRTY_FILE, ["strict"], {"staged_rows": 24, "loaded_rows": 24, "load_mode": "soft"}),
    (ERROR_FILE, ["strict", "soft"], "16 rows staged but 0 loaded; both inserts failed"),
], ids=["ok-strict", "dirty-soft", "error-neither"])
def test_each_sample_file_takes_its_path(db, main, sub, path, failed, outcome):
    result = run_insert_subflow(db, main, sub, path)
    assert result["failed"] == failed
    if isinstance(outcome, dict):
        assert result["verify"] == outcome
        assert {r["load_mode"] for r in loaded(db, path)} == {outcome["load_mode"]}
    else:
        # verify fails the subflow: the parent's errors branch (rollback, move to errors) runs.
        assert outcome in result["verify_error"]
        assert loaded(db, path) == []


def test_strict_insert_loads_the_clean_file(db, main, sub):
    values = sub_values(main, OK_FILE)
    run_task(db, sub, "clear_previous", values)
    run_task(db, sub, "strict_insert", values)
    got = loaded(db, OK_FILE)
    source = staged(db, main, OK_FILE)
    assert len(got) == len(source) == 237
    expected = sorted(tuple(typed(c, r[c]) for c in r) for r in source)
    assert sorted(tuple(g[c] if c not in TIMESTAMP_COLUMNS else g[c].replace(tzinfo=None) for c in source[0])
                  for g in got) == expected
    assert {g["load_mode"] for g in got} == {"strict"}


def one_row_tables(con, main, path):
    """(row, values) for each line of a file, staged alone in a one-row table."""
    columns = [name for name, _ in load_schema(main, "load_staging")]
    con.execute(f"DROP TABLE IF EXISTS {RETRY}.all_rows")
    load_csv_as_text(con, f"{RETRY}.all_rows", path, columns)
    source = rows(con, f"SELECT * FROM {RETRY}.all_rows")
    for index, row in enumerate(source):
        con.execute(f"CREATE OR REPLACE TABLE {RETRY}.one_row AS "
                    f"SELECT * EXCLUDE (n) FROM (SELECT *, row_number() OVER () - 1 AS n FROM {RETRY}.all_rows) "
                    f"WHERE n = {index}")
        yield row, {"inputs.staging_table": "one_row", "inputs.source_file": f"{path.name}#{index}"}


@pytest.mark.parametrize("path, refused", [(DIRTY_FILE, 12), (ERROR_FILE, 5)], ids=["dirty", "error"])
def test_strict_insert_refuses_exactly_the_rows_with_a_bad_cell(main, sub, path, refused):
    con = connect(RETRY)
    run_bigquery(con, render(sql_of(main, "create_target")))
    count = 0
    for row, values in one_row_tables(con, main, path):
        if all(strict_value(c, row[c])[1] for c in row) and has_times(row):
            run_task(con, sub, "strict_insert", values)
        else:
            count += 1
            with pytest.raises(duckdb.Error):
                run_task(con, sub, "strict_insert", values)
    assert count == refused


def test_soft_insert_refuses_exactly_the_rows_without_times(main, sub):
    con = connect(RETRY)
    run_bigquery(con, render(sql_of(main, "create_target")))
    refused = 0
    for row, values in one_row_tables(con, main, ERROR_FILE):
        if has_times(row):
            run_task(con, sub, "soft_insert", values)
        else:
            refused += 1
            with pytest.raises(duckdb.ConstraintException):
                run_task(con, sub, "soft_insert", values)
    assert refused == 4


def test_every_typed_column_is_cast_strictly_then_softly(main, sub):
    # One clean row with a single column spoiled, for each typed column: strict must refuse it;
    # soft must load the row with NULL in that column only, except a time, which it must refuse.
    con = connect(RETRY)
    run_bigquery(con, render(sql_of(main, "create_target")))
    columns = [name for name, _ in load_schema(main, "load_staging")]
    load_csv_as_text(con, f"{RETRY}.ok_rows", OK_FILE, columns)
    typed_columns = [c for c in columns if c not in TEXT_COLUMNS]
    assert len(typed_columns) == 18
    for column in typed_columns:
        con.execute(f"CREATE OR REPLACE TABLE {RETRY}.one_row AS SELECT * REPLACE ('N/A' AS \"{column}\") "
                    f"FROM {RETRY}.ok_rows LIMIT 1")
        values = {"inputs.staging_table": "one_row", "inputs.source_file": column}
        with pytest.raises(duckdb.ConversionException):
            run_task(con, sub, "strict_insert", values)
        if column in TIMESTAMP_COLUMNS:
            with pytest.raises(duckdb.ConstraintException):
                run_task(con, sub, "soft_insert", values)
            assert rows(con, f"SELECT * FROM {TARGET} WHERE source_file = '{column}'") == []
            continue
        run_task(con, sub, "soft_insert", values)
        [row] = rows(con, f"SELECT * FROM {TARGET} WHERE source_file = '{column}'")
        assert [c for c in columns if row[c] is None] == [column]


def test_soft_insert_accepts_the_dirty_file_with_nulls_where_strict_failed(db, main, sub):
    values = sub_values(main, DIRTY_FILE)
    run_task(db, sub, "clear_previous", values)
    run_task(db, sub, "soft_insert", values)
    source = staged(db, main, DIRTY_FILE)
    got = loaded(db, DIRTY_FILE)
    assert len(got) == len(source) == 24

    def as_loaded(r: dict) -> tuple:
        return tuple(strict_value(c, r[c])[0] for c in columns)

    columns = list(source[0])
    normalized = sorted(
        (tuple(g[c].replace(tzinfo=None) if c in TIMESTAMP_COLUMNS and g[c] else g[c] for c in columns) for g in got),
        key=repr,
    )
    assert normalized == sorted((as_loaded(r) for r in source), key=repr)
    nulls_from_bad_cells = sum(not strict_value(c, r[c])[1] for r in source for c in columns)
    assert nulls_from_bad_cells >= 12


def test_reloading_a_file_replaces_its_rows(db, main, sub):
    for _ in range(2):
        run_insert_subflow(db, main, sub, OK_FILE)
    assert len(loaded(db, OK_FILE)) == 237


def test_rollback_removes_every_row_of_the_failed_file_and_nothing_else(db, main, sub):
    # Rows of the failed file can be in the target when a step after the insert failed (the
    # archive copy, say): here a soft load of it under its URI. Files whose URI merely starts or
    # ends like it must keep their rows: the DELETE matches the URI exactly.
    run_insert_subflow(db, main, sub, OK_FILE)
    run_insert_subflow(db, main, sub, DIRTY_FILE)
    failed_uri = URI_PREFIX + ERROR_FILE.name
    lookalikes = [failed_uri + ".bak", "gs://bucket/yc-retry/data/old/" + ERROR_FILE.name, failed_uri.upper()]
    dirty_staging = sub_values(main, DIRTY_FILE)["inputs.staging_table"]
    for uri in [failed_uri, *lookalikes]:
        run_task(db, sub, "soft_insert", {"inputs.staging_table": dirty_staging, "inputs.source_file": uri})
    assert len(loaded(db, ERROR_FILE)) == 24

    run_task(db, main, "rollback", main_values(main, ERROR_FILE))

    assert loaded(db, ERROR_FILE) == []
    remaining = {r["source_file"]: r["n"] for r in rows(db, f"SELECT source_file, COUNT(*) AS n FROM {TARGET} GROUP BY 1")}
    assert remaining == {URI_PREFIX + OK_FILE.name: 237, URI_PREFIX + DIRTY_FILE.name: 24,
                         **{uri: 24 for uri in lookalikes}}


def test_failed_file_is_rolled_back_and_moved_to_errors(db, main, sub):
    # The parent's errors branch, for the sample error file: after the subflow failed (see
    # test_each_sample_file_takes_its_path), rollback, move to yc-retry/errors/, drop the staging.
    assert "verify_error" in run_insert_subflow(db, main, sub, ERROR_FILE)
    process_file = task(main, "process_file")
    assert [t["id"] for t in process_file["errors"]] == ["rollback", "move_to_errors", "drop_failed_staging"]
    for step in process_file["errors"]:
        if step["type"].endswith("bigquery.Query"):
            run_task(db, main, step["id"], main_values(main, ERROR_FILE))
    move = task(main, "move_to_errors")
    values = {"parent.taskrun.value": URI_PREFIX + ERROR_FILE.name, "kv('GCS_BUCKET')": "bucket",
              "parent.taskrun.value | substringAfterLast('/')": ERROR_FILE.name}
    assert render(move["from"], values) == URI_PREFIX + ERROR_FILE.name
    assert render(move["to"], values) == "gs://bucket/yc-retry/errors/retry-error-file.csv"
    assert move["delete"] is True
    assert loaded(db, ERROR_FILE) == []
    tables = {t for (t,) in db.execute(
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{RETRY}'").fetchall()}
    assert "stg_retry_error_file" not in tables


def test_drop_staging_leaves_only_the_target(db, main, sub):
    for path in SAMPLES:
        run_task(db, main, "drop_staging", main_values(main, path))
    left = db.execute(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{RETRY}'").fetchall()
    assert left == [("yellowcab_result",)]


def test_summary_query_reports_per_file_and_mode(db, main, sub):
    for path in SAMPLES:
        run_insert_subflow(db, main, sub, path)
    summary = {(r["source_file"], r["load_mode"]): r["row_count"]
               for r in fetch_bigquery(db, render(sql_of(main, "summary")))}
    assert summary == {(URI_PREFIX + OK_FILE.name, "strict"): 237, (URI_PREFIX + DIRTY_FILE.name, "soft"): 24}
