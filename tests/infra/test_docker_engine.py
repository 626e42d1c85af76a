"""The containers' error hook (infra/docker_engine.py) against the Docker Engine API stand-in: it
clears a name only on Docker's Conflict for that name, only for this stack's container, and once."""

import json
import os
import tempfile
from pathlib import Path

import pulumi
import pytest

from infra.docker_engine import OWNER_LABEL, DockerEngine, stale_container_hook
from tests.support.echo_cloud import DOCKER_CONTAINER, DockerEngineApi

NAME = "kestra-gcp-dev-kestra"
OWNER = "kestra-gcp/dev"
STALE = "5f" * 32


def conflict(name: str = NAME, container: str = STALE) -> str:
    # What the engine reports for a refused create: the provider's error, Docker's message in it
    # (moby daemon/errors.go nameConflictError), quoted as the gRPC status carries it.
    return (f'rpc error: code = Unknown desc = Unable to create container: Error response from daemon: Conflict. '
            f'The container name "/{name}" is already in use by container "{container}". You have to remove '
            f'(or rename) that container to be able to reuse that name.')


@pytest.fixture
def engine():
    folder = Path(tempfile.mkdtemp(prefix="docker-api-", dir="/tmp"))
    api = DockerEngineApi(folder, folder / "docker.sock").start()
    yield api
    api.stop()
    for path in folder.iterdir():
        path.unlink()
    os.rmdir(folder)


def run_container(api: DockerEngineApi, owner: str = OWNER, name: str = NAME, container: str = STALE) -> Path:
    path = api.store / f"{container}.json"
    path.write_text(json.dumps({"type": DOCKER_CONTAINER, "id": container, "outputs": {
        "name": name, "labels": [{"label": OWNER_LABEL, "value": owner}]}}))
    return path


def hook_answer(api: DockerEngineApi, errors: list[str], operation: str = "create", host: str = "") -> bool:
    hook = stale_container_hook("kestra-kestra", NAME, OWNER, host or f"unix://{api.socket_path}", 60)
    return hook.callback(pulumi.ErrorHookArgs("urn", "", "kestra-kestra", "docker:index/container:Container",
                                              failed_operation=operation, errors=errors))


def test_this_stacks_container_holding_the_name_is_stopped_removed_and_the_create_retried(engine):
    left = run_container(engine)
    assert hook_answer(engine, [conflict()]) is True
    assert not left.exists()
    assert engine.calls == [f"GET /containers/{STALE}/json", f"POST /containers/{STALE}/stop?t=60",
                            f"DELETE /containers/{STALE}?v=false&force=true"]


def test_a_container_of_another_owner_or_none_is_left_and_dockers_refusal_stands(engine):
    left = run_container(engine, owner="kestra-gcp/prod")
    assert hook_answer(engine, [conflict()]) is False
    assert left.exists() and engine.calls == [f"GET /containers/{STALE}/json"]


@pytest.mark.parametrize("errors, operation", [
    (["Unable to create container: Error response from daemon: No such image: kestra/kestra:v1.1.7"], "create"),
    ([conflict(name="someone-else")], "create"),  # another container's name
    ([conflict()], "update"),
    ([conflict(), conflict()], "create"),  # removed once, and Docker still names it
])
def test_any_other_failure_is_not_retried_and_touches_nothing(engine, errors, operation):
    left = run_container(engine)
    assert hook_answer(engine, errors, operation) is False
    assert left.exists() and engine.calls == []


def test_a_container_gone_meanwhile_means_the_name_is_free(engine):
    assert hook_answer(engine, [conflict()]) is True
    assert engine.calls == [f"GET /containers/{STALE}/json"]


@pytest.mark.parametrize("host", ["ssh://user@builder", "npipe:////./pipe/docker_engine"])
def test_an_engine_the_program_cannot_reach_leaves_dockers_refusal(engine, host):
    left = run_container(engine)
    assert DockerEngine.at(host) is None
    assert hook_answer(engine, [conflict()], host=host) is False
    assert left.exists()
