"""Says, after every run of the kestra_model tier, what Kestra could not check here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.kestra_model import kestra_run


def pytest_terminal_summary(terminalreporter) -> None:
    report = kestra_run.LAST_REPORT
    if not report:
        return
    flows_dir = kestra_run.REPO_ROOT / "flows"
    masked = [(Path(v["path"]), m["type"]) for v in report.get("validations", []) for m in v["masked"]
              if Path(v["path"]).is_relative_to(flows_dir)]
    if not masked:
        return
    by_group = Counter(next(g for g in kestra_run.UNSERVED_GROUPS if t.startswith(g)).rstrip(".") for _, t in masked)
    terminalreporter.write_line(
        f"kestra_model: {len(masked)} tasks/triggers in {len({p for p, _ in masked})} flows were masked, "
        "their own properties unchecked by Kestra (plugin jars not served: "
        + ", ".join(f"{g} x{n}" for g, n in sorted(by_group.items()))
        + "); their type names are checked by tests/flows/plugin_types.txt"
    )
