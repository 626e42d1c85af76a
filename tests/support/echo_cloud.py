"""What the echo provider plugins' "cloud" holds, read as its APIs would answer, and the one piece
of Google's infrastructure the engine tests need alive: the load balancer in front of the gke
profile's Kestra.

The echo plugins (tools/pulumi/cmd/pulumi-resource-echo) write every live resource to the folder
``PULUMI_ECHO_PLUGIN_STORE`` names — one JSON file per resource, ``{"urn", "type", "provider",
"id", "outputs"}`` with secrets in plaintext — and remove it when the engine deletes it.

`LoadBalancer` plays what a GKE Ingress makes of the Helm release's values (GKE's ingress
controller and a global external Application Load Balancer): on the reserved global address whose
`address` is the one it listens on, it serves the self-managed SSL certificates the Ingress names
(annotation ``ingress.gcp.kubernetes.io/pre-shared-cert``), exactly as uploaded (certificate and
private key of `gcp.compute.SSLCertificate`), HTTPS only. Nothing is read from the Pulumi state:
what the client verifies is what the stack uploaded to the (echo) cloud and wired to the Ingress.
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional

SSL_CERTIFICATE = "gcp:compute/sSLCertificate:SSLCertificate"
GLOBAL_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# GKE Ingress annotations (cloud.google.com/kubernetes-engine/docs/concepts/ingress-xlb,
# "Using pre-shared certificates", "Static IP addresses for HTTPS load balancers").
STATIC_IP = "kubernetes.io/ingress.global-static-ip-name"
PRE_SHARED_CERT = "ingress.gcp.kubernetes.io/pre-shared-cert"


class NoCertificate(Exception):
    """The load balancer has no certificate to serve on its address (yet)."""


def live_resources(store: Path | str, type_: Optional[str] = None) -> list[dict[str, Any]]:
    """Every resource the echo plugins hold now (of `type_`, if given)."""
    found = []
    for path in sorted(Path(store).glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # deleted or replaced meanwhile
        if type_ is None or doc.get("type") == type_:
            found.append(doc)
    return found


class LoadBalancer:
    """The HTTPS front end a GKE Ingress on the global address `address` gets."""

    def __init__(self, store: Path | str, address: str, kube_access: Optional[Path | str] = None) -> None:
        self.store = Path(store)
        self.address = address
        # A real kube-apiserver holding the Ingresses (the kube tier): a JSON file with its url and
        # the admin's ca/cert/key paths (tests/support/kube_control_plane.py, ControlPlane.access_file).
        self.kube_access = json.loads(Path(kube_access).read_text()) if kube_access else None
        self._lock = threading.Lock()
        self._cached: tuple[str, str, ssl.SSLContext] | None = None

    def _ingress_annotations(self) -> list[dict[str, Any]]:
        """The annotations of every Ingress: from the apiserver when there is one, else from the
        values of the Helm releases the echo kubernetes plugin holds (the chart makes the Ingress
        from ingress.annotations when ingress.enabled)."""
        if self.kube_access:
            import requests

            access = self.kube_access
            response = requests.get(f"{access['url']}/apis/networking.k8s.io/v1/ingresses", verify=access["ca"],
                                    cert=(access["cert"], access["key"]), timeout=30)
            response.raise_for_status()
            return [i["metadata"].get("annotations") or {} for i in response.json()["items"]]
        found = []
        for release in live_resources(self.store, HELM_RELEASE):
            ingress = (release["outputs"].get("values") or {}).get("ingress") or {}
            if ingress.get("enabled"):
                found.append(ingress.get("annotations") or {})
        return found

    def ingress(self) -> dict[str, Any]:
        """The annotations of the Ingress bound to our address."""
        names = {r["outputs"].get("name") for r in live_resources(self.store, GLOBAL_ADDRESS)
                 if r["outputs"].get("address") == self.address}
        if not names:
            raise NoCertificate(f"no global address {self.address} is reserved")
        for annotations in self._ingress_annotations():
            if annotations.get(STATIC_IP) in names:
                return annotations
        raise NoCertificate(f"no Ingress uses the address {self.address} ({', '.join(sorted(names))})")

    def certificate(self) -> tuple[str, str]:
        """(certificate PEM, private key PEM) the load balancer serves."""
        annotations = self.ingress()
        wanted = [n.strip() for n in str(annotations.get(PRE_SHARED_CERT, "")).split(",") if n.strip()]
        if not wanted:
            raise NoCertificate(f"the Ingress on {self.address} names no pre-shared certificate")
        uploaded = {r["outputs"].get("name"): r["outputs"] for r in live_resources(self.store, SSL_CERTIFICATE)}
        missing = [n for n in wanted if n not in uploaded]
        if missing:
            raise NoCertificate(f"the Ingress names SSL certificate(s) {missing} that do not exist "
                                f"(uploaded: {sorted(uploaded)})")
        first = uploaded[wanted[0]]
        return first["certificate"], first["privateKey"]

    def ssl_context(self) -> ssl.SSLContext:
        """A server context with the current certificate (made again only when it changed)."""
        certificate, key = self.certificate()
        with self._lock:
            if self._cached and self._cached[:2] == (certificate, key):
                return self._cached[2]
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            with tempfile.TemporaryDirectory() as folder:  # ssl loads chains from files only
                (Path(folder) / "cert.pem").write_text(certificate)
                (Path(folder) / "key.pem").write_text(key)
                context.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
            self._cached = (certificate, key, context)
            return context


DOCKER_CONTAINER = "docker:index/container:Container"


class DockerEngineApi:
    """The part of the Docker Engine API the program itself calls (infra/runtimes/docker_engine.py), over
    the containers the echo docker plugin runs: a unix socket a test points DOCKER_HOST at.

    - ``GET /containers/{id}/json``: ContainerInspect (an id or a name) — ``Id``, ``Name`` ("/" +
      name), ``Image`` (the image's id as the create gave it), ``Config.Labels`` and ``State``; 404 ``No such container: <id>`` (moby
      daemon/errors.go errNoSuchContainer);
    - ``POST /containers/{id}/stop``: ContainerStop — 204, or 304 when already stopped;
    - ``DELETE /containers/{id}``: ContainerDelete — 204, and the container is gone from the store
      (a later create may take its name).

    `calls` records "METHOD path" of every request."""

    def __init__(self, store: Path | str, socket_path: Path | str) -> None:
        self.store = Path(store)
        self.socket_path = str(socket_path)
        self.calls: list[str] = []
        self._stopped: set[str] = set()
        self._server = None

    def _container(self, container_id: str) -> Optional[tuple[Path, dict[str, Any]]]:
        for path in sorted(self.store.glob("*.json")):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if doc.get("type") == DOCKER_CONTAINER and container_id in (
                doc.get("id"), (doc.get("outputs") or {}).get("name")
            ):
                return path, doc
        return None

    def answer(self, method: str, path: str) -> tuple[int, Any]:
        self.calls.append(f"{method} {path}")
        parts = path.split("?", 1)[0].strip("/").split("/")
        if len(parts) < 2 or parts[0] != "containers":
            return 404, {"message": "page not found"}
        container_id = parts[1]
        found = self._container(container_id)
        if found is None:
            return 404, {"message": f"No such container: {container_id}"}
        file, doc = found
        outputs = doc.get("outputs") or {}
        container_id = doc["id"]
        if method == "GET" and parts[2:] == ["json"]:
            running = container_id not in self._stopped
            return 200, {
                "Id": container_id, "Name": "/" + str(outputs.get("name", "")), "Image": outputs.get("image"),
                "Config": {"Image": outputs.get("image"),
                           "Labels": {l["label"]: l["value"] for l in outputs.get("labels") or []}},
                "State": {"Status": "running" if running else "exited", "Running": running},
            }
        if method == "POST" and parts[2:] == ["stop"]:
            if container_id in self._stopped:
                return 304, None
            self._stopped.add(container_id)
            return 204, None
        if method == "DELETE" and len(parts) == 2:
            file.unlink(missing_ok=True)
            return 204, None
        return 404, {"message": "page not found"}

    def start(self) -> "DockerEngineApi":
        import socketserver
        from http.server import BaseHTTPRequestHandler

        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def address_string(self) -> str:
                return "unix"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, body = api.answer(self.command, self.path)
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")  # one request a connection, as the client makes them
                self.end_headers()
                if payload:  # a 204 or 304 has none, and its client may be gone already
                    self.wfile.write(payload)
                self.close_connection = True

            do_GET = do_POST = do_DELETE = _handle

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self._server = Server(self.socket_path, Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
