"""keepData through the real CLI: `pulumi destroy` does not run the program, it deletes with the
options recorded in state. So keepData only protects what an `up` after setting it recorded
(README "Keeping data"); in the external profile the kept objects are KV entries and namespace files.
On the Docker runtime all of Kestra's data is in two Docker volumes, which keepData keeps."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

from tests.engine.conftest import DOCKER_VOLUMES, ECHO_STORE_ENV
from tests.engine.deployed import expected_local
from tests.engine.test_lifecycle import UP, deploy, state
from tests.support.echo_cloud import live_resources

EMPTY = {"flows": {}, "files": {}, "kv": set(), "dashboards": {}}


def test_set_keep_data_then_up_then_destroy_keeps_kv_entries_and_namespace_files(external_project, kestra_standin):
    expected = expected_local(external_project.dir / "flows")
    deploy(external_project, kestra_standin)

    external_project.set_config({"keepData": True})
    kestra_standin.control("POST", "reset-log")
    external_project.pulumi(*UP)  # records retainOnDelete in the state
    assert kestra_standin.control("GET", "stats")["requests"] == 0  # without touching Kestra
    external_project.pulumi("destroy", "--yes")

    kept = state(kestra_standin)
    assert kept == {**EMPTY, "files": expected["files"], "kv": expected["kv"]}

    # A new deployment adopts what was kept rather than failing on it.
    external_project.pulumi(*UP)
    assert state(kestra_standin) == expected


def test_set_keep_data_then_destroy_without_up_deletes_everything(external_project, kestra_standin):
    deploy(external_project, kestra_standin)
    external_project.set_config({"keepData": True})
    external_project.pulumi("destroy", "--yes")  # the program does not run: keepData is not seen
    assert state(kestra_standin) == EMPTY


# A value Kestra keeps that the stack does not manage: what a flow's kv.Set task writes.
NAMESPACE, KEY, VALUE = "company.team", "LAST_LOAD", "2026-12-06"


def _kv(standin, method: str, body: bytes | None = None):
    """KVController: PUT (text/plain, a JSON literal) or GET (``{"type", "value"}``, 404 when missing)."""
    auth = b64encode(f"{standin.username}:{standin.password}".encode()).decode()
    request = urllib.request.Request(
        f"{standin.url}/api/v1/main/namespaces/{NAMESPACE}/kv/{KEY}", data=body, method=method,
        headers={"Authorization": f"Basic {auth}", **({"Content-Type": "text/plain"} if body else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
    return json.loads(raw)["value"] if raw else None


def _docker_volumes(project) -> set[str]:
    """The volumes the (echo) Docker engine holds, whichever stack made them."""
    folder = Path(project.env[ECHO_STORE_ENV]) / "docker-engine" / "volumes"
    return {p.stem for p in folder.glob("*.json")}


def test_docker_keep_data_keeps_kestras_data_through_destroy_and_the_next_up(docker_project, docker_standin):
    docker_project.set_config({"keepData": True})
    docker_project.set_config({"postgresPassword": "pg-Engine-Tests-2026"}, secret=True)
    docker_project.pulumi(*UP)
    _kv(docker_standin, "PUT", json.dumps(VALUE).encode())

    docker_project.pulumi("destroy", "--yes")
    assert _docker_volumes(docker_project) == set(DOCKER_VOLUMES)  # left to Docker…
    assert live_resources(docker_project.env[ECHO_STORE_ENV], "docker:index/container:Container") == []
    assert _kv(docker_standin, "GET") == VALUE  # …with Kestra's data in them

    # The next deployment creates volumes of the same names, which Docker answers with the kept ones.
    docker_project.pulumi(*UP)
    assert _kv(docker_standin, "GET") == VALUE
    assert state(docker_standin) == {**expected_local(docker_project.dir / "flows"),
                                     "kv": expected_local(docker_project.dir / "flows")["kv"] | {(NAMESPACE, KEY)}}
    docker_project.pulumi("preview", "--expect-no-changes")


def test_docker_destroy_without_keep_data_removes_the_volumes_and_kestras_data(docker_project, docker_standin):
    docker_project.pulumi(*UP)
    _kv(docker_standin, "PUT", json.dumps(VALUE).encode())
    docker_project.pulumi("destroy", "--yes")
    assert _docker_volumes(docker_project) == set()
    docker_project.pulumi(*UP)
    assert _kv(docker_standin, "GET") is None  # a new Kestra on new, empty volumes
