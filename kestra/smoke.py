"""Smoke test of a deployed stack: run one flow in Kestra and report how it ended.

    python -m kestra.smoke [--stack-output FILE|-] [--namespace NS] [--flow-id ID] [--timeout S]

Reads the stack outputs (``kestraUrl``, ``kestraUsername``, ``kestraPassword``) from FILE, from
stdin with ``-``, or by running ``pulumi stack output --json --show-secrets``; triggers the flow
(by default ``dev.testing/gcs_connection_test``, which proves Kestra reaches GCP, or, when the
``profile`` output is ``local``, ``dev.testing/python_multi_step``, which needs no cloud); polls the
execution until it reaches a terminal state or the timeout. Exit status: 0 on SUCCESS; 1 when the execution ended otherwise
(state, failing tasks and their ERROR log lines are printed); 2 for unusable stack outputs;
3 when Kestra answered with an error or could not be reached; 4 on timeout. The password is never
printed. It triggers exactly one execution per run and does not clean it up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any, Callable, Optional, TextIO

from .client import KestraApiError, KestraClient

TERMINAL_STATES = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "SKIPPED"}
REQUIRED_OUTPUTS = ("kestraUrl", "kestraUsername", "kestraPassword")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_API, EXIT_TIMEOUT = 0, 1, 2, 3, 4

# The flow run when none is named, by the stack's `profile` output: the local profile deploys no
# flow that needs GCP, so gcs_connection_test is not there.
DEFAULT_FLOWS = {"gcp": ("dev.testing", "gcs_connection_test"), "local": ("dev.testing", "python_multi_step")}


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
    if outputs["kestraPassword"] == "[secret]":
        raise SmokeError("kestraPassword is hidden: pass the output of --show-secrets", EXIT_CONFIG)
    return outputs


def failure_report(client: KestraClient, execution: dict) -> list[str]:
    """Lines explaining a non-successful execution: failed task runs and their ERROR logs."""
    lines = []
    failed = [
        run.get("taskId")
        for run in execution.get("taskRunList") or []
        if (run.get("state") or {}).get("current") in ("FAILED", "KILLED", "WARNING")
    ]
    if failed:
        lines.append(f"failing task(s): {', '.join(str(t) for t in failed)}")
    try:
        for entry in client.execution_logs(execution["id"], "ERROR")[:10]:
            lines.append(f"  [{entry.get('taskId') or '-'}] {str(entry.get('message', '')).strip()}")
    except KestraApiError as exc:
        lines.append(f"(could not read the execution logs: {exc})")
    return lines


def run(
    outputs: dict[str, Any],
    namespace: str,
    flow_id: str,
    timeout: float,
    interval: float,
    out: TextIO = sys.stdout,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Triggers the flow, waits for the execution and returns the exit status."""
    client = KestraClient(outputs["kestraUrl"], outputs["kestraUsername"], outputs["kestraPassword"])
    with client:
        try:
            execution = client.trigger_execution(namespace, flow_id)
            execution_id = execution["id"]
            print(f"triggered {namespace}/{flow_id}: execution {execution_id}", file=out)
            deadline = clock() + timeout
            state = (execution.get("state") or {}).get("current")
            while state not in TERMINAL_STATES:
                if clock() >= deadline:
                    print(f"timed out after {timeout:g} s: execution {execution_id} is still {state}", file=out)
                    return EXIT_TIMEOUT
                sleep(interval)
                execution = client.get_execution(execution_id)
                state = (execution.get("state") or {}).get("current")
            if state == "SUCCESS":
                print(f"execution {execution_id} succeeded", file=out)
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
    args = parser.parse_args(argv)
    try:
        outputs = load_outputs(args.stack_output)
    except SmokeError as exc:
        print(f"error: {exc}", file=sys.stdout)
        return exc.code
    namespace, flow_id = default_flow(outputs)
    return run(outputs, args.namespace or namespace, args.flow_id or flow_id, args.timeout, args.interval)


def default_flow(outputs: dict[str, Any]) -> tuple[str, str]:
    """(namespace, flow id) of the flow to run when none is named: by the `profile` output."""
    return DEFAULT_FLOWS["local"] if outputs.get("profile") == "local" else DEFAULT_FLOWS["gcp"]


if __name__ == "__main__":
    sys.exit(main())
