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

Serialization: `pulumi.dynamic.Resource` pickles the provider with dill. A provider class defined
in an importable module (not ``__main__``) is pickled by reference (``kestra.resources.FlowProvider``
plus an empty instance dict), so the state holds no code; the provider host (``python -m
pulumi.dynamic``, started in the project directory) imports this module to unpickle it. Hence:
keep these class names and this module path stable, and keep this module free of side effects.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import hashlib
import json
import math
import posixpath
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
        return KestraClient(
            props["url"],
            props["username"],
            props["password"],
            props.get("tenant") or "main",
            deadline=props.get("deadline") or DEFAULT_DEADLINE,
            reuse_connections=True,  # one keep-alive connection per provider-host thread
            ca_certificate=props.get("ca_certificate") or None,
        )

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
        failures: list[CheckFailure] = []
        for key in (*CONNECTION_KEYS, *self.identity):
            value = props.get(key)
            if not _is_unknown(value) and (not isinstance(value, str) or not value.strip()):
                failures.append(CheckFailure(key, f"{self.describe(props)}: {key} must be a non-empty string"))
        url = props.get("url")
        if isinstance(url, str) and not _is_unknown(url) and not url.startswith(("http://", "https://")):
            failures.append(CheckFailure("url", f"{self.describe(props)}: url must start with http:// or https://"))
        ca = props.get("ca_certificate")
        if ca is not None and not _is_unknown(ca) and (
            not isinstance(ca, str) or "-----BEGIN CERTIFICATE-----" not in ca
        ):
            failures.append(CheckFailure("ca_certificate", f"{self.describe(props)}: ca_certificate must be PEM text"))
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
        reasons = []
        for key, prop in (("id", "flow_id"), ("namespace", "namespace")):
            inside, expected = parsed.get(key), props.get(prop)
            if not inside:
                reasons.append(f"the source has no '{key}'")
            elif not _is_unknown(expected) and inside != expected:
                reasons.append(f"the source says {key}: {inside!r} but the resource expects {expected!r}")
        return reasons

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
