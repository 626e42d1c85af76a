"""The same requests to the Kestra stand-in and to a real Kestra 1.1, compared.

`SCENARIOS` is a list of request sequences, each run in a namespace and with a dashboard id of its
own. For every answer, what is compared is the status, the content type and the JSON fields the
client reads (`Exchange.fields`, a small path language, see `extract`). The answers of a real
Kestra 1.1.7 are kept in ``tests/kestra/standin_recorded.json``, so the stand-in is held against
them on every run, with or without a real server (tests/kestra/test_standin_differential.py);
with ``KESTRA_URL`` set the real server is held against them too
(tests/integration/test_differential_live.py), so the recording cannot rot.

Record again (after adding or changing an exchange) against a real Kestra 1.1.7:

    KESTRA_URL=http://127.0.0.1:18081 KESTRA_USERNAME=admin@kestra.io KESTRA_PASSWORD=... \\
        python -m tests.support.differential record

No exchange may send a PUT of a flow or dashboard that does not exist: Kestra 1.1.7 can freeze on
it (kestra-io/kestra#12984; `KestraStandin._hazard`). `run` reads the object first and refuses
(`Hazard`) instead of sending such a PUT.

Values that differ on every run are replaced by tokens before the comparison: ``@ns@`` (the
scenario's namespace), ``@did@`` (its dashboard id), ``@exec@`` and others captured from answers
(execution ids). Paths, bodies and queries use the same tokens.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import requests
import urllib3

RECORDING = Path(__file__).resolve().parents[1] / "kestra" / "standin_recorded.json"
YAML = "application/x-yaml"
TERMINAL = ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED")


@dataclass(frozen=True)
class Exchange:
    """One request and what of its answer is compared.

    `path` is under ``/api/v1/`` (``main/flows/@ns@/hello``, ``configs``). `fields`: see `extract`.
    `until` = (field, values): the request is repeated (a poll) until the field takes one of the
    values; only that last answer is compared. `capture` = ((token, field, transform), ...): a
    value of the answer becomes a token for later requests (transforms: `TRANSFORMS`). `normalize`
    = ((regex, replacement), ...) applied to every compared string of both answers. `kept` names
    an entry of `tests.support.kestra_standin.KEPT_DIFFERENCES`: the stand-in's answer to this
    exchange is not compared (the real server's still is, against the recording).
    """

    name: str
    method: str
    path: str
    body: Optional[str] = None
    ctype: Optional[str] = None
    accept: Optional[str] = "application/json"
    query: tuple = ()
    form: tuple = ()  # multipart text fields ((name, value), ...)
    files: tuple = ()  # multipart files ((name, filename, content), ...)
    fields: tuple = ()
    auth: Optional[tuple] = None  # None: the target's login; ("", ""): no Authorization header
    until: Optional[tuple] = None
    capture: tuple = ()
    normalize: tuple = ()
    kept: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    exchanges: tuple
    # Requests that leave nothing behind on a real server, sent after the scenario (also when it
    # fails): deletes of what it created. Not compared.
    cleanup: tuple = ()


# -- documents ---------------------------------------------------------------------------------

def flow(flow_id: str = "hello", message: str = "hi", ns: str = "@ns@", extra: str = "") -> str:
    return (f"id: {flow_id}\nnamespace: {ns}\n{extra}tasks:\n  - id: log\n"
            f"    type: io.kestra.plugin.core.log.Log\n    message: {message}\n")


BAD_TYPE = flow("bad").replace("core.log.Log", "core.log.DoesNotExist")
NO_TASKS = "id: empty\nnamespace: @ns@\n"
NO_MESSAGE = "id: nomsg\nnamespace: @ns@\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n"
BAD_ID = flow("bad id!")
BAD_NAMESPACE = flow("upper", ns="@ns@.Upper")
UNKNOWN_PROPERTY = flow("unknown", extra="notAFlowProperty: 1\n")
NOT_YAML = "id: [unclosed\n"
BOOLEAN_INPUT = flow("deprecated", extra="inputs:\n  - id: flag\n    type: BOOLEAN\n")
NESTED_BAD_TYPE = (
    "id: nested\nnamespace: @ns@\ntasks:\n  - id: group\n    type: io.kestra.plugin.core.flow.Sequential\n"
    "    tasks:\n      - id: ok\n        type: io.kestra.plugin.core.log.Log\n        message: a\n"
    "      - id: nope\n        type: io.kestra.plugin.core.log.Nope\n        message: b\n"
)
BAD_TRIGGER = flow("trig", extra="triggers:\n  - id: t\n    type: io.kestra.plugin.core.trigger.Nope\n")

RUNS = """\
id: runs
namespace: @ns@
inputs:
  - id: n
    type: INT
    defaults: 3
  - id: who
    type: STRING
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello
  - id: ret
    type: io.kestra.plugin.core.debug.Return
    format: fixed
  - id: warn
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: careful
outputs:
  - id: fixed
    type: STRING
    value: constant
"""
SUB = "id: sub\nnamespace: @ns@.sub\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: sub\n"
GATE = """\
id: gate
namespace: @ns@
inputs:
  - id: fail
    type: BOOL
    defaults: false
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: before
  - id: gate
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.fail }}"
    errorMessage: the gate is closed
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: after
"""
FAILING = """\
id: failing
namespace: @ns@
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: boom happened
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: never
"""


def dashboard(title: str = "One", did: str = "@did@", chart: str = "io.kestra.plugin.core.dashboard.chart.Markdown") -> str:
    return (f"id: {did}\ntitle: {title}\ncharts:\n  - id: notes\n    type: {chart}\n"
            f"    chartOptions:\n      displayName: Notes\n    content: hi\n")


# -- the exchanges -----------------------------------------------------------------------------

ERR = ("message", "_embedded.errors[].message{}", "_embedded.errors[].path{}")
FLOW_FIELDS = ("id", "namespace", "revision", "source", "deleted")
VALIDATE = ("[].index", "[].flow", "[].namespace", "[].constraints", "[].deprecationPaths", "[].warnings")
DASH_FIELDS = ("id", "title", "sourceCode")
RESULTS = ("total", "results[].id{}")
# Jackson's parser location in a dashboard's invalid-type message (line/column of the YAML reader).
SOURCE_LOCATION = ((r"\[Source: [^\]]*\]", "[Source: ...]"),)
# The server's own storage folder in a file-not-found message (the namespace's dots are folders).
STORAGE = ((r"Not Found: \S*?/_files/", "Not Found: .../_files/"), (r"Not Found: \S*?/_files$", "Not Found: .../_files"))
# A multipart body's boundary, random on every request.
BOUNDARY = ((r"boundary=[^\]; ]*", "boundary=..."),)


def X(name, method, path, **kw) -> Exchange:
    return Exchange(name, method, path, **kw)


def Y(name, method, path, body, **kw) -> Exchange:
    return Exchange(name, method, path, body=body, ctype=YAML, **kw)


FLOWS = Scenario("flows", (
    Y("create", "POST", "main/flows", flow(), fields=FLOW_FIELDS),
    Y("create again", "POST", "main/flows", flow(), fields=ERR),
    X("get with source", "GET", "main/flows/@ns@/hello", query=(("source", "true"),), fields=FLOW_FIELDS),
    X("get without source", "GET", "main/flows/@ns@/hello", fields=FLOW_FIELDS),
    Y("update", "PUT", "main/flows/@ns@/hello", flow(message="bye"), fields=FLOW_FIELDS),
    Y("update unchanged", "PUT", "main/flows/@ns@/hello", flow(message="bye"), fields=FLOW_FIELDS),
    Y("update changing the id", "PUT", "main/flows/@ns@/hello", flow("other"), fields=ERR),
    Y("update changing the namespace", "PUT", "main/flows/@ns@/hello", flow(ns="@ns@.elsewhere"), fields=ERR),
    Y("update with an unknown type", "PUT", "main/flows/@ns@/hello", BAD_TYPE.replace("id: bad", "id: hello"),
      fields=ERR),
    Y("update without a required property", "PUT", "main/flows/@ns@/hello",
      NO_MESSAGE.replace("id: nomsg", "id: hello"), fields=ERR),
    X("revisions", "GET", "main/flows/@ns@/hello/revisions", fields=("[].revision", "[].source")),
    X("revisions of a missing flow", "GET", "main/flows/@ns@/nope/revisions", fields=("=",)),
    X("get a missing flow", "GET", "main/flows/@ns@/nope", fields=("message",)),
    X("delete", "DELETE", "main/flows/@ns@/hello", fields=("=",)),
    X("delete again", "DELETE", "main/flows/@ns@/hello", fields=("=",)),
    X("get the deleted flow", "GET", "main/flows/@ns@/hello", fields=("message",)),
    Y("create it again", "POST", "main/flows", flow(message="again"), fields=FLOW_FIELDS),
    X("revisions after a re-creation", "GET", "main/flows/@ns@/hello/revisions", fields=("[].revision", "[].source")),
    X("get the re-created flow", "GET", "main/flows/@ns@/hello", query=(("source", "true"),), fields=FLOW_FIELDS),
    X("list the namespace", "GET", "main/flows/@ns@", fields=("[].id{}", "[].revision{}", "[].source")),
    X("list an empty namespace", "GET", "main/flows/@ns@.none", fields=("=",)),
    X("search the namespace (legacy prefix)", "GET", "main/flows/search", query=(("namespace", "@ns@"),),
      fields=("total", "results[].id{}", "results[].namespace{}")),
    X("search by filter", "GET", "main/flows/search", query=(("filters[namespace][EQUALS]", "@ns@"),),
      fields=("total", "results[].id{}")),
    Y("create a flow whose task type is unknown", "POST", "main/flows", BAD_TYPE, fields=ERR),
    Y("create a flow whose nested task type is unknown", "POST", "main/flows", NESTED_BAD_TYPE, fields=ERR),
    Y("create a flow whose trigger type is unknown", "POST", "main/flows", BAD_TRIGGER, fields=ERR),
    Y("create a flow without tasks", "POST", "main/flows", NO_TASKS, fields=ERR),
    Y("create a flow without a required task property", "POST", "main/flows", NO_MESSAGE, fields=ERR),
    Y("create a flow with a bad id", "POST", "main/flows", BAD_ID, fields=ERR),
    Y("create a flow with a bad namespace", "POST", "main/flows", BAD_NAMESPACE, fields=ERR),
    Y("create a flow with an unknown property", "POST", "main/flows", UNKNOWN_PROPERTY, fields=ERR),
    Y("create from a body that is not YAML", "POST", "main/flows", NOT_YAML, fields=("message",), kept="yaml syntax"),
    X("create with a JSON body", "POST", "main/flows", body="{not json", ctype="application/json",
      fields=("message",), kept="json flow routes"),
    X("update with a JSON body", "PUT", "main/flows/@ns@/hello", body="{not json", ctype="application/json",
      fields=("message",), kept="json flow routes"),
    X("delete a missing flow", "DELETE", "main/flows/@ns@/nope", fields=("=",)),
), cleanup=(X("", "DELETE", "main/flows/@ns@/hello"),))

VALIDATE_SCENARIO = Scenario("validate", (
    Y("one valid flow", "POST", "main/flows/validate", flow(), fields=VALIDATE),
    Y("two flows", "POST", "main/flows/validate", flow() + "---\n" + flow("second"), fields=VALIDATE),
    Y("a batch whose second flow has no tasks", "POST", "main/flows/validate", flow() + "---\n" + NO_TASKS,
      fields=VALIDATE),
    Y("a batch whose second flow has an unknown type", "POST", "main/flows/validate", flow() + "---\n" + BAD_TYPE,
      fields=VALIDATE),
    Y("a flow without a required task property", "POST", "main/flows/validate", NO_MESSAGE, fields=VALIDATE),
    Y("a flow with a bad id", "POST", "main/flows/validate", BAD_ID, fields=VALIDATE),
    Y("a flow with an unknown property", "POST", "main/flows/validate", UNKNOWN_PROPERTY, fields=VALIDATE),
    Y("a deprecated BOOLEAN input", "POST", "main/flows/validate", BOOLEAN_INPUT, fields=VALIDATE),
    Y("a separator glued to a comment", "POST", "main/flows/validate", flow() + "---# comment\n", fields=VALIDATE),
    Y("a dashes line inside a block scalar", "POST", "main/flows/validate",
      flow(extra="description: |\n  intro\n  ---\n  more\n"), fields=VALIDATE),
    X("an empty body", "POST", "main/flows/validate", ctype=YAML, fields=("message",)),
    Y("asking for text/plain", "POST", "main/flows/validate", flow(), accept="text/plain", fields=("message",)),
    X("a multipart body", "POST", "main/flows/validate", files=(("flows", "f.yaml", flow()),), fields=("message",),
      normalize=BOUNDARY),
    X("a JSON body", "POST", "main/flows/validate", body="{}", ctype="application/json", fields=("message{}",),
      kept="json flow routes"),
    X("DELETE", "DELETE", "main/flows/validate", query=(("x", "1"),), fields=("message",)),
    X("application/yaml", "POST", "main/flows/validate", body=flow(), ctype="application/yaml",
      fields=("message",)),
    X("a GET", "GET", "main/flows/validate", fields=("=",)),
))

BULK = Scenario("bulk", (
    Y("two flows without deleting", "POST", "main/flows/@ns@", flow("one") + "---\n" + flow("two"),
      query=(("delete", "false"),), fields=("[].id", "[].revision")),
    Y("one flow, deleting the others", "POST", "main/flows/@ns@", flow("one", message="changed"),
      fields=("[].id", "[].revision")),
    X("what is left", "GET", "main/flows/@ns@", fields=("[].id{}",)),
    Y("a flow of another namespace", "POST", "main/flows/@ns@", flow("three", ns="@ns@.other"),
      query=(("delete", "false"),), fields=ERR),
    X("the JSON variant", "POST", "main/flows/@ns@", body="[]", ctype="application/json",
      query=(("delete", "false"),), fields=("=",)),
), cleanup=(X("", "DELETE", "main/flows/@ns@/one"), X("", "DELETE", "main/flows/@ns@/two")))

FILES = Scenario("namespace files", (
    X("upload", "POST", "main/namespaces/@ns@/files", query=(("path", "/scripts/a.py"),),
      files=(("fileContent", "a.py", "print('a')\n"),), fields=("=",)),
    X("read", "GET", "main/namespaces/@ns@/files", query=(("path", "/scripts/a.py"),), accept="application/octet-stream",
      fields=("=",)),
    X("read without a leading slash", "GET", "main/namespaces/@ns@/files", query=(("path", "scripts/a.py"),),
      accept="application/octet-stream", fields=("=",)),
    X("read asking for JSON", "GET", "main/namespaces/@ns@/files", query=(("path", "/scripts/a.py"),),
      fields=("message",)),
    X("read a missing file", "GET", "main/namespaces/@ns@/files", query=(("path", "/scripts/nope.py"),),
      accept="application/octet-stream", fields=("message",), normalize=STORAGE),
    X("list the root", "GET", "main/namespaces/@ns@/files/directory", fields=("[].fileName", "[].type")),
    X("list a folder", "GET", "main/namespaces/@ns@/files/directory", query=(("path", "/scripts"),),
      fields=("[].fileName", "[].type")),
    X("list a missing folder", "GET", "main/namespaces/@ns@/files/directory", query=(("path", "/nope"),),
      fields=("message",), normalize=STORAGE),
    X("list an empty namespace", "GET", "main/namespaces/@ns@.none/files/directory", fields=("=",)),
    X("upload without a path", "POST", "main/namespaces/@ns@/files",
      files=(("fileContent", "a.py", "x\n"),), fields=("message",)),
    X("upload a second file", "POST", "main/namespaces/@ns@/files", query=(("path", "/scripts/b.py"),),
      files=(("fileContent", "b.py", "print('b')\n"),), fields=("=",)),
    X("delete one of two", "DELETE", "main/namespaces/@ns@/files", query=(("path", "/scripts/b.py"),), fields=("=",)),
    X("the other stays", "GET", "main/namespaces/@ns@/files", query=(("path", "/scripts/a.py"),),
      accept="application/octet-stream", fields=("=",)),
    X("delete a missing file next to one other file", "DELETE", "main/namespaces/@ns@/files",
      query=(("path", "/scripts/gone.py"),), fields=("=",)),
    X("the cascade took the folder", "GET", "main/namespaces/@ns@/files", query=(("path", "/scripts/a.py"),),
      accept="application/octet-stream", fields=("message",), normalize=STORAGE),
    X("the root after the cascade", "GET", "main/namespaces/@ns@/files/directory", fields=("[].fileName",)),
    X("upload at the root", "POST", "main/namespaces/@ns@/files", query=(("path", "/root.txt"),),
      files=(("fileContent", "root.txt", "r\n"),), fields=("=",)),
    X("delete at the root", "DELETE", "main/namespaces/@ns@/files", query=(("path", "/root.txt"),), fields=("=",)),
    X("delete it again", "DELETE", "main/namespaces/@ns@/files", query=(("path", "/root.txt"),), fields=("=",)),
    X("upload as JSON", "POST", "main/namespaces/@ns@/files", query=(("path", "/x.txt"),), body="{}",
      ctype="application/json", fields=("message",)),
))

KV = Scenario("kv", (
    X("put a string", "PUT", "main/namespaces/@ns@/kv/S", body='"text"', ctype="text/plain", fields=("=",)),
    X("put a number", "PUT", "main/namespaces/@ns@/kv/N", body="42", ctype="text/plain", fields=("=",)),
    X("put a float", "PUT", "main/namespaces/@ns@/kv/F", body="2.5", ctype="text/plain", fields=("=",)),
    X("put a boolean", "PUT", "main/namespaces/@ns@/kv/B", body="true", ctype="text/plain", fields=("=",)),
    X("put an object", "PUT", "main/namespaces/@ns@/kv/J", body='{"a": 1, "n": [1, 2]}', ctype="text/plain",
      fields=("=",)),
    X("put a list", "PUT", "main/namespaces/@ns@/kv/L", body='[1, "two"]', ctype="text/plain", fields=("=",)),
    X("get the string", "GET", "main/namespaces/@ns@/kv/S", fields=("type", "value")),
    X("get the number", "GET", "main/namespaces/@ns@/kv/N", fields=("type", "value")),
    X("get the float", "GET", "main/namespaces/@ns@/kv/F", fields=("type", "value")),
    X("get the boolean", "GET", "main/namespaces/@ns@/kv/B", fields=("type", "value")),
    X("get the object", "GET", "main/namespaces/@ns@/kv/J", fields=("type", "value")),
    X("get the list", "GET", "main/namespaces/@ns@/kv/L", fields=("type", "value")),
    X("put bare words (an Ion symbol, then more)", "PUT", "main/namespaces/@ns@/kv/W", body="not json{",
      ctype="text/plain", fields=("=",)),
    X("get the bare word", "GET", "main/namespaces/@ns@/kv/W", fields=("type", "value")),
    X("put an Ion timestamp", "PUT", "main/namespaces/@ns@/kv/T", body="2025-01-02T03:04:05Z", ctype="text/plain",
      fields=("=",)),
    X("get the timestamp", "GET", "main/namespaces/@ns@/kv/T", fields=("type", "value")),
    X("put an unterminated string", "PUT", "main/namespaces/@ns@/kv/U", body='"s3cr3t', ctype="text/plain",
      fields=("message",)),
    X("put nothing parsable", "PUT", "main/namespaces/@ns@/kv/U", body="{", ctype="text/plain",
      fields=("message",)),
    X("put with a bad key", "PUT", "main/namespaces/@ns@/kv/_bad", body='"x"', ctype="text/plain",
      fields=("message",)),
    X("put as JSON", "PUT", "main/namespaces/@ns@/kv/S", body='"x"', ctype="application/json", fields=("message",)),
    X("get a missing key", "GET", "main/namespaces/@ns@/kv/NOPE", fields=("message",)),
    X("get with a bad key", "GET", "main/namespaces/@ns@/kv/_bad", fields=("message",)),
    X("delete", "DELETE", "main/namespaces/@ns@/kv/S", fields=("=",)),
    X("delete again", "DELETE", "main/namespaces/@ns@/kv/S", fields=("=",)),
), cleanup=tuple(X("", "DELETE", f"main/namespaces/@ns@/kv/{k}") for k in "NFBJLWT"))

DASHBOARDS = Scenario("dashboards", (
    Y("validate a valid one", "POST", "main/dashboards/validate", dashboard(), fields=("index", "constraints")),
    Y("validate one without a title", "POST", "main/dashboards/validate", "id: @did@\ncharts: []\n",
      fields=("index", "constraints{}")),
    Y("validate one with an unknown chart", "POST", "main/dashboards/validate", dashboard(chart="io.kestra.Nope"),
      fields=("index", "constraints")),
    Y("create", "POST", "main/dashboards", dashboard(), fields=DASH_FIELDS),
    Y("create again", "POST", "main/dashboards", dashboard(), fields=ERR),
    Y("create without an id", "POST", "main/dashboards", "title: x\ncharts: []\n", fields=ERR),
    Y("create without a title", "POST", "main/dashboards", "id: @did@x\ncharts: []\n",
      fields=("message{}", "_embedded.errors[].message{}", "_embedded.errors[].path{}")),
    Y("create with an unknown chart", "POST", "main/dashboards", dashboard(chart="io.kestra.Nope", did="@did@y"),
      fields=ERR, normalize=SOURCE_LOCATION),
    X("get", "GET", "main/dashboards/@did@", fields=DASH_FIELDS),
    Y("update", "PUT", "main/dashboards/@did@", dashboard("Two"), fields=DASH_FIELDS),
    Y("update changing the id", "PUT", "main/dashboards/@did@", dashboard(did="@did@z"), fields=ERR),
    Y("update with an unknown chart", "PUT", "main/dashboards/@did@", dashboard(chart="io.kestra.Nope"),
      fields=ERR, normalize=SOURCE_LOCATION),
    X("delete", "DELETE", "main/dashboards/@did@", fields=("=",)),
    X("delete again", "DELETE", "main/dashboards/@did@", fields=("message",)),
    X("get the deleted one", "GET", "main/dashboards/@did@", fields=("message",)),
), cleanup=(X("", "DELETE", "main/dashboards/@did@"),))

EXEC_FIELDS = ("namespace", "flowId", "state.current", "inputs", "outputs", "taskRunList[].taskId",
               "taskRunList[].state.current", "taskRunList[].outputs")
LOG_FIELDS = ("[].taskId", "[].level", "[].message")
DONE = ("state.current", TERMINAL)

EXECUTIONS = Scenario("executions", (
    Y("create the flow", "POST", "main/flows", RUNS, fields=("revision",)),
    Y("create a flow in a child namespace", "POST", "main/flows", SUB, fields=("revision",)),
    X("trigger", "POST", "main/executions/@ns@/runs", form=(("who", "me"),),
      fields=("namespace", "flowId", "state.current", "inputs"), capture=(("@exec@", "id", None),)),
    X("wait for the end", "GET", "main/executions/@exec@", until=DONE, fields=EXEC_FIELDS,
      capture=(("@start@", "state.startDate", "ms"), ("@start-1ms@", "state.startDate", "ms-1"))),
    X("trigger the child namespace's flow", "POST", "main/executions/@ns@.sub/sub",
      fields=("state.current",), capture=(("@exec2@", "id", None),)),
    X("wait for it", "GET", "main/executions/@exec2@", until=DONE, fields=("state.current",)),
    X("logs from INFO", "GET", "main/logs/@exec@", query=(("minLevel", "INFO"),), fields=LOG_FIELDS),
    X("logs from WARN", "GET", "main/logs/@exec@", query=(("minLevel", "WARN"),), fields=LOG_FIELDS),
    X("logs at every level", "GET", "main/logs/@exec@", fields=LOG_FIELDS),
    X("logs of one task", "GET", "main/logs/@exec@", query=(("taskId", "warn"),), fields=LOG_FIELDS),
    X("logs with an unknown level", "GET", "main/logs/@exec@", query=(("minLevel", "WARNING"),),
      fields=("message",)),
    X("logs of an unknown execution", "GET", "main/logs/nope", query=(("minLevel", "INFO"),), fields=("=",)),
    X("a missing execution", "GET", "main/executions/nope", fields=("message",)),
    X("search by namespace and flow (legacy)", "GET", "main/executions/search",
      query=(("namespace", "@ns@"), ("flowId", "runs")), fields=RESULTS),
    X("search by namespace prefix (legacy)", "GET", "main/executions/search", query=(("namespace", "@ns@"),),
      fields=RESULTS),
    X("search from the start's millisecond (legacy startDate)", "GET", "main/executions/search",
      query=(("namespace", "@ns@"), ("flowId", "runs"), ("startDate", "@start@")), fields=RESULTS),
    X("search from a millisecond earlier (legacy startDate)", "GET", "main/executions/search",
      query=(("namespace", "@ns@"), ("flowId", "runs"), ("startDate", "@start-1ms@")), fields=RESULTS),
    X("search with microseconds (legacy startDate)", "GET", "main/executions/search",
      query=(("namespace", "@ns@"), ("startDate", "2025-11-28T19:01:52.123456Z")), fields=("message",)),
    X("search by filters, from the start's millisecond", "GET", "main/executions/search",
      query=(("filters[namespace][EQUALS]", "@ns@"), ("filters[flowId][EQUALS]", "runs"),
             ("filters[startDate][GREATER_THAN_OR_EQUAL_TO]", "@start@")), fields=RESULTS),
    X("search by filters, namespace equal", "GET", "main/executions/search",
      query=(("filters[namespace][EQUALS]", "@ns@"),), fields=RESULTS),
    X("search by filters, namespace prefix", "GET", "main/executions/search",
      query=(("filters[namespace][PREFIX]", "@ns@"),), fields=RESULTS),
    X("search by filters, after the end of time", "GET", "main/executions/search",
      query=(("filters[namespace][EQUALS]", "@ns@"), ("filters[startDate][GREATER_THAN_OR_EQUAL_TO]",
                                                       "2999-01-01T00:00:00Z")), fields=RESULTS),
    X("filters win over the legacy parameters", "GET", "main/executions/search",
      query=(("filters[namespace][PREFIX]", "@ns@"), ("filters[flowId][EQUALS]", "sub"), ("namespace", "@ns@"),
             ("flowId", "runs")), fields=RESULTS),
    X("search by filters, a date without an offset", "GET", "main/executions/search",
      query=(("filters[startDate][GREATER_THAN_OR_EQUAL_TO]", "2025-11-28T19:01:52.123"),), fields=("message",)),
    X("search by filters, an impossible date", "GET", "main/executions/search",
      query=(("filters[startDate][GREATER_THAN_OR_EQUAL_TO]", "2025-13-45T00:00:00Z"),), fields=("message",),
      kept="date parse errors"),
    X("search by filters, an unknown operation", "GET", "main/executions/search",
      query=(("filters[namespace][BOGUS]", "@ns@"),), fields=("message",)),
    X("trigger a missing flow", "POST", "main/executions/@ns@/nope", form=(("a", "b"),), fields=("message",)),
    X("trigger without a required input", "POST", "main/executions/@ns@/runs", form=(("n", "4"),),
      fields=("message", "_embedded.errors[].message{}")),
    X("trigger with a JSON body", "POST", "main/executions/@ns@/runs", body="{}", ctype="application/json",
      fields=("message",)),
), cleanup=(X("", "DELETE", "main/flows/@ns@/runs"), X("", "DELETE", "main/flows/@ns@.sub/sub")))

FAILING_RUN = Scenario("failing execution", (
    Y("create the flow", "POST", "main/flows", FAILING, fields=("revision",)),
    X("trigger", "POST", "main/executions/@ns@/failing", form=(("unused", "x"),), fields=("state.current",),
      capture=(("@exec@", "id", None),)),
    X("wait for the end", "GET", "main/executions/@exec@", until=DONE, fields=EXEC_FIELDS),
    X("logs from INFO", "GET", "main/logs/@exec@", query=(("minLevel", "INFO"),), fields=LOG_FIELDS),
    X("logs from DEBUG", "GET", "main/logs/@exec@", query=(("minLevel", "DEBUG"),), fields=("[].taskId", "[].level")),
    X("logs at every level", "GET", "main/logs/@exec@", fields=("[].taskId", "[].level")),
    Y("create a flow failing on a condition", "POST", "main/flows", GATE, fields=("revision",)),
    X("open the gate", "POST", "main/executions/@ns@/gate", form=(("fail", "false"),), fields=("inputs",),
      capture=(("@open@", "id", None),)),
    X("through the open gate", "GET", "main/executions/@open@", until=DONE,
      fields=("state.current", "taskRunList[].taskId", "taskRunList[].state.current")),
    X("close the gate", "POST", "main/executions/@ns@/gate", form=(("fail", "true"),), fields=("inputs",),
      capture=(("@closed@", "id", None),)),
    X("stopped at the closed gate", "GET", "main/executions/@closed@", until=DONE,
      fields=("state.current", "taskRunList[].taskId", "taskRunList[].state.current")),
    # The task's own ERROR line and the worker's lines about its exception come in either order.
    X("the closed gate's logs", "GET", "main/logs/@closed@", query=(("minLevel", "INFO"),),
      fields=("[].taskId{}", "[].level{}", "[].message{}")),
    X("the closed gate's logs at every level", "GET", "main/logs/@closed@", fields=("[].taskId{}", "[].level{}")),
), cleanup=(X("", "DELETE", "main/flows/@ns@/failing"), X("", "DELETE", "main/flows/@ns@/gate")))

SERVER = Scenario("server", (
    X("no credentials", "GET", "main/flows/@ns@/hello", auth=("", ""), fields=("=",)),
    X("a wrong password", "GET", "main/flows/@ns@/hello", auth=("admin@kestra.io", "Wr0ngPassw0rd"), fields=("=",)),
    X("configs without credentials", "GET", "configs", auth=("", ""), fields=("version", "edition")),
    X("configs under the tenant", "GET", "main/configs", fields=("message",)),
    X("an unknown path", "GET", "main/nothing/here", fields=("message",)),
    X("a GET with a Content-Type", "GET", "main/flows/@ns@/nope", ctype="application/xml", fields=("message",)),
    X("a DELETE with a Content-Type no route takes", "DELETE", "main/namespaces/@ns@/kv/K", body="x",
      ctype="application/xml", fields=("message",)),
    X("asking for XML", "GET", "main/flows/@ns@/nope", accept="application/xml", fields=("message",)),
    X("a wrong method", "PUT", "main/executions/search", fields=("message",), kept="unmodelled routes"),
    X("a method no route of the path has", "POST", "main/namespaces/@ns@/kv/K", body="x", ctype="application/xml",
      fields=("message",)),
    X("a PUT with a Content-Type no route takes", "PUT", "main/namespaces/@ns@/kv/K", body="x",
      ctype="application/xml", fields=("message",)),
    X("configs asking for XML", "GET", "configs", auth=("", ""), accept="application/xml", fields=("message",)),
    X("the AI copilot without an AI service", "POST", "main/ai/generate/flow",
      body='{"conversationId": "c1", "userPrompt": "a flow"}', ctype="application/json", accept="application/yaml",
      fields=("message",)),
))

SCENARIOS: tuple = (FLOWS, VALIDATE_SCENARIO, BULK, FILES, KV, DASHBOARDS, EXECUTIONS, FAILING_RUN, SERVER)


# -- reading answers ---------------------------------------------------------------------------

def _walk(node: Any, segments: list) -> Any:
    if not segments:
        return node
    seg, rest = segments[0], segments[1:]
    if seg.endswith("[]"):
        key = seg[:-2]
        items = node if not key else (node.get(key) if isinstance(node, dict) else None)
        if not isinstance(items, list):
            return None
        return [_walk(item, rest) for item in items]
    return _walk(node.get(seg) if isinstance(node, dict) else None, rest)


def extract(doc: Any, path: str) -> Any:
    """One compared field of an answer.

    ``a.b``: a nested key (absent and null are the same: the client reads with ``.get``); ``a[]``:
    every item of the list ``a`` (``[]`` alone: of the answer itself); ``=``: the whole answer
    (JSON or text); a trailing ``{}`` compares without order — a sorted list, or the lines of a
    string sorted (Kestra builds some messages from a ``Set``, whose order varies between runs).
    """
    path = path[:-2] if path.endswith("{}") else path
    return doc if path == "=" else _walk(doc, path.split("."))


def _unordered(value: Any) -> Any:
    """A ``{}`` field's value in a form that ignores order (after the tokens are put in)."""
    if isinstance(value, list):
        return sorted(value, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, str):
        # "Invalid entity: a\nb\n" (KestraConstraintViolationException) or "Invalid entity: a, b"
        # (jakarta's): the violations are the parts, the prefix is not one of them.
        prefix = "Invalid entity: " if value.startswith("Invalid entity: ") else ""
        rest = value[len(prefix):]
        parts = rest.splitlines() if "\n" in rest else rest.split(", ")
        return prefix + "\n".join(sorted(parts))
    return value


def _tokens_out(value: Any, tokens: dict, normalize: tuple) -> Any:
    """Replaces run-specific values by their tokens (longest first), then applies `normalize`."""
    if isinstance(value, str):
        for token, actual in sorted(tokens.items(), key=lambda kv: -len(kv[1])):
            if actual:
                value = value.replace(actual, token)
        for pattern, replacement in normalize:
            value = re.sub(pattern, replacement, value)
        return value
    if isinstance(value, list):
        return [_tokens_out(v, tokens, normalize) for v in value]
    if isinstance(value, dict):
        return {_tokens_out(k, tokens, normalize): _tokens_out(v, tokens, normalize) for k, v in value.items()}
    return value


def _tokens_in(text: Optional[str], tokens: dict) -> Optional[str]:
    if text is None:
        return None
    for token, actual in tokens.items():
        text = text.replace(token, actual)
    return text


def _ms(instant: str, shift: int = 0) -> str:
    moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", instant).replace("Z", "+00:00"))
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000) + timedelta(milliseconds=shift)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


TRANSFORMS: dict = {None: str, "ms": _ms, "ms-1": lambda v: _ms(v, -1)}


# -- running -----------------------------------------------------------------------------------

@dataclass
class Target:
    """A Kestra to send the requests to: its URL and login; `poll_pause` between polls."""

    url: str
    username: str
    password: str
    poll_pause: float = 0.5
    poll_limit: float = 120.0
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Answer:
    status: int
    ctype: str
    view: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"status": self.status, "ctype": self.ctype, "view": self.view}


class Hazard(Exception):
    """An exchange would PUT a flow or dashboard the target does not have (never sent)."""


def _guard(target: Target, exchange: Exchange, tokens: dict) -> None:
    """Reads the flow or dashboard a PUT targets, and raises `Hazard` when it is missing."""
    parts = _tokens_in(exchange.path, tokens).split("/")
    document = (len(parts) == 4 and parts[1] == "flows") or (len(parts) == 3 and parts[1] == "dashboards")
    if exchange.method != "PUT" or not document:
        return
    url = f"{target.url.rstrip('/')}/api/v1/{'/'.join(parts)}"
    if requests.get(url, auth=(target.username, target.password), timeout=30).status_code == 404:
        raise Hazard(f"{exchange.name}: PUT of the missing {'/'.join(parts[1:])} (kestra-io/kestra#12984)")


def _send(target: Target, exchange: Exchange, tokens: dict) -> requests.Response:
    _guard(target, exchange, tokens)
    url = f"{target.url.rstrip('/')}/api/v1/{_tokens_in(exchange.path, tokens)}"
    headers = {}
    if exchange.accept:
        headers["Accept"] = exchange.accept
    data: Optional[bytes] = None
    if exchange.files or exchange.form:
        fields = [(n, _tokens_in(v, tokens)) for n, v in exchange.form]
        fields += [(n, (fn, _tokens_in(c, tokens).encode(), "application/octet-stream")) for n, fn, c in exchange.files]
        data, headers["Content-Type"] = urllib3.encode_multipart_formdata(fields)
    elif exchange.body is not None:
        data = _tokens_in(exchange.body, tokens).encode()
    if exchange.ctype:
        headers["Content-Type"] = exchange.ctype
    auth = exchange.auth if exchange.auth is not None else (target.username, target.password)
    params = [(k, _tokens_in(v, tokens)) for k, v in exchange.query]
    return requests.request(exchange.method, url, params=params, data=data, headers=headers,
                            auth=auth if auth != ("", "") else None, timeout=30, allow_redirects=False)


def _answer(response: requests.Response, exchange: Exchange, tokens: dict) -> tuple[Answer, Any]:
    ctype = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    doc: Any = response.text
    if ctype == "application/json" and response.content:
        doc = response.json()
    view = {}
    for path in exchange.fields:
        value = _tokens_out(extract(doc, path), tokens, exchange.normalize)
        view[path] = _unordered(value) if path.endswith("{}") else value
    return Answer(response.status_code, ctype, view), doc


def run(target: Target, scenario: Scenario, *, tag: str = "") -> dict[str, Answer]:
    """Sends the scenario's requests in order and returns ``{exchange name: Answer}``; cleans up."""
    suffix = tag or uuid.uuid4().hex[:10]
    tokens = {"@ns@": f"itest.diff.n{suffix}", "@did@": f"itest_diff_{suffix}"}
    answers: dict[str, Answer] = {}
    try:
        for exchange in scenario.exchanges:
            started = time.monotonic()
            while True:
                response = _send(target, exchange, tokens)
                answer, doc = _answer(response, exchange, tokens)
                if exchange.until is None:
                    break
                wanted_field, wanted = exchange.until
                if extract(doc, wanted_field) in wanted or time.monotonic() - started > target.poll_limit:
                    break
                target.sleep(target.poll_pause)
            for token, path, transform in exchange.capture:
                value = extract(doc, path)
                if value is not None:
                    tokens[token] = TRANSFORMS[transform](value)
            answers[exchange.name] = answer
    finally:
        for exchange in scenario.cleanup:
            try:
                _send(target, exchange, tokens)
            except requests.RequestException:
                pass
    return answers


# Answers that depend on the database behind Kestra, not on Kestra's code: the recording was made
# on H2, and the same request gets this other answer from a Kestra on PostgreSQL. The legacy
# `startDate` search is `start_date > startDate`; H2's generated column keeps the start to the
# millisecond (jdbc-h2 V1_1__initial.sql: PARSEDATETIME with the pattern ...HH:mm:ss.SSS'Z'), so an
# execution's own millisecond does not find it, while PostgreSQL's is a TIMESTAMP with microseconds
# (jdbc-postgres V1_1__initial.sql: PARSE_ISO8601_DATETIME(value #>> '{state, startDate}')), later
# than its millisecond unless the start fell on a whole millisecond.
ON_POSTGRES: dict[str, dict] = {
    "search from the start's millisecond (legacy startDate)": {"total": 1, "results[].id{}": ["@exec@"]},
}


def differences(expected: dict, actual: dict[str, Answer], *, views_skipped: frozenset = frozenset(),
                alternatives: Optional[dict[str, dict]] = None) -> list[str]:
    """Each way `actual` departs from `expected` (recorded JSON), one line each; the compared
    fields of the exchanges named in `views_skipped` are not compared (status and content type are).
    An exchange named in `alternatives` may answer exactly that view instead (`ON_POSTGRES`)."""
    lines = []
    for name, want in expected.items():
        got = actual.get(name)
        if got is None:
            lines.append(f"{name}: not sent")
            continue
        if got.status != want["status"]:
            lines.append(f"{name}: status {got.status}, expected {want['status']}")
        if got.ctype != want["ctype"]:
            lines.append(f"{name}: content type {got.ctype!r}, expected {want['ctype']!r}")
        if name in views_skipped:
            continue
        other = (alternatives or {}).get(name)
        if other is not None and all(got.view.get(path) == value for path, value in other.items()):
            continue
        for path, value in want["view"].items():
            if got.view.get(path) != value:
                lines.append(f"{name}: {path} = {json.dumps(got.view.get(path))[:400]}, "
                             f"expected {json.dumps(value)[:400]}")
    return lines


def load_recording() -> dict:
    return json.loads(RECORDING.read_text())


def record(target: Target) -> dict:
    """Runs every scenario against `target` (a real Kestra) and writes the recording."""
    configs = requests.get(f"{target.url.rstrip('/')}/api/v1/configs", timeout=10).json()
    doc: dict = {
        "kestra": {"version": configs.get("version"), "edition": configs.get("edition")},
        "recorded": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "scenarios": {},
    }
    for scenario in SCENARIOS:
        answers = run(target, scenario)
        doc["scenarios"][scenario.name] = {
            name: {"request": _describe(ex), **answers[name].as_json()}
            for ex in scenario.exchanges for name in [ex.name]
        }
    RECORDING.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    return doc


def _describe(exchange: Exchange) -> str:
    query = "&".join(f"{k}={v}" for k, v in exchange.query)
    return f"{exchange.method} /api/v1/{exchange.path}{'?' + query if query else ''}"


def target_from_env() -> Optional[Target]:
    url = os.environ.get("KESTRA_URL")
    if not url:
        return None
    return Target(url, os.environ.get("KESTRA_USERNAME", ""), os.environ.get("KESTRA_PASSWORD", ""))


def main(argv: list[str]) -> int:
    if argv[1:] != ["record"]:
        print(__doc__)
        return 2
    target = target_from_env()
    if target is None:
        print("KESTRA_URL is not set", file=sys.stderr)
        return 2
    doc = record(target)
    count = sum(len(s) for s in doc["scenarios"].values())
    print(f"recorded {count} exchanges from Kestra {doc['kestra']['version']} into {RECORDING}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
