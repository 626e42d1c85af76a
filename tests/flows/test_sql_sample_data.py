"""The sample data under data/: reproducible from data/generate.py, and shaped as the flows and
the stack expect (headers equal to the flows' load schemas, object names the stack uploads)."""

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
    assert sorted(DATA_FILES.values()) == sorted(f"data/{name}" for name in module.FILES)
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
        ("yc-retry/retry-error-file.csv", "gcp.yellowcab", "retry_rollback", "load_staging"),
    ],
)
def test_headers_match_the_load_schemas(data_file, namespace, flow_id, task_id):
    # BigQuery maps CSV columns by position: a header out of step with the schema loads garbage.
    header = read_rows(DATA_DIR / data_file)[0]
    assert header == [name for name, _ in load_schema(load_flow(namespace, flow_id), task_id)]


def test_every_row_has_every_column():
    for name in generator_module().FILES:
        rows = read_rows(DATA_DIR / name)
        widths = Counter(len(r) for r in rows)
        assert list(widths) == [len(rows[0])], f"data/{name}: rows of widths {dict(widths)}"


def test_zone_lookup_has_the_real_layout():
    text = (DATA_DIR / "taxi_zone_lookup.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == '"LocationID","Borough","Zone","service_zone"'
    rows = read_rows(DATA_DIR / "taxi_zone_lookup.csv")[1:]
    assert [int(r[0]) for r in rows] == list(range(1, 266))
    boroughs = Counter(r[1] for r in rows)
    assert boroughs == {"Manhattan": 69, "Queens": 69, "Brooklyn": 61, "Bronx": 43, "Staten Island": 20,
                        "EWR": 1, "Unknown": 2}
    assert {r[3] for r in rows} == {"Yellow Zone", "Boro Zone", "Airports", "EWR", "N/A"}
    assert len({r[2] for r in rows}) == 265, "zone names must be unique"
    airports = {r[2]: r[1] for r in rows if r[3] == "Airports"}
    assert airports == {"JFK Airport": "Queens", "LaGuardia Airport": "Queens"}


def test_ecommerce_sample_carries_every_anomaly():
    rows = read_rows(DATA_DIR / "data.csv")[1:]
    assert 300 <= len(rows) <= 500
    assert sum(r[0].startswith("C") for r in rows) == 17
    assert sum(r[6] == "" for r in rows) >= 20  # missing customers
    assert any("," in r[2] for r in rows) and any('"' in r[2] for r in rows)  # CSV quoting exercised
