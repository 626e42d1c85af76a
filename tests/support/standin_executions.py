"""Executions as Kestra 1.1 reports them, for the stand-in (`tests/support/kestra_standin.py`).

`ExecutionModel` answers the stand-in's execution and log calls:

- ``POST /executions/{ns}/{id}`` (ExecutionController.createExecution): multipart inputs (or no
  body at all), 404 "Requested Flow is not found." for an unknown flow (FlowService), 422 for the
  first declared input that is required (the default) and neither given nor defaulted
  (FlowInputOutput.readExecutionInputs: "Invalid input for `x`, missing required input, but
  received `null`"); a given input the flow does not declare is logged at WARN; the answer is the
  new execution in CREATED plus its ``url`` (ExecutionResponse.fromExecution:
  ``{kestra.url}/ui/{tenant}/executions/{ns}/{id}/{execId}``).
- ``GET /executions/{id}`` (ExecutionController.getExecution; a null answer is a 404).
- ``GET /executions/search`` (ExecutionController.searchExecutions, ``page``/``size``):
  ``PagedResults`` ``{"results", "total"}``. Filters (`search`): either ``filters[field][OP]``
  (QueryFilterFormatBinder), or — only when there is none, RequestUtils.getFiltersOrDefaultTo
  LegacyMapping — the deprecated ``namespace`` (PREFIX), ``flowId`` (EQUALS) and ``startDate``,
  which RequestUtils.mapLegacyParamsToFilters maps to START_DATE **GREATER_THAN** (strictly after).
  Start dates are compared as the H2 ``start_date`` column holds them, truncated to milliseconds
  (jdbc-h2 migration V1_32: ``LEFT(JQ_STRING(value, '.state.startDate'), 23)``), so an execution's
  own start (to the millisecond) finds it with ``GREATER_THAN_OR_EQUAL_TO`` and not with the
  legacy ``startDate``. Without any start date, the last 8 days (TimeLineSearch.extractFrom).
  Micronaut prefers the literal ``/search`` route over ``/{executionId}``; the stand-in's
  router does the same (its own ``executions/search`` route).
- ``POST /ai/generate/flow`` (AiController.generateFlow, mapped on the literal ``/api/v1/main/ai``
  and only when an AI service is configured: `ai_answer` None answers 404 like the missing route):
  JSON ``{conversationId, userPrompt, flowYaml}``, answers `ai_answer` as ``application/yaml``.
- ``GET /logs/{executionId}?minLevel=&taskId=`` (LogController.listLogsFromExecution →
  ExecutionLogService.getExecutionLogs): a JSON list of LogEntry, only levels at or above
  ``minLevel`` (LogEntry.findLevelsByMin over org.slf4j.event.Level: TRACE < DEBUG < INFO < WARN
  < ERROR); an unknown level fails the argument conversion, which ErrorController answers with
  422 "Internal server error: Failed to convert argument [minLevel] ..."; an unknown execution has
  no logs (200, ``[]``).

The JSON follows Kestra's models, serialised with ``serialization-inclusion: non_null`` and
ISO-8601 dates and durations (cli application.yml): Execution (``id, namespace, flowId,
flowRevision, tenantId, taskRunList, inputs, outputs, labels, state, trigger, deleted, metadata``),
State (``current, histories[{state, date}], duration, startDate, endDate`` — endDate only once
terminated), TaskRun (``id, executionId, namespace, flowId, taskId, parentTaskRunId, value,
attempts[{state}], outputs`` — ``{}`` once ended when the task has none, null before — ``state``), LogEntry
(``namespace, flowId, taskId, executionId, taskRunId, attemptNumber, timestamp, level, thread,
message``), ExecutionTrigger (``id, type, variables``).

How an execution unfolds: CREATED when triggered, then one step per ``GET /executions/{id}``
(the answer shows the state before the step): RUNNING (the first task run RUNNING) for
`FlowScript.running_polls` polls, then the end state with every task run, the flow outputs and the
logs. What happens is programmable per flow (`script`), by default derived simply from the flow, as a
real run of core tasks goes: one task run per top-level task, in order, each SUCCESS with outputs
``{}``, except that a Log task logs its message at its level (INFO by default); a Return task
outputs ``{"value": format}`` and logs it at DEBUG; a Fail task (io.kestra.plugin.core.execution
.Fail.run) without ``condition``, or whose condition is truthy (TruthUtils: not "", "0", "-0",
"false"; ``{{ inputs.x }}`` is read from the inputs, other templates are taken as false), FAILS: it
logs its ``errorMessage`` (default "Task failure") at ERROR — with a condition, then also the
exception's "Fail on a condition" — and the stack trace at TRACE, and no later task runs. The flow's
``outputs`` whose ``value`` is no template are the execution's outputs, whatever its end. The
end state, when not scripted, is Execution.guessFinalState's: the last KILLED, else FAILED, else
WARNING top-level task run decides, else SUCCESS.

What it does not model: templating (outputs and log messages are given, never rendered),
retries and attempts beyond one, pauses, replays, kills through the API, subflow executions
(a Subflow task run carries whatever outputs the script gives it).
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional, Union

# org.slf4j.event.Level, lowest first (LogEntry.findLevelsByMin compares Level.toInt()).
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
# State.Type.isTerminated
TERMINAL = frozenset({"FAILED", "WARNING", "SUCCESS", "KILLED", "CANCELLED", "RETRIED", "SKIPPED", "RESUBMITTED"})
# ExecutionController.searchExecutions: @Format("yyyy-MM-dd'T'HH:mm[:ss][.SSS][XXX]") on the legacy startDate.
SEARCH_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{3})?)?(Z|[+-]\d{2}:\d{2})?$")
ISO_ZONED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")
FAIL_TYPE = "io.kestra.plugin.core.execution.Fail"
RETURN_TYPE = "io.kestra.plugin.core.debug.Return"
FALSY = ("false", "0", "-0", "")  # TruthUtils.FALSE_VALUES
TASK_STATES = frozenset({"CREATED", "RUNNING", "SUCCESS", "WARNING", "FAILED", "KILLED", "SKIPPED"})


@dataclass
class TaskStep:
    """One task run of a scripted execution.

    `parent` is the task id of the flowable task (ForEach, If, Sequential...) it runs under, and
    `value` the ForEach iteration value; `logs` are (level, message) pairs.
    """

    task_id: str
    state: str = "SUCCESS"
    outputs: Optional[dict] = None
    logs: list = field(default_factory=list)
    value: Optional[str] = None
    parent: Optional[str] = None

    def __post_init__(self) -> None:
        assert self.state in TASK_STATES, self.state
        for level, _ in self.logs:
            assert level in LEVELS, level


@dataclass
class Spawn:
    """An execution another system starts when a scripted one ends (a Pub/Sub event, a schedule).

    `trigger` is its ExecutionTrigger: ``{"id", "type", "variables"}``.
    """

    namespace: str
    flow_id: str
    trigger: dict


@dataclass
class FlowScript:
    """What executions of one flow do. Unset fields are derived from the flow (module docstring).

    `state`: the end state (None: guessed from the top-level task runs); `tasks`: the task runs
    (None: one SUCCESS run per top-level task); `outputs`: the flow outputs; `logs`: (level,
    message) pairs without a task; `running_polls`: polls answered RUNNING before the end;
    `ends=False`: RUNNING for ever; `then`: executions started once this one has ended.
    """

    state: Optional[str] = None
    tasks: Optional[list] = None
    outputs: Optional[dict] = None
    logs: list = field(default_factory=list)
    running_polls: int = 1
    ends: bool = True
    then: list = field(default_factory=list)


Script = Union[FlowScript, Callable[[dict], FlowScript]]  # a callable receives the execution's inputs


@dataclass
class Execution:
    id: str
    tenant: str
    namespace: str
    flow_id: str
    revision: int
    inputs: dict
    script: FlowScript
    runs: list  # [(TaskStep, task run id)]
    trigger: Optional[dict] = None
    current: str = "CREATED"
    history: list = field(default_factory=list)  # [(state, datetime)]
    polls: int = 0
    running_left: int = 0
    logs: list = field(default_factory=list)  # LogEntry JSON, filled when the execution ends
    early_logs: list = field(default_factory=list)  # (level, message) logged when it was created


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"  # java.time.Duration.toString, as Jackson writes it


def _state_json(history: list, current: str) -> dict:
    start, last = history[0][1], history[-1][1]
    doc = {
        "current": current,
        "histories": [{"state": s, "date": _iso(d)} for s, d in history],
        "duration": _duration((last - start).total_seconds()),
        "startDate": _iso(start),
    }
    if current in TERMINAL:
        doc["endDate"] = _iso(last)
    return doc


def _truthy(condition: object, inputs: dict) -> bool:
    """A Fail condition as TruthUtils.isTruthy reads its rendering: ``{{ inputs.x }}`` is rendered
    from the inputs (booleans as Pebble prints them), a literal as is; other templates are not
    rendered here and count as false."""
    text = str(condition).strip()
    found = re.fullmatch(r"\{\{\s*inputs\.(\w+)\s*\}\}", text)
    if found:
        value = inputs.get(found.group(1))
        text = str(value).lower() if isinstance(value, bool) else ("" if value is None else str(value))
    elif "{{" in text:
        return False
    return text.strip() not in FALSY


def guess_final_state(states: list[str]) -> str:
    """Execution.guessFinalState over top-level task runs: KILLED, else FAILED, else WARNING, else SUCCESS."""
    for candidate in ("KILLED", "FAILED", "WARNING"):
        if candidate in states:
            return candidate
    return "SUCCESS"


class ExecutionModel:
    """The stand-in's executions: `executions[id]`, scripts per (namespace, flow id).

    `problem(status, message, errors=None)` builds the stand-in's error answer, `multipart(ctype,
    body)` parses a multipart body, `flow(tenant, ns, id)` returns the stored flow (``.parsed``,
    ``.revision``) or None, `base_url()` the stand-in's URL. `outcomes` keeps the stand-in's older
    shorthand ``{(ns, id): {"state", "task", "error"}}``.
    """

    def __init__(self, *, problem: Callable, multipart: Callable, flow: Callable, base_url: Callable) -> None:
        self.problem, self.multipart, self.flow, self.base_url = problem, multipart, flow, base_url
        self.executions: dict[str, Execution] = {}
        self.scripts: dict[tuple, Script] = {}
        self.outcomes: dict[tuple, dict] = {}
        self.ai_answer: Optional[str] = None  # the copilot's flow YAML; None: no AI configured
        self.ai_prompts: list[dict] = []
        self._clock = itertools.count()
        self._epoch = datetime.now(timezone.utc)

    # -- test helpers -------------------------------------------------------------------------

    def script(self, namespace: str, flow_id: str, script: Script) -> None:
        """Sets what executions of the flow do from now on (a FlowScript, or a callable of the inputs)."""
        self.scripts[(namespace, flow_id)] = script

    def start(self, tenant: str, namespace: str, flow_id: str, *, inputs: Optional[dict] = None,
              trigger: Optional[dict] = None) -> Execution:
        """Starts an execution as a trigger would (no HTTP call); the flow must exist."""
        flow = self.flow(tenant, namespace, flow_id)
        if flow is None:
            # FlowService.getFlowIfExecutableOrThrow: NoSuchElementException → ErrorController 404.
            raise self.problem(404, "Not Found: Requested Flow is not found.")
        given = inputs or {}
        inputs = self._inputs(flow.parsed, given)
        script = self._script_for(namespace, flow_id, flow.parsed, inputs)
        declared = {spec.get("id") for spec in flow.parsed.get("inputs") or [] if isinstance(spec, dict)}
        execution = Execution(
            id=uuid.uuid4().hex[:22], tenant=tenant, namespace=namespace, flow_id=flow_id,
            revision=flow.revision, inputs=inputs, script=script,
            runs=[(step, uuid.uuid4().hex[:22]) for step in script.tasks], trigger=trigger,
            running_left=script.running_polls,
            # FlowInputOutput.readExecutionInputs warns of each given input the flow does not declare.
            early_logs=[("WARN", f"Input {name} was provided for workflow {namespace}.{flow_id} but isn't "
                                 "declared in the workflow inputs") for name in given if name not in declared],
        )
        execution.history.append(("CREATED", self._tick()))
        self.executions[execution.id] = execution
        return execution

    # -- routes -------------------------------------------------------------------------------

    def trigger(self, tenant: str, namespace: str, flow_id: str, *, ctype: str, body: bytes) -> dict:
        """``POST /executions/{ns}/{id}`` (ExecutionController.createExecution, consumes multipart)."""
        if ctype and not ctype.startswith("multipart/form-data"):
            raise self.problem(415, "Unsupported Media Type")
        given = {name: data.decode() for name, _, data in self.multipart(ctype, body)} if body else {}
        execution = self.start(tenant, namespace, flow_id, inputs=given)
        doc = self.execution_json(execution)
        doc["url"] = f"{self.base_url()}/ui/{tenant}/executions/{namespace}/{flow_id}/{execution.id}"
        return doc

    def get(self, tenant: str, execution_id: str) -> dict:
        """``GET /executions/{id}``: the execution as it is, then one step further."""
        execution = self.executions.get(execution_id)
        if execution is None or execution.tenant != tenant:
            raise self.problem(404, "Not Found")
        doc = self.execution_json(execution)
        execution.polls += 1
        self._advance(execution)
        return doc

    def search(self, tenant: str, query: dict, filters: Optional[list] = None) -> dict:
        """``GET /executions/search``: `filters` (field, op, value) from ``filters[...]``, else the
        legacy parameters of `query` (module docstring); newest first (the UI's default sort)."""
        if filters:
            conditions = [self._condition(f, op, value) for f, op, value in filters]
            dated = any(f == "startDate" for f, _, _ in filters)
        else:
            conditions = []
            if query.get("namespace"):
                conditions.append(self._condition("namespace", "PREFIX", query["namespace"]))
            if query.get("flowId"):
                conditions.append(self._condition("flowId", "EQUALS", query["flowId"]))
            start = query.get("startDate")
            if start:
                # @Format("yyyy-MM-dd'T'HH:mm[:ss][.SSS][XXX]"): at most milliseconds; anything else
                # fails the argument conversion, which ErrorController answers with a 422.
                if not SEARCH_DATE.match(start):
                    why = f" due to: Text '{start}' could not be parsed, unparsed text found at index 23" \
                        if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{4,}", start) else ""
                    raise self.problem(
                        422, f"Internal server error: Failed to convert argument [startDate] for value [{start}]{why}"
                    )
                conditions.append(self._condition("startDate", "GREATER_THAN", start))
            dated = bool(start)
        if not dated:  # TimeLineSearch.extractFrom: no start date → the last 8 days
            since = datetime.now(timezone.utc) - timedelta(days=8)
            conditions.append(lambda e: self._start_ms(e) >= since)
        found = [e for e in self.executions.values() if e.tenant == tenant and all(c(e) for c in conditions)]
        found.sort(key=lambda e: e.history[0][1], reverse=True)
        page, size = int(query.get("page", 1)), int(query.get("size", 10))
        chunk = found[(page - 1) * size: page * size]
        return {"results": [self.execution_json(e) for e in chunk], "total": len(found)}

    @staticmethod
    def _start_ms(execution: Execution) -> datetime:
        """The start as the H2 ``start_date`` column holds it: truncated to milliseconds."""
        start = execution.history[0][1]
        return start.replace(microsecond=start.microsecond // 1000 * 1000)

    def _condition(self, fld: str, op: str, value: str) -> Callable[[Execution], bool]:
        """One filter as AbstractJdbcRepository.getConditionOnField applies it (the fields and
        operations the client and tour send; others are refused loudly as not modelled)."""
        if fld == "namespace" and op in ("EQUALS", "PREFIX"):
            return lambda e: e.namespace == value or (op == "PREFIX" and e.namespace.startswith(value + "."))
        if fld == "flowId" and op == "EQUALS":
            return lambda e: e.flow_id == value
        if fld == "startDate" and op in ("GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO", "LESS_THAN",
                                         "LESS_THAN_OR_EQUAL_TO"):
            if not ISO_ZONED.match(value):
                # ZonedDateTime.parse (TimeLineSearch.extractFrom), an uncaught DateTimeParseException: 500.
                at = len(value) if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", value) else 0
                raise self.problem(500, f"Internal server error: Text '{value}' could not be parsed at index {at}")
            try:
                moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00"))
            except ValueError as exc:  # KEPT_DIFFERENCES "date parse errors": Python's words
                raise self.problem(500, f"Internal server error: Text '{value}' could not be parsed: {exc}") from None
            compare = {"GREATER_THAN": lambda a: a > moment, "GREATER_THAN_OR_EQUAL_TO": lambda a: a >= moment,
                       "LESS_THAN": lambda a: a < moment, "LESS_THAN_OR_EQUAL_TO": lambda a: a <= moment}[op]
            return lambda e: compare(self._start_ms(e))
        raise self.problem(422, f"Illegal argument: the stand-in does not model the execution filter {fld} {op}")

    def logs(self, tenant: str, execution_id: str, query: dict) -> list:
        """``GET /logs/{executionId}``: entries at or above ``minLevel``, optionally of one ``taskId``."""
        min_level = query.get("minLevel")
        if min_level is not None and min_level not in LEVELS:
            raise self.problem(
                422,
                f"Internal server error: Failed to convert argument [minLevel] for value [{min_level}] "
                f"due to: No enum constant org.slf4j.event.Level.{min_level}",
            )
        execution = self.executions.get(execution_id)
        if execution is None or execution.tenant != tenant:
            return []
        floor = LEVELS.index(min_level) if min_level else 0
        task_id = query.get("taskId")
        return [
            entry for entry in execution.logs
            if LEVELS.index(entry["level"]) >= floor and (task_id is None or entry.get("taskId") == task_id)
        ]

    def generate_flow(self, tenant: str, ctype: str, body: bytes) -> str:
        """``POST /ai/generate/flow``: records the prompt and answers the scripted YAML."""
        if self.ai_answer is None or tenant != "main":
            raise self.problem(404, "Not Found", [{"message": "Page Not Found"}])
        if not ctype.startswith("application/json"):
            raise self.problem(415, "Unsupported Media Type")
        prompt = json.loads(body or b"{}")
        if not prompt.get("conversationId") or not prompt.get("userPrompt"):
            raise self.problem(400, "Bad Request: conversationId and userPrompt must not be null")
        self.ai_prompts.append(prompt)
        return self.ai_answer

    # -- the model ----------------------------------------------------------------------------

    def _tick(self) -> datetime:
        """A strictly increasing time from the model's creation, 1.5 s per event: stable durations and orders."""
        return self._epoch + timedelta(seconds=1.5 * next(self._clock))

    def _inputs(self, flow: dict, given: dict) -> dict:
        """Declared inputs with their defaults, given values typed like FlowInputOutput does; the
        first required one (Input.required defaults to true) neither given nor defaulted is a
        ConstraintViolationException (422)."""
        values: dict = {}
        for spec in flow.get("inputs") or []:
            name, kind = spec.get("id"), str(spec.get("type", "STRING")).upper()
            if name not in given:
                if "defaults" in spec:
                    raw_default = spec["defaults"]
                    values[name] = int(raw_default) if kind == "INT" and isinstance(raw_default, str) else raw_default
                elif spec.get("required", True):
                    text = f"Invalid input for `{name}`, missing required input, but received `null`"
                    raise self.problem(422, f"Invalid entity: {name}: {text}", [{"message": text, "path": name}])
                continue
            raw = given[name]
            if kind == "INT":
                values[name] = int(raw)
            elif kind == "FLOAT":
                values[name] = float(raw)
            elif kind in ("BOOL", "BOOLEAN"):
                values[name] = str(raw).lower() == "true"
            elif kind in ("MULTISELECT", "ARRAY", "JSON"):
                values[name] = json.loads(raw)
            else:
                values[name] = raw
        return values

    def _script_for(self, namespace: str, flow_id: str, flow: dict, inputs: dict) -> FlowScript:
        script = self.scripts.get((namespace, flow_id))
        if callable(script):
            script = script(inputs)
        if script is None:
            script = self._from_outcome(flow, self.outcomes.get((namespace, flow_id), {}), inputs)
        if script.tasks is None:
            script = FlowScript(**{**script.__dict__, "tasks": self._default_tasks(flow, inputs)})
        if script.outputs is None:
            literal = {o.get("id"): o.get("value") for o in flow.get("outputs") or []
                       if isinstance(o, dict) and "{{" not in str(o.get("value"))}
            if literal:
                script = FlowScript(**{**script.__dict__, "outputs": literal})
        return script

    @staticmethod
    def _default_tasks(flow: dict, inputs: Optional[dict] = None) -> list:
        """What a run of the flow's top-level tasks does (module docstring), up to a failing Fail."""
        steps = []
        for task in flow.get("tasks") or []:
            kind, logs, outputs = str(task.get("type", "")), [], None
            if kind.endswith(".log.Log"):
                level = str(task.get("level", "INFO")).upper()
                logs.append((level if level in LEVELS else "INFO", str(task.get("message", ""))))
            elif kind == RETURN_TYPE:
                # Return.run: logs the rendered format at DEBUG, outputs it as `value`.
                outputs = {"value": task.get("format")}
                logs.append(("DEBUG", str(task.get("format"))))
            elif kind == FAIL_TYPE:
                message = str(task.get("errorMessage", "Task failure"))
                condition = task.get("condition")
                if condition is None:
                    # Fail.run throws Exception(errorMessage): the worker logs it at ERROR, the trace at TRACE.
                    logs += [("ERROR", message),
                             ("TRACE", f"java.lang.Exception: {message}\n\tat {FAIL_TYPE}.run(Fail.java:137)")]
                elif _truthy(condition, inputs or {}):
                    logs += [("ERROR", message), ("ERROR", "Fail on a condition"),
                             ("TRACE", f"java.lang.Exception: Fail on a condition\n\tat {FAIL_TYPE}.run(Fail.java:132)")]
                else:
                    steps.append(TaskStep(task.get("id", "?")))
                    continue
                steps.append(TaskStep(task.get("id", "?"), state="FAILED", logs=logs))
                break  # no later task runs once one failed (only errors/finally branches would)
            steps.append(TaskStep(task.get("id", "?"), outputs=outputs, logs=logs))
        return steps

    def _from_outcome(self, flow: dict, outcome: dict, inputs: Optional[dict] = None) -> FlowScript:
        """The older shorthand: ``state`` (RUNNING: never ends), the ``task`` that ends so, its ``error``."""
        if not outcome:  # nothing scripted: the end state follows the task runs
            return FlowScript()
        state = outcome.get("state", "SUCCESS")
        if state == "RUNNING":
            return FlowScript(ends=False)
        task = outcome.get("task")
        if not task:
            return FlowScript(state=state)
        steps = []
        for step in self._default_tasks(flow, inputs):
            if step.task_id == task:
                level = "ERROR" if state in ("FAILED", "KILLED") else "WARN"
                steps.append(TaskStep(task, state=state, logs=step.logs + [(level, outcome.get("error") or "task failed")]))
                if state in ("FAILED", "KILLED"):
                    break  # Kestra runs no later task once one failed (only errors/finally branches)
            else:
                steps.append(step)
        return FlowScript(state=state, tasks=steps)

    def _advance(self, execution: Execution) -> None:
        if execution.current in TERMINAL:
            return
        if execution.current == "CREATED":
            execution.current = "RUNNING"
            execution.history.append(("RUNNING", self._tick()))
            return
        if not execution.script.ends:
            return
        if execution.running_left > 1:
            execution.running_left -= 1
            return
        top = [step.state for step, _ in execution.runs if step.parent is None]
        final = execution.script.state or guess_final_state(top)
        execution.current = final
        self._write_logs(execution)
        execution.history.append((final, self._tick()))
        for spawn in execution.script.then:
            self.start(execution.tenant, spawn.namespace, spawn.flow_id, trigger=spawn.trigger)

    def _log(self, execution: Execution, level: str, message: str, step: Optional[TaskStep] = None,
             run_id: Optional[str] = None) -> dict:
        entry = {
            "namespace": execution.namespace, "flowId": execution.flow_id, "executionId": execution.id,
            "timestamp": _iso(self._tick()), "level": level, "thread": "worker", "message": message,
            "deleted": False, "attemptNumber": None,
        }
        if step is not None:
            entry.update(taskId=step.task_id, taskRunId=run_id, attemptNumber=0)
        return entry

    def _write_logs(self, execution: Execution) -> None:
        for level, message in [*execution.early_logs, *execution.script.logs]:
            execution.logs.append(self._log(execution, level, message))
        for step, run_id in execution.runs:
            for level, message in step.logs:
                execution.logs.append(self._log(execution, level, message, step, run_id))

    def _task_run_json(self, execution: Execution, step: TaskStep, run_id: str, state: str) -> dict:
        created = execution.history[0][1]
        history = [("CREATED", created)]
        if state != "CREATED":
            history.append(("RUNNING", created + timedelta(seconds=0.5)))
        if state in TERMINAL:
            history.append((state, execution.history[-1][1]))
        parent_ids = {s.task_id: rid for s, rid in execution.runs}
        doc = {
            "tenantId": execution.tenant, "id": run_id, "executionId": execution.id,
            "namespace": execution.namespace, "flowId": execution.flow_id, "taskId": step.task_id,
            "attempts": [{"state": _state_json(history, state)}],
            "outputs": ({} if step.outputs is None else step.outputs) if state in TERMINAL else None,
            "state": _state_json(history, state),
        }
        if step.parent is not None:
            doc["parentTaskRunId"] = parent_ids.get(step.parent)
        if step.value is not None:
            doc["value"] = step.value
        return doc

    def execution_json(self, execution: Execution) -> dict:
        current = execution.current
        runs = []
        if current == "RUNNING" and execution.runs:
            step, run_id = execution.runs[0]
            runs.append(self._task_run_json(execution, step, run_id, "RUNNING"))
        elif current in TERMINAL:
            runs = [self._task_run_json(execution, step, run_id, step.state) for step, run_id in execution.runs]
        doc = {
            "id": execution.id, "namespace": execution.namespace, "flowId": execution.flow_id,
            "flowRevision": execution.revision, "tenantId": execution.tenant, "taskRunList": runs,
            "inputs": execution.inputs, "labels": [], "state": _state_json(execution.history, current),
            "deleted": False, "metadata": {"attemptNumber": 1, "originalCreatedDate": _iso(execution.history[0][1])},
        }
        if not execution.inputs:  # null when nothing was resolved; nulls are not serialized
            del doc["inputs"]
        if current in TERMINAL and execution.script.outputs is not None:
            doc["outputs"] = execution.script.outputs
        if execution.trigger is not None:
            doc["trigger"] = execution.trigger
        return doc
