"""Smoke test of a deployed stack: run one flow in Kestra and report how it ended.

    python -m kestra.smoke [--stack-output FILE|-] [--namespace NS] [--flow-id ID] [--timeout S]
                           [--fail-on-warning]

Reads the stack outputs (``kestraUrl``, ``kestraUsername``, ``kestraPassword``) from FILE, from
stdin with ``-``, or by running ``pulumi stack output --json --show-secrets``; triggers the flow
(by default ``dev.testing/gcs_connection_test``, which proves Kestra reaches GCP, or, when the
``profile`` output is ``local``, ``dev.testing/python_multi_step``, which needs no cloud); polls the
execution until it reaches a terminal state or the timeout.

Exit status: 0 on SUCCESS, and on WARNING unless ``--fail-on-warning``; 1 when the execution ended
otherwise (FAILED, KILLED, CANCELLED...: the state, the task runs that failed or were killed and
their ERROR log lines are printed); 2 for unusable stack outputs; 3 when Kestra answered with an
error or could not be reached; 4 on timeout.

WARNING passes because Kestra counts it as a finished, non-failed run (State.Type.isTerminatedNoFail):
a task that may fail (``allowFailure``) failed, or a task reported warnings, and the flow carried
on. The smoke test still prints a ``warning:`` line naming those tasks and their WARN and ERROR log
lines, so the cause is visible; ``--fail-on-warning`` makes it fail for a CI that wants a clean run.

Outputs still holding Pulumi's unknown-value placeholder (what a preview shows for values not
known before ``pulumi up``) are refused as unusable. The password is never printed. It triggers
exactly one execution per run and does not clean it up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any, Callable, Optional, TextIO

from .client import KestraApiError, KestraClient

# State.Type.isTerminated in Kestra 1.1; RUNNING, KILLING, PAUSED, QUEUED... are still under way.
TERMINAL_STATES = frozenset(
    {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "SKIPPED", "RETRIED", "RESUBMITTED"}
)
# State.Type.isTerminatedNoFail: the run finished and did not fail.
PASSING_STATES = frozenset({"SUCCESS", "WARNING", "SKIPPED", "RETRIED", "RESUBMITTED"})
REQUIRED_OUTPUTS = ("kestraUrl", "kestraUsername", "kestraPassword")
# pulumi.runtime.rpc.UNKNOWN: how a preview (or a program run under it) shows a value that only
# `pulumi up` will know.
UNKNOWN_OUTPUT = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_API, EXIT_TIMEOUT = 0, 1, 2, 3, 4

# The flow run when none is named, by the stack's `profile` output: the local profile deploys no
# flow that needs GCP, so gcs_connection_test is not there.
DEFAULT_FLOWS = {
    "gcp": ("dev.testing", "gcs_connection_test"),
    "gke": ("dev.testing", "gcs_connection_test"),
    "local": ("dev.testing", "python_multi_step"),
}
# The stack output holding the PEM of the CA that issued kestraUrl's certificate (gke profile
# without a domain); absent when a public CA (or plain HTTP) is used.
CA_OUTPUT = "kestraCaCertificate"


def client_from_outputs(outputs: dict[str, Any], **kw: Any) -> KestraClient:
    """A client for the Kestra the stack outputs describe, verifying HTTPS with the stack's CA when
    it issued the certificate itself."""
    return KestraClient(
        outputs["kestraUrl"], outputs["kestraUsername"], outputs["kestraPassword"],
        ca_certificate=outputs.get(CA_OUTPUT) or None, **kw,
    )


class SmokeError(Exception):
    """A problem that ends the smoke test with `code`."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def load_outputs(source: Optional[str], stdin: TextIO = sys.stdin) -> dict[str, Any]:
    """The stack outputs as a dict, from a file, stdin (``-``) or the Pulumi CLI."""
    try:
        if source == "-":
            text = stdin.read()
        elif source:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
        else:
            text = subprocess.run(
                ["pulumi", "stack", "output", "--json", "--show-secrets"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
    except FileNotFoundError as exc:
        raise SmokeError(f"cannot read the stack outputs: {exc.strerror}: {exc.filename}", EXIT_CONFIG) from None
    except subprocess.CalledProcessError as exc:
        raise SmokeError(f"`pulumi stack output` failed: {exc.stderr.strip()}", EXIT_CONFIG) from None
    try:
        outputs = json.loads(text)
    except ValueError as exc:
        raise SmokeError(f"the stack outputs are not JSON: {exc}", EXIT_CONFIG) from None
    if not isinstance(outputs, dict):
        raise SmokeError("the stack outputs are not a JSON object", EXIT_CONFIG)
    missing = [k for k in REQUIRED_OUTPUTS if not outputs.get(k)]
    if missing:
        raise SmokeError(f"the stack outputs lack {', '.join(missing)}", EXIT_CONFIG)
    unknown = [k for k in REQUIRED_OUTPUTS if outputs[k] == UNKNOWN_OUTPUT]
    if unknown:
        raise SmokeError(
            f"{', '.join(unknown)} not known yet (Pulumi's placeholder for a value a preview cannot "
            "know): run `pulumi up`, then read the outputs of the deployed stack",
            EXIT_CONFIG,
        )
    if outputs["kestraPassword"] == "[secret]":
        raise SmokeError("kestraPassword is hidden: pass the output of --show-secrets", EXIT_CONFIG)
    return outputs


def state_of(doc: dict) -> Optional[str]:
    """``state.current`` of an execution or a task run."""
    return (doc.get("state") or {}).get("current")


def task_runs_in(execution: dict, *states: str) -> list[str]:
    """Task ids (with the ForEach value when there is one) of the task runs in one of `states`."""
    found = []
    for run in execution.get("taskRunList") or []:
        if state_of(run) in states:
            value = run.get("value")
            found.append(f"{run.get('taskId')}[{value}]" if value is not None else str(run.get("taskId")))
    return found


def failure_report(client: KestraClient, execution: dict) -> list[str]:
    """Lines explaining a run that did not simply succeed: the task runs that failed, were killed
    or warned, and the execution's log lines at ERROR (at WARN and above for a WARNING run)."""
    lines = []
    for label, state in (("failing", "FAILED"), ("killed", "KILLED"), ("warning", "WARNING")):
        tasks = task_runs_in(execution, state)
        if tasks:
            lines.append(f"{label} task(s): {', '.join(tasks)}")
    min_level = "WARN" if state_of(execution) == "WARNING" else "ERROR"
    try:
        for entry in client.execution_logs(execution["id"], min_level)[:10]:
            lines.append(f"  [{entry.get('taskId') or '-'}] {str(entry.get('message', '')).strip()}")
    except KestraApiError as exc:
        lines.append(f"(could not read the execution logs: {exc})")
    return lines


def wait_for(
    client: KestraClient,
    execution: dict,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_poll: Optional[Callable[[dict], None]] = None,
) -> tuple[dict, bool]:
    """Polls the execution until a terminal state: (last execution seen, finished in time)."""
    deadline = clock() + timeout
    while state_of(execution) not in TERMINAL_STATES:
        if clock() >= deadline:
            return execution, False
        sleep(interval)
        execution = client.get_execution(execution["id"])
        if on_poll is not None:
            on_poll(execution)
    return execution, True


def run(
    outputs: dict[str, Any],
    namespace: str,
    flow_id: str,
    timeout: float,
    interval: float,
    out: TextIO = sys.stdout,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    fail_on_warning: bool = False,
) -> int:
    """Triggers the flow, waits for the execution and returns the exit status."""
    client = client_from_outputs(outputs)
    with client:
        try:
            execution = client.trigger_execution(namespace, flow_id)
            execution_id = execution["id"]
            print(f"triggered {namespace}/{flow_id}: execution {execution_id}", file=out)
            execution, finished = wait_for(client, execution, timeout, interval, clock, sleep)
            state = state_of(execution)
            if not finished:
                print(f"timed out after {timeout:g} s: execution {execution_id} is still {state}", file=out)
                return EXIT_TIMEOUT
            if state == "SUCCESS":
                print(f"execution {execution_id} succeeded", file=out)
                return EXIT_OK
            if state in PASSING_STATES and not (state == "WARNING" and fail_on_warning):
                print(f"execution {execution_id} ended {state}, which Kestra counts as not failed", file=out)
                for line in failure_report(client, execution):
                    print(f"warning: {line}", file=out)
                return EXIT_OK
            print(f"execution {execution_id} ended {state}", file=out)
            for line in failure_report(client, execution):
                print(line, file=out)
            return EXIT_FAILED
        except KestraApiError as exc:
            print(f"error: {exc}", file=out)
            return EXIT_API


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kestra.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack-output", metavar="FILE|-", help="stack outputs JSON (default: ask the pulumi CLI)")
    parser.add_argument("--namespace", help="default: dev.testing")
    parser.add_argument("--flow-id", help="default: gcs_connection_test, or python_multi_step when the profile output is local")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the execution")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    parser.add_argument(
        "--fail-on-warning", action="store_true", help="exit 1 when the execution ends WARNING (default: pass)"
    )
    args = parser.parse_args(argv)
    try:
        outputs = load_outputs(args.stack_output)
    except SmokeError as exc:
        print(f"error: {exc}", file=sys.stdout)
        return exc.code
    namespace, flow_id = default_flow(outputs)
    return run(
        outputs, args.namespace or namespace, args.flow_id or flow_id, args.timeout, args.interval,
        fail_on_warning=args.fail_on_warning,
    )


def default_flow(outputs: dict[str, Any]) -> tuple[str, str]:
    """(namespace, flow id) of the flow to run when none is named: by the `profile` output."""
    return DEFAULT_FLOWS.get(outputs.get("profile"), DEFAULT_FLOWS["gcp"])


if __name__ == "__main__":
    sys.exit(main())
