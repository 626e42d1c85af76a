"""The engine tier's load balancer (tests/support/echo_cloud.py) serves only what a GKE Ingress would:
the uploaded SSL certificate its Helm release's Ingress names, on the reserved address it names.
Anything else — no Ingress on the address, a certificate that was never uploaded — ends the TLS
handshake, which the client reports as a TLS error: so the gke profile's `pulumi up` cannot deploy
through a mis-wired endpoint. Certificates are real (the `cryptography` package), the client is
kestra-gcp's own, verifying against the CA only."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization

from kestra.client import KestraClient, KestraTlsError
from tests.kestra.test_client_tls import _ca, _pem, _server_cert
from tests.support.echo_cloud import LoadBalancer, NoCertificate
from tests.support.kestra_standin import KestraStandin

ADDRESS = "127.0.0.1"


def put(store, name: str, type_: str, outputs: dict) -> None:
    (store / f"{name}.json").write_text(json.dumps({"urn": f"urn:{name}", "type": type_, "id": name, "outputs": outputs}))


@pytest.fixture
def cloud(tmp_path):
    """A store as the echo plugins leave it after the gke profile's up: address, uploaded certificate, release."""
    ca_key, ca_cert = _ca("kestra-dev Kestra CA")
    key, cert = _server_cert(ca_key, ca_cert, ADDRESS)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    put(tmp_path, "address", "gcp:compute/globalAddress:GlobalAddress", {"name": "address-1a2b3c4", "address": ADDRESS})
    put(tmp_path, "certificate", "gcp:compute/sSLCertificate:SSLCertificate",
        {"name": "certificate-5d6e7f8", "certificate": _pem(cert), "privateKey": key_pem})
    annotations = {"kubernetes.io/ingress.global-static-ip-name": "address-1a2b3c4",
                   "ingress.gcp.kubernetes.io/pre-shared-cert": "certificate-5d6e7f8",
                   "kubernetes.io/ingress.allow-http": "false"}
    put(tmp_path, "release", "kubernetes:helm.sh/v3:Release",
        {"values": {"ingress": {"enabled": True, "annotations": annotations}}})
    standin = KestraStandin().start()
    port = standin.listen_tls(ADDRESS, 0, LoadBalancer(tmp_path, ADDRESS).ssl_context)
    yield tmp_path, standin, KestraClient(f"https://{ADDRESS}:{port}", standin.username, standin.password,
                                          ca_certificate=_pem(ca_cert), deadline=5, backoff_factor=0.01)
    standin.stop()


def test_serves_the_uploaded_certificate_the_ingress_names(cloud):
    _, standin, client = cloud
    with client:
        assert client.put_kv("dev", "K", "v") is None
    assert standin.tls_failures == []


def test_an_ingress_naming_a_certificate_that_was_not_uploaded_ends_the_handshake(cloud):
    store, standin, client = cloud
    release = json.loads((store / "release.json").read_text())
    release["outputs"]["values"]["ingress"]["annotations"]["ingress.gcp.kubernetes.io/pre-shared-cert"] = "certificate-0000000"
    (store / "release.json").write_text(json.dumps(release))
    with client, pytest.raises(KestraTlsError):
        client.put_kv("dev", "K", "v")
    assert any("certificate-0000000" in f and "do not exist" in f for f in standin.tls_failures), standin.tls_failures


def test_no_ingress_on_the_address_no_certificate(cloud):
    store, standin, client = cloud
    (store / "release.json").unlink()
    with pytest.raises(NoCertificate, match="no Ingress uses the address 127.0.0.1"):
        LoadBalancer(store, ADDRESS).certificate()
    with client, pytest.raises(KestraTlsError):
        client.put_kv("dev", "K", "v")
