"""The dev.testing programs really work: Java and Python namespace files, inline scripts, SQL.

Each test runs the code a flow would run, with the data the flow itself hands it (taken from the
flow YAML), and checks the results against figures computed here independently. Java needs a
JDK 17 `javac` on PATH and the Maven build `mvn`; a missing tool skips its tests locally and fails
them in CI (tests/support/tiers.py).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import py_compile
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from tests.flows.conftest import FLOWS_ROOT
from tests.support.tiers import require, tiers_required

NS = FLOWS_ROOT / "dev.testing"
FILES = NS / "files"
OUTPUTS_LINE = re.compile(r"^::(\{.*\})::$", re.M)  # Kestra's PluginUtilsService pattern

JDK_INSTALL = "apt-get install openjdk-17-jdk-headless"


def require_jdk() -> None:
    require(shutil.which("javac") is not None and shutil.which("java") is not None,
            "a JDK 17+ (javac and java on PATH)", JDK_INSTALL)


def require_module(name: str) -> None:
    require(importlib.util.find_spec(name) is not None, f"the Python package {name}",
            "pip install -r requirements-test.txt")


@pytest.fixture
def jdk():
    require_jdk()


needs_jdk = pytest.mark.usefixtures("jdk")


def flow(flow_id: str) -> dict:
    return yaml.safe_load((NS / f"{flow_id}.yaml").read_text(encoding="utf-8"))


def task(flow_id: str, task_id: str) -> dict:
    return next(t for t in flow(flow_id)["tasks"] if t["id"] == task_id)


def kestra_outputs(stdout: str) -> dict:
    lines = OUTPUTS_LINE.findall(stdout)
    assert len(lines) == 1, f"expected one ::{{outputs}}:: line, got {lines!r} in:\n{stdout}"
    return json.loads(lines[0])["outputs"]


def run(cmd: list, cwd: Path, timeout: int = 60) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def sales_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory) -> Path:
    """All dev.testing Java sources compiled in one javac run (one JVM start keeps this fast)."""
    require_jdk()
    out = tmp_path_factory.mktemp("classes")
    hello = out / "src" / "HelloWorld.java"
    hello.parent.mkdir()
    hello.write_text(task("java_hello_world", "hello_java")["inputFiles"]["HelloWorld.java"], encoding="utf-8")
    sources = [
        hello,
        FILES / "java" / "DataProcessor.java",
        *sorted((FILES / "maven" / "src" / "main" / "java").rglob("*.java")),
    ]
    # --release 17: the flows run these in JDK 17 images, so nothing newer may slip in.
    run(["javac", "--release", "17", "-Xlint:all", "-Werror", "-d", str(out), *map(str, sources)], cwd=out)
    return out


# --------------------------------------------------------------------------------------------
# Java
# --------------------------------------------------------------------------------------------

@needs_jdk
def test_inline_hello_world_runs(java_classes, tmp_path):
    stdout = run(["java", "-cp", str(java_classes), "HelloWorld", "Kestra dev.testing"], cwd=tmp_path)
    assert stdout.startswith("Hello, Kestra dev.testing! Java ")
    assert kestra_outputs(stdout)["java_version"]


@needs_jdk
def test_data_processor_sums_revenue_per_product(java_classes, tmp_path):
    t = task("java_namespace_file", "process_sales")
    sales = t["inputFiles"]["sales.csv"]
    (tmp_path / "sales.csv").write_text(sales, encoding="utf-8")
    output = t["outputFiles"][0]

    stdout = run(["java", "-cp", str(java_classes), "DataProcessor", "sales.csv", output], cwd=tmp_path)

    expected: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for row in sales_rows(sales):
        expected[row["product"]][0] += int(row["quantity"])
        expected[row["product"]][1] += int(row["quantity"]) * float(row["unit_price"])
    got = read_csv(tmp_path / output)
    assert [r["product"] for r in got] == sorted(expected, key=lambda p: -expected[p][1])
    for r in got:
        assert int(r["units"]) == expected[r["product"]][0]
        assert float(r["revenue"]) == pytest.approx(expected[r["product"]][1], abs=0.005)
    outputs = kestra_outputs(stdout)
    assert outputs["products"] == len(expected)
    assert outputs["total_revenue"] == pytest.approx(sum(v[1] for v in expected.values()), abs=0.01)


@needs_jdk
def test_data_processor_rejects_a_csv_without_the_needed_columns(java_classes, tmp_path):
    (tmp_path / "bad.csv").write_text("order_id,region\n1,north\n", encoding="utf-8")
    done = subprocess.run(["java", "-cp", str(java_classes), "DataProcessor", "bad.csv", "out.csv"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "missing column 'product'" in done.stderr


@needs_jdk
def test_maven_data_processor_region_stats(java_classes, tmp_path):
    t = task("java_maven_project", "build_and_run")
    sales = t["inputFiles"]["sales.csv"]
    (tmp_path / "sales.csv").write_text(sales, encoding="utf-8")
    output = t["outputFiles"][0]

    stdout = run(["java", "-cp", str(java_classes), "com.example.MavenDataProcessor", "sales.csv", output], cwd=tmp_path)

    orders, units, revenue = defaultdict(set), defaultdict(int), defaultdict(float)
    for row in sales_rows(sales):
        orders[row["region"]].add(row["order_id"])
        units[row["region"]] += int(row["quantity"])
        revenue[row["region"]] += int(row["quantity"]) * float(row["unit_price"])
    got = read_csv(tmp_path / output)
    assert {r["region"] for r in got} == set(revenue)
    for r in got:
        region = r["region"]
        assert int(r["orders"]) == len(orders[region])
        assert int(r["units"]) == units[region]
        assert float(r["revenue"]) == pytest.approx(revenue[region], abs=0.005)
        assert float(r["avg_order_value"]) == pytest.approx(revenue[region] / len(orders[region]), abs=0.005)
    assert kestra_outputs(stdout)["regions"] == len(revenue)


def test_pom_matches_the_source_and_the_flow():
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ET.parse(FILES / "maven" / "pom.xml").getroot()
    artifact = pom.findtext("m:artifactId", namespaces=ns)
    version = pom.findtext("m:version", namespaces=ns)
    main_class = pom.findtext(".//m:manifest/m:mainClass", namespaces=ns)
    release = pom.findtext("m:properties/m:maven.compiler.release", namespaces=ns)

    source = FILES / "maven" / "src" / "main" / "java" / Path(*main_class.split(".")).with_suffix(".java")
    assert source.is_file(), f"pom.xml mainClass {main_class} has no source at {source}"

    t = task("java_maven_project", "build_and_run")
    commands = " ".join(t["commands"])
    assert f"maven/target/{artifact}-{version}.jar" in commands, "the flow runs a jar name the pom does not build"
    assert "-f maven/pom.xml" in commands
    assert release == "17" and "temurin-17" in t["containerImage"], "compiler release and image JDK differ"


def test_maven_project_builds(tmp_path):
    require(shutil.which("mvn") is not None, "Maven (mvn)", "apt-get install maven")
    require_jdk()
    # In CI the build resolves the plugins the pom pins from Maven Central, so it always runs
    # there. Locally it stays offline and skips when the local repository lacks those plugins;
    # running this test once with KESTRA_GCP_REQUIRE_TIERS=1 fetches them.
    online = tiers_required()
    project = tmp_path / "maven"
    shutil.copytree(FILES / "maven", project)
    command = ["mvn", "--batch-mode", "--quiet", "package"] + ([] if online else ["--offline"])
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600 if online else 240)
    if not online and done.returncode != 0 and "offline mode" in done.stdout + done.stderr:
        require(False, "the Maven plugins the pom pins (local repository)",
                "KESTRA_GCP_REQUIRE_TIERS=1 python -m pytest tests/flows/test_dev_testing.py -k maven")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project / "target" / "maven-data-processor-1.0.0.jar").is_file()


# --------------------------------------------------------------------------------------------
# Python
# --------------------------------------------------------------------------------------------

def test_python_namespace_files_compile(tmp_path):
    scripts = sorted(FILES.rglob("*.py"))
    assert scripts, "dev.testing has no Python namespace file"
    for script in scripts:
        py_compile.compile(str(script), cfile=str(tmp_path / (script.stem + ".pyc")), doraise=True)


def test_process_sales_data_script(tmp_path):
    require_module("pandas")
    script = FILES / "scripts" / "process_sales_data.py"
    sales = task("java_namespace_file", "process_sales")["inputFiles"]["sales.csv"]
    (tmp_path / "sales.csv").write_text(sales, encoding="utf-8")

    stdout = run([sys.executable, str(script), "--input", "sales.csv", "--output", "summary.csv"], cwd=tmp_path)

    expected = defaultdict(float)
    for row in sales_rows(sales):
        expected[(row["product"], row["region"])] += int(row["quantity"]) * float(row["unit_price"])
    got = {(r["product"], r["region"]): float(r["revenue"]) for r in read_csv(tmp_path / "summary.csv")}
    assert got == pytest.approx(dict(expected), abs=0.005)
    outputs = kestra_outputs(stdout)
    assert outputs["input_rows"] == len(sales_rows(sales))
    assert outputs["total_revenue"] == pytest.approx(sum(expected.values()), abs=0.01)

    # Without --input it generates its sample, deterministically.
    first = kestra_outputs(run([sys.executable, str(script), "--rows", "50", "--output", "a.csv"], cwd=tmp_path))
    second = kestra_outputs(run([sys.executable, str(script), "--rows", "50", "--output", "b.csv"], cwd=tmp_path))
    assert first == second and first["input_rows"] == 50
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_inline_pandas_script(tmp_path):
    require_module("pandas")
    t = task("python_inline_pandas", "build_sales_report")
    (tmp_path / "script.py").write_text(t["script"], encoding="utf-8")
    outputs = kestra_outputs(run([sys.executable, "script.py"], cwd=tmp_path))
    rows = read_csv(tmp_path / t["outputFiles"][0])
    assert outputs["regions"] == len(rows) == 4
    assert outputs["total_revenue"] == pytest.approx(sum(float(r["revenue"]) for r in rows), abs=0.01)


def test_multi_step_scripts_hand_the_file_over(tmp_path):
    require_module("pandas")
    extract, transform = task("python_multi_step", "extract"), task("python_multi_step", "transform")
    step1, step2 = tmp_path / "step1", tmp_path / "step2"
    step1.mkdir()
    step2.mkdir()
    (step1 / "script.py").write_text(extract["script"], encoding="utf-8")
    run([sys.executable, "script.py"], cwd=step1)

    # What Kestra does between the tasks: step 1's outputFiles become step 2's inputFiles.
    [produced] = extract["outputFiles"]
    [(consumed, expression)] = transform["inputFiles"].items()
    assert f"outputs.extract.outputFiles['{produced}']" in expression
    shutil.copy(step1 / produced, step2 / consumed)
    (step2 / "script.py").write_text(transform["script"], encoding="utf-8")
    outputs = kestra_outputs(run([sys.executable, "script.py"], cwd=step2))

    raw = read_csv(step1 / produced)
    daily = read_csv(step2 / transform["outputFiles"][0])
    assert sum(int(r["orders"]) for r in daily) == len(raw) == 100
    assert outputs["days"] == len(daily)
    assert outputs["revenue"] == pytest.approx(sum(float(r["amount"]) for r in raw), abs=0.01)


# --------------------------------------------------------------------------------------------
# DuckDB aggregation of the subflow
# --------------------------------------------------------------------------------------------

def test_critical_service_query_on_the_orders_layout(tmp_path):
    require_module("duckdb")
    import duckdb
    sub = flow("critical_service_subflow")
    query = task("critical_service_subflow", "aggregate_orders")
    # Same header as Kestra's public orders.csv sample.
    rows = [
        (1, "Ann", "ann@example.com", 10, 5.5, 2, 11.0),
        (2, "Bob", "bob@example.com", 11, 20.0, 1, 20.0),
        (3, "Ann", "ann@example.com", 12, 3.25, 4, 13.0),
    ]
    with (tmp_path / "orders.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["order_id", "customer_name", "customer_email", "product_id", "price", "quantity", "total"])
        writer.writerows(rows)
    [input_name] = query["inputFiles"]

    con = duckdb.connect()
    con.execute(f"SET file_search_path='{tmp_path}'")  # what the Query task sets to its working dir
    cursor = con.execute(query["sql"])
    columns = [d[0] for d in cursor.description]
    result = dict(zip(columns, cursor.fetchone()))
    assert input_name == "orders.csv"
    assert result == {"order_count": 3, "customer_count": 2, "total_revenue": 44.0, "avg_order_value": 14.67,
                      "avg_quantity": 2.33}

    # Every column the flow outputs and log read from the row exists in the result.
    used = set(re.findall(r"outputs\.aggregate_orders\.row\.(\w+)", yaml.safe_dump(sub)))
    assert used and used <= set(columns), f"flow reads {sorted(used - set(columns))} that the query does not return"


def test_parent_reads_every_output_the_subflow_returns():
    # The walkthrough's child returns the order count, revenue, average order value and average
    # quantity; the parent logs all of them and passes the count and average quantity on.
    declared = {o["id"] for o in flow("critical_service_subflow")["outputs"]}
    assert declared == {"order_count", "total_revenue", "avg_order_value", "avg_quantity"}
    parent = yaml.safe_dump(flow("parent_service"))
    used = set(re.findall(r"outputs\.call_critical_service\.outputs\.(\w+)", parent))
    assert used == declared
    assert {o["id"] for o in flow("parent_service")["outputs"]} == {"order_count", "avg_quantity"}
