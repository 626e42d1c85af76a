"""The sample data under data/: reproducible from data/generate.py, and shaped as the flows and
the stack expect (headers equal to the flows' load schemas, object names the stack uploads); the
zone lookup is the NYC TLC's real one, and the sample trips use its location ids."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from infra.storage import DATA_FILES
from tests.flows.sql_support import DATA_DIR, REPO_ROOT, load_flow, load_schema, task

GENERATOR = DATA_DIR / "generate.py"


def generator_module():
    spec = importlib.util.spec_from_file_location("sample_data_generator", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_generator_reproduces_the_committed_files_byte_for_byte(tmp_path):
    # The documented command, in a fresh process: no state shared with this test run.
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)], check=True, capture_output=True)
    generated = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert generated == sorted(generator_module().FILES)
    for name in generated:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), (
            f"data/{name} differs from what data/generate.py writes; rerun it and commit the result"
        )


def test_the_stack_uploads_exactly_the_generated_files():
    module = generator_module()
    shipped = module.FILES + module.REFERENCE_FILES
    assert sorted(DATA_FILES.values()) == sorted(f"data/{name}" for name in shipped)
    for repo_path in DATA_FILES.values():
        assert (REPO_ROOT / repo_path).is_file()


def test_objects_the_flows_read_are_the_ones_uploaded():
    ingest = load_flow("gcp.ecommerce", "ingest_clean")
    transform = load_flow("gcp.yellowcab", "parallel_pipeline_transform")
    retry = load_flow("gcp.yellowcab", "retry_rollback")
    prefix = "gs://{{ kv('GCS_BUCKET') }}/"
    assert task(ingest, "load_raw")["from"] == [prefix + "data.csv"]
    assert task(transform, "load_zones")["from"] == [prefix + "taxi_zone_lookup.csv"]
    listed = task(retry, "list_files")["from"].removeprefix(prefix)
    retry_objects = [name for name in DATA_FILES if name.startswith("yc-retry/")]
    assert retry_objects and all(name.startswith(listed) and name.endswith(".csv") for name in retry_objects)
    for name in ("data.csv", "taxi_zone_lookup.csv"):
        assert name in DATA_FILES


@pytest.mark.parametrize(
    "data_file, namespace, flow_id, task_id",
    [
        ("data.csv", "gcp.ecommerce", "ingest_clean", "load_raw"),
        ("taxi_zone_lookup.csv", "gcp.yellowcab", "parallel_pipeline_transform", "load_zones"),
        ("yc-retry/retry-ok-file.csv", "gcp.yellowcab", "retry_rollback", "load_staging"),
        ("yc-retry/retry-dirty-file.csv", "gcp.yellowcab", "retry_rollback", "load_staging"),
        ("yc-retry/retry-error-file.csv", "gcp.yellowcab", "retry_rollback", "load_staging"),
    ],
)
def test_headers_match_the_load_schemas(data_file, namespace, flow_id, task_id):
    # BigQuery maps CSV columns by position: a header out of step with the schema loads garbage.
    header = read_rows(DATA_DIR / data_file)[0]
    assert header == [name for name, _ in load_schema(load_flow(namespace, flow_id), task_id)]


def test_every_row_has_every_column():
    module = generator_module()
    for name in module.FILES + module.REFERENCE_FILES:
        rows = read_rows(DATA_DIR / name)
        widths = Counter(len(r) for r in rows)
        assert list(widths) == [len(rows[0])], f"data/{name}: rows of widths {dict(widths)}"


def zones() -> dict[int, list[str]]:
    return {int(r[0]): r[1:] for r in read_rows(DATA_DIR / "taxi_zone_lookup.csv")[1:]}


def test_zone_lookup_is_the_tlc_one():
    # Layout and figures of the TLC's "Taxi Zone Lookup Table" (nyc.gov TLC trip record page).
    text = (DATA_DIR / "taxi_zone_lookup.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == '"LocationID","Borough","Zone","service_zone"'
    lookup = zones()
    assert sorted(lookup) == list(range(1, 266))
    assert Counter(b for b, _, _ in lookup.values()) == {
        "Manhattan": 69, "Queens": 69, "Brooklyn": 61, "Bronx": 43, "Staten Island": 20,
        "EWR": 1, "Unknown": 1, "N/A": 1,
    }
    assert {s for _, _, s in lookup.values()} == {"Yellow Zone", "Boro Zone", "Airports", "EWR", "N/A"}
    # Places a New Yorker can check.
    assert lookup[1] == ["EWR", "Newark Airport", "EWR"]
    assert lookup[43] == ["Manhattan", "Central Park", "Yellow Zone"]
    assert lookup[132] == ["Queens", "JFK Airport", "Airports"]
    assert lookup[138] == ["Queens", "LaGuardia Airport", "Airports"]
    assert lookup[161] == ["Manhattan", "Midtown Center", "Yellow Zone"]
    assert lookup[230] == ["Manhattan", "Times Sq/Theatre District", "Yellow Zone"]
    assert lookup[264] == ["Unknown", "N/A", "N/A"]
    assert lookup[265] == ["N/A", "Outside of NYC", "N/A"]
    # Every Yellow Zone is in Manhattan; the airports are JFK and LaGuardia only.
    assert {b for b, _, s in lookup.values() if s == "Yellow Zone"} == {"Manhattan"}
    assert sorted(i for i, (_, _, s) in lookup.items() if s == "Airports") == [132, 138]


# The ids data/generate.py plants on purpose as unknown places: outside the lookup, or its
# Unknown (264) / Outside of NYC (265) entries.
PLANTED_INVALID_IDS = {0, 300, 999, 264, 265}


@pytest.mark.parametrize("name", ["retry-ok-file.csv", "retry-dirty-file.csv", "retry-error-file.csv"])
def test_sample_trips_use_real_zone_ids(name):
    lookup = zones()
    trips = list(csv.DictReader((DATA_DIR / "yc-retry" / name).open(newline="", encoding="utf-8")))
    ids = [int(t[c]) for t in trips for c in ("PULocationID", "DOLocationID") if t[c].isdigit()]
    assert ids and set(ids) - set(lookup) <= PLANTED_INVALID_IDS
    # Like real yellow cab trips, most start in Manhattan.
    pickups = [lookup[int(t["PULocationID"])][0] for t in trips
               if t["PULocationID"].isdigit() and int(t["PULocationID"]) in lookup]
    assert Counter(pickups).most_common(1)[0][0] == "Manhattan"


def test_trip_sample_has_airport_and_borough_variety():
    lookup = zones()
    trips = list(csv.DictReader((DATA_DIR / "yc-retry" / "retry-ok-file.csv").open(newline="", encoding="utf-8")))
    pickups = Counter(int(t["PULocationID"]) for t in trips)
    assert pickups[132] >= 3, "JFK pickups make the Queens/JFK join visible"
    dropoff_boroughs = {lookup[int(t["DOLocationID"])][0] for t in trips if int(t["DOLocationID"]) in lookup}
    assert {"Manhattan", "Queens", "Brooklyn", "Bronx", "Staten Island"} <= dropoff_boroughs
    assert sum(int(t["PULocationID"]) in PLANTED_INVALID_IDS or int(t["DOLocationID"]) in PLANTED_INVALID_IDS
               for t in trips) == 5


def test_ecommerce_sample_carries_every_anomaly():
    rows = read_rows(DATA_DIR / "data.csv")[1:]
    assert 300 <= len(rows) <= 500
    assert sum(r[0].startswith("C") for r in rows) == 17
    assert sum(r[6] == "" for r in rows) >= 20  # missing customers
    assert any("," in r[2] for r in rows) and any('"' in r[2] for r in rows)  # CSV quoting exercised
