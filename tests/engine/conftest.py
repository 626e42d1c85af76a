"""Fixtures for the engine tests (marker ``engine``): the real Pulumi CLI runs the real program.

- `pulumi_tools`: the CLI built by ``scripts/install-tools`` (``.tools/bin`` first, then PATH) with
  our Python language host and the SDK's two scripts next to it. Missing tools skip the test
  locally and fail it in CI (`tests.support.tiers`). ``KESTRA_GCP_PULUMI_BIN=<folder>`` runs the
  tier on the CLI and Python host in that folder instead (for one, upstream's, built from
  pulumi/pulumi's source: the host users run, which the Go proxy does not serve).
- `engine_project`: a copy of the project (program, Pulumi.yaml unchanged, flows, data) in a
  temporary folder, with a stack ``dev`` in a temporary file backend, its own ``PULUMI_HOME``, a
  passphrase, and automatic plugin downloads switched off. ``venv`` in the copy links to the
  virtualenv running the tests, which is what Pulumi.yaml's ``virtualenv: venv`` then uses (the
  same venv in CI and locally; nothing is installed). `EngineProject.pulumi(...)` runs one command
  with ``--non-interactive`` and records its wall time.
- `kestra_standin`: the Kestra stand-in as a separate process on 127.0.0.1
  (``python -m tests.support.kestra_standin``), stopped by closing its stdin.
- `external_project`: `engine_project` configured for the external-Kestra profile against the
  stand-in (no GCP, no Docker: the only provider it needs is the dynamic provider host).
- `echo_plugins`: our echo provider plugins (``.tools/echo``, built by ``scripts/install-tools``)
  standing in for gcp, docker, random, kubernetes and tls. `EngineProject.install_echo_plugins`
  puts them into the project's own ``PULUMI_HOME/plugins`` under the version each reports, where
  the engine resolves them by name and version like downloaded plugins; every create, update and
  delete they receive is logged (`EngineProject.echo_log`). They refuse what GCP would refuse
  (tools/pulumi/cmd/pulumi-resource-echo/refusals.go), and an API's enablement, a cluster and a
  Cloud SQL instance take `ECHO_PROVISIONING_MS` to create.
- `local_project` / `gcp_project`: the Docker runtime (local profile) and GCP + Docker (gcp
  profile) on the echo plugins, Kestra's published address pointed by config at the stand-in, so
  the deployment really talks to a Kestra (`uiPort` is the stand-in's port).
- `gke_standin` / `gke_project`: the gke profile (GCP + Kestra on GKE) on the echo plugins; the
  endpoint's reserved address is a loopback address on whose port 443 the stand-in answers HTTPS
  as the Ingress's load balancer would (`tests.support.echo_cloud`), with the certificate the stack
  issued and uploaded, so the flows deploy over verified HTTPS. The echo plugins keep what they
  hold in the project's ``echo-cloud`` folder (`echo_store`).

Without `install_echo_plugins` no provider plugin is installed: a command that needs one fails
with the CLI's "no resource plugin" error, which tests may assert on.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from tests.support import tiers

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
# A folder holding another build of the CLI and its Python plugins; when set, the tests use it only.
TOOLS_BIN_ENV = "KESTRA_GCP_PULUMI_BIN"
INSTALL_COMMAND = "scripts/install-tools (needs Go; builds the Pulumi CLI into .tools/bin)"
TOOLS = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python")
ECHO_DIR = REPO_ROOT / ".tools" / "echo"
ECHO_PROVIDERS = ("gcp", "docker", "random", "kubernetes", "tls")
ECHO_LOG_ENV = "PULUMI_ECHO_PLUGIN_LOG"
ECHO_STORE_ENV = "PULUMI_ECHO_PLUGIN_STORE"
# The address the echo gcp plugin reserves for an EXTERNAL global address (the gke endpoint's).
ECHO_EXTERNAL_ADDRESS_ENV = "PULUMI_ECHO_GCP_EXTERNAL_ADDRESS"
# How long an API's enablement, a GKE cluster and a Cloud SQL instance are being created in the
# echo cloud (refusals.go): long enough that a resource created alongside one that it needs,
# instead of after it, meets it not yet up and is refused as GCP would; short, as CI runs it all.
ECHO_PROVISIONING_ENV = "PULUMI_ECHO_GCP_PROVISIONING_MS"
ECHO_PROVISIONING_MS = 300
# Organization policy constraints the echo project is under (comma-separated), e.g.
# iam.disableServiceAccountKeyCreation.
ECHO_ENFORCED_CONSTRAINTS_ENV = "PULUMI_ECHO_GCP_ENFORCED_CONSTRAINTS"
# What `pulumi up` needs of the repository: the program, its packages, what it deploys, and the
# policy pack (`--policy-pack policy`).
PROJECT_FILES = ("__main__.py", "Pulumi.yaml", "requirements.txt", "infra", "kestra", "flows", "data", "policy")
PROJECT_ID = "acme-data-123"
PROJECT = "kestra-gcp"
STACK = "dev"
PASSPHRASE = "engine-tests-passphrase"
COMMAND_TIMEOUT = 600


def pytest_collection_modifyitems(items):
    """Every test in this folder runs the engine: `-m engine` selects them, `-m "not engine"` skips them."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.engine)


@dataclass(frozen=True)
class PulumiTools:
    bin_dir: Path
    version: str

    @property
    def pulumi(self) -> Path:
        return self.bin_dir / "pulumi"


def find_pulumi_tools() -> Optional[PulumiTools]:
    """The first folder (.tools/bin, then PATH) holding the CLI and its Python plugins, or None;
    only the folder KESTRA_GCP_PULUMI_BIN names when it is set."""
    chosen = os.environ.get(TOOLS_BIN_ENV)
    candidates = [Path(chosen)] if chosen else [TOOLS_BIN]
    on_path = shutil.which("pulumi")
    if on_path and not chosen:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in TOOLS):
            run = subprocess.run([str(folder / "pulumi"), "version"], capture_output=True, text=True, timeout=60)
            if run.returncode == 0:
                return PulumiTools(folder, run.stdout.strip())
    return None


@pytest.fixture(scope="session")
def pulumi_tools() -> PulumiTools:
    tools = find_pulumi_tools()
    where = f" in {os.environ[TOOLS_BIN_ENV]} ({TOOLS_BIN_ENV})" if os.environ.get(TOOLS_BIN_ENV) else ""
    tiers.require(tools is not None, f"the Pulumi CLI with its Python plugins ({', '.join(TOOLS)}){where}",
                  INSTALL_COMMAND)
    return tools


@dataclass(frozen=True)
class EchoPlugins:
    """The echo provider plugins and the plugin version each reports (`-version`)."""

    dir: Path
    versions: dict

    def binary(self, name: str) -> Path:
        return self.dir / f"pulumi-resource-{name}"


def find_echo_plugins() -> Optional[EchoPlugins]:
    versions = {}
    for name in ECHO_PROVIDERS:
        binary = ECHO_DIR / f"pulumi-resource-{name}"
        if not os.access(binary, os.X_OK):
            return None
        run = subprocess.run([str(binary), "-version"], capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            return None
        versions[name] = run.stdout.strip()
    return EchoPlugins(ECHO_DIR, versions)


@pytest.fixture(scope="session")
def echo_plugins(pulumi_tools) -> EchoPlugins:
    echo = find_echo_plugins()
    tiers.require(echo is not None, f"the echo provider plugins ({', '.join(ECHO_PROVIDERS)}) in .tools/echo",
                  "scripts/install-tools (needs Go and the test virtualenv; builds them into .tools/echo)")
    return echo


@dataclass
class PulumiRun:
    """One finished CLI command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


class PulumiCommandError(AssertionError):
    def __init__(self, run: PulumiRun) -> None:
        self.run = run
        super().__init__(
            f"`pulumi {' '.join(run.args)}` exited {run.returncode} after {run.seconds:.1f} s:\n{run.output}"
        )


@dataclass
class EngineProject:
    """A temporary copy of the project with its own state, bound to one stack."""

    dir: Path
    env: dict
    tools: PulumiTools
    stack: str = STACK
    runs: list[PulumiRun] = field(default_factory=list)

    @property
    def stack_file(self) -> Path:
        return self.dir / f"Pulumi.{self.stack}.yaml"

    def command(self, *args: str) -> list[str]:
        return [str(self.tools.pulumi), "--non-interactive", *args]

    def pulumi(self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT,
               env: Optional[dict] = None) -> PulumiRun:
        """Runs `pulumi --non-interactive ARGS` in the project; raises PulumiCommandError on failure if check."""
        started = time.monotonic()
        done = subprocess.run(
            self.command(*args), cwd=self.dir, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        run = PulumiRun(list(args), done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        self.runs.append(run)
        if check and run.returncode != 0:
            raise PulumiCommandError(run)
        return run

    def popen(self, *args: str, env: Optional[dict] = None) -> subprocess.Popen:
        """Starts `pulumi --non-interactive ARGS` in its own process group (for SIGINT tests)."""
        return subprocess.Popen(
            self.command(*args), cwd=self.dir, env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )

    @staticmethod
    def interrupt(process: subprocess.Popen) -> None:
        """Sends SIGINT as a terminal's Ctrl-C would (to the CLI's process group)."""
        os.killpg(process.pid, signal.SIGINT)

    def set_config(self, values: dict[str, Any], secret: bool = False) -> None:
        """`pulumi config set` for each key (namespaced like "gcp:project" or plain like "profile")."""
        for key, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value)
            self.pulumi("config", "set", *(["--secret"] if secret else ["--plaintext"]), key, "--", text)

    def write_stack_config(self, config: dict[str, Any]) -> None:
        """Puts `config` into Pulumi.<stack>.yaml as a user would write it (plaintext values only),
        keeping the encryption salt `pulumi stack init` wrote."""
        document = yaml.safe_load(self.stack_file.read_text()) if self.stack_file.exists() else None
        document = document or {}
        document.setdefault("config", {})
        document["config"].update(config)
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def use_example_stack_file(self) -> dict:
        """Merges the repository's example stack file (Pulumi.dev.yaml) into this stack's."""
        example = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())["config"]
        self.write_stack_config(example)
        return example

    def install_echo_plugins(self, echo: EchoPlugins, skip: tuple[str, ...] = ()) -> None:
        """Installs the echo plugins (but those named in `skip`) into this project's PULUMI_HOME as
        the engine installs a downloaded plugin (plugins/resource-NAME-vVERSION/pulumi-resource-NAME),
        and logs their operations to a file of this project's."""
        plugins = Path(self.env["PULUMI_HOME"]) / "plugins"
        for name, version in echo.versions.items():
            if name in skip:
                continue
            folder = plugins / f"resource-{name}-v{version}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"pulumi-resource-{name}").symlink_to(echo.binary(name))
        self.env[ECHO_LOG_ENV] = str(self.dir.parent / "echo-operations.jsonl")
        self.env[ECHO_STORE_ENV] = str(echo_store(self.dir.parent))
        self.env[ECHO_PROVISIONING_ENV] = str(ECHO_PROVISIONING_MS)

    def echo_log(self) -> list[dict]:
        """Every create, update and delete the echo plugins received, oldest first."""
        path = Path(self.env[ECHO_LOG_ENV])
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def reset_echo_log(self) -> None:
        Path(self.env[ECHO_LOG_ENV]).unlink(missing_ok=True)

    def stack_outputs(self, show_secrets: bool = True) -> dict:
        args = ["stack", "output", "--json"] + (["--show-secrets"] if show_secrets else [])
        return self.pulumi(*args).json()


def echo_store(root: Path) -> Path:
    """Where the echo plugins of the project in `root` keep the live resources (tests.support.echo_cloud)."""
    return root / "echo-cloud"


def _engine_env(root: Path, tools: PulumiTools) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        PATH=os.pathsep.join([str(tools.bin_dir), venv_bin, env.get("PATH", "")]),
        PULUMI_HOME=str(root / "pulumi-home"),
        PULUMI_BACKEND_URL=(root / "state").as_uri(),
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        # Nothing may be downloaded: a missing provider plugin must fail, not be fetched.
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_SKIP_CONFIRMATIONS="true",
        NO_COLOR="1",
    )
    (root / "state").mkdir(parents=True, exist_ok=True)
    return env


def copy_project(destination: Path) -> Path:
    """Copies what the program needs into `destination` and links its `venv` to the running venv."""
    destination.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, destination / name)
    in_venv = sys.prefix != sys.base_prefix
    tiers.require(in_venv, "a virtualenv running the tests (Pulumi.yaml runs the program in one)",
                  "python -m venv venv && venv/bin/pip install -r requirements-test.txt")
    (destination / "venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return destination


@pytest.fixture
def engine_project(tmp_path: Path, pulumi_tools: PulumiTools) -> EngineProject:
    project = EngineProject(copy_project(tmp_path / "project"), _engine_env(tmp_path, pulumi_tools), pulumi_tools)
    project.pulumi("stack", "init", project.stack)
    return project


@dataclass
class StandinProcess:
    """The Kestra stand-in running in another process."""

    url: str
    username: str
    password: str
    process: subprocess.Popen
    https: Optional[str] = None  # the load balancer's URL, https://<address> (gke_standin)

    @property
    def address(self) -> str:
        """The address the load balancer listens on (port 443)."""
        assert self.https is not None, "this stand-in has no load balancer"
        return self.https.removeprefix("https://")

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Calls one of the stand-in's /_standin/ control paths (no auth) and returns its JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_standin/{path.lstrip('/')}", data=data, method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None


def _run_standin(*args: str):
    """Runs the stand-in in its own process; yields its StandinProcess and checks no hazard came."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.kestra_standin", *args], cwd=REPO_ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Kestra stand-in exited with {process.wait(10)} before printing its address")
        info = json.loads(line)
        # Keep draining its stdout so a chatty stand-in never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        standin = StandinProcess(info["url"], info["username"], info["password"], process, info.get("https"))
        yield standin
        # A PUT of a missing flow or dashboard can freeze a real Kestra 1.1 (KestraStandin._hazard).
        hazards = standin.control("GET", "stats")["hazards"]
        assert not hazards, "hazardous request(s) sent to Kestra:\n" + "\n".join(hazards)
    finally:
        process.stdin.close()  # the stand-in serves until its stdin closes
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def kestra_standin() -> StandinProcess:
    yield from _run_standin()


def _free_loopback_https_address() -> str:
    """A loopback address (127.0.0.0/8, not 127.0.0.1) whose port 443 this process may bind."""
    for _ in range(20):
        address = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(256)}.{secrets.randbelow(250) + 2}"
        probe = socket.socket()
        try:
            probe.bind((address, 443))
            return address
        except PermissionError:
            tiers.require(False, "binding port 443 on a loopback address (the gke profile's kestraUrl is "
                                 "https://<address>, no port)",
                          "run the engine tests as root, or sysctl -w net.ipv4.ip_unprivileged_port_start=443")
        except OSError:
            continue  # in use: try another address
        finally:
            probe.close()
    raise RuntimeError("no loopback address with a free port 443 found")


@pytest.fixture
def gke_standin(tmp_path: Path) -> StandinProcess:
    """The stand-in behind the gke profile's load balancer: plain HTTP on 127.0.0.1 for the
    test's control calls, and HTTPS on port 443 of a loopback address of its own — the address
    the echo gcp plugin reserves for the stack's endpoint — serving the SSL certificate the
    stack uploaded and its Ingress names (tests.support.echo_cloud.LoadBalancer). Its internal
    storage is the GCS bucket the release configures, written as the account Workload Identity
    binds its pods to (`KestraStandin.store_internal_storage_in_gcs`)."""
    address = _free_loopback_https_address()
    yield from _run_standin("--load-balancer", f"{address}:443", "--echo-store", str(echo_store(tmp_path)),
                            "--gcs-internal-storage")


# The local profile's volumes for the stack `dev` (infra/runtimes/docker.py: <namePrefix>-postgres-data and
# <namePrefix>-kestra-storage, namePrefix kestra-gcp-<stack>).
DOCKER_VOLUMES = ("kestra-gcp-dev-postgres-data", "kestra-gcp-dev-kestra-storage")


@pytest.fixture
def docker_standin(tmp_path: Path) -> StandinProcess:
    """The stand-in as Kestra on the Docker runtime: its data lives in the local profile's two
    volumes of the echo plugins' Docker engine (`KestraStandin.keep_data_in_volumes`), so it is
    gone when they are, and kept when they are."""
    yield from _run_standin("--echo-store", str(echo_store(tmp_path)), "--docker-volumes", ",".join(DOCKER_VOLUMES))


@pytest.fixture
def external_project(engine_project: EngineProject, kestra_standin: StandinProcess) -> EngineProject:
    """The stack pointed at the stand-in: external-Kestra profile, nothing in GCP or Docker."""
    engine_project.set_config({"profile": "local", "kestraUrl": kestra_standin.url,
                               "kestraUsername": kestra_standin.username})
    engine_project.set_config({"kestraPassword": kestra_standin.password}, secret=True)
    return engine_project


def point_docker_runtime_at(project: EngineProject, standin: StandinProcess) -> None:
    """Docker runtime settings whose published Kestra address is the stand-in's: the program
    builds Kestra's URL from hostAddress and uiPort (infra/runtimes/docker.py), waits for the container
    (here an echo), then deploys the flows to that URL, which the stand-in answers."""
    port = int(standin.url.rsplit(":", 1)[1])
    # The echo Docker engine runs on this machine, which has no Docker socket: a file stands for
    # it, since Docker refuses a bind mount whose source does not exist.
    socket = project.dir.parent / "docker.sock"
    socket.touch()
    project.set_config({"hostAddress": "127.0.0.1", "uiPort": port, "managementPort": port + 1 if port < 65535 else port - 1,
                        "kestraUsername": standin.username, "dockerSocket": str(socket)})
    project.set_config({"kestraPassword": standin.password}, secret=True)


@pytest.fixture
def local_project(engine_project: EngineProject, kestra_standin: StandinProcess, echo_plugins: EchoPlugins) -> EngineProject:
    """The local profile: Kestra + Postgres in Docker (echo docker and random plugins), no GCP."""
    engine_project.install_echo_plugins(echo_plugins)
    engine_project.set_config({"profile": "local"})
    point_docker_runtime_at(engine_project, kestra_standin)
    return engine_project


@pytest.fixture
def docker_project(engine_project: EngineProject, docker_standin: StandinProcess, echo_plugins: EchoPlugins) -> EngineProject:
    """The local profile against `docker_standin`: Kestra's data is in the Docker volumes."""
    engine_project.install_echo_plugins(echo_plugins)
    engine_project.set_config({"profile": "local"})
    point_docker_runtime_at(engine_project, docker_standin)
    return engine_project


@pytest.fixture
def gke_project(engine_project: EngineProject, gke_standin: StandinProcess, echo_plugins: EchoPlugins) -> EngineProject:
    """The gke profile: every GCP resource of the gcp profile, the network, GKE, Cloud SQL and the
    HTTPS endpoint (echo gcp and tls plugins), Kestra's release and Kubernetes objects (echo
    kubernetes plugin). The endpoint's reserved address is the stand-in's load balancer, so the
    flows deploy to https://<address> verified against the CA the stack issued."""
    engine_project.install_echo_plugins(echo_plugins)
    engine_project.env[ECHO_EXTERNAL_ADDRESS_ENV] = gke_standin.address
    engine_project.set_config({"gcp:project": PROJECT_ID, "profile": "gke", "kestraUsername": gke_standin.username})
    engine_project.set_config({"kestraPassword": gke_standin.password}, secret=True)
    return engine_project


@pytest.fixture
def gcp_project(engine_project: EngineProject, kestra_standin: StandinProcess, echo_plugins: EchoPlugins) -> EngineProject:
    """The gcp profile: every GCP resource (echo gcp plugin) and Kestra in Docker wired to them."""
    engine_project.install_echo_plugins(echo_plugins)
    engine_project.set_config({"gcp:project": PROJECT_ID})
    point_docker_runtime_at(engine_project, kestra_standin)
    return engine_project


# --- the kube tier (marker kube): the gke profile against a real kube-apiserver -----------------
# tests/support/kube_control_plane.py starts it; the real Kubernetes provider talks to it.
KUBE_PROVIDER = REPO_ROOT / ".tools" / "pulumi-kubernetes" / "pulumi-resource-kubernetes"
KUBE_INSTALL_COMMAND = "scripts/install-kube-tools (needs Go; builds the control plane and the Kubernetes provider into .tools/)"
# Kestra's chart where it cannot be downloaded: a local copy of the real chart 1.0.21 (folder or
# .tgz) when this names one, else the model in tests/support/kestra_chart (docs/testing.md).
KESTRA_CHART_ENV = "KESTRA_GCP_KESTRA_CHART"
CHART_MODEL = REPO_ROOT / "tests" / "support" / "kestra_chart"
ECHO_CLUSTER_ENDPOINT_ENV = "PULUMI_ECHO_GCP_CLUSTER_ENDPOINT"
ECHO_CLUSTER_CA_ENV = "PULUMI_ECHO_GCP_CLUSTER_CA_CERTIFICATE"


@pytest.fixture(scope="session")
def kube_control_plane(tmp_path_factory):
    """etcd, kube-apiserver, the controller-manager subset, the scheduler and kwok (one fake node),
    for the whole session; each test leaves it as it found it (its `destroy` is asserted)."""
    from tests.support import kube_control_plane as kube

    bin_dir = kube.find_tools()
    tiers.require(bin_dir is not None, f"the local Kubernetes control plane ({', '.join(kube.TOOLS)}) in .tools/kube",
                  KUBE_INSTALL_COMMAND)
    plane = kube.start(tmp_path_factory.mktemp("kube-control-plane"), bin_dir)
    yield plane
    plane.stop()


def kubernetes_sdk_version() -> str:
    """The plugin version the installed pulumi-kubernetes SDK asks the engine for."""
    import importlib.metadata

    return importlib.metadata.version("pulumi_kubernetes")


def linked_provider_version(binary: Path) -> Optional[str]:
    """The version linked into the built provider (-X .../pkg/version.Version=…, in its build info)."""
    marker = b"pulumi-kubernetes/provider/v4/pkg/version.Version="
    data = binary.read_bytes()
    at = data.find(marker)
    if at < 0:
        return None
    end = at + len(marker)
    while end < len(data) and data[end:end + 1] in b"0123456789.":
        end += 1
    return data[at + len(marker):end].decode()


@pytest.fixture
def kube_standin(tmp_path: Path, kube_control_plane) -> StandinProcess:
    """`gke_standin` whose load balancer serves the certificate the Ingress in the apiserver names."""
    address = _free_loopback_https_address()
    yield from _run_standin("--load-balancer", f"{address}:443", "--echo-store", str(echo_store(tmp_path)),
                            "--kube-access", str(kube_control_plane.access_file))


@pytest.fixture
def kube_project(engine_project: EngineProject, kube_standin: StandinProcess, echo_plugins: EchoPlugins,
                 kube_control_plane) -> EngineProject:
    """The gke profile with the GCP half on the echo plugins and the Kubernetes half on the real
    provider against `kube_control_plane`: the echo cluster's endpoint and CA are the apiserver's,
    and the provider authenticates through the kubeconfig the stack renders, running
    `gke-gcloud-auth-plugin` from PATH — here a script printing an ExecCredential with the
    apiserver's test token. The flows deploy to the Kestra stand-in behind the endpoint's address,
    whose load balancer serves the certificate the Ingress in the apiserver names."""
    available = os.access(KUBE_PROVIDER, os.X_OK)
    tiers.require(available, f"the Pulumi Kubernetes provider in {KUBE_PROVIDER.relative_to(REPO_ROOT)}",
                  KUBE_INSTALL_COMMAND)
    version = kubernetes_sdk_version()
    linked = linked_provider_version(KUBE_PROVIDER)
    assert linked == version, (
        f"the built Kubernetes provider is {linked}, the pulumi-kubernetes SDK asks for {version}: "
        "the engine runs only the plugin of that exact version (requirements.txt)")
    engine_project.install_echo_plugins(echo_plugins, skip=("kubernetes",))
    engine_project.pulumi("plugin", "install", "resource", "kubernetes", version, "--file", str(KUBE_PROVIDER))

    from tests.support.kube_control_plane import exec_credential

    auth_bin = engine_project.dir.parent / "auth-plugin-bin"
    auth_bin.mkdir()
    credential = auth_bin / "exec-credential.json"
    credential.write_text(exec_credential(kube_control_plane.token))
    plugin = auth_bin / "gke-gcloud-auth-plugin"
    plugin.write_text(f"#!/bin/sh\n# Stands in for Google's plugin: the test apiserver's token.\nexec cat '{credential}'\n")
    plugin.chmod(0o755)
    engine_project.env["PATH"] = os.pathsep.join([str(auth_bin), engine_project.env["PATH"]])
    engine_project.env[ECHO_EXTERNAL_ADDRESS_ENV] = kube_standin.address
    engine_project.env[ECHO_CLUSTER_ENDPOINT_ENV] = kube_control_plane.address
    engine_project.env[ECHO_CLUSTER_CA_ENV] = kube_control_plane.ca_base64
    chart = os.environ.get(KESTRA_CHART_ENV) or str(CHART_MODEL)
    engine_project.set_config({"gcp:project": PROJECT_ID, "profile": "gke", "kestraUsername": kube_standin.username,
                               "gkeChartRepository": chart})
    engine_project.set_config({"kestraPassword": kube_standin.password}, secret=True)
    return engine_project
