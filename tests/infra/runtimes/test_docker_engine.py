"""The containers' before-create hook (infra/runtimes/docker_engine.py) against the Docker Engine API
stand-in: right before a container is created, a container holding its name is removed only when
it runs the image this create is for (what an interrupted create of the stack left); otherwise
nothing is touched and Docker answers the create itself."""

import json
import os
import tempfile
from pathlib import Path

import pulumi
import pytest

from infra.runtimes.docker_engine import DockerEngine, stale_container_hook
from tests.support.echo_cloud import DOCKER_CONTAINER, DockerEngineApi

NAME = "kestra-gcp-dev-kestra"
IMAGE = "sha256:" + "1a" * 32  # the Kestra image's id (RemoteImage.image_id)
STALE = "5f" * 32


@pytest.fixture
def engine():
    folder = Path(tempfile.mkdtemp(prefix="docker-api-", dir="/tmp"))  # a unix socket path is short
    api = DockerEngineApi(folder, folder / "docker.sock").start()
    yield api
    api.stop()
    for path in folder.iterdir():
        path.unlink()
    os.rmdir(folder)


def run_container(api: DockerEngineApi, image: str = IMAGE, name: str = NAME) -> Path:
    path = api.store / f"{STALE}.json"
    path.write_text(json.dumps({"type": DOCKER_CONTAINER, "id": STALE, "outputs": {"name": name, "image": image}}))
    return path


def before_create(api: DockerEngineApi, host: str = "") -> None:
    hook = stale_container_hook("kestra-kestra", NAME, host or f"unix://{api.socket_path}", 60)
    hook.callback(pulumi.ResourceHookArgs("urn", "", "kestra-kestra", "docker:index/container:Container",
                                          new_inputs={"name": NAME, "image": IMAGE}))


def test_a_container_of_the_same_name_and_image_is_stopped_and_removed_keeping_its_volumes(engine):
    left = run_container(engine)
    before_create(engine)
    assert not left.exists()
    assert engine.calls == [f"GET /containers/{NAME}/json", f"POST /containers/{STALE}/stop?t=60",
                            f"DELETE /containers/{STALE}?v=false&force=true"]


@pytest.mark.parametrize("image", ["sha256:" + "2b" * 32, None])
def test_a_container_of_another_image_is_left_for_docker_to_refuse_the_name(engine, image):
    left = run_container(engine, image=image)
    before_create(engine)
    assert left.exists() and engine.calls == [f"GET /containers/{NAME}/json"]


def test_a_free_name_needs_nothing(engine):
    run_container(engine, name="another-container")
    before_create(engine)
    assert engine.calls == [f"GET /containers/{NAME}/json"]


@pytest.mark.parametrize("host", ["ssh://user@builder", "npipe:////./pipe/docker_engine", None])
def test_an_engine_the_program_cannot_reach_is_not_asked(engine, host):
    left = run_container(engine)
    assert DockerEngine.at(host) is None
    before_create(engine, host=host or "none")
    assert left.exists() and engine.calls == []


def test_an_unreachable_engine_warns_and_lets_the_create_go_on(engine, tmp_path):
    left = run_container(engine)
    before_create(engine, host=f"unix://{tmp_path}/missing.sock")  # no exception: Docker answers the create
    assert left.exists()
