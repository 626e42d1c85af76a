"""The echo docker plugin's Docker engine (tools/pulumi/cmd/pulumi-resource-echo/refusals_docker.go),
spoken to as the Pulumi engine speaks to a provider: each behaviour of Docker it models, firing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import status_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from tests.engine.conftest import ECHO_STORE_ENV

VOLUME = "docker:index/volume:Volume"
CONTAINER = "docker:index/container:Container"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:dev::kestra-gcp::{type_}::{name}"


@pytest.fixture
def docker(echo_plugins, tmp_path):
    """The echo docker plugin with its store in tmp_path; yields (stub, store)."""
    store = tmp_path / "store"
    process = subprocess.Popen([str(echo_plugins.binary("docker"))], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, ECHO_STORE_ENV: str(store)})
    try:
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel), store
    finally:
        process.terminate()
        process.wait(timeout=30)


def create(stub, type_: str, name: str, properties: dict) -> provider_pb2.CreateResponse:
    props = struct_pb2.Struct()
    props.update(properties)
    return stub.Create(provider_pb2.CreateRequest(urn=urn(type_, name), properties=props), timeout=30)


def volume_record(store: Path, name: str) -> dict:
    return json.loads((store / "docker-engine" / "volumes" / f"{name}.json").read_text())


def test_creating_a_volume_whose_name_exists_returns_the_existing_volume(docker):
    # moby volume/service/store.go create: an existing volume of the same driver is returned as it is.
    stub, store = docker
    create(stub, VOLUME, "data", {"name": "kestra-data"})
    first = volume_record(store, "kestra-data")
    adopted = create(stub, VOLUME, "data-again", {"name": "kestra-data", "driver": "local"})
    assert adopted.id == "kestra-data"
    assert volume_record(store, "kestra-data") == first  # same CreatedAt: the same volume, its data in it


def test_a_volume_name_taken_under_another_driver_is_refused(docker):
    # moby volume/service/store.go checkConflict: errNameConflict "volume name must be unique".
    stub, _ = docker
    create(stub, VOLUME, "data", {"name": "kestra-data"})
    with pytest.raises(grpc.RpcError) as refused:
        create(stub, VOLUME, "nfs", {"name": "kestra-data", "driver": "nfs"})
    assert refused.value.details() == (
        "Unable to create volume: Error response from daemon: create kestra-data: driver 'local' already has "
        "volume 'kestra-data': volume name must be unique")


def test_a_container_name_in_use_is_refused_with_dockers_conflict(docker):
    # moby daemon/names.go reserveName → daemon/errors.go nameConflictError.
    stub, _ = docker
    running = create(stub, CONTAINER, "kestra", {"name": "kestra-gcp-dev-kestra", "image": "sha256:1"})
    with pytest.raises(grpc.RpcError) as refused:
        create(stub, CONTAINER, "kestra-again", {"name": "kestra-gcp-dev-kestra", "image": "sha256:1"})
    assert refused.value.details() == (
        'Unable to create container: Error response from daemon: Conflict. The container name '
        f'"/kestra-gcp-dev-kestra" is already in use by container "{running.id}". You have to remove (or rename) '
        'that container to be able to reuse that name.')


def test_a_volume_a_container_mounts_cannot_be_removed(docker):
    # moby volume/service/store.go Remove → errVolumeInUse; the provider retries it for 30 s.
    stub, store = docker
    create(stub, VOLUME, "data", {"name": "kestra-data"})
    running = create(stub, CONTAINER, "kestra", {"name": "k", "image": "sha256:1",
                                                 "mounts": [{"type": "volume", "source": "kestra-data",
                                                             "target": "/app/storage"}]})
    olds = struct_pb2.Struct()
    olds.update({"name": "kestra-data"})
    with pytest.raises(grpc.RpcError) as refused:
        stub.Delete(provider_pb2.DeleteRequest(urn=urn(VOLUME, "data"), id="kestra-data", properties=olds), timeout=30)
    assert refused.value.details().endswith(f"remove kestra-data: volume is in use - [{running.id}]")
    assert volume_record(store, "kestra-data")["Name"] == "kestra-data"


def test_a_container_waited_for_that_never_gets_healthy_is_created_with_its_id_and_an_init_error(docker):
    # resource_docker_container_funcs.go: d.SetId before the wait; errContainerFailedToBeInHealthyState.
    stub, store = docker
    (store / "docker-engine" / "unhealthy").mkdir(parents=True)
    (store / "docker-engine" / "unhealthy" / "k").touch()
    with pytest.raises(grpc.RpcError) as failed:
        create(stub, CONTAINER, "kestra", {"name": "k", "image": "sha256:1", "wait": True, "waitTimeout": 1})
    assert failed.value.details() == "container failed to be in healthy state"
    assert len(init_failure(failed.value).id) == 64


NETWORK = "docker:index/network:Network"


def init_failure(error: grpc.RpcError) -> provider_pb2.ErrorResourceInitFailed:
    """The partial failure a create reports when the container exists but is not up."""
    [detail] = [d for d in error.trailing_metadata() if d.key == "grpc-status-details-bin"]
    [any_detail] = status_pb2.Status.FromString(detail.value).details
    init = provider_pb2.ErrorResourceInitFailed()
    assert any_detail.Unpack(init)
    return init


def test_a_network_name_in_use_is_refused(docker):
    # libnetwork NetworkNameError; Docker 25+ always checks (API 1.44 deprecates CheckDuplicate).
    stub, _ = docker
    create(stub, NETWORK, "net", {"name": "kestra-gcp-dev-net", "driver": "bridge"})
    with pytest.raises(grpc.RpcError) as refused:
        create(stub, NETWORK, "net-again", {"name": "kestra-gcp-dev-net", "driver": "bridge"})
    assert refused.value.details() == (
        "Unable to create network: Error response from daemon: network with name kestra-gcp-dev-net already exists")


def test_a_network_a_container_is_connected_to_cannot_be_removed(docker):
    # libnetwork ActiveEndpointsError, retried by the provider for 30 s as "pending".
    stub, _ = docker
    network = create(stub, NETWORK, "net", {"name": "n", "driver": "bridge"})
    create(stub, CONTAINER, "kestra", {"name": "k", "image": "sha256:1", "networksAdvanced": [{"name": "n"}]})
    olds = struct_pb2.Struct()
    olds.update({"name": "n"})
    with pytest.raises(grpc.RpcError) as refused:
        stub.Delete(provider_pb2.DeleteRequest(urn=urn(NETWORK, "net"), id=network.id, properties=olds), timeout=30)
    assert refused.value.details() == "timeout while waiting for state to become 'removed' (last state: 'pending', timeout: 30s)"


def test_a_container_on_a_network_that_does_not_exist_is_created_but_not_connected(docker):
    # The provider connects networks after ContainerCreate (the id is set): a partial failure.
    stub, _ = docker
    with pytest.raises(grpc.RpcError) as failed:
        create(stub, CONTAINER, "kestra", {"name": "k", "image": "sha256:1", "networksAdvanced": [{"name": "n"}]})
    assert failed.value.details() == "Unable to connect to network 'n': Error response from daemon: network n not found"
    assert len(init_failure(failed.value).id) == 64


def test_a_volume_mount_of_a_missing_volume_creates_it(docker):
    # Docker creates a volume a container mounts if it does not exist yet; a later create adopts it.
    stub, store = docker
    create(stub, CONTAINER, "kestra", {"name": "k", "image": "sha256:1",
                                       "mounts": [{"type": "volume", "source": "made-by-docker", "target": "/d"}]})
    made = volume_record(store, "made-by-docker")
    assert made["Driver"] == "local"
    create(stub, VOLUME, "data", {"name": "made-by-docker"})
    assert volume_record(store, "made-by-docker") == made


def test_the_health_wait_ends_with_the_creates_own_timeout(docker):
    # The plugin SDK runs the create under its timeout (20 minutes for docker_container, or the
    # resource's customTimeouts.create): a longer wait_timeout is cut there.
    stub, store = docker
    (store / "docker-engine" / "unhealthy").mkdir(parents=True)
    (store / "docker-engine" / "unhealthy" / "k").touch()
    props = struct_pb2.Struct()
    props.update({"name": "k", "image": "sha256:1", "wait": True, "waitTimeout": 3600})
    with pytest.raises(grpc.RpcError) as failed:
        stub.Create(provider_pb2.CreateRequest(urn=urn(CONTAINER, "kestra"), properties=props, timeout=1), timeout=60)
    assert failed.value.details() == "container failed to be in healthy state"


def test_a_bind_mount_of_a_path_the_docker_host_lacks_is_refused(docker, tmp_path):
    # moby volume/mounts/linux_parser.go validateMountConfig: errBindSourceDoesNotExist.
    stub, _ = docker
    missing = tmp_path / "run" / "docker.sock"
    mount = {"type": "bind", "source": str(missing), "target": "/var/run/docker.sock"}
    with pytest.raises(grpc.RpcError) as refused:
        create(stub, CONTAINER, "kestra", {"name": "k", "image": "sha256:1", "mounts": [mount]})
    assert refused.value.details() == (
        'Unable to create container: Error response from daemon: invalid mount config for type "bind": '
        f'bind source path does not exist: {missing}')
    missing.parent.mkdir()
    missing.touch()
    create(stub, CONTAINER, "kestra", {"name": "k", "image": "sha256:1", "mounts": [mount]})
