"""Says, after every run of the kestra_model tier, what Kestra could not check here (or, with the
real plugin jars, that it checked everything)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.kestra_model import kestra_run


def pytest_terminal_summary(terminalreporter) -> None:
    report = kestra_run.LAST_REPORT
    if not report:
        return
    flows_dir = kestra_run.REPO_ROOT / "flows"
    in_flows = [v for v in report.get("validations", []) if Path(v["path"]).is_relative_to(flows_dir)]
    converted = sum((v.get("properties") or {}).get("converted", 0) for v in in_flows)
    external = (report.get("plugins") or {}).get("external") or []
    if external:
        jars = ", ".join(sorted(Path(e["location"]).name for e in external))
        terminalreporter.write_line(
            f"kestra_model: real plugins registered from {report['plugins'].get('dir')} ({jars}); "
            f"masked groups: {report['plugins'].get('maskedGroups') or 'none'}; "
            f"{converted} fixed Property values in flows/ converted by Kestra's own classes"
        )
    masked = [(Path(v["path"]), m["type"]) for v in in_flows for m in v["masked"]]
    if not masked:
        return
    by_group = Counter(next(g for g in kestra_run.UNSERVED_GROUPS if t.startswith(g)).rstrip(".") for _, t in masked)
    terminalreporter.write_line(
        f"kestra_model: {len(masked)} tasks/triggers in {len({p for p, _ in masked})} flows were masked, "
        "their own properties unchecked by Kestra (plugin jars not served: "
        + ", ".join(f"{g} x{n}" for g, n in sorted(by_group.items()))
        + "); their type names are checked by tests/flows/plugin_types.txt and their enum values by "
        f"tests/flows/plugin_enums.txt; {converted} fixed Property values converted "
        f"(set {kestra_run.PLUGINS_DIR_VAR} to a folder of the real plugin jars to have Kestra judge them)"
    )
