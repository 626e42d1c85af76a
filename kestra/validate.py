"""Ask a running Kestra to validate a whole flows tree before it is deployed.

    python -m kestra.validate [FLOWS_DIR] [--url URL] [--username USER] [--stack-output FILE|-]

Reads ``FLOWS_DIR`` (default ``flows``) laid out as the stack deploys it:
``<namespace>/<flow_id>.yaml`` are flows, ``<namespace>/dashboards/*.yaml`` dashboards
(``<namespace>/files/`` is not validated: namespace files are not Kestra documents).

Kestra 1.1's ``POST /flows/validate`` takes one YAML body and splits it before every line that
starts with ``---`` (FlowService.validate), answering one result per piece. So every flow file
without such a line of its own goes into one request, joined with ``---`` lines, and each result
maps back to its file; a file that has such a line (or starts with ``---``) gets a request of its
own, all of whose results are that file's. Dashboards are validated one request each
(``POST /dashboards/validate`` takes one).

Connection, as for ``kestra.smoke``: ``--stack-output FILE|-`` reads the stack outputs
(``kestraUrl``, ``kestraUsername``, ``kestraPassword``); otherwise ``--url`` / ``KESTRA_URL``,
``--username`` / ``KESTRA_USERNAME`` (default ``admin@kestra.io``) and ``KESTRA_PASSWORD`` (only
from the environment, so it never shows in a process list); with none of those, the outputs of
``pulumi stack output --json --show-secrets``.

Prints one line per problem — file, flow and Kestra's reason — and warnings (deprecations) without
failing. Exit status: 0 when everything is valid; 1 when Kestra reports a problem or a file cannot
be read; 2 for an unusable connection setting; 3 when Kestra answered with an error or could not
be reached. It writes nothing to Kestra.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TextIO

from .client import YAML_SPLIT, KestraApiError, KestraClient, validation_problems
from .smoke import SmokeError, client_from_outputs, load_outputs

EXIT_OK, EXIT_INVALID, EXIT_CONFIG, EXIT_API = 0, 1, 2, 3
DEFAULT_USERNAME = "admin@kestra.io"


@dataclass
class Report:
    """What a run found: problems (file, flow, reason), warnings, and the requests it made."""

    problems: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str, str]] = field(default_factory=list)
    requests: int = 0
    documents: int = 0


def splits(source: str) -> bool:
    """Whether Kestra would cut this file into several documents, or glue it to the one before."""
    return bool(YAML_SPLIT.search(source)) or source.startswith("---")


def flow_files(root: Path) -> list[Path]:
    return sorted(p for ns in root.iterdir() if ns.is_dir() for p in ns.glob("*.yaml") if p.is_file())


def dashboard_files(root: Path) -> list[Path]:
    return sorted(p for ns in root.iterdir() if ns.is_dir() for p in (ns / "dashboards").glob("*.yaml") if p.is_file())


def batches(sources: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    """Request bodies: ``(names of the files in it, YAML body)``, as few as the split allows."""
    whole = [(name, text) for name, text in sources if not splits(text)]
    own = [([name], text) for name, text in sources if splits(text)]
    grouped = [([n for n, _ in whole], "\n---\n".join(t for _, t in whole))] if whole else []
    return grouped + own


def _record(report: Report, name: str, result: dict, fallback: str = "?") -> None:
    """Adds one validate result of file `name`. Kestra names no flow in the result of a document
    it could not read (an unknown type: FlowService.validate fails before it sets ``flow``), so
    `fallback`, the flow the file's place says it holds, stands in for it."""
    flow = str(result.get("flow") or fallback)
    if result.get("namespace") and result.get("flow"):
        flow = f"{result['namespace']}/{result['flow']}"
    for problem in validation_problems(result):
        report.problems.append((name, flow, problem))
    for path in result.get("deprecationPaths") or []:
        report.warnings.append((name, flow, f"deprecated: {path}"))
    for warning in result.get("warnings") or []:
        report.warnings.append((name, flow, str(warning)))


def _place(name: str) -> str:
    """The flow a file's place names: ``<namespace>/<flow_id>.yaml`` → ``namespace/flow_id``."""
    path = Path(name)
    return f"{path.parent.name}/{path.stem}"


def validate_tree(client: KestraClient, root: Path) -> Report:
    """Validates every flow and dashboard file under `root`; raises `KestraApiError` on API failure."""
    report = Report()
    sources: list[tuple[str, str]] = []
    for path in flow_files(root):
        name = path.relative_to(root.parent).as_posix()
        try:
            sources.append((name, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            report.problems.append((name, "?", f"cannot be read: {exc}"))
    for names, body in batches(sources):
        results = client.validate_flows(body, obj=names[0] if len(names) == 1 else f"{len(names)} flows")
        report.requests += 1
        report.documents += len(names)
        if len(names) > 1 and len(results) != len(names):
            # Kestra cut the body elsewhere than expected: ask again file by file.
            for name in names:
                text = dict(sources)[name]
                report.requests += 1
                for i, result in enumerate(client.validate_flows(text, obj=name)):
                    _record(report, name, result, _place(name) if i == 0 else "?")
            continue
        for i, result in enumerate(results):
            name = names[i] if len(names) > 1 else names[0]
            _record(report, name, result, _place(name) if len(names) > 1 or i == 0 else "?")
    for path in dashboard_files(root):
        name = path.relative_to(root.parent).as_posix()
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            report.problems.append((name, "?", f"cannot be read: {exc}"))
            continue
        result = client.validate_dashboard(source) or {}
        report.requests += 1
        report.documents += 1
        _record(report, name, {**result, "flow": result.get("flow") or path.stem, "namespace": None})
    return report


def connection(args: argparse.Namespace, environ: dict, stdin: TextIO) -> dict[str, Any]:
    """``{"kestraUrl", "kestraUsername", "kestraPassword"}`` from the flags, env or stack outputs."""
    url = args.url or environ.get("KESTRA_URL")
    if args.stack_output or not url:
        return load_outputs(args.stack_output, stdin)
    password = environ.get("KESTRA_PASSWORD")
    if not password:
        raise SmokeError("KESTRA_PASSWORD is not set (the password is read from the environment only)", EXIT_CONFIG)
    username = args.username or environ.get("KESTRA_USERNAME") or DEFAULT_USERNAME
    return {"kestraUrl": url, "kestraUsername": username, "kestraPassword": password}


def main(argv: Optional[list[str]] = None, environ: Optional[dict] = None, out: TextIO = sys.stdout,
         stdin: TextIO = sys.stdin) -> int:
    parser = argparse.ArgumentParser(prog="python -m kestra.validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("flows_dir", nargs="?", default="flows", help="the flows tree (default: flows)")
    parser.add_argument("--url", help="Kestra's URL (default: $KESTRA_URL)")
    parser.add_argument("--username", help=f"basic-auth user (default: $KESTRA_USERNAME or {DEFAULT_USERNAME})")
    parser.add_argument("--stack-output", metavar="FILE|-", help="read URL and login from the stack outputs JSON")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds of retrying per request")
    args = parser.parse_args(argv)
    environ = dict(os.environ if environ is None else environ)
    root = Path(args.flows_dir)
    if not root.is_dir():
        print(f"error: {root}: not a directory", file=out)
        return EXIT_CONFIG
    try:
        outputs = connection(args, environ, stdin)
        client = client_from_outputs(outputs, deadline=args.deadline)
    except SmokeError as exc:
        print(f"error: {exc}", file=out)
        return exc.code
    except ValueError as exc:
        print(f"error: {exc}", file=out)
        return EXIT_CONFIG
    try:
        with client:
            report = validate_tree(client, root)
    except KestraApiError as exc:
        print(f"error: {exc}", file=out)
        return EXIT_API
    for name, flow, reason in report.problems:
        print(f"{name}: {flow}: {reason}", file=out)
    for name, flow, reason in report.warnings:
        print(f"warning: {name}: {flow}: {reason}", file=out)
    verdict = f"{len(report.problems)} problem(s)" if report.problems else "all valid"
    print(f"{report.documents} file(s) validated in {report.requests} request(s): {verdict}", file=out)
    return EXIT_INVALID if report.problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
