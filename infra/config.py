"""The one reader of the stack configuration.

`load_config()` reads `Pulumi.<stack>.yaml` (through `pulumi.Config`) once and returns a frozen,
validated `StackConfig`. Every problem is collected and raised together as a `ConfigError` whose
lines name the config key, before any resource is declared — so a typo never half-creates a stack.

Profiles:
- ``gcp``: every GCP resource, Kestra in Docker (or external) wired to them.
- ``local``: no GCP resource at all; Kestra + Postgres in Docker, flows that need no cloud.
- ``gke``: every GCP resource of ``gcp``, and Kestra itself on GKE (Helm chart, Cloud SQL, GCS),
  keyless. Refuses ``kestraUrl`` and the Docker-only keys.
- ``auto`` (default): ``gcp`` when ``gcp:project`` is set, else ``local``.

The CLI hands the program every key declared in Pulumi.yaml, with its default when unset, so a key
cannot be told "unset" from "set to its default": a Docker-only key counts as set in the gke
profile when it differs from its declared default (`DOCKER_ONLY_DEFAULTS`, checked against
Pulumi.yaml by the tests).

Secrets are read as plaintext only to validate them and are handed on as secret Outputs; nothing
here logs a value.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlparse

import pulumi
import yaml
from pulumi.runtime.config import get_config, is_config_secret

from infra.deployment import Catalogue, FlowsTreeError, preflight
from kestra.config import basic_auth_password_problem, basic_auth_username_problem

PROJECT_NAMESPACE = "kestra-gcp"
PROJECT_DIR = Path(__file__).resolve().parents[1]  # flowsDir is relative to it

DATASET_IDS = ("kestra_test", "raw", "clean", "YellowCab", "yc_retry")
BUCKET_FOLDERS = (
    "test/",
    "yellow-cab/",
    "yellow-cab-archive/",
    "yc-retry/data/",
    "yc-retry/archive/",
    "yc-retry/errors/",
)
IAM_MODES = ("least-privilege", "guide")
PROFILES = ("auto", "gcp", "local", "gke")
DEFAULT_KESTRA_USERNAME = "admin@kestra.io"
DEFAULT_KESTRA_VERSION = "v1.1.7"
# Keys only the Docker runtime reads, with the defaults Pulumi.yaml declares for them.
DOCKER_ONLY_DEFAULTS = {
    "postgresImage": "postgres:17",
    "hostAddress": "127.0.0.1",
    "uiPort": "8080",
    "managementPort": "8081",
    "kestraPublicUrl": "",
    "startupTimeoutSeconds": "300",
    "dockerSocket": "/var/run/docker.sock",
}
# GKE release channels (container.v1 ReleaseChannel.Channel, UNSPECIFIED left out).
GKE_RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")
GKE_DEFAULTS = {
    "gkeMachineType": "e2-standard-4",
    "gkeMinNodes": 1,
    "gkeMaxNodes": 3,
    "gkeReleaseChannel": "REGULAR",
    "kestraWorkerReplicas": 1,
    "kestraSourceRanges": ("0.0.0.0/0",),
    "cloudSqlTier": "db-custom-1-3840",
    "gkeChartRepository": "https://helm.kestra.io/",
}
# Kestra's Helm chart, pinned: the release's values were read in this version's templates
# (infra/runtimes/gke/kestra.py). A local chart given as gkeChartRepository must be this one.
KESTRA_CHART = "kestra"
KESTRA_CHART_VERSION = "1.0.21"

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_OBJECT_ROLES = ("roles/storage.objectAdmin", "roles/storage.objectUser")
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9]+(-[a-z0-9]+)*$")
_SQL_TIER = re.compile(r"^db-[a-z0-9]+(-[a-z0-9]+)*$")
_NETWORK_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


# Cloud SQL for PostgreSQL's default max_connections by the instance's memory (Google's "Quotas and
# limits" page, cloud.google.com/sql/docs/postgres/quotas, "Maximum concurrent connections"): rows
# "0.6 GB (db-f1-micro) 25, 1.7 GB (db-g1-small) 50, 3.75-6 GB 100, 6-7.5 GB 200, 7.5-15 GB 400,
# 15-30 GB 500, 30-60 GB 600, 60-120 GB 800, 120 GB and more 1,000". A memory on a row's upper
# bound counts in that row (the lower figure). PostgreSQL keeps superuser_reserved_connections (3
# by default) of them for superusers.
CLOUD_SQL_MAX_CONNECTIONS = ((0.6, 25), (1.7, 50), (6, 100), (7.5, 200), (15, 400), (30, 500), (60, 600),
                             (120, 800), (float("inf"), 1000))
SUPERUSER_RESERVED_CONNECTIONS = 3
# Per Kestra JVM: Kestra 1.1 sets no pool size, so HikariCP's default maximumPoolSize (10) applies, and
# minimumIdle defaults to it, so every JVM holds all 10 (measured: 10 per component on Kestra 1.1.7).
KESTRA_CONNECTIONS_PER_JVM = 10
# The gke runtime's single-replica Deployments besides the workers: webserver (with its embedded
# indexer), executor, scheduler.
KESTRA_SINGLE_COMPONENTS = 3
# Tiers suggested when the chosen one is too small (1 vCPU per 3.75 GB, as the default).
_LARGER_SQL_TIERS = ("db-custom-2-7680", "db-custom-4-15360", "db-custom-8-30720", "db-custom-16-61440",
                     "db-custom-32-122880")


def cloud_sql_memory_gb(tier: str) -> Optional[float]:
    """The memory of a Cloud SQL tier in GB, or None for a tier name this does not know."""
    shared = {"db-f1-micro": 0.6, "db-g1-small": 1.7}
    if tier in shared:
        return shared[tier]
    custom = re.fullmatch(r"db-custom-(\d+)-(\d+)", tier)
    if custom:
        return int(custom.group(2)) / 1024
    standard = re.fullmatch(r"db-n1-(standard|highmem)-(\d+)", tier)
    if standard:
        return int(standard.group(2)) * (3.75 if standard.group(1) == "standard" else 6.5)
    return None


def cloud_sql_max_connections(tier: str) -> Optional[int]:
    """Cloud SQL's default max_connections for `tier` (None when the tier is not known here)."""
    memory = cloud_sql_memory_gb(tier)
    if memory is None:
        return None
    return next(limit for bound, limit in CLOUD_SQL_MAX_CONNECTIONS if memory <= bound)


def kestra_peak_connections(worker_replicas: int) -> int:
    """The PostgreSQL connections Kestra on GKE may hold at once: during a rolling update.

    The chart leaves each Deployment's strategy to Kubernetes' default (RollingUpdate, maxSurge 25%
    rounded up: one extra pod for a single replica), and a configuration change restarts every
    Deployment at once (the checksum/config annotation, a new Secret name), so each runs its old
    and its surge pods side by side for a while.
    """
    surge = -(-worker_replicas // 4)
    pods = 2 * KESTRA_SINGLE_COMPONENTS + worker_replicas + surge
    return pods * KESTRA_CONNECTIONS_PER_JVM


def connections_problem(tier: str, worker_replicas: int) -> Optional[str]:
    """Why `tier` cannot hold the connections of Kestra with `worker_replicas` workers, or None."""
    limit = cloud_sql_max_connections(tier)
    if limit is None:
        return None
    need = kestra_peak_connections(worker_replicas) + SUPERUSER_RESERVED_CONNECTIONS
    if need <= limit:
        return None
    larger = next((t for t in _LARGER_SQL_TIERS if (cloud_sql_max_connections(t) or 0) >= need), None)
    return (
        f"{tier} allows {limit} PostgreSQL connections, and Kestra with {worker_replicas} worker(s) may hold "
        f"{need - SUPERUSER_RESERVED_CONNECTIONS} during a rolling update ({KESTRA_CONNECTIONS_PER_JVM} per "
        f"Kestra process, {SUPERUSER_RESERVED_CONNECTIONS} more kept for superusers): choose a larger tier"
        + (f" such as {larger}" if larger else "") + " or fewer kestraWorkerReplicas"
    )


class ConfigError(pulumi.RunError, ValueError):
    """Raised with one line per invalid key; the message names each key.

    A `pulumi.RunError`, so the CLI shows just this message (no Python traceback) and stops.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class GcpSettings:
    project: str
    region: str
    bucket_name: str
    iam_mode: str
    bucket_object_role: str
    keep_data: bool
    labels: dict = field(default_factory=dict)
    dataset_ids: tuple = DATASET_IDS
    bucket_folders: tuple = BUCKET_FOLDERS
    service_account_id: str = "kestra-sa"
    topic_name: str = "file-upload-events"
    subscription_name: str = "file-upload-sub"


# pulumi-docker's address when neither docker:host nor DOCKER_HOST is set (its provider.go).
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class DockerSettings:
    """How to run Kestra + Postgres locally through the Docker engine."""

    kestra_image: str
    postgres_image: str
    host_address: str
    ui_port: int
    management_port: int
    public_url: str
    startup_timeout_seconds: int
    # The engine pulumi-docker talks to, when the program can reach it too (unix:// or plain
    # tcp://); None over TLS, SSH or a Docker context (infra/runtimes/docker_engine.py).
    engine_host: Optional[str] = DEFAULT_DOCKER_HOST
    # The engine's socket as a path on the Docker host, bind-mounted into Kestra for script tasks.
    docker_socket: str = "/var/run/docker.sock"


@dataclass(frozen=True)
class GkeSettings:
    """Kestra on GKE: the cluster, its network, Cloud SQL and the HTTPS endpoint."""

    name_prefix: str  # kestra-<stack>: the cluster's name, and a prefix for the other names
    location: str  # a zone (zonal cluster) or the region itself (regional cluster)
    network: str  # "" → a VPC of the stack's own; else the name of an existing network
    machine_type: str
    min_nodes: int
    max_nodes: int
    release_channel: str
    worker_replicas: int
    domain: Optional[str]  # None → a certificate the stack issues for the reserved IP
    source_ranges: tuple
    cloud_sql_tier: str
    kestra_image_tag: str
    # Where the release takes Kestra's chart from: a Helm repository URL (default Kestra's own,
    # https://helm.kestra.io/), or the absolute path of the chart as a folder or a .tgz archive.
    chart_repository: str = GKE_DEFAULTS["gkeChartRepository"]

    @property
    def chart_is_local(self) -> bool:
        return not _URL_SCHEME.match(self.chart_repository)


@dataclass(frozen=True)
class KestraAccess:
    """Credentials for Kestra's basic auth. A None password means: generate one."""

    username: str
    password: Optional[pulumi.Output]
    external_url: Optional[str] = None


@dataclass(frozen=True)
class FlowSettings:
    flows_dir: str
    git_repository_url: str
    git_branch: str
    demo_schedule_enabled: bool
    catalogue: Optional[Catalogue] = None  # the flows tree, read and checked with the config

    @property
    def path(self) -> Path:
        return PROJECT_DIR / self.flows_dir


@dataclass(frozen=True)
class StackConfig:
    stack: str
    profile: str  # resolved: "gcp" or "local"
    name_prefix: str  # container/network/volume names: kestra-gcp-<stack>
    gcp: Optional[GcpSettings]
    docker: Optional[DockerSettings]  # None when an external Kestra is used
    access: KestraAccess
    postgres_password: Optional[pulumi.Output]
    github_token: Optional[pulumi.Output]
    gemini_api_key: Optional[pulumi.Output]
    gemini_model: str
    flows: FlowSettings
    # keepData: retain data on destroy (GCP: bucket, objects, datasets; Kestra: KV entries and
    # namespace files). Applies from the next `pulumi up`: destroy uses the options in state.
    keep_data: bool = False
    gke: Optional[GkeSettings] = None  # set in the gke profile (then docker is None)

    @property
    def uses_gcp(self) -> bool:
        return self.gcp is not None


class _Reader:
    """Typed access to raw config values, collecting problems instead of raising at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def raw(self, key: str) -> Optional[str]:
        full_key = key if ":" in key else f"{PROJECT_NAMESPACE}:{key}"
        value = get_config(full_key)
        return None if value is None or value == "" else str(value)

    def text(self, key: str, default: Optional[str] = None) -> Optional[str]:
        value = self.raw(key)
        return default if value is None else value.strip()

    def choice(self, key: str, choices: tuple, default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            self.problems.append(f"{self.name(key)}: {value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        self.problems.append(f"{self.name(key)}: expected true or false, got {value!r}")
        return default

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw(key)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problems.append(f"{self.name(key)}: expected a whole number, got {value!r}")
            return default
        if not low <= number <= high:
            self.problems.append(f"{self.name(key)}: {number} is outside {low}..{high}")
            return default
        return number

    def strings(self, key: str, default: tuple) -> tuple:
        """A key declared `type: array` of strings: the CLI hands its value over as JSON text."""
        import json

        value = self.raw(key)
        if value is None:
            return tuple(default)
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            self.problems.append(
                f"{self.name(key)}: expected a list of strings, e.g. "
                f"`pulumi config set --path '{key}[0]' 203.0.113.0/24`"
            )
            return tuple(default)
        return tuple(v.strip() for v in parsed)

    def mapping(self, key: str) -> dict:
        """A key declared `type: object`: the CLI hands its value to the program as JSON text."""
        import json

        value = self.raw(key)
        if value is None:
            return {}
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            self.problems.append(
                f"{self.name(key)}: expected a map, e.g. `pulumi config set --path {key}.team data`"
            )
            return {}
        return {str(k): str(v) for k, v in parsed.items()}

    def secret(
        self, key: str, validate: Optional[Callable[[str], Optional[str]]] = None
    ) -> Optional[pulumi.Output]:
        value = self.raw(key)
        if value is None:
            return None
        if not is_config_secret(self.full(key)):
            self.problems.append(
                f"{self.name(key)}: must be stored encrypted — "
                f"run `pulumi config set --secret {key.split(':')[-1]} …`"
            )
        if validate is not None:
            reason = validate(value)
            if reason:
                self.problems.append(f"{self.name(key)}: {reason}")
        return pulumi.Output.secret(value)

    @staticmethod
    def full(key: str) -> str:
        return key if ":" in key else f"{PROJECT_NAMESPACE}:{key}"

    def name(self, key: str) -> str:
        return self.full(key)


def bucket_name_problem(name: str) -> Optional[str]:
    """Why `name` breaks Cloud Storage bucket naming rules, or None when it is valid."""
    if not 3 <= len(name) <= 222:
        return "must be 3 to 63 characters (222 with dots)"
    if "." not in name and len(name) > 63:
        return "must be at most 63 characters"
    if any(len(part) > 63 or not part for part in name.split(".")):
        return "each dot-separated part must be 1 to 63 characters"
    if not _BUCKET_CHARS.match(name):
        return (
            "may hold only lowercase letters, digits, '-', '_' and '.', "
            "and must start and end with a letter or digit"
        )
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        return "must not start with 'goog' or contain 'google'"
    try:
        ipaddress.ip_address(name)
        return "must not look like an IP address"
    except ValueError:
        pass
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain '..', '.-' or '-.'"
    return None


def _http_url_problem(url: str) -> Optional[str]:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "must be an http(s) URL such as http://localhost:8080"
    return None


def load_config(stack: Optional[str] = None) -> StackConfig:
    """Reads and validates the whole stack configuration; raises ConfigError listing every problem."""
    stack = stack or pulumi.get_stack()
    r = _Reader()

    profile = r.choice("profile", PROFILES, "auto")
    project = r.text("gcp:project")
    if profile == "auto":
        profile = "gcp" if project else "local"
    keep_data = r.boolean("keepData", False)
    gcp = _read_gcp(r, project, keep_data) if profile in ("gcp", "gke") else None

    external_url = r.text("kestraUrl")
    if external_url and profile == "gke":
        r.problems.append(
            f"{r.name('kestraUrl')}: the gke profile runs its own Kestra on GKE — remove it "
            "(`pulumi config rm kestraUrl`), or use profile gcp or local for an existing Kestra"
        )
        external_url = None
    elif external_url and (problem := _http_url_problem(external_url)):
        r.problems.append(f"{r.name('kestraUrl')}: {problem}")
    username = r.text("kestraUsername", DEFAULT_KESTRA_USERNAME)
    if problem := basic_auth_username_problem(username):
        r.problems.append(
            f"{r.name('kestraUsername')}: {problem}; got {username!r} "
            "(Kestra would not apply it, and every API call would get 401)"
        )
    password = r.secret("kestraPassword", basic_auth_password_problem)
    if external_url and password is None:
        r.problems.append(
            f"{r.name('kestraPassword')}: required with kestraUrl (the external Kestra's basic-auth password)"
        )
    gke = _read_gke(r, gcp, stack) if profile == "gke" else None
    docker = None if external_url or profile == "gke" else _read_docker(r)

    flows_dir = r.text("flowsDir", "flows")
    demo_schedule_enabled = r.boolean("demoScheduleEnabled", False)
    catalogue = None
    try:  # the flows tree is configuration too: a missing folder or bad file stops the program here
        catalogue = preflight(PROJECT_DIR / flows_dir, include_gcp=gcp is not None,
                              demo_schedule_enabled=demo_schedule_enabled)
    except FlowsTreeError as exc:
        r.problems.append(f"{r.name('flowsDir')}: {exc}")
    flows = FlowSettings(
        flows_dir=flows_dir,
        git_repository_url=r.text("gitRepositoryUrl", "https://github.com/kestra-io/flows"),
        git_branch=r.text("gitBranch", "main"),
        demo_schedule_enabled=demo_schedule_enabled,
        catalogue=catalogue,
    )
    if problem := _http_url_problem(flows.git_repository_url):
        r.problems.append(f"{r.name('gitRepositoryUrl')}: {problem}")

    postgres_password = r.secret("postgresPassword", _postgres_password_problem)
    if keep_data and docker is not None and postgres_password is None:
        # Postgres keeps the password its data directory was initialised with; a generated one
        # is a new one after destroy, which the kept database refuses (Kestra never gets healthy).
        r.problems.append(
            f"{r.name('postgresPassword')}: required with keepData on the Docker runtime — the kept Postgres "
            "volume only accepts the password it was first started with, and a generated one changes with "
            "every destroy. Set it (`pulumi config set --secret postgresPassword …`, 12+ characters); on a "
            "deployed stack, to the one Postgres has now: the `result` of kestra-postgres-password in "
            "`pulumi stack export --show-secrets`"
        )
    config = StackConfig(
        stack=stack,
        profile=profile,
        name_prefix=f"kestra-gcp-{stack}".lower(),
        gcp=gcp,
        docker=docker,
        access=KestraAccess(username=username, password=password, external_url=external_url),
        postgres_password=postgres_password,
        github_token=r.secret("githubToken"),
        gemini_api_key=r.secret("geminiApiKey"),
        gemini_model=r.text("geminiModel", "gemini-2.5-flash"),
        flows=flows,
        keep_data=keep_data,
        gke=gke,
    )
    if r.problems:
        raise ConfigError(r.problems)
    return config


def _postgres_password_problem(password: str) -> Optional[str]:
    return "must be at least 12 characters" if len(password) < 12 else None


def _read_gcp(r: _Reader, project: Optional[str], keep_data: bool) -> Optional[GcpSettings]:
    if not project:
        r.problems.append(
            "gcp:project: required for the gcp profile — run `pulumi config set gcp:project <id>` "
            "(or `pulumi config set profile local` for Kestra without GCP)"
        )
        return None
    if project.startswith("REPLACE"):
        r.problems.append(
            "gcp:project: still the example placeholder from Pulumi.dev.yaml — "
            "run `pulumi config set gcp:project <your-project-id>`"
        )
    elif not _PROJECT_ID.match(project):
        r.problems.append(
            f"gcp:project: {project!r} is not a project id (6-30 lowercase letters, digits, hyphens)"
        )
    region = r.text("gcp:region", "europe-west2")
    if not _REGION.match(region):
        r.problems.append(f"gcp:region: {region!r} is not a region such as europe-west2")

    bucket_name = r.text("bucketName", f"{project}-kestra")
    if problem := bucket_name_problem(bucket_name):
        r.problems.append(f"{r.name('bucketName')}: {bucket_name!r} {problem}")

    object_role = r.text("bucketObjectRole", "roles/storage.objectAdmin")
    if object_role not in _OBJECT_ROLES:
        r.problems.append(
            f"{r.name('bucketObjectRole')}: {object_role!r} is not one of {', '.join(_OBJECT_ROLES)}"
        )
    labels = {"managed-by": "pulumi", "app": "kestra"} | r.mapping("labels")
    for key, value in labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            r.problems.append(
                f"{r.name('labels')}: {key}={value} breaks GCP label rules "
                "(lowercase letters, digits, '_' and '-'; keys start with a letter)"
            )
    return GcpSettings(
        project=project,
        region=region,
        bucket_name=bucket_name,
        iam_mode=r.choice("iamMode", IAM_MODES, "least-privilege"),
        bucket_object_role=object_role,
        keep_data=keep_data,
        labels=labels,
    )


def _read_kestra_version(r: _Reader) -> str:
    version = r.text("kestraVersion", DEFAULT_KESTRA_VERSION)
    if not _IMAGE_TAG.match(version):
        r.problems.append(f"{r.name('kestraVersion')}: {version!r} is not a Docker image tag")
    return version


def domain_problem(domain: str) -> Optional[str]:
    """Why `domain` cannot name Kestra's HTTPS endpoint (a Google-managed certificate), or None."""
    if len(domain) > 253 or "." not in domain:
        return "must be a fully qualified domain name such as kestra.example.com"
    try:
        ipaddress.ip_address(domain)
        return "must be a domain name, not an IP address (leave it empty to use the reserved IP)"
    except ValueError:
        pass
    if not all(_DOMAIN_LABEL.match(label) for label in domain.split(".")):
        return "must be lowercase letters, digits and '-' in dot-separated labels (no scheme, port or path)"
    return None


def _cluster_name(stack: str) -> str:
    """kestra-<stack> as a GKE cluster name: lowercase letters, digits, '-', at most 40 characters."""
    slug = re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-") or "stack"
    return f"kestra-{slug}"[:40].rstrip("-")


def _read_gke(r: _Reader, gcp: Optional[GcpSettings], stack: str) -> Optional[GkeSettings]:
    for key, default in DOCKER_ONLY_DEFAULTS.items():
        value = r.raw(key)
        if value is not None and value.strip() != default:
            r.problems.append(
                f"{r.name(key)}: Docker-only, the gke profile does not use it — remove it "
                f"(`pulumi config rm {key}`)"
            )
    region = gcp.region if gcp else r.text("gcp:region", "europe-west2")
    location = r.text("gkeLocation", f"{region}-b")
    if location != region and not re.fullmatch(rf"{re.escape(region)}-[a-z]", location):
        r.problems.append(
            f"{r.name('gkeLocation')}: {location!r} is neither gcp:region ({region}, a regional "
            f"cluster) nor one of its zones such as {region}-b"
        )
    network = r.text("gkeNetwork", "")
    if network and not _NETWORK_NAME.match(network):
        r.problems.append(f"{r.name('gkeNetwork')}: {network!r} is not a VPC network name")
    machine_type = r.text("gkeMachineType", GKE_DEFAULTS["gkeMachineType"])
    if not _MACHINE_TYPE.match(machine_type):
        r.problems.append(f"{r.name('gkeMachineType')}: {machine_type!r} is not a machine type such as e2-standard-4")
    min_nodes = r.integer("gkeMinNodes", GKE_DEFAULTS["gkeMinNodes"], 0, 100)
    max_nodes = r.integer("gkeMaxNodes", GKE_DEFAULTS["gkeMaxNodes"], 1, 100)
    if min_nodes > max_nodes:
        r.problems.append(f"{r.name('gkeMaxNodes')}: {max_nodes} is below gkeMinNodes ({min_nodes})")
    release_channel = r.choice("gkeReleaseChannel", GKE_RELEASE_CHANNELS, GKE_DEFAULTS["gkeReleaseChannel"])
    worker_replicas = r.integer("kestraWorkerReplicas", GKE_DEFAULTS["kestraWorkerReplicas"], 1, 50)
    domain = r.text("kestraDomain")
    if domain and (problem := domain_problem(domain)):
        r.problems.append(f"{r.name('kestraDomain')}: {domain!r} {problem}")
    source_ranges = r.strings("kestraSourceRanges", GKE_DEFAULTS["kestraSourceRanges"])
    if not source_ranges:
        r.problems.append(
            f"{r.name('kestraSourceRanges')}: must hold at least one CIDR range (0.0.0.0/0 for anywhere)"
        )
    for cidr in source_ranges:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            r.problems.append(
                f"{r.name('kestraSourceRanges')}: {cidr!r} is not a CIDR range such as 203.0.113.0/24"
            )
    tier = r.text("cloudSqlTier", GKE_DEFAULTS["cloudSqlTier"])
    if not _SQL_TIER.match(tier):
        r.problems.append(f"{r.name('cloudSqlTier')}: {tier!r} is not a Cloud SQL tier such as db-custom-1-3840")
    if (problem := connections_problem(tier, worker_replicas)) and _SQL_TIER.match(tier):
        r.problems.append(f"{r.name('cloudSqlTier')}: {problem}")
    version = _read_kestra_version(r)
    chart_repository = _read_chart_repository(r)
    if gcp is None:
        return None
    return GkeSettings(
        name_prefix=_cluster_name(stack),
        location=location,
        network=network,
        machine_type=machine_type,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        release_channel=release_channel,
        worker_replicas=worker_replicas,
        domain=domain or None,
        source_ranges=source_ranges,
        cloud_sql_tier=tier,
        kestra_image_tag=version,
        chart_repository=chart_repository,
    )


_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def _chart_metadata(path: Path) -> dict:
    """Chart.yaml of a chart folder, or of a packaged chart (<name>/Chart.yaml in a .tgz, as
    `helm package` writes it); raises ValueError saying what is wrong."""
    if path.is_dir():
        chart_yaml = path / "Chart.yaml"
        if not chart_yaml.is_file():
            raise ValueError("is a folder without Chart.yaml, not a Helm chart")
        text = chart_yaml.read_text(encoding="utf-8")
    else:
        try:
            with tarfile.open(path, "r:*") as archive:
                member = next((m for m in archive.getmembers()
                               if m.isfile() and m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), None)
                if member is None:
                    raise ValueError("is an archive without <chart>/Chart.yaml, not a packaged Helm chart")
                text = archive.extractfile(member).read().decode("utf-8")
        except (tarfile.TarError, OSError) as error:
            raise ValueError(f"is neither a chart folder nor a chart archive (.tgz): {error}") from None
    try:
        metadata = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"has a Chart.yaml that does not parse: {error}") from None
    if not isinstance(metadata, dict):
        raise ValueError("has a Chart.yaml that is not a mapping")
    return metadata


def _read_chart_repository(r: _Reader) -> str:
    """gkeChartRepository: a Helm repository serving Kestra's chart (a mirror, for clusters that
    cannot reach https://helm.kestra.io/), or the chart itself on disk — a folder or a .tgz,
    absolute or relative to the project — which must be chart `kestra` at the pinned version."""
    key = "gkeChartRepository"
    value = (r.text(key, GKE_DEFAULTS[key]) or GKE_DEFAULTS[key]).strip()
    if _URL_SCHEME.match(value):
        parsed = urlparse(value)
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            r.problems.append(
                f"{r.name(key)}: {value!r} is not a Helm repository URL (https://host/path/) nor a local chart path"
            )
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else PROJECT_DIR / path
    if not path.exists():
        r.problems.append(f"{r.name(key)}: {value!r} is neither a Helm repository URL nor an existing chart folder or archive")
        return value
    try:
        metadata = _chart_metadata(path)
    except ValueError as error:
        r.problems.append(f"{r.name(key)}: {value!r} {error}")
        return value
    found = (metadata.get("name"), str(metadata.get("version")))
    if found != (KESTRA_CHART, KESTRA_CHART_VERSION):
        r.problems.append(
            f"{r.name(key)}: {value!r} is chart {found[0]} {found[1]}; the stack's values are written for "
            f"{KESTRA_CHART} {KESTRA_CHART_VERSION}"
        )
    return str(path.resolve())


def _api_disabled(error: Exception) -> bool:
    """Whether GCP answered that the API is not enabled in the project (403 SERVICE_DISABLED):
    on a first `up` the stack itself enables the Compute Engine API (infra/services.py)."""
    text = str(error)
    return any(s in text for s in ("SERVICE_DISABLED", "accessNotConfigured", "has not been used in project"))


def check_in_gcp(config: StackConfig) -> None:
    """What only GCP can answer about the gke keys, asked (through the provider's data sources,
    during preview too) before any resource is declared; raises ConfigError naming the key.

    - gcp:region / gkeLocation: the region's zones (compute.getZones; none for a region that
      does not exist); the default location `<region>-b` is not a zone of every region.
    - gkeNetwork: the network exists (compute.getNetwork answers "… not found" otherwise; with
      the Compute Engine API still disabled the project has no network at all).
    """
    if config.gke is None or config.gcp is None:
        return
    import pulumi_gcp as gcp

    project, region, gke = config.gcp.project, config.gcp.region, config.gke
    problems: list[str] = []
    try:
        zones = tuple(gcp.compute.get_zones(project=project, region=region).names or ())
    except Exception as exc:  # noqa: BLE001 only "API disabled" is expected here
        if not _api_disabled(exc):
            raise
        pulumi.log.warn(f"gkeLocation: not checked, the Compute Engine API is not enabled in {project} yet")
        zones = None
    location_key = _Reader.full("gkeLocation")
    if zones is not None and not zones:
        problems.append(f"gcp:region: GCP has no zones in {region!r}: not a region (see `gcloud compute regions list`)")
    elif zones is not None and gke.location != region and gke.location not in zones:
        defaulted = get_config(location_key) in (None, "")
        problems.append(
            f"{location_key}: {gke.location!r} is not a zone of {region} "
            + ("(the default, <gcp:region>-b) " if defaulted else "")
            + f"— its zones are {', '.join(zones)}: run `pulumi config set gkeLocation {zones[0]}`"
        )
    if gke.network:
        problems += _existing_network_problems(gcp, project, gke)
    if problems:
        raise ConfigError(problems)


def _existing_network_problems(gcp, project: str, gke: GkeSettings) -> list[str]:
    try:
        gcp.compute.get_network(name=gke.network, project=project)
    except Exception as exc:  # noqa: BLE001 "not found" is the answer asked for
        if "not found" not in str(exc) and not _api_disabled(exc):
            raise
        return [
            f"{_Reader.full('gkeNetwork')}: project {project} has no network {gke.network!r} — create it, "
            "or leave gkeNetwork empty for a network of the stack's own (`pulumi config rm gkeNetwork`)"
        ]
    return []


def _read_docker(r: _Reader) -> DockerSettings:
    version = _read_kestra_version(r)
    host_address = r.text("hostAddress", "127.0.0.1")
    try:
        ipaddress.ip_address(host_address)
    except ValueError:
        r.problems.append(f"{r.name('hostAddress')}: {host_address!r} is not an IP address")
    ui_port = r.integer("uiPort", 8080, 1, 65535)
    management_port = r.integer("managementPort", 8081, 1, 65535)
    if ui_port == management_port:
        r.problems.append(f"{r.name('managementPort')}: must differ from uiPort ({ui_port})")
    browser_host = "localhost" if host_address in ("127.0.0.1", "0.0.0.0") else host_address
    public_url = r.text("kestraPublicUrl", f"http://{browser_host}:{ui_port}")
    if problem := _http_url_problem(public_url):
        r.problems.append(f"{r.name('kestraPublicUrl')}: {problem}")
    # A bind mount's source must exist on the Docker host (Docker refuses the container otherwise),
    # and a rootless engine's socket is not /var/run/docker.sock but $XDG_RUNTIME_DIR/docker.sock.
    docker_socket = r.text("dockerSocket", DOCKER_ONLY_DEFAULTS["dockerSocket"])
    if not docker_socket.startswith("/"):
        r.problems.append(f"{r.name('dockerSocket')}: {docker_socket!r} is not an absolute path on the Docker host")
    return DockerSettings(
        kestra_image=f"kestra/kestra:{version}",
        postgres_image=r.text("postgresImage", "postgres:17"),
        host_address=host_address,
        ui_port=ui_port,
        management_port=management_port,
        public_url=public_url.rstrip("/"),
        startup_timeout_seconds=r.integer("startupTimeoutSeconds", 300, 30, 3600),
        engine_host=_docker_engine_host(r),
        docker_socket=docker_socket,
    )


def _docker_engine_host(r: _Reader) -> Optional[str]:
    """Where pulumi-docker finds the engine, as its provider configuration resolves it: docker:host
    or DOCKER_HOST, else the local socket; a Docker context overrides the host, and a certificate
    means TLS — both of which this program does not speak (None)."""
    tls = any(r.raw(f"docker:{k}") for k in ("certPath", "caMaterial", "certMaterial", "keyMaterial"))
    if r.raw("docker:context") or os.environ.get("DOCKER_CONTEXT") or tls or os.environ.get("DOCKER_CERT_PATH"):
        return None
    host = r.text("docker:host") or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    return host if host.startswith(("unix://", "tcp://")) else None

