"""A Kestra 1.1 stand-in: an HTTP server answering the REST calls kestra-gcp makes.

`KestraStandin` serves ``/api/v1/{tenant}/...`` on 127.0.0.1 (random port) from a
`ThreadingHTTPServer` in a background thread, with the paths, content types, status codes and
JSON shapes of Kestra's webserver controllers (FlowController, NamespaceFileController,
KVController, DashboardController, ExecutionController) and of its ErrorController (Micronaut
``JsonError``: ``{"message", "_links", "_embedded": {"errors": [{"message", "path"}]}}``).

It is a model of Kestra 1.1 (fork erickirt/kestra at ee63c33ef3, where the 1.1 branch was cut):
every behaviour a client can trip on carries a comment naming the controller/repository method it
imitates, and tests/kestra/test_standin.py pins each one. Routing is Micronaut's, generically:
each `Route` declares what it consumes and produces, and the dispatcher answers 415 / 406 from
that for every route (KV PUT is text/plain only, namespace-file GET produces octet-stream only,
``/flows/validate`` is YAML only).

What it models: basic auth (401 + ``WWW-Authenticate: Basic``, empty body, like
AuthenticationFilter); flows with revisions that grow only when the stored source changes, and
their revision list; flow validation (``id``/``namespace``/``tasks`` required, task and trigger
types from a small known set) answering 422 on create/update and 200-with-constraints on
``/flows/validate``, split on lines starting with ``---`` like FlowService.validate; the 422 texts
for existing ids; namespace files with folders, a delete that answers 200 either way and cascades
like deleteFileDirectory; KV entries typed like KVController, whose delete answers a boolean;
dashboards whose YAML must carry ``id`` and whose delete of a missing one is a 409; executions,
their task runs, outputs and leveled logs (`tests/support/standin_executions.py`), which go
CREATED → RUNNING → end state one step per poll and can be scripted per flow.

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
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

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
    """One controller method: verb, path under ``/api/v1/{tenant}/`` (``*`` = a path variable),
    handler, and the media types its annotation declares (Micronaut default: JSON both ways)."""

    method: str
    pattern: str
    handler: Callable
    consumes: tuple = (JSON,)
    produces: tuple = (JSON,)

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
    """An error answer: HTTP status, Micronaut message and embedded errors."""

    def __init__(self, status: int, message: str, errors: Optional[list] = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or []


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _violations(path_msgs: list[tuple[str, str]]) -> _Problem:
    """ConstraintViolationException as ErrorController renders it (422 "Invalid entity: ...")."""
    text = ", ".join(f"{p}: {m}" for p, m in path_msgs)
    return _Problem(422, f"Invalid entity: {text}", [{"message": m, "path": p} for p, m in path_msgs])


def _kv_type(value: Any) -> str:
    """KVType.from for what JSON can hold (Ion timestamps, dates and durations are not modelled)."""
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, (int, float)):
        return "NUMBER"
    if isinstance(value, (dict, list)):
        return "JSON"
    return "STRING"


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
        self.port = 0

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

    def stop(self) -> None:
        """Stops listening; state is kept, so `start()` again models a restart."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

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
            history = [*old.history, (old.revision, old.source)] if old else []
            self.flows[key] = _Flow(source, parsed, (old.revision + 1) if old else 1, history)

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

    def route(
        self, method: str, path: str, query: dict, ctype: str, body: bytes, accept: str = ""
    ) -> tuple[int, str, bytes]:
        """Answers one authenticated API request: (status, content type, body).

        Routing imitates Micronaut's: the path and method pick the candidate routes (none: 404;
        the path exists for other methods only: 405; the template with the fewest variables
        wins), then a request Content-Type that no
        candidate consumes gets 415, then an Accept that no remaining candidate produces gets
        406 (``*/*`` and ``type/*`` match; no Accept matches anything). Each `Route` declares
        its media types as the 1.1 controller annotation does.
        """
        m = re.match(r"^/api/v1/([^/]+)/(.*)$", path)
        if not m:
            raise _Problem(404, "Not Found", [{"message": "Page Not Found"}])
        tenant, rest = m.group(1), m.group(2)
        parts = [unquote(p) for p in rest.split("/")]
        on_path = [(r, args) for r in self.routes for args in [r.match(parts)] if args is not None]
        if not on_path:
            raise _Problem(404, "Not Found", [{"message": "Page Not Found"}])
        candidates = [(r, args) for r, args in on_path if r.method == method]
        if not candidates:
            allowed = sorted({r.method for r, _ in on_path})
            raise _Problem(405, "Method Not Allowed", [
                {"message": f"Method [{method}] not allowed for URI [{path}]. Allowed methods: {allowed}"}])
        # The most specific URI template wins ("flows/validate" over "flows/{namespace}").
        fewest = min(r.pattern.count("*") for r, _ in candidates)
        candidates = [(r, a) for r, a in candidates if r.pattern.count("*") == fewest]
        if ctype:
            consuming = [(r, a) for r, a in candidates if _media_in(ctype, r.consumes)]
            if not consuming:
                allowed = sorted({t for r, _ in candidates for t in r.consumes})
                raise _Problem(415, "Unsupported Media Type", [
                    {"message": f"Content Type [{_bare(ctype)}] not allowed. Allowed types: {allowed}"}])
            candidates = consuming
        producing = [(r, a) for r, a in candidates if _accepts(accept, r.produces)]
        if not producing:
            supported = sorted({t for r, _ in candidates for t in r.produces})
            raise _Problem(406, "Not Acceptable", [
                {"message": f"Specified Accept Types [{accept}] not supported. Supported types: {supported}"}])
        route, args = producing[0]
        with self.lock:
            return route.handler(tenant, *args, query=query, ctype=ctype, body=body)

    @property
    def routes(self) -> list["Route"]:
        """The Kestra 1.1 routes the stand-in serves, with their media types (first match wins)."""
        J, Y, ALL = (JSON,), (YAML,), ("*/*",)
        return [
            # FlowController.validateFlows: @Post(uri = "validate", consumes = APPLICATION_YAML) — no multipart before 1.3.
            Route("POST", "flows/validate", self._validate_flows, consumes=Y),
            # FlowController.createFlow: @Post(consumes = APPLICATION_YAML).
            Route("POST", "flows", self._create_flow, consumes=Y),
            # FlowController.createFlowFromJson: @Post(consumes = ALL), deprecated JSON variant.
            Route("POST", "flows", self._json_flow_variant, consumes=ALL),
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
            # ExecutionController.getExecution: @Get(uri = "/{executionId}").
            # ExecutionController.searchExecutions: @Get(uri = "/search"); the dispatcher's
            # most-specific-template rule picks it over /{executionId}, as Micronaut does.
            Route("GET", "executions/search", self._search_executions),
            Route("GET", "executions/*", self._get_execution),
            # LogController.listLogsFromExecution: @Get(uri = "/{executionId}").
            Route("GET", "logs/*", self._execution_logs),
            # AiController.generateFlow: @Post(uri = "/generate/flow", produces = "application/yaml"),
            # JSON body (Micronaut's default consumes); the controller exists only with an AI provider.
            Route("POST", "ai/generate/flow", self._ai_generate_flow, produces=("application/yaml",)),
        ]

    def _json_flow_variant(self, tenant, *args, query, ctype, body):
        """The deprecated JSON flow routes (FlowController.*FromJson), not modelled: they bind the
        body to a Flow, and a body that is not JSON fails to decode (ErrorController, 422)."""
        try:
            json.loads(body.decode() or "null")
        except ValueError:
            raise _Problem(422, "Invalid json: the body is not JSON") from None
        raise _Problem(422, "Invalid json: the stand-in does not model the deprecated JSON flow routes")

    # -- flows ----------------------------------------------------------------------------------

    def _parse_flow(self, source: str) -> tuple[Optional[dict], list[tuple[str, str]]]:
        """Parses and checks a flow like Kestra's model validation, returning its violations.

        A simplification of ModelValidator + the plugin registry: required ``id``/``namespace``/
        ``tasks`` and task/trigger types from `known_types` ("Invalid type: X", as ErrorController
        words an InvalidTypeIdException); plugin properties are not checked."""
        try:
            parsed = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            return None, [("flow", f"Unable to parse flow: {exc}".replace("\n", " "))]
        if not isinstance(parsed, dict):
            return None, [("flow", "Unable to parse flow: not a YAML mapping")]
        problems: list[tuple[str, str]] = []
        for prop in ("id", "namespace"):
            if not parsed.get(prop):
                problems.append((prop, "must not be null"))
        tasks = parsed.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            problems.append(("tasks", "must not be empty"))
        plugins = {k: parsed[k] for k in ("tasks", "triggers", "errors", "finally", "afterExecution") if k in parsed}
        for where, item in self._typed_items(plugins):
            if item.get("type") not in self.known_types:
                problems.append((f"{where}.type", f"Invalid type: {item.get('type')}"))
        return parsed, problems

    def _typed_items(self, node: Any, where: str = ""):
        """Tasks and triggers under `node`: mappings carrying both ``id`` and ``type``."""
        if isinstance(node, dict):
            if "id" in node and "type" in node and where:
                yield where, node
            for k, v in node.items():
                yield from self._typed_items(v, f"{where}.{k}" if where else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from self._typed_items(v, f"{where}[{i}]")

    def _flow_json(self, tenant: str, flow: _Flow, with_source: bool) -> dict:
        doc = dict(flow.parsed)
        doc.update(revision=flow.revision, tenantId=tenant, deleted=False, disabled=False)
        if with_source:
            doc["source"] = flow.source
        return doc

    def _validate_flows(self, tenant, *, query, ctype, body):
        """FlowService.validate: one ValidateConstraintViolation per piece of the split body,
        always 200; an invalid piece has a ``constraints`` string (nulls are not serialized)."""
        pieces = VALIDATE_SPLIT.split(body.decode())
        while len(pieces) > 1 and pieces[-1] == "":  # Java's String.split drops trailing empties
            pieces.pop()
        results = []
        for index, source in enumerate(pieces):
            parsed, problems = self._parse_flow(source)
            item = {"index": index, "outdated": False, "deprecationPaths": [], "warnings": [], "infos": []}
            if parsed:
                item.update(flow=parsed.get("id"), namespace=parsed.get("namespace"))
                # FlowService.deprecationTraversal names array items whose class is @Deprecated:
                # a BOOLEAN input is a BooleanInput ("inputs[i]"). It does not descend into
                # non-array objects, so retry.maxAttempt is not reported.
                inputs = parsed.get("inputs") if isinstance(parsed.get("inputs"), list) else []
                item["deprecationPaths"] = [f"inputs[{i}]" for i, inp in enumerate(inputs)
                                            if isinstance(inp, dict) and inp.get("type") == "BOOLEAN"]
            if problems:
                item["constraints"] = ", ".join(f"{p}: {m}" for p, m in problems)
            results.append(item)
        return _json(200, results)

    def _write_flow(self, tenant: str, source: str, *, create: bool, path_ids: Optional[tuple] = None) -> dict:
        parsed, problems = self._parse_flow(source)
        if problems:
            raise _violations(problems)
        key = (tenant, parsed["namespace"], parsed["id"])
        if path_ids is not None:
            if parsed["namespace"] != path_ids[0]:
                raise _violations([("flow.namespace", "Illegal namespace update")])
            if parsed["id"] != path_ids[1]:
                raise _violations([("flow.id", "Illegal flow id update")])
        old = self.flows.get(key)
        if create and old is not None:
            raise _violations([("flow.id", "Flow id already exists")])
        if not create and old is None:
            raise _Problem(404, "Not Found")
        # AbstractJdbcFlowRepository.save: an unchanged source (isSameWithSource) keeps the revision.
        if old is not None and old.source == source:
            return self._flow_json(tenant, old, True)
        history = [*old.history, (old.revision, old.source)] if old else []
        flow = _Flow(source, parsed, old.revision + 1 if old else 1, history)
        self.flows[key] = flow
        return self._flow_json(tenant, flow, True)

    def _hazard(self, what: str) -> tuple[int, str, bytes]:
        """A request a real Kestra 1.1.7 may never answer: recorded, and refused with a 500.

        FlowController.updateFlow and DashboardController.updateDashboard answer a missing object
        with ``HttpResponse.status(NOT_FOUND)``; on the real 1.1.7 server that PUT answered 404 in
        about half of the tries and in the others froze the server (heap full, endless full GCs,
        a request thread looping in Micronaut's DelayedExecutionFlowImpl; kestra-io/kestra#12984).
        A clean 404 here would hide that, so the stand-in refuses loudly instead.
        """
        text = (f"{what}: a real Kestra 1.1 can freeze on this request (kestra-io/kestra#12984); "
                "read first and create (POST) what is missing")
        self.hazards.append(text)
        return _json(500, {"message": f"Kestra stand-in refused a hazardous request: {text}"})

    def _create_flow(self, tenant, *, query, ctype, body):
        # FlowService.create → AbstractJdbcFlowRepository.create: 422 "flow.id: Flow id already exists".
        return _json(200, self._write_flow(tenant, body.decode(), create=True))

    def _update_flow(self, tenant, ns, fid, *, query, ctype, body):
        # FlowController.updateFlow: HttpResponse.status(NOT_FOUND) when missing — the request
        # that can freeze Kestra 1.1 (`_hazard`); Flow.validateUpdate refuses a changed id or
        # namespace (422).
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
        """FlowController.listFlowRevisions: every stored revision with its source (empty if none)."""
        flow = self.flows.get((tenant, ns, fid))
        if flow is None:
            return _json(200, [])
        docs = []
        for revision, source in [*flow.history, (flow.revision, flow.source)]:
            docs.append({**self._flow_json(tenant, flow, True), "revision": revision, "source": source})
        return _json(200, docs)

    def _delete_flow(self, tenant, ns, fid, *, query, ctype, body):
        # FlowController.deleteFlow: 204, or HttpResponse.status(NOT_FOUND) without a body.
        if self.flows.pop((tenant, ns, fid), None) is None:
            return 404, "", b""
        return 204, "", b""

    def _bulk_namespace(self, tenant, ns, *, query, ctype, body):
        """FlowController.updateFlowsInNamespace: splits on the literal "---" anywhere, upserts every
        piece; ``delete`` defaults to true (the namespace's other flows are deleted)."""
        sources = [s.strip() for s in body.decode().split("---")]
        parsed_all = []
        for source in sources:
            parsed, problems = self._parse_flow(source)
            if problems:
                raise _violations(problems)
            if parsed["namespace"] != ns:
                raise _violations([("flow.namespace", f"{parsed['namespace']}.{parsed['id']} - flow namespace is invalid")])
            parsed_all.append((source, parsed))
        result = []
        if query.get("delete", "true") == "true":
            keep = {p["id"] for _, p in parsed_all}
            for key in [k for k in self.flows if k[0] == tenant and k[1] == ns and k[2] not in keep]:
                result.append(self._flow_json(tenant, self.flows.pop(key), False))
        for source, parsed in parsed_all:
            exists = (tenant, ns, parsed["id"]) in self.flows
            result.append(self._write_flow(tenant, source, create=not exists))
        return _json(200, result)

    # -- namespace files ------------------------------------------------------------------------

    def _ns_entries(self, tenant: str, ns: str) -> list[str]:
        """The namespace's storage listing as LocalStorage.allByPrefix(..., includeDirectories=true)
        gives it to the controller: files, and folders with a trailing "/"."""
        files = [k[2] for k in self.files if k[:2] == (tenant, ns)]
        folders = [k[2] for k in self.folders if k[:2] == (tenant, ns)]
        return files + folders

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
        self.files[(tenant, ns, path)] = parts[0][1]
        # LocalStorage.put creates the parent folders.
        folder = path.rsplit("/", 1)[0]
        while folder:
            self.folders.add((tenant, ns, folder + "/"))
            folder = folder.rsplit("/", 1)[0]
        return 200, "", b""

    def _get_file(self, tenant, ns, *, query, ctype, body):
        # NamespaceFileController.getFileContent: storage get of a missing file throws
        # FileNotFoundException → ErrorController 404.
        path = "/" + query.get("path", "").lstrip("/")
        data = self.files.get((tenant, ns, path))
        if data is None:
            raise _Problem(404, f"Not Found: {path} (No such file or directory)")
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

    def _list_directory(self, tenant, ns, *, query, ctype, body):
        """NamespaceFileController.listNamespaceDirectoryFiles: the folder's direct entries."""
        folder = "/" + query.get("path", "/").strip("/")
        prefix = folder.rstrip("/") + "/"
        names = {}
        for entry in self._ns_entries(tenant, ns):
            if entry.startswith(prefix) and len(entry) > len(prefix):
                name = entry[len(prefix):].split("/", 1)[0]
                is_dir = "/" in entry[len(prefix):]
                names[name] = "Directory" if is_dir or names.get(name) == "Directory" else "File"
        return _json(200, [{"fileName": n, "type": t} for n, t in sorted(names.items())])

    # -- KV -------------------------------------------------------------------------------------

    def _put_kv(self, tenant, ns, key, *, query, ctype, body):
        # KVController.setKeyValue: the body is read as a JSON (Ion) literal; unparsable →
        # IllegalArgumentException "Invalid JSON value for: <body>" → 422.
        if not KV_KEY.match(key):
            raise _Problem(422, KV_KEY_MESSAGE)
        text = body.decode()
        try:
            value = json.loads(text)
        except ValueError:
            # Kestra quotes the body back in this message, as the real controller does.
            raise _Problem(422, f"Illegal argument: Invalid JSON value for: {text}") from None
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

    def _parse_dashboard(self, source: str) -> dict:
        try:
            parsed = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise _Problem(422, f"Illegal argument: Unable to parse dashboard: {exc}".replace("\n", " ")) from None
        if not isinstance(parsed, dict):
            raise _Problem(422, "Illegal argument: Unable to parse dashboard")
        return parsed

    def _dashboard_problems(self, parsed: dict) -> list[tuple[str, str]]:
        problems = []
        if not parsed.get("title"):
            problems.append(("title", "must not be null"))
        if not isinstance(parsed.get("charts", []), list):
            problems.append(("charts", "must be a list"))
        return problems

    def _dashboard_json(self, tenant: str, stored: dict) -> dict:
        doc = dict(stored["parsed"])
        doc.update(
            tenantId=tenant, deleted=False, sourceCode=stored["source"], created=stored["created"], updated=stored["updated"]
        )
        return doc

    def _validate_dashboard(self, tenant, *, query, ctype, body):
        # DashboardController.validateDashboard: one result, index 0, "constraints" when invalid; 200.
        result = {"index": 0, "outdated": False, "deprecationPaths": [], "warnings": [], "infos": []}
        try:
            parsed = self._parse_dashboard(body.decode())
            problems = self._dashboard_problems(parsed)
            if problems:
                result["constraints"] = ", ".join(f"{p}: {m}" for p, m in problems)
        except _Problem as exc:
            result["constraints"] = f"Unable to validate the dashboard: {exc.message}"
        return _json(200, result)

    def _create_dashboard(self, tenant, *, query, ctype, body):
        # DashboardController.createDashboard: "Dashboard id is mandatory" (IllegalArgumentException,
        # 422), then 422 "Invalid entity: dashboard.id: Dashboard id already exists".
        source = body.decode()
        parsed = self._parse_dashboard(source)
        if not parsed.get("id"):
            raise _Problem(422, "Illegal argument: Dashboard id is mandatory")
        problems = self._dashboard_problems(parsed)
        if problems:
            raise _violations(problems)
        if (tenant, parsed["id"]) in self.dashboards:
            raise _violations([("dashboard.id", "Dashboard id already exists")])
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
        # request that can freeze Kestra 1.1 (`_hazard`).
        stored = self.dashboards.get((tenant, did))
        if stored is None:
            return self._hazard(f"PUT of the missing dashboard {did}")
        source = body.decode()
        parsed = self._parse_dashboard(source)
        if parsed.get("id") != did:
            raise _violations([("dashboard.id", "Illegal dashboard id update")])
        problems = self._dashboard_problems(parsed)
        if problems:
            raise _violations(problems)
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
        return _json(200, self.execution_model.search(tenant, query))

    def _get_execution(self, tenant, eid, *, query, ctype, body):
        return _json(200, self.execution_model.get(tenant, eid))

    def _execution_logs(self, tenant, eid, *, query, ctype, body):
        return _json(200, self.execution_model.logs(tenant, eid, query))

    def _ai_generate_flow(self, tenant, *, query, ctype, body):
        return 200, "application/yaml", self.execution_model.generate_flow(tenant, ctype, body).encode()


_MISSING = object()


def _json(status: int, doc: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(doc).encode()


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
        if not authorized:  # AuthenticationFilter.doFilter: HttpResponse.unauthorized() + WWW-Authenticate
            return self._send(record, 401, "", b"", {"WWW-Authenticate": "Basic"})
        try:
            status, ctype, payload = standin.route(
                method, path, query, self.headers.get("Content-Type", ""), body, accept=self.headers.get("Accept", "")
            )
        except _Problem as exc:
            doc: dict = {"message": exc.message, "_links": {"self": {"href": self.path, "templated": False}}}
            if exc.errors:
                doc["_embedded"] = {"errors": exc.errors}
            status, ctype, payload = _json(exc.status, doc)

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
      stored objects, and the hazardous requests seen (``hazards``, see `KestraStandin._hazard`);
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
    """``python -m tests.support.kestra_standin [--port N] [--username U] [--password P]``.

    Serves on 127.0.0.1 until stdin closes (or SIGTERM/SIGINT), after printing one JSON line:
    ``{"url", "username", "password", "pid"}``. Another process controls it through `_control`.
    """
    import argparse
    import os
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m tests.support.kestra_standin", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--username", default="admin@kestra.io")
    parser.add_argument("--password", default="Passw0rd!x")
    args = parser.parse_args(argv)

    server = KestraStandin(args.username, args.password)
    server.port = args.port
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print(json.dumps({"url": server.url, "username": server.username, "password": server.password,
                      "pid": os.getpid()}), flush=True)
    try:
        stop.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
