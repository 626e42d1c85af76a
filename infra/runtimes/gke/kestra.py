"""Kestra on the cluster: its internal-storage bucket, Workload Identity, the Kubernetes Secrets and
Kestra's official Helm chart in distributed mode.

The chart (kestra from https://helm.kestra.io/, sources in kestra-io/helm-charts) is pinned to
`CHART_VERSION`; every values path `chart_values` sets was read in that version's templates and is
listed, with the version, in tests/infra/runtimes/chart_values.txt (a test keeps the two in step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.config import GKE_DEFAULTS, KESTRA_CHART, KESTRA_CHART_VERSION
from kestra.config import (
    DEFAULT_GEMINI_MODEL,
    KestraSettings,
    basic_auth_username_problem,
    dump_yaml,
    secret_env,
    split_configuration,
)

CHART = KESTRA_CHART
CHART_VERSION = KESTRA_CHART_VERSION  # the 1.1 line: appVersion v1.1.8; the image tag comes from kestraVersion
CHART_REPOSITORY = GKE_DEFAULTS["gkeChartRepository"]  # gkeChartRepository may name a mirror or the chart on disk
RELEASE = "kestra"  # the chart's fullname is the release name when it contains "kestra"
NAMESPACE = "kestra"
KSA = "kestra"  # the chart's Kubernetes ServiceAccount (serviceAccount.name)
# configurations.secrets: the chart mounts each key at /app/secrets/<key> and lists it in
# MICRONAUT_CONFIG_FILES after /app/confs/_default.yml (configurations.application).
SECRET_CONFIG_KEY = "secrets.yml"
CA_MOUNT_DIR = "/app/cloudsql"
CA_FILE = "server-ca.pem"
# The chart's dind sidecar serves its socket in /dind (dind.socketPath) and shares /tmp/ with the
# worker (dind.tmpPath): task working directories must live under /tmp so the daemon sees them.
DIND_DOCKER_HOST = "unix:///dind/docker.sock"
TMP_DIR = "/tmp/kestra-wd/tmp"
KESTRA_HTTP_PORT = 8080
KESTRA_MANAGEMENT_PORT = 8081
HEALTH_PATH = "/health/readiness"  # the chart's own readinessProbe path, on the management port
# The load balancer's backend timeout (default 30 s) also bounds the UI's server-sent events.
BACKEND_TIMEOUT_SECONDS = 3600
RELEASE_TIMEOUT_SECONDS = 1200  # image pulls on fresh nodes, Kestra's first migrations
STORAGE_ROLE = "roles/storage.objectAdmin"
WORKLOAD_IDENTITY_ROLE = "roles/iam.workloadIdentityUser"


def workload_identity_member(project: str, namespace: str = NAMESPACE, ksa: str = KSA) -> str:
    """The principal of pods running as Kubernetes ServiceAccount `namespace/ksa` (GKE docs)."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{ksa}]"


def internal_storage_bucket_name(project: str) -> str:
    return f"{project}-kestra-internal"


def _backend_config_annotation(name: pulumi.Input[str]) -> pulumi.Input[str]:
    def render(n: str) -> str:
        return json.dumps({"default": n})

    return render(name) if isinstance(name, str) else pulumi.Output.from_input(name).apply(render)


def chart_values(
    *,
    image_tag: str,
    worker_replicas: int,
    application: pulumi.Input[dict],
    config_secret_name: pulumi.Input[str],
    env_secret_name: pulumi.Input[str],
    ca_config_map_name: pulumi.Input[str],
    gcp_service_account_email: pulumi.Input[str],
    backend_config_name: pulumi.Input[str],
    address_name: pulumi.Input[str],
    certificate_name: pulumi.Input[str],
    domain: Optional[str],
) -> dict:
    """The values of the Helm release (nothing secret in them).

    The structure is plain data and each value that comes from another resource stays an Output
    in its place, so a preview knows every value but those (e.g. the database's address, known
    once Cloud SQL exists): the chart's service type and Ingress settings are known — and judged
    by the policy pack — before anything is created."""
    return {
        "image": {"tag": image_tag},
        "configurations": {
            "application": application,
            "secrets": [{"name": config_secret_name, "key": SECRET_CONFIG_KEY}],
        },
        "serviceAccount": {
            "create": True,
            "name": KSA,
            "annotations": {"iam.gke.io/gcp-service-account": gcp_service_account_email},
        },
        "deployments": {
            "standalone": {"enabled": False},
            "webserver": {"enabled": True},
            "executor": {"enabled": True},
            "scheduler": {"enabled": True},
            "worker": {
                "enabled": True,
                "replicas": worker_replicas,
                "extraEnv": [{"name": "DOCKER_HOST", "value": DIND_DOCKER_HOST}],
            },
        },
        "common": {
            "extraEnvFrom": [{"secretRef": {"name": env_secret_name}}],
            "extraVolumes": [{"name": "cloudsql-server-ca", "configMap": {"name": ca_config_map_name}}],
            "extraVolumeMounts": [{"name": "cloudsql-server-ca", "mountPath": CA_MOUNT_DIR, "readOnly": True}],
            # A changed configurations.application restarts the pods (checksum/config annotation).
            "configmapReloader": {"enabled": True},
        },
        "service": {
            "annotations": {
                "cloud.google.com/neg": json.dumps({"ingress": True}),
                "cloud.google.com/backend-config": _backend_config_annotation(backend_config_name),
            }
        },
        "ingress": {
            "enabled": True,
            "annotations": {
                "kubernetes.io/ingress.class": "gce",
                "kubernetes.io/ingress.global-static-ip-name": address_name,
                "ingress.gcp.kubernetes.io/pre-shared-cert": certificate_name,
                "kubernetes.io/ingress.allow-http": "false",
            },
            "hosts": [{"host": domain or "", "paths": [{"path": "/", "pathType": "Prefix"}]}],
        },
    }


def _metadata_name(resource: pulumi.CustomResource) -> pulumi.Output[str]:
    """A Kubernetes object's (generated) name."""
    return resource.metadata.apply(lambda m: getattr(m, "name", None) or (m or {}).get("name"))


def backend_config_spec(security_policy_name: Optional[str]) -> dict:
    """GKE's BackendConfig for Kestra's Service: health check on the management port, timeout,
    and the Cloud Armor policy when there is one."""
    spec: dict[str, Any] = {
        "healthCheck": {
            "type": "HTTP",
            "port": KESTRA_MANAGEMENT_PORT,
            "requestPath": HEALTH_PATH,
            "checkIntervalSec": 15,
            "timeoutSec": 5,
        },
        "timeoutSec": BACKEND_TIMEOUT_SECONDS,
    }
    if security_policy_name:
        spec["securityPolicy"] = {"name": security_policy_name}
    return spec


@dataclass(frozen=True)
class KestraOnGkeArgs:
    project: str
    region: str
    provider: k8s.Provider
    cluster_ready: Sequence[pulumi.Resource]  # the node pool (pods need nodes) and the NAT (their images)
    # The cluster whose workloadIdentityConfig creates the pool <project>.svc.id.goog: IAM refuses
    # a member of that pool until it exists.
    workload_pool_ready: Sequence[pulumi.Resource]
    database: Any  # infra.runtimes.gke.cloudsql.CloudSqlPostgres
    endpoint: Any  # infra.runtimes.gke.endpoint.HttpsEndpoint
    service_account_email: pulumi.Input[str]
    service_account_name: pulumi.Input[str]  # projects/<p>/serviceAccounts/<email>
    image_tag: str
    worker_replicas: int
    domain: Optional[str]
    username: str
    password: Optional[pulumi.Input[str]] = None  # None: generated
    github_token: Optional[pulumi.Input[str]] = None
    gemini_api_key: Optional[pulumi.Input[str]] = None
    gemini_model: str = DEFAULT_GEMINI_MODEL
    keep_data: bool = False
    labels: dict = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()
    # A Helm repository URL, or the absolute path of the chart (folder or .tgz) at CHART_VERSION.
    chart_repository: str = CHART_REPOSITORY
    chart_is_local: bool = False


def release_chart(repository: str, local: bool) -> dict:
    """The Release's chart inputs: chart `kestra` at the pinned version from a repository, or the
    chart on disk (Helm takes a path as the chart and reads its version from it: infra/config.py
    checked that it is the pinned one)."""
    if local:
        return {"chart": repository}
    return {"chart": CHART, "version": CHART_VERSION, "repository_opts": {"repo": repository}}


class KestraOnGke(pulumi.ComponentResource):
    """Kestra distributed on the cluster: webserver, executor, scheduler and `worker_replicas`
    workers as separate Deployments of the pinned chart, on Cloud SQL and a GCS bucket of its own.

    - Internal storage: bucket `<project>-kestra-internal` (private, uniform access; retained with
      `keep_data`), `roles/storage.objectAdmin` on it for Kestra's Google service account.
    - Keyless: the chart's Kubernetes ServiceAccount `kestra/kestra` is annotated with the Google
      service account, which grants `roles/iam.workloadIdentityUser` to exactly
      ``serviceAccount:<project>.svc.id.goog[kestra/kestra]`` once the cluster exists (its
      Workload Identity creates that pool); Kestra's GCP tasks and its GCS storage then use
      Application Default Credentials. No key exists.
    - Configuration: rendered by kestra/config.py like the Docker runtime's; the chart puts
      `configurations.application` into a ConfigMap, so it carries no secret: the Postgres and
      basic-auth passwords and the Gemini key go into a Kubernetes Secret mounted as a second
      configuration file (`configurations.secrets`), and Kestra's `SECRET_*` variables come from
      another Secret (`common.extraEnvFrom`). Secrets get generated names: Pulumi replaces a
      Kubernetes Secret whose data changes, the new name changes the Deployments and the pods
      restart with it. Postgres is reached over SSL, verifying Cloud SQL's server CA.
    - Exposure: the chart's Service (NEG-backed) behind a GKE Ingress on the reserved IP with the
      endpoint's certificate, HTTPS only; a BackendConfig sets the health check and the Cloud
      Armor policy.
    - The release waits until every Deployment is ready (Helm's wait, `RELEASE_TIMEOUT_SECONDS`);
      `url` resolves only then. `ready` is what a write to Kestra's internal storage (a KV entry,
      a namespace file) needs besides: the release, Workload Identity and the bucket grant.
    """

    def __init__(self, name: str, args: KestraOnGkeArgs, opts: pulumi.ResourceOptions | None = None):
        if problem := basic_auth_username_problem(args.username):
            raise ValueError(f"username: {problem}")
        super().__init__("kestra-gcp:infra:KestraOnGke", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        deps = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        kube = pulumi.ResourceOptions(parent=self, provider=args.provider)
        kept = pulumi.ResourceOptions.merge(deps, pulumi.ResourceOptions(retain_on_delete=args.keep_data))
        member = pulumi.Output.from_input(args.service_account_email).apply(lambda e: f"serviceAccount:{e}")

        self.bucket = gcp.storage.Bucket(
            "internal-storage",
            name=internal_storage_bucket_name(args.project),
            project=args.project,
            location=args.region.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=not args.keep_data,
            # No soft delete unless data is kept: what destroy deletes is not billed for 7 more
            # days (as the data bucket: infra/storage.py, soft_delete_policy).
            soft_delete_policy=None if args.keep_data else {"retention_duration_seconds": 0},
            labels=args.labels,
            opts=kept,
        )
        self.storage_grant = gcp.storage.BucketIAMMember(
            "internal-storage-objects", bucket=self.bucket.name, role=STORAGE_ROLE, member=member, opts=child
        )
        # The pool <project>.svc.id.goog exists only once a cluster with Workload Identity does;
        # before, IAM answers "Error 400: Identity Pool does not exist (<project>.svc.id.goog)" and
        # the provider does not retry (terraform-google-modules/terraform-google-kubernetes-engine#916,
        # google/kctf#193). The node pool is not needed: the pool belongs to the cluster.
        self.workload_identity = gcp.serviceaccount.IAMMember(
            "workload-identity",
            service_account_id=args.service_account_name,
            role=WORKLOAD_IDENTITY_ROLE,
            member=workload_identity_member(args.project),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.workload_pool_ready)),
        )

        if args.password is not None:
            password = pulumi.Output.secret(args.password)
        else:
            password = random.RandomPassword(
                "kestra-password", length=32, special=False, min_upper=2, min_lower=2, min_numeric=2, opts=child
            ).result
        self.password: pulumi.Output[str] = pulumi.Output.secret(password)

        self.namespace = k8s.core.v1.Namespace("namespace", metadata={"name": NAMESPACE}, opts=kube)
        in_namespace = pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[self.namespace]))
        metadata = {"namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "kestra-gcp"}}

        database = args.database
        settings = pulumi.Output.all(
            host=database.private_ip,
            db=database.database_name,
            user=database.user_name,
            db_password=database.password,
            password=password,
            url=args.endpoint.url,
            bucket=self.bucket.name,
            gemini_api_key=args.gemini_api_key,
        ).apply(
            lambda v: KestraSettings(
                postgres_password=v["db_password"],
                basic_auth_username=args.username,
                basic_auth_password=v["password"],
                public_url=v["url"],
                postgres_host=v["host"],
                postgres_db=v["db"],
                postgres_user=v["user"],
                tmp_dir=TMP_DIR,
                gemini_api_key=v["gemini_api_key"] or None,
                gemini_model=args.gemini_model,
                postgres_parameters=(("sslmode", "verify-ca"), ("sslrootcert", f"{CA_MOUNT_DIR}/{CA_FILE}")),
                gcs_bucket=v["bucket"],
                gcs_project=args.project,
            )
        )
        parts = settings.apply(split_configuration)
        # split_configuration moved every secret value out of the first part: it is not secret.
        self.application: pulumi.Output[dict] = pulumi.Output.unsecret(parts.apply(lambda p: p[0]))
        self.config_secret = k8s.core.v1.Secret(
            "config-secret",
            metadata=metadata,
            type="Opaque",
            string_data={SECRET_CONFIG_KEY: pulumi.Output.secret(parts.apply(lambda p: dump_yaml(p[1])))},
            opts=in_namespace,
        )
        env = pulumi.Output.all(password=password, github_token=args.github_token).apply(
            lambda v: dict(
                entry.split("=", 1)
                for entry in secret_env(
                    {"KESTRA_USER": args.username, "KESTRA_PASSWORD": v["password"],
                     **({"GITHUB_TOKEN": v["github_token"]} if v["github_token"] else {})}
                )
            )
        )
        self.env_secret = k8s.core.v1.Secret(
            "secret-env", metadata=metadata, type="Opaque", string_data=pulumi.Output.secret(env), opts=in_namespace
        )
        self.ca_config_map = k8s.core.v1.ConfigMap(
            "cloudsql-server-ca", metadata=metadata, data={CA_FILE: database.server_ca}, opts=in_namespace
        )
        endpoint = args.endpoint
        self.backend_config = k8s.apiextensions.CustomResource(
            "backend-config",
            api_version="cloud.google.com/v1",
            kind="BackendConfig",
            metadata=metadata,
            spec=backend_config_spec(None) if endpoint.security_policy_name is None
            else endpoint.security_policy_name.apply(backend_config_spec),
            opts=in_namespace,
        )
        values = chart_values(
            image_tag=args.image_tag,
            worker_replicas=args.worker_replicas,
            application=self.application,
            config_secret_name=_metadata_name(self.config_secret),
            env_secret_name=_metadata_name(self.env_secret),
            ca_config_map_name=_metadata_name(self.ca_config_map),
            gcp_service_account_email=args.service_account_email,
            backend_config_name=_metadata_name(self.backend_config),
            address_name=endpoint.address_name,
            certificate_name=endpoint.certificate_name,
            domain=args.domain,
        )
        self.release = k8s.helm.v3.Release(
            "kestra",
            name=RELEASE,
            namespace=NAMESPACE,
            **release_chart(args.chart_repository, args.chart_is_local),
            values=values,
            timeout=RELEASE_TIMEOUT_SECONDS,
            max_history=10,
            opts=pulumi.ResourceOptions.merge(
                in_namespace,
                # Helm waits until the pods are ready (`timeout`): they need nodes and, on private
                # nodes, Cloud NAT for their images (`cluster_ready`); the Cloud SQL user and database
                # Kestra logs into at boot come with the values (its configuration names both by their
                # outputs). Kestra's GCS storage only builds its client at boot (kestra-io/storage-gcs,
                # GcsStorage.init): Workload Identity and the bucket grant are first used by a write
                # to the internal storage, so the flows wait for them (`ready`), not the release.
                pulumi.ResourceOptions(depends_on=list(args.cluster_ready)),
            ),
        )
        self.ready: list[pulumi.Resource] = [self.release, self.workload_identity, self.storage_grant]
        # Derived from the release so that whoever uses the URL waits for a deployed Kestra.
        self.url: pulumi.Output[str] = pulumi.Output.all(self.release.status, endpoint.url).apply(lambda v: v[1])
        # Flows inside Kestra reach its API through the chart's Service (webserver pods).
        self.internal_url: pulumi.Output[str] = pulumi.Output.from_input(
            f"http://{RELEASE}.{NAMESPACE}.svc.cluster.local:{KESTRA_HTTP_PORT}"
        )
        self.register_outputs(
            {"url": self.url, "internal_url": self.internal_url, "password": self.password,
             "bucket": self.bucket.name, "release": self.release.id}
        )
