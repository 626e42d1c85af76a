"""`pulumi up` through a misbehaving Kestra and through an interrupted run: the next run converges
on exactly what flows/ holds, with nothing created twice."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from tests.engine.conftest import ECHO_STORE_ENV
from tests.engine.deployed import expected_local, live
from tests.engine.test_lifecycle import UP, revisions, state, summary
from tests.support.echo_cloud import DOCKER_CONTAINER, DockerEngineApi, live_resources

API = "/api/v1/main"


def test_up_converges_through_503s_and_connection_resets(external_project, kestra_standin):
    faults = [
        # Kestra still booting: every kind of call answers 503 for a while.
        {"kind": "status", "status": 503, "count": 6},
        # Connections dropped before the request reached Kestra.
        {"kind": "reset", "count": 3, "method": "PUT"},
        {"kind": "reset", "count": 2, "method": "POST", "path": f"{API}/dashboards"},
        # Writes Kestra applied, then the connection died before the answer (the client must not
        # create a second copy when it tries again).
        {"kind": "reset", "when": "after", "count": 3, "method": "POST", "path": f"{API}/flows"},
        {"kind": "status", "when": "after", "status": 504, "count": 2, "method": "POST",
         "path_contains": "/files"},
    ]
    for fault in faults:
        kestra_standin.control("POST", "inject", fault)

    up = external_project.pulumi(*UP)

    assert kestra_standin.control("GET", "faults") == []  # every fault was hit
    log = kestra_standin.control("GET", "requests")
    assert sum(1 for r in log if r["status"] is None) == 3 + 2 + 3  # the resets happened
    assert sum(1 for r in log if r["status"] == 503) == 6
    expected = expected_local(external_project.dir / "flows")
    deployed = state(kestra_standin)
    assert deployed == {**expected, "kv": deployed["kv"]} and deployed["kv"] == expected["kv"]
    assert set(revisions(kestra_standin).values()) == {1}  # no flow written twice
    # One resource per KV entry, namespace file and dashboard, and one per namespace for its flows.
    objects = len(expected["kv"]) + len(expected["files"]) + len(expected["dashboards"])
    objects += len({namespace for namespace, _ in expected["flows"]})
    assert summary(up).get("created") == objects + 2, up.output  # + the stack and the component
    external_project.pulumi("preview", "--expect-no-changes")


def _interrupted_up(
    project, standin, signals: int, *, held: Optional[dict] = None, to_cli_alone: bool = False
) -> subprocess.CompletedProcess:
    """Starts `pulumi up` with every write slowed down, sends `signals` SIGINTs and returns the
    finished CLI process. The signals go as a terminal's Ctrl-C (to the process group) once some
    flows exist; or, with `to_cli_alone`, to the CLI process only (`kill -INT <pid>`). With `held`
    (method and path), Kestra holds the first such write for 3 s and the signals come while it is
    in flight."""
    if held:
        standin.control("POST", "inject", {"kind": "slow", "seconds": 3, "count": 1, **held})
    standin.control("POST", "inject", {"kind": "slow", "seconds": 0.4, "count": 1000, "method": "POST"})
    standin.control("POST", "inject", {"kind": "slow", "seconds": 0.4, "count": 1000, "method": "PUT"})

    def started() -> bool:
        if held:
            return _in_flight(standin, held)
        return standin.control("GET", "stats")["flows"] >= 2

    process = project.popen(*UP)
    deadline = time.monotonic() + 120
    while not started():
        assert process.poll() is None, "pulumi up ended before it could be interrupted"
        assert time.monotonic() < deadline, "pulumi up did not start writing flows"
        time.sleep(0.05)
    for _ in range(signals):
        if to_cli_alone:
            os.kill(process.pid, signal.SIGINT)
        else:
            project.interrupt(process)
        # A second Ctrl-C must come while the CLI is still cancelling: the program gets the first
        # one too (same process group) and the CLI can finish cancelling within 0.3 s.
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=300)
    standin.control("DELETE", "faults")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _in_flight(standin, request: dict) -> bool:
    """Whether the stand-in is still handling a request with that method and path (not answered)."""
    return any(r["method"] == request["method"] and r["path"] == request["path"] and r["status"] is None
               for r in standin.control("GET", "requests"))


def _converges(project, standin) -> str:
    expected = expected_local(project.dir / "flows")
    assert state(standin) != expected  # the interruption did leave work undone
    up = project.pulumi(*UP)
    assert live(standin.control("GET", "state")) == expected
    assert set(revisions(standin).values()) == {1}  # nothing written twice
    project.pulumi("preview", "--expect-no-changes")
    return up.output


# The first namespace file of dev.testing: the resource holding the namespace's flows waits for its
# files (infra/deployment.py), so a run interrupted while Kestra holds this write leaves those flows
# to the next run. (One resource writes every flow of a namespace: a run interrupted once flows are
# being written may well finish every namespace it started, leaving nothing undone.)
HELD_FILE = {"method": "POST", "path": f"{API}/namespaces/dev.testing/files"}


def test_up_interrupted_by_ctrl_c_is_followed_by_an_up_that_converges(external_project, kestra_standin):
    interrupted = _interrupted_up(external_project, kestra_standin, signals=1, held=HELD_FILE)
    assert interrupted.returncode != 0
    # One Ctrl-C: the CLI lets running operations finish and records them, then stops.
    assert "^C received; cancelling" in interrupted.stdout + interrupted.stderr
    up_output = _converges(external_project, kestra_standin)
    assert "pending operations" not in up_output


def test_up_terminated_by_a_second_ctrl_c_is_followed_by_an_up_that_converges(external_project, kestra_standin):
    # At a terminal both Ctrl-Cs reach the program and the providers too, so whether the CLI is
    # terminated with operations still in flight (left "pending") is a race; either way the next up
    # converges with nothing written twice.
    interrupted = _interrupted_up(external_project, kestra_standin, signals=2, held=HELD_FILE)
    assert interrupted.returncode != 0
    assert "received; terminating" in interrupted.stdout + interrupted.stderr
    _converges(external_project, kestra_standin)


def test_up_terminated_mid_write_leaves_pending_creates_that_the_next_up_adopts(external_project, kestra_standin):
    """Two SIGINTs to the CLI process alone (`kill -INT <pid>`, as a supervisor sends them) while
    Kestra is still applying a flow write: the CLI exits with that create pending, for certain."""
    held = {"method": "POST", "path": f"{API}/flows"}
    interrupted = _interrupted_up(external_project, kestra_standin, signals=2, held=held, to_cli_alone=True)
    assert interrupted.returncode != 0 and "received; terminating" in interrupted.stdout, interrupted.stdout
    deadline = time.monotonic() + 30
    while _in_flight(kestra_standin, held):  # Kestra finishes the write the CLI no longer waits for
        assert time.monotonic() < deadline, "the held flow write never finished"
        time.sleep(0.05)

    # The next up warns about the pending create and creates that flow again, which adopts what
    # Kestra already applied (no second revision).
    up_output = _converges(external_project, kestra_standin)
    assert "pending operations from previous deployment" in up_output
    # The warning stays until a refresh clears the pending creates (the README's repair step).
    external_project.pulumi("refresh", "--yes", "--clear-pending-creates")
    assert "pending operations" not in external_project.pulumi(*UP).output


def _kill_orphans_of(project_dir: Path) -> None:
    """Kills what a killed CLI left running from `project_dir`: the CLI starts each plugin in a
    process group of its own, so the dynamic provider host outlives a kill of the CLI's group."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(project_dir) in cmdline:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_up_without_checkpoints_killed_mid_run_is_followed_by_an_up_that_adopts_what_it_wrote(
    external_project, kestra_standin
):
    """PULUMI_SKIP_CHECKPOINTS=true (docs/flows-as-code.md, "Performance of a large catalogue")
    keeps the state in memory and writes it when the CLI closes the deployment (pulumi/pulumi
    pkg/backend/snapshot.go, unsafeServiceLoop): a CLI killed outright (SIGKILL, a crash) records
    none of the objects that run wrote. The next up creates them all again, and each create adopts
    what Kestra holds: nothing written twice, nothing missing."""
    external_project.env["PULUMI_SKIP_CHECKPOINTS"] = "true"
    for method in ("POST", "PUT"):
        kestra_standin.control("POST", "inject", {"kind": "slow", "seconds": 0.4, "count": 1000, "method": method})
    process = external_project.popen(*UP)
    deadline = time.monotonic() + 120
    while kestra_standin.control("GET", "stats")["flows"] < 2:
        assert process.poll() is None, "pulumi up ended before it could be killed"
        assert time.monotonic() < deadline, "pulumi up did not start writing flows"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the CLI and the program at once
    process.communicate(timeout=60)
    _kill_orphans_of(external_project.dir)
    kestra_standin.control("DELETE", "faults")
    deadline = time.monotonic() + 30
    while any(r["status"] is None for r in kestra_standin.control("GET", "requests")):
        assert time.monotonic() < deadline, "a write of the killed run never finished"
        time.sleep(0.05)
    recorded = external_project.pulumi("stack", "export").json()["deployment"].get("resources") or []
    assert not [r for r in recorded if r["type"].startswith("pulumi-python:dynamic/kestra:")]
    external_project.pulumi("cancel", "--yes")  # a killed CLI leaves its lock on the stack

    up_output = _converges(external_project, kestra_standin)
    assert "pending operations" not in up_output


KESTRA_CONTAINER = "kestra-gcp-dev-kestra"  # infra/runtimes/docker.py: <namePrefix>-kestra


def _containers_named(project, name: str) -> list[dict]:
    return [c for c in live_resources(project.env[ECHO_STORE_ENV], DOCKER_CONTAINER) if c["outputs"].get("name") == name]


def test_up_terminated_while_docker_waits_for_kestras_health_is_followed_by_an_up_that_converges(
    local_project, kestra_standin
):
    """pulumi-docker creates and starts the Kestra container, then waits for its health (`wait`).
    Two SIGINTs to the CLI during that wait terminate it before it learns the container's id: the
    container runs on, holding its name, and the state keeps a pending create, so the next up
    creates the container again — which Docker refuses for a name in use. Right before that
    create, the program's hook finds the container holding the name runs the image it is creating
    from, and stops and removes it through the Docker Engine API: the up converges with one Kestra."""
    store = Path(local_project.env[ECHO_STORE_ENV])
    unhealthy = store / "docker-engine" / "unhealthy" / KESTRA_CONTAINER  # its healthcheck has not passed yet
    unhealthy.parent.mkdir(parents=True)
    unhealthy.touch()
    folder = tempfile.mkdtemp(prefix="docker-api-", dir="/tmp")  # a unix socket path is short
    api = DockerEngineApi(store, Path(folder) / "docker.sock").start()
    try:
        local_project.env["DOCKER_HOST"] = f"unix://{api.socket_path}"
        process = local_project.popen(*UP)
        deadline = time.monotonic() + 120
        while not _containers_named(local_project, KESTRA_CONTAINER):
            assert process.poll() is None, "pulumi up ended before it created the Kestra container"
            assert time.monotonic() < deadline, "pulumi up did not create the Kestra container"
            time.sleep(0.05)
        for _ in range(2):
            os.kill(process.pid, signal.SIGINT)
            time.sleep(0.05)
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode != 0 and "received; terminating" in stdout + stderr, stdout + stderr
        [left] = _containers_named(local_project, KESTRA_CONTAINER)  # still running, unknown to the state
        unhealthy.unlink()  # it would become healthy now

        up = local_project.pulumi(*UP)
        assert "pending operations from previous deployment" in up.output
        [kestra] = _containers_named(local_project, KESTRA_CONTAINER)
        assert kestra["id"] != left["id"]
        # Each create asked first (Postgres' and Kestra's in the first up: nothing there); then Kestra's again.
        assert api.calls == [
            "GET /containers/kestra-gcp-dev-postgres/json", f"GET /containers/{KESTRA_CONTAINER}/json",
            f"GET /containers/{KESTRA_CONTAINER}/json", f"POST /containers/{left['id']}/stop?t=60",
            f"DELETE /containers/{left['id']}?v=false&force=true",
        ]
        assert state(kestra_standin) == expected_local(local_project.dir / "flows")
        local_project.pulumi("preview", "--expect-no-changes")
    finally:
        api.stop()
        Path(api.socket_path).unlink(missing_ok=True)
        os.rmdir(folder)
