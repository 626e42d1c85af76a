"""Pulumi dynamic resources for Kestra objects: flows, namespace files, KV entries, dashboards.

Each resource takes a `KestraConnection` and flattens it into its inputs (``url``, ``username``,
``password`` as a secret, ``tenant``, optional ``deadline``, and ``ca_certificate`` — the PEM of
the CA that vouches for an ``https://`` Kestra whose certificate the stack issued, present only
when given), so every operation — including a
``pulumi destroy`` long after the program changed — knows where and how to reach Kestra. The
providers keep no state and no session: each call builds a `KestraClient` and closes it; the
client keeps one keep-alive connection per provider-host thread and Kestra login, so a deploy of
many objects does not pay a TCP/TLS handshake per object.

Provider behaviour, common to the four:

- ``check`` works offline: it parses the YAML, checks that ids inside the source match the
  inputs, normalises (namespace file paths get a leading ``/``, integral KV numbers become ints)
  and reports `CheckFailure`s naming the object (and ``origin``, the file it came from), so a
  preview stops before anything is written. Unknown values (preview) are left alone.
- ``diff`` makes no HTTP call. Flows and dashboards compare parsed YAML (comments and layout do
  not count) while the exact source is what gets stored. A change of tenant, namespace, id, key or
  path replaces the object. A change of url or credentials alone is reported as an update (so the
  state records where the object now lives and which password works, which a later delete or
  refresh needs), and that update only reads the object and rewrites it if it is missing or
  differs — typically one GET, no write. ``origin`` and ``deadline`` never cause a change.
  The result's extra ``diffs`` attribute lists the changed properties; the Python dynamic-provider
  host forwards only ``changes``/``replaces``, and the engine shows its own property diff.
- ``create``/``update`` make one request per write: Kestra validates flows and dashboards on POST
  and PUT and answers 422 with its constraint text, which the error quotes next to the file the
  object came from (there is no separate validate call; ``python -m kestra.validate`` checks a
  whole tree before a deploy). Creating an object that already exists adopts it — a read, and a
  write only if it differs — so a run interrupted after a write converges on the next one;
  updating one that vanished recreates it.
- ``read`` returns the live object (flow source, file content and hash, KV value, dashboard
  source) and the matching inputs, so ``pulumi refresh`` shows drift; a missing object reads as
  gone (empty id). ``delete`` treats "not found" as done (for a dashboard, Kestra 1.1's 409
  "doesn't exists"); a namespace file is deleted only if a read shows it exists.

Flows: `NamespaceFlows` holds every flow of a namespace, one property per flow, and is what the
program declares; `Flow` (one flow) remains for states written before, and hands its flow over to
a `NamespaceFlows` that declares it instead of deleting it (`FlowProvider.delete`).

Serialization: `pulumi.dynamic.Resource` pickles the provider with dill. A provider class defined
in an importable module (not ``__main__``) is pickled by reference (``kestra.resources.FlowProvider``
plus an empty instance dict), so the state holds no code; the provider host (``python -m
pulumi.dynamic``, started in the project directory) imports this module to unpickle it. Hence:
keep these class names and this module path stable, and keep this module free of side effects.
"""

from __future__ import annotations

import abc
import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import math
import posixpath
import threading
from typing import Any, Optional

import pulumi
import yaml
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown

from .client import DEFAULT_DEADLINE, KV_KEY_PATTERN, KestraApiError, KestraClient, KestraNotFound

CONNECTION_KEYS = ("url", "username", "password")
# What else tells how to reach Kestra: a change is an update (recorded for later delete/refresh).
CONNECTION_EXTRAS = ("ca_certificate",)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster
_UNKNOWN_STR = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN


@dataclasses.dataclass(frozen=True)
class KestraConnection:
    """Where and how to reach Kestra; every Kestra resource takes one.

    `password` is stored as a secret whatever is passed. `deadline` bounds the seconds spent
    retrying one call (Kestra still booting); it is recorded but never causes an update.
    `ca_certificate` (PEM) is the only CA trusted for an ``https://`` URL; None keeps the system's.
    """

    url: pulumi.Input[str]
    username: pulumi.Input[str]
    password: pulumi.Input[str]
    tenant: pulumi.Input[str] = "main"
    deadline: Optional[float] = None
    ca_certificate: Optional[pulumi.Input[str]] = None

    def props(self) -> dict[str, Any]:
        props = {
            "url": self.url,
            "username": self.username,
            "password": pulumi.Output.secret(self.password),
            "tenant": self.tenant,
            "deadline": self.deadline,
        }
        if self.ca_certificate is not None:  # absent otherwise: existing states see no change
            props["ca_certificate"] = self.ca_certificate
        return props


def _is_unknown(value: Any) -> bool:
    if isinstance(value, Unknown) or value == _UNKNOWN_STR:
        return True
    if isinstance(value, dict):
        return any(_is_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_unknown(v) for v in value)
    return False


def _changed(old: Any, new: Any) -> bool:
    return _is_unknown(new) or old != new


@functools.lru_cache(maxsize=1024)
def _parse_yaml(source: str) -> Any:
    """The parsed document, cached: check, diff and update of one object parse the same sources,
    and the provider host serves them all. Callers must treat the result as read-only."""
    return yaml.load(source, Loader=_YAML_LOADER)


def _yaml_problem(source: Any) -> tuple[Any, Optional[str]]:
    """(parsed mapping, None) or (None, reason) with the line and column of a YAML error."""
    if not isinstance(source, str) or not source.strip():
        return None, "source is empty"
    try:
        parsed = _parse_yaml(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, f"invalid YAML{where}: {problem}"
    if not isinstance(parsed, dict):
        return None, "the YAML is not a mapping"
    return parsed, None


def _same_yaml(old: Any, new: Any) -> bool:
    if not isinstance(old, str) or not isinstance(new, str):
        return False
    if old == new:
        return True
    try:
        return _parse_yaml(old) == _parse_yaml(new)
    except yaml.YAMLError:
        return False


def _normalize_value(value: Any) -> Any:
    """A KV value as Kestra will hold it: Pulumi sends every number as a float, so 42.0 → 42."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalize_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize_value(v) for v in value]
    return value


def _json_text(value: Any) -> str:
    return json.dumps(_normalize_value(value), sort_keys=True, allow_nan=False)


def _sha256(content: Any) -> str:
    data = content.encode() if isinstance(content, str) else bytes(content)
    return hashlib.sha256(data).hexdigest()


def _connection_failures(props: dict, identity: tuple[str, ...], what: str) -> list[CheckFailure]:
    """Offline checks of the connection inputs and of the properties naming the object."""
    failures = []
    for key in (*CONNECTION_KEYS, *identity):
        value = props.get(key)
        if not _is_unknown(value) and (not isinstance(value, str) or not value.strip()):
            failures.append(CheckFailure(key, f"{what}: {key} must be a non-empty string"))
    url = props.get("url")
    if isinstance(url, str) and not _is_unknown(url) and not url.startswith(("http://", "https://")):
        failures.append(CheckFailure("url", f"{what}: url must start with http:// or https://"))
    ca = props.get("ca_certificate")
    if ca is not None and not _is_unknown(ca) and (
        not isinstance(ca, str) or "-----BEGIN CERTIFICATE-----" not in ca
    ):
        failures.append(CheckFailure("ca_certificate", f"{what}: ca_certificate must be PEM text"))
    return failures


def _client_for(props: dict) -> KestraClient:
    """A client for the Kestra the inputs name; one keep-alive connection per provider-host thread."""
    return KestraClient(
        props["url"],
        props["username"],
        props["password"],
        props.get("tenant") or "main",
        deadline=props.get("deadline") or DEFAULT_DEADLINE,
        reuse_connections=True,
        ca_certificate=props.get("ca_certificate") or None,
    )


def _flow_source_problems(parsed: dict, namespace: Any, flow_id: Any) -> list[str]:
    """What is wrong with a parsed flow meant to be `namespace`/`flow_id` (unknowns pass)."""
    reasons = []
    for key, expected in (("id", flow_id), ("namespace", namespace)):
        inside = parsed.get(key)
        if not inside:
            reasons.append(f"the source has no '{key}'")
        elif not _is_unknown(expected) and inside != expected:
            reasons.append(f"the source says {key}: {inside!r} but the resource expects {expected!r}")
    return reasons


class _KestraProvider(ResourceProvider, abc.ABC):
    """What the four providers share; subclasses fill in the object-specific parts."""

    serialize_as_secret_always = False  # the provider holds no secret: credentials are inputs
    kind = ""
    identity: tuple[str, ...] = ()  # properties naming the object: a change replaces it
    content_key = ""  # the property holding what is written
    input_keys: tuple[str, ...] = ()

    # -- object-specific ----------------------------------------------------------------------

    @abc.abstractmethod
    def name(self, props: dict) -> str:
        """The object's name in messages and its Pulumi id (e.g. ``dev.testing/hello``)."""

    @abc.abstractmethod
    def normalize(self, props: dict) -> list[str]:
        """Checks and normalises `props` in place; returns reasons for failure on content_key."""

    def same(self, old: dict, new: dict) -> bool:
        """Whether `old` and `new` hold the same content (False when `new`'s is unknown)."""
        return not _changed(old.get(self.content_key), new.get(self.content_key))

    @abc.abstractmethod
    def write(self, client: KestraClient, props: dict, exists: bool) -> dict:
        """Writes the object (Kestra validates it); returns computed outputs."""

    @abc.abstractmethod
    def live(self, client: KestraClient, props: dict) -> Optional[dict]:
        """The object as Kestra has it (content and computed outputs), None when missing."""

    @abc.abstractmethod
    def remove(self, client: KestraClient, props: dict) -> None:
        """Deletes the object; may raise `KestraNotFound`, which `delete` takes as done."""

    def computed(self, props: dict) -> dict:
        """Outputs derived from the inputs alone (namespace files: the content's sha256)."""
        return {}

    # -- shared -------------------------------------------------------------------------------

    def describe(self, props: dict) -> str:
        origin = props.get("origin")
        return f"{self.kind} {self.name(props)}" + (f" ({origin})" if isinstance(origin, str) and origin else "")

    def _client(self, props: dict) -> KestraClient:
        return _client_for(props)

    def _outs(self, props: dict, extra: dict) -> dict:
        outs = {k: props[k] for k in self.input_keys if props.get(k) is not None}
        outs.update(self.computed(props))
        outs.update(extra)
        return outs

    def _call(self, props: dict, action):
        """Runs `action(client)`, naming this object (and its origin) in any Kestra error."""
        try:
            with self._client(props) as client:
                return action(client)
        except KestraApiError as exc:
            exc.obj = self.describe(props)
            raise

    def check(self, olds: dict, news: dict) -> CheckResult:
        props = dict(news)
        if props.get("tenant") is None:
            props["tenant"] = "main"  # Kestra OSS's only tenant
        failures = _connection_failures(props, self.identity, self.describe(props))
        if not _is_unknown(props.get(self.content_key)):
            failures += [
                CheckFailure(self.content_key, f"{self.describe(props)}: {reason}") for reason in self.normalize(props)
            ]
        return CheckResult(props, failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = [k for k in self.identity if _changed(olds.get(k), news.get(k))]
        content = [] if self.same(olds, news) else [self.content_key]
        connection = [k for k in (*CONNECTION_KEYS, *CONNECTION_EXTRAS) if _changed(olds.get(k), news.get(k))]
        result = DiffResult(changes=bool(replaces or content or connection), replaces=replaces)
        result.diffs = replaces + content + connection  # type: ignore[attr-defined]
        return result

    def create(self, props: dict) -> CreateResult:
        extra = self._call(props, lambda client: self.write(client, props, exists=False))
        return CreateResult(self.name(props), self._outs(props, extra))

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        def apply(client: KestraClient) -> dict:
            if self.same(olds, news):  # only the connection changed: verify before writing
                live = self.live(client, news)
                if live is not None and self.same(live, news):
                    return {k: v for k, v in live.items() if k != self.content_key}
            return self.write(client, news, exists=True)

        return UpdateResult(self._outs(news, self._call(news, apply)))

    def read(self, id_: str, props: dict) -> ReadResult:
        live = self._call(props, lambda client: self.live(client, props))
        if live is None:
            return ReadResult("", {})
        outs = dict(props)
        if self.same(live, props):  # keep the exact text we wrote when it means the same
            live = {k: v for k, v in live.items() if k != self.content_key}
        outs.update(live)
        inputs = {k: outs[k] for k in self.input_keys if outs.get(k) is not None}
        return ReadResult(id_ or self.name(props), outs, inputs)

    def delete(self, _id: str, props: dict) -> None:
        def remove(client: KestraClient) -> None:
            try:
                self.remove(client, props)
            except KestraNotFound:
                pass  # already gone

        self._call(props, remove)


_COMMON_INPUTS = ("url", "username", "password", "tenant", "deadline", "origin", "ca_certificate")


class FlowProvider(_KestraProvider):
    """A flow, identified by (tenant, namespace, flow_id); Kestra validates the YAML on write."""

    kind = "flow"
    identity = ("tenant", "namespace", "flow_id")
    content_key = "source"
    input_keys = (*_COMMON_INPUTS, "namespace", "flow_id", "source")

    def name(self, props: dict) -> str:
        return f"{props.get('namespace')}/{props.get('flow_id')}"

    def normalize(self, props: dict) -> list[str]:
        parsed, problem = _yaml_problem(props.get("source"))
        if problem:
            return [problem]
        return _flow_source_problems(parsed, props.get("namespace"), props.get("flow_id"))

    def same(self, old: dict, new: dict) -> bool:
        return _same_yaml(old.get("source"), new.get("source"))

    def write(self, client: KestraClient, props: dict, exists: bool) -> dict:
        doc = client.put_flow(props["namespace"], props["flow_id"], props["source"], exists=exists)
        return {"revision": doc.get("revision")}

    def live(self, client: KestraClient, props: dict) -> Optional[dict]:
        try:
            doc = client.get_flow(props["namespace"], props["flow_id"])
        except KestraNotFound:
            return None
        return {"source": doc.get("source"), "revision": doc.get("revision")}

    def remove(self, client: KestraClient, props: dict) -> None:
        client.delete_flow(props["namespace"], props["flow_id"])

    def delete(self, _id: str, props: dict) -> None:
        # A state written before flows were grouped by namespace holds one Flow per flow; the
        # current program declares a NamespaceFlows instead, and the engine deletes the old Flow
        # after the new resource has adopted its flow (pulumi/pulumi pkg/resource/deploy/
        # step_generator.go, GenerateDeletes: after every registration, hence every Check).
        # Deleting it then would remove the flow from Kestra: hand it over instead.
        if _claimed(props.get("tenant") or "main", props.get("namespace"), props.get("flow_id")):
            return
        super().delete(_id, props)


class NamespaceFileProvider(_KestraProvider):
    """A text file in a namespace's storage, identified by (tenant, namespace, path)."""

    kind = "namespace file"
    identity = ("tenant", "namespace", "path")
    content_key = "content"
    input_keys = (*_COMMON_INPUTS, "namespace", "path", "content")

    def name(self, props: dict) -> str:
        return f"{props.get('namespace')}:{props.get('path')}"

    def check(self, olds: dict, news: dict) -> CheckResult:
        path = news.get("path")
        failures = []
        if isinstance(path, str) and not _is_unknown(path):
            normal = posixpath.normpath("/" + path.strip().lstrip("/"))
            if ".." in path.split("/") or normal in ("/", "//"):
                failures.append(f"path {path!r} must name a file inside the namespace")
            elif normal.lower().endswith(".zip"):
                failures.append("a .zip upload is extracted by Kestra, not stored: upload its files")
            elif normal == "/_flows" or normal.startswith("/_flows/"):
                failures.append("paths under /_flows are imported by Kestra as flows: use a Flow resource")
            news = {**news, "path": normal}
        result = super().check(olds, news)
        result.failures += [CheckFailure("path", f"{self.describe(news)}: {reason}") for reason in failures]
        return result

    def normalize(self, props: dict) -> list[str]:
        if not isinstance(props.get("content"), str):
            return ["content must be text"]
        return []

    def computed(self, props: dict) -> dict:
        content = props.get("content")
        return {"sha256": _sha256(content)} if isinstance(content, str) else {}

    def write(self, client: KestraClient, props: dict, exists: bool) -> dict:
        client.upload_namespace_file(props["namespace"], props["path"], props["content"])
        return {}

    def live(self, client: KestraClient, props: dict) -> Optional[dict]:
        try:
            data = client.get_namespace_file(props["namespace"], props["path"])
        except KestraNotFound:
            return None
        return {"content": data.decode("utf-8", errors="replace"), "sha256": _sha256(data)}

    def remove(self, client: KestraClient, props: dict) -> None:
        client.delete_namespace_file(props["namespace"], props["path"])


class KvEntryProvider(_KestraProvider):
    """A KV-store entry, identified by (tenant, namespace, key). Errors never show the value."""

    kind = "kv"
    identity = ("tenant", "namespace", "key")
    content_key = "value"
    input_keys = (*_COMMON_INPUTS, "namespace", "key", "value")

    def name(self, props: dict) -> str:
        return f"{props.get('namespace')}/{props.get('key')}"

    def check(self, olds: dict, news: dict) -> CheckResult:
        result = super().check(olds, news)
        key = news.get("key")
        if isinstance(key, str) and key and not _is_unknown(key) and not KV_KEY_PATTERN.match(key):
            result.failures.append(
                CheckFailure(
                    "key",
                    f"{self.describe(news)}: invalid KV key: it must start with a letter or digit and "
                    "hold only letters, digits, '.', '_' and '-'",
                )
            )
        return result

    def normalize(self, props: dict) -> list[str]:
        value = props.get("value")
        if value is None:
            return ["value is missing"]
        try:
            _json_text(value)
        except (TypeError, ValueError):
            return [f"a value of type {type(value).__name__} cannot be stored (it must be JSON: text, number, "
                    "boolean, object or list, without NaN or infinity)"]
        props["value"] = _normalize_value(value)
        return []

    def same(self, old: dict, new: dict) -> bool:
        a, b = old.get("value"), new.get("value")
        if _is_unknown(b) or a is None or b is None:
            return False
        return _json_text(a) == _json_text(b)

    def write(self, client: KestraClient, props: dict, exists: bool) -> dict:
        client.put_kv(props["namespace"], props["key"], _normalize_value(props["value"]))
        return {}

    def live(self, client: KestraClient, props: dict) -> Optional[dict]:
        try:
            doc = client.get_kv(props["namespace"], props["key"])
        except KestraNotFound:
            return None
        return {"value": _normalize_value(doc.get("value"))}

    def remove(self, client: KestraClient, props: dict) -> None:
        client.delete_kv(props["namespace"], props["key"])


class DashboardProvider(_KestraProvider):
    """A dashboard, identified by (tenant, the ``id`` inside its YAML)."""

    kind = "dashboard"
    identity = ("tenant", "dashboard_id")
    content_key = "source"
    input_keys = (*_COMMON_INPUTS, "source", "dashboard_id")

    def name(self, props: dict) -> str:
        return str(props.get("dashboard_id") or "(no id)")

    def check(self, olds: dict, news: dict) -> CheckResult:
        news = dict(news)
        parsed, _ = _yaml_problem(news.get("source"))
        if isinstance(parsed, dict) and isinstance(parsed.get("id"), str):
            news["dashboard_id"] = parsed["id"]  # the identity comes from the YAML
        if _is_unknown(news.get("source")):
            news["dashboard_id"] = Unknown()
        result = super().check(olds, news)
        # dashboard_id is derived; report its absence once, on the source.
        result.failures = [f for f in result.failures if f.property != "dashboard_id"]
        return result

    def normalize(self, props: dict) -> list[str]:
        parsed, problem = _yaml_problem(props.get("source"))
        if problem:
            return [problem]
        if not isinstance(parsed.get("id"), str) or not parsed["id"].strip():
            return ["the source has no 'id' (Kestra requires one since 1.0)"]
        return []

    def same(self, old: dict, new: dict) -> bool:
        return _same_yaml(old.get("source"), new.get("source"))

    def write(self, client: KestraClient, props: dict, exists: bool) -> dict:
        client.put_dashboard(props["dashboard_id"], props["source"], exists=exists)
        return {}

    def live(self, client: KestraClient, props: dict) -> Optional[dict]:
        try:
            doc = client.get_dashboard(props["dashboard_id"])
        except KestraNotFound:
            return None
        return {"source": doc.get("sourceCode")}

    def remove(self, client: KestraClient, props: dict) -> None:
        client.delete_dashboard(props["dashboard_id"])


# -- flows grouped by namespace ----------------------------------------------------------------

# The flows a NamespaceFlows resource declared in this provider host (its `check`, which the
# engine runs for every declared resource before it deletes any resource the program dropped).
# A Flow resource of an older state whose flow is here hands it over instead of deleting it.
_CLAIMS: set[tuple[str, str, str]] = set()
_CLAIMS_LOCK = threading.Lock()


def _claim(tenant: str, namespace: str, flow_ids) -> None:
    with _CLAIMS_LOCK:
        _CLAIMS.update((tenant, namespace, flow_id) for flow_id in flow_ids)


def _claimed(tenant: str, namespace: Any, flow_id: Any) -> bool:
    with _CLAIMS_LOCK:
        return (tenant, namespace, flow_id) in _CLAIMS


# Requests one resource operation keeps in flight. Kestra validates and stores each flow on its
# own; a few at once keep its cores busy while one request waits on the network or the database.
FLOW_WRITERS = 4
_EXECUTOR: Optional[concurrent.futures.ThreadPoolExecutor] = None
_EXECUTOR_LOCK = threading.Lock()


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    """The provider host's pool for flow requests (its threads keep their keep-alive sessions)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = concurrent.futures.ThreadPoolExecutor(FLOW_WRITERS * 4, thread_name_prefix="kestra-flows")
        return _EXECUTOR


def subflow_calls(node: Any) -> set[tuple[str, str]]:
    """(namespace, flowId) of every `io.kestra.plugin.core.flow.Subflow` task under `node`."""
    calls: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        if node.get("type") == "io.kestra.plugin.core.flow.Subflow" and isinstance(node.get("flowId"), str):
            calls.add((str(node.get("namespace")), node["flowId"]))
        for value in node.values():
            calls |= subflow_calls(value)
    elif isinstance(node, list):
        for value in node:
            calls |= subflow_calls(value)
    return calls


def flow_key(namespace: str, flow_id: str) -> str:
    """The property of a NamespaceFlows resource holding one flow's source: ``namespace/id``, as
    flows are named everywhere else, so the engine's diff names each flow that changes."""
    return f"{namespace}/{flow_id}"


def _flow_keys(props: dict) -> list[str]:
    return sorted(k for k in props if "/" in k)


def _waves(namespace: str, sources: dict[str, str]) -> list[list[str]]:
    """Flow keys in waves: every subflow a flow calls in this namespace is in an earlier wave."""
    calls = {}
    for key, source in sources.items():
        parsed, _ = _yaml_problem(source)
        found = subflow_calls([parsed.get(k) for k in ("tasks", "errors", "finally")]) if parsed else set()
        calls[key] = {flow_key(ns, fid) for ns, fid in found if ns == namespace} & set(sources) - {key}
    waves, done = [], set()
    while len(done) < len(calls):
        wave = sorted(k for k in calls if k not in done and calls[k] <= done)
        if not wave:  # a cycle (the program refuses them): write the rest together
            wave = sorted(set(calls) - done)
        waves.append(wave)
        done.update(wave)
    return waves


@dataclasses.dataclass
class _Written:
    key: str
    previous: Optional[str]  # the source Kestra held before (None: the flow was created)
    revision: Any


class NamespaceFlowsProvider(ResourceProvider):
    """Every flow of one namespace, one property per flow (`flow_key` → YAML source).

    Per flow it keeps the promises of `FlowProvider` (module doc): offline `check` naming the file
    and field, a `diff` of parsed YAML without HTTP, one request per created flow and a read then a
    write per changed one (never a PUT of a missing flow), adoption of a flow that exists, drift
    on `read`, "not found" taken as done on delete. On top:

    - ``check`` keeps the old text of a flow whose new text means the same (comments, layout), so
      the engine's own diff, which compares texts, names only flows that really change;
    - writes go callees first (a flow after the subflows it calls in this namespace), up to
      `FLOW_WRITERS` at a time; flows dropped from the inputs are deleted only after every write
      succeeded;
    - an operation that fails undoes its own writes before it reports the failure (a created flow
      is deleted, a replaced one gets its previous source back), so the state the engine keeps,
      which is the one before the operation, still describes Kestra.
    """

    serialize_as_secret_always = False
    identity = ("tenant", "namespace")

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _origin(props: dict, key: str) -> str:
        directory = props.get("directory")
        flow_id = key.split("/", 1)[1]
        return f"{directory}/{flow_id}.yaml" if isinstance(directory, str) and directory else ""

    def _describe(self, props: dict, key: str) -> str:
        origin = self._origin(props, key)
        return f"flow {key}" + (f" ({origin})" if origin else "")

    def _each(self, props: dict, keys: list[str], action, *, stop_on_error: bool = True) -> tuple[dict, dict]:
        """Runs `action(client, key)` for every key, at most `FLOW_WRITERS` at a time, in `keys`
        order; returns (results, errors), each by key. After a failure no further key is started
        unless `stop_on_error` is False. A Kestra error names the flow and its file."""
        failed = threading.Event()

        def run(key: str):
            try:
                with _client_for(props) as client:
                    return action(client, key)
            except KestraApiError as exc:
                exc.obj = self._describe(props, key)
                failed.set()
                raise
            except Exception:
                failed.set()
                raise

        slots = threading.Semaphore(FLOW_WRITERS)
        futures = {}
        for key in keys:
            slots.acquire()
            if stop_on_error and failed.is_set():
                slots.release()
                break
            future = _executor().submit(run, key)
            future.add_done_callback(lambda _done: slots.release())
            futures[key] = future
        results, errors = {}, {}
        for key, future in futures.items():
            try:
                results[key] = future.result()
            except Exception as exc:  # noqa: BLE001 - returned to the caller, which reports it
                errors[key] = exc
        return results, errors

    def _write(self, props: dict, keys: list[str], exists: set[str]) -> tuple[list[_Written], dict, dict]:
        """Writes `keys` wave by wave. Returns (writes made, revisions, errors)."""
        namespace = props["namespace"]
        written: list[_Written] = []
        revisions: dict = {}

        def write(client: KestraClient, key: str) -> tuple[Optional[_Written], Any]:
            flow_id, source = key.split("/", 1)[1], props[key]
            if key not in exists:
                try:
                    doc = client.create_flow(source)
                    return _Written(key, None, doc.get("revision")), doc.get("revision")
                except KestraApiError as exc:
                    if not exc.already_exists:
                        raise
            try:
                live = client.get_flow(namespace, flow_id)
            except KestraNotFound:
                doc = client.create_flow(source)
                return _Written(key, None, doc.get("revision")), doc.get("revision")
            if _same_yaml(live.get("source"), source):
                return None, live.get("revision")
            doc = client._put_existing_flow(namespace, flow_id, source)
            return _Written(key, live.get("source"), doc.get("revision")), doc.get("revision")

        waves = _waves(namespace, {k: props[k] for k in keys})
        for wave in waves:
            results, errors = self._each(props, wave, write)
            for key, (made, revision) in results.items():
                revisions[key] = revision
                if made is not None:
                    written.append(made)
            if errors:
                return written, revisions, errors
        return written, revisions, {}

    def _delete_flows(self, props: dict, keys: list[str]) -> None:
        """Deletes the flows of `keys` ("not found" is done); raises the first failure."""
        namespace = props["namespace"]

        def remove(client: KestraClient, key: str) -> None:
            try:
                client.delete_flow(namespace, key.split("/", 1)[1])
            except KestraNotFound:
                pass

        _, errors = self._each(props, keys, remove)
        if errors:
            raise next(iter(errors.values()))

    def _undo(self, props: dict, written: list[_Written]) -> list[str]:
        """Reverts `written`, callers before their subflows; returns what could not be reverted."""
        namespace = props["namespace"]
        by_key = {w.key: w for w in written}

        def undo(client: KestraClient, key: str) -> None:
            flow_id = key.split("/", 1)[1]
            if by_key[key].previous is None:
                try:
                    client.delete_flow(namespace, flow_id)
                except KestraNotFound:
                    pass
            else:
                client.put_flow(namespace, flow_id, by_key[key].previous, exists=True)

        _, errors = self._each(props, [w.key for w in reversed(written)], undo, stop_on_error=False)
        return [str(exc) for exc in errors.values()]

    def _fail(self, props: dict, errors: dict, written: list[_Written]) -> None:
        problems = self._undo(props, written)
        first = next(iter(errors.values()))
        if problems:
            note = "; these writes could not be undone (run `pulumi refresh`): " + "; ".join(problems)
            raise KestraApiError(f"{first}{note}") from first
        raise first

    def _outs(self, props: dict, revisions: dict) -> dict:
        outs = {k: v for k, v in props.items() if k != "__provider" and v is not None}
        outs["revisions"] = dict(sorted(revisions.items()))
        return outs

    # -- the provider --------------------------------------------------------------------------

    def check(self, olds: dict, news: dict) -> CheckResult:
        props = dict(news)
        if props.get("tenant") is None:
            props["tenant"] = "main"  # Kestra OSS's only tenant
        namespace = props.get("namespace")
        what = f"flows of namespace {namespace}"
        failures = _connection_failures(props, ("namespace",), what)
        for key in _flow_keys(props):
            source = props[key]
            if _is_unknown(source):
                continue
            in_namespace, _, flow_id = key.partition("/")
            reasons = []
            if in_namespace != namespace and not _is_unknown(namespace):
                reasons.append(f"the property names namespace {in_namespace!r}, not {namespace!r}")
            parsed, problem = _yaml_problem(source)
            if problem:
                reasons.append(problem)
            else:
                reasons += _flow_source_problems(parsed, in_namespace, flow_id)
            failures += [CheckFailure(key, f"{self._describe(props, key)}: {r}") for r in reasons]
            old = olds.get(key)
            if not reasons and old != source and _same_yaml(old, source):
                props[key] = old  # the same flow: no diff shown, no write (Kestra keeps this text)
        if isinstance(namespace, str) and not _is_unknown(namespace):
            _claim(props["tenant"], namespace, [k.split("/", 1)[1] for k in _flow_keys(props)])
        return CheckResult(props, failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = [k for k in self.identity if _changed(olds.get(k), news.get(k))]
        keys = set(_flow_keys(olds)) | set(_flow_keys(news))
        flows = sorted(k for k in keys if not _same_yaml(olds.get(k), news.get(k)) or _is_unknown(news.get(k)))
        connection = [k for k in (*CONNECTION_KEYS, *CONNECTION_EXTRAS) if _changed(olds.get(k), news.get(k))]
        result = DiffResult(changes=bool(replaces or flows or connection), replaces=replaces)
        result.diffs = replaces + flows + connection  # type: ignore[attr-defined]
        return result

    def create(self, props: dict) -> CreateResult:
        keys = _flow_keys(props)
        written, revisions, errors = self._write(props, keys, exists=set())
        if errors:
            self._fail(props, errors, written)
        return CreateResult(props["namespace"], self._outs(props, revisions))

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        old_keys, new_keys = set(_flow_keys(olds)), set(_flow_keys(news))
        connection_moved = any(_changed(olds.get(k), news.get(k)) for k in (*CONNECTION_KEYS, *CONNECTION_EXTRAS))
        revisions = dict(olds.get("revisions") or {})
        if connection_moved:  # verify every flow where the state now says Kestra is
            to_write = sorted(new_keys)
        else:
            to_write = sorted(k for k in new_keys if k not in old_keys or not _same_yaml(olds.get(k), news.get(k)))
        written, wrote_revisions, errors = self._write(news, to_write, exists=old_keys & set(to_write))
        if errors:
            self._fail(news, errors, written)
        revisions.update(wrote_revisions)
        # With the new connection, as every write above: the old password may be refused now
        # (rotated in the same `up`), and the flows live where the new url points. The namespace
        # is the same as before: a change of namespace replaces.
        self._delete_flows(news, sorted(old_keys - new_keys))
        revisions = {k: v for k, v in revisions.items() if k in new_keys}
        return UpdateResult(self._outs(news, revisions))

    def read(self, id_: str, props: dict) -> ReadResult:
        namespace = props["namespace"]
        keys = _flow_keys(props)

        def live(client: KestraClient, key: str) -> Optional[dict]:
            try:
                return client.get_flow(namespace, key.split("/", 1)[1])
            except KestraNotFound:
                return None

        results, errors = self._each(props, keys, live)
        if errors:
            raise next(iter(errors.values()))
        outs = {k: v for k, v in props.items() if k not in keys and k != "revisions"}
        revisions = {}
        for key in keys:
            doc = results[key]
            if doc is None:
                continue  # deleted in Kestra: the next `up` creates it again
            outs[key] = props[key] if _same_yaml(doc.get("source"), props[key]) else doc.get("source")
            revisions[key] = doc.get("revision")
        outs["revisions"] = revisions
        inputs = {k: v for k, v in outs.items() if k not in ("revisions", "__provider")}
        return ReadResult(id_ or namespace, outs, inputs)

    def delete(self, _id: str, props: dict) -> None:
        self._delete_flows(props, _flow_keys(props))


def _options(opts: Optional[pulumi.ResourceOptions], *secret_outputs: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(additional_secret_outputs=["password", *secret_outputs])
    )


class Flow(pulumi.dynamic.Resource, module="kestra", name="Flow"):
    """A Kestra flow from its YAML `source`, whose ``id``/``namespace`` must match the arguments."""

    namespace: pulumi.Output[str]
    flow_id: pulumi.Output[str]
    source: pulumi.Output[str]
    revision: pulumi.Output[int]

    def __init__(
        self,
        resource_name: str,
        *,
        connection: KestraConnection,
        namespace: pulumi.Input[str],
        flow_id: pulumi.Input[str],
        source: pulumi.Input[str],
        origin: Optional[str] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {
            **connection.props(),
            "namespace": namespace,
            "flow_id": flow_id,
            "source": source,
            "origin": origin,
            "revision": None,
        }
        super().__init__(FlowProvider(), resource_name, props, _options(opts))


class NamespaceFile(pulumi.dynamic.Resource, module="kestra", name="NamespaceFile"):
    """A text file in a namespace's storage; `path` is stored with a leading ``/``."""

    namespace: pulumi.Output[str]
    path: pulumi.Output[str]
    content: pulumi.Output[str]
    sha256: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        connection: KestraConnection,
        namespace: pulumi.Input[str],
        path: pulumi.Input[str],
        content: pulumi.Input[str],
        origin: Optional[str] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {
            **connection.props(),
            "namespace": namespace,
            "path": path,
            "content": content,
            "origin": origin,
            "sha256": None,
        }
        super().__init__(NamespaceFileProvider(), resource_name, props, _options(opts))


class KvEntry(pulumi.dynamic.Resource, module="kestra", name="KvEntry"):
    """A KV entry (text, number, boolean, object or list).

    A secret `value` (an Output marked secret) stays secret in the state: the engine re-marks a
    dynamic provider's output secret when the input of the same name was. `secret=True` marks it
    secret explicitly, for a plain value or an Output not known to be secret.
    """

    namespace: pulumi.Output[str]
    key: pulumi.Output[str]
    value: pulumi.Output[Any]

    def __init__(
        self,
        resource_name: str,
        *,
        connection: KestraConnection,
        namespace: pulumi.Input[str],
        key: pulumi.Input[str],
        value: pulumi.Input[Any],
        secret: bool = False,
        origin: Optional[str] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {
            **connection.props(),
            "namespace": namespace,
            "key": key,
            "value": pulumi.Output.secret(value) if secret else value,
            "origin": origin,
        }
        super().__init__(KvEntryProvider(), resource_name, props, _options(opts, *(["value"] if secret else [])))


class Dashboard(pulumi.dynamic.Resource, module="kestra", name="Dashboard"):
    """A Kestra dashboard from its YAML `source`, which must carry an ``id``."""

    source: pulumi.Output[str]
    dashboard_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        connection: KestraConnection,
        source: pulumi.Input[str],
        origin: Optional[str] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {**connection.props(), "source": source, "origin": origin, "dashboard_id": None}
        super().__init__(DashboardProvider(), resource_name, props, _options(opts))


class NamespaceFlows(pulumi.dynamic.Resource, module="kestra", name="NamespaceFlows"):
    """Every flow of one namespace as one resource, one property per flow (see
    `NamespaceFlowsProvider`): a catalogue of hundreds of flows costs the engine a step per
    namespace, not per flow, while its diff still names each flow (``namespace/id``) that is
    added, changed or removed.

    `flows` maps each flow id to its YAML source, whose ``id`` and ``namespace`` must match;
    `directory` (e.g. ``flows/dev.testing``) names the files in messages (``<directory>/<id>.yaml``).
    Takes over, without deleting anything in Kestra, the flows that `Flow` resources of an earlier
    state held.
    """

    namespace: pulumi.Output[str]
    revisions: pulumi.Output[dict]

    def __init__(
        self,
        resource_name: str,
        *,
        connection: KestraConnection,
        namespace: str,
        flows: dict[str, pulumi.Input[str]],
        directory: Optional[str] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {**connection.props(), "namespace": namespace, "directory": directory, "revisions": None}
        props.update({flow_key(namespace, flow_id): source for flow_id, source in sorted(flows.items())})
        super().__init__(NamespaceFlowsProvider(), resource_name, props, _options(opts))
