"""How the providers travel to the dynamic-provider host, and how the resources register.

`pulumi.dynamic.Resource` pickles its provider with dill (`serialize_provider`); the host
(``python -m pulumi.dynamic``, run in the project directory) unpickles it. These tests pin what
that means for a provider defined in `kestra.resources`: it is pickled by reference, holds no
session or socket, and the host can import it without running anything else.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import dill
import pulumi
import pytest
from google.protobuf import json_format
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from kestra.resources import (
    Dashboard,
    DashboardProvider,
    Flow,
    FlowProvider,
    KestraConnection,
    KvEntry,
    KvEntryProvider,
    NamespaceFile,
    NamespaceFileProvider,
    NamespaceFlows,
    NamespaceFlowsProvider,
)
from tests.kestra.conftest import flow_source

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = [FlowProvider, NamespaceFileProvider, KvEntryProvider, DashboardProvider, NamespaceFlowsProvider]
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # pulumi.runtime.rpc._special_secret_sig


@pytest.mark.parametrize("cls", PROVIDERS)
def test_provider_is_pickled_by_reference(cls):
    raw = base64.b64decode(serialize_provider(cls()))
    assert b"kestra.resources" in raw and cls.__name__.encode() in raw
    assert len(raw) < 200  # a reference and an empty instance dict, no code
    assert type(dill.loads(raw)) is cls


def test_provider_holds_no_session_after_use(standin, conn):
    provider = FlowProvider()
    before = serialize_provider(provider)
    props = {**conn, "__provider": before, "namespace": "dev.testing", "flow_id": "hello", "source": flow_source()}
    provider.create(provider.check({}, props).inputs)
    assert vars(provider) == {}
    assert serialize_provider(provider) == before  # nothing picked up: no session, socket or client


def test_namespace_flows_provider_holds_no_session_nor_pool_after_use(standin, conn):
    # Its requests run on a pool of the provider host: neither the pool nor a client may end up
    # in the provider, which the engine pickles into the state at every update.
    provider = NamespaceFlowsProvider()
    before = serialize_provider(provider)
    props = {**conn, "__provider": before, "namespace": "dev.testing", "directory": "flows/dev.testing",
             **{f"dev.testing/{fid}": flow_source(fid) for fid in ("a", "b", "c", "d", "e")}}
    created = provider.create(provider.check({}, props).inputs)
    provider.read("dev.testing", {**created.outs, "__provider": before})
    assert vars(provider) == {}
    assert serialize_provider(provider) == before


def test_host_can_unpickle_from_the_project_directory():
    """A fresh interpreter in the project directory, like the provider host, loads the providers.

    It must not import `infra` (kestra never does) nor register resources while loading.
    """
    payload = [serialize_provider(cls()) for cls in PROVIDERS]
    code = (
        "import base64, json, sys, dill\n"
        "loaded = [dill.loads(base64.b64decode(s)) for s in json.loads(sys.stdin.read())]\n"
        "print(json.dumps({'types': [type(p).__module__ + '.' + type(p).__name__ for p in loaded],\n"
        "  'infra': any(m == 'infra' or m.startswith('infra.') for m in sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(payload), cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"types": [f"kestra.resources.{cls.__name__}" for cls in PROVIDERS], "infra": False}


def test_package_exports_are_lazy():
    code = ("import sys, kestra.client, kestra; "
            "print('pulumi' in sys.modules, kestra.Flow.__module__, kestra.NamespaceFlows.__module__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "kestra.resources", "kestra.resources"]


# -- registration under Pulumi mocks ------------------------------------------------------------


class _Recorder(pulumi_mocks.MockMonitor):
    """Keeps the type, the secret input names and the additional secret outputs of each resource."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.seen: dict[str, dict] = {}

    def RegisterResource(self, request):
        if request.type != "pulumi:pulumi:Stack":
            wire = json_format.MessageToDict(request.object)
            self.seen[request.name] = {
                "type": request.type,
                "secret": {k for k, v in wire.items() if isinstance(v, dict) and SECRET_SIG in v.values()},
                "additional": list(request.additionalSecretOutputs),
                "keys": set(wire),
            }
        return super().RegisterResource(request)


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return f"{args.name}-id", args.inputs

    def call(self, args):
        raise AssertionError(f"unexpected invoke {args.token}")


def test_resources_register_with_readable_types_and_secret_password():
    recorder = _Recorder(_Mocks())
    pulumi.runtime.set_mocks(_Mocks(), project="kestra-gcp", stack="test", preview=False, monitor=recorder)
    conn = KestraConnection(url="http://127.0.0.1:8080", username="admin@kestra.io", password="Passw0rd!x")
    Flow("flow-hello", connection=conn, namespace="dev.testing", flow_id="hello", source=flow_source(),
         origin="flows/dev.testing/hello.yaml")
    NamespaceFile("file-a", connection=conn, namespace="dev.testing", path="a.py", content="x = 1\n")
    KvEntry("kv-bucket", connection=conn, namespace="dev.testing", key="GCS_BUCKET", value="b")
    KvEntry("kv-key", connection=conn, namespace="dev.testing", key="SA", value="{}", secret=True)
    KvEntry("kv-output", connection=conn, namespace="dev.testing", key="TOKEN", value=pulumi.Output.secret("t"))
    Dashboard("dash", connection=conn, source="id: d\ntitle: T\ncharts: []\n")
    NamespaceFlows("dev.testing/flows", connection=conn, namespace="dev.testing", directory="flows/dev.testing",
                   flows={"hello": flow_source(), "bye": flow_source("bye")})
    _sync_await(wait_for_rpcs())

    seen = recorder.seen
    assert {name: r["type"] for name, r in seen.items()} == {
        "flow-hello": "pulumi-python:dynamic/kestra:Flow",
        "file-a": "pulumi-python:dynamic/kestra:NamespaceFile",
        "kv-bucket": "pulumi-python:dynamic/kestra:KvEntry",
        "kv-key": "pulumi-python:dynamic/kestra:KvEntry",
        "kv-output": "pulumi-python:dynamic/kestra:KvEntry",
        "dash": "pulumi-python:dynamic/kestra:Dashboard",
        "dev.testing/flows": "pulumi-python:dynamic/kestra:NamespaceFlows",
    }
    for record in seen.values():
        assert "password" in record["secret"] and "password" in record["additional"]
        assert {"url", "username", "tenant", "__provider"} <= record["keys"]
        assert "__provider" not in record["secret"]  # by reference, holds no secret
    assert "value" not in seen["kv-bucket"]["secret"]
    assert "value" in seen["kv-key"]["secret"] and "value" in seen["kv-key"]["additional"]
    assert "value" in seen["kv-output"]["secret"]  # a secret Output stays wrapped
    # One property per flow, named as the engine's diff shows it; sources are not secret.
    flows = seen["dev.testing/flows"]
    assert {"dev.testing/hello", "dev.testing/bye", "namespace", "directory"} <= flows["keys"]
    assert not {"dev.testing/hello", "dev.testing/bye"} & flows["secret"]
