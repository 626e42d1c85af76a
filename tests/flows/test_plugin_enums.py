"""tests/flows/plugin_enums.txt, the enum constants the flows rely on in plugin tasks that the
kestra_model tier masks (no jar in CI): a well-formed file citing the same plugin releases as
plugin_types.txt, and flows that use only those constants (the kestra_model harness makes the same
check the way Kestra converts a value; this one needs no JDK)."""

from __future__ import annotations

import re

import pytest

from tests.flows.conftest import FLOWS, Source, load_allowlist, load_enum_facts
from tests.flows.flow_walk import iter_tasks

CITATION = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)@(?P<ref>[\w.-]+):(?P<path>\S+\.java)$")


def plugin_release(citation: str) -> tuple[str, str]:
    match = CITATION.match(citation)
    assert match, f"not <owner>/<repo>@<ref>:<path>.java: {citation}"
    return match["repo"], match["ref"]


def test_enum_facts_cite_the_plugin_releases_of_the_type_allowlist():
    allowlist = load_allowlist()
    releases = dict(plugin_release(source) for source in allowlist.values())  # repo -> ref
    facts = load_enum_facts()
    assert facts
    seen = set()
    for fact in facts:
        key = (fact["type"], fact["property"])
        assert key not in seen, f"listed twice: {key}"
        seen.add(key)
        assert fact["type"] in allowlist, f"{fact['type']} is not on plugin_types.txt"
        assert fact["values"] and len(set(fact["values"])) == len(fact["values"]), fact
        assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", v) for v in fact["values"]), fact
        repo, ref = plugin_release(fact["source"])
        assert releases.get(repo) == ref, f"{key}: cites {repo}@{ref}, plugin_types.txt {repo}@{releases.get(repo)}"
        plugin_release(fact["enum"])


def enum_values_used(doc: dict, facts: dict) -> list[tuple[str, str, str, object]]:
    """(task id, type, property, value) for every fact property a task or trigger sets."""
    items = [t for _, t, _ in iter_tasks(doc)] + list(doc.get("triggers") or [])
    return [(t.get("id"), t["type"], prop, t[prop]) for t in items for (type_, prop) in facts
            if t.get("type") == type_ and prop in t]


def wrong_constants(doc: dict, facts: dict) -> list[str]:
    wrong = []
    for task_id, type_, prop, value in enum_values_used(doc, facts):
        allowed = facts[(type_, prop)]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and any(mark in item for mark in ("{{", "{%")):
                continue  # rendered at run time
            if item not in allowed:
                wrong.append(f"{task_id}.{prop}: {item!r} not in {allowed}")
    return wrong


@pytest.mark.parametrize("source", [s for s in FLOWS if s.doc], ids=lambda s: s.rel)
def test_flows_use_only_the_enum_constants_of_the_facts(source: Source):
    facts = {(f["type"], f["property"]): f["values"] for f in load_enum_facts()}
    wrong = wrong_constants(source.doc, facts)
    assert not wrong, f"{source.rel}:\n" + "\n".join(wrong)


def test_enum_check_rejects_a_misspelt_constant():
    facts = {("io.kestra.plugin.jdbc.duckdb.Query", "fetchType"): ["STORE", "FETCH", "FETCH_ONE", "NONE"],
             ("io.kestra.plugin.gcp.bigquery.Query", "schemaUpdateOptions"): ["ALLOW_FIELD_ADDITION"]}
    doc = {"tasks": [
        {"id": "q", "type": "io.kestra.plugin.jdbc.duckdb.Query", "fetchType": "FETCH_UNO"},
        {"id": "ok", "type": "io.kestra.plugin.jdbc.duckdb.Query", "fetchType": "FETCH_ONE"},
        {"id": "dyn", "type": "io.kestra.plugin.jdbc.duckdb.Query", "fetchType": "{{ inputs.mode }}"},
        {"id": "b", "type": "io.kestra.plugin.gcp.bigquery.Query", "schemaUpdateOptions": ["ALLOW_FIELD_ADDITION", "ALLOW"]},
        {"id": "r", "type": "io.kestra.plugin.core.log.Log", "fetchType": "x"},
    ]}
    assert wrong_constants(doc, facts) == [
        "q.fetchType: 'FETCH_UNO' not in ['STORE', 'FETCH', 'FETCH_ONE', 'NONE']",
        "b.schemaUpdateOptions: 'ALLOW' not in ['ALLOW_FIELD_ADDITION']",
    ]
