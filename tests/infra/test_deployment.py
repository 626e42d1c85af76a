"""FlowsDeployment under mocks: one resource per namespace holding its flows, one per namespace file,
KV entry and dashboard; ordering and secrets."""

from pathlib import Path

import pytest
import yaml

from infra.kv_and_secrets import COMMON_KV_KEYS, GCP_KV_KEYS, KV_KEYS
from infra.deployment import FlowsDeployment, FlowsDeploymentArgs, FlowsTreeError
from kestra.resources import KestraConnection
from tests.support.pulumi_harness import REPO_ROOT, run_stack

FLOWS_T = "pulumi-python:dynamic/kestra:NamespaceFlows"
OLD_FLOW_T = "pulumi-python:dynamic/kestra:Flow"  # one resource per flow: programs before NamespaceFlows
FILE_T = "pulumi-python:dynamic/kestra:NamespaceFile"
KV_T = "pulumi-python:dynamic/kestra:KvEntry"
DASH_T = "pulumi-python:dynamic/kestra:Dashboard"
KESTRA_TYPES = (FLOWS_T, FILE_T, KV_T, DASH_T)
PROJECT = "acme-data-123"

# The repository's flow catalogue, written out here rather than derived by the code under test.
# README: without GCP "just Kestra + Postgres ... and the flows that need no cloud (Python, Java,
# subflows, Git)"; everything that reads a GCP KV value or runs a GCP task is skipped.
LOCAL_FLOWS = {
    "dev.testing/critical_service_subflow",
    "dev.testing/parent_service",
    "dev.testing/git_namespace_sync",
    "dev.testing/java_hello_world",
    "dev.testing/java_maven_project",
    "dev.testing/java_namespace_file",
    "dev.testing/python_inline_pandas",
    "dev.testing/python_multi_step",
    "dev.testing/python_namespace_file",
    "gcp.ecommerce/debug_demo",  # logs and fails on purpose: no cloud call
    "system/tenant_sync",  # Kestra's own API and Git
}
GCP_FLOWS = {
    "dev.testing/gcs_connection_test",
    "gcp.ecommerce/ingest_clean",
    "gcp.yellowcab/event_ingest",
    "gcp.yellowcab/fetch_data",
    "gcp.yellowcab/parallel_pipeline",
    "gcp.yellowcab/parallel_pipeline_transform",
    "gcp.yellowcab/retry_rollback",
    "gcp.yellowcab/retry_rollback_insert",
    "gcp.yellowcab/sequential_ingest",
}
ALL_FLOWS = LOCAL_FLOWS | GCP_FLOWS
NAMESPACE_FILES = {
    ("dev.testing", "/java/DataProcessor.java"),
    ("dev.testing", "/maven/pom.xml"),
    ("dev.testing", "/maven/src/main/java/com/example/MavenDataProcessor.java"),
    ("dev.testing", "/scripts/process_sales_data.py"),
}
DASHBOARDS = {"dashboards/gcp_walkthrough_overview"}
NAMESPACES = {"dev.testing", "gcp.ecommerce", "gcp.yellowcab", "system"}
DEMO_FLOW = "gcp.ecommerce/debug_demo"


@pytest.fixture(scope="module")
def gcp_run():
    return run_stack({"gcp:project": PROJECT})


@pytest.fixture(scope="module")
def local_run():
    return run_stack({})


def flow_properties(resource) -> dict[str, str]:
    """The flows a NamespaceFlows resource holds: property `<namespace>/<flow_id>` → YAML source."""
    return {k: v for k, v in resource.inputs.items() if "/" in k}


def deployed_flows(run) -> dict[str, tuple[str, str]]:
    """Every flow deployed: `<namespace>/<flow_id>` → (the resource holding it, its source)."""
    found: dict[str, tuple[str, str]] = {}
    for resource in run.of_type(FLOWS_T):
        for key, source in flow_properties(resource).items():
            assert key not in found, f"{key} is held twice"
            found[key] = (resource.name, source)
    return found


def test_every_flow_file_and_dashboard_becomes_a_resource(gcp_run):
    assert gcp_run.of_type(OLD_FLOW_T) == []
    sets = {r.name: r for r in gcp_run.of_type(FLOWS_T)}
    assert set(sets) == {f"{ns}/flows" for ns in NAMESPACES}  # one per namespace
    for name, flow_set in sets.items():
        namespace = name.removesuffix("/flows")
        assert flow_set.inputs["namespace"] == namespace
        # The provider names each flow's file in its errors as <directory>/<id>.yaml.
        assert flow_set.inputs["directory"] == f"flows/{namespace}"
        assert flow_set.parent_type == "kestra-gcp:infra:FlowsDeployment"
    flows = deployed_flows(gcp_run)
    assert set(flows) == ALL_FLOWS
    for key, (holder, source) in flows.items():
        namespace, flow_id = key.split("/")
        assert holder == f"{namespace}/flows"
        origin = f"{sets[holder].inputs['directory']}/{flow_id}.yaml"
        assert (REPO_ROOT / origin).is_file(), origin
        if key != DEMO_FLOW:
            assert source == (REPO_ROOT / origin).read_text(encoding="utf-8"), "flows are deployed byte for byte"
    files = {(r.inputs["namespace"], r.inputs["path"]) for r in gcp_run.of_type(FILE_T)}
    assert files == NAMESPACE_FILES
    for r in gcp_run.of_type(FILE_T):
        on_disk = REPO_ROOT / "flows" / r.inputs["namespace"] / "files" / r.inputs["path"].lstrip("/")
        assert r.inputs["content"] == on_disk.read_text(encoding="utf-8"), r.name
        # The provider names the file in its errors (Kestra refusing it, drift on refresh).
        assert r.inputs["origin"] == on_disk.relative_to(REPO_ROOT).as_posix(), r.name
    for r in gcp_run.of_type(DASH_T):
        assert r.inputs["origin"] == f"flows/gcp.ecommerce/{r.name}.yaml"
    assert {r.name for r in gcp_run.of_type(DASH_T)} == DASHBOARDS


def test_each_namespace_with_flows_gets_every_kv_key(gcp_run):
    entries = gcp_run.of_type(KV_T)
    by_namespace = {}
    for entry in entries:
        by_namespace.setdefault(entry.inputs["namespace"], set()).add(entry.inputs["key"])
    assert set(by_namespace) == NAMESPACES
    assert all(keys == set(KV_KEYS) for keys in by_namespace.values())
    values = {e.inputs["key"]: e.inputs["value"] for e in entries if e.inputs["namespace"] == "dev.testing"}
    assert values == {
        "GCP_PROJECT_ID": PROJECT,
        "GCP_LOCATION": "europe-west2",
        "GCS_BUCKET": f"{PROJECT}-kestra",
        "BQ_DATASET_KESTRA_TEST": "kestra_test",
        "BQ_DATASET_RAW": "raw",
        "BQ_DATASET_CLEAN": "clean",
        "BQ_DATASET_YELLOWCAB": "YellowCab",
        "BQ_DATASET_YC_RETRY": "yc_retry",
        "PUBSUB_TOPIC": "file-upload-events",
        "PUBSUB_SUBSCRIPTION": "file-upload-sub",
        "GIT_REPOSITORY_URL": "https://github.com/kestra-io/flows",
        "GIT_BRANCH": "main",
        "KESTRA_INTERNAL_URL": "http://kestra:8080",
    }


def test_everything_waits_for_healthy_kestra_and_the_gcp_grants(gcp_run):
    kestra = gcp_run.one("docker:index/container:Container", "kestra-kestra")
    # Depending on a component means depending on each of its children: every grant, the
    # notification, the bucket objects.
    awaited = [r for r in gcp_run.resources if r.parent_type in (
        "kestra-gcp:infra:KestraIdentity", "kestra-gcp:infra:UploadEvents", "kestra-gcp:infra:Storage")]
    assert any(r.type == "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember" for r in awaited)
    for r in [r for r in gcp_run.resources if r.type in KESTRA_TYPES]:
        assert kestra.urn in r.dependencies, r.name
        assert all(a.urn in r.dependencies for a in awaited), r.name


def test_flows_wait_for_their_namespace_kv_and_files(gcp_run):
    urns = {r.name: r.urn for r in gcp_run.resources if r.type in KESTRA_TYPES}
    for flow_set in gcp_run.of_type(FLOWS_T):
        namespace = flow_set.inputs["namespace"]
        for key in KV_KEYS:
            assert urns[f"{namespace}/kv/{key}"] in flow_set.dependencies, (namespace, key)
        for other in NAMESPACES - {namespace}:
            assert urns[f"{other}/kv/GCS_BUCKET"] not in flow_set.dependencies, (namespace, other)
    dev = gcp_run.one(FLOWS_T, "dev.testing/flows")
    for namespace, path in NAMESPACE_FILES:
        assert urns[f"{namespace}/files{path}"] in dev.dependencies
    # parent_service calls critical_service_subflow in its own namespace: both in one resource,
    # whose provider writes the callee first (tests/kestra/test_namespace_flows.py).
    assert {"dev.testing/parent_service", "dev.testing/critical_service_subflow"} <= set(flow_properties(dev))


def test_connection_password_is_secret_everywhere(gcp_run):
    for r in [r for r in gcp_run.resources if r.type in KESTRA_TYPES]:
        assert r.is_secret("password"), r.name
        assert r.inputs["url"] == "http://127.0.0.1:8080"
        assert r.inputs["username"] == "admin@kestra.io"


def test_local_profile_skips_gcp_flows_and_gcp_kv(local_run):
    assert set(deployed_flows(local_run)) == LOCAL_FLOWS
    # A namespace whose every flow is skipped gets no resource.
    assert {r.name for r in local_run.of_type(FLOWS_T)} == {f"{f.split('/')[0]}/flows" for f in LOCAL_FLOWS}
    assert set(local_run.outputs["skippedFlows"]) == GCP_FLOWS
    keys = {e.inputs["key"] for e in local_run.of_type(KV_T)}
    assert keys == set(COMMON_KV_KEYS) and not keys & set(GCP_KV_KEYS)


def test_flow_resources_are_exported(gcp_run):
    assert gcp_run.outputs["flows"] == sorted(ALL_FLOWS)


# --- a private flows tree, to prove naming stability and file removal -------------------------

def _tree(root: Path, names, calls=()):
    """Flows (namespace, id) under `root`; `calls` lists (caller, callee) pairs of (namespace, id)
    where the caller runs the callee as a subflow."""
    for ns, fid in names:
        path = root / ns / f"{fid}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        tasks = "".join(f"  - id: call_{i}\n    type: io.kestra.plugin.core.flow.Subflow\n"
                        f"    namespace: {c_ns}\n    flowId: {c_id}\n"
                        for i, (caller, (c_ns, c_id)) in enumerate(calls) if caller == (ns, fid))
        path.write_text(f"id: {fid}\nnamespace: {ns}\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
                        f"    message: hi\n{tasks}")
    return root


def _deploy(flows_dir, **extra):
    def program():
        FlowsDeployment(
            "flows",
            FlowsDeploymentArgs(
                flows_dir=flows_dir,
                connection=KestraConnection(url="http://127.0.0.1:8080", username="admin@kestra.io", password="Abcdefg12"),
                kv_values={"GIT_BRANCH": "main"},
                include_gcp=True,
                **extra,
            ),
        )

    return run_stack({}, program=program)


def _names(run):
    """Resources (type, name), and each flow as ("flow", its property, the resource holding it)."""
    names = {(r.type, r.name) for r in run.resources if r.type in KESTRA_TYPES}
    return names | {("flow", key, holder) for key, (holder, _) in deployed_flows(run).items()}


def test_adding_a_file_renames_nothing_and_removing_one_drops_only_it(tmp_path):
    flows_dir = _tree(tmp_path / "flows", [("b.ns", "beta"), ("b.ns", "gamma")])
    before = _names(_deploy(flows_dir))
    _tree(flows_dir, [("a.ns", "alpha"), ("b.ns", "aardvark")])
    after_add = _names(_deploy(flows_dir))
    assert before < after_add
    assert after_add - before == {
        (FLOWS_T, "a.ns/flows"), ("flow", "a.ns/alpha", "a.ns/flows"), ("flow", "b.ns/aardvark", "b.ns/flows"),
        (KV_T, "a.ns/kv/GIT_BRANCH"),
    }
    (flows_dir / "b.ns" / "gamma.yaml").unlink()
    assert after_add - _names(_deploy(flows_dir)) == {("flow", "b.ns/gamma", "b.ns/flows")}


def test_a_namespace_waits_for_the_namespaces_it_calls_but_not_for_one_calling_back(tmp_path):
    flows_dir = _tree(
        tmp_path / "flows",
        [("a.ns", "caller"), ("b.ns", "callee"), ("c.ns", "ping"), ("c.ns", "peng"), ("d.ns", "pong"),
         ("d.ns", "pang"), ("e.ns", "alone")],
        # c.ns and d.ns call each other without a flow cycle (which the program refuses).
        calls=[(("a.ns", "caller"), ("b.ns", "callee")),
               (("c.ns", "ping"), ("d.ns", "pong")), (("d.ns", "pang"), ("c.ns", "peng"))],
    )
    run = _deploy(flows_dir)
    sets = {r.name: r for r in run.of_type(FLOWS_T)}
    depends = {(a, b) for a in sets for b in sets if sets[b].urn in sets[a].dependencies}
    # a.ns's flows are written after b.ns's; namespaces calling each other cannot both wait, so
    # neither does (Kestra does not refuse a flow whose subflow is missing yet).
    assert depends == {("a.ns/flows", "b.ns/flows")}


DEMO = """\
id: debug_demo
namespace: gcp.ecommerce
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: every_10_minutes
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "*/10 * * * *"
    disabled: true
"""


@pytest.mark.parametrize("enabled", [False, True])
def test_demo_schedule_follows_the_stack(tmp_path, enabled):
    path = tmp_path / "flows" / "gcp.ecommerce" / "debug_demo.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(DEMO)
    run = _deploy(tmp_path / "flows", demo_schedule_enabled=enabled)
    source = run.one(FLOWS_T, "gcp.ecommerce/flows").inputs["gcp.ecommerce/debug_demo"]
    assert yaml.safe_load(source)["triggers"][0]["disabled"] is (not enabled)


def test_enabling_a_missing_demo_schedule_is_an_error(tmp_path):
    flows_dir = _tree(tmp_path / "flows", [("a.ns", "alpha")])
    with pytest.raises(FlowsTreeError, match="demoScheduleEnabled"):
        _deploy(flows_dir, demo_schedule_enabled=True)
