"""HTTPS against a real local TLS server: the client verifies Kestra's certificate with the CA the
stack issued (the `kestraCaCertificate` output) and refuses any certificate it cannot verify.

The server is the Kestra stand-in with TLS on its listening socket; certificates are issued here,
for this test only, with the `cryptography` package (a CA, and server certificates for 127.0.0.1).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kestra.client import KestraClient, KestraTlsError, KestraUnavailable
from kestra.resources import FlowProvider, KestraConnection
from kestra.smoke import client_from_outputs
from tests.kestra.conftest import flow_source
from tests.support.kestra_standin import KestraStandin

LOOPBACK = "127.0.0.1"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server_cert(ca_key, ca_cert, ip: str, *, expired: bool = False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (now - datetime.timedelta(days=3), now - datetime.timedelta(days=1)) if expired else (
        now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ip)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def stack_ca():
    return _ca("kestra-dev Kestra CA")


class TlsStandin:
    """The stand-in, with every accepted connection wrapped in TLS before HTTP is spoken."""

    def __init__(self, tmp_path, ca, ip_in_cert: str = LOOPBACK, expired: bool = False):
        key, cert = _server_cert(*ca, ip_in_cert, expired=expired)
        (tmp_path / "server.pem").write_text(_pem(cert))
        (tmp_path / "server.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
        self.handshake_failures = 0
        self.standin = KestraStandin().start()
        server = self.standin._server
        plain_get_request = server.get_request

        def get_request():
            sock, address = plain_get_request()
            try:
                return self.context.wrap_socket(sock, server_side=True), address
            except (ssl.SSLError, OSError):
                self.handshake_failures += 1
                sock.close()
                raise

        server.get_request = get_request

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.standin.port}"

    def client(self, **kw) -> KestraClient:
        kw.setdefault("deadline", 5)
        kw.setdefault("backoff_factor", 0.01)
        return KestraClient(self.url, self.standin.username, self.standin.password, **kw)

    def stop(self):
        self.standin.stop()


@pytest.fixture
def server(tmp_path, stack_ca):
    s = TlsStandin(tmp_path, stack_ca)
    yield s
    s.stop()


def test_the_stacks_ca_verifies_kestra_and_calls_go_through(server, stack_ca):
    with server.client(ca_certificate=_pem(stack_ca[1])) as client:
        created = client.create_flow(flow_source())
        assert created["id"] == "hello"
        assert client.get_flow("dev.testing", "hello")["source"] == flow_source()
    assert server.handshake_failures == 0


def test_without_the_ca_the_certificate_is_refused_at_once(server):
    started = time.monotonic()
    with pytest.raises(KestraTlsError) as info:
        with server.client(deadline=30) as client:
            client.get_flow("dev.testing", "hello")
    # Not retried until the deadline: a certificate does not become trustworthy by waiting.
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "could not be verified against the system's trusted CAs" in message
    assert "kestraCaCertificate" in message
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.detail
    assert not isinstance(info.value, KestraUnavailable)
    assert server.standin.requests == [], "no request may reach Kestra over an unverified connection"


def test_a_certificate_from_another_ca_is_refused(server):
    _, other_ca = _ca("someone else's CA")
    with pytest.raises(KestraTlsError, match="against the CA given as ca_certificate"):
        with server.client(ca_certificate=_pem(other_ca)) as client:
            client.get_flow("dev.testing", "hello")
    assert server.standin.requests == []


def test_a_certificate_for_another_address_is_refused(tmp_path, stack_ca):
    wrong = TlsStandin(tmp_path, stack_ca, ip_in_cert="127.0.0.2")
    try:
        with pytest.raises(KestraTlsError) as info:
            with wrong.client(ca_certificate=_pem(stack_ca[1])) as client:
                client.get_flow("dev.testing", "hello")
        assert "127.0.0.1" in info.value.detail or "match" in info.value.detail.lower()
        assert wrong.standin.requests == []
    finally:
        wrong.stop()


def test_an_expired_certificate_is_refused(tmp_path, stack_ca):
    expired = TlsStandin(tmp_path, stack_ca, expired=True)
    try:
        with pytest.raises(KestraTlsError) as info:
            with expired.client(ca_certificate=_pem(stack_ca[1])) as client:
                client.get_flow("dev.testing", "hello")
        assert "expired" in info.value.detail
    finally:
        expired.stop()


def test_the_given_ca_is_the_only_one_trusted_whatever_the_environment(server, stack_ca, tmp_path, monkeypatch):
    # REQUESTS_CA_BUNDLE names a bundle holding the stack's CA; the client was given another CA,
    # and must not fall back to the environment's bundle.
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(_pem(stack_ca[1]))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    _, other_ca = _ca("someone else's CA")
    with pytest.raises(KestraTlsError):
        with server.client(ca_certificate=_pem(other_ca)) as client:
            client.get_flow("dev.testing", "hello")


def test_a_ca_that_is_not_pem_is_refused_before_any_call():
    with pytest.raises(ValueError, match="PEM"):
        KestraClient("https://203.0.113.7", "admin@kestra.io", "Passw0rd!x", ca_certificate="not a certificate")


def test_pooled_connections_are_kept_apart_per_ca(server, stack_ca):
    # The provider host reuses one session per (url, login, CA): a session made with no CA must not
    # serve a client that has one, and the other way round.
    with server.client(reuse_connections=True) as bare:
        with pytest.raises(KestraTlsError):
            bare.get_flow("dev.testing", "hello")
    with server.client(reuse_connections=True, ca_certificate=_pem(stack_ca[1])) as verified:
        with pytest.raises(Exception) as info:
            verified.get_flow("dev.testing", "missing")
        assert not isinstance(info.value, KestraTlsError)  # a 404 from Kestra, over verified TLS


def test_the_flow_provider_carries_the_ca_to_kestra(server, stack_ca):
    # What `pulumi up` does for the gke profile: the connection's CA travels in the resource's inputs.
    connection = KestraConnection(url=server.url, username=server.standin.username,
                                  password=server.standin.password, deadline=5, ca_certificate=_pem(stack_ca[1]))
    props = {**connection.props(), "namespace": "dev.testing", "flow_id": "hello", "source": flow_source()}
    props["password"] = server.standin.password  # as the provider host receives it, unwrapped
    provider = FlowProvider()
    checked = provider.check({}, props)
    assert checked.failures == []
    created = provider.create(checked.inputs)
    assert created.id == "dev.testing/hello"
    assert created.outs["ca_certificate"] == _pem(stack_ca[1])  # recorded for later delete and refresh
    provider.delete(created.id, created.outs)
    assert ("DELETE", "/api/v1/main/flows/dev.testing/hello") in [(r.method, r.path) for r in server.standin.requests]


def test_the_flow_provider_without_the_ca_refuses_the_stacks_certificate(server):
    props = {"url": server.url, "username": server.standin.username, "password": server.standin.password,
             "tenant": "main", "deadline": 5, "namespace": "dev.testing", "flow_id": "hello", "source": flow_source()}
    with pytest.raises(KestraTlsError, match="flow dev.testing/hello"):
        FlowProvider().create(FlowProvider().check({}, props).inputs)


def test_smoke_tour_and_validate_read_the_ca_from_the_stack_outputs(server, stack_ca):
    outputs = {"kestraUrl": server.url, "kestraUsername": server.standin.username,
               "kestraPassword": server.standin.password, "kestraCaCertificate": _pem(stack_ca[1])}
    with client_from_outputs(outputs, deadline=5) as client:
        assert client.create_flow(flow_source())["id"] == "hello"
    del outputs["kestraCaCertificate"]
    with pytest.raises(KestraTlsError):
        with client_from_outputs(outputs, deadline=5) as client:
            client.get_flow("dev.testing", "hello")


def test_a_ca_change_updates_the_resource_and_never_replaces_it():
    provider = FlowProvider()
    base = {"url": "https://203.0.113.7", "username": "admin@kestra.io", "password": "Passw0rd!x", "tenant": "main",
            "namespace": "dev.testing", "flow_id": "hello", "source": flow_source()}
    _, ca_cert = _ca("a")
    _, rotated = _ca("b")
    diff = provider.diff("dev.testing/hello", {**base, "ca_certificate": _pem(ca_cert)},
                         {**base, "ca_certificate": _pem(rotated)})
    assert diff.changes is True and diff.replaces == [] and diff.diffs == ["ca_certificate"]
    same = provider.diff("dev.testing/hello", dict(base), dict(base))
    assert same.changes is False


def test_a_resource_refuses_a_ca_that_is_not_pem():
    props = {"url": "https://203.0.113.7", "username": "admin@kestra.io", "password": "Passw0rd!x",
             "namespace": "dev.testing", "flow_id": "hello", "source": flow_source(), "ca_certificate": "nope"}
    failures = {f.property: f.reason for f in FlowProvider().check({}, props).failures}
    assert failures == {"ca_certificate": "flow dev.testing/hello: ca_certificate must be PEM text"}


def _outputs(server, ca=None) -> dict:
    outputs = {"profile": "gke", "kestraUrl": server.url, "kestraUsername": server.standin.username,
               "kestraPassword": server.standin.password}
    if ca is not None:
        outputs["kestraCaCertificate"] = _pem(ca)
    return outputs


def test_smoke_runs_a_flow_over_verified_https(server, stack_ca):
    import io

    from kestra import smoke

    with server.client(ca_certificate=_pem(stack_ca[1])) as client:
        client.create_flow(flow_source())
    out = io.StringIO()
    code = smoke.run(_outputs(server, stack_ca[1]), "dev.testing", "hello", timeout=30, interval=0.05, out=out)
    assert code == smoke.EXIT_OK, out.getvalue()
    assert "succeeded" in out.getvalue()
    out = io.StringIO()
    code = smoke.run(_outputs(server), "dev.testing", "hello", timeout=30, interval=0.05, out=out)
    assert code == smoke.EXIT_API and "certificate could not be verified" in out.getvalue()


def test_validate_reads_url_login_and_ca_from_the_stack_outputs(server, stack_ca, tmp_path):
    import io
    import json as json_module

    from kestra import validate

    tree = tmp_path / "flows" / "dev.testing"
    tree.mkdir(parents=True)
    (tree / "hello.yaml").write_text(flow_source())
    for ca, expected in ((stack_ca[1], validate.EXIT_OK), (None, validate.EXIT_API)):
        out = io.StringIO()
        code = validate.main([str(tmp_path / "flows"), "--stack-output", "-", "--deadline", "5"], environ={},
                             out=out, stdin=io.StringIO(json_module.dumps(_outputs(server, ca))))
        assert code == expected, out.getvalue()
