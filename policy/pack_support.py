"""What every policy of the pack shares: the stack's settings as the engine hands them over, the
secret marks of the inputs, reading possibly-unknown inputs, and how a policy is declared.

The pack knows nothing of the program's modules: it judges what the engine hands it (resource
types and inputs, as the real providers' schemas name them) and the stack configuration the
engine gives it (its ConfigureStack call, and PULUMI_CONFIG from the language host's RunPlugin).
"""

from __future__ import annotations

import functools
import json
import os
import threading
from dataclasses import dataclass
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

PROJECT = "kestra-gcp"
DEFAULT_HOST_ADDRESS = "127.0.0.1"
MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

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
                           "(policy/pack_support.py tracks secrets through them; pin pulumi-policy)")
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


def where(args: Any) -> str:
    return f"resource '{args.name}' ({args.resource_type})"


def excepted(policy_name: str) -> bool:
    return policy_name in settings().exceptions


# The resource types each policy judges, as it declares them; "gcp:" stands for every GCP type.
EVERY_GCP_TYPE = "gcp:"
JUDGED_TYPES: dict[str, tuple[str, ...]] = {}


def judges(types: tuple[str, ...], resource_type: str) -> bool:
    return any(resource_type == t or (t == EVERY_GCP_TYPE and resource_type.startswith(t)) for t in types)


def resource_policy(
    name: str, description: str, level: EnforcementLevel, types: Iterable[str],
    check: Callable[[ResourceValidationArgs, StackSettings], Iterable[str]],
) -> ResourceValidationPolicy:
    """A policy that judges one resource at a time, of the given types only."""
    types = JUDGED_TYPES[name] = tuple(types)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if excepted(name) or not judges(types, args.resource_type):
            return
        for message in check(args, settings()):
            report(message)

    return ResourceValidationPolicy(name=name, description=description, enforcement_level=level, validate=validate)


def stack_policy(
    name: str, description: str, level: EnforcementLevel, types: Iterable[str],
    check: Callable[[StackValidationArgs, ReportViolation], None],
) -> StackValidationPolicy:
    """A policy that judges the whole stack at once (resources of the given types, in context)."""
    JUDGED_TYPES[name] = tuple(types)

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        if not excepted(name):
            check(args, report)

    return StackValidationPolicy(name=name, description=description, enforcement_level=level, validate=validate)


def exception_hint(policy_name: str) -> str:
    return (f"A deliberate exception: pulumi config set --path "
            f"'policyExceptions[\"{policy_name}\"]' '<why>'.")

