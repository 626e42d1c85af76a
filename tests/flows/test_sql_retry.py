"""gcp.yellowcab retry_rollback (+ retry_rollback_insert) on DuckDB, over the two yc-retry files.

The target table comes from retry_rollback's DDL, the staging tables from its all-STRING load
schema; the inserts, the verification and the rollback are the flows' own SQL. Which cells a
strict CAST must reject is decided here independently (strict number and timestamp formats).
"""

from __future__ import annotations

import ast
import re
from datetime import datetime

import duckdb
import pytest

from tests.flows.sql_support import (
    DATA_DIR,
    connect,
    fetch_bigquery,
    kv_name,
    load_csv_as_text,
    load_flow,
    load_schema,
    render,
    rows,
    run_bigquery,
    sql_of,
)

RETRY = kv_name("BQ_DATASET_YC_RETRY")
OK_FILE = DATA_DIR / "yc-retry" / "retry-ok-file.csv"
ERROR_FILE = DATA_DIR / "yc-retry" / "retry-error-file.csv"
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


def strict_value(column: str, text: str | None):
    try:
        return typed(column, text), True
    except ValueError:
        return None, False


# ------------------------------------------------------------------------------------------------
# The flows' Pebble for the staging table name, evaluated for the sample files
# ------------------------------------------------------------------------------------------------

FILTERS = {
    "substringAfterLast": lambda s, sep: s[s.rindex(sep) + len(sep):] if sep in s else "",
    "substringBeforeLast": lambda s, sep: s[: s.rindex(sep)] if sep in s else s,
    "replace": lambda s, pairs: _replace_all(s, pairs),
}


def _replace_all(text: str, pairs: dict) -> str:
    for old, new in pairs.items():
        text = text.replace(old, new)
    return text


def evaluate(template: str, variables: dict) -> str:
    """`{{ variable | filter(args) | … }}` with the string filters Kestra provides, nothing else."""
    def one(match: re.Match) -> str:
        head, *filters = [part.strip() for part in match.group(1).split("|")]
        value = variables[head]
        for call in filters:
            name, args = re.fullmatch(r"(\w+)\((.*)\)", call).groups()
            value = FILTERS[name](value, ast.literal_eval(args))
        return value
    return re.sub(r"\{\{(.*?)\}\}", one, template)


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
    for path in (OK_FILE, ERROR_FILE):
        table = sub_values(main, path)["inputs.staging_table"]
        load_csv_as_text(con, f"{RETRY}.{table}", path, columns)
    return con


def run_task(con, flow: dict, task_id: str, values: dict):
    run_bigquery(con, render(sql_of(flow, task_id), values))


def loaded(con, path) -> list[dict]:
    return rows(con, f"SELECT * FROM {RETRY}.trips WHERE source_file = '{URI_PREFIX + path.name}'")


def staged(con, main, path) -> list[dict]:
    return rows(con, f"SELECT * FROM {RETRY}.{sub_values(main, path)['inputs.staging_table']}")


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------

def test_staging_tables_are_named_after_their_file(main):
    assert staging_name(main, URI_PREFIX + "retry-ok-file.csv") == "stg_retry_ok_file"
    assert staging_name(main, URI_PREFIX + "retry-error-file.csv") == "stg_retry_error_file"
    assert staging_name(main, URI_PREFIX + "jan 2024.v2.csv") == "stg_jan_2024_v2"
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", staging_name(main, URI_PREFIX + name))
               for name in ("a-b.c d+e.csv", "x.csv"))


def test_the_error_file_is_dirty_in_several_columns(db, main):
    bad = [(c, r[c]) for r in staged(db, main, ERROR_FILE) for c in r if not strict_value(c, r[c])[1]]
    assert len({c for c, _ in bad}) >= 5
    assert {"N/A", "abc", ""} <= {v for _, v in bad}  # '' is the quoted empty string
    assert all(strict_value(c, r[c])[1] for r in staged(db, main, OK_FILE) for c in r)


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
    [check] = fetch_bigquery(db, render(sql_of(sub, "verify"), values))
    assert check == {"staged_rows": 237, "loaded_rows": 237, "load_mode": "strict"}


def test_strict_insert_refuses_the_error_file_and_writes_nothing(db, main, sub):
    values = sub_values(main, ERROR_FILE)
    with pytest.raises(duckdb.ConversionException):
        run_task(db, sub, "strict_insert", values)
    assert loaded(db, ERROR_FILE) == []
    # With no insert through, verify is what fails the subflow (and triggers the rollback).
    with pytest.raises(duckdb.Error, match="24 rows staged but 0 loaded; both inserts failed"):
        fetch_bigquery(db, render(sql_of(sub, "verify"), values))


def test_strict_insert_refuses_exactly_the_rows_with_a_bad_cell(main, sub):
    # Row by row: a one-row staging table per line of the error file.
    con = connect(RETRY)
    run_bigquery(con, render(sql_of(main, "create_target")))
    columns = [name for name, _ in load_schema(main, "load_staging")]
    load_csv_as_text(con, f"{RETRY}.all_rows", ERROR_FILE, columns)
    source = rows(con, f"SELECT * FROM {RETRY}.all_rows")
    refused = 0
    for index, row in enumerate(source):
        con.execute(f"CREATE OR REPLACE TABLE {RETRY}.one_row AS "
                    f"SELECT * EXCLUDE (n) FROM (SELECT *, row_number() OVER () - 1 AS n FROM {RETRY}.all_rows) "
                    f"WHERE n = {index}")
        values = {"inputs.staging_table": "one_row", "inputs.source_file": f"row-{index}"}
        must_fail = not all(strict_value(c, row[c])[1] for c in columns)
        if must_fail:
            refused += 1
            with pytest.raises(duckdb.ConversionException):
                run_task(con, sub, "strict_insert", values)
        else:
            run_task(con, sub, "strict_insert", values)
    assert refused == 12


def test_every_typed_column_is_cast_strictly_then_softly(main, sub):
    # One clean row with a single column spoiled, for each typed column: strict must refuse it,
    # soft must load the row with NULL in that column only.
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
        run_task(con, sub, "soft_insert", values)
        [row] = rows(con, f"SELECT * FROM {RETRY}.trips WHERE source_file = '{column}'")
        assert [c for c in columns if row[c] is None] == [column]


def test_soft_insert_accepts_the_error_file_with_nulls_where_strict_failed(db, main, sub):
    values = sub_values(main, ERROR_FILE)
    run_task(db, sub, "clear_previous", values)
    run_task(db, sub, "soft_insert", values)
    source = staged(db, main, ERROR_FILE)
    got = loaded(db, ERROR_FILE)
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
    [check] = fetch_bigquery(db, render(sql_of(sub, "verify"), values))
    assert check == {"staged_rows": 24, "loaded_rows": 24, "load_mode": "soft"}


def test_reloading_a_file_replaces_its_rows(db, main, sub):
    values = sub_values(main, OK_FILE)
    for _ in range(2):
        run_task(db, sub, "clear_previous", values)
        run_task(db, sub, "strict_insert", values)
    assert len(loaded(db, OK_FILE)) == 237


def test_rollback_removes_only_the_failed_file(db, main, sub):
    for path, mode in ((OK_FILE, "strict_insert"), (ERROR_FILE, "soft_insert")):
        run_task(db, sub, mode, sub_values(main, path))
    run_task(db, main, "rollback", main_values(main, ERROR_FILE))
    assert loaded(db, ERROR_FILE) == []
    assert len(loaded(db, OK_FILE)) == 237
    run_task(db, main, "drop_failed_staging", main_values(main, ERROR_FILE))
    run_task(db, main, "drop_staging", main_values(main, OK_FILE))
    left = db.execute(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{RETRY}'").fetchall()
    assert left == [("trips",)]


def test_summary_query_reports_per_file_and_mode(db, main, sub):
    for path, mode in ((OK_FILE, "strict_insert"), (ERROR_FILE, "soft_insert")):
        run_task(db, sub, mode, sub_values(main, path))
    summary = {(r["source_file"], r["load_mode"]): r["row_count"]
               for r in fetch_bigquery(db, render(sql_of(main, "summary")))}
    assert summary == {(URI_PREFIX + OK_FILE.name, "strict"): 237, (URI_PREFIX + ERROR_FILE.name, "soft"): 24}
