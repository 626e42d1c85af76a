"""Runs the real Pulumi program (`__main__.py`) offline under `pulumi.runtime.set_mocks`.

`run_stack(config)` sets the stack config, executes the program, waits for every registration
and returns a `StackRun`: each registered resource (type, name, inputs, parent, dependencies,
options, which input properties were sent as secrets) and the stack outputs with their secretness.
Invokes are answered by `RecordingMocks.call`; unknown invokes fail loudly so a new data source
cannot slip in untested.
"""

from __future__ import annotations

import base64
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = REPO_ROOT / "__main__.py"
PROJECT = "kestra-gcp"

# Pulumi's wire marker for a secret value (sdk/python/lib/pulumi/runtime/rpc.py).
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_SIG_KEY = "4dabf18193072939515e22adb298388d"

# What the mocked service account key answers as privateKey (base64 of a JSON key, like GCP's).
MOCK_PRIVATE_KEY = base64.b64encode(
    json.dumps({"type": "service_account", "private_key": "-----MOCK KEY-----"}).encode()
).decode()

GCS_SERVICE_AGENT = "service-123456789012@gs-project-accounts.iam.gserviceaccount.com"

# What the mocked gke-profile resources answer (computed outputs the program reads).
MOCK_CLUSTER_ENDPOINT = "198.51.100.20"
MOCK_CLUSTER_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK CLUSTER CA\n-----END CERTIFICATE-----\n").decode()
MOCK_SQL_PRIVATE_IP = "10.30.0.3"
MOCK_SQL_SERVER_CA = "-----BEGIN CERTIFICATE-----\nMOCK CLOUD SQL SERVER CA\n-----END CERTIFICATE-----\n"
MOCK_GLOBAL_ADDRESS = "203.0.113.7"
MOCK_PRIVATE_KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMOCK TLS KEY {name}\n-----END PRIVATE KEY-----\n"
MOCK_CERT_PEM = "-----BEGIN CERTIFICATE-----\nMOCK CERT {name}\n-----END CERTIFICATE-----\n"


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent_urn: str
    inputs: dict
    secret_paths: set = field(default_factory=set)
    dependencies: list = field(default_factory=list)
    property_dependencies: dict = field(default_factory=dict)
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    ignore_changes: list = field(default_factory=list)
    additional_secret_outputs: list = field(default_factory=list)
    custom_timeouts: dict = field(default_factory=dict)
    provider: str = ""  # the explicit provider reference (urn::id), "" for the default provider
    before_create_hooks: list = field(default_factory=list)  # names of the resource's before_create hooks

    def is_secret(self, prop: str) -> bool:
        return prop in self.secret_paths

    @property
    def parent_type(self) -> str:
        """The type of the parent resource (the component that owns this one)."""
        qualified = self.parent_urn.split("::")[2] if self.parent_urn else ""
        return qualified.split("$")[-1]


@dataclass
class StackRun:
    resources: list[Registered]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    invokes: list[tuple[str, dict]]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: Optional[str] = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise AssertionError(f"expected one {type_} named {name!r}, found {names}")
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise AssertionError(f"no resource with urn {urn}")

    def types(self) -> set[str]:
        return {r.type for r in self.resources}


def plain(value: Any) -> Any:
    """An input value with the wire's secret wrapper removed (inputs keep it: see secret_paths)."""
    if isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG:
        return value["value"]
    return value


def _secret_paths(value: Any, prefix: str = "") -> set[str]:
    """Top-level input names (or dotted paths) whose wire value is a secret."""
    found: set[str] = set()
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            found.add(prefix)
            return found
        for k, v in value.items():
            found |= _secret_paths(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found |= _secret_paths(v, f"{prefix}[{i}]")
    return found


# Zones of a few regions as Google publishes them (cloud.google.com/compute/docs/regions-zones);
# the provider's getZones answers a region that does not exist with none.
PUBLISHED_ZONES = {
    "europe-west1": ("b", "c", "d"),
    "europe-west2": ("a", "b", "c"),
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
}
# A new project's networks: `default` (cloud.google.com/vpc/docs/vpc#default-network), without a
# private services connection. Name -> the ranges its private services connection holds (None: no
# connection, so no Service Networking peering either).
NEW_PROJECT_NETWORKS: dict[str, Optional[list[str]]] = {"default": None}
# Whether the Compute Engine API is enabled before the stack enables it (False: a new project).
COMPUTE_API_ENABLED = True
# What GCP answers a Compute Engine call then (403, reason SERVICE_DISABLED / accessNotConfigured).
COMPUTE_API_DISABLED = ("googleapi: Error 403: Compute Engine API has not been used in project 123456789012 "
                        "before or it is disabled. Enable it by visiting https://console.developers.google.com/"
                        "apis/api/compute.googleapis.com/overview?project=123456789012 then retry., accessNotConfigured")


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers registrations with inputs as outputs, plus the computed outputs programs read."""

    def __init__(self, networks: Optional[dict[str, Optional[list[str]]]] = None) -> None:
        self.invokes: list[tuple[str, dict]] = []
        self.networks = dict(NEW_PROJECT_NETWORKS if networks is None else networks)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == "gcp:servicenetworking/connection:Connection" and args.resource_id:
            # A read (Connection.get) of a network's connection, id "<network>:<service>".
            network, service = args.resource_id.rsplit(":", 1)
            return args.resource_id, {"network": network, "service": service, "peering": "servicenetworking-googleapis-com",
                                      "reservedPeeringRanges": self.networks[network.rsplit("/", 1)[-1]]}
        outputs = dict(args.inputs)
        name = args.name
        if args.typ == "gcp:serviceaccount/account:Account":
            project = args.inputs.get("project", "mock-project")
            outputs["email"] = f"{args.inputs['accountId']}@{project}.iam.gserviceaccount.com"
            outputs["member"] = f"serviceAccount:{outputs['email']}"
            outputs["name"] = f"projects/{project}/serviceAccounts/{outputs['email']}"
        elif args.typ == "gcp:serviceaccount/key:Key":
            outputs["privateKey"] = MOCK_PRIVATE_KEY
        elif args.typ == "gcp:storage/bucket:Bucket":
            outputs["url"] = f"gs://{args.inputs['name']}"
            outputs["selfLink"] = f"https://www.googleapis.com/storage/v1/b/{args.inputs['name']}"
        elif args.typ == "gcp:pubsub/topic:Topic":
            project = args.inputs.get("project", "mock-project")
            return f"projects/{project}/topics/{args.inputs['name']}", outputs
        elif args.typ == "gcp:pubsub/subscription:Subscription":
            project = args.inputs.get("project", "mock-project")
            return f"projects/{project}/subscriptions/{args.inputs['name']}", outputs
        elif args.typ == "gcp:bigquery/dataset:Dataset":
            project = args.inputs.get("project", "mock-project")
            return f"projects/{project}/datasets/{args.inputs['datasetId']}", outputs
        elif args.typ.startswith("docker:index/container:Container"):
            outputs.setdefault("networkDatas", [])
        elif args.typ == "random:index/randomPassword:RandomPassword":
            # Satisfies Kestra's rule: upper, lower and digit, >= 8 characters.
            # Numbers cross the wire as floats.
            outputs["result"] = "Mock" + "x" * (int(args.inputs.get("length", 24)) - 6) + "42"
        elif args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{name}"
        elif args.typ == "gcp:container/cluster:Cluster":
            outputs["endpoint"] = MOCK_CLUSTER_ENDPOINT
            outputs["masterAuth"] = {"clusterCaCertificate": MOCK_CLUSTER_CA}
            project, location = args.inputs.get("project"), args.inputs.get("location")
            return f"projects/{project}/locations/{location}/clusters/{args.inputs.get('name')}", outputs
        elif args.typ == "gcp:sql/databaseInstance:DatabaseInstance":
            outputs.setdefault("name", f"{name}-1a2b3c4")
            outputs["privateIpAddress"] = MOCK_SQL_PRIVATE_IP
            outputs["connectionName"] = f"{args.inputs.get('project')}:{args.inputs.get('region')}:{outputs['name']}"
            outputs["serverCaCerts"] = [{"cert": MOCK_SQL_SERVER_CA}]
        elif args.typ == "gcp:compute/globalAddress:GlobalAddress" and args.inputs.get("addressType") == "EXTERNAL":
            outputs["address"] = MOCK_GLOBAL_ADDRESS
        elif args.typ == "tls:index/privateKey:PrivateKey":
            outputs["privateKeyPem"] = MOCK_PRIVATE_KEY_PEM.format(name=name)
        elif args.typ in ("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert"):
            outputs["certPem"] = MOCK_CERT_PEM.format(name=name)
        elif args.typ == "tls:index/certRequest:CertRequest":
            outputs["certRequestPem"] = f"-----BEGIN CERTIFICATE REQUEST-----\nMOCK {name}\n-----END CERTIFICATE REQUEST-----\n"
        elif args.typ == "kubernetes:helm.sh/v3:Release":
            outputs["status"] = {"status": "deployed", "name": args.inputs.get("name"), "namespace": args.inputs.get("namespace")}
        if args.typ.startswith("kubernetes:") and args.typ not in ("kubernetes:helm.sh/v3:Release",):
            # Like the provider's auto-naming: <logical name>-<random suffix> when metadata.name is unset.
            metadata = dict(outputs.get("metadata") or {})
            metadata.setdefault("name", f"{name}-5x9k2q")
            outputs["metadata"] = metadata
        elif args.typ.startswith("gcp:") and "name" not in outputs:
            outputs["name"] = f"{name}-1a2b3c4"  # the gcp provider's auto-naming
        return f"{name}_id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append((args.token, dict(args.args)))
        if args.token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            return {
                "emailAddress": GCS_SERVICE_AGENT,
                "member": f"serviceAccount:{GCS_SERVICE_AGENT}",
                "project": args.args.get("project", "mock-project"),
                "id": "mock",
            }
        if args.token == "gcp:organizations/getProject:getProject":
            return {"number": "123456789012", "projectId": args.args.get("projectId", "mock")}
        # The provider's data sources (terraform-provider-google, data_source_google_compute_*.go).
        if args.token.startswith("gcp:compute/") and not COMPUTE_API_ENABLED:
            return {}, [("", COMPUTE_API_DISABLED)]
        if args.token == "gcp:compute/getZones:getZones":
            region = args.args["region"]
            return {"names": [f"{region}-{z}" for z in PUBLISHED_ZONES.get(region, ())], "region": region,
                    "project": args.args["project"], "id": f"projects/{args.args['project']}/regions/{region}"}
        if args.token == "gcp:compute/getNetwork:getNetwork":
            network_id = f"projects/{args.args['project']}/global/networks/{args.args['name']}"
            if args.args["name"] not in self.networks:
                return {}, [("", f"{network_id} not found")]
            return {"id": network_id, "name": args.args["name"], "project": args.args["project"]}
        if args.token == "gcp:compute/getNetworkPeering:getNetworkPeering":
            name = args.args["network"].rsplit("/", 1)[-1]
            if self.networks.get(name) is None or args.args["name"] != "servicenetworking-googleapis-com":
                return {"name": args.args["name"], "network": args.args["network"]}  # no peering: no id
            return {"name": args.args["name"], "network": args.args["network"], "state": "ACTIVE",
                    "peerNetwork": "projects/s1a2b3c4d5-tp/global/networks/servicenetworking"}
        raise AssertionError(f"unexpected invoke {args.token} — answer it in RecordingMocks.call")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that also keeps what the default one throws away: parents, options, secrets."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        response = self._register(request)
        from google.protobuf import json_format

        wire = json_format.MessageToDict(request.object)
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        self.registered.append(
            Registered(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent_urn=request.parent,
                inputs=inputs,
                secret_paths=_secret_paths(wire),
                dependencies=list(request.dependencies),
                property_dependencies={
                    k: list(v.urns) for k, v in request.propertyDependencies.items()
                },
                retain_on_delete=bool(request.retainOnDelete),
                delete_before_replace=bool(request.deleteBeforeReplace),
                ignore_changes=list(request.ignoreChanges),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                custom_timeouts={
                    "create": request.customTimeouts.create,
                    "update": request.customTimeouts.update,
                    "delete": request.customTimeouts.delete,
                },
                provider=request.provider,
                before_create_hooks=list(request.hooks.before_create),
            )
        )
        return response

    def _register(self, request):
        """MockMonitor.RegisterResource, plus what the engine does with additionalSecretOutputs:
        the listed outputs come back as secrets (e.g. a service account key's privateKey)."""
        from pulumi.runtime.proto import resource_pb2

        pulumi_mocks._ensure_event_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        args = pulumi.runtime.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
        )
        id_, state = self.mocks.new_resource(args)
        wire_state = dict(state)
        for key in request.additionalSecretOutputs:
            if key in wire_state:
                wire_state[key] = {_SIG_KEY: _SECRET_SIG, "value": wire_state[key]}
        obj_proto = _sync_await(pulumi.runtime.rpc.serialize_properties(wire_state, {}))
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=obj_proto)


def _config_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def run_stack(
    config: dict[str, Any],
    secret_keys: tuple[str, ...] = (),
    stack: str = "dev",
    preview: bool = False,
    program: Optional[Callable[[], None]] = None,
    networks: Optional[dict[str, Optional[list[str]]]] = None,
) -> StackRun:
    """Runs `__main__.py` (or `program`) with `config` (keys like `gcp:project`, `kestra-gcp:iamMode`).

    Values that are not strings are JSON-encoded, as the Pulumi CLI passes them. Exceptions raised
    by the program (e.g. config validation) propagate to the caller. `networks`: the project's
    networks (name -> the ranges of its private services connection, or None), `NEW_PROJECT_NETWORKS`
    by default.
    """
    mocks = RecordingMocks(networks)
    monitor = RecordingMonitor(mocks)
    pulumi_settings.ROOT.set(None)  # a fresh Stack per run, so outputs don't leak between tests
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(
        {k: _config_value(v) for k, v in config.items()}, secret_keys=list(secret_keys)
    )
    root = pulumi_settings.get_root_resource()
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()

    error: Optional[BaseException] = None
    try:
        if program is None:
            runpy.run_path(str(PROGRAM), run_name="__main__")
        else:
            program()
    except BaseException as exc:  # noqa: BLE001 re-raised after the runtime drained
        error = exc
    try:
        _sync_await(wait_for_rpcs())
    except BaseException as exc:  # noqa: BLE001
        error = error or exc
    if error is not None:
        # Lets tests prove that a failing program declared nothing before failing.
        error.registered = list(monitor.registered)  # type: ignore[attr-defined]
        raise error

    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for key, value in getattr(root, "outputs", {}).items():
        out = pulumi.Output.from_input(value)
        outputs[key] = _sync_await(out.future())
        if _sync_await(out.is_secret()):
            secret_outputs.add(key)
    return StackRun(monitor.registered, outputs, secret_outputs, mocks.invokes)
