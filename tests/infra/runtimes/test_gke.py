"""The gke profile as the real program registers it under mocks: Kestra distributed on GKE with
Kestra's Helm chart, Cloud SQL and GCS, keyless.

Expected values come from the specification: GKE/Cloud SQL/Cloud Load Balancing documentation
(Workload Identity pool and member, private IP, SSL mode, health-check ranges), the Helm chart's
templates at the pinned version (tests/infra/runtimes/chart_values.txt) and Kestra 1.1's sources for the
rendered configuration.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from tests.infra.conftest import PROJECT
from tests.support.pulumi_harness import (
    MOCK_CLUSTER_CA,
    MOCK_CLUSTER_ENDPOINT,
    MOCK_GLOBAL_ADDRESS,
    MOCK_SQL_PRIVATE_IP,
    MOCK_SQL_SERVER_CA,
    plain,
    run_stack,
)

GKE = {"gcp:project": PROJECT, "gcp:region": "europe-west2", "kestra-gcp:profile": "gke"}
KESTRA_PASSWORD = "Gke-Kestra-Pass-771"
POSTGRES_PASSWORD = "gke-postgres-pass-5521"
GITHUB_TOKEN = "ghp_gkeTokenExample0123456789"
GEMINI_KEY = "AIzaGkeGeminiKeyExample42"
SECRETS = {
    "kestra-gcp:kestraPassword": KESTRA_PASSWORD,
    "kestra-gcp:postgresPassword": POSTGRES_PASSWORD,
    "kestra-gcp:githubToken": GITHUB_TOKEN,
    "kestra-gcp:geminiApiKey": GEMINI_KEY,
}
SA_EMAIL = f"kestra-sa@{PROJECT}.iam.gserviceaccount.com"
SA_NAME = f"projects/{PROJECT}/serviceAccounts/{SA_EMAIL}"
FACTS = Path(__file__).with_name("chart_values.txt")

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
BACKEND_CONFIG = "kubernetes:cloud.google.com/v1:BackendConfig"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"


@pytest.fixture(scope="module")
def gke_run():
    """Default sizes, generated passwords, a certificate the stack issues, open to everyone."""
    return run_stack(dict(GKE))


@pytest.fixture(scope="module")
def configured_run():
    """Every secret given, a domain, narrowed source ranges, three workers, another image tag."""
    return run_stack(
        {**GKE, **SECRETS, "kestra-gcp:kestraDomain": "kestra.example.com",
         "kestra-gcp:kestraSourceRanges": json.dumps(["203.0.113.0/24", "198.51.100.10/32"]),
         "kestra-gcp:kestraWorkerReplicas": "3", "kestra-gcp:kestraVersion": "v1.1.6",
         "kestra-gcp:gkeMachineType": "n2-standard-8", "kestra-gcp:gkeMinNodes": "2",
         "kestra-gcp:gkeMaxNodes": "5", "kestra-gcp:gkeReleaseChannel": "STABLE",
         "kestra-gcp:gkeLocation": "europe-west2", "kestra-gcp:cloudSqlTier": "db-custom-2-7680"},
        secret_keys=tuple(SECRETS),
    )


@pytest.fixture(scope="module")
def kept_run():
    return run_stack({**GKE, "kestra-gcp:keepData": "true", "kestra-gcp:gkeNetwork": "default"})


def values(run) -> dict:
    return plain(run.one(RELEASE).inputs["values"])


def application(run) -> dict:
    # The chart writes configurations.application into the ConfigMap with toYaml: what Kestra reads
    # is that YAML, so check it after a YAML round trip.
    return yaml.safe_load(yaml.safe_dump(values(run)["configurations"]["application"]))


def secret_named(run, logical: str):
    return run.one(SECRET, logical)


def secret_yaml(run) -> dict:
    secret = secret_named(run, "config-secret")
    return yaml.safe_load(plain(secret.inputs["stringData"])["secrets.yml"])


def k8s_name(resource) -> str:
    return f"{resource.name}-5x9k2q"  # the mocks' stand-in for the provider's auto-naming


# --- keyless: Workload Identity, no key anywhere ------------------------------------------------

def test_no_service_account_key_exists(gke_run, configured_run):
    for run in (gke_run, configured_run):
        assert not run.of_type("gcp:serviceaccount/key:Key")
        assert "serviceAccountEmail" in run.outputs


def test_cluster_has_workload_identity_with_the_project_pool(gke_run):
    cluster = gke_run.one(CLUSTER)
    assert cluster.inputs["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}


def test_nodes_use_the_gke_metadata_server_so_pods_get_workload_identity(gke_run):
    pool = gke_run.one(NODE_POOL)
    assert pool.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_only_kestras_kubernetes_service_account_may_act_as_the_google_one(gke_run):
    bindings = gke_run.of_type("gcp:serviceaccount/iAMMember:IAMMember")
    assert len(bindings) == 1
    binding = bindings[0]
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert binding.inputs["member"] == f"serviceAccount:{PROJECT}.svc.id.goog[kestra/kestra]"
    assert binding.inputs["serviceAccountId"] == SA_NAME
    # ... and that namespace/name is the chart's ServiceAccount, annotated with the Google account.
    release = gke_run.one(RELEASE)
    assert release.inputs["namespace"] == "kestra"
    sa = values(gke_run)["serviceAccount"]
    assert sa["create"] is True and sa["name"] == "kestra"
    assert sa["annotations"] == {"iam.gke.io/gcp-service-account": SA_EMAIL}



def test_the_workload_identity_binding_waits_for_the_cluster_that_creates_its_pool(gke_run):
    # GKE docs: the pool <project>.svc.id.goog is created with the first cluster that enables
    # Workload Identity; IAM refuses a member of it before ("Identity Pool does not exist",
    # terraform-google-modules/terraform-google-kubernetes-engine#916, google/kctf#193).
    binding = gke_run.one("gcp:serviceaccount/iAMMember:IAMMember", "workload-identity")
    cluster = gke_run.one(CLUSTER)
    assert cluster.inputs["workloadIdentityConfig"]["workloadPool"] in binding.inputs["member"]
    assert cluster.urn in binding.dependencies
    # Nodes are not needed for the pool: the binding does not wait for the node pool too.
    assert gke_run.one(NODE_POOL).urn not in binding.dependencies

def test_kestra_configuration_names_no_credentials(gke_run, configured_run):
    for run in (gke_run, configured_run):
        app = application(run)
        assert "plugins" not in app["kestra"], "no instance plugin default: the GCP plugins use ADC"
        assert "service-account" not in app["kestra"]["storage"]["gcs"]
        assert "serviceAccount" not in json.dumps(app)
        env = plain(secret_named(run, "secret-env").inputs["stringData"])
        assert "SECRET_GCP_SERVICE_ACCOUNT" not in env


# --- the cluster -------------------------------------------------------------------------------

def test_cluster_is_gke_standard_hardened_and_in_the_configured_location(gke_run):
    cluster = gke_run.one(CLUSTER)
    assert cluster.inputs["name"] == "kestra-dev"
    assert cluster.inputs["project"] == PROJECT
    assert cluster.inputs["location"] == "europe-west2-b"  # default: a zone of gcp:region
    assert "enableAutopilot" not in cluster.inputs  # Standard: privileged DinD needs it
    assert cluster.inputs["enableShieldedNodes"] is True
    assert cluster.inputs["releaseChannel"] == {"channel": "REGULAR"}
    assert cluster.inputs["networkingMode"] == "VPC_NATIVE"
    assert cluster.inputs["removeDefaultNodePool"] is True
    private = cluster.inputs["privateClusterConfig"]
    assert private["enablePrivateNodes"] is True and private["enablePrivateEndpoint"] is False
    assert cluster.inputs["deletionProtection"] is False


def test_cluster_uses_the_subnet_and_its_secondary_ranges(gke_run):
    cluster = gke_run.one(CLUSTER)
    subnet = gke_run.one("gcp:compute/subnetwork:Subnetwork")
    ranges = {r["rangeName"] for r in subnet.inputs["secondaryIpRanges"]}
    policy = cluster.inputs["ipAllocationPolicy"]
    assert {policy["clusterSecondaryRangeName"], policy["servicesSecondaryRangeName"]} == ranges
    assert subnet.urn in cluster.property_dependencies["subnetwork"]


def test_node_pool_is_sized_by_config_with_hardened_nodes(gke_run, configured_run):
    pool = gke_run.one(NODE_POOL)
    assert pool.inputs["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 3}
    node = pool.inputs["nodeConfig"]
    assert node["machineType"] == "e2-standard-4"
    assert node["metadata"] == {"disable-legacy-endpoints": "true"}
    assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert node["serviceAccount"] == f"kestra-dev-nodes@{PROJECT}.iam.gserviceaccount.com"
    assert node["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
    configured = configured_run.one(NODE_POOL)
    assert configured.inputs["autoscaling"] == {"minNodeCount": 2, "maxNodeCount": 5}
    assert configured.inputs["nodeConfig"]["machineType"] == "n2-standard-8"
    assert configured.inputs["location"] == "europe-west2"  # a regional cluster
    assert configured_run.one(CLUSTER).inputs["releaseChannel"] == {"channel": "STABLE"}


def test_nodes_run_as_their_own_service_account_with_the_node_role_only(gke_run):
    accounts = {a.inputs["accountId"] for a in gke_run.of_type("gcp:serviceaccount/account:Account")}
    assert accounts == {"kestra-sa", "kestra-dev-nodes"}
    grants = [g for g in gke_run.of_type("gcp:projects/iAMMember:IAMMember")
              if g.inputs["member"] == f"serviceAccount:kestra-dev-nodes@{PROJECT}.iam.gserviceaccount.com"]
    assert [g.inputs["role"] for g in grants] == ["roles/container.defaultNodeServiceAccount"]


def test_kubernetes_provider_is_built_from_the_cluster_and_the_gke_auth_plugin(gke_run):
    provider = gke_run.one("pulumi:providers:kubernetes")
    kubeconfig = yaml.safe_load(plain(provider.inputs["kubeconfig"]))
    assert kubeconfig["clusters"][0]["cluster"] == {
        "server": f"https://{MOCK_CLUSTER_ENDPOINT}", "certificate-authority-data": MOCK_CLUSTER_CA,
    }
    # The credential is Google's exec plugin (GKE docs, "Install kubectl and configure cluster
    # access"): a token minted at each use, none stored, so the kubeconfig never changes between
    # runs and destroy/refresh an hour later still authenticate.
    (user,) = kubeconfig["users"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "gke-gcloud-auth-plugin"
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_["provideClusterInfo"] is True
    assert "token" not in user["user"] and "gke-gcloud-auth-plugin" in exec_["installHint"]
    context = next(c for c in kubeconfig["contexts"] if c["name"] == kubeconfig["current-context"])
    assert context["context"] == {"cluster": kubeconfig["clusters"][0]["name"], "user": user["name"]}
    assert not provider.is_secret("kubeconfig")  # endpoint and CA are not secrets; nothing else is in it
    assert not any(token.startswith("gcp:organizations/getClientConfig") for token, _ in gke_run.invokes)
    cluster = gke_run.one(CLUSTER)
    # Only a new cluster replaces the provider (and the objects in it).
    assert provider.inputs["clusterIdentifier"] == f"projects/{PROJECT}/locations/europe-west2-b/clusters/kestra-dev"
    assert cluster.urn in provider.dependencies
    for r in gke_run.resources:
        if r.type.startswith("kubernetes:"):
            assert r.provider.startswith(provider.urn + "::"), (r.type, r.name, r.provider)


# --- Cloud SQL -----------------------------------------------------------------------------------

def test_cloud_sql_is_postgres_17_private_ip_only_and_ssl_only(gke_run):
    sql = gke_run.one(SQL)
    assert sql.inputs["databaseVersion"] == "POSTGRES_17"
    assert sql.inputs["region"] == "europe-west2"
    settings = sql.inputs["settings"]
    ip = settings["ipConfiguration"]
    assert ip["ipv4Enabled"] is False
    network = gke_run.one("gcp:compute/network:Network")
    assert ip["privateNetwork"] == f"{network.name}_id"
    assert ip["sslMode"] == "ENCRYPTED_ONLY"
    assert "authorizedNetworks" not in ip
    assert settings["tier"] == "db-custom-1-3840"
    assert settings["edition"] == "ENTERPRISE"


def test_cloud_sql_backs_up_daily_with_point_in_time_recovery(gke_run):
    backup = gke_run.one(SQL).inputs["settings"]["backupConfiguration"]
    assert backup["enabled"] is True
    assert backup["pointInTimeRecoveryEnabled"] is True
    assert backup["backupRetentionSettings"]["retainedBackups"] >= 7


@pytest.mark.parametrize("keep", [False, True])
def test_deletion_protection_follows_keep_data(gke_run, kept_run, keep):
    run = kept_run if keep else gke_run
    sql = run.one(SQL)
    assert sql.inputs["deletionProtection"] is keep
    assert sql.inputs["settings"]["deletionProtectionEnabled"] is keep
    assert sql.retain_on_delete is keep
    for kind in ("gcp:sql/database:Database", "gcp:sql/user:User"):
        assert run.one(kind).retain_on_delete is keep
    bucket = run.one("gcp:storage/bucket:Bucket", "internal-storage")
    assert bucket.retain_on_delete is keep and bucket.inputs["forceDestroy"] is (not keep)
    # Soft delete (7 days, billed, by default) is off unless data is kept (test_gcp.py).
    if keep:
        assert "softDeletePolicy" not in bucket.inputs
    else:
        assert bucket.inputs["softDeletePolicy"] == {"retentionDurationSeconds": 0}


def test_database_and_user_with_a_generated_secret_password(gke_run):
    database = gke_run.one("gcp:sql/database:Database")
    user = gke_run.one("gcp:sql/user:User")
    assert database.inputs["name"] == "kestra" and user.inputs["name"] == "kestra"
    assert user.is_secret("password")
    generated = gke_run.one("random:index/randomPassword:RandomPassword", "password")
    assert generated.urn in user.property_dependencies["password"]
    assert "password" in user.additional_secret_outputs


def test_given_postgres_password_reaches_the_user_as_a_secret(configured_run):
    user = configured_run.one("gcp:sql/user:User")
    assert user.is_secret("password") and plain(user.inputs["password"]) == POSTGRES_PASSWORD


def test_cloud_sql_waits_for_private_services_access(gke_run):
    sql = gke_run.one(SQL)
    connection = gke_run.one("gcp:servicenetworking/connection:Connection")
    assert connection.urn in sql.dependencies


# --- cluster and Cloud SQL never wait for each other; the release waits for both --------------

def _graph(run) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for r in run.resources:
        deps = set(r.dependencies)
        for urns in r.property_dependencies.values():
            deps |= set(urns)
        if r.provider:  # a provider reference is "<urn>::<id>"
            deps.add(r.provider.rsplit("::", 1)[0])
        if r.parent_urn:
            deps.add(r.parent_urn)
        edges[r.urn] = deps
    return edges


def _reaches(graph, start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        urn = todo.pop()
        if urn == goal:
            return True
        if urn not in seen:
            seen.add(urn)
            todo.extend(graph.get(urn, ()))
    return False


def test_cluster_and_cloud_sql_share_no_dependency_edge(gke_run):
    graph = _graph(gke_run)
    cluster_side = [gke_run.one(CLUSTER), gke_run.one(NODE_POOL)]
    sql_side = [gke_run.one(SQL), gke_run.one("gcp:sql/database:Database"), gke_run.one("gcp:sql/user:User")]
    for a in cluster_side:
        for b in sql_side:
            assert not _reaches(graph, a.urn, b.urn), (a.name, b.name)
            assert not _reaches(graph, b.urn, a.urn), (b.name, a.name)


def test_the_release_depends_on_both(gke_run):
    graph = _graph(gke_run)
    release = gke_run.one(RELEASE)
    for needed in (gke_run.one(NODE_POOL), gke_run.one(SQL), gke_run.one("gcp:sql/user:User"),
                   gke_run.one("gcp:sql/database:Database")):
        assert _reaches(graph, release.urn, needed.urn), needed.name
    # Directly, not only through the provider: pods need nodes. Kestra logs into its database at
    # boot with the user and database its configuration names by their outputs (the values).
    assert gke_run.one(NODE_POOL).urn in release.dependencies
    for needed in (gke_run.one("gcp:sql/user:User"), gke_run.one("gcp:sql/database:Database")):
        assert needed.urn in release.property_dependencies["values"], needed.name


def test_flows_wait_for_the_release(gke_run):
    release = gke_run.one(RELEASE)
    flow_sets = gke_run.of_type("pulumi-python:dynamic/kestra:NamespaceFlows")
    assert flow_sets
    for flows in flow_sets:
        assert release.urn in flows.dependencies, flows.name


def test_writes_to_the_internal_storage_wait_for_workload_identity_and_the_grant_not_the_release(gke_run):
    # Kestra's GCS storage builds its client at boot and first calls GCS at a write (a KV entry, a
    # namespace file): the flows' resources wait for what that call needs, the release does not.
    binding = next(r for r in gke_run.of_type("gcp:serviceaccount/iAMMember:IAMMember")
                   if r.inputs["role"] == "roles/iam.workloadIdentityUser")
    grant = next(r for r in gke_run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
                 if r.name == "internal-storage-objects")
    writes = [*gke_run.of_type("pulumi-python:dynamic/kestra:KvEntry"),
              *gke_run.of_type("pulumi-python:dynamic/kestra:NamespaceFile")]
    assert writes
    for write in writes:
        assert {binding.urn, grant.urn} <= set(write.dependencies), write.name
    release = gke_run.one(RELEASE)
    assert not {binding.urn, grant.urn} & set(release.dependencies)


# --- the Helm release ----------------------------------------------------------------------------

def test_release_is_kestras_official_chart_pinned(gke_run):
    release = gke_run.one(RELEASE)
    assert release.inputs["chart"] == "kestra"
    assert release.inputs["version"] == "1.0.21"  # the 1.1 line (chart 1.0.18-1.0.21)
    assert release.inputs["repositoryOpts"] == {"repo": "https://helm.kestra.io/"}
    assert release.inputs["name"] == "kestra"
    assert release.parent_type == "kestra-gcp:infra:KestraOnGke"


def test_image_tag_follows_kestra_version(gke_run, configured_run):
    assert values(gke_run)["image"] == {"tag": "v1.1.7"}
    assert values(configured_run)["image"] == {"tag": "v1.1.6"}


def test_kestra_runs_distributed_with_configurable_workers(gke_run, configured_run):
    deployments = values(gke_run)["deployments"]
    assert deployments["standalone"]["enabled"] is False
    for component in ("webserver", "executor", "scheduler", "worker"):
        assert deployments[component]["enabled"] is True, component
    assert deployments["worker"]["replicas"] == 1
    assert values(configured_run)["deployments"]["worker"]["replicas"] == 3


def test_worker_reaches_the_charts_dind_socket(gke_run):
    # dind.socketPath (/dind/) is mounted into the worker; Docker clients read DOCKER_HOST.
    env = values(gke_run)["deployments"]["worker"]["extraEnv"]
    assert {"name": "DOCKER_HOST", "value": "unix:///dind/docker.sock"} in env


def _flatten(node, whole=(), prefix=""):
    """Every values path set; a path in `whole` is one the chart renders whole (toYaml of a map:
    annotations, configurations.application), so its keys are not paths of the chart."""
    if prefix in whole or not (isinstance(node, dict) and node):
        yield prefix
        return
    for key, value in node.items():
        yield from _flatten(value, whole, f"{prefix}.{key}" if prefix else key)


def _facts() -> dict[str, str]:
    facts = {}
    for line in FACTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            path, version, _ = line.split(" ", 2)
            facts[path] = version
    return facts


@pytest.mark.parametrize("fixture", ["gke_run", "configured_run", "kept_run"])
def test_every_values_path_set_was_read_in_the_pinned_charts_templates(request, fixture):
    run = request.getfixturevalue(fixture)
    facts = _facts()
    pinned = run.one(RELEASE).inputs["version"]
    unknown = [p for p in _flatten(values(run), facts) if p not in facts]
    assert not unknown, f"values paths not in {FACTS.name}: {unknown}"
    stale = {p: v for p, v in facts.items() if v != pinned}
    assert not stale, f"{FACTS.name} lists paths read in another chart version than {pinned}: {stale}"


def test_facts_file_catches_an_unlisted_path():
    facts = _facts()
    assert list(_flatten({"image": {"tag": "x"}, "dind": {"mode": "insecure"}}, facts)) == ["image.tag", "dind.mode"]
    assert "dind.mode" not in facts
    # A map rendered whole stops the walk; a misspelt key next to it does not.
    assert list(_flatten({"service": {"annotations": {"a/b": "1"}, "anotations": {"c": "2"}}}, facts)) == [
        "service.annotations", "service.anotations.c"]


# --- the rendered Kestra configuration ---------------------------------------------------------

def test_kestra_uses_cloud_sql_over_verified_ssl_for_repository_and_queue(gke_run):
    app = application(gke_run)
    postgres = app["datasources"]["postgres"]
    # pgjdbc: sslmode=verify-ca checks the server certificate against sslrootcert (a PEM file).
    assert postgres["url"] == (
        f"jdbc:postgresql://{MOCK_SQL_PRIVATE_IP}:5432/kestra"
        "?sslmode=verify-ca&sslrootcert=/app/cloudsql/server-ca.pem"
    )
    assert postgres["driverClassName"] == "org.postgresql.Driver"
    assert postgres["username"] == "kestra"
    assert "password" not in postgres
    assert app["kestra"]["repository"] == {"type": "postgres"}
    assert app["kestra"]["queue"] == {"type": "postgres"}


def test_the_sslrootcert_file_is_cloud_sqls_server_ca_mounted_from_a_config_map(gke_run):
    ca = gke_run.one(CONFIG_MAP, "cloudsql-server-ca")
    assert plain(ca.inputs["data"]) == {"server-ca.pem": MOCK_SQL_SERVER_CA}
    common = values(gke_run)["common"]
    assert common["extraVolumes"] == [{"name": "cloudsql-server-ca", "configMap": {"name": k8s_name(ca)}}]
    assert common["extraVolumeMounts"] == [
        {"name": "cloudsql-server-ca", "mountPath": "/app/cloudsql", "readOnly": True}
    ]


def test_internal_storage_is_its_own_gcs_bucket(gke_run):
    # storage-gcs: @Plugin.Id("gcs"), GcsStorage fields bucket/projectId; Kestra's StorageConfig
    # maps kebab-case keys to them (MapFormat CAMEL_CASE). No serviceAccount: ADC.
    storage = application(gke_run)["kestra"]["storage"]
    assert storage == {"type": "gcs", "gcs": {"bucket": f"{PROJECT}-kestra-internal", "project-id": PROJECT}}
    bucket = gke_run.one("gcp:storage/bucket:Bucket", "internal-storage")
    assert bucket.inputs["name"] == f"{PROJECT}-kestra-internal" != f"{PROJECT}-kestra"
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    grant = gke_run.one("gcp:storage/bucketIAMMember:BucketIAMMember", "internal-storage-objects")
    assert grant.inputs["bucket"] == f"{PROJECT}-kestra-internal"
    assert grant.inputs["member"] == f"serviceAccount:{SA_EMAIL}"
    assert grant.inputs["role"] == "roles/storage.objectAdmin"


def test_basic_auth_user_and_public_url_without_the_password(gke_run, configured_run):
    app = application(gke_run)
    assert app["kestra"]["server"]["basic-auth"] == {"username": "admin@kestra.io"}
    assert app["kestra"]["url"] == f"https://{MOCK_GLOBAL_ADDRESS}/"
    assert application(configured_run)["kestra"]["url"] == "https://kestra.example.com/"


def test_task_working_directories_are_shared_with_the_dind_sidecar(gke_run):
    # The chart mounts one emptyDir at dind.tmpPath (/tmp/) in the worker and in its dind sidecar.
    assert application(gke_run)["kestra"]["tasks"]["tmp-dir"]["path"].startswith("/tmp/")


def test_gemini_model_in_the_config_map_and_its_key_only_in_the_secret(configured_run):
    app = application(configured_run)
    assert app["kestra"]["ai"] == {"type": "gemini", "gemini": {"model-name": "gemini-2.5-flash"}}
    assert secret_yaml(configured_run)["kestra"]["ai"] == {"gemini": {"api-key": GEMINI_KEY}}


# --- secrets: only in Kubernetes Secrets, never in plaintext ------------------------------------

def test_secret_configuration_file_holds_exactly_the_secret_values(configured_run):
    assert secret_yaml(configured_run) == {
        "datasources": {"postgres": {"password": POSTGRES_PASSWORD}},
        "kestra": {"server": {"basic-auth": {"password": KESTRA_PASSWORD}}, "ai": {"gemini": {"api-key": GEMINI_KEY}}},
    }
    secret = secret_named(configured_run, "config-secret")
    assert secret.is_secret("stringData")
    # configurations.secrets: mounted at /app/secrets/<key>, read after _default.yml (MICRONAUT_CONFIG_FILES).
    assert values(configured_run)["configurations"]["secrets"] == [{"name": k8s_name(secret), "key": "secrets.yml"}]


def test_kestra_secret_variables_come_from_a_secret(configured_run):
    secret = secret_named(configured_run, "secret-env")
    assert secret.is_secret("stringData")
    env = plain(secret.inputs["stringData"])
    decoded = {k: base64.b64decode(v).decode() for k, v in env.items()}
    assert decoded == {
        "SECRET_KESTRA_USER": "admin@kestra.io",
        "SECRET_KESTRA_PASSWORD": KESTRA_PASSWORD,
        "SECRET_GITHUB_TOKEN": GITHUB_TOKEN,
    }
    assert values(configured_run)["common"]["extraEnvFrom"] == [{"secretRef": {"name": k8s_name(secret)}}]


def test_no_secret_value_in_the_release_config_maps_or_plain_outputs(configured_run):
    secrets = [KESTRA_PASSWORD, POSTGRES_PASSWORD, GITHUB_TOKEN, GEMINI_KEY]
    release = configured_run.one(RELEASE)
    assert not release.secret_paths, "the release values carry no secret, so nothing in them is marked secret"
    everything_plain = json.dumps(plain(release.inputs), default=str)
    for cm in configured_run.of_type(CONFIG_MAP) + configured_run.of_type(BACKEND_CONFIG):
        everything_plain += json.dumps(plain(cm.inputs), default=str)
    for name, value in configured_run.outputs.items():
        if name not in configured_run.secret_outputs:
            everything_plain += json.dumps(value, default=str)
    for secret in secrets:
        assert secret not in everything_plain
        assert base64.b64encode(secret.encode()).decode() not in everything_plain


def test_generated_kestra_password_is_a_secret_everywhere(gke_run):
    generated = gke_run.one("random:index/randomPassword:RandomPassword", "kestra-password")
    assert gke_run.one(SECRET, "secret-env").is_secret("stringData")
    assert "kestraPassword" in gke_run.secret_outputs
    assert generated.parent_type == "kestra-gcp:infra:KestraOnGke"


# --- the HTTPS endpoint --------------------------------------------------------------------------

def test_self_issued_certificate_for_the_reserved_ip(gke_run):
    address = gke_run.one("gcp:compute/globalAddress:GlobalAddress", "address")
    assert address.inputs["addressType"] == "EXTERNAL" and address.inputs["ipVersion"] == "IPV4"
    ca = gke_run.one("tls:index/selfSignedCert:SelfSignedCert")
    assert ca.inputs["isCaCertificate"] is True
    assert set(ca.inputs["allowedUses"]) >= {"cert_signing"}
    request = gke_run.one("tls:index/certRequest:CertRequest")
    assert request.inputs["ipAddresses"] == [MOCK_GLOBAL_ADDRESS]
    server = gke_run.one("tls:index/locallySignedCert:LocallySignedCert")
    assert "server_auth" in server.inputs["allowedUses"]
    assert server.inputs["caCertPem"] == "-----BEGIN CERTIFICATE-----\nMOCK CERT ca\n-----END CERTIFICATE-----\n"
    cert = gke_run.one("gcp:compute/sSLCertificate:SSLCertificate")
    assert plain(cert.inputs["certificate"]) == "-----BEGIN CERTIFICATE-----\nMOCK CERT server\n-----END CERTIFICATE-----\n"
    assert cert.is_secret("privateKey")
    assert not gke_run.of_type("gcp:compute/managedSslCertificate:ManagedSslCertificate")


def test_domain_gets_a_google_managed_certificate_and_no_ca(configured_run):
    managed = configured_run.one("gcp:compute/managedSslCertificate:ManagedSslCertificate")
    assert managed.inputs["managed"] == {"domains": ["kestra.example.com"]}
    assert not [t for t in configured_run.types() if t.startswith("tls:")]
    assert configured_run.outputs["kestraUrl"] == "https://kestra.example.com"
    assert "kestraCaCertificate" not in configured_run.outputs
    assert values(configured_run)["ingress"]["hosts"] == [
        {"host": "kestra.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}
    ]


@pytest.mark.parametrize("fixture, cert_type", [
    ("gke_run", "gcp:compute/sSLCertificate:SSLCertificate"),
    ("configured_run", "gcp:compute/managedSslCertificate:ManagedSslCertificate"),
])
def test_ingress_serves_https_only_on_the_reserved_ip(request, fixture, cert_type):
    run = request.getfixturevalue(fixture)
    ingress = values(run)["ingress"]
    assert ingress["enabled"] is True
    annotations = ingress["annotations"]
    address = run.one("gcp:compute/globalAddress:GlobalAddress", "address")
    cert = run.one(cert_type)
    # GKE Ingress annotations (GKE docs, "Ingress configuration"): class, static IP, pre-shared
    # certificate, and no plain-HTTP front end.
    assert annotations == {
        "kubernetes.io/ingress.class": "gce",
        "kubernetes.io/ingress.global-static-ip-name": f"{address.name}-1a2b3c4",
        "ingress.gcp.kubernetes.io/pre-shared-cert": f"{cert.name}-1a2b3c4",
        "kubernetes.io/ingress.allow-http": "false",
    }


def test_load_balancer_checks_kestras_health_on_the_management_port(gke_run):
    backend = gke_run.one(BACKEND_CONFIG)
    spec = plain(backend.inputs["spec"])
    assert spec["healthCheck"]["port"] == 8081
    assert spec["healthCheck"]["requestPath"] == "/health/readiness"
    assert "securityPolicy" not in spec  # 0.0.0.0/0: no Cloud Armor policy
    annotations = values(gke_run)["service"]["annotations"]
    assert json.loads(annotations["cloud.google.com/neg"]) == {"ingress": True}
    assert json.loads(annotations["cloud.google.com/backend-config"]) == {"default": k8s_name(backend)}
    firewall = gke_run.one("gcp:compute/firewall:Firewall")
    # Google's health-check probe ranges (Cloud Load Balancing docs).
    assert set(firewall.inputs["sourceRanges"]) == {"130.211.0.0/22", "35.191.0.0/16"}
    assert firewall.inputs["allows"] == [{"protocol": "tcp", "ports": ["8080", "8081"]}]
    assert firewall.inputs["targetTags"] == gke_run.one(NODE_POOL).inputs["nodeConfig"]["tags"]


def test_source_ranges_become_a_cloud_armor_policy(configured_run):
    policy = configured_run.one("gcp:compute/securityPolicy:SecurityPolicy")
    rules = sorted(policy.inputs["rules"], key=lambda r: r["priority"])
    assert rules[0]["action"] == "allow"
    assert rules[0]["match"]["config"]["srcIpRanges"] == ["203.0.113.0/24", "198.51.100.10/32"]
    assert rules[-1] == {"action": "deny(403)", "priority": 2147483647, "description": "everything else",
                         "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}}}
    spec = plain(configured_run.one(BACKEND_CONFIG).inputs["spec"])
    assert spec["securityPolicy"] == {"name": f"{policy.name}-1a2b3c4"}


def test_more_than_ten_ranges_take_several_rules():
    ranges = [f"203.0.113.{i}/32" for i in range(11)]
    run = run_stack({**GKE, "kestra-gcp:kestraSourceRanges": json.dumps(ranges)})
    rules = run.one("gcp:compute/securityPolicy:SecurityPolicy").inputs["rules"]
    allowed = [r["match"]["config"]["srcIpRanges"] for r in rules if r["action"] == "allow"]
    # Cloud Armor: at most 10 srcIpRanges per rule.
    assert [len(a) for a in allowed] == [10, 1] and sum(allowed, []) == ranges


# --- the network ---------------------------------------------------------------------------------

def test_private_services_access_for_cloud_sql(gke_run):
    peering_range = gke_run.one("gcp:compute/globalAddress:GlobalAddress", "private-services-range")
    assert peering_range.inputs["purpose"] == "VPC_PEERING"
    assert peering_range.inputs["addressType"] == "INTERNAL"
    assert peering_range.inputs["prefixLength"] <= 24
    connection = gke_run.one("gcp:servicenetworking/connection:Connection")
    assert connection.inputs["service"] == "servicenetworking.googleapis.com"
    assert connection.inputs["reservedPeeringRanges"] == [f"{peering_range.name}-1a2b3c4"]


def test_private_nodes_reach_the_internet_through_cloud_nat_only(gke_run):
    nat = gke_run.one("gcp:compute/routerNat:RouterNat")
    subnet = gke_run.one("gcp:compute/subnetwork:Subnetwork")
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat.inputs["subnetworks"] == [{"name": f"{subnet.name}_id", "sourceIpRangesToNats": ["ALL_IP_RANGES"]}]
    assert gke_run.one("gcp:compute/network:Network").inputs["autoCreateSubnetworks"] is False
    assert subnet.inputs["privateIpGoogleAccess"] is True
    # The only ingress rule the stack opens is the health checks'.
    assert len(gke_run.of_type("gcp:compute/firewall:Firewall")) == 1


def test_a_named_network_is_used_not_created_and_its_peering_is_kept(kept_run):
    assert not kept_run.of_type("gcp:compute/network:Network")
    subnet = kept_run.one("gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["network"] == f"projects/{PROJECT}/global/networks/default"
    connection = kept_run.one("gcp:servicenetworking/connection:Connection")
    assert connection.inputs["updateOnCreationFail"] is True
    assert connection.inputs["deletionPolicy"] == "ABANDON"


def test_destroy_removes_the_peering_of_the_stacks_own_network_even_while_cloud_sql_holds_it(gke_run):
    # pulumi_gcp/servicenetworking/connection.py, "Deleting a connection": with the default policy
    # a connection Cloud SQL still holds (up to four days after the instance went) refuses to be
    # deleted and its peering blocks deleting the network; REMOVE_PEERING removes the peering then.
    connection = gke_run.one("gcp:servicenetworking/connection:Connection")
    assert connection.inputs["deletionPolicy"] == "REMOVE_PEERING"
    assert not connection.inputs.get("updateOnCreationFail")
    # The instance depends on the connection, so destroy deletes it before the connection.
    instance = gke_run.one(SQL)
    assert _reaches(_graph(gke_run), instance.urn, connection.urn)


def test_an_existing_connections_ranges_stay_beside_the_stacks_own():
    # The provider patches an existing connection with the resource's list and Force
    # (resource_service_networking_connection.go): the list must hold what the connection holds.
    held = ["sql-range", "google-managed-services-default"]
    run = run_stack({**GKE, "kestra-gcp:gkeNetwork": "default"}, networks={"default": held})
    connection = run.one("gcp:servicenetworking/connection:Connection", "private-services")
    own = run.one("gcp:compute/globalAddress:GlobalAddress", "private-services-range")
    assert connection.inputs["reservedPeeringRanges"] == sorted([*held, f"{own.name}-1a2b3c4"])
    assert connection.inputs["updateOnCreationFail"] is True


def test_a_network_without_a_connection_gets_the_stacks_range_alone():
    run = run_stack({**GKE, "kestra-gcp:gkeNetwork": "default"}, networks={"default": None})
    own = run.one("gcp:compute/globalAddress:GlobalAddress", "private-services-range")
    connection = run.one("gcp:servicenetworking/connection:Connection", "private-services")
    assert connection.inputs["reservedPeeringRanges"] == [f"{own.name}-1a2b3c4"]


def test_keep_data_keeps_what_the_kept_database_sits_on(kept_run, gke_run):
    for name in ("private-services-range",):
        assert kept_run.one("gcp:compute/globalAddress:GlobalAddress", name).retain_on_delete
    assert kept_run.one("gcp:servicenetworking/connection:Connection").retain_on_delete
    assert not gke_run.one("gcp:servicenetworking/connection:Connection").retain_on_delete
    assert not gke_run.one("gcp:compute/network:Network").retain_on_delete


# --- APIs, outputs, the flows' connection ------------------------------------------------------

@pytest.mark.parametrize("resource_type, api", [
    (CLUSTER, "container.googleapis.com"),
    (SQL, "sqladmin.googleapis.com"),
    ("gcp:servicenetworking/connection:Connection", "servicenetworking.googleapis.com"),
    ("gcp:compute/subnetwork:Subnetwork", "compute.googleapis.com"),
    ("gcp:compute/globalAddress:GlobalAddress", "compute.googleapis.com"),
])
def test_each_gke_resource_waits_for_its_api(gke_run, resource_type, api):
    for r in gke_run.of_type(resource_type):
        apis = {gke_run.by_urn(u).inputs["service"] for u in r.dependencies
                if gke_run.by_urn(u).type == "gcp:projects/service:Service"}
        assert api in apis, (r.name, apis)


def test_outputs_of_the_gke_profile(gke_run):
    out = gke_run.outputs
    assert out["profile"] == "gke"
    assert out["kestraUrl"] == f"https://{MOCK_GLOBAL_ADDRESS}"
    assert out["kestraUsername"] == "admin@kestra.io"
    assert "kestraPassword" in gke_run.secret_outputs
    assert out["clusterName"] == "kestra-dev"
    sql = gke_run.one(SQL)
    assert out["cloudSqlInstance"] == f"{PROJECT}:europe-west2:{sql.name}-1a2b3c4"
    assert out["kestraAddress"] == MOCK_GLOBAL_ADDRESS
    assert out["kestraCaCertificate"] == "-----BEGIN CERTIFICATE-----\nMOCK CERT ca\n-----END CERTIFICATE-----\n"
    assert "kestraCaCertificate" not in gke_run.secret_outputs
    assert out["gitSyncConfigured"] is False and out["aiConfigured"] is False


def test_the_stack_gives_its_gke_kestra_the_optional_secrets(configured_run):
    assert configured_run.outputs["gitSyncConfigured"] is True
    assert configured_run.outputs["aiConfigured"] is True


def test_flows_reach_kestra_over_https_verifying_the_stacks_ca(gke_run):
    flow_sets = gke_run.of_type("pulumi-python:dynamic/kestra:NamespaceFlows")
    assert flow_sets
    for flow in flow_sets:
        assert flow.inputs["url"] == f"https://{MOCK_GLOBAL_ADDRESS}"
        assert flow.inputs["ca_certificate"] == gke_run.outputs["kestraCaCertificate"]
        assert flow.inputs["deadline"] >= 600  # the load balancer takes minutes to pass health checks


def test_flows_inside_kestra_reach_its_api_through_the_charts_service(gke_run):
    kv = [r for r in gke_run.of_type("pulumi-python:dynamic/kestra:KvEntry") if r.inputs["key"] == "KESTRA_INTERNAL_URL"]
    assert kv and {plain(r.inputs["value"]) for r in kv} == {"http://kestra.kestra.svc.cluster.local:8080"}


def test_every_gke_resource_is_inside_a_component(gke_run):
    for r in gke_run.resources:
        if r.type.startswith(("gcp:container", "gcp:sql", "gcp:compute", "kubernetes:", "tls:")):
            assert r.parent_type.startswith("kestra-gcp:infra:"), (r.type, r.name, r.parent_type)


@pytest.mark.parametrize("config", [{"gcp:project": PROJECT}, {}])
def test_docker_profiles_have_no_gke_resource(config):
    run = run_stack(config)
    assert not [t for t in run.types() if t.startswith(("kubernetes:", "tls:", "pulumi:providers:kubernetes",
                                                        "gcp:container", "gcp:sql", "gcp:compute"))]


def test_the_cluster_waits_for_neither_the_nat_nor_the_node_role(gke_run):
    # GKE creates a private cluster without Cloud NAT and without the node account's role: the slow
    # create starts at once. The release needs the NAT (private nodes pull Docker Hub images through
    # it).
    graph = _graph(gke_run)
    cluster = gke_run.one(CLUSTER)
    nat = gke_run.one("gcp:compute/routerNat:RouterNat")
    role = next(r for r in gke_run.of_type("gcp:projects/iAMMember:IAMMember")
                if r.inputs["role"] == "roles/container.defaultNodeServiceAccount")
    assert not _reaches(graph, cluster.urn, nat.urn)
    assert not _reaches(graph, cluster.urn, role.urn)
    assert nat.urn in gke_run.one(RELEASE).dependencies
    # Nor does the node pool: its nodes register without the role (only their logs and metrics
    # wait for it), and the grant lands while the cluster is still being created.
    assert not _reaches(graph, gke_run.one(NODE_POOL).urn, role.urn)


def test_chart_command_follows_the_charts_template():
    from tests.support.rendered_kestra import chart_command

    assert chart_command("webserver", {"enabled": True}) == ["server", "webserver"]
    assert chart_command("worker", {"enabled": True, "replicas": 2}) == ["server", "worker"]
    assert chart_command("gpu", {"workerThreads": 4}) == ["server", "worker", "--worker-group=gpu", "--thread=4"]
    assert chart_command("standalone", {"workerThreads": 8}) == ["server", "standalone", "--worker-thread=8"]
