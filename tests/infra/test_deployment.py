"""FlowsDeployment under mocks: one resource per file, KV per namespace, ordering and secrets."""

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from infra.contract import COMMON_KV_KEYS, GCP_KV_KEYS, KV_KEYS
from infra.deployment import DEMO_SCHEDULE, FlowsDeployment, FlowsDeploymentArgs, FlowsTreeError, discover
from kestra.resources import KestraConnection
from tests.support.pulumi_harness import REPO_ROOT, run_stack

FLOW_T = "pulumi-python:dynamic/kestra:Flow"
FILE_T = "pulumi-python:dynamic/kestra:NamespaceFile"
KV_T = "pulumi-python:dynamic/kestra:KvEntry"
DASH_T = "pulumi-python:dynamic/kestra:Dashboard"
KESTRA_TYPES = (FLOW_T, FILE_T, KV_T, DASH_T)
PROJECT = "acme-data-123"
CATALOGUE = discover(REPO_ROOT / "flows")


@pytest.fixture(scope="module")
def gcp_run():
    return run_stack({"gcp:project": PROJECT})


@pytest.fixture(scope="module")
def local_run():
    return run_stack({})


def test_every_flow_file_and_dashboard_becomes_a_resource(gcp_run):
    flows = {r.name: r for r in gcp_run.of_type(FLOW_T)}
    assert set(flows) == {f"{f.namespace}/{f.flow_id}" for f in CATALOGUE.flows}
    for spec in CATALOGUE.flows:
        flow = flows[f"{spec.namespace}/{spec.flow_id}"]
        assert flow.inputs["namespace"] == spec.namespace
        assert flow.inputs["flow_id"] == spec.flow_id
        assert flow.inputs["origin"] == spec.origin
        if (spec.namespace, spec.flow_id) != DEMO_SCHEDULE[:2]:
            assert flow.inputs["source"] == spec.source, "flows are deployed byte for byte"
        assert flow.parent_type == "kestra-gcp:infra:FlowsDeployment"
    files = {(r.inputs["namespace"], r.inputs["path"]) for r in gcp_run.of_type(FILE_T)}
    assert files == {(f.namespace, f.path) for f in CATALOGUE.files}
    assert {r.name for r in gcp_run.of_type(DASH_T)} == {f"dashboards/{d.dashboard_id}" for d in CATALOGUE.dashboards}


def test_each_namespace_with_flows_gets_every_kv_key(gcp_run):
    entries = gcp_run.of_type(KV_T)
    by_namespace = {}
    for entry in entries:
        by_namespace.setdefault(entry.inputs["namespace"], set()).add(entry.inputs["key"])
    assert set(by_namespace) == set(CATALOGUE.namespaces)
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


def test_flows_wait_for_their_namespace_kv_files_and_subflows(gcp_run):
    urns = {r.name: r.urn for r in gcp_run.resources if r.type in KESTRA_TYPES}
    parent = gcp_run.one(FLOW_T, "dev.testing/parent_service")
    assert urns["dev.testing/critical_service_subflow"] in parent.dependencies
    assert urns["dev.testing/kv/GCS_BUCKET"] in parent.dependencies
    some_file = next(f for f in CATALOGUE.files if f.namespace == "dev.testing")
    assert urns[f"dev.testing/files{some_file.path}"] in parent.dependencies
    assert urns["gcp.ecommerce/kv/GCS_BUCKET"] not in parent.dependencies


def test_connection_password_is_secret_everywhere(gcp_run):
    for r in [r for r in gcp_run.resources if r.type in KESTRA_TYPES]:
        assert r.is_secret("password"), r.name
        assert r.inputs["url"] == "http://127.0.0.1:8080"
        assert r.inputs["username"] == "admin@kestra.io"


def test_local_profile_skips_gcp_flows_and_gcp_kv(local_run):
    gcp_flows = {f"{f.namespace}/{f.flow_id}" for f in CATALOGUE.flows if f.needs_gcp}
    deployed = {r.name for r in local_run.of_type(FLOW_T)}
    assert gcp_flows and not deployed & gcp_flows
    assert deployed == {f"{f.namespace}/{f.flow_id}" for f in CATALOGUE.flows} - gcp_flows
    assert set(local_run.outputs["skippedFlows"]) == gcp_flows
    keys = {e.inputs["key"] for e in local_run.of_type(KV_T)}
    assert keys == set(COMMON_KV_KEYS) and not keys & set(GCP_KV_KEYS)


def test_flow_resources_are_exported(gcp_run):
    assert gcp_run.outputs["flows"] == sorted(f"{f.namespace}/{f.flow_id}" for f in CATALOGUE.flows)


# --- a private flows tree, to prove naming stability and file removal -------------------------

def _tree(root: Path, names):
    for ns, fid in names:
        path = root / ns / f"{fid}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"id: {fid}\nnamespace: {ns}\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
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
    return {(r.type, r.name) for r in run.resources if r.type in KESTRA_TYPES}


def test_adding_a_file_renames_nothing_and_removing_one_drops_only_it(tmp_path):
    flows_dir = _tree(tmp_path / "flows", [("b.ns", "beta"), ("b.ns", "gamma")])
    before = _names(_deploy(flows_dir))
    _tree(flows_dir, [("a.ns", "alpha"), ("b.ns", "aardvark")])
    after_add = _names(_deploy(flows_dir))
    assert before < after_add
    assert after_add - before == {
        (FLOW_T, "a.ns/alpha"), (FLOW_T, "b.ns/aardvark"), (KV_T, "a.ns/kv/GIT_BRANCH"),
    }
    (flows_dir / "b.ns" / "gamma.yaml").unlink()
    assert after_add - _names(_deploy(flows_dir)) == {(FLOW_T, "b.ns/gamma")}


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
    source = run.one(FLOW_T, "gcp.ecommerce/debug_demo").inputs["source"]
    assert yaml.safe_load(source)["triggers"][0]["disabled"] is (not enabled)


def test_enabling_a_missing_demo_schedule_is_an_error(tmp_path):
    flows_dir = _tree(tmp_path / "flows", [("a.ns", "alpha")])
    with pytest.raises(FlowsTreeError, match="demoScheduleEnabled"):
        _deploy(flows_dir, demo_schedule_enabled=True)
