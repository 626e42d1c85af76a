"""The policies of kestra-gcp's policy pack (README "Policy pack" says why each exists).

Every message names the resource, the property and the fix. The pack knows nothing of the
program's modules: it judges what the engine hands it (resource types and inputs, as the real
providers' schemas name them) and the stack configuration the engine gives it (its
ConfigureStack call, and PULUMI_CONFIG from the language host's RunPlugin).

Deliberate exceptions: the stack config `kestra-gcp:policyExceptions`, a map of policy name to
the reason, switches that policy off for the stack, and the advisory policy
`policy-exceptions-in-use` lists every exception on every preview:

    pulumi config set --path 'policyExceptions["docker-ports-on-loopback"]' 'LAN demo, firewall in front'
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import pulumi_policy.policy as _policy_module
from google.protobuf import json_format
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from gcp_escalating_roles import ROLES as ESCALATING_ROLES, WHY as ESCALATION_WHY

PROJECT = "kestra-gcp"

# The walkthrough's project-wide admin roles, which `iamMode: guide` grants on purpose
# (README "Configuration"; the walkthrough's IAM step).
GUIDE_ADMIN_ROLES = frozenset({"roles/bigquery.admin", "roles/storage.admin"})
# The labels every GCP resource of the stack carries (README "Configuration": `labels`).
STANDARD_LABELS = ("managed-by", "app")
DEFAULT_HOST_ADDRESS = "127.0.0.1"

# ---------------------------------------------------------------------------------------------
# Stack settings, as the engine hands them to the pack.


# The engine's ConfigureStack request (proto/pulumi/analyzer.proto, AnalyzerStackConfigureRequest):
# the decrypted config and which keys are secret. The engine sends it to every analyzer of a stack
# (pkg/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer); the language host's policy proxy
# hands it on to the pack (sdk/policy_proxy.go, Attach) before any Analyze. Upstream's Python host
# puts only the config into the pack's environment (sdk/python/cmd/pulumi-language-python/main.go,
# RunPlugin: PULUMI_CONFIG, not PULUMI_CONFIG_SECRET_KEYS), so the secret keys come from here.
_configured: dict[str, Any] = {}


@dataclass(frozen=True)
class StackSettings:
    config: dict[str, str]
    secret_keys: frozenset[str]
    # Whether the engine said which keys are secret (an empty list is an answer too).
    secret_keys_known: bool = True

    @classmethod
    def from_environment(cls) -> "StackSettings":
        config = json.loads(os.environ.get("PULUMI_CONFIG") or "{}") or _configured.get("config", {})
        keys = set(json.loads(os.environ.get("PULUMI_CONFIG_SECRET_KEYS") or "[]"))
        keys |= set(_configured.get("secret_keys", ()))
        known = "secret_keys" in _configured or "PULUMI_CONFIG_SECRET_KEYS" in os.environ
        return cls({str(k): str(v) for k, v in config.items()}, frozenset(keys), known)

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        full = key if ":" in key else f"{PROJECT}:{key}"
        value = self.config.get(full)
        return default if value in (None, "") else value

    @property
    def iam_mode(self) -> str:
        return self.get("iamMode", "least-privilege")

    @property
    def project(self) -> Optional[str]:
        return self.get("gcp:project")

    @property
    def host_address(self) -> str:
        return self.get("hostAddress", DEFAULT_HOST_ADDRESS)

    @property
    def exceptions(self) -> dict[str, str]:
        raw = self.get("policyExceptions")
        if raw is None:
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return {"(unreadable policyExceptions)": raw}
        return {str(k): str(v) for k, v in parsed.items()}

    def secret_values(self) -> set[str]:
        """The plaintext of every secret config value (the engine decrypts them for the pack)."""
        return {v for k, v in self.config.items() if k in self.secret_keys and len(v) >= MIN_SECRET_LENGTH}


MIN_SECRET_LENGTH = 6  # shorter strings would match by accident in any YAML


@functools.cache  # the stack's config does not change during a command; ConfigureStack clears it
def settings() -> StackSettings:
    return StackSettings.from_environment()


# ---------------------------------------------------------------------------------------------
# Secret-ness. The engine sends the pack every input with its secret mark, but pulumi-policy's
# Python SDK unwraps secrets before a policy sees them (1.21.0: `Analyze` calls
# `deserialize_properties` without `proxy_secrets`). These wrappers read the marks from the raw
# request first, so a policy can ask which property paths were secrets.

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_seen = threading.local()


def secret_leaves(value: Any, path: str = "", inside: bool = False) -> dict[str, Any]:
    """{path: plaintext} of every value under a secret mark ("envs", "envs[2]", "a.b")."""
    found: dict[str, Any] = {}
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return secret_leaves(value.get("value"), path, True) or {path: value.get("value")}
        for k, v in value.items():
            found |= secret_leaves(v, f"{path}.{k}" if path else k, inside)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found |= secret_leaves(v, f"{path}[{i}]", inside)
    elif inside:
        found[path] = value
    return found


def _record(resources: Iterable[tuple[str, Any]]) -> None:
    _seen.by_urn = {urn: secret_leaves(json_format.MessageToDict(props)) for urn, props in resources}


def _install_secret_tracking() -> None:
    servicer = getattr(_policy_module, "_PolicyAnalyzerServicer", None)
    if servicer is None or not all(hasattr(servicer, m) for m in ("Analyze", "AnalyzeStack", "ConfigureStack")):
        raise RuntimeError("pulumi-policy changed: _PolicyAnalyzerServicer.Analyze/AnalyzeStack/ConfigureStack not found "
                           "(policy/kestra_gcp_policies.py tracks secrets through them; pin pulumi-policy)")
    if getattr(servicer, "_kestra_gcp_tracks_secrets", False):
        return
    analyze, analyze_stack = servicer.Analyze, servicer.AnalyzeStack
    configure_stack = servicer.ConfigureStack

    def ConfigureStack(self, request, context):  # noqa: N802
        _configured.update(config=dict(request.config), secret_keys=tuple(request.config_secret_keys))
        settings.cache_clear()
        return configure_stack(self, request, context)

    def Analyze(self, request, context):  # noqa: N802 (gRPC method name)
        _record([(request.urn, request.properties)])
        try:
            return analyze(self, request, context)
        finally:
            _seen.by_urn = {}

    def AnalyzeStack(self, request, context):  # noqa: N802
        _record((r.urn, r.properties) for r in request.resources)
        try:
            return analyze_stack(self, request, context)
        finally:
            _seen.by_urn = {}

    servicer.Analyze, servicer.AnalyzeStack, servicer.ConfigureStack = Analyze, AnalyzeStack, ConfigureStack
    servicer._kestra_gcp_tracks_secrets = True


_install_secret_tracking()


def secret_paths(urn: str) -> dict[str, Any]:
    return getattr(_seen, "by_urn", {}).get(urn, {})


def is_secret(urn: str, path: str) -> bool:
    """Whether the value at `path` (or a value containing it) was sent as a secret."""
    paths = secret_paths(urn)
    return any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in paths)


# ---------------------------------------------------------------------------------------------
# Helpers


class _Unknown:
    """A value the engine does not know yet (a preview before its producer exists)."""


UNKNOWN = _Unknown()


def prop(props: Any, key: str, default: Any = None) -> Any:
    """props[key], UNKNOWN while it is unknown, `default` when absent. The values of a value
    known here are checked again by `pulumi up`, when every input is known."""
    try:
        return props[key] if key in props else default
    except UnknownValueError:
        return UNKNOWN


def plain(value: Any) -> Any:
    """A fully materialised copy (lists and dicts) of a proxied value; UNKNOWN if any part is."""
    try:
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if hasattr(value, "keys"):
            return {k: plain(value[k]) for k in value.keys()}
        if hasattr(value, "__len__") and hasattr(value, "__getitem__"):
            return [plain(value[i]) for i in range(len(value))]
        return value
    except UnknownValueError:
        return UNKNOWN


def contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def where(args: Any) -> str:
    return f"resource '{args.name}' ({args.resource_type})"


def excepted(policy_name: str) -> bool:
    return policy_name in settings().exceptions


def _resource_policy(
    name: str, description: str, level: EnforcementLevel,
    check: Callable[[ResourceValidationArgs, StackSettings], Iterable[str]],
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if excepted(name):
            return
        for message in check(args, settings()):
            report(message)

    return ResourceValidationPolicy(name=name, description=description, enforcement_level=level, validate=validate)


def _exception_hint(policy_name: str) -> str:
    return (f"A deliberate exception: pulumi config set --path "
            f"'policyExceptions[\"{policy_name}\"]' '<why>'.")


# ---------------------------------------------------------------------------------------------
# Mandatory: IAM


BASIC_ROLES = ("roles/owner", "roles/editor")
_ADMIN_ROLE = re.compile(r"^roles/[A-Za-z0-9]+(\.[A-Za-z0-9]+)*\.admin$")
PROJECT_IAM_TYPES = {
    "gcp:projects/iAMMember:IAMMember": "role",
    "gcp:projects/iAMBinding:IAMBinding": "role",
}
PROJECT_IAM_POLICY = "gcp:projects/iAMPolicy:IAMPolicy"


def role_problem(role: str) -> Optional[str]:
    """Why a project-level grant of `role` is refused, or None: a basic role, a service's full
    admin role (roles/*.admin), or a role holding a permission that lets its holder make itself
    an owner (gcp_escalating_roles)."""
    if role in BASIC_ROLES:
        return "a basic role"
    held = ESCALATING_ROLES.get(role, ())
    if held:
        return (f"a role that can make its holder an owner: it holds {held[0]}, so its holder can "
                f"{ESCALATION_WHY[held[0]]}")
    if _ADMIN_ROLE.match(role):
        return "a service's admin role"
    return None


def is_broad_role(role: str) -> bool:
    return role_problem(role) is not None


def _project_roles(args: ResourceValidationArgs) -> list[tuple[str, str]]:
    """(property, role) of a project-level grant; IAMPolicy carries them in policyData."""
    if args.resource_type in PROJECT_IAM_TYPES:
        role = prop(args.props, "role")
        return [("role", role)] if isinstance(role, str) else []
    if args.resource_type == PROJECT_IAM_POLICY:
        data = prop(args.props, "policyData")
        try:
            bindings = json.loads(data).get("bindings", []) if isinstance(data, str) else []
        except ValueError:
            bindings = []
        return [(f"policyData.bindings[{i}].role", b.get("role", "")) for i, b in enumerate(bindings)]
    return []


def check_project_roles(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    for path, role in _project_roles(args):
        problem = role_problem(role)
        if problem is None:
            continue
        if stack.iam_mode == "guide" and role in GUIDE_ADMIN_ROLES:
            continue  # the walkthrough's grant, chosen with `iamMode: guide`
        allowed = (f" (iamMode guide allows only {', '.join(sorted(GUIDE_ADMIN_ROLES))})"
                   if stack.iam_mode == "guide" else "")
        yield (f"{where(args)}: {path} is {role}, {problem}, granted on the whole project{allowed}. "
               f"Fix: grant a predefined role on the resource that needs it (e.g. "
               f"roles/bigquery.dataEditor on a dataset, roles/storage.objectAdmin on the bucket), "
               f"or use iamMode guide for the walkthrough's admin roles. {_exception_hint('no-project-basic-or-admin-roles')}")


# ---------------------------------------------------------------------------------------------
# Mandatory: buckets and public members


BUCKET = "gcp:storage/bucket:Bucket"
DATASET = "gcp:bigquery/dataset:Dataset"
DATASET_ACCESS = "gcp:bigquery/datasetAccess:DatasetAccess"


def check_bucket_access(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if args.resource_type != BUCKET:
        return
    ubla = prop(args.props, "uniformBucketLevelAccess")
    if ubla is not UNKNOWN and ubla is not True:
        yield (f"{where(args)}: uniformBucketLevelAccess is {ubla!r}, so object ACLs can grant access "
               f"the bucket's IAM does not show. Fix: uniform_bucket_level_access=True. "
               f"{_exception_hint('bucket-uniform-access-and-public-access-prevention')}")
    pap = prop(args.props, "publicAccessPrevention")
    if pap is not UNKNOWN and pap != "enforced":
        yield (f"{where(args)}: publicAccessPrevention is {pap!r}, so the bucket can be made public. "
               f"Fix: public_access_prevention=\"enforced\". "
               f"{_exception_hint('bucket-uniform-access-and-public-access-prevention')}")


PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# Resource type -> how its members are given: "member" (one), "members" (a list), "policyData"
# (an IAM policy document), "entity" (ACL entry), "roleEntities" ("ROLE:entity" list).
PUBLIC_MEMBER_TYPES = {
    "gcp:storage/bucketIAMMember:BucketIAMMember": "member",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding": "members",
    "gcp:storage/bucketIAMPolicy:BucketIAMPolicy": "policyData",
    "gcp:storage/bucketAccessControl:BucketAccessControl": "entity",
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl": "entity",
    "gcp:storage/objectAccessControl:ObjectAccessControl": "entity",
    "gcp:storage/bucketACL:BucketACL": "roleEntities",
    "gcp:storage/defaultObjectACL:DefaultObjectACL": "roleEntities",
    "gcp:storage/objectACL:ObjectACL": "roleEntities",
    "gcp:bigquery/datasetIamMember:DatasetIamMember": "member",
    "gcp:bigquery/datasetIamBinding:DatasetIamBinding": "members",
    "gcp:bigquery/datasetIamPolicy:DatasetIamPolicy": "policyData",
    "gcp:pubsub/topicIAMMember:TopicIAMMember": "member",
    "gcp:pubsub/topicIAMBinding:TopicIAMBinding": "members",
    "gcp:pubsub/topicIAMPolicy:TopicIAMPolicy": "policyData",
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": "member",
    "gcp:pubsub/subscriptionIAMBinding:SubscriptionIAMBinding": "members",
    "gcp:pubsub/subscriptionIAMPolicy:SubscriptionIAMPolicy": "policyData",
}


def _public_members(args: ResourceValidationArgs) -> list[tuple[str, str]]:
    """(property path, public member) pairs of a grant, ACL or dataset access list."""
    found: list[tuple[str, str]] = []
    kind = PUBLIC_MEMBER_TYPES.get(args.resource_type)
    if kind in ("member", "entity"):
        value = prop(args.props, kind)
        if value in PUBLIC_MEMBERS:
            found.append((kind, value))
    elif kind == "members":
        members = plain(prop(args.props, "members", []))
        for i, m in enumerate(members if isinstance(members, list) else []):
            if m in PUBLIC_MEMBERS:
                found.append((f"members[{i}]", m))
    elif kind == "roleEntities":
        entries = plain(prop(args.props, "roleEntities", []))
        for i, e in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(e, str) and e.split(":", 1)[-1] in PUBLIC_MEMBERS:
                found.append((f"roleEntities[{i}]", e))
    elif kind == "policyData":
        data = prop(args.props, "policyData")
        try:
            bindings = json.loads(data).get("bindings", []) if isinstance(data, str) else []
        except ValueError:
            bindings = []
        for i, b in enumerate(bindings):
            for j, m in enumerate(b.get("members", [])):
                if m in PUBLIC_MEMBERS:
                    found.append((f"policyData.bindings[{i}].members[{j}]", m))
    elif args.resource_type == DATASET:
        accesses = plain(prop(args.props, "accesses", []))
        for i, a in enumerate(accesses if isinstance(accesses, list) else []):
            if not isinstance(a, dict):
                continue
            for key in ("specialGroup", "iamMember"):
                if a.get(key) in PUBLIC_MEMBERS:
                    found.append((f"accesses[{i}].{key}", a[key]))
    elif args.resource_type == DATASET_ACCESS:
        for key in ("specialGroup", "iamMember"):
            if prop(args.props, key) in PUBLIC_MEMBERS:
                found.append((key, prop(args.props, key)))
    return found


def check_public_members(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    for path, member in _public_members(args):
        yield (f"{where(args)}: {path} grants access to {member}, that is to anyone"
               f"{' with a Google account' if member == 'allAuthenticatedUsers' else ' on the internet'}. "
               f"Fix: grant a named member (serviceAccount:…, user:…, group:…) instead. "
               f"{_exception_hint('no-public-members')}")


# ---------------------------------------------------------------------------------------------
# Mandatory: Docker


CONTAINER = "docker:index/container:Container"


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_container_ports(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if args.resource_type != CONTAINER:
        return
    ports = plain(prop(args.props, "ports", []))
    if not isinstance(ports, list):
        return
    for i, port in enumerate(ports):
        if not isinstance(port, dict) or contains_unknown(port):
            continue
        ip = port.get("ip") or "0.0.0.0"  # Docker publishes on every interface without one
        if _loopback(ip) or ip == stack.host_address:
            continue
        external = port.get("external")
        if isinstance(external, float) and external.is_integer():  # numbers cross the wire as floats
            external = int(external)
        yield (f"{where(args)}: ports[{i}].ip is {ip} (host port {external}), so the port is "
               f"reachable from other machines; Kestra's API must not be. Fix: publish on 127.0.0.1 "
               f"(ip=settings.host_address), or, if the network is meant to reach it, say so with "
               f"`pulumi config set hostAddress {ip}`. {_exception_hint('docker-ports-on-loopback')}")


# A name says credential when one of its parts (split at _ - . and camelCase) is a credential
# word: KEY, PASS, PWD… as a whole part (so MONKEY or PASSTHROUGH are not), the longer words also
# at a part's end (DBPASSWORD, GITHUBTOKEN). A last part that names where a credential is, not
# the credential (POSTGRES_PASSWORD_FILE, AWS_ACCESS_KEY_ID), does not count.
_CREDENTIAL_PARTS = frozenset({
    "KEY", "KEYS", "APIKEY", "PRIVATEKEY", "ACCESSKEY", "SECRETKEY", "PASS", "PWD", "PW", "CREDS",
})
_CREDENTIAL_ENDINGS = re.compile(r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL)S?$")
_REFERENCE_PARTS = frozenset({"FILE", "PATH", "DIR", "ID", "NAME"})


def name_parts(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [part for part in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if part]


def is_credential_name(name: str) -> bool:
    parts = name_parts(name)
    if not parts or parts[-1] in _REFERENCE_PARTS:
        return False
    return any(part in _CREDENTIAL_PARTS or _CREDENTIAL_ENDINGS.search(part) for part in parts)


def check_container_env_secrets(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if args.resource_type != CONTAINER:
        return
    envs = prop(args.props, "envs", [])
    try:
        count = len(envs) if envs is not UNKNOWN else 0
    except UnknownValueError:
        count = 0
    known_secrets = stack.secret_values()
    for i in range(count):
        try:
            entry = envs[i]
        except UnknownValueError:
            continue
        if not isinstance(entry, str) or "=" not in entry:
            continue
        name, value = entry.split("=", 1)
        if not value:
            continue
        holds_credential = is_credential_name(name) or any(s in value for s in known_secrets)
        if holds_credential and not is_secret(args.urn, f"envs[{i}]"):
            yield (f"{where(args)}: envs[{i}] ({name}) holds a credential but is not a Pulumi secret, so its "
                   f"value is stored in plaintext in the state and shown by preview. Fix: build the list "
                   f"with pulumi.Output.secret(...) from secret inputs (`pulumi config set --secret`). "
                   f"{_exception_hint('docker-env-credentials-are-secrets')}")


# ---------------------------------------------------------------------------------------------
# Mandatory: GKE (the gke profile; README "Kestra on GKE")


def path_value(props: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted path ("settings.ipConfiguration.ipv4Enabled"), UNKNOWN while it (or a
    map on the way) is unknown, `default` when absent. Unknown neighbours do not matter."""
    value = props
    for key in path.split("."):
        try:
            if value is None or not hasattr(value, "keys") or key not in value:
                return default
            value = value[key]
        except UnknownValueError:
            return UNKNOWN
    return value


CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
GKE_METADATA = "GKE_METADATA"


def check_workload_identity(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if args.resource_type == CLUSTER:
        pool = path_value(args.props, "workloadIdentityConfig.workloadPool")
        project = prop(args.props, "project") or stack.project
        expected = f"{project}.svc.id.goog" if isinstance(project, str) and project else "<project>.svc.id.goog"
        if pool is not UNKNOWN and not pool:
            yield (f"{where(args)}: workloadIdentityConfig.workloadPool is not set, so pods can act as Google "
                   f"only through the nodes' service account or a downloaded key. Fix: "
                   f"workload_identity_config={{\"workload_pool\": \"{expected}\"}}. "
                   f"{_exception_hint('gke-workload-identity')}")
        elif isinstance(pool, str) and isinstance(project, str) and project and pool != expected:
            yield (f"{where(args)}: workloadIdentityConfig.workloadPool is {pool}; GKE's only pool for a "
                   f"cluster of project {project} is {expected}. Fix: workload_identity_config="
                   f"{{\"workload_pool\": \"{expected}\"}}. {_exception_hint('gke-workload-identity')}")
    if args.resource_type in (CLUSTER, NODE_POOL):
        mode = path_value(args.props, "nodeConfig.workloadMetadataConfig.mode")
        if isinstance(mode, str) and mode != GKE_METADATA:
            yield (f"{where(args)}: nodeConfig.workloadMetadataConfig.mode is {mode}, so pods read the node's "
                   f"metadata server and act as the node's service account instead of their own Workload "
                   f"Identity. Fix: workload_metadata_config={{\"mode\": \"{GKE_METADATA}\"}}. "
                   f"{_exception_hint('gke-workload-identity')}")


SERVICE_ACCOUNT_KEY = "gcp:serviceaccount/key:Key"


def check_no_keys_on_gke(args: StackValidationArgs, report: ReportViolation) -> None:
    policy = "gke-no-service-account-keys"
    if excepted(policy):
        return
    stack = settings()
    clusters = [r.name for r in args.resources if r.resource_type == CLUSTER]
    if stack.get("profile") != "gke" and not clusters:
        return
    why = "profile is gke" if stack.get("profile") == "gke" else f"the stack runs GKE cluster '{clusters[0]}'"
    for resource in args.resources:
        if resource.resource_type == SERVICE_ACCOUNT_KEY:
            report(f"resource '{resource.name}' ({resource.resource_type}): serviceAccountId "
                   f"{prop(resource.props, 'serviceAccountId') if isinstance(prop(resource.props, 'serviceAccountId'), str) else '(unknown yet)'} "
                   f"gets a downloadable key although {why}: Kestra authenticates through Workload Identity "
                   f"there, and a key is a long-lived credential in the state (and one that "
                   f"iam.disableServiceAccountKeyCreation forbids). Fix: remove the Key; grant the Google "
                   f"service account roles/iam.workloadIdentityUser for the pods' Kubernetes "
                   f"ServiceAccount instead. {_exception_hint(policy)}", resource.urn)


SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
SSL_ONLY_MODES = ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")


def check_cloud_sql(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if args.resource_type != SQL_INSTANCE:
        return
    hint = _exception_hint("cloud-sql-private-and-ssl-only")
    ipv4 = path_value(args.props, "settings.ipConfiguration.ipv4Enabled", True)  # Cloud SQL's default: on
    if ipv4 is not UNKNOWN and ipv4 is not False:
        yield (f"{where(args)}: settings.ipConfiguration.ipv4Enabled is {ipv4!r} (Cloud SQL's default is true), so "
               f"the instance gets a public IPv4 address. Fix: ip_configuration={{\"ipv4_enabled\": False, "
               f"\"private_network\": <the VPC>}} (private services access). {hint}")
    network = path_value(args.props, "settings.ipConfiguration.privateNetwork")
    if network is not UNKNOWN and not network:
        yield (f"{where(args)}: settings.ipConfiguration.privateNetwork is not set, so the instance has no private "
               f"IP for the cluster to reach. Fix: private_network=<the VPC's id> with private services access. {hint}")
    mode = path_value(args.props, "settings.ipConfiguration.sslMode")
    legacy = path_value(args.props, "settings.ipConfiguration.requireSsl")
    if mode is UNKNOWN or (mode is None and legacy is UNKNOWN):
        return
    if mode not in SSL_ONLY_MODES and not (mode is None and legacy is True):
        yield (f"{where(args)}: settings.ipConfiguration.sslMode is {mode!r}, so clients may connect without TLS. "
               f"Fix: ssl_mode=\"ENCRYPTED_ONLY\" (or TRUSTED_CLIENT_CERTIFICATE_REQUIRED). {hint}")


SERVICE = "kubernetes:core/v1:Service"
INGRESSES = ("kubernetes:networking.k8s.io/v1:Ingress", "kubernetes:networking.k8s.io/v1beta1:Ingress",
             "kubernetes:extensions/v1beta1:Ingress")
HELM = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
# GKE Ingress: a certificate (pre-shared, Google-managed, or a TLS secret) and no HTTP front end.
INGRESS_CERT_ANNOTATIONS = ("ingress.gcp.kubernetes.io/pre-shared-cert", "networking.gke.io/managed-certificates")
ALLOW_HTTP = "kubernetes.io/ingress.allow-http"


def _ingress_problems(path: str, annotations: Any, tls: Any) -> list[str]:
    if annotations is UNKNOWN or tls is UNKNOWN:
        return []
    annotations = plain(annotations) or {}
    if not isinstance(annotations, dict) or contains_unknown(annotations):
        return []
    problems = []
    tls = plain(tls)
    if not any(annotations.get(a) for a in INGRESS_CERT_ANNOTATIONS) and not tls:
        problems.append(f"{path} serves no certificate (no {' / '.join(INGRESS_CERT_ANNOTATIONS)} annotation, no tls), "
                        f"so Kestra is reached over plain HTTP")
    if annotations.get(ALLOW_HTTP) != "false":
        problems.append(f"{path}.annotations[\"{ALLOW_HTTP}\"] is {annotations.get(ALLOW_HTTP)!r}, so the load "
                        f"balancer also answers plain HTTP on port 80 (GKE's default)")
    return problems


def check_https_only(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    hint = _exception_hint("no-load-balancer-without-tls")
    fix_service = ("Fix: keep the Service ClusterIP (the chart's default) and publish it through the HTTPS "
                   "Ingress, as the gke profile does")
    if args.resource_type == SERVICE:
        kind = path_value(args.props, "spec.type")
        if kind == "LoadBalancer":
            yield (f"{where(args)}: spec.type is LoadBalancer: a passthrough network load balancer puts the "
                   f"pods' port on an external IP with no TLS in front (Kestra speaks plain HTTP with basic "
                   f"auth). {fix_service}. {hint}")
    elif args.resource_type in HELM:
        values = prop(args.props, "values")
        if values is UNKNOWN or values is None:
            return
        if path_value(values, "service.type") == "LoadBalancer":
            yield (f"{where(args)}: values.service.type is LoadBalancer: the chart's Service gets an external IP "
                   f"with no TLS in front (Kestra speaks plain HTTP with basic auth). {fix_service}. {hint}")
        if path_value(values, "ingress.enabled") is True:
            for problem in _ingress_problems("values.ingress", path_value(values, "ingress.annotations", {}),
                                             path_value(values, "ingress.tls", [])):
                yield (f"{where(args)}: {problem}. Fix: a certificate annotation "
                       f"(ingress.gcp.kubernetes.io/pre-shared-cert) and \"{ALLOW_HTTP}\": \"false\". {hint}")
    elif args.resource_type in INGRESSES:
        for problem in _ingress_problems("metadata", path_value(args.props, "metadata.annotations", {}),
                                         path_value(args.props, "spec.tls", [])):
            yield (f"{where(args)}: {problem}. Fix: a certificate (annotation or spec.tls) and "
                   f"\"{ALLOW_HTTP}\": \"false\". {hint}")


# ---------------------------------------------------------------------------------------------
# Mandatory: Kestra objects

# Dynamic resources of kestra/resources.py and the properties Kestra shows to anyone who can
# read the namespace.
KESTRA_CONTENT = {
    "pulumi-python:dynamic/kestra:Flow": "source",
    "pulumi-python:dynamic/kestra:Dashboard": "source",
    "pulumi-python:dynamic/kestra:NamespaceFile": "content",
    "pulumi-python:dynamic/kestra:KvEntry": "value",
}


# A secret output of a resource counts from this length: generated passwords and keys are far
# longer, while providers also mark short non-credentials secret (a bucket's effectiveLabels).
MIN_RESOURCE_SECRET_LENGTH = 12


def _candidates(path: str, value: Any) -> set[str]:
    """Credential-like strings in a resource's secret value: the value, or the value part of
    NAME=value (container envs); labels, which providers mark secret, are not credentials."""
    if not isinstance(value, str) or path.split("[")[0].split(".")[0].lower().endswith("labels"):
        return set()
    found = {value}
    if m := re.match(r"^[A-Za-z_][A-Za-z0-9_]*=(.*)$", value, re.S):
        found.add(m.group(1))
    return {v for v in found if len(v) >= MIN_RESOURCE_SECRET_LENGTH and not re.search(r"\s", v)}


def check_kestra_sources(args: StackValidationArgs, report: ReportViolation) -> None:
    policy = "kestra-objects-hold-no-stack-secret"
    if excepted(policy):
        return
    stack = settings()
    if not stack.secret_keys_known:
        # Fail closed: without the list this policy and docker-env-credentials-are-secrets would
        # pass a pasted secret config value silently.
        report("The pack cannot tell which stack config values are secret: this Pulumi CLI sent no "
               "ConfigureStack secret keys and its language host no PULUMI_CONFIG_SECRET_KEYS. Fix: a Pulumi CLI "
               f"whose engine sends them (pulumi/pulumi v3.174.0 and later). {_exception_hint(policy)}")
    secrets = set(stack.secret_values())
    for resource in args.resources:
        for path, value in secret_paths(resource.urn).items():
            secrets |= _candidates(path, value)
    for resource in args.resources:
        key = KESTRA_CONTENT.get(resource.resource_type)
        if key is None or is_secret(resource.urn, key):
            continue
        text = prop(resource.props, key)
        if not isinstance(text, str):
            text = json.dumps(plain(text)) if text not in (None, UNKNOWN) else ""
        if any(s in text for s in secrets):
            report(f"resource '{resource.name}' ({resource.resource_type}): {key} contains the value of one "
                   f"of the stack's secrets, which Kestra shows in plaintext to anyone who can read the "
                   f"namespace. Fix: reference it as {{{{ secret('NAME') }}}} (the runtime's SECRET_* "
                   f"variables) instead of pasting it. {_exception_hint(policy)}", resource.urn)


# ---------------------------------------------------------------------------------------------
# Advisory

LABELLED_TYPES = (
    BUCKET,
    DATASET,
    "gcp:pubsub/topic:Topic",
    "gcp:pubsub/subscription:Subscription",
)


def check_labels(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if args.resource_type not in LABELLED_TYPES:
        return
    labels = plain(prop(args.props, "labels", {}))
    if contains_unknown(labels):
        return
    missing = [k for k in STANDARD_LABELS if k not in (labels or {})]
    if missing:
        yield (f"{where(args)}: labels lack {', '.join(missing)}, so billing reports and `gcloud … "
               f"--filter labels.` cannot find it. Fix: pass the stack's labels (config `labels`, "
               f"which always holds managed-by and app).")


def check_project(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if not args.resource_type.startswith("gcp:") or stack.project is None:
        return
    project = prop(args.props, "project")
    if isinstance(project, str) and project and project != stack.project:
        yield (f"{where(args)}: project is {project}, not the stack's gcp:project {stack.project}, so "
               f"`pulumi destroy` of this stack reaches into another project. Fix: drop the explicit "
               f"project or use the stack's.")


REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"


def check_image_tag(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if args.resource_type != REMOTE_IMAGE:
        return
    name = prop(args.props, "name")
    if not isinstance(name, str) or "@sha256:" in name:
        return
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag in (None, "latest"):
        yield (f"{where(args)}: name is {name}, {'without a tag' if tag is None else 'tagged latest'}, so "
               f"each pull may bring another version (Postgres data volumes are not upgraded "
               f"automatically). Fix: pin a version, e.g. kestraVersion v1.1.7 or postgresImage postgres:17.")


def report_exceptions(args: StackValidationArgs, report: ReportViolation) -> None:
    known = {p.name for p in POLICIES}
    for name, reason in sorted(settings().exceptions.items()):
        if name in known:
            report(f"policy {name} is switched off for this stack by config policyExceptions: {reason}")
        else:
            report(f"config policyExceptions names {name}, which is not a policy of this pack "
                   f"(policies: {', '.join(sorted(known))}); it has no effect.")


MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

POLICIES = [
    _resource_policy(
        "no-project-basic-or-admin-roles",
        "No project-level basic role, admin role (roles/*.admin) or role that can make its holder an owner "
        "(setIamPolicy, service-account impersonation or keys, shell on VMs), except the walkthrough's "
        "admin roles under iamMode guide.",
        MANDATORY, check_project_roles),
    _resource_policy(
        "bucket-uniform-access-and-public-access-prevention",
        "Buckets use uniform bucket-level access and enforce public access prevention.",
        MANDATORY, check_bucket_access),
    _resource_policy(
        "no-public-members",
        "No allUsers or allAuthenticatedUsers on buckets, objects, datasets, topics or subscriptions.",
        MANDATORY, check_public_members),
    _resource_policy(
        "docker-ports-on-loopback",
        "Containers publish ports only on a loopback address, or on the address config hostAddress names.",
        MANDATORY, check_container_ports),
    _resource_policy(
        "docker-env-credentials-are-secrets",
        "A container environment variable holding a credential is a Pulumi secret.",
        MANDATORY, check_container_env_secrets),
    _resource_policy(
        "gke-workload-identity",
        "GKE clusters have Workload Identity on (<project>.svc.id.goog) and nodes serve the GKE metadata server.",
        MANDATORY, check_workload_identity),
    StackValidationPolicy(
        name="gke-no-service-account-keys",
        description="No service-account key in a stack that runs Kestra on GKE (Workload Identity instead).",
        enforcement_level=MANDATORY, validate=check_no_keys_on_gke),
    _resource_policy(
        "cloud-sql-private-and-ssl-only",
        "Cloud SQL instances have no public IPv4 address, a private network, and accept TLS connections only.",
        MANDATORY, check_cloud_sql),
    _resource_policy(
        "no-load-balancer-without-tls",
        "No Kubernetes Service (or chart service) of type LoadBalancer, and Ingresses serve HTTPS only.",
        MANDATORY, check_https_only),
    StackValidationPolicy(
        name="kestra-objects-hold-no-stack-secret",
        description="No Kestra flow, dashboard, namespace file or plain KV value contains one of the stack's secrets.",
        enforcement_level=MANDATORY, validate=check_kestra_sources),
    _resource_policy(
        "gcp-standard-labels",
        "GCP resources that take labels carry the stack's labels (managed-by, app).",
        ADVISORY, check_labels),
    _resource_policy(
        "gcp-resources-in-stack-project",
        "GCP resources live in the stack's gcp:project.",
        ADVISORY, check_project),
    _resource_policy(
        "docker-image-tag-pinned",
        "Images are pulled by a pinned tag (not latest, not untagged).",
        ADVISORY, check_image_tag),
    StackValidationPolicy(
        name="policy-exceptions-in-use",
        description="Lists the policies this stack switches off through config policyExceptions.",
        enforcement_level=ADVISORY, validate=report_exceptions),
]

# The resource types each policy judges; "gcp:" stands for every GCP type. The tests hold each
# (policy, type) to a case, and every type the echo plugins can stand in for to a row of theirs.
EVERY_GCP_TYPE = "gcp:"
JUDGED_TYPES: dict[str, tuple[str, ...]] = {
    "no-project-basic-or-admin-roles": (*PROJECT_IAM_TYPES, PROJECT_IAM_POLICY),
    "bucket-uniform-access-and-public-access-prevention": (BUCKET,),
    "no-public-members": (*PUBLIC_MEMBER_TYPES, DATASET, DATASET_ACCESS),
    "docker-ports-on-loopback": (CONTAINER,),
    "docker-env-credentials-are-secrets": (CONTAINER,),
    "gke-workload-identity": (CLUSTER, NODE_POOL),
    "gke-no-service-account-keys": (SERVICE_ACCOUNT_KEY,),
    "cloud-sql-private-and-ssl-only": (SQL_INSTANCE,),
    "no-load-balancer-without-tls": (SERVICE, *INGRESSES, *HELM),
    "kestra-objects-hold-no-stack-secret": tuple(KESTRA_CONTENT),
    "gcp-standard-labels": LABELLED_TYPES,
    "gcp-resources-in-stack-project": (EVERY_GCP_TYPE,),
    "docker-image-tag-pinned": (REMOTE_IMAGE,),
    "policy-exceptions-in-use": (),
}
