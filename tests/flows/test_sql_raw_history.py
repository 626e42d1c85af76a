"""gcp.yellowcab/parallel_pipeline's raw_trips on DuckDB: history across batches, one copy per file.

Each file's tasks run as the flow runs them: the Parquet load into the file's staging table
(modelled here by a typed table of trips), the flow's DELETE of the file's earlier rows, the
flow's SELECT appended to raw_trips as a BigQuery query job appends (by column name, adding new
columns: sql_support.append_query_result), and the flow's DROP of the staging table.
"""

from __future__ import annotations

import pytest

from tests.flows.sql_support import (
    DATA_DIR,
    append_query_result,
    connect,
    evaluate,
    kv_name,
    load_flow,
    render,
    rows,
    run_bigquery,
    sql_of,
    task,
)

YC = kv_name("BQ_DATASET_YELLOWCAB")
TRIPS_CSV = DATA_DIR / "yc-retry" / "retry-ok-file.csv"
PREFIX = "gs://bucket/yellow-cab/"
FILE_A = PREFIX + "yellow_tripdata_2024-01.parquet"
FILE_B = PREFIX + "yellow_tripdata_2024-02.parquet"
FILE_2025 = PREFIX + "yellow_tripdata_2025-03.parquet"


@pytest.fixture(scope="module")
def flow():
    return load_flow("gcp.yellowcab", "parallel_pipeline")


def staging_name(flow: dict, uri: str) -> str:
    return evaluate(flow["variables"]["staging_table"], {"taskrun.value": uri})


@pytest.fixture()
def db(flow):
    con = connect(YC)
    # The sample trips, typed as a Parquet load gives them; split in two "monthly files".
    con.execute(f"CREATE TABLE all_trips AS SELECT row_number() OVER () AS n, * FROM read_csv('{TRIPS_CSV.as_posix()}', "
                "header = true, timestampformat = '%Y-%m-%d %H:%M:%S')")
    return con


def load_file(con, flow: dict, uri: str, where: str, extra_columns: str = "") -> None:
    """One iteration of load_files for the file `uri`, whose trips are all_trips WHERE `where`."""
    staging = staging_name(flow, uri)
    con.execute(f"CREATE OR REPLACE TABLE {YC}.{staging} AS SELECT * EXCLUDE (n){extra_columns} "
                f"FROM all_trips WHERE {where}")
    values = {"taskrun.value": uri, "render(vars.staging_table)": staging}
    run_bigquery(con, render(sql_of(flow, "create_raw_trips"), values))
    run_bigquery(con, render(sql_of(flow, "forget_file_rows"), values))
    append = task(flow, "append_file_rows")
    assert render(append["destinationTable"], values) == f"{YC}.raw_trips"
    assert append["writeDisposition"] == "WRITE_APPEND" and "ALLOW_FIELD_ADDITION" in append["schemaUpdateOptions"]
    append_query_result(con, f"{YC}.raw_trips", render(append["sql"], values))
    run_bigquery(con, render(sql_of(flow, "drop_staging"), values))


def per_file(con) -> dict:
    return {r["source_file"]: r["n"] for r in rows(con, f"SELECT source_file, COUNT(*) AS n FROM {YC}.raw_trips GROUP BY 1")}


def test_the_batch_no_longer_drops_the_raw_table(flow):
    statements = " ".join(t.get("sql", "") for t in [task(flow, i) for i in
                          ("create_raw_trips", "forget_file_rows", "append_file_rows", "drop_staging")])
    assert "DROP TABLE IF EXISTS {{ kv('BQ_DATASET_YELLOWCAB') }}.raw_trips" not in statements
    assert "reset_batch" not in {t["id"] for t in task(flow, "if_files")["then"]}


def test_staging_tables_are_one_per_file(flow):
    assert staging_name(flow, FILE_A) == "stg_yellow_tripdata_2024_01"
    assert staging_name(flow, FILE_B) == "stg_yellow_tripdata_2024_02"


def test_the_first_file_gives_raw_trips_its_columns(db, flow):
    load_file(db, flow, FILE_A, "n <= 100")
    columns = [c for (c,) in db.execute(f"SELECT column_name FROM (DESCRIBE {YC}.raw_trips)").fetchall()]
    header = TRIPS_CSV.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert columns == header + ["source_file", "loaded_at"]


def test_history_is_kept_and_a_reloaded_file_replaces_its_rows(db, flow):
    count_a = db.execute("SELECT COUNT(*) FROM all_trips WHERE n <= 100").fetchone()[0]
    count_b = db.execute("SELECT COUNT(*) FROM all_trips WHERE n > 100").fetchone()[0]
    assert (count_a, count_b) == (100, 137)

    load_file(db, flow, FILE_A, "n <= 100")
    load_file(db, flow, FILE_B, "n > 100")  # a later batch: A stays
    assert per_file(db) == {FILE_A: 100, FILE_B: 137}

    load_file(db, flow, FILE_A, "n <= 100")  # a rerun of A
    assert per_file(db) == {FILE_A: 100, FILE_B: 137}
    # A's trips are there exactly once each, B's untouched.
    duplicates = db.execute(f"""
        SELECT COUNT(*) FROM (
          SELECT tpep_pickup_datetime, tpep_dropoff_datetime, PULocationID, DOLocationID, total_amount, COUNT(*) AS c
          FROM {YC}.raw_trips GROUP BY ALL HAVING c > 1)""").fetchone()[0]
    assert duplicates == 0
    assert db.execute(f"SELECT COUNT(*) FROM {YC}.raw_trips").fetchone()[0] == 237
    tables = {t for (t,) in db.execute(f"SELECT table_name FROM information_schema.tables "
                                       f"WHERE table_schema = '{YC}'").fetchall()}
    assert tables == {"raw_trips"}, "staging tables are dropped"


def test_a_file_with_a_new_column_adds_it_and_keeps_the_older_rows(db, flow):
    load_file(db, flow, FILE_A, "n <= 100")
    load_file(db, flow, FILE_2025, "n > 100", extra_columns=", 0.75 AS cbd_congestion_fee")
    assert per_file(db) == {FILE_A: 100, FILE_2025: 137}
    fees = {r["source_file"]: r["fee"] for r in rows(db, f"""
        SELECT source_file, MAX(cbd_congestion_fee) AS fee FROM {YC}.raw_trips GROUP BY 1""")}
    assert fees == {FILE_A: None, FILE_2025: 0.75}


def test_a_rerun_only_deletes_rows_of_exactly_that_file(db, flow):
    lookalike = FILE_A.replace(".parquet", ".parquet.bak")
    load_file(db, flow, lookalike, "n <= 10")
    load_file(db, flow, FILE_A, "n <= 100")
    load_file(db, flow, FILE_A, "n <= 100")
    assert per_file(db) == {lookalike: 10, FILE_A: 100}
