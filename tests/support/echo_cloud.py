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

    def __init__(self, store: Path | str, address: str) -> None:
        self.store = Path(store)
        self.address = address
        self._lock = threading.Lock()
        self._cached: tuple[str, str, ssl.SSLContext] | None = None

    def ingress(self) -> dict[str, Any]:
        """The annotations of the Ingress (from a Helm release's values) bound to our address."""
        names = {r["outputs"].get("name") for r in live_resources(self.store, GLOBAL_ADDRESS)
                 if r["outputs"].get("address") == self.address}
        if not names:
            raise NoCertificate(f"no global address {self.address} is reserved")
        for release in live_resources(self.store, HELM_RELEASE):
            ingress = (release["outputs"].get("values") or {}).get("ingress") or {}
            annotations = ingress.get("annotations") or {}
            if ingress.get("enabled") and annotations.get(STATIC_IP) in names:
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
