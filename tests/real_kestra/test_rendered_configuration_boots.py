"""A real Kestra 1.1 boots on PostgreSQL with exactly the configuration each runtime renders, and runs
a flow to SUCCESS.

- Docker runtime: the Kestra container's environment (``KESTRA_CONFIGURATION`` and the ``SECRET_*``
  entries), as `pulumi up` sends it (the program under mocks), run as the container runs it:
  ``server standalone``.
- gke runtime: the Helm release's two configuration files (the ConfigMap's ``_default.yml`` and the
  Secret's ``secrets.yml``, merged through ``MICRONAUT_CONFIG_FILES`` in the chart's order), the
  environment Secret, and one JVM per Deployment the release enables, each with the command line
  chart 1.0.21 gives it. The database is reached as on Cloud SQL: over SSL, verifying a server CA.

Replaced, and only these (`real_kestra.local_database_and_storage`; the test checks that nothing
else differs): the database host and port, because the Docker network alias ``postgres`` and Cloud
SQL's private IP do not exist here; the path of Cloud SQL's CA, a ConfigMap mounted under /app;
the internal storage, because the Docker volume is mounted at /app/storage and GCS needs Google,
neither of which is here, so both become a local folder. Each JVM's ports are set as system
properties (a pod has 8080/8081 to itself, these JVMs share loopback).

Opt-in (`-m real_kestra`): it needs Kestra's launcher with jdbc-postgres (``KESTRA_LAUNCHER``) and
PostgreSQL's server binaries; CI has neither (Kestra publishes neither its server nor jdbc-postgres
to Maven Central). Each JVM gets 512 MB of heap; the distributed case starts four JVMs at once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kestra.client import KestraClient
from tests.support import real_kestra
from tests.support.real_kestra import KestraJvm, Postgres, flatten, local_database_and_storage
from tests.support.rendered_kestra import GKE, LOCAL, OPTIONAL_SECRETS, chart_command, docker_environment, gke_release

MISSING = real_kestra.missing()
pytestmark = [
    pytest.mark.real_kestra,
    pytest.mark.skipif(MISSING is not None, reason=f"{MISSING}; {real_kestra.HOW_TO_GET}"),
]

USERNAME = "admin@kestra.io"  # the stack's default kestraUsername
PASSWORD = OPTIONAL_SECRETS["kestra-gcp:kestraPassword"]
PG_PASSWORD = OPTIONAL_SECRETS["kestra-gcp:postgresPassword"]
NAMESPACE = "itest.boot"
# Core tasks only: a log that reads a secret the runtime sets (a missing one fails the task), a file
# written to internal storage by the worker, and read back from it by the next task.
FLOW = f"""id: rendered
namespace: {NAMESPACE}
tasks:
  - id: secret
    type: io.kestra.plugin.core.log.Log
    message: "user {{{{ secret('KESTRA_USER') }}}}"
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "written by {{{{ flow.id }}}} in {{{{ execution.id }}}}"
    extension: .txt
  - id: read
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ read(outputs.write.uri) }}}}"
"""
def ports(count: int) -> list[int]:
    return real_kestra.free_ports(count, 18200, 18300)


def postgres_port() -> int:
    return real_kestra.free_ports(1, 15432, 15532)[0]


def assert_only_database_and_storage_replaced(original: str, booted: str) -> None:
    before, after = flatten(yaml.safe_load(original)), flatten(yaml.safe_load(booted))
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    allowed = {"datasources.postgres.url"} | {k for k in before.keys() | after.keys() if k.startswith("kestra.storage.")}
    assert changed <= allowed, f"changed beyond the database host and the storage: {sorted(changed - allowed)}"


def run_flow(url: str, username: str = USERNAME, password: str = PASSWORD) -> dict:
    with KestraClient(url, username, password, deadline=120) as client:
        client.create_flow(FLOW)
        execution = client.trigger_execution(NAMESPACE, "rendered")
        return real_kestra.wait_for_execution(client, execution["id"])


def written_files(storage: Path) -> list[str]:
    return [p.read_text() for p in storage.rglob("*.txt")]


@pytest.fixture
def workdir() -> Path:
    path = real_kestra.workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_docker_runtimes_configuration_boots_kestra_standalone_and_keeps_its_data(workdir):
    environment = docker_environment({**LOCAL, **OPTIONAL_SECRETS})
    rendered = environment["KESTRA_CONFIGURATION"]
    pg = Postgres(workdir / "pg", postgres_port(), PG_PASSWORD).start()
    storage = workdir / "storage"
    booted = local_database_and_storage(rendered, port=pg.port, storage=storage)
    assert_only_database_and_storage_replaced(rendered, booted)
    api, management = ports(2)
    jvms: list[KestraJvm] = []
    try:
        env = {**environment, "KESTRA_CONFIGURATION": booted, "KESTRA_CONFIGURATION_PATH": str(workdir / "confs")}
        jvm = KestraJvm(["server", "standalone"], env, api_port=api, management_port=management,
                        log=workdir / "standalone.log")
        jvms.append(jvm.start())
        jvm.wait_healthy()
        url = f"http://127.0.0.1:{api}"
        execution = run_flow(url)
        assert execution["state"]["current"] == "SUCCESS", execution
        assert any(execution["id"] in text for text in written_files(storage))
        migrations = int(pg.psql("SELECT count(*) FROM flyway_schema_history WHERE success", database="kestra"))
        assert migrations > 0
        print(f"\nPostgreSQL {pg.version()}: {migrations} migrations, {pg.connections()} connections, "
              f"standalone RSS {jvm.rss_mb()} MB")

        jvm.stop()  # as `docker restart`: SIGTERM, then a new JVM on the same database and volume
        jvm = KestraJvm(["server", "standalone"], env, api_port=api, management_port=management,
                        log=workdir / "standalone-2.log")
        jvms.append(jvm.start())
        jvm.wait_healthy()
        with KestraClient(url, USERNAME, PASSWORD, deadline=120) as client:
            assert client.get_flow(NAMESPACE, "rendered")["revision"] == 1
            assert client.get_execution(execution["id"])["state"]["current"] == "SUCCESS"
    finally:
        for jvm in jvms:
            jvm.stop()
        pg.stop()


def test_the_gke_runtimes_configuration_boots_each_chart_component_and_runs_a_flow(workdir):
    public, secret, deployments, secret_env = gke_release({**GKE, **OPTIONAL_SECRETS})
    components = {name: content for name, content in deployments.items() if content.get("enabled")}
    # The chart's indexer Deployment stays off: the webserver's `server webserver` (no --no-indexer)
    # starts an embedded indexer (Kestra 1.1 cli WebServerCommand), so four JVMs are the whole set.
    assert set(components) == {"webserver", "executor", "scheduler", "worker"}
    pg = Postgres(workdir / "pg", postgres_port(), PG_PASSWORD, tls=True).start()
    storage = workdir / "storage"
    booted_public = local_database_and_storage(public, port=pg.port, storage=storage, ca_file=pg.ca_file)
    booted_secret = local_database_and_storage(secret, port=pg.port, storage=storage)
    assert_only_database_and_storage_replaced(public, booted_public)
    assert yaml.safe_load(booted_secret) == yaml.safe_load(secret)
    assert "sslmode=verify-ca" in yaml.safe_load(booted_public)["datasources"]["postgres"]["url"]
    (workdir / "confs").mkdir()
    (workdir / "secrets").mkdir()
    (workdir / "confs" / "_default.yml").write_text(booted_public)
    (workdir / "secrets" / "secrets.yml").write_text(booted_secret)
    # templates/_helpers.tpl kestra.micronautConfigFiles: /app/confs/_default.yml, then each secret.
    # KESTRA_JAVA_OPTS: the chart's kestra.jvmOpts, empty with these values.
    base_env = {**secret_env, "KESTRA_JAVA_OPTS": "", "MICRONAUT_CONFIG_FILES":
                f"{workdir / 'confs' / '_default.yml'},{workdir / 'secrets' / 'secrets.yml'}"}
    free = iter(ports(2 * len(components)))
    jvms: dict[str, KestraJvm] = {}
    try:
        for name, content in sorted(components.items()):
            env = {**base_env, **{e["name"]: e["value"] for e in content.get("extraEnv") or []}}
            jvms[name] = KestraJvm(chart_command(name, content), env, api_port=next(free),
                                   management_port=next(free), log=workdir / f"{name}.log").start()
        for jvm in jvms.values():
            jvm.wait_healthy()
        execution = run_flow(f"http://127.0.0.1:{jvms['webserver'].api_port}")
        assert execution["state"]["current"] == "SUCCESS", execution
        assert any(execution["id"] in text for text in written_files(storage))
        connections, encrypted = pg.connections(), pg.ssl_connections()
        assert connections > 0 and encrypted == connections  # every Kestra connection verified the CA
        print(f"\nPostgreSQL {pg.version()}: {connections} connections ({encrypted} over SSL); RSS MB "
              + ", ".join(f"{name} {jvm.rss_mb()}" for name, jvm in sorted(jvms.items())))
    finally:
        for jvm in jvms.values():
            jvm.stop()
        pg.stop()
