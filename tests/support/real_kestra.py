"""A real Kestra 1.1 on a private PostgreSQL, started from the configuration the stack renders.

What is needed on the machine (none of it is in CI, which has no Kestra server: Kestra publishes
neither its server nor its ``jdbc-postgres`` module to Maven Central):

- ``KESTRA_LAUNCHER``: Kestra's launcher as its image runs it (``/app/kestra`` in the official
  ``kestra/kestra`` image; Kestra's ``gradle/jar/selfrun.sh``): it reads ``KESTRA_CONFIGURATION``
  (YAML text, written to a file) or ``MICRONAUT_CONFIG_FILES`` (several files merged key by key),
  ``JAVA_OPTS``, ``KESTRA_PLUGINS_PATH``, and takes Kestra's own arguments
  (``server standalone|webserver|executor|scheduler|worker|indexer``). A build from Kestra 1.1's
  sources must include the ``jdbc-postgres`` module.
- PostgreSQL's server binaries: ``PG_BIN``, else the newest ``/usr/lib/postgresql/*/bin``
  (Debian: ``apt-get install postgresql``).

Each JVM listens on loopback: its API port and management port are set as JVM system properties
(``micronaut.server.port``, ``endpoints.all.port``), which Micronaut ranks above configuration
files, so the configuration files stay as rendered. In a pod every component has 8080/8081 to
itself; here several JVMs share one network namespace.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import requests
import yaml

LAUNCHER_ENV = "KESTRA_LAUNCHER"
HEAP = "512m"  # per JVM: five of them share a small machine
START_TIMEOUT = 420.0  # seconds for a cold JVM on a loaded 2-core machine (migrations, plugin scan)
HOW_TO_GET = (
    f"set {LAUNCHER_ENV} to Kestra 1.1's launcher with jdbc-postgres on its classpath (/app/kestra in "
    "the kestra/kestra:v1.1.7 image, or bin/kestra of a build from Kestra's sources: docs/testing.md, "
    "'Kestra on PostgreSQL'), and have PostgreSQL's server binaries (apt-get install postgresql, or PG_BIN)"
)


def launcher() -> Optional[Path]:
    value = os.environ.get(LAUNCHER_ENV)
    return Path(value) if value and os.access(value, os.X_OK) else None


def postgres_bin() -> Optional[Path]:
    given = os.environ.get("PG_BIN")
    candidates = [Path(given)] if given else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    for candidate in reversed(candidates):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def missing() -> Optional[str]:
    """Why a real Kestra on PostgreSQL cannot run here, or None."""
    if launcher() is None:
        return f"no Kestra launcher ({LAUNCHER_ENV} unset or not executable)"
    if postgres_bin() is None:
        return "no PostgreSQL server binaries"
    return None


def port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int, low: int, high: int) -> list[int]:
    """`count` distinct ports in [low, high) nothing listens on now."""
    found = [port for port in range(low, high) if port_is_free(port)][:count]
    if len(found) < count:
        raise RuntimeError(f"fewer than {count} free ports in {low}-{high - 1}")
    return found


def workdir(prefix: str = "kestra-pg-") -> Path:
    """A fresh folder under /tmp the PostgreSQL server (user postgres when run as root) can reach."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else command


def _self_signed_ca_and_server(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed, as Cloud SQL has: (ca.pem, server.crt, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test Cloud SQL server CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.crt", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class Postgres:
    """A private PostgreSQL cluster on 127.0.0.1:`port` with role and database ``kestra``.

    `tls`: the server requires nothing but offers SSL with a certificate signed by a CA of its own
    (`ca_file`), so a JDBC URL with ``sslmode=verify-ca`` must verify it as Kestra does Cloud SQL's.
    """

    root: Path
    port: int
    password: str
    tls: bool = False
    bin: Path = field(default_factory=lambda: postgres_bin() or Path("/nonexistent"))
    ca_file: Optional[Path] = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _chown(self, path: Path) -> None:
        if os.getuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def start(self) -> "Postgres":
        self.root.mkdir(parents=True, exist_ok=True)
        self._chown(self.root)
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            subprocess.run(
                _as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                              "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]),
                check=True, capture_output=True,
            )
        sock = self.root / "sock"
        sock.mkdir(exist_ok=True)
        self._chown(sock)
        options = [f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={sock}"]
        if self.tls:
            certs = self.root / "certs"
            certs.mkdir(exist_ok=True)
            if not (certs / "server.key").exists():
                _self_signed_ca_and_server(certs)
            for name in ("ca.pem", "server.crt", "server.key"):
                self._chown(certs / name)
            (certs / "server.key").chmod(0o600)
            self.ca_file = certs / "ca.pem"
            options.append(f"-c ssl=on -c ssl_cert_file={certs / 'server.crt'} -c ssl_key_file={certs / 'server.key'}")
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"),
                          "-w", "-o", " ".join(options), "start"]),
            check=True, capture_output=True,
        )
        if fresh:
            self.psql(f"CREATE ROLE kestra LOGIN PASSWORD '{self.password}'", "CREATE DATABASE kestra OWNER kestra")
        return self

    def psql(self, *commands: str, database: str = "postgres") -> str:
        # Some server-only builds (PyPI's, npm's) ship no psql: any client speaks to the server.
        client = self.bin / "psql" if (self.bin / "psql").exists() else Path(shutil.which("psql") or "psql")
        args = [str(client), "-h", str(self.root / "sock"), "-p", str(self.port), "-U", "postgres",
                "-d", database, "-v", "ON_ERROR_STOP=1", "-qAt"]
        for command in commands:
            args += ["-c", command]
        return subprocess.run(_as_postgres(args), check=True, capture_output=True, text=True).stdout

    def version(self) -> str:
        return self.psql("SHOW server_version").strip()

    def connections(self) -> int:
        """Connections the role ``kestra`` holds now."""
        return int(self.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'kestra'").strip())

    def ssl_connections(self) -> int:
        return int(self.psql(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
            "WHERE a.usename = 'kestra' AND s.ssl").strip())

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                           check=False, capture_output=True)


def local_database_and_storage(text: str, *, port: int, storage: Path, ca_file: Optional[Path] = None) -> str:
    """`text` (a rendered configuration file) with only what cannot run here replaced:

    - the database host and port in ``datasources.postgres.url`` (the Docker network alias
      ``postgres`` or Cloud SQL's private IP do not exist here) become 127.0.0.1:`port`, and the
      ``sslrootcert`` path (a ConfigMap mount under /app) becomes `ca_file`; every other
      parameter (``sslmode=verify-ca``) stays;
    - ``kestra.storage`` (a Docker volume at /app/storage, or a GCS bucket, which needs Google)
      becomes local storage in `storage`.
    A document without these keys (the Secret's) comes back unchanged in content.
    """
    document = yaml.safe_load(text)
    datasource = (document.get("datasources") or {}).get("postgres") or {}
    if "url" in datasource:
        url = re.sub(r"^jdbc:postgresql://[^/]+/", f"jdbc:postgresql://127.0.0.1:{port}/", datasource["url"])
        if ca_file is not None:
            url = re.sub(r"sslrootcert=[^&]+", f"sslrootcert={ca_file}", url)
        datasource["url"] = url
    kestra = document.get("kestra") or {}
    if "storage" in kestra:
        kestra["storage"] = {"type": "local", "local": {"base-path": str(storage)}}
    return yaml.safe_dump(document, sort_keys=False)


def flatten(document, prefix: str = "") -> dict[str, object]:
    """{dotted path: leaf value} of a YAML document (lists are leaves)."""
    if not isinstance(document, dict):
        return {prefix: document}
    out: dict[str, object] = {}
    for key, value in document.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


class KestraJvm:
    """One Kestra JVM started through the launcher, as a container would start it."""

    def __init__(self, args: list[str], env: dict[str, str], *, api_port: int, management_port: int, log: Path,
                 java_opts: str = ""):
        self.args = args
        self.api_port = api_port
        self.management_port = management_port
        self.log = log
        props = (f"-Xmx{HEAP} -Dmicronaut.server.host=127.0.0.1 -Dmicronaut.server.port={api_port} "
                 f"-Dendpoints.all.port={management_port} -Duser.language=en -Duser.country=US")
        # Only what the runtime sets: nothing Kestra reads is inherited from this process.
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("KESTRA_", "MICRONAUT_", "SECRET_", "DATASOURCES_", "ENDPOINTS_"))}
        self.env = {**inherited, **env, "JAVA_OPTS": f"{props} {java_opts}".strip()}
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> "KestraJvm":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([str(launcher()), *self.args], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def healthy(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.management_port}/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> "KestraJvm":
        """Until the management port's /health answers 200; raises (with the log) if the JVM exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"kestra {' '.join(self.args)} exited ({self.process.returncode}):\n{self.tail()}")
            if self.healthy():
                return self
            time.sleep(2)
        raise RuntimeError(f"kestra {' '.join(self.args)} not healthy after {timeout:.0f} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL, as `kill -9` or an OOM kill: no shutdown hook runs."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, grace: float = 60.0) -> None:
        if not self.alive():
            return
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def rss_mb(self) -> int:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) // 1024 if match else 0


def wait_for_execution(client, execution_id: str, timeout: float = 300.0) -> dict:
    """The execution once it reached a terminal state (or the last one seen at `timeout`)."""
    terminal = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "SKIPPED"}
    deadline = time.monotonic() + timeout
    execution = client.get_execution(execution_id)
    while execution["state"]["current"] not in terminal and time.monotonic() < deadline:
        time.sleep(1)
        execution = client.get_execution(execution_id)
    return execution
