"""gcp.yellowcab/parallel_pipeline_transform on DuckDB, over the sample trips.

raw_trips is what a Parquet load of the TLC columns gives (typed columns); the sample trips are
data/yc-retry/retry-ok-file.csv, which carries on purpose trips for every detection rule, with
zone ids of the TLC's real lookup (data/taxi_zone_lookup.csv). Each task's SQL runs in the flow's
order; the expected zones, special trips and aggregates are computed here in plain Python from
the CSV files, and a few joins are checked against places anyone can look up (JFK is zone 132).
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from datetime import datetime

import pytest

from tests.flows.sql_support import (
    DATA_DIR,
    bigquery_statements,
    connect,
    fetch_bigquery,
    kv_name,
    load_flow,
    load_schema,
    render,
    rows,
    run_bigquery,
    sql_of,
    task,
)

YC = kv_name("BQ_DATASET_YELLOWCAB")
TRIPS_CSV = DATA_DIR / "yc-retry" / "retry-ok-file.csv"
ZONES_CSV = DATA_DIR / "taxi_zone_lookup.csv"

# Types of the 2024 TLC Parquet columns, as BigQuery loads them (see KESTRA_NOTES.md).
PARQUET_TYPES = {
    "VendorID": "INTEGER", "tpep_pickup_datetime": "TIMESTAMP", "tpep_dropoff_datetime": "TIMESTAMP",
    "passenger_count": "BIGINT", "trip_distance": "DOUBLE", "RatecodeID": "BIGINT",
    "store_and_fwd_flag": "VARCHAR", "PULocationID": "INTEGER", "DOLocationID": "INTEGER",
    "payment_type": "BIGINT", "fare_amount": "DOUBLE", "extra": "DOUBLE", "mta_tax": "DOUBLE",
    "tip_amount": "DOUBLE", "tolls_amount": "DOUBLE", "improvement_surcharge": "DOUBLE",
    "total_amount": "DOUBLE", "congestion_surcharge": "DOUBLE", "Airport_fee": "DOUBLE",
}
BIGQUERY_TO_DUCKDB = {"INT64": "BIGINT", "STRING": "VARCHAR", "FLOAT64": "DOUBLE"}

# Parallel groups run their children in any order; here they run one after the other.
TASK_ORDER = [
    "enrich",
    "detect_suspicious", "detect_short", "detect_long", "detect_invalid_location",
    "define_trusted",
    "count_per_borough", "average_fare_per_borough", "aggregate_by_hour",
    "curate",
]


# ------------------------------------------------------------------------------------------------
# The expected results, in plain Python
# ------------------------------------------------------------------------------------------------

def number(text: str, kind=float):
    return kind(text) if text != "" else None


def read_trips() -> list[dict]:
    with TRIPS_CSV.open(newline="", encoding="utf-8") as f:
        trips = []
        for r in csv.DictReader(f):
            pickup = datetime.strptime(r["tpep_pickup_datetime"], "%Y-%m-%d %H:%M:%S")
            dropoff = datetime.strptime(r["tpep_dropoff_datetime"], "%Y-%m-%d %H:%M:%S")
            trips.append({
                "pickup": pickup, "dropoff": dropoff,
                "pu": int(r["PULocationID"]), "do": int(r["DOLocationID"]),
                "distance": float(r["trip_distance"]), "fare": float(r["fare_amount"]),
                "tip": float(r["tip_amount"]), "total": float(r["total_amount"]),
                "passengers": number(r["passenger_count"], int),
                "duration": (dropoff - pickup).total_seconds(),
            })
    return trips


def read_zones() -> dict[int, dict]:
    with ZONES_CSV.open(newline="", encoding="utf-8") as f:
        return {int(r["LocationID"]): r for r in csv.DictReader(f)}


def key(trip: dict) -> tuple:
    return trip["pickup"], trip["dropoff"], trip["pu"], trip["do"], trip["total"]


def suspicious(t: dict) -> str | None:
    if t["duration"] <= 0:
        return "dropoff_not_after_pickup"
    if t["fare"] < 0 or t["total"] < 0:
        return "negative_amount"
    if t["distance"] == 0 and t["fare"] > 0:
        return "fare_without_distance"
    if t["distance"] != 0 and t["fare"] / t["distance"] > 50:
        return "fare_over_50_per_mile"
    return None


def short(t: dict) -> str | None:
    if t["distance"] < 0.5:
        return "under_half_a_mile"
    if 0 <= t["duration"] <= 119:
        return "under_two_minutes"
    return None


def long(t: dict) -> str | None:
    if t["distance"] > 30:
        return "over_30_miles"
    if t["duration"] > 3 * 3600:
        return "over_3_hours"
    return None


def borough(zones: dict, location_id: int) -> str:
    return zones[location_id]["Borough"] if location_id in zones else "Unknown"


def invalid_location(zones: dict, t: dict) -> str | None:
    if borough(zones, t["pu"]) in ("Unknown", "N/A"):
        return "unknown_pickup_location"
    if borough(zones, t["do"]) in ("Unknown", "N/A"):
        return "unknown_dropoff_location"
    return None


def trusted(zones: dict, trips: list[dict]) -> list[dict]:
    return [t for t in trips if suspicious(t) is None and invalid_location(zones, t) is None]


def mean(values: list) -> float | None:
    values = [v for v in values if v is not None]  # SQL AVG skips NULLs
    return sum(values) / len(values) if values else None


def expected_by(group, trips: list[dict], measures: dict) -> dict:
    groups = defaultdict(list)
    for t in trips:
        groups[group(t)].append(t)
    return {g: {name: fn(ts) for name, fn in measures.items()} for g, ts in groups.items()}


# ------------------------------------------------------------------------------------------------
# The pipeline on DuckDB
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flow():
    return load_flow("gcp.yellowcab", "parallel_pipeline_transform")


@pytest.fixture(scope="module")
def db(flow):
    con = connect(YC)
    header = TRIPS_CSV.read_text(encoding="utf-8").splitlines()[0].split(",")
    columns = ", ".join(f"'{c}': '{PARQUET_TYPES[c]}'" for c in header)
    con.execute(f"CREATE TABLE {YC}.raw_trips AS SELECT * FROM read_csv('{TRIPS_CSV.as_posix()}', "
                f"header = true, auto_detect = false, columns = {{{columns}}})")
    zone_columns = ", ".join(f"'{n}': '{BIGQUERY_TO_DUCKDB[t]}'" for n, t in load_schema(flow, "load_zones"))
    con.execute(f"CREATE TABLE {YC}.taxi_zones AS SELECT * FROM read_csv('{ZONES_CSV.as_posix()}', "
                f"header = true, auto_detect = false, columns = {{{zone_columns}}})")
    for task_id in TASK_ORDER:
        run_bigquery(con, render(sql_of(flow, task_id)))
    return con


@pytest.fixture(scope="module")
def trips():
    found = read_trips()
    assert len({key(t) for t in found}) == len(found), "sample trips must be distinguishable by key()"
    return found


@pytest.fixture(scope="module")
def zones():
    return read_zones()


def special(db, table: str) -> dict:
    """natural key -> reason for a special-trip table."""
    found = rows(db, f"""
        SELECT e.tpep_pickup_datetime AS pickup, e.tpep_dropoff_datetime AS dropoff, e.PULocationID AS pu,
               e.DOLocationID AS do, e.total_amount AS total, s.reason
        FROM {YC}.{table} AS s JOIN {YC}.trips_with_zone AS e USING (trip_id)""")
    return {(r["pickup"], r["dropoff"], r["pu"], r["do"], r["total"]): r["reason"] for r in found}


def test_all_transform_queries_are_exercised(flow):
    assert {task_id for task_id, _ in bigquery_statements(flow)} == set(TASK_ORDER) | {"summary"}


def test_every_trip_gets_its_pickup_and_dropoff_zone(db, trips, zones):
    enriched = rows(db, f"SELECT * FROM {YC}.trips_with_zone")
    assert len(enriched) == len(trips) == 237
    assert len({r["trip_id"] for r in enriched}) == len(enriched)
    by_key = {(r["tpep_pickup_datetime"], r["tpep_dropoff_datetime"], r["PULocationID"], r["DOLocationID"],
               r["total_amount"]): r for r in enriched}
    for t in trips:
        r = by_key[key(t)]
        for end, location_id in (("pickup", t["pu"]), ("dropoff", t["do"])):
            zone = zones.get(location_id)
            assert r[f"{end}_zone"] == (zone["Zone"] if zone else "Unknown")
            assert r[f"{end}_borough"] == (zone["Borough"] if zone else "Unknown")
            assert r[f"{end}_service_zone"] == (zone["service_zone"] if zone else "N/A")
        assert r["duration_seconds"] == t["duration"]
        assert r["pickup_hour"] == t["pickup"].hour
    # The raw columns travel along unchanged (t.*), whatever the year's schema holds.
    assert {"Airport_fee", "congestion_surcharge", "store_and_fwd_flag"} <= set(enriched[0])


@pytest.mark.parametrize("table, rule, designed", [
    ("suspicious_trips", "suspicious", 5),
    ("short_trips", "short", 4),
    ("long_trips", "long", 3),
])
def test_special_trip_detection(db, trips, table, rule, designed):
    expected = {key(t): reason for t in trips if (reason := globals()[rule](t))}
    assert special(db, table) == expected
    # data/generate.py plants `designed` trips for the rule; short also catches the zero-mile
    # fare of the suspicious ones.
    assert len(expected) == designed + (1 if rule == "short" else 0)


def test_invalid_location_detection(db, trips, zones):
    expected = {key(t): reason for t in trips if (reason := invalid_location(zones, t))}
    assert special(db, "invalid_gps") == expected
    assert len(expected) == 5


def test_trips_per_borough(db, trips, zones):
    expected = expected_by(lambda t: borough(zones, t["pu"]), trusted(zones, trips), {
        "trips": len,
        "revenue": lambda ts: sum(t["total"] for t in ts),
    })
    actual = {r.pop("borough"): r for r in rows(db, f"SELECT * FROM {YC}.trips_per_borough")}
    assert_close(actual, expected)
    assert "Unknown" not in actual and "N/A" not in actual


def test_avg_fare_per_borough(db, trips, zones):
    expected = expected_by(lambda t: borough(zones, t["pu"]), trusted(zones, trips), {
        "avg_fare": lambda ts: mean([t["fare"] for t in ts]),
        "avg_distance": lambda ts: mean([t["distance"] for t in ts]),
        "avg_tip": lambda ts: mean([t["tip"] for t in ts]),
        "avg_minutes": lambda ts: mean([t["duration"] for t in ts]) / 60,
    })
    actual = {r.pop("borough"): r for r in rows(db, f"SELECT * FROM {YC}.avg_fare_per_borough")}
    assert_close(actual, expected)


# Zones of the TLC lookup, as published (nyc.gov TLC trip record page): id -> (borough, zone).
KNOWN_PLACES = {
    132: ("Queens", "JFK Airport"),
    138: ("Queens", "LaGuardia Airport"),
    1: ("EWR", "Newark Airport"),
    43: ("Manhattan", "Central Park"),
    230: ("Manhattan", "Times Sq/Theatre District"),
}


def test_joins_put_trips_in_the_places_the_tlc_names(db, trips):
    # Stated here, not read from the lookup: a wrong or invented lookup fails this test.
    found = rows(db, f"""
        SELECT PULocationID AS id, pickup_borough AS borough, pickup_zone AS zone FROM {YC}.trips_with_zone
        UNION ALL
        SELECT DOLocationID, dropoff_borough, dropoff_zone FROM {YC}.trips_with_zone""")
    seen = {r["id"]: (r["borough"], r["zone"]) for r in found if r["id"] in KNOWN_PLACES}
    assert 132 in seen, "the sample has trips from JFK"
    for location_id, place in seen.items():
        assert place == KNOWN_PLACES[location_id], location_id
    jfk = rows(db, f"SELECT * FROM {YC}.trips_with_zone WHERE PULocationID = 132")
    assert jfk and {(r["pickup_borough"], r["pickup_zone"], r["pickup_service_zone"]) for r in jfk} == {
        ("Queens", "JFK Airport", "Airports")}
    # Trusted JFK pickups count for Queens in the per-borough figures.
    trusted_jfk = rows(db, f"SELECT COUNT(*) AS n FROM {YC}.trips_trusted WHERE PULocationID = 132")[0]["n"]
    [queens] = rows(db, f"SELECT trips FROM {YC}.trips_per_borough WHERE borough = 'Queens'")
    assert queens["trips"] >= trusted_jfk > 0


def test_aggregation_by_hour(db, trips, zones):
    expected = expected_by(lambda t: t["pickup"].hour, trusted(zones, trips), {
        "trips": len,
        "revenue": lambda ts: sum(t["total"] for t in ts),
        "avg_fare": lambda ts: mean([t["fare"] for t in ts]),
        "avg_passengers": lambda ts: mean([t["passengers"] for t in ts]),
        "avg_minutes": lambda ts: mean([t["duration"] for t in ts]) / 60,
    })
    actual = {r.pop("hour"): r for r in rows(db, f"SELECT * FROM {YC}.trips_by_hour")}
    assert_close(actual, expected)


def assert_close(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for group, measures in expected.items():
        assert actual[group].keys() == measures.keys(), group
        for name, value in measures.items():
            got = actual[group][name]
            if value is None:
                assert got is None, (group, name)
            else:
                assert math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-9), (group, name, got, value)


def test_cleaned_table_keeps_trusted_trips_with_flags(db, trips, zones):
    cleaned = rows(db, f"SELECT * FROM {YC}.trips_cleaned")
    kept = trusted(zones, trips)
    assert len(cleaned) == len(kept)
    flags = {(r["tpep_pickup_datetime"], r["tpep_dropoff_datetime"], r["PULocationID"], r["DOLocationID"],
              r["total_amount"]): (r["is_short_trip"], r["is_long_trip"]) for r in cleaned}
    assert flags == {key(t): (short(t) is not None, long(t) is not None) for t in kept}


def test_summary_counts(db, flow, trips, zones):
    [summary] = fetch_bigquery(db, render(sql_of(flow, "summary")))
    assert summary == {
        "trips": 237, "cleaned": len(trusted(zones, trips)), "suspicious": 5, "short_trips": 5,
        "long_trips": 3, "invalid_location": 5,
    }


# ------------------------------------------------------------------------------------------------
# Where the Parquet files come from and go to
# ------------------------------------------------------------------------------------------------

def test_fetch_url_and_object_name_follow_the_tlc_pattern():
    fetch = load_flow("gcp.yellowcab", "fetch_data")
    values = {"inputs.year": "2024", "taskrun.value": "01", "kv('GCS_BUCKET')": "bucket"}
    assert render(task(fetch, "download")["uri"], values) == \
        "https://d37ci6vzurychx.cloudfront.net/trip-data/yellow_tripdata_2024-01.parquet"
    uploaded = render(task(fetch, "upload")["to"], values)
    assert uploaded == "gs://bucket/yellow-cab/yellow_tripdata_2024-01.parquet"

    # Every consumer of yellow-cab/ picks that object up.
    for flow_id in ("sequential_ingest", "parallel_pipeline"):
        listing = task(load_flow("gcp.yellowcab", flow_id), "list_files")
        assert uploaded.startswith(render(listing["from"], values)), flow_id
        assert re.fullmatch(listing["regExp"], uploaded), flow_id
    # event_ingest loads it too: tests/flows/test_event_ingest.py::test_fetch_data_uploads_are_loaded


def test_parquet_loaders_take_the_schema_from_the_files():
    # A year's schema must not be written into a flow: 2025 adds cbd_congestion_fee, older years
    # differ. Every Parquet load autodetects and may add columns.
    # parallel_pipeline stages each file in its own table, then appends it to raw_trips by
    # column name (tests/flows/test_sql_raw_history.py).
    loads = [("sequential_ingest", "load_file"), ("event_ingest", "load_object")]
    for flow_id, task_id in loads + [("parallel_pipeline", "stage_file")]:
        load = task(load_flow("gcp.yellowcab", flow_id), task_id)
        assert load["format"] == "PARQUET" and load["autodetect"] is True, flow_id
        assert "schema" not in load, flow_id
    for flow_id, task_id in loads + [("parallel_pipeline", "append_file_rows")]:
        write = task(load_flow("gcp.yellowcab", flow_id), task_id)
        assert write["writeDisposition"] == "WRITE_APPEND", flow_id
        assert "ALLOW_FIELD_ADDITION" in write["schemaUpdateOptions"], flow_id
