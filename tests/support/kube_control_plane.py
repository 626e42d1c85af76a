"""A local Kubernetes control plane on a loopback address, for the kube test tier.

`start(folder)` runs, from ``.tools/kube`` (scripts/install-kube-tools):

- etcd on 127.0.0.1 (client and peer ports picked free);
- kube-apiserver on port 443 of a loopback address of its own (a GKE endpoint is a bare IP,
  https://<endpoint>), with RBAC, self-made certificates (a CA, the server's, an admin client
  certificate in ``system:masters``, one per component), a service-account key pair and a static
  token (what the test ``gke-gcloud-auth-plugin`` hands out, user ``gke-user`` in
  ``system:masters`` like a project owner on GKE). Two flags matter:
  ``--endpoint-reconciler-type=none`` (the default reconciler refuses a loopback advertise
  address) and ``--allow-privileged=true`` (Kestra's chart runs a privileged dind sidecar; GKE
  Standard allows it);
- kube-controller-manager with the controllers that what the stack deploys needs: namespace
  (deleting a namespace finishes), garbage collector (a deleted Deployment's ReplicaSets and pods
  go), pv/pvc protection, service accounts (each namespace's ``default``), deployment and
  replicaset (the chart's Deployments get pods);
- kube-scheduler, which binds those pods to a node;
- kwok with one fake node, which it marks Ready and whose pods it moves to Running and Ready
  without a container runtime, so Helm's wait and the provider's readiness checks run for real.
  The admission plugin TaintNodesByCondition is off: it taints a new node ``not-ready``, which only
  the node-lifecycle controller (not run: there are no kubelets to watch) would remove.

The apiserver holds GKE's BackendConfig CRD (GKE installs it on every cluster; the stack's
BackendConfig needs it), and `ControlPlane.request` talks to it over HTTPS with the admin
certificate (no client library needed).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBE_BIN = REPO_ROOT / ".tools" / "kube"
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml")
INSTALL_COMMAND = "scripts/install-kube-tools (needs Go; builds the control plane into .tools/kube)"
SERVICE_CIDR = "10.96.0.0/16"
TOKEN_USER = "gke-user"
NODE_NAME = "kwok-node-0"
# The apiserver's own components and the tests: what the stack creates is judged through these.
CONTROLLERS = (
    "namespace-controller",
    "garbage-collector-controller",
    "persistentvolume-protection-controller",
    "persistentvolumeclaim-protection-controller",
    "serviceaccount-controller",
    "deployment-controller",
    "replicaset-controller",
)
START_TIMEOUT = 180

# GKE's BackendConfig CRD (cloud.google.com/v1), as GKE installs it: served and stored at v1, the
# schema left open here (GKE's own validates fields the stack sets: healthCheck, timeoutSec,
# securityPolicy; kubernetes/ingress-gce, pkg/apis/backendconfig/v1/types.go).
BACKEND_CONFIG_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "backendconfigs.cloud.google.com"},
    "spec": {
        "group": "cloud.google.com",
        "names": {"kind": "BackendConfig", "listKind": "BackendConfigList", "plural": "backendconfigs",
                  "singular": "backendconfig", "shortNames": ["bc"]},
        "scope": "Namespaced",
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}


def find_tools(bin_dir: Path = KUBE_BIN) -> Optional[Path]:
    """`bin_dir` (.tools/kube) when it holds every binary the control plane needs, else None."""
    if all((bin_dir / tool).is_file() for tool in TOOLS) and all(
        os.access(bin_dir / tool, os.X_OK) for tool in TOOLS if not tool.endswith(".yaml")
    ):
        return bin_dir
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _free_loopback_address() -> str:
    """A loopback address (not 127.0.0.1) whose port 443 is free."""
    for _ in range(50):
        address = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(256)}.{secrets.randbelow(250) + 2}"
        with socket.socket() as probe:
            try:
                probe.bind((address, 443))
                return address
            except OSError:
                continue
    raise RuntimeError("no loopback address with a free port 443")


# --- certificates -------------------------------------------------------------------------------

def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class _Issued:
    cert: Path
    key: Path


class _Authority:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-tier-ca")])
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = _pem_cert(self.cert)
        self.file = folder / "ca.pem"
        self.file.write_bytes(self.pem)

    def issue(self, name: str, common_name: str, organizations: tuple[str, ...] = (), server_ips: tuple[str, ...] = (),
              server_dns: tuple[str, ...] = ()) -> _Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
                            + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations])
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server_ips or server_dns:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(a)) for a in server_ips]
                                            + [x509.DNSName(d) for d in server_dns]), critical=False)
            usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        issued = _Issued(self.folder / f"{name}.pem", self.folder / f"{name}-key.pem")
        issued.cert.write_bytes(_pem_cert(cert))
        issued.key.write_bytes(_pem_key(key))
        issued.key.chmod(0o600)
        return issued


# --- the control plane --------------------------------------------------------------------------

@dataclass
class ControlPlane:
    folder: Path
    address: str  # the apiserver's loopback address (port 443): the echo cluster's endpoint
    ca_pem: bytes
    ca_file: Path
    admin: _Issued
    token: str  # what the test gke-gcloud-auth-plugin hands out
    processes: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    @property
    def ca_base64(self) -> str:
        """The CA as GKE's masterAuth.clusterCaCertificate carries it (base64 of the PEM)."""
        return base64.b64encode(self.ca_pem).decode()

    def request(self, method: str, path: str, body: Any = None, **params) -> requests.Response:
        return requests.request(
            method, f"{self.url}{path}", json=body, params=params or None, cert=(str(self.admin.cert), str(self.admin.key)),
            verify=str(self.ca_file), timeout=30,
        )

    def get(self, path: str, **params) -> dict:
        response = self.request("GET", path, **params)
        response.raise_for_status()
        return response.json()

    def items(self, path: str, **params) -> list[dict]:
        return self.get(path, **params)["items"]

    def exists(self, path: str) -> bool:
        response = self.request("GET", path)
        if response.status_code == 404:
            return False
        response.raise_for_status()
        return True

    @property
    def access_file(self) -> Path:
        """How to reach the apiserver as its admin, for another process (JSON: url, ca, cert, key)."""
        path = self.folder / "admin-access.json"
        if not path.exists():
            path.write_text(json.dumps({"url": self.url, "ca": str(self.ca_file), "cert": str(self.admin.cert),
                                        "key": str(self.admin.key)}))
        return path

    def log(self, component: str) -> str:
        path = self.folder / f"{component}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
        for process in reversed(list(self.processes.values())):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _kubeconfig(plane: ControlPlane, issued: _Issued, name: str) -> Path:
    path = plane.folder / f"{name}.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": plane.url, "certificate-authority": str(plane.ca_file)}}],
        "users": [{"name": name, "user": {"client-certificate": str(issued.cert), "client-key": str(issued.key)}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": name}}],
        "current-context": "local",
    }))
    return path


def _spawn(plane: ControlPlane, bin_dir: Path, name: str, *args: str) -> None:
    log = open(plane.folder / f"{name}.log", "wb")
    plane.processes[name] = subprocess.Popen(
        [str(bin_dir / name), *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=plane.folder, start_new_session=True,
    )


def _wait(plane: ControlPlane, what: str, check, component: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        process = plane.processes[component]
        if process.poll() is not None:
            raise RuntimeError(f"{component} exited with {process.returncode} before {what}:\n{plane.log(component)[-4000:]}")
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what}: not within {START_TIMEOUT} s:\n{plane.log(component)[-4000:]}")


def start(folder: Path, bin_dir: Path = KUBE_BIN) -> ControlPlane:
    """Starts etcd, the apiserver, the controller-manager subset, the scheduler and kwok with one
    node; returns once the apiserver answers /readyz and the node is Ready."""
    folder.mkdir(parents=True, exist_ok=True)
    authority = _Authority(folder)
    address = _free_loopback_address()
    admin = authority.issue("admin", "kube-tier-admin", ("system:masters",))
    token = secrets.token_urlsafe(32)
    plane = ControlPlane(folder, address, authority.pem, authority.file, admin, token)
    try:
        _start(plane, authority, bin_dir)
    except BaseException:
        plane.stop()
        raise
    return plane


def _start(plane: ControlPlane, authority: _Authority, bin_dir: Path) -> None:
    folder = plane.folder
    client_port, peer_port = _free_port(), _free_port()
    etcd_url = f"http://127.0.0.1:{client_port}"
    _spawn(plane, bin_dir, "etcd", "--name", "default", "--data-dir", str(folder / "etcd"),
           "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
           "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
           "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
           "--initial-cluster", f"default=http://127.0.0.1:{peer_port}",
           "--listen-metrics-urls", f"http://127.0.0.1:{_free_port()}")
    _wait(plane, "etcd answers /health", lambda: requests.get(f"{etcd_url}/health", timeout=2).ok, "etcd")

    server = authority.issue("apiserver", "kube-apiserver", server_ips=(plane.address, "127.0.0.1", "10.96.0.1"),
                             server_dns=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                         "kubernetes.default.svc.cluster.local", "localhost"))
    service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_key = folder / "service-account-key.pem"
    sa_key.write_bytes(_pem_key(service_account_key))
    sa_pub = folder / "service-account.pub"
    sa_pub.write_bytes(service_account_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    tokens = folder / "tokens.csv"
    tokens.write_text(f'{plane.token},{TOKEN_USER},{TOKEN_USER},"system:masters"\n')
    tokens.chmod(0o600)
    _spawn(plane, bin_dir, "kube-apiserver",
           f"--etcd-servers={etcd_url}",
           f"--bind-address={plane.address}", "--secure-port=443", f"--advertise-address={plane.address}",
           "--endpoint-reconciler-type=none",
           "--allow-privileged=true",
           "--authorization-mode=RBAC",
           f"--client-ca-file={authority.file}",
           f"--tls-cert-file={server.cert}", f"--tls-private-key-file={server.key}",
           f"--service-account-key-file={sa_pub}", f"--service-account-signing-key-file={sa_key}",
           "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
           f"--service-cluster-ip-range={SERVICE_CIDR}",
           f"--token-auth-file={tokens}",
           "--disable-admission-plugins=TaintNodesByCondition",
           f"--cert-dir={folder / 'apiserver-certs'}",
           "--profiling=false")
    _wait(plane, "kube-apiserver answers /readyz", lambda: plane.request("GET", "/readyz").text.strip() == "ok",
          "kube-apiserver")

    # Helm renders charts for the version the apiserver reports (Capabilities.KubeVersion).
    version = plane.get("/version")["gitVersion"]
    if not version.startswith("v1."):
        raise RuntimeError(f"kube-apiserver reports version {version!r}: rebuild it with {INSTALL_COMMAND}")

    # In system:masters: the bootstrap role of system:kube-controller-manager covers only its own
    # loops, and with --use-service-account-credentials=false every controller acts as it.
    manager = authority.issue("controller-manager", "system:kube-controller-manager", ("system:masters",))
    _spawn(plane, bin_dir, "kube-controller-manager",
           f"--kubeconfig={_kubeconfig(plane, manager, 'controller-manager')}",
           f"--controllers={','.join(CONTROLLERS)}",
           "--leader-elect=false", "--use-service-account-credentials=false",
           f"--service-account-private-key-file={sa_key}",
           "--bind-address=127.0.0.1", f"--secure-port={_free_port()}",
           "--profiling=false")
    scheduler = authority.issue("scheduler", "system:kube-scheduler")
    scheduler_config = _kubeconfig(plane, scheduler, "scheduler")
    _spawn(plane, bin_dir, "kube-scheduler", f"--kubeconfig={scheduler_config}",
           f"--authentication-kubeconfig={scheduler_config}", f"--authorization-kubeconfig={scheduler_config}",
           "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={_free_port()}",
           "--profiling=false")
    kwok = authority.issue("kwok", "kwok", ("system:masters",))
    _spawn(plane, bin_dir, "kwok", f"--kubeconfig={_kubeconfig(plane, kwok, 'kwok')}",
           f"--config={bin_dir / 'kwok-stages.yaml'}",
           "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
           "--cidr=10.244.0.0/16", "--node-ip=10.0.0.10", f"--server-address=127.0.0.1:{_free_port()}")

    created = plane.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", BACKEND_CONFIG_CRD)
    if created.status_code != 201:
        raise RuntimeError(f"creating the BackendConfig CRD: {created.status_code} {created.text}")
    node = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE_NAME, "annotations": {"kwok.x-k8s.io/node": "fake"},
                     "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "type": "kwok"}},
        "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                   "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"}},
    }
    created = plane.request("POST", "/api/v1/nodes", node)
    if created.status_code != 201:
        raise RuntimeError(f"creating the kwok node: {created.status_code} {created.text}")

    def node_ready() -> bool:
        conditions = plane.get(f"/api/v1/nodes/{NODE_NAME}").get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    _wait(plane, f"kwok marks {NODE_NAME} Ready", node_ready, "kwok")

    def established() -> bool:
        crd = plane.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/backendconfigs.cloud.google.com")
        return any(c["type"] == "Established" and c["status"] == "True" for c in crd.get("status", {}).get("conditions", []))

    _wait(plane, "the BackendConfig CRD is established", established, "kube-apiserver")


def exec_credential(token: str) -> str:
    """What `gke-gcloud-auth-plugin` prints (client.authentication.k8s.io/v1beta1 ExecCredential):
    a bearer token; no expirationTimestamp, so client-go keeps it until the apiserver refuses it."""
    return json.dumps({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {},
                       "status": {"token": token}})
