"""The echo provider plugins are held to the real providers: the version the Python SDK asks for,
the real attribute names, the real replacements, and a Diff that shows what the program changes
(including a value that changes on every run) the way the engine then acts on it."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
from importlib import resources

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2_grpc

from tests.engine.conftest import ECHO_PROVIDERS, PROJECT_ID
from tests.engine.test_lifecycle import UP, summary


def sdk_plugin_version(name: str) -> str:
    """The plugin version the installed SDK pulumi-<name> asks the engine for (pulumi-plugin.json)."""
    spec = json.loads((resources.files(f"pulumi_{name}") / "pulumi-plugin.json").read_text())
    assert spec["resource"] is True and spec["name"] == name
    return spec["version"].lstrip("v")


@pytest.mark.parametrize("name", ECHO_PROVIDERS)
def test_each_echo_plugin_answers_GetPluginInfo_with_the_version_its_sdk_asks_for(name, echo_plugins):
    process = subprocess.Popen([str(echo_plugins.binary(name))], stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())  # a plugin prints its port first, as the engine expects
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = provider_pb2_grpc.ResourceProviderStub(channel).GetPluginInfo(empty_pb2.Empty(), timeout=30)
        assert info.version == sdk_plugin_version(name)
    finally:
        process.terminate()
        process.wait(timeout=30)


def echo_table(echo_plugins) -> dict:
    run = subprocess.run([str(echo_plugins.binary("gcp")), "-table"], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(run.stdout)


# pulumi-kubernetes' API groups as its Python modules; a group it does not know is a custom
# resource, registered by apiextensions.CustomResource as kubernetes:<apiVersion>:<kind>.
KUBERNETES_GROUPS = {"core": "core", "helm.sh": "helm", "networking.k8s.io": "networking", "apps": "apps",
                     "extensions": "extensions"}


def sdk_class(token: str):
    """The Python SDK class registered under a type or invoke token ("gcp:storage/bucket:Bucket")."""
    package, module_path, name = token.split(":")
    if package == "kubernetes":
        group, version = module_path.rsplit("/", 1)
        if group not in KUBERNETES_GROUPS:
            # A CustomResource's outputs are whatever the object holds; its Args name the
            # properties every custom resource has (apiVersion, kind, metadata).
            return importlib.import_module("pulumi_kubernetes.apiextensions").CustomResourceArgs
        module = importlib.import_module(f"pulumi_kubernetes.{KUBERNETES_GROUPS[group]}.{version}")
    else:
        module = importlib.import_module(f"pulumi_{package}" + ("" if module_path.startswith("index/") else "." + module_path.split("/")[0]))
    cls = getattr(module, name[0].upper() + name[1:] + ("Result" if name[0].islower() else ""))
    if not name[0].islower():
        source = inspect.getsource(cls)
        assert f"'{token}'" in source or f'"{token}"' in source, f"{cls} is not {token}"
    return cls


def attribute_names(cls) -> set[str]:
    """The wire names of a resource's properties, as its SDK's getters declare them."""
    return {getattr(member.fget, "_pulumi_name") for _, member in inspect.getmembers(cls)
            if isinstance(member, property) and hasattr(member.fget, "_pulumi_name")}


def test_every_computed_output_and_replacing_input_is_a_real_attribute(echo_plugins):
    table = echo_table(echo_plugins)
    assert set(table["providers"]) == set(ECHO_PROVIDERS)
    for token, row in table["types"].items():
        names = attribute_names(sdk_class(token))
        assert names, token
        for attr in row["computed"] + (row["replaces"] or []) + (row["replaceAllBut"] or []):
            assert attr in names, f"{token}: {attr} is not an attribute of the real provider ({sorted(names)})"
        assert set(row["secret"]) <= set(row["computed"])


def test_secret_outputs_are_those_the_sdks_mark_secret(echo_plugins):
    # The SDKs list a resource's sensitive outputs in additional_secret_outputs.
    table = echo_table(echo_plugins)
    for token, row in table["types"].items():
        source = inspect.getsource(sdk_class(token))
        marked = re.search(r"additional_secret_outputs=\[([^\]]*)\]", source)
        sdk_secret = set(re.findall(r'"(\w+)"', marked.group(1))) if marked else set()
        assert set(row["secret"]) == sdk_secret & set(row["computed"]), token


# The fields each invoke answers with (tools/pulumi/cmd/pulumi-resource-echo: table.go, refusals_network.go).
INVOKE_FIELDS = {
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": {"emailAddress", "member", "project", "id"},
    "gcp:compute/getNetwork:getNetwork": {"id", "name", "project", "description", "selfLink", "gatewayIpv4",
                                          "subnetworksSelfLinks"},
    "gcp:compute/getNetworkPeering:getNetworkPeering": {"id", "name", "network", "peerNetwork", "state", "stateDetails"},
    "gcp:compute/getZones:getZones": {"id", "project", "region", "names"},
}


def test_the_invokes_answer_with_the_real_result_fields(echo_plugins):
    table = echo_table(echo_plugins)
    assert set(INVOKE_FIELDS) <= set(table["invokes"])
    for token, fields in INVOKE_FIELDS.items():
        assert fields <= attribute_names(sdk_class(token)), token


def test_a_value_that_changes_on_every_run_is_a_perpetual_diff(local_project):
    runtime = local_project.dir / "infra" / "runtimes" / "docker.py"
    source = runtime.read_text()
    edited = source.replace('driver="bridge",', 'driver="bridge", labels=[docker.NetworkLabelArgs(label="at", value=str(__import__("time").time_ns()))],', 1)
    assert edited != source
    runtime.write_text(edited)
    local_project.pulumi(*UP)
    for _ in range(2):
        run = local_project.pulumi("preview", "--expect-no-changes", "--diff", check=False)
        assert run.returncode != 0, run.output
        assert "~ docker:index/network:Network: (update)" in run.output, run.output
        assert re.search(r"~ 1 to update", run.output) and re.search(r'~ value: "\d+" => "\d+"', run.output), run.output
        local_project.pulumi(*UP)


def test_a_change_the_real_provider_forces_new_replaces_and_one_it_updates_does_not(gcp_project):
    gcp_project.pulumi(*UP)
    gcp_project.reset_echo_log()
    # bucket `name` is ForceNew in google_storage_bucket; `labels` update in place.
    gcp_project.set_config({"bucketName": f"{PROJECT_ID}-data"})
    gcp_project.pulumi("config", "set", "--path", "labels.team", "data")
    up = gcp_project.pulumi(*UP, "--diff")
    assert "+-gcp:storage/bucket:Bucket: (replace)" in up.output, up.output
    log = gcp_project.echo_log()
    bucket_ops = [e["op"] for e in log if e["type"] == "gcp:storage/bucket:Bucket"]
    assert bucket_ops == ["create", "delete"], log  # replaced: the new one first, then the old one
    topic_ops = [e["op"] for e in log if e["type"] == "gcp:pubsub/topic:Topic"]
    assert topic_ops == ["update"]  # labels changed in place
    assert gcp_project.stack_outputs()["bucketUrl"] == f"gs://{PROJECT_ID}-data"
    gcp_project.pulumi("preview", "--expect-no-changes")


def test_a_resource_type_without_a_row_in_the_table_stops_the_preview_naming_it(local_project):
    main = local_project.dir / "__main__.py"
    main.write_text(main.read_text() + '\nimport pulumi_random\npulumi_random.RandomString("probe", length=8)\n')
    run = local_project.pulumi("preview", check=False)
    assert run.returncode != 0
    assert "the echo plugin random has no row for resource type random:index/randomString:RandomString" in run.output, run.output


def test_a_changed_secret_value_replaces_the_kubernetes_secret_and_the_release_names_the_new_one(gke_project):
    # docs/gke.md: both Secrets get generated names; when a value changes Pulumi replaces
    # the Secret (pulumi-kubernetes: Secrets are immutable unless enableSecretMutable), the chart's
    # values name the new one and the pods roll. Names as pulumi-kubernetes gives them:
    # <resource name>-<8 hex>, annotated pulumi.com/autonamed.
    from tests.engine.conftest import ECHO_STORE_ENV
    from tests.support.echo_cloud import live_resources

    store = gke_project.env[ECHO_STORE_ENV]
    gke_project.set_config({"githubToken": "ghp_" + "1" * 36}, secret=True)
    gke_project.pulumi(*UP)

    def secret_env_name() -> str:
        [secret] = [r for r in live_resources(store, "kubernetes:core/v1:Secret") if "::secret-env" in r["urn"]]
        assert secret["outputs"]["metadata"]["annotations"]["pulumi.com/autonamed"] == "true"
        assert re.fullmatch(r"secret-env-[0-9a-f]{8}", secret["outputs"]["metadata"]["name"])
        return secret["outputs"]["metadata"]["name"]

    def release_env_from() -> str:
        [release] = live_resources(store, "kubernetes:helm.sh/v3:Release")
        [source] = release["outputs"]["values"]["common"]["extraEnvFrom"]
        return source["secretRef"]["name"]

    before = secret_env_name()
    assert release_env_from() == before
    gke_project.reset_echo_log()
    gke_project.set_config({"githubToken": "ghp_" + "2" * 36}, secret=True)
    up = gke_project.pulumi(*UP, "--diff")
    assert "+-kubernetes:core/v1:Secret: (replace)" in up.output, up.output
    log = gke_project.echo_log()
    assert [e["op"] for e in log if e["type"] == "kubernetes:core/v1:Secret"] == ["create", "delete"]  # new first
    assert [e["op"] for e in log if e["type"] == "kubernetes:helm.sh/v3:Release"] == ["update"]  # helm upgrade
    after = secret_env_name()
    assert after != before and release_env_from() == after
    gke_project.pulumi("preview", "--expect-no-changes")


def test_only_a_new_cluster_replaces_the_kubernetes_provider_and_the_objects_in_it(gke_project):
    # docs/gke.md, "The Kubernetes provider and its credentials": clusterIdentifier is the cluster's id, so
    # only a new cluster replaces the provider and the objects in it (pulumi-kubernetes replaces a
    # provider only when clusterIdentifier changes). `location` is ForceNew for google_container_cluster.
    gke_project.pulumi(*UP)
    gke_project.reset_echo_log()
    gke_project.set_config({"gkeMachineType": "e2-standard-8"})  # the node pool changes, the cluster does not
    up = gke_project.pulumi(*UP, "--diff")
    assert "pulumi:providers:kubernetes" not in {l.split(":", 1)[0] for l in up.output.splitlines()}
    changed = {(e["type"], e["op"]) for e in gke_project.echo_log()}
    assert ("gcp:container/nodePool:NodePool", "update") in changed
    assert not {t for t, _ in changed if t.startswith("kubernetes:")}, changed
    assert not {t for t, op in changed if op != "update"}, changed

    gke_project.reset_echo_log()
    gke_project.set_config({"gkeLocation": "europe-west2-c"})  # a new cluster
    up = gke_project.pulumi(*UP, "--diff")
    assert "+-pulumi:providers:kubernetes: (replace)" in up.output, up.output
    log = gke_project.echo_log()
    replaced = {e["type"] for e in log if e["op"] == "delete"}
    assert {"gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool", "kubernetes:core/v1:Namespace",
            "kubernetes:core/v1:Secret", "kubernetes:core/v1:ConfigMap", "kubernetes:cloud.google.com/v1:BackendConfig",
            "kubernetes:helm.sh/v3:Release"} <= replaced
    assert "gcp:sql/databaseInstance:DatabaseInstance" not in replaced  # Cloud SQL does not depend on the cluster
    gke_project.pulumi("preview", "--expect-no-changes")
