"""Faults that need Kestra's persistence, on a real Kestra 1.1 on PostgreSQL, driven by the real
Pulumi CLI (the stack's local profile pointed at that Kestra with ``kestraUrl``).

- The Kestra JVM is killed (SIGKILL: no shutdown hook) in the middle of a `pulumi up` that deploys
  the flows, and started again on the same database and storage: the next `up` converges, with every
  flow, namespace file, KV entry and dashboard there, each flow at revision 1 (none written twice).
- The executor (its own JVM, as the gke runtime runs it) is restarted while an execution runs: the
  execution finishes.
- `pulumi destroy` while one of the stack's flows is running leaves no flow, file, KV entry or
  dashboard of the stack in Kestra, and a later `up` converges with no changes left.

Kestra is booted from the configuration the runtimes render (tests/support/rendered_kestra.py),
with only the database host and the storage replaced (see test_rendered_configuration_boots.py).
Opt-in (`-m real_kestra`): it needs Kestra's launcher (``KESTRA_LAUNCHER``), PostgreSQL's server
binaries and, for the two tests that run the CLI, the engine tier's tools (`scripts/install-tools`).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import requests

from kestra.client import KestraClient, KestraNotFound
from tests.engine.conftest import engine_project, pulumi_tools  # noqa: F401  (fixtures)
from tests.engine.deployed import expected_local
from tests.support import real_kestra
from tests.support.real_kestra import KestraJvm, Postgres, local_database_and_storage, wait_for_execution
from tests.support.rendered_kestra import GKE, LOCAL, OPTIONAL_SECRETS, chart_command, docker_environment, gke_release

MISSING = real_kestra.missing()
pytestmark = [
    pytest.mark.real_kestra,
    pytest.mark.skipif(MISSING is not None, reason=f"{MISSING}; {real_kestra.HOW_TO_GET}"),
]

UP = ("up", "--yes", "--skip-preview")
USERNAME = "admin@kestra.io"
PASSWORD = OPTIONAL_SECRETS["kestra-gcp:kestraPassword"]
PG_PASSWORD = OPTIONAL_SECRETS["kestra-gcp:postgresPassword"]
SLEEP = "PT40S"
# A flow of the stack's own (added to the project copy) that runs long enough to be interrupted.
SLOW_FLOW = ("dev.testing", "pg_fault_slow")
SLOW_SOURCE = f"""id: {SLOW_FLOW[1]}
namespace: {SLOW_FLOW[0]}
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: started
  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: {SLEEP}
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: finished
"""


class Standalone:
    """Kestra `server standalone` with the Docker runtime's configuration, restartable."""

    def __init__(self, root: Path):
        self.root = root
        self.pg = Postgres(root / "pg", real_kestra.free_ports(1, 15432, 15532)[0], PG_PASSWORD).start()
        environment = docker_environment({**LOCAL, **OPTIONAL_SECRETS})
        booted = local_database_and_storage(environment["KESTRA_CONFIGURATION"], port=self.pg.port,
                                            storage=root / "storage")
        self.env = {**environment, "KESTRA_CONFIGURATION": booted, "KESTRA_CONFIGURATION_PATH": str(root / "confs")}
        self.api, self.management = real_kestra.free_ports(2, 18200, 18300)
        self.url = f"http://127.0.0.1:{self.api}"
        self.starts = 0
        self.jvm = self.start()

    def start(self) -> KestraJvm:
        self.starts += 1
        self.jvm = KestraJvm(["server", "standalone"], self.env, api_port=self.api, management_port=self.management,
                             log=self.root / f"standalone-{self.starts}.log").start()
        return self.jvm

    def client(self) -> KestraClient:
        return KestraClient(self.url, USERNAME, PASSWORD, deadline=120)

    def close(self) -> None:
        self.jvm.stop()
        self.pg.stop()


@pytest.fixture(scope="module")
def standalone():
    root = real_kestra.workdir()
    kestra = Standalone(root)
    try:
        kestra.jvm.wait_healthy()
        yield kestra
    finally:
        kestra.close()
        shutil.rmtree(root, ignore_errors=True)


def flows_in(kestra: Standalone, namespace: str) -> dict[str, int]:
    """{flow id: revision} of the flows Kestra holds in `namespace` (FlowController GET /flows/{namespace})."""
    answer = requests.get(f"{kestra.url}/api/v1/main/flows/{namespace}", auth=(USERNAME, PASSWORD), timeout=30)
    answer.raise_for_status()
    return {flow["id"]: flow["revision"] for flow in answer.json()}


def assert_deployed(kestra: Standalone, expected: dict) -> None:
    """Everything `expected` holds is in Kestra as the files say, each flow once (revision 1), and
    no other flow in those namespaces."""
    namespaces = {ns for ns, _ in expected["flows"]}
    with kestra.client() as client:
        for (ns, flow_id), source in expected["flows"].items():
            assert client.get_flow(ns, flow_id)["source"] == source, (ns, flow_id)
        for (ns, path), text in expected["files"].items():
            assert client.get_namespace_file(ns, path).decode() == text, (ns, path)
        for ns, key in expected["kv"]:
            client.get_kv(ns, key)
        for dashboard_id, source in expected["dashboards"].items():
            assert client.get_dashboard(dashboard_id)["sourceCode"] == source, dashboard_id
    held = {(ns, flow_id): revision for ns in namespaces for flow_id, revision in flows_in(kestra, ns).items()}
    assert set(held) == set(expected["flows"])
    assert set(held.values()) == {1}, {k: v for k, v in held.items() if v != 1}  # none written twice


def assert_nothing_left(kestra: Standalone, expected: dict) -> None:
    with kestra.client() as client:
        for ns in {ns for ns, _ in expected["flows"]}:
            assert flows_in(kestra, ns) == {}, ns
        for (ns, path) in expected["files"]:
            assert not client.namespace_file_exists(ns, path), (ns, path)
        for ns, key in expected["kv"]:
            with pytest.raises(KestraNotFound):
                client.get_kv(ns, key)
        for dashboard_id in expected["dashboards"]:
            with pytest.raises(Exception):
                client.get_dashboard(dashboard_id)


def point_at(project, kestra: Standalone) -> None:
    project.set_config({"profile": "local", "kestraUrl": kestra.url, "kestraUsername": USERNAME})
    project.set_config({"kestraPassword": PASSWORD}, secret=True)


@pytest.mark.parametrize("restart", ["while up retries", "after up failed"])
def test_kestra_killed_during_up_then_restarted_and_up_again_converges(standalone, engine_project, restart):  # noqa: F811
    """SIGKILL once `up` has written some flows. Restarted at once, Kestra is back within the
    provider's retry deadline (120 s per call); left down until `up` gave up, it comes back only
    for the next `up`. Either way the next `up` converges."""
    project = engine_project
    point_at(project, standalone)
    expected = expected_local(project.dir / "flows")
    process = project.popen(*UP)
    try:
        deadline = time.monotonic() + 300
        while sum(len(flows_in(standalone, ns)) for ns in {ns for ns, _ in expected["flows"]}) < 2:
            assert process.poll() is None, "pulumi up ended before Kestra could be killed"
            assert time.monotonic() < deadline, "pulumi up did not start writing flows"
            time.sleep(0.2)
        standalone.jvm.kill()
        killed_at = time.monotonic()
        if restart == "while up retries":
            standalone.start().wait_healthy()
        out, err = process.communicate(timeout=900)
        first_up = out + err
        if restart == "after up failed":
            standalone.start().wait_healthy()
        down = time.monotonic() - killed_at
    finally:
        if process.poll() is None:
            process.kill()
    print(f"\nfirst up exit {process.returncode} (Kestra down {down:.0f} s):\n"
          + "\n".join(line for line in first_up.splitlines()[-40:] if not line.lstrip().startswith("[")))
    if restart == "after up failed":
        assert process.returncode != 0

    second = project.pulumi(*UP)
    print("second up:\n" + "\n".join(second.output.splitlines()[-8:]))
    assert_deployed(standalone, expected)
    project.pulumi("preview", "--expect-no-changes")
    project.pulumi("destroy", "--yes", "--skip-preview")
    assert_nothing_left(standalone, expected)


def test_destroy_while_a_flow_runs_leaves_nothing_that_blocks_the_next_up(standalone, engine_project):  # noqa: F811
    project = engine_project
    point_at(project, standalone)
    (project.dir / "flows" / SLOW_FLOW[0] / f"{SLOW_FLOW[1]}.yaml").write_text(SLOW_SOURCE)
    expected = expected_local(project.dir / "flows")
    project.pulumi(*UP)
    with standalone.client() as client:
        execution = client.trigger_execution(*SLOW_FLOW)
        deadline = time.monotonic() + 120
        while client.get_execution(execution["id"])["state"]["current"] != "RUNNING":
            assert time.monotonic() < deadline, "the execution did not start"
            time.sleep(0.5)

        destroyed = project.pulumi("destroy", "--yes", "--skip-preview")
        during = client.get_execution(execution["id"])["state"]["current"]
        assert_nothing_left(standalone, expected)
        final = wait_for_execution(client, execution["id"], timeout=300)
        print(f"\ndestroy: {destroyed.seconds:.1f} s, the execution was {during} right after it and ended "
              f"{final['state']['current']}")

        again = project.pulumi(*UP)
        assert_deployed_again(standalone, expected)
        project.pulumi("preview", "--expect-no-changes")
        rerun = wait_for_execution(client, client.trigger_execution(*SLOW_FLOW)["id"], timeout=300)
        assert rerun["state"]["current"] == "SUCCESS", rerun
        print("up after destroy:\n" + "\n".join(again.output.splitlines()[-6:]))
    project.pulumi("destroy", "--yes", "--skip-preview")


def assert_deployed_again(kestra: Standalone, expected: dict) -> None:
    """As `assert_deployed`, but a flow deleted and created again continues its revisions (Kestra 1.1
    jdbc AbstractJdbcFlowRepository: delete keeps the rows, marked deleted; save numbers the new one
    after the last of them), so only the sources and the set of flows are compared."""
    with kestra.client() as client:
        for (ns, flow_id), source in expected["flows"].items():
            assert client.get_flow(ns, flow_id)["source"] == source, (ns, flow_id)
        for (ns, path), text in expected["files"].items():
            assert client.get_namespace_file(ns, path).decode() == text, (ns, path)
    namespaces = {ns for ns, _ in expected["flows"]}
    held = {(ns, f): revision for ns in namespaces for f, revision in flows_in(kestra, ns).items()}
    assert set(held) == set(expected["flows"])
    print(f"revisions after destroy and up: {sorted(set(held.values()))}")


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_an_execution_survives_a_restart_of_the_executor(signal_name):
    """The gke runtime's components as separate JVMs; while an execution sleeps in the worker the
    executor gets SIGTERM (as a rolling update or a node drain sends it) or SIGKILL (a lost node, an
    OOM kill), and a new executor starts."""
    root = real_kestra.workdir()
    public, secret, deployments, secret_env = gke_release({**GKE, **OPTIONAL_SECRETS})
    pg = Postgres(root / "pg", real_kestra.free_ports(1, 15432, 15532)[0], PG_PASSWORD, tls=True).start()
    (root / "confs").mkdir()
    (root / "confs" / "_default.yml").write_text(
        local_database_and_storage(public, port=pg.port, storage=root / "storage", ca_file=pg.ca_file))
    (root / "confs" / "secrets.yml").write_text(secret)
    env = {**secret_env, "KESTRA_JAVA_OPTS": "",
           "MICRONAUT_CONFIG_FILES": f"{root / 'confs' / '_default.yml'},{root / 'confs' / 'secrets.yml'}"}
    components = {name: c for name, c in deployments.items() if c.get("enabled")}
    free = iter(real_kestra.free_ports(2 * len(components) + 2, 18200, 18300))
    jvms: dict[str, KestraJvm] = {}
    try:
        for name, content in sorted(components.items()):
            jvms[name] = KestraJvm(chart_command(name, content), env, api_port=next(free), management_port=next(free),
                                   log=root / f"{name}.log").start()
        for jvm in jvms.values():
            jvm.wait_healthy()
        url = f"http://127.0.0.1:{jvms['webserver'].api_port}"
        with KestraClient(url, USERNAME, PASSWORD, deadline=120) as client:
            client.create_flow(SLOW_SOURCE)
            execution = client.trigger_execution(*SLOW_FLOW)
            deadline = time.monotonic() + 120
            while client.get_execution(execution["id"])["state"]["current"] != "RUNNING":
                assert time.monotonic() < deadline, "the execution did not start"
                time.sleep(0.5)
            executor = jvms["executor"]
            if signal_name == "SIGTERM":
                executor.stop()
            else:
                executor.kill()
            jvms["executor"] = KestraJvm(executor.args, env, api_port=next(free), management_port=next(free),
                                         log=root / "executor-2.log").start()
            jvms["executor"].wait_healthy()
            final = wait_for_execution(client, execution["id"], timeout=600)
            tasks = {run["taskId"]: run["state"]["current"] for run in final.get("taskRunList") or []}
            print(f"\nafter the executor's {signal_name} and restart: {final['state']['current']}, task runs {tasks}")
            assert final["state"]["current"] == "SUCCESS", final
            assert tasks == {"before": "SUCCESS", "wait": "SUCCESS", "after": "SUCCESS"}
    finally:
        for jvm in jvms.values():
            jvm.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
