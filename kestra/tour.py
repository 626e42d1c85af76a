"""A tour of the walkthrough on a deployed stack: run its flows in the guide's order and show proof.

    pulumi stack output --json --show-secrets | python -m kestra.tour --stack-output -
    python -m kestra.tour --list
    python -m kestra.tour --stack-output outputs.json --phase retry-rollback

Reads the stack outputs like ``python -m kestra.smoke`` (the same reader), then runs each phase of
`PHASES` against the deployed Kestra: triggers its flows one after the other with the phase's
inputs, waits for each execution (progress on stderr), and prints a table — phase, flow, state,
duration, and the one figure that proves the run did its work (rows loaded, files archived,
outputs returned), read from the execution's flow outputs, task outputs or logs. Where a flow
exposes no such figure, the row says so and shows what the execution does expose.

A phase whose flows the stack did not deploy (the ``local`` profile has no GCP: ``skippedFlows``)
or that needs a GitHub token or a Gemini key the stack was not given (``gitSyncConfigured``,
``aiConfigured``) is skipped, with the reason. The event phase uploads a Parquet file through
Kestra's own ``fetch_data`` flow (no gsutil) and then waits for the ``event_ingest`` execution
that the bucket's Pub/Sub notification starts for that object.

SUCCESS passes, and so does WARNING (Kestra's "finished, not failed"; the retry phase ends so by
design when a file is rolled back). The tour stops at the first phase that fails, printing the
failing task and its last log lines. Exit status as the smoke test: 0 all phases passed or were
skipped; 1 a phase failed; 2 unusable stack outputs or an unknown phase; 3 Kestra answered with an
error or could not be reached; 4 an execution did not end within ``--timeout``.

The tour changes what the walkthrough changes: its flows load data into BigQuery (billed) and move
files between the bucket's folders, and its executions stay in Kestra. The tour itself deletes
nothing.
"""

from __future__ import annotations

import argparse
import re
import string
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional, Sequence, TextIO

import yaml

from .client import KestraApiError, KestraClient
from .smoke import (
    EXIT_API,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    PASSING_STATES,
    SmokeError,
    client_from_outputs,
    load_outputs,
    state_of,
    task_runs_in,
    wait_for,
)

GITHUB = "github"
GEMINI = "gemini"
# What the stack outputs say about each optional credential, and how a user provides it.
NEEDS = {
    GITHUB: ("gitSyncConfigured", "needs a GitHub token: pulumi config set --secret githubToken … (docs/tour.md: Git sync)"),
    GEMINI: ("aiConfigured", "needs a Gemini API key: pulumi config set --secret geminiApiKey … (docs/tour.md: Gemini)"),
}
IN_STORAGE_OUTPUTS = "io.kestra.datatype:outputs"  # Variables.TYPE: outputs kept in internal storage
LOG_LINES = 10
HEARTBEAT = 60.0  # seconds between "still RUNNING" lines while a long execution runs


# -- figures: what proves a run worked, read from the execution ------------------------------


def _runs(execution: dict, task_id: str, states: Sequence[str] = ("SUCCESS", "WARNING")) -> list[dict]:
    return [
        run for run in execution.get("taskRunList") or []
        if run.get("taskId") == task_id and state_of(run) in states
    ]


def _outputs(run: dict) -> Optional[dict]:
    outputs = run.get("outputs")
    if not isinstance(outputs, dict) or outputs.get("type") == IN_STORAGE_OUTPUTS:
        return None
    return outputs


def _dig(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _format(template: str, values: Any) -> Optional[str]:
    """`template` filled from `values`; None when a field it names is missing."""
    if not isinstance(values, dict):
        return None
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if any(values.get(name) is None for name in names):
        return None
    return template.format(**values)


def _listed_nothing(execution: dict, task: Optional[str]) -> bool:
    """True when the listing task (gcs.List, output ``blobs``) ran and found no file."""
    if not task:
        return False
    runs = _runs(execution, task, ("SUCCESS",))
    return bool(runs) and _dig(_outputs(runs[-1]), ("blobs",)) == []


@dataclass(frozen=True)
class FlowOutputs:
    """A figure from the flow's ``outputs``."""

    template: str
    tasks: tuple = ()

    @property
    def outputs(self) -> tuple:
        """The flow outputs the template names."""
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.template) if name)

    def __call__(self, execution: dict, client: KestraClient) -> Optional[str]:
        return _format(self.template, execution.get("outputs"))


@dataclass(frozen=True)
class TaskOutputs:
    """A figure from the outputs of the task's last run, at `path` (``vars`` of a script, ``row``
    of a FETCH_ONE query, ``outputs`` of a subflow call)."""

    task: str
    template: str
    path: tuple = ()

    @property
    def tasks(self) -> tuple:
        return (self.task,)

    def __call__(self, execution: dict, client: KestraClient) -> Optional[str]:
        runs = _runs(execution, self.task)
        return _format(self.template, _dig(_outputs(runs[-1]), self.path)) if runs else None


@dataclass(frozen=True)
class ChildOutputs:
    """The outputs a subflow call returned (Subflow.Output ``outputs``), all of them."""

    task: str

    @property
    def tasks(self) -> tuple:
        return (self.task,)

    def __call__(self, execution: dict, client: KestraClient) -> Optional[str]:
        runs = _runs(execution, self.task)
        returned = _dig(_outputs(runs[-1]), ("outputs",)) if runs else None
        if not returned:
            return None
        shown = ", ".join(f"{k}={v}" for k, v in sorted(returned.items()))
        return f"subflow returned {len(returned)} outputs: {shown}"


@dataclass(frozen=True)
class Uploaded:
    """Files written to the bucket: one successful run of `task` (gcs.Upload, output ``uri``) each."""

    task: str

    @property
    def tasks(self) -> tuple:
        return (self.task,)

    def __call__(self, execution: dict, client: KestraClient) -> Optional[str]:
        uris = [_dig(_outputs(run), ("uri",)) for run in _runs(execution, self.task, ("SUCCESS",))]
        if not uris:
            return None
        return f"{len(uris)} file(s) uploaded: {', '.join(str(u) for u in uris)}"


@dataclass(frozen=True)
class RowsLoaded:
    """Rows BigQuery loaded: the ``rows`` of every successful run of `task` (LoadFromGcs), and the
    files moved by `archived` (gcs.Copy runs), when given. `empty_task` is the branch a run with
    nothing to do takes; `listed` the gcs.List task whose empty ``blobs`` means the same."""

    task: str
    archived: Optional[str] = None
    empty_task: Optional[str] = None
    listed: Optional[str] = None

    @property
    def tasks(self) -> tuple:
        return tuple(t for t in (self.task, self.archived, self.empty_task, self.listed) if t)

    def __call__(self, execution: dict, client: KestraClient) -> Optional[str]:
        if (self.empty_task and _runs(execution, self.empty_task)) or _listed_nothing(execution, self.listed):
            return "no file was waiting: nothing loaded (run the yellowcab-fetch phase first)"
        outputs = [_outputs(run) or {} for run in _runs(execution, self.task, ("SUCCESS",))]
        if not outputs or any(o.get("rows") is None for o in outputs):
            return None
        tables = sorted({str(o.get("destinationTable")) for o in outputs if o.get("destinationTable")})
        text = f"{sum(int(o['rows']) for o in outputs)} rows loaded from {len(outputs)} file(s)"
        if tables:
            text += f" into {', '.join(tables)}"
        if self.archived:
            text += f"; {len(_runs(execution, self.archived, ('SUCCESS',)))} file(s) archived"
        return text


@dataclass(frozen=True)
class FilesSorted:
    """Per-file outcome of a load with rollback: files archived after loading, files rolled back
    and moved to the errors folder. `listed` is the gcs.List task that found the files;
    `rows_by_file` a flow output listing ``{source_file, load_mode, row_count}`` per loaded file."""

    archived: str
    rolled_back: str
    listed: Optional[str] = None
    rows_by_file: Optional[str] = None

    @property
    def tasks(self) -> tuple:
        return tuple(t for t in (self.archived, self.rolled_back, self.listed) if t)

    @property
    def outputs(self) -> tuple:
        return (self.rows_by_file,) if self.rows_by_file else ()

    def __call__(self, execution: dict, client: KestraClient) -> Optional[str]:
        if _listed_nothing(execution, self.listed):
            return ("no file was waiting: an earlier run moved the samples "
                    "(`pulumi up --refresh` uploads them again)")
        archived = _runs(execution, self.archived, ("SUCCESS",))
        rolled_back = _runs(execution, self.rolled_back, ("SUCCESS",))
        if not archived and not rolled_back:
            return None
        text = f"{len(archived)} file(s) loaded and archived, {len(rolled_back)} rolled back and moved to errors"
        loaded = (execution.get("outputs") or {}).get(self.rows_by_file) if self.rows_by_file else None
        if isinstance(loaded, list) and loaded:
            text += "; rows: " + ", ".join(
                f"{str(row.get('source_file', '?')).rsplit('/', 1)[-1]} {row.get('row_count')} {row.get('load_mode')}"
                for row in loaded if isinstance(row, dict)
            )
        return text


@dataclass(frozen=True)
class LogLevels:
    """How many log lines the run wrote at each level (the Logs tab's level filter)."""

    tasks: tuple = ()

    def __call__(self, execution: dict, client: KestraClient) -> Optional[str]:
        entries = client.execution_logs(execution["id"], "TRACE")
        if not entries:
            return None
        counts: dict[str, int] = {}
        for entry in entries:
            counts[str(entry.get("level"))] = counts.get(str(entry.get("level")), 0) + 1
        order = ("ERROR", "WARN", "INFO", "DEBUG", "TRACE")
        return "log lines: " + ", ".join(f"{counts[level]} {level}" for level in order if level in counts)


Figure = Callable[[dict, KestraClient], Optional[str]]


# -- the walkthrough as data ---------------------------------------------------------------------


@dataclass(frozen=True)
class EventWait:
    """After the step's flow ran, wait for the execution of `flow_id` that an upload of an object
    ending with `object_suffix` starts (its trigger's ``variables.data.name``)."""

    namespace: str
    flow_id: str
    object_suffix: str
    figure: Figure


@dataclass(frozen=True)
class Step:
    """One flow to run: where, with which inputs, what proves it worked, what it needs."""

    namespace: str
    flow_id: str
    figure: Optional[Figure] = None
    inputs: dict = field(default_factory=dict)
    needs: tuple = ()
    event: Optional[EventWait] = None
    copilot_prompt: Optional[str] = None  # not a flow run: ask Kestra's AI copilot for a flow

    @property
    def name(self) -> str:
        return f"{self.namespace}/{self.flow_id}"


@dataclass(frozen=True)
class Phase:
    name: str
    title: str
    steps: tuple


COPILOT_PROMPT = (
    "Write a Kestra flow with id ai_copilot_check in namespace dev.testing that has one "
    "io.kestra.plugin.core.log.Log task logging 'Hello from the AI copilot'."
)

PHASES: tuple = (
    Phase("connection", "GCS connection test", (
        Step("dev.testing", "gcs_connection_test", FlowOutputs("uploaded {gcs_uri}")),
    )),
    Phase("python", "Python: inline, multi-step, namespace file", (
        Step("dev.testing", "python_inline_pandas", FlowOutputs("{regions} regions, revenue {total_revenue}")),
        Step("dev.testing", "python_multi_step", FlowOutputs("{days} days, revenue {revenue}")),
        Step("dev.testing", "python_namespace_file", FlowOutputs("{input_rows} sales rows, revenue {total_revenue}")),
    )),
    Phase("java", "Java: inline, namespace file, Maven project", (
        Step("dev.testing", "java_hello_world", FlowOutputs("Java {java_version}")),
        Step("dev.testing", "java_namespace_file", FlowOutputs("{products} products, revenue {total_revenue}")),
        Step("dev.testing", "java_maven_project", FlowOutputs("{regions} regions, revenue {total_revenue}")),
    )),
    Phase("subflows", "Parent flow calling a subflow", (
        Step("dev.testing", "parent_service", ChildOutputs("call_critical_service")),
    )),
    Phase("git-sync", "Git sync (dry run)", (
        Step("dev.testing", "git_namespace_sync", TaskOutputs("sync_namespace", "dry run, diff at {diff}"),
             inputs={"dry_run": True}, needs=(GITHUB,)),
        Step("system", "tenant_sync", TaskOutputs("sync_tenant", "dry run, diff at {diff}"),
             inputs={"dry_run": True}, needs=(GITHUB,)),
    )),
    Phase("ecommerce", "E-commerce raw -> clean", (
        Step("gcp.ecommerce", "ingest_clean",
             FlowOutputs("{raw_rows} raw rows -> {clean_rows} clean + {error_rows} rejected")),
    )),
    Phase("yellowcab-fetch", "Yellow Cab: fetch TLC files into the bucket", (
        Step("gcp.yellowcab", "fetch_data", Uploaded("upload")),
    )),
    Phase("yellowcab-sequential", "Yellow Cab: sequential load", (
        Step("gcp.yellowcab", "sequential_ingest", RowsLoaded("load_file", listed="list_files")),
    )),
    Phase("yellowcab-parallel", "Yellow Cab: parallel pipeline", (
        Step("gcp.yellowcab", "parallel_pipeline",
             FlowOutputs("{files_archived} file(s) loaded and archived; raw_trips holds {raw_trips_rows} rows")),
    )),
    Phase("retry-rollback", "Retry and rollback (ok and error files)", (
        Step("gcp.yellowcab", "retry_rollback",
             FilesSorted(archived="archive", rolled_back="move_to_errors", listed="list_files",
                         rows_by_file="rows_by_file")),
    )),
    Phase("event", "Event-driven load of an uploaded Parquet file", (
        Step("gcp.yellowcab", "fetch_data", Uploaded("upload"), inputs={"year": 2025, "months": ["03"]},
             event=EventWait("gcp.yellowcab", "event_ingest", "yellow_tripdata_2025-03.parquet",
                             RowsLoaded("load_object"))),
    )),
    Phase("debug", "Debugging: log levels and outputs", (
        Step("gcp.ecommerce", "debug_demo", LogLevels(), inputs={"fail": False}),
    )),
    Phase("ai-copilot", "AI copilot (Gemini) writes a flow", (
        Step("dev.testing", "ai_copilot_check", needs=(GEMINI,), copilot_prompt=COPILOT_PROMPT),
    )),
)


# -- running ---------------------------------------------------------------------------------


class PhaseFailed(Exception):
    """A step ended in a state that is not a pass; `lines` explain it."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0] if lines else "phase failed")
        self.lines = lines


class TimedOut(Exception):
    pass


@dataclass
class Row:
    phase: str
    flow: str
    state: str
    duration: str
    figure: str


def skip_reason(step: Step, outputs: dict) -> Optional[str]:
    """Why the stack cannot run `step`, from its outputs; None when it can."""
    for need in step.needs:
        key, reason = NEEDS[need]
        if outputs.get(key) is not True:
            return reason
    if step.copilot_prompt is not None:
        return None
    skipped = outputs.get("skippedFlows") or []
    if step.name in skipped:
        return f"not deployed: the {outputs.get('profile', 'local')} profile has no GCP"
    deployed = outputs.get("flows")
    if isinstance(deployed, list) and step.name not in deployed:
        return "not deployed by this stack (not in the flows output)"
    return None


def _seconds(execution: dict) -> Optional[float]:
    """``state.duration`` (ISO-8601, e.g. PT1M2.5S) in seconds."""
    text = str((execution.get("state") or {}).get("duration") or "")
    if not text.startswith("PT"):
        return None
    total, number = 0.0, ""
    for char in text[2:]:
        if char.isdigit() or char in ".-":
            number += char
        elif char in "HMS" and number:
            total += float(number) * {"H": 3600, "M": 60, "S": 1}[char]
            number = ""
        else:
            return None
    return total


def _duration(execution: dict) -> str:
    seconds = _seconds(execution)
    if seconds is None:
        return "?"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


def _search_date(instant: Optional[str]) -> Optional[str]:
    """An execution's ISO instant (nanoseconds, ``Z``) truncated to the millisecond, for
    `KestraClient.search_executions` ("started at or after"): Kestra compares with the H2
    ``start_date`` column, which holds starts truncated to milliseconds (jdbc-h2 migration
    V1_32), so a finer instant would miss an execution started in the same millisecond."""
    if not instant:
        return None
    moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", instant).replace("Z", "+00:00"))
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _describe(execution: dict) -> str:
    """What an execution exposes when its flow gives no figure."""
    outputs = execution.get("outputs")
    runs = execution.get("taskRunList") or []
    done = sum(1 for run in runs if state_of(run) == "SUCCESS")
    exposed = f"flow outputs {', '.join(sorted(outputs))}" if outputs else "no flow outputs"
    stored = any(isinstance(r.get("outputs"), dict) and r["outputs"].get("type") == IN_STORAGE_OUTPUTS for r in runs)
    where = "; task outputs are kept in Kestra's internal storage" if stored else ""
    return f"no figure exposed by this run ({exposed}; {done}/{len(runs)} task runs SUCCESS{where})"


class Tour:
    """Runs phases against one Kestra and collects the table rows."""

    def __init__(
        self,
        client: KestraClient,
        outputs: dict,
        *,
        timeout: float,
        interval: float,
        out: TextIO = sys.stdout,
        progress: TextIO = sys.stderr,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.outputs = client, outputs
        self.timeout, self.interval = timeout, interval
        self.out, self.progress, self.clock, self.sleep = out, progress, clock, sleep
        self.rows: list[Row] = []

    def _say(self, text: str) -> None:
        print(text, file=self.progress, flush=True)

    def _wait(self, execution: dict, label: str) -> dict:
        """Polls until the execution ends, printing each state change and a heartbeat."""
        started = self.clock()
        last = {"state": state_of(execution), "said": started}

        def on_poll(seen: dict) -> None:
            state, now = state_of(seen), self.clock()
            if state != last["state"] or now - last["said"] >= HEARTBEAT:
                last.update(state=state, said=now)
                self._say(f"  {label}: {state} ({now - started:.0f} s)")

        self._say(f"  {label}: execution {execution['id']} {state_of(execution)}")
        execution, finished = wait_for(
            self.client, execution, self.timeout, self.interval, self.clock, self.sleep, on_poll
        )
        if not finished:
            raise TimedOut(
                f"{label}: execution {execution['id']} is still {state_of(execution)} after {self.timeout:g} s"
            )
        return execution

    def _failure(self, execution: dict, label: str) -> PhaseFailed:
        """The failing task and its last log lines (following a failed subflow call one level down)."""
        lines = [f"{label}: execution {execution['id']} ended {state_of(execution)}"]
        failing = [run for run in execution.get("taskRunList") or [] if state_of(run) in ("FAILED", "KILLED")]
        lines += self._task_logs(execution, failing)
        for run in failing:
            child_id = _dig(_outputs(run), ("executionId",))
            if child_id:
                try:
                    child = self.client.get_execution(str(child_id))
                except KestraApiError:
                    continue
                child_failing = [r for r in child.get("taskRunList") or [] if state_of(r) in ("FAILED", "KILLED")]
                lines.append(f"subflow {child.get('namespace')}/{child.get('flowId')} execution {child_id} "
                             f"ended {state_of(child)}")
                lines += self._task_logs(child, child_failing)
        return PhaseFailed(lines)

    def _task_logs(self, execution: dict, failing: list[dict]) -> list[str]:
        lines = []
        task = failing[-1].get("taskId") if failing else None
        if failing:
            every = task_runs_in(execution, "FAILED", "KILLED")
            lines.append(f"failing task: {task}" + (f" (failed or killed: {', '.join(every)})" if len(every) > 1 else ""))
        entries = self.client.execution_logs(execution["id"], "INFO")
        if task is not None:
            entries = [e for e in entries if e.get("taskId") == task] or entries
        if entries:
            lines.append(f"last log lines{f' of {task}' if task else ''}:")
            for entry in entries[-LOG_LINES:]:
                lines.append(f"  {entry.get('level')} [{entry.get('taskId') or '-'}] "
                             f"{str(entry.get('message', '')).strip()}")
        return lines

    def _row(self, phase: Phase, label: str, execution: dict, figure: Figure) -> None:
        state = state_of(execution)
        if state not in PASSING_STATES:
            self.rows.append(Row(phase.name, label, str(state), _duration(execution), "-"))
            raise self._failure(execution, label)
        text = (figure(execution, self.client) if figure else None) or _describe(execution)
        if state == "WARNING":
            text += f" (in WARNING: {', '.join(task_runs_in(execution, 'WARNING')) or 'a task'})"
        self.rows.append(Row(phase.name, label, str(state), _duration(execution), text))

    def run_step(self, phase: Phase, step: Step) -> None:
        if step.copilot_prompt is not None:
            return self._copilot(phase, step)
        execution = self.client.trigger_execution(step.namespace, step.flow_id, step.inputs)
        execution = self._wait(execution, step.name)
        self._row(phase, step.name, execution, step.figure)
        if step.event is not None:
            self._event(phase, step, execution)

    def _event(self, phase: Phase, step: Step, upload: dict) -> None:
        event = step.event
        label = f"{event.namespace}/{event.flow_id}"
        since = _search_date((upload.get("state") or {}).get("startDate"))
        self._say(f"  {label}: waiting for the execution the upload of *{event.object_suffix} starts")
        deadline = self.clock() + self.timeout
        while True:
            for candidate in self.client.search_executions(event.namespace, event.flow_id, start_date=since):
                name = _dig(candidate.get("trigger"), ("variables", "data", "name"))
                if isinstance(name, str) and name.endswith(event.object_suffix):
                    execution = self._wait(candidate, label)
                    return self._row(phase, label, execution, event.figure)
            if self.clock() >= deadline:
                raise TimedOut(
                    f"{label}: no execution started for the upload of {event.object_suffix} within "
                    f"{self.timeout:g} s (is the bucket notification and the flow's Pub/Sub trigger in place?)"
                )
            self.sleep(self.interval)

    def _copilot(self, phase: Phase, step: Step) -> None:
        label = "AI copilot"
        started = self.clock()
        self._say(f"  {label}: asking for a flow")
        source = self.client.generate_flow(step.copilot_prompt, conversation_id=str(uuid.uuid4()))
        took = f"{self.clock() - started:.1f}s"
        try:
            flow = yaml.safe_load(source)
        except yaml.YAMLError:
            flow = None
        if not isinstance(flow, dict):
            self.rows.append(Row(phase.name, label, "FAILED", took, "-"))
            raise PhaseFailed([f"{label}: the answer is not a YAML flow:", *source.splitlines()[:LOG_LINES]])
        problems = [r.get("constraints") for r in self.client.validate_flow(source) if r.get("constraints")]
        if problems:
            self.rows.append(Row(phase.name, label, "FAILED", took, "-"))
            raise PhaseFailed([f"{label}: Kestra finds the generated flow invalid:", *map(str, problems)])
        tasks = flow.get("tasks") or []
        self.rows.append(Row(phase.name, label, "SUCCESS", took,
                             f"generated flow {flow.get('namespace')}/{flow.get('id')} with {len(tasks)} task(s), "
                             "valid for Kestra (not deployed)"))

    def run(self, phases: Sequence[Phase]) -> int:
        code = EXIT_OK
        try:
            for phase in phases:
                self._say(f"phase {phase.name}: {phase.title}")
                for step in phase.steps:
                    reason = skip_reason(step, self.outputs)
                    if reason:
                        label = "AI copilot" if step.copilot_prompt else step.name
                        self.rows.append(Row(phase.name, label, "skipped", "-", reason))
                        continue
                    self.run_step(phase, step)
        except PhaseFailed as failed:
            code = EXIT_FAILED
            self.print_table()
            print(f"\nphase {phase.name} failed", file=self.out)
            for line in failed.lines:
                print(line, file=self.out)
            return code
        except TimedOut as exc:
            self.print_table()
            print(f"\nphase {phase.name} timed out: {exc}", file=self.out)
            return EXIT_TIMEOUT
        except KestraApiError as exc:
            self.print_table()
            print(f"\nphase {phase.name}: error: {exc}", file=self.out)
            return EXIT_API
        self.print_table()
        return code

    def print_table(self) -> None:
        header = Row("phase", "flow", "state", "duration", "figure")
        rows = [header, *self.rows]
        widths = [max(len(getattr(r, f)) for r in rows) for f in ("phase", "flow", "state", "duration")]
        for row in rows:
            cells = [getattr(row, f).ljust(w) for f, w in zip(("phase", "flow", "state", "duration"), widths)]
            print("  ".join(cells + [row.figure]).rstrip(), file=self.out)


def list_phases(out: TextIO) -> None:
    for phase in PHASES:
        print(f"{phase.name:22} {phase.title}", file=out)
        for step in phase.steps:
            what = "AI copilot (no flow run)" if step.copilot_prompt else step.name
            extra = []
            if step.inputs:
                extra.append("inputs " + ", ".join(f"{k}={v}" for k, v in step.inputs.items()))
            if step.event:
                extra.append(f"then waits for {step.event.namespace}/{step.event.flow_id}")
            if step.needs:
                extra.append("needs " + " and ".join(NEEDS[n][0] for n in step.needs))
            print(f"{'':22}   {what}{' (' + '; '.join(extra) + ')' if extra else ''}", file=out)


def main(argv: Optional[list[str]] = None, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout,
         progress: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kestra.tour",
        description="Run the walkthrough's flows on the deployed stack, in the guide's order, and print what each proved.",
    )
    parser.add_argument("--stack-output", metavar="FILE|-", help="stack outputs JSON (default: ask the pulumi CLI)")
    parser.add_argument("--phase", metavar="NAME", help="run only this phase (see --list)")
    parser.add_argument("--list", action="store_true", help="show the phases and their flows, run nothing")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for each execution")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between polls")
    args = parser.parse_args(argv)
    if args.list:
        list_phases(out)
        return EXIT_OK
    phases = PHASES
    if args.phase:
        phases = tuple(p for p in PHASES if p.name == args.phase)
        if not phases:
            print(f"error: no phase {args.phase!r}; phases: {', '.join(p.name for p in PHASES)}", file=out)
            return EXIT_CONFIG
    try:
        outputs = load_outputs(args.stack_output, stdin=stdin)
    except SmokeError as exc:
        print(f"error: {exc}", file=out)
        return exc.code
    with client_from_outputs(outputs) as client:
        tour = Tour(client, outputs, timeout=args.timeout, interval=args.interval, out=out, progress=progress)
        return tour.run(phases)


if __name__ == "__main__":
    sys.exit(main())
