"""A Kestra 1.1 stand-in: an HTTP server answering the REST calls kestra-gcp makes.

`KestraStandin` serves ``/api/v1/{tenant}/...`` on 127.0.0.1 (random port) from a
`ThreadingHTTPServer` in a background thread, with the paths, content types, status codes and
JSON shapes of Kestra's webserver controllers (FlowController, NamespaceFileController,
KVController, DashboardController, ExecutionController, LogController, MiscController) and of its
ErrorController (Micronaut ``JsonError``: ``{"message", "logref", "path", "_links",
"_embedded": {"errors": [{"message", "path", ...}]}}``).

It is a model of Kestra 1.1 (fork erickirt/kestra at ee63c33ef3, where the 1.1 branch was cut),
held against a real Kestra 1.1.7: tests/kestra/test_standin_differential.py sends the same
requests (tests/support/differential.py) to the stand-in and compares its answers with the real
server's, recorded in tests/kestra/standin_recorded.json — status, content type and the JSON
fields the client reads — for every route `KestraStandin.routes()` declares. Every behaviour a
client can trip on carries a comment naming the controller/repository method it imitates;
tests/kestra/test_standin.py pins the ones the recording does not reach. `KEPT_DIFFERENCES` lists
what the stand-in answers differently on purpose, and why.

Routing is Micronaut 4's (RequestLifecycle / DefaultRouter), generically: each `Route` declares
what it consumes and produces; the routes of the request's method and path that consume its
Content-Type and produce what it accepts are the candidates, the template with the fewest
variables wins; with no candidate, the routes of that method on the path decide: 415 when one of
them does not consume the Content-Type, else 406 when one does not produce the Accept; with none
of that method, 405, else 404 (RequestLifecycle.onRouteMiss; `route`).

What it models: basic auth (401 + ``WWW-Authenticate: Basic``, empty body, like
AuthenticationFilter; ``/api/v1/configs`` is open); flows with revisions that grow only when the
stored source changes, a delete that is a revision of its own and a re-creation that continues the
count; flow parsing and validation in Kestra's two failure shapes — a document Jackson cannot read
(unknown top-level property, unknown task/trigger type from a small known set: the first one in
document order) and model constraints (id/namespace patterns, ``tasks`` not empty, Log's
``message``) — on create/update (422) and on ``/flows/validate`` (200 with ``constraints``), split on
lines starting with ``---`` like FlowService.validate; namespace files with folders, a delete that
answers 200 either way and cascades like deleteFileDirectory; KV entries read like Kestra's Ion
mapper and typed like KVController; dashboards (``id`` mandatory, title, chart and data types);
executions, their task runs, outputs and leveled logs (`tests/support/standin_executions.py`),
which go CREATED → RUNNING → end state one step per poll and can be scripted per flow; the
executions search in its legacy and ``filters[...]`` forms.

What it does not model: Kestra's real plugin schemas, templating, scheduling, storage revisions,
multi-tenancy rules of the Enterprise edition (tenants are just separate stores here).

Every request is recorded (`requests`), and faults can be queued (`inject`): N answers with a
status (503 while "booting"), connection resets before or after the write is applied, slow replies,
and a server that refuses connections until it is started (`start(delay=...)`).

``python -m tests.support.kestra_standin`` runs one in its own process (prints its URL and login as
JSON, serves until stdin closes); ``GET /_standin/stats`` and ``POST /_standin/reset-log`` (no auth,
not Kestra paths) let another process count requests.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import re
import socket
import struct
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

# What the stand-in answers differently from Kestra 1.1.7 on purpose. The differential test
# (tests/kestra/test_standin_differential.py) skips the compared JSON fields of an exchange that
# names one of these keys (status and content type are still compared), and fails when a key here
# is named by no exchange of tests/support/differential.py (except those it cannot send).
KEPT_DIFFERENCES: dict[str, str] = {
    "hazard": (
        "A PUT of a flow or dashboard that does not exist: Kestra answers 404 with a JSON body "
        "({\"message\": \"Not Found\"}) in about half of the tries and freezes in the others "
        "(kestra-io/kestra#12984); the stand-in refuses it with a 500 and records it, so a test that "
        "sends it fails (tests/conftest.py). Never sent to the real server, so no exchange names it."
    ),
    "yaml syntax": (
        "The wording of YAML syntax errors: Kestra parses with SnakeYAML through Jackson, the stand-in "
        "with PyYAML; they even disagree on what is a syntax error (`id: [unclosed` is one for PyYAML, "
        "an array for SnakeYAML). Status and content type agree (422, JSON)."
    ),
    "json flow routes": (
        "The deprecated JSON flow routes (FlowController.createFlowFromJson, updateFlowFromJson, "
        "updateFlowsInNamespaceFromJson) are routed (so a JSON body is not a 415) but not modelled: "
        "a body that is not JSON is a 500 as on Kestra, anything else but an empty list a 422, both "
        "with the stand-in's own message. The client never sends JSON flows."
    ),
    "unmodelled routes": (
        "Only the routes in `KestraStandin.routes()` exist here: a 405 lists the methods of those, not "
        "of Kestra's other routes on the path (DELETE /executions/{id}, for one), and a path only "
        "Kestra serves is a 404 here."
    ),
    "date parse errors": (
        "The position Java's DateTimeFormatter reports in a malformed search date (\"could not be "
        "parsed at index N\") is modelled for the shapes a client sends by mistake (no offset, "
        "microseconds); a date of the right shape that does not exist (month 13) gets Python's words."
    ),
}

KNOWN_TYPES = {
    "io.kestra.plugin.core.log.Log",
    "io.kestra.plugin.core.debug.Return",
    "io.kestra.plugin.core.flow.ForEach",
    "io.kestra.plugin.core.flow.Parallel",
    "io.kestra.plugin.core.flow.Sequential",
    "io.kestra.plugin.core.flow.Subflow",
    "io.kestra.plugin.core.flow.If",
    "io.kestra.plugin.core.flow.Switch",
    "io.kestra.plugin.core.execution.Fail",
    "io.kestra.plugin.core.http.Request",
    "io.kestra.plugin.core.http.Download",
    "io.kestra.plugin.core.storage.Write",
    "io.kestra.plugin.core.output.OutputValues",
    "io.kestra.plugin.scripts.shell.Commands",
    "io.kestra.plugin.core.trigger.Schedule",
    "io.kestra.plugin.core.trigger.Flow",
    "io.kestra.plugin.scripts.python.Script",
    "io.kestra.plugin.scripts.python.Commands",
    "io.kestra.plugin.jdbc.duckdb.Query",
    "io.kestra.plugin.git.NamespaceSync",
    "io.kestra.plugin.git.TenantSync",
    "io.kestra.plugin.gcp.gcs.Upload",
    "io.kestra.plugin.gcp.gcs.Download",
    "io.kestra.plugin.gcp.gcs.List",
    "io.kestra.plugin.gcp.gcs.Copy",
    "io.kestra.plugin.gcp.gcs.Delete",
    "io.kestra.plugin.gcp.gcs.DeleteList",
    "io.kestra.plugin.gcp.bigquery.Query",
    "io.kestra.plugin.gcp.bigquery.LoadFromGcs",
    "io.kestra.plugin.gcp.pubsub.Publish",
    "io.kestra.plugin.gcp.pubsub.RealtimeTrigger",
}

# Required properties of known tasks that a flow commonly forgets (the @NotNull of each plugin
# class, e.g. Log.message); everything else of the plugin schemas is not modelled.
REQUIRED_PROPERTIES = {"io.kestra.plugin.core.log.Log": ("message",)}

# The properties Jackson lists when a flow has one it does not know, in the order Kestra 1.1.7
# prints them (a HashSet's order: recorded from the real server, FlowWithSource's 24 properties).
FLOW_PROPERTIES = (
    "workerGroup", "finally", "tenantId", "retry", "inputs", "errors", "tasks", "outputs", "concurrency",
    "variables", "deleted", "id", "description", "labels", "pluginDefaults", "sla", "taskDefaults",
    "namespace", "disabled", "listeners", "revision", "afterExecution", "triggers", "source",
)
FLOW_CLASS = "io.kestra.core.models.flows.FlowWithSource"
# AbstractFlow: @Pattern on id and namespace, @Size(max = 100 / 150).
FLOW_ID_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9._-]*"
NAMESPACE_PATTERN = "^[a-z0-9][a-z0-9._-]*"

# Dashboard chart and data types (io.kestra.plugin.core.dashboard.chart/data in 1.1).
DASHBOARD_CHARTS = {f"io.kestra.plugin.core.dashboard.chart.{t}" for t in ("Bar", "KPI", "Markdown", "Pie", "Table",
                                                                             "TimeSeries")}
DASHBOARD_DATA = {f"io.kestra.plugin.core.dashboard.data.{t}" for t in (
    "Executions", "ExecutionsKPI", "Flows", "FlowsKPI", "Logs", "LogsKPI", "Metrics", "MetricsKPI", "Triggers")}
DASHBOARD_CLASS = "io.kestra.core.models.dashboards.Dashboard"

# Where LocalStorage keeps namespace files; Kestra's file-not-found messages carry the absolute
# path. The official image's base path; the real server's own differs (the differential test
# compares these messages from "/_files/" on).
STORAGE_BASE = "/app/storage"

KV_KEY = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
KV_KEY_MESSAGE = (
    "Illegal argument: Key must start with an alphanumeric character (uppercase or lowercase) and can "
    "contain alphanumeric characters (uppercase or lowercase), dots (.), underscores (_), and hyphens (-) only."
)

# Micronaut media types, as the controllers name them (io.micronaut.http.MediaType).
JSON = "application/json"  # the default of every route that declares nothing
YAML = "application/x-yaml"  # MediaType.APPLICATION_YAML ("application/yaml" is not it: 415)
TEXT = "text/plain"
OCTET = "application/octet-stream"
MULTIPART = "multipart/form-data"

# FlowService.validate splits the body with the Java regex "\\n+---\\n*?" (the lazy tail matches
# nothing): before every line that starts with "---", wherever it is.
VALIDATE_SPLIT = re.compile(r"\n+---")

# HttpStatus reasons, the prefix ErrorController.jsonError puts before a message.
REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
           415: "Unsupported Media Type", 500: "Internal server error"}


def _bare(media: str) -> str:
    return media.split(";", 1)[0].strip().lower()


def _media_in(ctype: str, allowed: tuple) -> bool:
    """Whether a Content-Type is among a route's ``consumes`` (``*/*`` takes anything)."""
    return "*/*" in allowed or _bare(ctype) in allowed


def _accepts(accept: str, produces: tuple) -> bool:
    """Whether an Accept header lets through one of a route's ``produces``.

    No Accept, ``*/*`` and ``type/*`` match; otherwise one listed type must equal one produced.
    """
    wanted = [_bare(a) for a in accept.split(",") if a.strip()]
    if not wanted:
        return True
    for want in wanted:
        for have in produces:
            if want == "*/*" or want == have or (want.endswith("/*") and have.startswith(want[:-1])):
                return True
    return False


@dataclass
class Route:
    """One controller method: verb, path under ``/api/v1/{tenant}/`` (``*`` = a path variable;
    with `tenanted` False, under ``/api/v1/``), handler, and the media types its annotation
    declares (Micronaut default: JSON both ways); `open`: no authentication."""

    method: str
    pattern: str
    handler: Callable
    consumes: tuple = (JSON,)
    produces: tuple = (JSON,)
    tenanted: bool = True
    open: bool = False

    def match(self, parts: list[str]) -> Optional[list[str]]:
        pat = self.pattern.split("/")
        if len(pat) != len(parts) or not all(p == "*" or p == q for p, q in zip(pat, parts)):
            return None
        return [q for p, q in zip(pat, parts) if p == "*"]


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    status: Optional[int]  # None when the fault closed the connection without an answer
    authorized: bool


@dataclass
class Fault:
    """A queued misbehaviour; see `KestraStandin.inject`."""

    kind: str  # "status" | "reset" | "slow"
    when: str = "before"  # "before" the request is handled, or "after" it was applied
    status: int = 503
    seconds: float = 0.0
    method: Optional[str] = None
    path_contains: Optional[str] = None
    remaining: int = 1
    path: Optional[str] = None  # exact path, e.g. "/api/v1/main/flows" (not ".../flows/validate")

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
            and (self.path is None or self.path == path)
        )


@dataclass
class _Flow:
    source: str
    parsed: dict
    revision: int
    history: list = field(default_factory=list)  # earlier (revision, source), oldest first


class _Problem(Exception):
    """An error answer: HTTP status, the JsonError message and its embedded errors
    (``[{"message", "path"}]``)."""

    def __init__(self, status: int, message: str, errors: Optional[list] = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or []


class _Unreadable(Exception):
    """A document Jackson cannot read (YamlParser.toConstraintViolationException): a
    ConstraintViolationException whose message is `message`, with `errors` ``[(message, path)]``."""

    def __init__(self, message: str, errors: list):
        super().__init__(message)
        self.message, self.errors = message, errors

    def problem(self) -> _Problem:
        # ErrorController.error(ConstraintViolationException): "Invalid entity: " + getMessage().
        return _Problem(422, f"Invalid entity: {self.message}", [{"message": m, "path": p} for m, p in self.errors])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _model_violations(violations: list[tuple[str, str, str]]) -> _Problem:
    """ModelValidator's KestraConstraintViolationException as ErrorController renders it: 422
    "Invalid entity: " + one "path: message\\n" per violation (a task's index replaced by its id),
    embedded errors with the property path. `violations`: (message path, message, property path)."""
    return _Problem(422, "Invalid entity: " + _model_text(violations),
                    [{"message": m, "path": p} for _, m, p in violations])


def _model_text(violations: list[tuple[str, str, str]]) -> str:
    """KestraConstraintViolationException.getMessage."""
    return "".join(f"{where}: {message}\n" for where, message, _ in violations)


def _manual(path_msgs: list[tuple[str, str]]) -> _Problem:
    """A ConstraintViolationException of ManualConstraintViolations (jakarta's getMessage: "path:
    message" joined with ", "), e.g. "flow.id: Flow id already exists"; 422 "Invalid entity: ..."."""
    text = ", ".join(f"{p}: {m}" for p, m in path_msgs)
    return _Problem(422, f"Invalid entity: {text}", [{"message": m, "path": p} for p, m in path_msgs])


def _invalid_type(type_id: Any, chain: str, source: str) -> _Unreadable:
    """YamlParser.toConstraintViolationException for an InvalidTypeIdException: the message
    "Invalid type: X" and two violations on the Jackson reference chain (the short text and
    Jackson's own). `source`: where Jackson read from (a flow is converted from a map: UNKNOWN)."""
    jackson = (f"Could not resolve type id '{type_id}' as a subtype of `io.kestra.core.models.Plugin`: "
               f"No plugin registered for the defined type: '{type_id}'\n at [Source: {source}] "
               f"(through reference chain: {chain})")
    return _Unreadable(f"Invalid type: {type_id}", [(f"Invalid type: {type_id}", chain), (jackson, chain)])


def _eof_location(text: str) -> str:
    """Jackson's location at the end of a YAML text: "(StringReader); line: L, column: C"."""
    lines = text.split("\n")
    return f"(StringReader); line: {len(lines)}, column: {len(lines[-1]) + 1}"


def _kv_type(value: Any) -> str:
    """KVType.from for what JSON can hold, and Ion timestamps (`IonTimestamp`)."""
    if isinstance(value, IonTimestamp):
        return "DATETIME"
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, (int, float)):
        return "NUMBER"
    if isinstance(value, (dict, list)):
        return "JSON"
    return "STRING"


class IonTimestamp(str):
    """An Ion timestamp literal stored in the KV store (KVType DATETIME), kept as its text."""


ION_SYMBOL = re.compile(r"^\s*([A-Za-z_$][A-Za-z0-9_$]*)")
ION_QUOTED_SYMBOL = re.compile(r"^\s*'((?:[^'\\\n]|\\.)*)'")
ION_TIMESTAMP = re.compile(r"^\s*(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))(?![\w:.+-])")


def _ion_value(text: str) -> Any:
    """The first value of `text` as KVController.setKeyValue reads it (JacksonMapper.ofIon().readTree).

    Ion is a superset of JSON read one value at a time: a JSON value is read as such (whatever
    follows it is ignored), a bare word is a symbol (a string: ``not json{`` stores "not"), a
    quoted symbol too, and an ISO timestamp is a timestamp (DATETIME). Ion's other forms (structs
    with unquoted field names, blobs, s-expressions) are not modelled: ValueError, as for text that
    is no value at all (Kestra: 422 "Invalid JSON value for: ...").
    """
    stamp = ION_TIMESTAMP.match(text)
    if stamp:
        return IonTimestamp(stamp.group(1))
    try:
        value, _ = json.JSONDecoder().raw_decode(text.lstrip())
        return value
    except ValueError:
        pass
    for pattern in (ION_SYMBOL, ION_QUOTED_SYMBOL):
        found = pattern.match(text)
        if found and found.group(1) not in ("true", "false", "null"):
            return found.group(1)
    raise ValueError(text)


class KestraStandin:
    """The stand-in server; `start()` it, use `url`, `stop()` it (or use it as a context manager).

    State is per tenant: ``flows[(tenant, ns, id)]``, ``files[(tenant, ns, path)]``,
    ``kv[(tenant, ns, key)]``, ``dashboards[(tenant, id)]``, ``executions[id]``.
    """

    # Every stand-in made, so a suite-wide check (tests/conftest.py) finds any that saw a hazard.
    instances: "weakref.WeakSet[KestraStandin]" = weakref.WeakSet()

    def __init__(self, username: str = "admin@kestra.io", password: str = "Passw0rd!x") -> None:
        KestraStandin.instances.add(self)
        # Requests that a real Kestra 1.1 may answer by freezing (see `_hazard`): a test that
        # makes one fails, whatever the client does with the answer.
        self.hazards: list[str] = []
        self.username = username
        self.password = password
        self.known_types = set(KNOWN_TYPES)
        self.flows: dict[tuple, _Flow] = {}
        # Deleted flows: their revisions, the deletion's own included (the revision count goes on
        # when the flow is created again, as AbstractJdbcFlowRepository.delete saves a deleted
        # revision and create continues from the last one).
        self.deleted_flows: dict[tuple, list] = {}
        self.files: dict[tuple, bytes] = {}
        self.folders: set[tuple] = set()  # (tenant, ns, "/dir/"): LocalStorage keeps empty folders
        self.kv: dict[tuple, Any] = {}
        self.dashboards: dict[tuple, dict] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        # Executions, their task runs, outputs and logs: tests/support/standin_executions.py.
        # Imported here, not at the top, so that module can stay free of this one's names.
        from tests.support.standin_executions import ExecutionModel

        self.execution_model = ExecutionModel(
            problem=_Problem, multipart=_multipart, base_url=lambda: self.url,
            flow=lambda tenant, ns, fid: self.flows.get((tenant, ns, fid)),
        )
        self.executions = self.execution_model.executions
        # Shorthand for how executions of (namespace, flow_id) end: {"state": "FAILED" | "SUCCESS" |
        # "WARNING" | "KILLED" | "RUNNING" (never ends), "task": the task that ends so, "error": its
        # log line}. Default: SUCCESS. `execution_model.script(...)` programs more (outputs, logs).
        self.execution_outcomes = self.execution_model.outcomes
        self.lock = threading.RLock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._timer: Optional[threading.Timer] = None
        self._tls_servers: list[ThreadingHTTPServer] = []
        self.tls_failures: list[str] = []  # why each TLS handshake of `listen_tls` failed
        self.port = 0
        # Docker volumes holding this Kestra's data (`keep_data_in_volumes`): role → (store,
        # volume name), and the CreatedAt of the volume the data was last seen in.
        self._volumes: dict[str, tuple[str, str]] = {}
        self._volume_seen: dict[str, Optional[str]] = {}
        # The echo store whose Helm release runs this Kestra on GKE (`store_internal_storage_in_gcs`).
        self._gcs_store: Optional[str] = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, delay: float = 0.0) -> "KestraStandin":
        """Listens now, or after `delay` seconds (connections are refused until then)."""
        if not self.port:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
            probe.close()
        if delay > 0:
            self._timer = threading.Timer(delay, self._listen)
            self._timer.daemon = True
            self._timer.start()
        else:
            self._listen()
        return self

    def _listen(self) -> None:
        standin = self

        class Handler(_Handler):
            server_standin = standin

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def listen_tls(self, host: str, port: int, context: Callable[[], "ssl.SSLContext"]) -> int:
        """Also serves the same Kestra over HTTPS on host:port, as a TLS-terminating load
        balancer in front of it would. `context()` is asked for the server context at every
        handshake (the certificate it serves may change while the stand-in runs); when it
        raises, the connection is closed before the handshake completes, as a load balancer with
        no certificate for the address does. Returns the port (`port` 0: a free one). Stopped by
        `stop()`."""
        import ssl

        standin = self

        class Handler(_Handler):
            server_standin = standin

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        plain_get_request = server.get_request

        def get_request():
            sock, address = plain_get_request()
            try:
                sock.settimeout(10)
                wrapped = context().wrap_socket(sock, server_side=True)
                wrapped.settimeout(None)
                return wrapped, address
            except Exception as problem:  # noqa: BLE001 (any failure ends this connection only)
                self.tls_failures.append(f"{type(problem).__name__}: {problem}")
                sock.close()
                raise OSError(str(problem)) from problem

        server.get_request = get_request
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self._tls_servers.append(server)
        return server.server_address[1]

    def stop(self) -> None:
        """Stops listening; state is kept, so `start()` again models a restart."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for server in self._tls_servers:
            server.shutdown()
            server.server_close()
        self._tls_servers = []

    def __enter__(self) -> "KestraStandin":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- test helpers -------------------------------------------------------------------------

    def inject(
        self,
        kind: str,
        *,
        count: int = 1,
        when: str = "before",
        status: int = 503,
        seconds: float = 0.0,
        method: Optional[str] = None,
        path_contains: Optional[str] = None,
        path: Optional[str] = None,
    ) -> None:
        """Queues a fault for the next `count` requests matching method and path (all if None).

        kind "status": answer `status` (e.g. 503 "still starting"); "reset": close the socket
        without answering; "slow": sleep `seconds` first. `when="after"` applies the request to
        the state first and then misbehaves (a write that happened although the client saw a
        failure).
        """
        assert kind in ("status", "reset", "slow") and when in ("before", "after")
        with self.lock:
            self.faults.append(Fault(kind, when, status, seconds, method, path_contains, count, path))

    def calls(self, method: Optional[str] = None, path_contains: str = "") -> list[Recorded]:
        """Recorded requests, filtered by method and a path fragment."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and path_contains in r.path
            ]

    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def flow_source(self, namespace: str, flow_id: str, tenant: str = "main") -> Optional[str]:
        flow = self.flows.get((tenant, namespace, flow_id))
        return flow.source if flow else None

    def put_flow_directly(self, source: str, tenant: str = "main") -> None:
        """Writes a flow as if someone had edited it in the UI (for drift tests)."""
        parsed = yaml.safe_load(source)
        key = (tenant, parsed["namespace"], parsed["id"])
        with self.lock:
            old = self.flows.get(key)
            history = [*old.history, (old.revision, old.source)] if old else self.deleted_flows.pop(key, [])
            self.flows[key] = _Flow(source, parsed, history[-1][0] + 1 if history else 1, history)

    def keep_data_in_volumes(self, store: str, database: str, storage: str) -> None:
        """Keeps this Kestra's data where Kestra 1.1 on the Docker runtime keeps it: in two named
        volumes of the echo plugins' Docker engine (`store`, PULUMI_ECHO_PLUGIN_STORE). Postgres'
        volume (`database`) holds the JDBC repositories: flows and their revisions, dashboards,
        executions and the KV metadata; the internal storage's volume (`storage`, LocalStorage
        under /app/storage) holds the namespace files and the KV values. A KV entry needs both:
        Kestra 1.1's core/src/main/java/io/kestra/core/storages/kv/InternalKVStore.java `put` saves
        the entry's metadata with `KvMetadataRepositoryInterface.save`, then the Ion-serialised value
        with `StorageInterface.put` at `KVStore.storageUri` (``/<ns>/_kv/<key>.ion``); namespace files
        live under StorageContext's PREFIX_FORMAT_NAMESPACE_FILE (``/<ns>/_files``).

        When a volume is removed, or is another volume by the same name (its CreatedAt changed),
        what lived in it is gone: a Kestra started on it finds it empty. The check runs before
        every request, as the container's mounts are what Kestra reads at every call."""
        with self.lock:
            self._volumes = {"database": (store, database), "storage": (store, storage)}
            self._volume_seen = {}

    def store_internal_storage_in_gcs(self, store: str) -> None:
        """Keeps the internal storage where Kestra on the gke runtime keeps it: in the GCS bucket of
        its configuration, reached as the Google service account its pods' Kubernetes
        ServiceAccount is bound to (Workload Identity). The echo plugins' store (`store`) says
        which: the Helm release's values and the grants GCP holds.

        Kestra's GcsStorage builds its client at boot and first calls GCS at a write
        (kestra-io/storage-gcs, GcsStorage.init and put), so a KV value (InternalKVStore.put stores
        it at KVStore.storageUri) or a namespace file is what fails while the pods may not act as
        the account, or the account may not create objects in the bucket: GcsStorage.put wraps
        the StorageException in an IOException, which ErrorController's Throwable handler answers
        with 500 "Internal server error: <message>" (webserver/.../ErrorController.java)."""
        with self.lock:
            self._gcs_store = store

    def _internal_storage_refusal(self) -> Optional[str]:
        """Why GCS refuses this Kestra's write to its internal storage now (None: it accepts).

        - Workload Identity: the pods' credential is minted by the GKE metadata server for the
          Google service account the Kubernetes ServiceAccount is annotated with
          (iam.gke.io/gcp-service-account) only while ``roles/iam.workloadIdentityUser`` on that
          account is granted to ``serviceAccount:<project>.svc.id.goog[<namespace>/<ksa>]``;
          otherwise IAM refuses iam.serviceAccounts.getAccessToken (google/skills,
          skills/cloud/gke-workload-identity/SKILL.md, symptoms), which the Java client reports as
          "Unexpected Error code 403 trying to get security access token from Compute Engine
          metadata for the default service account: <answer>"
          (googleapis/google-auth-library-java, ComputeEngineCredentials.refreshAccessToken).
        - The bucket: creating an object needs storage.objects.create on it (roles/storage.objectAdmin,
          objectCreator or admin); GCS answers 403 "<account> does not have storage.objects.create
          access to the Google Cloud Storage object." (Cloud Storage docs, "Troubleshooting",
          403 errors).
        """
        from tests.support.echo_cloud import live_resources

        releases = live_resources(self._gcs_store, "kubernetes:helm.sh/v3:Release")
        if not releases:
            return None
        release = releases[0]["outputs"]
        values = release.get("values") or {}
        account = ((values.get("serviceAccount") or {}).get("annotations") or {}).get("iam.gke.io/gcp-service-account")
        gcs = ((((values.get("configurations") or {}).get("application") or {}).get("kestra") or {})
               .get("storage") or {}).get("gcs") or {}
        if not account or not gcs.get("bucket"):
            return None
        project = account.split("@", 1)[1].removesuffix(".iam.gserviceaccount.com")
        ksa = (values.get("serviceAccount") or {}).get("name") or release.get("name")
        pool_member = f"serviceAccount:{project}.svc.id.goog[{release.get('namespace')}/{ksa}]"
        bound = any(
            g["outputs"].get("role") == "roles/iam.workloadIdentityUser" and g["outputs"].get("member") == pool_member
            and str(g["outputs"].get("serviceAccountId", "")).rsplit("/", 1)[-1] == account
            for g in live_resources(self._gcs_store, "gcp:serviceaccount/iAMMember:IAMMember"))
        if not bound:
            return ("com.google.cloud.storage.StorageException: Unexpected Error code 403 trying to get security access "
                    "token from Compute Engine metadata for the default service account: Unable to generate access "
                    "token; IAM returned 403 Forbidden: Permission 'iam.serviceAccounts.getAccessToken' denied on "
                    "resource (or it may not exist).")
        creators = {"roles/storage.objectAdmin", "roles/storage.objectCreator", "roles/storage.admin"}
        granted = any(
            g["outputs"].get("bucket") == gcs["bucket"] and g["outputs"].get("member") == f"serviceAccount:{account}"
            and g["outputs"].get("role") in creators
            for g in live_resources(self._gcs_store, "gcp:storage/bucketIAMMember:BucketIAMMember"))
        if not granted:
            return (f"com.google.cloud.storage.StorageException: {account} does not have storage.objects.create access "
                    "to the Google Cloud Storage object.")
        return None

    def _write_internal_storage(self) -> None:
        """Raises Kestra's answer when GCS refuses a write to the internal storage."""
        if self._gcs_store is None:
            return
        refusal = self._internal_storage_refusal()
        if refusal:
            raise _Problem(500, f"Internal server error: {refusal}")

    def _sync_volumes(self) -> None:
        for role, (store, name) in self._volumes.items():
            record = Path(store) / "docker-engine" / "volumes" / f"{name}.json"
            try:
                created = json.loads(record.read_text())["CreatedAt"]
            except (OSError, ValueError, KeyError):
                created = None
            if role in self._volume_seen and self._volume_seen[role] == created:
                continue
            self._volume_seen[role] = created
            if role == "database":
                self.flows.clear()
                self.deleted_flows.clear()
                self.dashboards.clear()
                self.executions.clear()
            else:
                self.files.clear()
                self.folders.clear()
            self.kv.clear()

    # -- request handling -----------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _authorized(self, header: Optional[str]) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, pwd = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.username and pwd == self.password

    def _on_path(self, path: str) -> list[tuple["Route", str, list[str]]]:
        """Every route whose template matches the path, any method: (route, tenant, path variables)."""
        m = re.match(r"^/api/v1/(.*)$", path)
        if not m:
            return []
        parts = [unquote(p) for p in m.group(1).split("/")]
        found = []
        for route in self.routes():
            if route.tenanted:
                args = route.match(parts[1:]) if len(parts) > 1 else None
                tenant = parts[0]
            else:
                args, tenant = route.match(parts), ""
            if args is not None:
                found.append((route, tenant, args))
        return found

    def is_open(self, method: str, path: str) -> bool:
        """Whether the request needs no login (AuthenticationFilter lets ``/api/v1/configs`` through)."""
        return any(r.open and r.method == method for r, _, _ in self._on_path(path))

    def route(
        self, method: str, path: str, query: dict, ctype: str, body: bytes, accept: str = "", raw_query: str = ""
    ) -> tuple[int, str, bytes]:
        """Answers one authenticated API request: (status, content type, body).

        Micronaut 4's routing: the routes of this method and path that consume the Content-Type
        (for a method with a body: GET ignores it) and produce an accepted type are the
        candidates (DefaultRouter.findAllClosest); the template with the fewest variables wins
        ("flows/validate" over "flows/{namespace}").
        With none, RequestLifecycle.onRouteMiss looks at the routes of the request's method on
        the path: 415 when one does not consume the Content-Type (listing what those consume),
        else 406 when one does not produce the Accept; with no route of that method there, 405
        (the methods that have one), else 404. (Measured on Kestra 1.1.7's Micronaut 4.9.12.)
        Each `Route` declares its media types as the 1.1 controller annotation does.
        """
        on_path = self._on_path(path)
        # Only a method that permits a body has its Content-Type matched (HttpMethod.permitsRequestBody).
        body_method = method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS")
        candidates = [
            (r, tenant, args) for r, tenant, args in on_path
            if r.method == method and (not ctype or not body_method or _media_in(ctype, r.consumes))
            and _accepts(accept, r.produces)
        ]
        if candidates:
            fewest = min(r.pattern.count("*") for r, _, _ in candidates)
            route, tenant, args = next(c for c in candidates if c[0].pattern.count("*") == fewest)
            with self.lock:
                if route.tenanted:
                    return route.handler(tenant, *args, query=query, ctype=ctype, body=body)
                return route.handler(query=query, ctype=ctype, body=body)
        full = path + (f"?{raw_query}" if raw_query else "")
        same = [r for r, _, _ in on_path if r.method == method]
        consumable = [t for r in same if ctype and not _media_in(ctype, r.consumes) for t in r.consumes]
        if consumable:
            raise _Problem(415, f"Unsupported Media Type: Content Type [{ctype}] not allowed. "
                                f"Allowed types: {_java_set(consumable)}")
        producible = [t for r in same if accept and not _accepts(accept, r.produces) for t in r.produces]
        if producible:
            wanted = [a.strip() for a in accept.split(",") if a.strip()]
            raise _Problem(406, f"Not Acceptable: Specified Accept Types [{', '.join(wanted)}] not supported. "
                                f"Supported types: {_java_set(producible)}")
        methods = [r.method for r, _, _ in on_path if r.method != method]
        methods += ["HEAD" for r, _, _ in on_path if r.method == "GET" and method != "HEAD"]  # implicit HEAD routes
        if not same and methods:
            raise _Problem(405, f"Method Not Allowed: Method [{method}] not allowed for URI [{full}]. "
                                f"Allowed methods: {_java_set(methods)}")
        raise _Problem(404, "Not Found")  # ErrorController.notFound, the NOT_FOUND status route

    def routes(self) -> list["Route"]:
        """The Kestra 1.1 routes the stand-in serves, with their media types, in the order the
        route-miss messages list their types (tests/kestra/test_standin_differential.py sends
        each of them to the real server)."""
        J, Y, ALL = (JSON,), (YAML,), ("*/*",)
        return [
            # MiscController.getConfiguration: @Get("/api/v1/configs"), no tenant, open to anyone.
            Route("GET", "configs", self._configs, tenanted=False, open=True),
            # FlowController.validateFlows: @Post(uri = "validate", consumes = APPLICATION_YAML) — no multipart before 1.3.
            Route("POST", "flows/validate", self._validate_flows, consumes=Y),
            # FlowController.createFlow: @Post(consumes = APPLICATION_YAML).
            Route("POST", "flows", self._create_flow, consumes=Y),
            # FlowController.createFlowFromJson: @Post(consumes = ALL), deprecated JSON variant.
            Route("POST", "flows", self._json_flow_variant, consumes=ALL),
            # FlowController.searchFlows: @Get(uri = "/search").
            Route("GET", "flows/search", self._search_flows),
            # FlowController.listFlowRevisions: @Get(uri = "{namespace}/{id}/revisions").
            Route("GET", "flows/*/*/revisions", self._flow_revisions),
            # FlowController.getFlow: @Get(uri = "{namespace}/{id}").
            Route("GET", "flows/*/*", self._get_flow),
            # FlowController.updateFlow: @Put(uri = "{namespace}/{id}", consumes = APPLICATION_YAML);
            # updateFlowFromJson is the same path consuming APPLICATION_JSON.
            Route("PUT", "flows/*/*", self._update_flow, consumes=Y),
            Route("PUT", "flows/*/*", self._json_flow_variant, consumes=J),
            # FlowController.deleteFlow: @Delete(uri = "{namespace}/{id}").
            Route("DELETE", "flows/*/*", self._delete_flow),
            # FlowController.updateFlowsInNamespace: @Post(uri = "{namespace}", consumes = APPLICATION_YAML);
            # updateFlowsInNamespaceFromJson takes the default (JSON).
            Route("POST", "flows/*", self._bulk_namespace, consumes=Y),
            Route("POST", "flows/*", self._json_flow_variant, consumes=J),
            # FlowController.listFlowsByNamespace: @Get(uri = "/{namespace}").
            Route("GET", "flows/*", self._list_flows),
            # NamespaceFileController.createNamespaceFile: @Post(uri = "{namespace}/files", consumes = MULTIPART_FORM_DATA).
            Route("POST", "namespaces/*/files", self._upload_file, consumes=(MULTIPART,)),
            # NamespaceFileController.getFileContent: @Get(uri = "{namespace}/files", produces = APPLICATION_OCTET_STREAM).
            Route("GET", "namespaces/*/files", self._get_file, produces=(OCTET,)),
            # NamespaceFileController.deleteFileDirectory: @Delete(uri = "{namespace}/files"), void.
            Route("DELETE", "namespaces/*/files", self._delete_file),
            # NamespaceFileController.listNamespaceDirectoryFiles: @Get(uri = "{namespace}/files/directory").
            Route("GET", "namespaces/*/files/directory", self._list_directory),
            # KVController.setKeyValue: @Put(uri = "/namespaces/{namespace}/kv/{key}", consumes = TEXT_PLAIN).
            Route("PUT", "namespaces/*/kv/*", self._put_kv, consumes=(TEXT,)),
            # KVController.getKeyValue / deleteKeyValue.
            Route("GET", "namespaces/*/kv/*", self._get_kv),
            Route("DELETE", "namespaces/*/kv/*", self._delete_kv),
            # DashboardController.validateDashboard: @Post(uri = "validate", consumes = APPLICATION_YAML).
            Route("POST", "dashboards/validate", self._validate_dashboard, consumes=Y),
            # DashboardController.createDashboard: @Post(consumes = APPLICATION_YAML).
            Route("POST", "dashboards", self._create_dashboard, consumes=Y),
            # DashboardController.getDashboard / updateDashboard (consumes = APPLICATION_YAML) / deleteDashboard.
            Route("GET", "dashboards/*", self._get_dashboard),
            Route("PUT", "dashboards/*", self._update_dashboard, consumes=Y),
            Route("DELETE", "dashboards/*", self._delete_dashboard),
            # ExecutionController.createExecution: @Post(uri = "/{namespace}/{id}", consumes = MULTIPART_FORM_DATA).
            Route("POST", "executions/*/*", self._trigger, consumes=(MULTIPART,)),
            # ExecutionController.searchExecutions: @Get(uri = "/search"), picked over /{executionId}
            # by the most-specific-template rule, as Micronaut does.
            Route("GET", "executions/search", self._search_executions),
            # ExecutionController.getExecution: @Get(uri = "/{executionId}").
            Route("GET", "executions/*", self._get_execution),
            # LogController.listLogsFromExecution: @Get(uri = "/{executionId}").
            Route("GET", "logs/*", self._execution_logs),
            # AiController.generateFlow: @Post(uri = "/generate/flow", produces = "application/yaml"),
            # JSON body (Micronaut's default consumes); the controller exists only with an AI provider.
            Route("POST", "ai/generate/flow", self._ai_generate_flow, produces=("application/yaml",)),
        ]

    def _configs(self, *, query, ctype, body):
        # MiscController.getConfiguration: open (no login), un-tenanted; a few of its fields.
        return _json(200, {"version": "1.1.7", "edition": "OSS", "isCustomDashboardsEnabled": True,
                           "isTemplateEnabled": False, "systemNamespace": "system"})

    def _json_flow_variant(self, tenant, *args, query, ctype, body):
        """The deprecated JSON flow routes (FlowController.*FromJson), routed but not modelled
        (KEPT_DIFFERENCES "json flow routes"): a body that is not JSON fails Jackson's parsing,
        which ErrorController's Throwable handler answers with 500; an empty list to the
        namespace variant updates nothing ([])."""
        try:
            doc = json.loads(body.decode() or "null")
        except ValueError as exc:
            raise _Problem(500, f"Internal server error: {exc}") from None
        if doc == [] and len(args) == 1:
            return _json(200, [])
        raise _Problem(422, "Invalid entity: the stand-in does not model the deprecated JSON flow routes")

    # -- flows ----------------------------------------------------------------------------------

    def _read_flow(self, source: str) -> dict:
        """The flow as Jackson reads it (YamlParser.parse into FlowWithSource), or `_Unreadable`.

        A YAML text that is no mapping or no document; the first top-level property Jackson does
        not know ("Unrecognized field"); the first task or trigger, in document order, whose type
        no plugin registers ("Invalid type: X", the Jackson reference chain as its path).
        """
        try:
            parsed = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            # KEPT_DIFFERENCES "yaml syntax": PyYAML's words, not SnakeYAML's.
            raise _Unreadable(f"Illegal flow source: {exc}".replace("\n", " "), [(str(exc), "yaml")]) from None
        if parsed is None:
            message = f"No content to map due to end-of-input\n at [Source: {_eof_location(source)}]"
            raise _Unreadable(f"Illegal Flow source: {message}", [(message, "yaml")])
        if not isinstance(parsed, dict):
            raise _Unreadable("Illegal flow source: not a YAML mapping", [("not a YAML mapping", "yaml")])
        for key, value in parsed.items():
            if key not in FLOW_PROPERTIES:
                known = ", ".join(f'"{p}"' for p in FLOW_PROPERTIES)
                text = (f'Unrecognized field "{key}" (class {FLOW_CLASS}), not marked as ignorable '
                        f"({len(FLOW_PROPERTIES)} known properties: {known}])")
                raise _Unreadable(text, [(text, f'{FLOW_CLASS}["{key}"]')])
            if key in ("tasks", "triggers", "errors", "finally", "afterExecution"):
                for chain, item in self._typed_items(value, f'{FLOW_CLASS}["{key}"]'):
                    if item.get("type") not in self.known_types:
                        raise _invalid_type(item.get("type"), chain, "UNKNOWN; byte offset: #UNKNOWN")
        return parsed

    def _typed_items(self, node: Any, chain: str):
        """Tasks and triggers under `node` (mappings carrying ``id`` and ``type``), depth first in
        document order, each with the Jackson reference chain that leads to it."""
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from self._typed_items(item, f"{chain}->java.util.ArrayList[{i}]")
        elif isinstance(node, dict):
            typed = "id" in node and "type" in node
            if typed:
                yield chain, node
            for key, value in node.items():
                if isinstance(value, (list, dict)):
                    owner = node["type"] if typed else "java.util.LinkedHashMap"
                    yield from self._typed_items(value, f'{chain}->{owner}["{key}"]')

    def _flow_violations(self, parsed: dict) -> list[tuple[str, str, str]]:
        """ModelValidator on a readable flow: (message path, message, property path) per violation."""
        found: list[tuple[str, str, str]] = []
        for prop, pattern, size in (("id", FLOW_ID_PATTERN, 100), ("namespace", NAMESPACE_PATTERN, 150)):
            value = parsed.get(prop)
            if value is None:
                found.append((prop, "must not be null", prop))
                if prop == "id":  # @NotBlank too
                    found.append((prop, "must not be blank", prop))
                continue
            value = str(value)
            if not re.fullmatch(pattern, value):
                found.append((prop, f'must match "{pattern}"', prop))
            if not 1 <= len(value) <= size:
                found.append((prop, f"size must be between 1 and {size}", prop))
        tasks = parsed.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            found.append(("tasks", "must not be empty", "tasks"))
        for i, task in enumerate(tasks if isinstance(tasks, list) else []):
            if not isinstance(task, dict):
                continue
            for prop in REQUIRED_PROPERTIES.get(task.get("type"), ()):
                if task.get(prop) is None:
                    # KestraConstraintViolationException.replaceId: "tasks[i]" becomes the task id.
                    found.append((f"{task.get('id')}.{prop}", "must not be null", f"tasks[{i}].{prop}"))
        return found

    def _flow_json(self, tenant: str, flow: _Flow, with_source: bool) -> dict:
        doc = dict(flow.parsed)
        doc.update(revision=flow.revision, tenantId=tenant, deleted=False, disabled=False)
        if with_source:
            doc["source"] = flow.source
        return doc

    def _validate_flows(self, tenant, *, query, ctype, body):
        """FlowService.validate: one ValidateConstraintViolation per piece of the split body,
        always 200. A piece Jackson cannot read has ``index``, ``outdated`` and ``constraints``
        ("jakarta.validation.ConstraintViolationException: " + the message: the exception's
        toString, as FlowProcessingException wraps it) and names no flow; a readable one has
        ``flow``, ``namespace``, ``deprecationPaths``, ``warnings``, ``infos`` and, when its model
        constraints fail, their text as ``constraints`` (nulls are not serialized). An empty body
        does not bind the required @Body: 422 "Invalid route params"."""
        if not body:
            raise _Problem(422, "Invalid route params: Required Body [flows] not specified")
        pieces = VALIDATE_SPLIT.split(body.decode())
        while len(pieces) > 1 and pieces[-1] == "":  # Java's String.split drops trailing empties
            pieces.pop()
        results = []
        for index, source in enumerate(pieces):
            try:
                parsed = self._read_flow(source)
            except _Unreadable as exc:
                results.append({"index": index, "constraints": f"jakarta.validation.ConstraintViolationException: "
                                                                f"{exc.message}", "outdated": False})
                continue
            # FlowService.deprecationTraversal names array items whose class is @Deprecated: a
            # BOOLEAN input is a BooleanInput ("inputs[i]"). It does not descend into non-array
            # objects, so retry.maxAttempt is not reported.
            inputs = parsed.get("inputs") if isinstance(parsed.get("inputs"), list) else []
            item = {"flow": parsed.get("id"), "namespace": parsed.get("namespace"), "index": index,
                    "outdated": False,
                    "deprecationPaths": [f"inputs[{i}]" for i, inp in enumerate(inputs)
                                         if isinstance(inp, dict) and inp.get("type") == "BOOLEAN"],
                    "warnings": [], "infos": []}
            violations = self._flow_violations(parsed)
            if violations:
                item["constraints"] = _model_text(violations)
            results.append(item)
        return _json(200, results)

    def _checked_flow(self, source: str) -> dict:
        """A flow that Kestra would store: readable, and valid for ModelValidator (else 422)."""
        try:
            parsed = self._read_flow(source)
        except _Unreadable as exc:
            raise exc.problem() from None
        violations = self._flow_violations(parsed)
        if violations:
            raise _model_violations(violations)
        return parsed

    def _write_flow(self, tenant: str, source: str, *, create: bool, path_ids: Optional[tuple] = None,
                    parsed: Optional[dict] = None) -> dict:
        parsed = parsed if parsed is not None else self._checked_flow(source)
        key = (tenant, parsed["namespace"], parsed["id"])
        if path_ids is not None:
            # Flow.validateUpdate: ManualConstraintViolations.
            if parsed["id"] != path_ids[1]:
                raise _manual([("flow.id", "Illegal flow id update")])
            if parsed["namespace"] != path_ids[0]:
                raise _manual([("flow.namespace", "Illegal namespace update")])
        old = self.flows.get(key)
        if create and old is not None:
            raise _manual([("flow.id", "Flow id already exists")])
        if not create and old is None:
            raise _Problem(404, "Not Found")
        # AbstractJdbcFlowRepository.save: an unchanged source (isSameWithSource) keeps the revision.
        if old is not None and old.source == source:
            return self._flow_json(tenant, old, True)
        history = [*old.history, (old.revision, old.source)] if old else self.deleted_flows.pop(key, [])
        flow = _Flow(source, parsed, history[-1][0] + 1 if history else 1, history)
        self.flows[key] = flow
        return self._flow_json(tenant, flow, True)

    def _hazard(self, what: str) -> tuple[int, str, bytes]:
        """A request a real Kestra 1.1.7 may never answer: recorded, and refused with a 500.

        FlowController.updateFlow and DashboardController.updateDashboard answer a missing object
        with ``HttpResponse.status(NOT_FOUND)``; on the real 1.1.7 server that PUT answered 404 in
        about half of the tries and in the others froze the server (heap full, endless full GCs,
        a request thread looping in Micronaut's DelayedExecutionFlowImpl; kestra-io/kestra#12984).
        A clean 404 here would hide that, so the stand-in refuses loudly instead (KEPT_DIFFERENCES
        "hazard").
        """
        text = (f"{what}: a real Kestra 1.1 can freeze on this request (kestra-io/kestra#12984); "
                "read first and create (POST) what is missing")
        self.hazards.append(text)
        return _json(500, {"message": f"Kestra stand-in refused a hazardous request: {text}"})

    def _create_flow(self, tenant, *, query, ctype, body):
        # FlowController.createFlow → FlowService.create: parse (YamlParser), ModelValidator, then
        # AbstractJdbcFlowRepository.create: 422 "flow.id: Flow id already exists".
        return _json(200, self._write_flow(tenant, body.decode(), create=True))

    def _update_flow(self, tenant, ns, fid, *, query, ctype, body):
        # FlowController.updateFlow: HttpResponse.status(NOT_FOUND) when missing — the request
        # that can freeze Kestra 1.1 (`_hazard`); then parsing and validation (422), and
        # Flow.validateUpdate refuses a changed id or namespace (422).
        if (tenant, ns, fid) not in self.flows:
            return self._hazard(f"PUT of the missing flow {ns}/{fid}")
        return _json(200, self._write_flow(tenant, body.decode(), create=False, path_ids=(ns, fid)))

    def _get_flow(self, tenant, ns, fid, *, query, ctype, body):
        # FlowController.getFlow returns null when missing (Micronaut: 404); ``source`` only with ?source=true.
        flow = self.flows.get((tenant, ns, fid))
        if flow is None:
            raise _Problem(404, "Not Found")
        return _json(200, self._flow_json(tenant, flow, query.get("source") == "true"))

    def _flow_revisions(self, tenant, ns, fid, *, query, ctype, body):
        """FlowController.listFlowRevisions: every stored revision with its source, the deletion's
        own revision included (``deleted: true``); empty for a flow that never existed."""
        flow = self.flows.get((tenant, ns, fid))
        if flow is None:
            gone = self.deleted_flows.get((tenant, ns, fid), [])
            docs = [{**yaml.safe_load(source), "revision": revision, "source": source, "tenantId": tenant,
                     "deleted": i == len(gone) - 1, "disabled": False} for i, (revision, source) in enumerate(gone)]
            return _json(200, docs)
        docs = []
        for revision, source in [*flow.history, (flow.revision, flow.source)]:
            docs.append({**self._flow_json(tenant, flow, True), "revision": revision, "source": source})
        return _json(200, docs)

    def _remove_flow(self, key: tuple) -> _Flow:
        """AbstractJdbcFlowRepository.delete: saves a deleted revision (the last one + 1) of the
        same source; a later create continues from it."""
        flow = self.flows.pop(key)
        self.deleted_flows[key] = [*flow.history, (flow.revision, flow.source), (flow.revision + 1, flow.source)]
        return flow

    def _delete_flow(self, tenant, ns, fid, *, query, ctype, body):
        # FlowController.deleteFlow: 204, or HttpResponse.status(NOT_FOUND), which the NOT_FOUND
        # status route (ErrorController.notFound) renders as JSON "Not Found".
        if (tenant, ns, fid) not in self.flows:
            raise _Problem(404, "Not Found")
        self._remove_flow((tenant, ns, fid))
        return 204, "", b""

    def _list_flows(self, tenant, ns, *, query, ctype, body):
        # FlowController.listFlowsByNamespace → flowRepository.findByNamespace: that namespace
        # only, without the source.
        flows = [f for (t, n, _), f in sorted(self.flows.items()) if t == tenant and n == ns]
        return _json(200, [self._flow_json(tenant, f, False) for f in flows])

    def _search_flows(self, tenant, *, query, ctype, body):
        """FlowController.searchFlows: ``filters[namespace][EQUALS|PREFIX]`` or the legacy
        ``namespace`` (a PREFIX: the namespace and its children, RequestUtils), paged
        (``page``, ``size`` 10 by default) → PagedResults ``{"results", "total"}``, no source."""
        filters = _filters(query)
        if filters:
            wanted = [(op, value) for fld, op, value in filters if fld == "namespace"]
            unmodelled = [(fld, op) for fld, op, _ in filters if fld != "namespace" or op not in ("EQUALS", "PREFIX")]
            if unmodelled:
                raise _Problem(422, f"Illegal argument: the stand-in does not model the flow filters {unmodelled}")
        else:
            wanted = [("PREFIX", query["namespace"])] if query.get("namespace") else []
        found = [f for (t, n, _), f in sorted(self.flows.items())
                 if t == tenant and all(_namespace_matches(n, op, v) for op, v in wanted)]
        page, size = int(query.get("page", 1)), int(query.get("size", 10))
        chunk = found[(page - 1) * size: page * size]
        return _json(200, {"results": [self._flow_json(tenant, f, False) for f in chunk], "total": len(found)})

    def _bulk_namespace(self, tenant, ns, *, query, ctype, body):
        """FlowController.updateFlowsInNamespace: splits on the literal "---" anywhere, refuses a
        flow of another namespace (a ManualConstraintViolation naming the flow's uid,
        ``tenant_namespace_id_-1``), upserts every piece; ``delete`` defaults to true (the
        namespace's other flows are deleted, listed first in the answer)."""
        sources = [s.strip() for s in body.decode().split("---")]
        parsed_all = []
        for source in sources:
            try:
                parsed = self._read_flow(source)
            except _Unreadable as exc:
                raise exc.problem() from None
            if parsed.get("namespace") != ns:
                uid = f"{tenant}_{parsed.get('namespace')}_{parsed.get('id')}_-1"
                raise _manual([("flow.namespace", f"{uid} - flow namespace is invalid")])
            parsed_all.append((source, parsed))
        for _, parsed in parsed_all:
            violations = self._flow_violations(parsed)
            if violations:
                raise _model_violations(violations)
        result = []
        if query.get("delete", "true") == "true":
            keep = {p["id"] for _, p in parsed_all}
            for key in [k for k in self.flows if k[0] == tenant and k[1] == ns and k[2] not in keep]:
                result.append(self._flow_json(tenant, self._remove_flow(key), False))
        for source, parsed in parsed_all:
            exists = (tenant, ns, parsed["id"]) in self.flows
            result.append(self._write_flow(tenant, source, create=not exists, parsed=parsed))
        return _json(200, result)

    # -- namespace files ------------------------------------------------------------------------

    def _ns_entries(self, tenant: str, ns: str) -> list[str]:
        """The namespace's storage listing as LocalStorage.allByPrefix(..., includeDirectories=true)
        gives it to the controller: files, and folders with a trailing "/"."""
        files = [k[2] for k in self.files if k[:2] == (tenant, ns)]
        folders = [k[2] for k in self.folders if k[:2] == (tenant, ns)]
        return files + folders

    @staticmethod
    def _storage_path(tenant: str, ns: str, path: str) -> str:
        """Where LocalStorage keeps a namespace file: ``{base}/{tenant}/{ns with / for .}/_files{path}``."""
        return f"{STORAGE_BASE}/{tenant}/{ns.replace('.', '/')}/_files{path}"

    def _upload_file(self, tenant, ns, *, query, ctype, body):
        path = query.get("path")
        if not path:
            raise _Problem(400, "Bad Request: Required QueryValue [path] not specified")
        parts = [(name, data) for part, name, data in _multipart(ctype, body) if part == "fileContent"]
        if not parts:
            raise _Problem(400, "Bad Request: Required Part [fileContent] not specified")
        # NamespaceFileController.createNamespaceFile extracts a .zip and imports /_flows/* as flows;
        # the stand-in models neither (the provider refuses both) and refuses /_flows instead.
        if re.match(r"^/_flows(/.*)?$", path):
            raise _Problem(422, f"Illegal argument: Forbidden path: {path}")
        path = "/" + path.lstrip("/")
        self._write_internal_storage()
        self.files[(tenant, ns, path)] = parts[0][1]
        # LocalStorage.put creates the parent folders.
        folder = path.rsplit("/", 1)[0]
        while folder:
            self.folders.add((tenant, ns, folder + "/"))
            folder = folder.rsplit("/", 1)[0]
        return 200, "", b""

    def _get_file(self, tenant, ns, *, query, ctype, body):
        # NamespaceFileController.getFileContent: storage get of a missing file throws
        # FileNotFoundException "<absolute path> (No such file or directory)" → ErrorController 404.
        path = "/" + query.get("path", "").lstrip("/")
        data = self.files.get((tenant, ns, path))
        if data is None:
            raise _Problem(404, f"Not Found: {self._storage_path(tenant, ns, path)} (No such file or directory)")
        return 200, OCTET, data

    def _delete_file(self, tenant, ns, *, query, ctype, body):
        """NamespaceFileController.deleteFileDirectory: void, so 200 whether or not the path
        exists. Before deleting it walks up from the path: while the parent folder holds at most
        one entry (the named file itself, or — when that file is missing — one other entry) it
        moves up and deletes the folder instead. So deleting a missing file whose folder holds
        exactly one other file deletes that folder and the other file with it."""
        path = "/" + query.get("path", "").lstrip("/")
        entries = self._ns_entries(tenant, ns)
        if path + "/" in entries:  # the path names a folder
            path += "/"
        while path != "/":
            parent = path[: path.rindex("/") + 1]  # a folder path ("/d/") is its own parent first
            if parent == "/":
                break
            inside = [p for p in entries if len(p) > len(parent) and p.startswith(parent)]
            if len(inside) > 1:
                break
            entries = [p for p in entries if p not in inside]
            path = parent[:-1]
        self._storage_delete(tenant, ns, path.rstrip("/") or "/")
        return 200, "", b""

    def _storage_delete(self, tenant: str, ns: str, path: str) -> None:
        """LocalStorage.delete: a folder goes with everything under it; a missing path is a no-op."""
        self.files.pop((tenant, ns, path), None)
        for store in (self.files, self.folders):
            for key in [k for k in store if k[:2] == (tenant, ns) and k[2].startswith(path + "/")]:
                store.remove(key) if isinstance(store, set) else store.pop(key)
        self.folders.discard((tenant, ns, path + "/"))

    def _list_directory(self, tenant, ns, *, query, ctype, body):
        """NamespaceFileController.listNamespaceDirectoryFiles: the folder's direct entries. The
        namespace's root always lists (empty when nothing was uploaded); another folder that does
        not exist is LocalStorage.list's FileNotFoundException "<absolute path>" → 404."""
        folder = "/" + query.get("path", "/").strip("/")
        prefix = folder.rstrip("/") + "/"
        if prefix != "/" and (tenant, ns, prefix) not in self.folders:
            raise _Problem(404, f"Not Found: {self._storage_path(tenant, ns, folder.rstrip('/'))}")
        names = {}
        for entry in self._ns_entries(tenant, ns):
            if entry.startswith(prefix) and len(entry) > len(prefix):
                name = entry[len(prefix):].split("/", 1)[0]
                is_dir = "/" in entry[len(prefix):]
                names[name] = "Directory" if is_dir or names.get(name) == "Directory" else "File"
        return _json(200, [{"fileName": n, "type": t} for n, t in sorted(names.items())])

    # -- KV -------------------------------------------------------------------------------------

    def _put_kv(self, tenant, ns, key, *, query, ctype, body):
        # KVController.setKeyValue reads the body with JacksonMapper.ofIon().readTree (`_ion_value`);
        # no value at all → IllegalArgumentException "Invalid JSON value for: <body>" → 422.
        if not KV_KEY.match(key):
            raise _Problem(422, KV_KEY_MESSAGE)
        text = body.decode()
        try:
            value = _ion_value(text)
        except ValueError:
            # Kestra quotes the body back in this message, as the real controller does.
            raise _Problem(422, f"Illegal argument: Invalid JSON value for: {text}") from None
        self._write_internal_storage()
        self.kv[(tenant, ns, key)] = value
        return 200, "", b""

    def _get_kv(self, tenant, ns, key, *, query, ctype, body):
        # KVController.getKeyValue: NoSuchElementException "No value found for key ..." → 404.
        if not KV_KEY.match(key):
            raise _Problem(422, KV_KEY_MESSAGE)
        if (tenant, ns, key) not in self.kv:
            raise _Problem(404, f"Not Found: No value found for key '{key}' in namespace '{ns}'")
        value = self.kv[(tenant, ns, key)]
        return _json(200, {"type": _kv_type(value), "value": value})

    def _delete_kv(self, tenant, ns, key, *, query, ctype, body):
        # KVController.deleteKeyValue returns KVStore.delete's boolean: false when there was no key.
        existed = self.kv.pop((tenant, ns, key), _MISSING) is not _MISSING
        return _json(200, existed)

    # -- dashboards -----------------------------------------------------------------------------

    def _read_dashboard(self, source: str) -> dict:
        """YamlParser.parse(source, Dashboard.class): the first chart (or its data) whose type no
        plugin registers is an InvalidTypeIdException (`_Unreadable`); Jackson reads the text
        directly, so its location is a line and column."""
        try:
            parsed = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise _Unreadable(f"Illegal dashboard source: {exc}".replace("\n", " "), [(str(exc), "yaml")]) from None
        if not isinstance(parsed, dict):
            raise _Unreadable("Illegal dashboard source: not a YAML mapping", [("not a YAML mapping", "yaml")])
        charts = parsed.get("charts") if isinstance(parsed.get("charts"), list) else []
        for i, chart in enumerate(charts):
            if not isinstance(chart, dict):
                continue
            chain = f'{DASHBOARD_CLASS}["charts"]->java.util.ArrayList[{i}]'
            if chart.get("type") not in DASHBOARD_CHARTS:
                raise _invalid_type(chart.get("type"), chain, _eof_location(source))
            data = chart.get("data")
            if isinstance(data, dict) and data.get("type") not in DASHBOARD_DATA:
                raise _invalid_type(data.get("type"), f'{chain}->{chart["type"]}["data"]', _eof_location(source))
        return parsed

    @staticmethod
    def _dashboard_violations(parsed: dict) -> list[tuple[str, str, str]]:
        # Dashboard: @NotNull @NotBlank title.
        title = parsed.get("title")
        found = []
        if title is None:
            found.append(("title", "must not be null", "title"))
        if title is None or not str(title).strip():
            found.append(("title", "must not be blank", "title"))
        return found

    def _checked_dashboard(self, source: str, *, need_id: bool = False, path_id: Optional[str] = None) -> dict:
        try:
            parsed = self._read_dashboard(source)
        except _Unreadable as exc:
            raise exc.problem() from None
        if need_id and not parsed.get("id"):
            raise _Problem(422, "Illegal argument: Dashboard id is mandatory")
        if path_id is not None and parsed.get("id") != path_id:
            raise _manual([("dashboard.id", "Illegal dashboard id update")])
        violations = self._dashboard_violations(parsed)
        if violations:
            raise _model_violations(violations)
        return parsed

    def _dashboard_json(self, tenant: str, stored: dict) -> dict:
        doc = dict(stored["parsed"])
        doc.update(
            tenantId=tenant, deleted=False, sourceCode=stored["source"], created=stored["created"], updated=stored["updated"]
        )
        return doc

    def _validate_dashboard(self, tenant, *, query, ctype, body):
        # DashboardController.validateDashboard: one result, index 0, "constraints" when invalid
        # (the exception's message as is); 200.
        result: dict = {"index": 0, "outdated": False}
        try:
            parsed = self._read_dashboard(body.decode())
            violations = self._dashboard_violations(parsed)
            if violations:
                result["constraints"] = _model_text(violations)
        except _Unreadable as exc:
            result["constraints"] = exc.message
        return _json(200, result)

    def _create_dashboard(self, tenant, *, query, ctype, body):
        # DashboardController.createDashboard: parse (422 for an unknown chart type), "Dashboard id
        # is mandatory" (IllegalArgumentException, 422), ModelValidator (422), then 422
        # "Invalid entity: dashboard.id: Dashboard id already exists".
        source = body.decode()
        parsed = self._checked_dashboard(source, need_id=True)
        if (tenant, parsed["id"]) in self.dashboards:
            raise _manual([("dashboard.id", "Dashboard id already exists")])
        now = _now()
        stored = {"source": source, "parsed": parsed, "created": now, "updated": now}
        self.dashboards[(tenant, parsed["id"])] = stored
        return _json(200, self._dashboard_json(tenant, stored))

    def _get_dashboard(self, tenant, did, *, query, ctype, body):
        # DashboardController.getDashboard returns null when missing (Micronaut: 404).
        stored = self.dashboards.get((tenant, did))
        if stored is None:
            raise _Problem(404, "Not Found")
        return _json(200, self._dashboard_json(tenant, stored))

    def _update_dashboard(self, tenant, did, *, query, ctype, body):
        # DashboardController.updateDashboard: HttpResponse.status(NOT_FOUND) when missing — the
        # request that can freeze Kestra 1.1 (`_hazard`); then parse, the id check, validation.
        stored = self.dashboards.get((tenant, did))
        if stored is None:
            return self._hazard(f"PUT of the missing dashboard {did}")
        source = body.decode()
        parsed = self._checked_dashboard(source, path_id=did)
        stored.update(source=source, parsed=parsed, updated=_now())
        return _json(200, self._dashboard_json(tenant, stored))

    def _delete_dashboard(self, tenant, did, *, query, ctype, body):
        # DashboardController.deleteDashboard → AbstractJdbcDashboardRepository.delete throws
        # IllegalStateException("Dashboard <id> doesn't exists") for a missing one: ErrorController
        # answers 409 "Illegal state: ...", not 404.
        if self.dashboards.pop((tenant, did), None) is None:
            raise _Problem(409, f"Illegal state: Dashboard {did} doesn't exists")
        return 204, "", b""

    # -- executions -----------------------------------------------------------------------------

    def _trigger(self, tenant, ns, fid, *, query, ctype, body):
        return _json(200, self.execution_model.trigger(tenant, ns, fid, ctype=ctype, body=body))

    def _search_executions(self, tenant, *, query, ctype, body):
        return _json(200, self.execution_model.search(tenant, query, _filters(query)))

    def _get_execution(self, tenant, eid, *, query, ctype, body):
        return _json(200, self.execution_model.get(tenant, eid))

    def _execution_logs(self, tenant, eid, *, query, ctype, body):
        return _json(200, self.execution_model.logs(tenant, eid, query))

    def _ai_generate_flow(self, tenant, *, query, ctype, body):
        return 200, "application/yaml", self.execution_model.generate_flow(tenant, ctype, body).encode()


_MISSING = object()
# QueryFilter.Op (a name outside it: IllegalArgumentException "No enum constant ...", 422).
FILTER_OPS = ("EQUALS", "NOT_EQUALS", "GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL_TO",
              "LESS_THAN_OR_EQUAL_TO", "IN", "NOT_IN", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "REGEX", "PREFIX")
# QueryFilter.Field values, in the order Kestra 1.1.7 lists them for an unknown one (recorded).
FILTER_FIELDS = ("childFilter", "workerId", "endDate", "level", "kind", "triggerId", "triggerExecutionId", "labels",
                 "q", "executionId", "existingOnly", "scope", "namespace", "state", "flowId", "updated", "startDate",
                 "timeRange")
FILTER_KEY = re.compile(r"^filters\[(.*?)]\[(.*?)](?:\[(.+)])?$")


def _filters(query: dict) -> list[tuple[str, str, str]]:
    """QueryFilterFormatBinder.getQueryFilters: ``filters[field][OP]=value`` → (field, op, value).
    An unknown field or operation is Enums.fromString's / Op.valueOf's IllegalArgumentException (422)."""
    found = []
    for key, value in query.items():
        m = FILTER_KEY.match(key)
        if not m:
            continue
        fld, op = m.group(1), m.group(2)
        if fld not in FILTER_FIELDS:
            raise _Problem(422, f"Illegal argument: Unsupported field '{fld}'. Expected one of: "
                                f"[{', '.join(FILTER_FIELDS)}]")
        if op not in FILTER_OPS:
            raise _Problem(422, f"Illegal argument: No enum constant io.kestra.core.models.QueryFilter.Op.{op}")
        found.append((fld, op, value))
    return found


def _namespace_matches(namespace: str, op: str, value: str) -> bool:
    """AbstractJdbcRepository.getConditionOnField for the namespace: EQUALS, or PREFIX (``like
    value.%`` or equal: the namespace and its children, not "devx" for "dev")."""
    if op == "EQUALS":
        return namespace == value
    if op == "PREFIX":
        return namespace == value or namespace.startswith(value + ".")
    raise _Problem(422, f"Illegal argument: the stand-in does not model the namespace filter {op}")


def _java_hash(text: str) -> int:
    h = 0
    for char in text:
        h = (31 * h + ord(char)) & 0xFFFFFFFF
    return h


def _java_set(items: list[str]) -> str:
    """How a Java ``new HashSet<>(5)`` of these strings prints (onRouteMiss builds its lists so):
    by bucket of the spread String hash in a table of 8, then insertion order; duplicates once."""
    buckets: dict[int, list[str]] = {}
    for item in items:
        h = _java_hash(item)
        bucket = buckets.setdefault((h ^ (h >> 16)) & 7, [])
        if item not in bucket:
            bucket.append(item)
    return "[" + ", ".join(i for b in sorted(buckets) for i in buckets[b]) + "]"


def _json(status: int, doc: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(doc).encode()


def _json_error(problem: _Problem, href: str) -> dict:
    """Micronaut's JsonError as Kestra serializes it (nulls included): ErrorController.jsonError."""
    def links(href: Optional[str]) -> dict:
        if href is None:
            return {}
        return {"self": {"href": href, "templated": False, "profile": None, "deprecation": None, "title": None,
                         "hreflang": None, "type": None, "name": None}}

    errors = [{"message": e.get("message"), "logref": None, "path": e.get("path"), "_links": {}, "_embedded": {}}
              for e in problem.errors]
    return {"message": problem.message, "logref": None, "path": None, "_links": links(href),
            "_embedded": {"errors": errors} if errors else {}}


def _multipart(ctype: str, body: bytes) -> list[tuple[str, Optional[str], bytes]]:
    """(part name, filename, bytes) for each part of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + body
    )
    parts = []
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        filename = part.get_param("filename", header="content-disposition")
        parts.append((name, filename, part.get_payload(decode=True) or b""))
    return parts


class _Handler(BaseHTTPRequestHandler):
    server_standin: KestraStandin
    protocol_version = "HTTP/1.1"  # keep-alive, like Kestra's Netty server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the client's
        # delayed ACK adds ~40 ms to every answer (Kestra's Netty server sets it too).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _handle(self) -> None:
        standin = self.server_standin
        split = urlsplit(self.path)
        path, query = split.path, {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        method = self.command
        with standin.lock:
            standin._sync_volumes()
        if path.startswith("/_standin/"):
            # Test-only control paths for a stand-in in another process: not Kestra paths, so
            # they are neither recorded, nor authenticated, nor hit by injected faults.
            unrecorded = Recorded(method, path, split.query, None, False)
            return self._send(unrecorded, *_control(standin, method, path, body))
        authorized = standin._authorized(self.headers.get("Authorization"))
        record = Recorded(method, path, split.query, None, authorized)
        with standin.lock:
            standin.requests.append(record)

        fault = standin._take_fault(method, path)
        if fault and fault.when == "before":
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            elif fault.kind == "reset":
                return self._reset()
            elif fault.kind == "status":
                return self._send(record, *_json(fault.status, {"message": "Service Unavailable"}))

        if not path.startswith("/api/v1/"):
            return self._send(record, *_json(404, {"message": "Not Found"}))
        if not authorized and not standin.is_open(method, path):
            # AuthenticationFilter.doFilter: HttpResponse.unauthorized() + WWW-Authenticate, before any routing.
            return self._send(record, 401, "", b"", {"WWW-Authenticate": "Basic"})
        try:
            status, ctype, payload = standin.route(
                method, path, query, self.headers.get("Content-Type", ""), body,
                accept=self.headers.get("Accept", ""), raw_query=split.query,
            )
        except _Problem as exc:
            status, ctype, payload = _json(exc.status, _json_error(exc, self.path))

        if fault and fault.when == "after":
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            elif fault.kind == "reset":
                return self._reset()
            elif fault.kind == "status":
                return self._send(record, *_json(fault.status, {"message": "Gateway Timeout"}))
        self._send(record, status, ctype, payload)

    def _send(self, record: Recorded, status: int, ctype: str, payload: bytes, headers: Optional[dict] = None) -> None:
        record.status = status
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        """Closes the connection with an RST and no answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def _control(standin: KestraStandin, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
    """Answers one ``/_standin/...`` control request (test-only; not a Kestra path).

    - ``GET /_standin/stats``: counts of recorded Kestra requests (total and per method) and of
      stored objects, the hazardous requests seen (``hazards``, see `KestraStandin._hazard`) and
      why each failed TLS handshake failed (``tls_failures``, see `KestraStandin.listen_tls`);
    - ``GET /_standin/requests``: the recorded requests (method, path, query, status);
    - ``POST /_standin/reset-log``: forgets the recorded requests;
    - ``GET /_standin/state``: every stored flow, namespace file, KV entry and dashboard;
    - ``POST /_standin/inject``: queues a fault; the JSON body holds `KestraStandin.inject`'s
      arguments (``{"kind": "status", "status": 503, "count": 3, "method": "POST"}``);
    - ``GET /_standin/faults``: the faults still queued; ``DELETE /_standin/faults`` drops them.
    """
    from dataclasses import asdict

    with standin.lock:
        if (method, path) == ("GET", "/_standin/stats"):
            by_method: dict[str, int] = {}
            for r in standin.requests:
                by_method[r.method] = by_method.get(r.method, 0) + 1
            return _json(200, {
                "requests": len(standin.requests),
                "by_method": by_method,
                "flows": len(standin.flows),
                "files": len(standin.files),
                "kv": len(standin.kv),
                "dashboards": len(standin.dashboards),
                "hazards": list(standin.hazards),
                "tls_failures": list(standin.tls_failures),
            })
        if (method, path) == ("GET", "/_standin/requests"):
            return _json(200, [
                {"method": r.method, "path": r.path, "query": r.query, "status": r.status} for r in standin.requests
            ])
        if (method, path) == ("POST", "/_standin/reset-log"):
            standin.requests.clear()
            return 204, "", b""
        if (method, path) == ("GET", "/_standin/state"):
            return _json(200, {
                "flows": [
                    {"tenant": t, "namespace": ns, "id": fid, "source": f.source, "revision": f.revision}
                    for (t, ns, fid), f in sorted(standin.flows.items())
                ],
                "files": [
                    {"tenant": t, "namespace": ns, "path": fp, "content": data.decode("utf-8", errors="replace")}
                    for (t, ns, fp), data in sorted(standin.files.items())
                ],
                "kv": [
                    {"tenant": t, "namespace": ns, "key": key, "value": value}
                    for (t, ns, key), value in sorted(standin.kv.items())
                ],
                "dashboards": [
                    {"tenant": t, "id": did, "source": d["source"]} for (t, did), d in sorted(standin.dashboards.items())
                ],
            })
        if (method, path) == ("POST", "/_standin/inject"):
            try:
                kwargs = json.loads(body or b"{}")
                if not isinstance(kwargs, dict):
                    raise TypeError("the body must be a JSON object")
                standin.inject(**kwargs)
            except (ValueError, TypeError, AssertionError) as exc:
                reason = str(exc) or "kind must be status, reset or slow; when must be before or after"
                return _json(400, {"message": f"bad fault {body.decode(errors='replace')}: {reason}"})
            return 204, "", b""
        if path == "/_standin/faults" and method in ("GET", "DELETE"):
            queued = [asdict(f) for f in standin.faults]
            if method == "DELETE":
                standin.faults.clear()
            return _json(200, queued)
    return _json(404, {"message": f"no control path {method} {path}"})


def main(argv: Optional[list[str]] = None) -> None:
    """``python -m tests.support.kestra_standin [--port N] [--username U] [--password P]
    [--load-balancer ADDRESS:PORT --echo-store DIR]``.

    Serves on 127.0.0.1 until stdin closes (or SIGTERM/SIGINT), after printing one JSON line:
    ``{"url", "username", "password", "pid"}`` (and ``"https"``, the load balancer's URL). Another
    process controls it through `_control` on ``url``, which stays plain HTTP.
    """
    import argparse
    import os
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m tests.support.kestra_standin", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--username", default="admin@kestra.io")
    parser.add_argument("--password", default="Passw0rd!x")
    parser.add_argument("--load-balancer", metavar="ADDRESS:PORT",
                        help="also serve HTTPS there, with the certificate the echo plugins' cloud says a "
                             "load balancer on ADDRESS serves (needs --echo-store)")
    parser.add_argument("--echo-store", metavar="DIR", help="the echo provider plugins' store (PULUMI_ECHO_PLUGIN_STORE)")
    parser.add_argument("--gcs-internal-storage", action="store_true",
                        help="keep the internal storage in the GCS bucket the Helm release of the echo store "
                             "configures (needs --echo-store): KestraStandin.store_internal_storage_in_gcs")
    parser.add_argument("--kube-access", metavar="FILE",
                        help="the load balancer reads the Ingresses from this kube-apiserver (a JSON file: url, "
                             "ca, cert, key) instead of the echo plugins' Helm releases")
    parser.add_argument("--docker-volumes", metavar="DATABASE,STORAGE",
                        help="keep the data in these Docker volumes of the echo store (needs --echo-store): "
                             "Postgres' and the internal storage's (KestraStandin.keep_data_in_volumes)")
    args = parser.parse_args(argv)

    server = KestraStandin(args.username, args.password)
    server.port = args.port
    if args.docker_volumes:
        database, storage = args.docker_volumes.split(",")
        server.keep_data_in_volumes(args.echo_store, database, storage)
    if args.gcs_internal_storage:
        server.store_internal_storage_in_gcs(args.echo_store)
    server.start()
    extra = {}
    if args.load_balancer:
        from tests.support.echo_cloud import LoadBalancer

        host, port = args.load_balancer.rsplit(":", 1)
        balancer = LoadBalancer(args.echo_store, host, args.kube_access)
        server.listen_tls(host, int(port), balancer.ssl_context)
        extra["https"] = f"https://{host}" + ("" if port == "443" else f":{port}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print(json.dumps({"url": server.url, "username": server.username, "password": server.password,
                      "pid": os.getpid(), **extra}), flush=True)
    try:
        stop.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
