"""The one reader of the stack configuration.

`load_config()` reads `Pulumi.<stack>.yaml` (through `pulumi.Config`) once and returns a frozen,
validated `StackConfig`. Every problem is collected and raised together as a `ConfigError` whose
lines name the config key, before any resource is declared — so a typo never half-creates a stack.

Profiles:
- ``gcp``: every GCP resource, Kestra in Docker (or external) wired to them.
- ``local``: no GCP resource at all; Kestra + Postgres in Docker, flows that need no cloud.
- ``auto`` (default): ``gcp`` when ``gcp:project`` is set, else ``local``.

Secrets are read as plaintext only to validate them and are handed on as secret Outputs; nothing
here logs a value.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlparse

import pulumi
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
PROFILES = ("auto", "gcp", "local")
DEFAULT_KESTRA_USERNAME = "admin@kestra.io"

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_OBJECT_ROLES = ("roles/storage.objectAdmin", "roles/storage.objectUser")


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
    gcp = _read_gcp(r, project, keep_data) if profile == "gcp" else None

    external_url = r.text("kestraUrl")
    if external_url and (problem := _http_url_problem(external_url)):
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
    docker = None if external_url else _read_docker(r)

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

    config = StackConfig(
        stack=stack,
        profile=profile,
        name_prefix=f"kestra-gcp-{stack}".lower(),
        gcp=gcp,
        docker=docker,
        access=KestraAccess(username=username, password=password, external_url=external_url),
        postgres_password=r.secret("postgresPassword", _postgres_password_problem),
        github_token=r.secret("githubToken"),
        gemini_api_key=r.secret("geminiApiKey"),
        gemini_model=r.text("geminiModel", "gemini-2.5-flash"),
        flows=flows,
        keep_data=keep_data,
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


def _read_docker(r: _Reader) -> DockerSettings:
    version = r.text("kestraVersion", "v1.1.7")
    if not _IMAGE_TAG.match(version):
        r.problems.append(f"{r.name('kestraVersion')}: {version!r} is not a Docker image tag")
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
    return DockerSettings(
        kestra_image=f"kestra/kestra:{version}",
        postgres_image=r.text("postgresImage", "postgres:17"),
        host_address=host_address,
        ui_port=ui_port,
        management_port=management_port,
        public_url=public_url.rstrip("/"),
        startup_timeout_seconds=r.integer("startupTimeoutSeconds", 300, 30, 3600),
    )

