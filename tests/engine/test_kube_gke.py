"""The kube tier: the gke profile on the real engine, with the real Kubernetes provider against a
real kube-apiserver (tests/support/kube_control_plane.py) and the GCP half on the echo gcp plugin.

The provider reaches the apiserver as users' does: through the kubeconfig the stack renders from
the cluster's endpoint and CA (infra/runtimes/gke/cluster.py), which runs `gke-gcloud-auth-plugin`.
The chart's pods run on a kwok node, so the release's wait (Helm's, every Deployment ready) runs
for real. What Kubernetes holds is read back from the apiserver, never from Pulumi's state:

- no password in any ConfigMap (docs/gke.md: configurations.application is a ConfigMap, the
  secrets go to a Secret mounted as a second configuration file);
- the Workload Identity annotation on the chart's ServiceAccount (GKE docs, "Authenticate to
  Google Cloud APIs from GKE workloads": iam.gke.io/gcp-service-account);
- the Ingress on the reserved address with the endpoint's certificate (GKE docs, "Using Google-
  managed / pre-shared certificates": ingress.gcp.kubernetes.io/pre-shared-cert,
  kubernetes.io/ingress.global-static-ip-name);
- the components the chart runs, with their command lines (charts/kestra/templates/deployment.yaml:
  `exec /app/kestra server <component>`).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import time

import pytest
import yaml

from tests.engine.conftest import ECHO_STORE_ENV, KESTRA_CHART_ENV, PROJECT_ID
from tests.engine.test_lifecycle import UP, summary
from tests.support import real_kestra
from tests.support.echo_cloud import live_resources

pytestmark = pytest.mark.kube

NAMESPACE = "kestra"  # infra/runtimes/gke/kestra.py NAMESPACE, docs/gke.md
COMPONENTS = ("webserver", "executor", "scheduler", "worker")  # distributed, docs/gke.md
SECRET_CONFIG_FILES = "/app/confs/_default.yml,/app/secrets/secrets.yml"  # chart's kestra.micronautConfigFiles
GITHUB_TOKEN = "ghp_kubeTierToken000000000000000000001"
ROTATED_GITHUB_TOKEN = "ghp_kubeTierToken000000000000000000002"
_SIG_KEY = "4dabf18193072939515e22adb298388d"


def _plain(value):
    """A value of `stack export --show-secrets` with the secret envelopes opened."""
    if isinstance(value, dict):
        if _SIG_KEY in value and "plaintext" in value:
            return _plain(json.loads(value["plaintext"]))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def state_resources(project) -> list[dict]:
    exported = project.pulumi("stack", "export", "--show-secrets").json()
    return [_plain(r) for r in exported["deployment"].get("resources", [])]


def one_output(resources, type_: str, name: str) -> dict:
    [found] = [r for r in resources if r["type"] == type_ and r["urn"].endswith(f"::{name}")]
    return found["outputs"]


def baseline(plane) -> dict:
    """What the apiserver holds before the stack: namespaces, cluster-wide objects of kinds the
    chart or the stack could create."""
    return {
        "namespaces": sorted(n["metadata"]["name"] for n in plane.items("/api/v1/namespaces")),
        "backendconfigs": plane.items("/apis/cloud.google.com/v1/backendconfigs"),
        "clusterroles": sorted(r["metadata"]["name"] for r in plane.items("/apis/rbac.authorization.k8s.io/v1/clusterroles")),
        "clusterrolebindings": sorted(
            r["metadata"]["name"] for r in plane.items("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")),
        "persistentvolumes": plane.items("/api/v1/persistentvolumes"),
    }


def wait_for(what: str, check, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(1)


def deployments(plane) -> dict:
    return {d["metadata"]["name"]: d for d in plane.items(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")}


def release_revisions(plane) -> list[int]:
    """Helm's release records (Secrets sh.helm.release.v1.<release>.v<revision>, owner=helm)."""
    secrets = plane.items(f"/api/v1/namespaces/{NAMESPACE}/secrets", labelSelector="owner=helm,name=kestra")
    return sorted(int(s["metadata"]["labels"]["version"]) for s in secrets)


def assert_what_kubernetes_holds(plane, project, passwords: list[str]) -> dict:
    resources = state_resources(project)
    outputs = project.stack_outputs()

    # No password in any ConfigMap, of any namespace.
    config_maps = plane.items("/api/v1/configmaps")
    for config_map in config_maps:
        text = json.dumps(config_map.get("data") or {})
        for password in passwords:
            assert password not in text, f"a password is in ConfigMap {config_map['metadata']['name']}"
    [application] = [c for c in config_maps if c["metadata"]["namespace"] == NAMESPACE
                     and c["metadata"]["name"] == "kestra-config"]  # templates/configmap.yaml: <fullname>-config
    rendered = yaml.safe_load(application["data"]["_default.yml"])
    assert "password" not in rendered["datasources"]["postgres"]
    assert "password" not in rendered["kestra"]["server"]["basic-auth"]

    # The Workload Identity annotation on the chart's ServiceAccount.
    account = plane.get(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/kestra")
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == outputs["serviceAccountEmail"]
    assert outputs["serviceAccountEmail"] == f"kestra-sa@{PROJECT_ID}.iam.gserviceaccount.com"

    # The Ingress: the reserved address, the endpoint's certificate, HTTPS only, to the chart's Service.
    ingress = plane.get(f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/kestra")
    annotations = ingress["metadata"]["annotations"]
    certificate = one_output(resources, "gcp:compute/sSLCertificate:SSLCertificate", "certificate")
    [address] = [r["outputs"] for r in resources if r["type"] == "gcp:compute/globalAddress:GlobalAddress"
                 and r["outputs"].get("addressType") == "EXTERNAL"]
    assert annotations["ingress.gcp.kubernetes.io/pre-shared-cert"] == certificate["name"]
    assert annotations["kubernetes.io/ingress.global-static-ip-name"] == address["name"]
    assert address["address"] == outputs["kestraAddress"]
    assert annotations["kubernetes.io/ingress.allow-http"] == "false"
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "kestra", "port": {"number": 8080}}
    service = plane.get(f"/api/v1/namespaces/{NAMESPACE}/services/kestra")
    assert json.loads(service["metadata"]["annotations"]["cloud.google.com/neg"]) == {"ingress": True}
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "webserver"

    # The components, with the chart's command lines, all ready (the release waited for them).
    found = deployments(plane)
    assert sorted(found) == sorted(f"kestra-{c}" for c in COMPONENTS)
    config_secret = None
    for component in COMPONENTS:
        deployment = found[f"kestra-{component}"]
        spec = deployment["spec"]["template"]["spec"]
        kestra = next(c for c in spec["containers"] if c["name"] == f"kestra-{component}")
        assert kestra["command"][:2] == ["sh", "-c"]
        assert kestra["command"][2].split()[:3] == ["exec", "/app/kestra", "server"]
        assert kestra["command"][2].split()[3] == component
        env = {e["name"]: e.get("value") for e in kestra["env"]}
        assert env["MICRONAUT_CONFIG_FILES"] == SECRET_CONFIG_FILES
        assert spec["serviceAccountName"] == "kestra"
        status = deployment["status"]
        assert status.get("readyReplicas") == deployment["spec"]["replicas"] == status.get("updatedReplicas"), status
        [secret_volume] = [v for v in spec["volumes"] if "secret" in v]
        config_secret = secret_volume["secret"]["secretName"]
        if component == "worker":
            assert env["DOCKER_HOST"] == "unix:///dind/docker.sock"
            [dind] = [c for c in spec["containers"] if c["name"].endswith("-docker-dind")]
            assert dind["securityContext"]["privileged"] is True  # --allow-privileged=true, as GKE Standard
    # The mounted configuration Secret holds what the ConfigMap does not.
    held = plane.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{config_secret}")
    assert "secrets.yml" in held["data"]
    pods = plane.items(f"/api/v1/namespaces/{NAMESPACE}/pods")
    assert len(pods) == len(COMPONENTS)
    for pod in pods:
        assert pod["spec"]["nodeName"] == "kwok-node-0"
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
    return found


def assert_nothing_of_ours(plane, before: dict) -> None:
    """`destroy` left the apiserver as the stack found it: no namespace of ours, no Helm release, no
    BackendConfig, nothing cluster-wide."""
    wait_for("namespace kestra is gone", lambda: not plane.exists(f"/api/v1/namespaces/{NAMESPACE}"))
    assert baseline(plane) == before
    assert plane.items("/api/v1/pods") == []
    assert plane.items("/apis/apps/v1/deployments") == []
    assert plane.items("/api/v1/secrets", labelSelector="owner=helm") == []


def test_gke_lifecycle_on_the_real_kubernetes_provider(kube_project, kube_standin, kube_control_plane):
    plane, project = kube_control_plane, kube_project
    before = baseline(plane)
    project.set_config({"githubToken": GITHUB_TOKEN}, secret=True)

    up = project.pulumi(*UP)
    chart = project.pulumi("config", "get", "gkeChartRepository").stdout.strip()
    print(f"[kube] up {up.seconds:.1f} s, chart {chart}" + (f" ({KESTRA_CHART_ENV})" if os.environ.get(KESTRA_CHART_ENV) else ""))
    resources = state_resources(project)
    database_password = one_output(resources, "gcp:sql/user:User", "user")["password"]
    passwords = [kube_standin.password, database_password, GITHUB_TOKEN]
    first = assert_what_kubernetes_holds(plane, project, passwords)
    assert release_revisions(plane) == [1]

    # A second preview finds nothing to do: the real provider reports no diff.
    preview = project.pulumi("preview", "--expect-no-changes", "--diff")
    print(f"[kube] no-op preview {preview.seconds:.1f} s")

    # A changed secret rolls the release: a new Secret (a generated name), the Deployments point at
    # it, new pods come up ready, and the old Secret is gone.
    env_secret = first["kestra-webserver"]["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"]
    project.set_config({"githubToken": ROTATED_GITHUB_TOKEN}, secret=True)
    rolled = project.pulumi(*UP)
    print(f"[kube] secret rotation {rolled.seconds:.1f} s: {summary(rolled)}")
    after = assert_what_kubernetes_holds(plane, project, [*passwords[:2], ROTATED_GITHUB_TOKEN])
    assert release_revisions(plane) == [1, 2]
    for name, deployment in after.items():
        assert deployment["metadata"]["generation"] > first[name]["metadata"]["generation"], name
        new_secret = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"]
        assert new_secret != env_secret, name
    assert not plane.exists(f"/api/v1/namespaces/{NAMESPACE}/secrets/{env_secret}")
    new_env = plane.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{new_secret}")
    # Kestra OSS reads SECRET_<NAME> as base64 of the value (kestra/config.py secret_env); the
    # apiserver's data is base64 of that.
    assert base64.b64decode(new_env["data"]["SECRET_GITHUB_TOKEN"]) == base64.b64encode(ROTATED_GITHUB_TOKEN.encode())

    # refresh reads every object back from the apiserver and finds no drift; no-op afterwards too.
    refresh = project.pulumi("refresh", "--yes", "--expect-no-changes")
    print(f"[kube] refresh {refresh.seconds:.1f} s")
    project.pulumi("preview", "--expect-no-changes")

    destroy = project.pulumi("destroy", "--yes")
    print(f"[kube] destroy {destroy.seconds:.1f} s")
    assert_nothing_of_ours(plane, before)
    assert kube_standin.control("GET", "state") == {"flows": [], "files": [], "kv": [], "dashboards": []}


def test_keep_data_keeps_the_cloud_data_and_leaves_the_cluster_empty(kube_project, kube_standin, kube_control_plane):
    plane, project = kube_control_plane, kube_project
    before = baseline(plane)
    project.set_config({"keepData": True})
    project.pulumi(*UP)
    assert deployments(plane)
    project.pulumi("destroy", "--yes")
    # docs/keeping-data.md, "On GKE": the data lives in Cloud SQL and GCS, which are kept; nothing
    # of the stack is left in the cluster (the cluster itself is deleted).
    assert_nothing_of_ours(plane, before)
    kept = {(r["type"], r["urn"].rsplit("::", 1)[1]) for r in live_resources(project.env[ECHO_STORE_ENV])}
    assert ("gcp:sql/databaseInstance:DatabaseInstance", "instance") in kept
    assert ("gcp:storage/bucket:Bucket", "internal-storage") in kept
    assert not any(t == "gcp:container/cluster:Cluster" for t, _ in kept)


MISSING_KESTRA = real_kestra.missing()


def _decoded(secret: dict) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


@pytest.mark.real_kestra
@pytest.mark.skipif(MISSING_KESTRA is not None, reason=f"{MISSING_KESTRA}; {real_kestra.HOW_TO_GET}")
def test_what_the_apiserver_holds_boots_a_real_kestra_and_runs_a_flow(kube_project, kube_standin, kube_control_plane):
    """The configuration as Kubernetes holds it after `up` — the ConfigMap, the mounted configuration
    Secret, the environment Secret and each Deployment's command line and variables, all read back
    from the apiserver — boots a real Kestra 1.1 on PostgreSQL, one JVM per Deployment, and runs a
    flow to SUCCESS. Replaced, and only these (tests/real_kestra, the same rule): the database host
    and the CA path (Cloud SQL's private IP and the ConfigMap mount do not exist here), the internal
    storage (GCS needs Google), the mount paths of the two files, and each JVM's ports."""
    from tests.real_kestra.test_rendered_configuration_boots import (
        assert_only_database_and_storage_replaced, ports as free_ports, postgres_port, run_flow)

    plane, project = kube_control_plane, kube_project
    workdir = real_kestra.workdir("kestra-kube-")
    jvms: list[real_kestra.KestraJvm] = []
    pg = None
    try:
        project.pulumi(*UP)
        database_password = one_output(state_resources(project), "gcp:sql/user:User", "user")["password"]
        public = plane.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/kestra-config")["data"]["_default.yml"]
        found = deployments(plane)
        assert sorted(found) == sorted(f"kestra-{c}" for c in COMPONENTS)
        pods = {}
        for component in COMPONENTS:
            spec = found[f"kestra-{component}"]["spec"]["template"]["spec"]
            kestra = next(c for c in spec["containers"] if c["name"] == f"kestra-{component}")
            # `sh -c "exec /app/kestra server <component> \\ ..."`: the launcher's arguments, with the
            # script's line continuations joined as sh joins them.
            arguments = shlex.split(kestra["command"][2].replace("\\\n", " "))
            assert arguments[:2] == ["exec", "/app/kestra"]
            [config_volume] = [v for v in spec["volumes"] if "secret" in v]
            env_secrets = [f["secretRef"]["name"] for f in kestra.get("envFrom") or [] if "secretRef" in f]
            pods[component] = {
                "args": arguments[2:],
                "env": {e["name"]: e["value"] for e in kestra.get("env") or [] if "value" in e},
                "config_secret": config_volume["secret"]["secretName"],
                "env_secrets": env_secrets,
            }
        [config_secret] = {p["config_secret"] for p in pods.values()}
        secret = _decoded(plane.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{config_secret}"))["secrets.yml"]

        pg = real_kestra.Postgres(workdir / "pg", postgres_port(), database_password, tls=True).start()
        storage = workdir / "storage"
        booted_public = real_kestra.local_database_and_storage(public, port=pg.port, storage=storage, ca_file=pg.ca_file)
        assert_only_database_and_storage_replaced(public, booted_public)
        assert "sslmode=verify-ca" in yaml.safe_load(booted_public)["datasources"]["postgres"]["url"]
        files = {"/app/confs/_default.yml": workdir / "confs" / "_default.yml",
                 "/app/secrets/secrets.yml": workdir / "secrets" / "secrets.yml"}
        files["/app/confs/_default.yml"].parent.mkdir()
        files["/app/secrets/secrets.yml"].parent.mkdir()
        files["/app/confs/_default.yml"].write_text(booted_public)
        files["/app/secrets/secrets.yml"].write_text(secret)

        free = iter(free_ports(2 * len(pods)))
        ports = {}
        for component, pod in sorted(pods.items()):
            env = {}
            for name in pod["env_secrets"]:
                env.update(_decoded(plane.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")))
            env.update(pod["env"])
            mounted = env["MICRONAUT_CONFIG_FILES"].split(",")
            assert set(mounted) <= set(files), mounted
            env["MICRONAUT_CONFIG_FILES"] = ",".join(str(files[path]) for path in mounted)
            ports[component] = (next(free), next(free))
            jvms.append(real_kestra.KestraJvm(pod["args"], env, api_port=ports[component][0],
                                              management_port=ports[component][1],
                                              log=workdir / f"{component}.log").start())
        for jvm in jvms:
            jvm.wait_healthy()
        execution = run_flow(f"http://127.0.0.1:{ports['webserver'][0]}", kube_standin.username, kube_standin.password)
        assert execution["state"]["current"] == "SUCCESS", execution
        connections, encrypted = pg.connections(), pg.ssl_connections()
        assert connections > 0 and encrypted == connections
        print(f"\n[kube] read back from the apiserver, booted {', '.join(' '.join(j.args) for j in jvms)} on "
              f"PostgreSQL {pg.version()}: flow SUCCESS, {connections} connections over SSL")
    finally:
        for jvm in jvms:
            jvm.stop()
        if pg is not None:
            pg.stop()
        project.pulumi("destroy", "--yes")
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
