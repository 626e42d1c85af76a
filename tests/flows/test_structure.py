"""Generic rules every flow and dashboard under flows/ must follow, whatever its namespace.

They catch, before a deployment, what Kestra would only reject at deploy or run time: a wrong id or
namespace, a duplicated task id, a plugin type that does not exist, a subflow that is not there, a
KV key or secret the stack does not provide, a hard-coded bucket or project, a namespace file
that was never written. Every failure names the file and the field.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections import Counter
from pathlib import PurePosixPath
from typing import Any, Iterator

import pytest

from infra.kv_and_secrets import KV_KEYS, SECRET_NAMES
from tests.flows.conftest import (
    ALLOWLIST_PATH,
    DASHBOARDS_DIR,
    FILES_DIR,
    FLOWS_ROOT,
    REPO_ROOT,
    Source,
    namespace_dirs,
    namespace_files,
)
from tests.flows.flow_walk import iter_tasks, task_list

# Kestra's own patterns (core models AbstractFlow / TaskInterface / TriggerInterface).
FLOW_ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
TASK_ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
# A plugin type is a Java class name: lower-case packages, then the class.
CLASS_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.[A-Z][A-Za-z0-9_]*$")
PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

SUBFLOW = "io.kestra.plugin.core.flow.Subflow"
FOR_EACH_ITEM = "io.kestra.plugin.core.flow.ForEachItem"
WORKING_DIRECTORY = "io.kestra.plugin.core.flow.WorkingDirectory"
FLOW_TRIGGER = "io.kestra.plugin.core.trigger.Flow"
EXECUTION_FLOW_CONDITION = "io.kestra.plugin.core.condition.ExecutionFlow"
PYTHON_SCRIPT = "io.kestra.plugin.scripts.python.Script"
GCP_PREFIX = "io.kestra.plugin.gcp."

KV_PROJECT = re.compile(r"^\{\{\s*kv\(\s*(['\"])GCP_PROJECT_ID\1\s*\)\s*\}\}$")

# --------------------------------------------------------------------------------------------
# Helpers: walking a flow
# --------------------------------------------------------------------------------------------

def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Yield (path, key, value) for every mapping entry and list item below node."""
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            yield sub, key, value
            yield from walk(value, sub)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            sub = f"{path}[{i}]"
            yield sub, i, value
            yield from walk(value, sub)


def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (path, text) for every string value (and string key) below node."""
    if isinstance(node, str):
        yield path, node
    for sub, key, value in walk(node, path):
        if isinstance(key, str) and isinstance(value, (dict, list)):
            yield sub + " (key)", key
        if isinstance(value, str):
            yield sub, value


def iter_triggers(flow: dict) -> Iterator[tuple[str, dict]]:
    for i, trigger in enumerate(flow.get("triggers") or []):
        if isinstance(trigger, dict):
            yield f"triggers[{i}]", trigger


def type_usages(doc: dict, kind: str) -> Iterator[tuple[str, str, bool]]:
    """Yield (path, type, is_plugin_default) for every plugin type a flow or dashboard names.

    Any `type:` whose value looks like a Java class is a plugin type (tasks, triggers, conditions,
    task runners, dashboard charts and data sources); input/output/schema types (STRING, INT…)
    are not. Tasks and triggers must name a class even if they do not look like one.
    """
    seen = set()
    for path, key, value in walk(doc):
        if key == "type" and isinstance(value, str) and ("." in value):
            is_default = re.match(r"^pluginDefaults\[\d+\]\.type$", path) is not None
            seen.add(path)
            yield path, value, is_default
    if kind == "flow":
        tasks = [(p, t) for p, t, _ in iter_tasks(doc)] + list(iter_triggers(doc))
        for path, task in tasks:
            value = task.get("type")
            if f"{path}.type" not in seen:
                yield f"{path}.type", value if isinstance(value, str) else repr(value), False


# --------------------------------------------------------------------------------------------
# Helpers: Pebble expressions
# --------------------------------------------------------------------------------------------

PEBBLE_BLOCK_RE = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.DOTALL)
# kv('KEY') / secret("NAME"), whitespace allowed; a name not given as a string literal is caught
# too (group 4) so it can be reported rather than silently skipped.
CALL_RE = re.compile(
    r"(?<![\w.])(kv|secret|read)\s*\(\s*(?:'([^']*)'|\"([^\"]*)\"|([^)'\"]*))"
)


def pebble_blocks(text: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in PEBBLE_BLOCK_RE.finditer(text)]


def pebble_calls(text: str, function: str) -> list[tuple[str | None, str]]:
    """(literal argument or None, raw call text) for each call of function inside Pebble blocks."""
    found = []
    for block in pebble_blocks(text):
        for m in CALL_RE.finditer(block):
            if m.group(1) != function:
                continue
            literal = m.group(2) if m.group(2) is not None else m.group(3)
            found.append((literal, m.group(0).strip()))
    return found


# --------------------------------------------------------------------------------------------
# Helpers: the flows as a whole
# --------------------------------------------------------------------------------------------

def parsed(sources: list[Source]) -> list[Source]:
    return [s for s in sources if s.doc is not None]


def flows_by_key(all_flows: list[Source]) -> dict[tuple[str, str], dict]:
    return {
        (s.doc.get("namespace"), s.doc.get("id")): s.doc
        for s in parsed(all_flows)
        if isinstance(s.doc.get("namespace"), str) and isinstance(s.doc.get("id"), str)
    }


def require_parsed(yaml_file: Source) -> dict:
    if yaml_file.doc is None:
        pytest.skip(f"{yaml_file.rel} does not parse; reported by test_yaml_parses")
    return yaml_file.doc


def is_pebble(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


# ============================================================================================
# Layout and parsing
# ============================================================================================

def test_flows_folder_exists():
    assert FLOWS_ROOT.is_dir(), f"{FLOWS_ROOT} is missing"
    assert namespace_dirs(), "flows/ holds no namespace folder"


def test_flows_tree_layout():
    problems = []
    for entry in sorted(FLOWS_ROOT.iterdir()):
        rel = entry.relative_to(REPO_ROOT).as_posix()
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if entry.suffix != ".md":
                problems.append(f"{rel}: only namespace folders (and .md notes) belong directly in flows/")
            continue
        if not NAMESPACE_RE.match(entry.name):
            problems.append(f"{rel}: folder name is not a valid Kestra namespace ({NAMESPACE_RE.pattern})")
        for child in sorted(entry.iterdir()):
            crel = child.relative_to(REPO_ROOT).as_posix()
            if child.is_dir():
                if child.name not in (FILES_DIR, DASHBOARDS_DIR):
                    problems.append(f"{crel}: unexpected folder; a namespace holds flows, files/ and dashboards/")
            elif child.suffix != ".yaml":
                problems.append(f"{crel}: unexpected file; flows are <flow_id>.yaml")
        dash = entry / DASHBOARDS_DIR
        if dash.is_dir():
            for child in sorted(dash.iterdir()):
                if child.is_dir() or child.suffix != ".yaml":
                    problems.append(f"{child.relative_to(REPO_ROOT).as_posix()}: dashboards/ holds only <id>.yaml files")
    assert not problems, "\n".join(problems)


def test_yaml_parses(yaml_file: Source):
    assert yaml_file.error is None, f"{yaml_file.rel}: {yaml_file.error}"


# ============================================================================================
# Identity: ids, namespaces, task ids
# ============================================================================================

def test_flow_identity(flow_file: Source):
    doc = require_parsed(flow_file)
    problems = []
    for field in ("id", "namespace", "tasks"):
        if field not in doc:
            problems.append(f"{flow_file.rel}: missing '{field}'")
    fid, ns = doc.get("id"), doc.get("namespace")
    if "id" in doc:
        if not isinstance(fid, str) or not FLOW_ID_RE.match(fid):
            problems.append(f"{flow_file.rel}: id {fid!r} does not match {FLOW_ID_RE.pattern}")
        elif fid != flow_file.path.stem:
            problems.append(f"{flow_file.rel}: id {fid!r} differs from the file name {flow_file.path.stem!r}")
    if "namespace" in doc:
        if not isinstance(ns, str) or not NAMESPACE_RE.match(ns):
            problems.append(f"{flow_file.rel}: namespace {ns!r} does not match {NAMESPACE_RE.pattern}")
        elif ns != flow_file.namespace:
            problems.append(f"{flow_file.rel}: namespace {ns!r} differs from its folder {flow_file.namespace!r}")
    if "tasks" in doc and not task_list(doc["tasks"]):
        problems.append(f"{flow_file.rel}: tasks must be a non-empty list of task mappings")
    assert not problems, "\n".join(problems)


def test_flow_ids_unique_per_namespace(all_flows):
    seen: dict[tuple, list[str]] = {}
    for s in parsed(all_flows):
        seen.setdefault((s.doc.get("namespace"), s.doc.get("id")), []).append(s.rel)
    dupes = [f"{ns}/{fid}: {', '.join(paths)}" for (ns, fid), paths in seen.items() if len(paths) > 1]
    assert not dupes, "flow id used twice in a namespace:\n" + "\n".join(dupes)


def test_task_and_trigger_ids(flow_file: Source):
    doc = require_parsed(flow_file)
    problems = []
    task_ids = Counter()
    for path, task, _ in iter_tasks(doc):
        tid = task.get("id")
        if not isinstance(tid, str) or not TASK_ID_RE.match(tid):
            problems.append(f"{flow_file.rel}: {path}.id {tid!r} does not match {TASK_ID_RE.pattern}")
        else:
            task_ids[tid] += 1
        if "type" not in task:
            problems.append(f"{flow_file.rel}: {path} has no type")
    problems += [f"{flow_file.rel}: task id {tid!r} used {n} times" for tid, n in task_ids.items() if n > 1]
    trigger_ids = Counter()
    for path, trigger in iter_triggers(doc):
        tid = trigger.get("id")
        if not isinstance(tid, str) or not TASK_ID_RE.match(tid):
            problems.append(f"{flow_file.rel}: {path}.id {tid!r} does not match {TASK_ID_RE.pattern}")
        else:
            trigger_ids[tid] += 1
    problems += [f"{flow_file.rel}: trigger id {tid!r} used {n} times" for tid, n in trigger_ids.items() if n > 1]
    assert not problems, "\n".join(problems)


def test_task_walker_reaches_nested_tasks():
    doc = {
        "tasks": [
            {"id": "par", "type": "io.kestra.plugin.core.flow.Parallel", "tasks": [
                {"id": "iff", "type": "io.kestra.plugin.core.flow.If", "condition": "x",
                 "then": [{"id": "a", "type": "t.A"}], "else": [{"id": "b", "type": "t.B"}]},
            ]},
            {"id": "sw", "type": "io.kestra.plugin.core.flow.Switch", "value": "v",
             "cases": {"X": [{"id": "c", "type": "t.C"}]}, "defaults": [{"id": "d", "type": "t.D"}]},
            {"id": "dag", "type": "io.kestra.plugin.core.flow.Dag",
             "tasks": [{"task": {"id": "e", "type": "t.E"}, "dependsOn": []}]},
            {"id": "fe", "type": "io.kestra.plugin.core.flow.ForEach", "values": [1],
             "tasks": [{"id": "f", "type": "t.F"}], "errors": [{"id": "g", "type": "t.G"}]},
        ],
        "errors": [{"id": "h", "type": "t.H"}],
        "finally": [{"id": "i", "type": "t.I"}],
        "inputs": [{"id": "not_a_task", "type": "STRING", "defaults": "x"}],
    }
    ids = [task["id"] for _, task, _ in iter_tasks(doc)]
    assert sorted(ids) == sorted(["par", "iff", "a", "b", "sw", "c", "d", "dag", "e", "fe", "f", "g", "h", "i"])


# ============================================================================================
# Plugin types
# ============================================================================================

def test_allowlist_is_well_formed():
    problems = []
    seen = Counter()
    for n, raw in enumerate(ALLOWLIST_PATH.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            problems.append(f"line {n}: expected '<type> <repo>@<ref>:<path>', got {raw!r}")
            continue
        type_name, src = parts
        seen[type_name] += 1
        if not CLASS_NAME_RE.match(type_name):
            problems.append(f"line {n}: {type_name!r} is not a Java class name")
        m = re.match(r"^([\w.-]+/[\w.-]+)@([\w.-]+):(.+\.java)$", src)
        if not m:
            problems.append(f"line {n}: source {src!r} is not <owner>/<repo>@<ref>:<path>.java")
            continue
        # The class must be the file it was checked in.
        expected_tail = type_name.replace(".", "/") + ".java"
        if not m.group(3).endswith(expected_tail):
            problems.append(f"line {n}: {type_name} does not live in {m.group(3)}")
    problems += [f"{t} listed {c} times" for t, c in seen.items() if c > 1]
    assert not problems, "\n".join(problems)
    assert len(seen) > 50


def check_type(value: str, is_default: bool, allowed: dict[str, str]) -> bool:
    if value in allowed:
        return True
    # pluginDefaults may name a package prefix (io.kestra.plugin.gcp) to cover all its types.
    return is_default and PACKAGE_RE.match(value) is not None and any(t.startswith(value + ".") for t in allowed)


# Core types are Kestra 1.1.7's to judge: the kestra_model tier parses every flow and dashboard with
# Kestra's own parser, which rejects an unknown core type ("Invalid type: ..."). The allowlist
# covers only the plugins whose jars that tier cannot load.
KESTRA_CHECKED_PREFIX = "io.kestra.plugin.core."


def test_plugin_types_are_allowlisted(yaml_file: Source, allowlist):
    doc = require_parsed(yaml_file)
    unknown = [
        f"{yaml_file.rel}: {path} = {value!r}"
        for path, value, is_default in type_usages(doc, yaml_file.kind)
        if not value.startswith(KESTRA_CHECKED_PREFIX) and not check_type(value, is_default, allowlist)
    ]
    assert not unknown, (
        "plugin types not on tests/flows/plugin_types.txt (check them in the plugin sources and add "
        "them with their yaml_file):\n" + "\n".join(unknown)
    )


def test_type_check_rejects_mistakes():
    allowed = {"io.kestra.plugin.gcp.gcs.Upload": "x", "io.kestra.plugin.core.log.Log": "x"}
    doc = {
        "tasks": [
            {"id": "a", "type": "io.kestra.plugin.gcp.gcs.Uplaod"},
            {"id": "b", "type": "Log"},
            {"id": "c", "type": "io.kestra.plugin.core.log.Log", "taskRunner": {"type": "io.kestra.Nope"}},
        ],
        "inputs": [{"id": "i", "type": "STRING"}],
        "pluginDefaults": [{"type": "io.kestra.plugin.gcp", "values": {}}, {"type": "io.kestra.plugin.gc", "values": {}}],
    }
    bad = sorted(path for path, value, d in type_usages(doc, "flow") if not check_type(value, d, allowed))
    assert bad == ["pluginDefaults[1].type", "tasks[0].type", "tasks[1].type", "tasks[2].taskRunner.type"]


def test_type_check_covers_dashboard_charts_and_data():
    allowed = {"io.kestra.plugin.core.dashboard.chart.TimeSeries": "x", "io.kestra.plugin.core.dashboard.data.Executions": "x"}
    doc = {
        "id": "d", "title": "t",
        "charts": [
            {"id": "ok", "type": "io.kestra.plugin.core.dashboard.chart.TimeSeries",
             "data": {"type": "io.kestra.plugin.core.dashboard.data.Executions"}},
            {"id": "bad", "type": "io.kestra.plugin.core.dashboard.chart.TimeSerie",
             "data": {"type": "io.kestra.plugin.core.dashboard.data.Execution"}},
        ],
    }
    bad = sorted(path for path, value, d in type_usages(doc, "dashboard") if not check_type(value, d, allowed))
    assert bad == ["charts[1].data.type", "charts[1].type"]


# ============================================================================================
# Subflows and flow triggers
# ============================================================================================

def child_references(doc: dict) -> Iterator[tuple[str, Any, Any, dict | None]]:
    """(path, namespace, flowId, subflow task or None) for every reference to another flow."""
    for path, task, _ in iter_tasks(doc):
        if task.get("type") in (SUBFLOW, FOR_EACH_ITEM):
            yield path, task.get("namespace"), task.get("flowId"), task
    for path, trigger in iter_triggers(doc):
        for sub, key, value in walk(trigger, path):
            if isinstance(value, dict) and "flowId" in value:
                yield sub, value.get("namespace"), value.get("flowId"), None


def test_subflow_references_resolve(flow_file: Source, all_flows):
    doc = require_parsed(flow_file)
    known = flows_by_key(all_flows)
    problems = []
    for path, ns, flow_id, task in child_references(doc):
        if is_pebble(ns) or is_pebble(flow_id):
            problems.append(f"{flow_file.rel}: {path} names its flow_file with an expression; use literals so it can be checked")
            continue
        child = known.get((ns, flow_id))
        if child is None:
            problems.append(f"{flow_file.rel}: {path} references {ns}/{flow_id}, which is not a flow_file under flows/")
            continue
        if task is None or task.get("type") != SUBFLOW:
            continue
        declared = {i.get("id"): i for i in child.get("inputs") or [] if isinstance(i, dict)}
        given = task.get("inputs") or {}
        for name in given:
            if name not in declared:
                problems.append(f"{flow_file.rel}: {path}.inputs.{name} is not an input of {ns}/{flow_id}")
        for name, spec in declared.items():
            required = spec.get("required", True) and "defaults" not in spec
            if required and name not in given:
                problems.append(f"{flow_file.rel}: {path}.inputs lacks required input {name!r} of {ns}/{flow_id}")
        # outputs.<task>.outputs.<id> must be one of the child's flow_file outputs.
        child_outputs = {o.get("id") for o in child.get("outputs") or [] if isinstance(o, dict)}
        pattern = re.compile(r"(?<![\w.])outputs\." + re.escape(task.get("id", "")) + r"\.outputs\.([A-Za-z0-9_-]+)")
        for spath, text in strings(doc):
            for block in pebble_blocks(text):
                for m in pattern.finditer(block):
                    if m.group(1) not in child_outputs:
                        problems.append(
                            f"{flow_file.rel}: {spath} reads output {m.group(1)!r} of {ns}/{flow_id}, "
                            f"which declares {sorted(child_outputs)}"
                        )
    assert not problems, "\n".join(problems)


# ============================================================================================
# KV keys and secrets
# ============================================================================================

@pytest.mark.parametrize(
    "text, function, expected",
    [
        ("{{ kv('GCS_BUCKET') }}", "kv", ["GCS_BUCKET"]),
        ('{{kv("GCS_BUCKET")}}', "kv", ["GCS_BUCKET"]),
        ("{{ kv( 'A' ) ~ '/' ~ kv(\"B\") }}", "kv", ["A", "B"]),
        ("{{ kv('A', 'other.namespace') }}", "kv", ["A"]),
        ("{{\n  kv(\n    'MULTI'\n  )\n}}", "kv", ["MULTI"]),
        ("{% set b = kv('IN_TAG') %}{{ b }}", "kv", ["IN_TAG"]),
        ("gs://{{ kv('X') }}/a and {{ kv('Y') }}", "kv", ["X", "Y"]),
        ("kv('OUTSIDE_PEBBLE') {{ 1 }}", "kv", []),
        ("{{ my_kv('NOT') ~ obj.kv('NOT2') }}", "kv", []),
        ("{{ kv(inputs.key) }}", "kv", [None]),
        ("{{ secret('GITHUB_TOKEN') | base64decode }}", "secret", ["GITHUB_TOKEN"]),
        ("{{ secretive('NOT') }}", "secret", []),
        ("{{ secret(\"KESTRA_USER\") }}:{{ secret( 'KESTRA_PASSWORD' ) }}", "secret", ["KESTRA_USER", "KESTRA_PASSWORD"]),
        ("{{ read('scripts/a.sql') }}", "read", ["scripts/a.sql"]),
    ],
)
def test_pebble_call_regex(text, function, expected):
    assert [name for name, _ in pebble_calls(text, function)] == expected


def test_kv_keys_and_secrets_are_in_the_contract(yaml_file: Source):
    doc = require_parsed(yaml_file)
    problems = []
    for path, text in strings(doc):
        for function, allowed in (("kv", KV_KEYS), ("secret", SECRET_NAMES)):
            for name, call in pebble_calls(text, function):
                if name is None:
                    problems.append(f"{yaml_file.rel}: {path}: {call!r} has no literal name; the contract cannot be checked")
                elif name not in allowed:
                    problems.append(f"{yaml_file.rel}: {path}: {function}('{name}') is not in infra.kv_and_secrets "
                                    f"({'KV_KEYS' if function == 'kv' else 'SECRET_NAMES'})")
    assert not problems, "\n".join(problems)


def credential_problems(rel: str, doc: Any) -> list[str]:
    problems = []
    for path, key, _ in walk(doc):
        if key in ("serviceAccount", "impersonatedServiceAccount"):
            problems.append(f"{rel}: {path}: credentials belong to the runtime (Kestra's instance plugin defaults), not to the flow")
    for text_path, text in strings(doc):
        if "GCP_SERVICE_ACCOUNT" in text:
            problems.append(f"{rel}: {text_path}: names the Docker runtime's key secret, which GKE does not have")
    return problems


def test_gcp_tasks_get_their_project_from_plugin_defaults_and_no_credentials(flow_file: Source):
    # Kestra merges every pluginDefaults entry whose type is a prefix of the task's type, so one
    # entry may give projectId and a narrower one only add, say, a location. Credentials are the
    # runtime's business, not the flow's: the Docker runtime names the key in Kestra's instance-level
    # `kestra.plugins.defaults` (applied after the flow's own, PluginDefaultService.getAllDefaults),
    # and on GKE the plugins fall back to Application Default Credentials (Workload Identity). A
    # serviceAccount in a flow would override both and break the flow on one of the runtimes.
    doc = require_parsed(flow_file)
    gcp_types = {t for _, t, d in type_usages(doc, "flow") if not d and t.startswith(GCP_PREFIX)}
    entries = [(i, d) for i, d in enumerate(doc.get("pluginDefaults") or [])
               if isinstance(d, dict) and isinstance(d.get("type"), str)]
    problems = credential_problems(flow_file.rel, doc)
    for i, d in entries:
        values = d.get("values") or {}
        if "projectId" in values and not KV_PROJECT.match(str(values["projectId"])):
            problems.append(f"{flow_file.rel}: pluginDefaults[{i}].values.projectId must be \"{{{{ kv('GCP_PROJECT_ID') }}}}\"")
    for t in sorted(gcp_types):
        merged: dict = {}
        for _, d in entries:
            if t == d["type"] or t.startswith(d["type"] + "."):
                merged.update(d.get("values") or {})
        if "projectId" not in merged:
            problems.append(f"{flow_file.rel}: {t} gets no projectId from pluginDefaults")
    assert not problems, "\n".join(problems)


def test_the_credentials_rule_catches_a_flow_carrying_a_key():
    # The walkthrough's way (a key per flow), a task's own key, and a key read in a script.
    doc = {
        "pluginDefaults": [{"type": "io.kestra.plugin.gcp", "values": {
            "projectId": "{{ kv('GCP_PROJECT_ID') }}", "serviceAccount": "{{ secret('GCP_SERVICE_ACCOUNT') }}"}}],
        "tasks": [
            {"id": "u", "type": "io.kestra.plugin.gcp.gcs.Upload", "serviceAccount": "{{ kv('SA') }}"},
            {"id": "s", "type": "io.kestra.plugin.scripts.shell.Commands", "env": {"K": "{{ secret('GCP_SERVICE_ACCOUNT') }}"}},
            {"id": "ok", "type": "io.kestra.plugin.gcp.gcs.List", "from": "gs://{{ kv('GCS_BUCKET') }}/"},
        ],
    }
    problems = credential_problems("f.yaml", doc)
    assert [p.split(": ")[1] for p in problems] == [
        "pluginDefaults[0].values.serviceAccount", "tasks[0].serviceAccount",
        "pluginDefaults[0].values.serviceAccount", "tasks[1].env.K",
    ]


# ============================================================================================
# Placeholders, hard-coded buckets and projects
# ============================================================================================

PLACEHOLDER_RES = [
    (re.compile(r"\bREPLACE(?:ME|[_-][A-Z0-9_]+|[_ -]ME)\b|\breplace[_-]me\b", re.IGNORECASE), "REPLACE marker"),
    (re.compile(r"\byour[-_ ]?(?:gcp[-_ ]?)?(?:project|bucket|dataset|token|key|org|repo)", re.IGNORECASE), "'your-…' placeholder"),
    (re.compile(r"\b(?:TODO|FIXME|TBD|CHANGEME|XXX)\b"), "TODO-like marker"),
    # <PROJECT_ID>, <your-bucket>, <my project>: not Java generics (List<String>) nor XML tags (<project>).
    (re.compile(r"(?<![\w$.])<\s*(?:[A-Z][A-Z0-9]*(?:[_-][A-Z0-9]+)+|[A-Z]{2,}|[a-z]+(?:[-_ ][a-z0-9]+)+)\s*>"), "<…> marker"),
]

TEXT_SUFFIXES = {".yaml", ".yml", ".py", ".java", ".xml", ".sql", ".sh", ".md", ".txt", ".json", ".csv", ".r", ".js"}


def flow_tree_text_files() -> list:
    return sorted(p for p in FLOWS_ROOT.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)


@pytest.mark.parametrize(
    "line, flagged",
    [
        ("projectId: REPLACE_WITH_YOUR_PROJECT", True),
        ("bucket: your-bucket-name", True),
        ("# TODO: fill in", True),
        ("uri: gs://<BUCKET_NAME>/x", True),
        ("to: <your-project>", True),
        ("CREATE OR REPLACE TABLE `{{ kv('GCP_PROJECT_ID') }}.ds.t` AS", False),
        ("SELECT REPLACE(name, 'a', 'b') FROM t", False),
        ("List<String> names = new ArrayList<>();", False),
        ("Map<String, Integer> m;", False),
        ("<project xmlns=\"http://maven.apache.org/POM/4.0.0\">", False),
        ("<modelVersion>4.0.0</modelVersion>", False),
    ],
)
def test_placeholder_patterns(line, flagged):
    assert any(rx.search(line) for rx, _ in PLACEHOLDER_RES) is flagged


def test_no_placeholders_under_flows():
    problems = []
    for path in flow_tree_text_files():
        rel = path.relative_to(REPO_ROOT).as_posix()
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            for rx, what in PLACEHOLDER_RES:
                m = rx.search(line)
                if m:
                    problems.append(f"{rel}:{n}: {what} {m.group(0)!r}")
    assert not problems, "placeholder text left in flows/:\n" + "\n".join(problems)


GCS_URI_RE = re.compile(r"gs://")
GCS_OK_RE = re.compile(r"gs://\{\{\s*kv\(\s*(['\"])GCS_BUCKET\1\s*\)\s*\}\}")


def test_gcs_uris_use_the_bucket_key(yaml_file: Source):
    doc = require_parsed(yaml_file)
    problems = []
    for path, text in strings(doc):
        for m in GCS_URI_RE.finditer(text):
            if not GCS_OK_RE.match(text, m.start()):
                snippet = text[m.start(): m.start() + 40].splitlines()[0]
                problems.append(f"{yaml_file.rel}: {path}: hard-coded GCS URI {snippet!r}; use gs://{{{{ kv('GCS_BUCKET') }}}}/…")
    assert not problems, "\n".join(problems)


PROJECT_PATH_RE = re.compile(r"\bprojects/(?!\{\{)([a-z][a-z0-9-]{4,28}[a-z0-9])/")
# `project.dataset.table` in BigQuery SQL, where the project is written out.
BQ_LITERAL_TABLE_RE = re.compile(r"`([a-z][a-z0-9-]{4,28}[a-z0-9])\.[A-Za-z0-9_{}' ()\"]+\.[A-Za-z0-9_{}' ()\"*$]+`")
# Google's public datasets live in a fixed project that is not the stack's.
PUBLIC_PROJECTS = {"bigquery-public-data"}
TABLE_KEYS = {"destinationTable", "sourceTable", "table", "sourceTables", "destinationTables"}


def literal_project_problems(rel: str, doc: Any) -> list[str]:
    problems = []
    for path, key, value in walk(doc):
        if key == "projectId" and value is not None and not KV_PROJECT.match(str(value)):
            problems.append(f"{rel}: {path} = {value!r}; the project comes from kv('GCP_PROJECT_ID')")
        if key in TABLE_KEYS:
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str) and not is_pebble(v.split(".")[0]) and v.count(".") >= 2:
                    problems.append(f"{rel}: {path} = {v!r} names a literal project")
    for path, text in strings(doc):
        for m in PROJECT_PATH_RE.finditer(text):
            problems.append(f"{rel}: {path}: literal project in {m.group(0)!r}")
        for m in BQ_LITERAL_TABLE_RE.finditer(text):
            if m.group(1) not in PUBLIC_PROJECTS:
                problems.append(f"{rel}: {path}: literal project in {m.group(0)!r}")
    return problems


def test_no_literal_project_ids(yaml_file: Source):
    doc = require_parsed(yaml_file)
    problems = literal_project_problems(yaml_file.rel, doc)
    assert not problems, "\n".join(problems)


def test_literal_project_detection():
    doc = {
        "pluginDefaults": [{"type": "io.kestra.plugin.gcp", "values": {"projectId": "my-project-123"}}],
        "tasks": [
            {"id": "q", "type": "io.kestra.plugin.gcp.bigquery.Query",
             "sql": "SELECT 1 FROM `acme-data-42.raw.orders`; SELECT 2 FROM `{{ kv('GCP_PROJECT_ID') }}.raw.x`"
                    " JOIN `bigquery-public-data.new_york_taxi_trips.taxi_zone_geom` USING (zone_id)",
             "destinationTable": "acme-data-42.clean.orders"},
            {"id": "p", "type": "io.kestra.plugin.gcp.pubsub.Publish", "topic": "projects/acme-data-42/topics/t"},
            {"id": "ok", "type": "io.kestra.plugin.gcp.bigquery.Query",
             "destinationTable": "{{ kv('GCP_PROJECT_ID') }}.{{ kv('BQ_DATASET_CLEAN') }}.orders"},
        ],
    }
    problems = literal_project_problems("f.yaml", doc)
    assert len(problems) == 4, problems
    assert not any("tasks[2]" in p for p in problems)


# ============================================================================================
# Namespace files
# ============================================================================================

CODE_FILE_RE = re.compile(r"^[\w.-]+(?:/[\w.-]+)*\.(?:py|java|sql|sh|xml|r|R|js|jl|rb|ts|scala|groovy)$")


def glob_to_regex(pattern: str) -> re.Pattern:
    """Kestra's namespaceFiles include/exclude globs (PathMatcherPredicate) as a regex.

    A pattern starting with a word character gets a leading '**/'; paths are matched with a
    leading '/'. '**' crosses folders, '*' and '?' do not, {a,b} is an alternative.
    """
    if pattern.startswith("regex:"):
        return re.compile(pattern[len("regex:"):])
    if pattern.startswith("glob:"):
        pattern = pattern[len("glob:"):]
    elif re.match(r"\w", pattern):
        pattern = "**/" + pattern
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "{":
            j = pattern.index("}", i)
            out += "(?:" + "|".join(re.escape(a) for a in pattern[i + 1:j].split(",")) + ")"
            i = j
        else:
            out += re.escape(c)
        i += 1
    return re.compile("^" + out + "$")


def glob_matches(pattern: str, rel_path: str) -> bool:
    return glob_to_regex(pattern).match("/" + rel_path) is not None


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("scripts/process_sales_data.py", "scripts/process_sales_data.py", True),
        ("process_sales_data.py", "scripts/process_sales_data.py", True),
        ("maven/**", "maven/src/main/java/com/example/A.java", True),
        ("maven/**", "other/pom.xml", False),
        ("/scripts/*.py", "scripts/a.py", True),
        ("/scripts/*.py", "scripts/sub/a.py", False),
        # No leading word character: no "**/" is added and "*" stays within one folder.
        ("*.{sql,py}", "sql/q.sql", False),
        ("**/*.{sql,py}", "sql/q.sql", True),
        ("java/DataProcessor.java", "java/Other.java", False),
    ],
)
def test_namespace_files_glob(pattern, path, expected):
    assert glob_matches(pattern, path) is expected


def namespace_files_setting(task: dict, ancestors: list[dict]) -> dict | None:
    for node in [task] + ancestors[::-1]:
        nf = node.get("namespaceFiles")
        if isinstance(nf, dict) and nf.get("enabled", True) is not False:
            return nf
    return None


def command_file_tokens(commands: list) -> tuple[list[str], list[str]]:
    """(file-like tokens, directories cd'ed into) of a list of shell commands."""
    tokens, cd_dirs = [], []
    for command in commands:
        if not isinstance(command, str):
            continue
        try:
            words = shlex.split(command, comments=True)
        except ValueError:
            words = command.split()
        for i, word in enumerate(words):
            if i > 0 and words[i - 1] in (">", ">>", "-o", "--output", "-d"):
                continue  # written by the command, not read
            if i > 0 and words[i - 1] == "cd":
                cd_dirs.append(word.strip("/"))
            for part in word.split("="):
                if CODE_FILE_RE.match(part) and "{{" not in part:
                    tokens.append(part)
    return tokens, cd_dirs


def namespace_file_problems(rel: str, namespace: str, doc: dict) -> list[str]:
    problems = []
    own_files = namespace_files(namespace)
    for path, task, ancestors in iter_tasks(doc):
        nf = namespace_files_setting(task, ancestors)
        in_working_dir = any(a.get("type") == WORKING_DIRECTORY for a in ancestors)
        available = set(own_files)
        if nf is not None:
            namespaces = nf.get("namespaces") or [namespace]
            available = set().union(*(namespace_files(ns) for ns in namespaces))
            if not available:
                problems.append(f"{rel}: {path}.namespaceFiles is enabled but flows/{namespace}/files/ is empty")
            for key in ("include", "exclude"):
                for pattern in nf.get(key) or []:
                    if not any(glob_matches(pattern, f) for f in available):
                        problems.append(f"{rel}: {path}.namespaceFiles.{key} {pattern!r} matches no file under "
                                        f"flows/{'|'.join(namespaces)}/files/")
            include, exclude = nf.get("include") or [], nf.get("exclude") or []
            available = {
                f for f in available
                if (not include or any(glob_matches(p, f) for p in include))
                and not any(glob_matches(p, f) for p in exclude)
            }
        commands = task.get("commands")
        if isinstance(commands, list):
            input_files = task.get("inputFiles") if isinstance(task.get("inputFiles"), dict) else {}
            provided = {k.strip("/") for k in input_files} | {str(o) for o in task.get("outputFiles") or []}
            tokens, cd_dirs = command_file_tokens(commands)
            for token in tokens:
                if token in provided:
                    continue
                candidates = [token] + [f"{d}/{token}" for d in cd_dirs]
                if nf is not None:
                    if not any(c in available for c in candidates):
                        problems.append(f"{rel}: {path}.commands uses {token!r}, which is not a namespace file "
                                        f"the task loads (flows/{namespace}/files/{token})")
                elif not in_working_dir:
                    where = " (it exists there: enable namespaceFiles)" if token in own_files else ""
                    problems.append(f"{rel}: {path}.commands uses {token!r}, but neither namespaceFiles nor "
                                    f"inputFiles provide it{where}")
    for spath, text in strings(doc):
        for name, call in pebble_calls(text, "read"):
            if name is None or name.startswith("kestra://") or "{{" in name:
                continue
            if name.lstrip("/") not in own_files:
                problems.append(f"{rel}: {spath}: {call!r} reads a namespace file missing from flows/{namespace}/files/")
    return problems


def test_namespace_file_references_exist(flow_file: Source):
    doc = require_parsed(flow_file)
    problems = namespace_file_problems(flow_file.rel, flow_file.namespace, doc)
    assert not problems, "\n".join(problems)


def test_namespace_file_detection_catches_mistakes(monkeypatch):
    # A namespace "ns" whose files/ holds two files, instead of the real tree.
    monkeypatch.setattr(
        sys.modules[__name__], "namespace_files",
        lambda ns: {"scripts/etl.py", "sql/q.sql"} if ns == "ns" else set(),
    )
    doc = {
        "tasks": [
            {"id": "ok", "type": "io.kestra.plugin.scripts.python.Commands",
             "namespaceFiles": {"enabled": True, "include": ["scripts/etl.py"]},
             "commands": ["python scripts/etl.py --out result.csv"]},
            {"id": "missing", "type": "io.kestra.plugin.scripts.python.Commands",
             "namespaceFiles": {"enabled": True}, "commands": ["python scripts/typo.py"]},
            {"id": "filtered", "type": "io.kestra.plugin.scripts.python.Commands",
             "namespaceFiles": {"enabled": True, "include": ["sql/**"]}, "commands": ["python scripts/etl.py"]},
            {"id": "not_loaded", "type": "io.kestra.plugin.scripts.python.Commands",
             "commands": ["python scripts/etl.py"]},
            {"id": "inline", "type": "io.kestra.plugin.scripts.shell.Commands",
             "inputFiles": {"Main.java": "class Main {}"}, "commands": ["javac Main.java"]},
            {"id": "bad_glob", "type": "io.kestra.plugin.scripts.python.Commands",
             "namespaceFiles": {"enabled": True, "include": ["nope/*.py"]}, "commands": ["echo hi"]},
            {"id": "reads", "type": "io.kestra.plugin.core.log.Log",
             "message": "{{ read('sql/q.sql') }} {{ read('sql/missing.sql') }}"},
        ]
    }
    problems = namespace_file_problems("f.yaml", "ns", doc)
    flagged = sorted({p.split(": ")[1].split(".")[0] for p in problems})
    assert flagged == ["tasks[1]", "tasks[2]", "tasks[3]", "tasks[5]", "tasks[6]"], problems


# ============================================================================================
# Task-level checks that Kestra only makes at run time
# ============================================================================================

def split_sql_statements(sql: str) -> list[str]:
    """Statements of a SQL text, ignoring ';' inside quotes and comments."""
    statements, current, i, quote = [], "", 0, None
    while i < len(sql):
        c = sql[i]
        if quote:
            current += c
            if c == quote:
                quote = None
        elif c in ("'", '"'):
            quote = c
            current += c
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif sql.startswith("/*", i):
            end = sql.find("*/", i)
            i = len(sql) if end < 0 else end + 2
            continue
        elif c == ";":
            statements.append(current)
            current = ""
        else:
            current += c
        i += 1
    statements.append(current)
    return [s.strip() for s in statements if s.strip()]


def test_sql_splitter():
    assert len(split_sql_statements("SELECT 1;")) == 1
    assert len(split_sql_statements("SELECT ';' AS x -- a; comment\n")) == 1
    assert len(split_sql_statements("CREATE TABLE t AS SELECT 1; SELECT * FROM t")) == 2
    assert len(split_sql_statements("/* a; b */ SELECT 1")) == 1


def test_jdbc_query_tasks_run_one_statement(flow_file: Source):
    # Since Kestra 1.1 (plugin-jdbc AbstractJdbcQuery) a jdbc *.Query fails on several statements;
    # *.Queries is the multi-statement task.
    doc = require_parsed(flow_file)
    problems = []
    for path, task, _ in iter_tasks(doc):
        t = task.get("type", "")
        if isinstance(t, str) and t.startswith("io.kestra.plugin.jdbc.") and t.endswith(".Query"):
            sql = task.get("sql")
            if isinstance(sql, str) and len(split_sql_statements(sql)) > 1:
                problems.append(f"{flow_file.rel}: {path}.sql has {len(split_sql_statements(sql))} statements; "
                                f"a Query task takes one (use Queries)")
    assert not problems, "\n".join(problems)


PEBBLE_REF_RE = re.compile(r"(?<![\w.\]])(inputs|outputs|vars)(?:\.([A-Za-z0-9_-]+)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


def reference_problems(rel: str, doc: dict) -> list[str]:
    task_ids = {t.get("id") for _, t, _ in iter_tasks(doc)}
    inputs = {i.get("id") for i in doc.get("inputs") or [] if isinstance(i, dict)}
    variables = set((doc.get("variables") or {}).keys()) if isinstance(doc.get("variables"), dict) else set()
    problems = []
    for path, text in strings(doc):
        if path.startswith("triggers"):
            continue  # trigger conditions read the triggering execution's outputs, not this flow's
        for block in pebble_blocks(text):
            for m in PEBBLE_REF_RE.finditer(block):
                kind, name = m.group(1), m.group(2) or m.group(3)
                known = {"inputs": inputs, "outputs": task_ids, "vars": variables}[kind]
                if name not in known:
                    problems.append(f"{rel}: {path}: '{m.group(0)}' but the flow has no such "
                                    f"{'task' if kind == 'outputs' else 'input' if kind == 'inputs' else 'variable'}")
    return problems


def test_expressions_reference_existing_inputs_and_tasks(flow_file: Source):
    doc = require_parsed(flow_file)
    problems = reference_problems(flow_file.rel, doc)
    assert not problems, "\n".join(problems)


def test_reference_detection():
    doc = {
        "inputs": [{"id": "day", "type": "DATE"}],
        "variables": {"base": "x"},
        "tasks": [
            {"id": "a", "type": "t.A", "v": "{{ inputs.day }} {{ vars.base }} {{ outputs.a.value }}"},
            {"id": "b", "type": "t.B", "v": "{{ inputs.dya }} {{ outputs['missing'].uri }} {{ vars.nope }}"},
            {"id": "c", "type": "t.C", "v": "{{ outputs.a.vars.x }} {{ trigger.outputs.y }} {{ outputs.a[taskrun.value] }}"},
        ],
    }
    problems = reference_problems("f.yaml", doc)
    assert len(problems) == 3 and all("tasks[1]" in p for p in problems), problems


def test_inline_python_scripts_compile(flow_file: Source):
    doc = require_parsed(flow_file)
    problems = []
    for path, task, _ in iter_tasks(doc):
        if task.get("type") != PYTHON_SCRIPT or not isinstance(task.get("script"), str):
            continue
        script = task["script"]
        if "{%" in script:
            continue  # Pebble control blocks decide what the script is; nothing static to compile
        # Pebble expressions become a plain name so the surrounding Python can be compiled.
        source = PEBBLE_BLOCK_RE.sub("_pebble_value", script)
        try:
            compile(source, f"{flow_file.rel}:{path}.script", "exec")
        except SyntaxError as exc:
            problems.append(f"{flow_file.rel}: {path}.script line {exc.lineno}: {exc.msg}")
    assert not problems, "\n".join(problems)


# ============================================================================================
# Dashboards
# ============================================================================================

def test_dashboard_identity(dashboard_file: Source):
    doc = require_parsed(dashboard_file)
    problems = []
    did = doc.get("id")
    if not isinstance(did, str) or not FLOW_ID_RE.match(did):
        problems.append(f"{dashboard_file.rel}: id {did!r} missing or not matching {FLOW_ID_RE.pattern} (Kestra 1.x requires it)")
    elif did != dashboard_file.path.stem:
        problems.append(f"{dashboard_file.rel}: id {did!r} differs from the file name {dashboard_file.path.stem!r}")
    if not doc.get("title"):
        problems.append(f"{dashboard_file.rel}: missing title")
    charts = doc.get("charts")
    if not isinstance(charts, list) or not charts:
        problems.append(f"{dashboard_file.rel}: charts must be a non-empty list")
    else:
        ids = Counter(c.get("id") for c in charts if isinstance(c, dict))
        for i, chart in enumerate(charts):
            if not isinstance(chart, dict) or not chart.get("id") or not chart.get("type"):
                problems.append(f"{dashboard_file.rel}: charts[{i}] needs an id and a type")
        problems += [f"{dashboard_file.rel}: chart id {cid!r} used {n} times" for cid, n in ids.items() if n > 1]
    assert not problems, "\n".join(problems)


def test_dashboard_ids_unique_across_repo(all_dashboards):
    seen: dict[Any, list[str]] = {}
    for s in parsed(all_dashboards):
        seen.setdefault(s.doc.get("id"), []).append(s.rel)
    dupes = [f"{did}: {', '.join(paths)}" for did, paths in seen.items() if len(paths) > 1]
    assert not dupes, "dashboard id used twice:\n" + "\n".join(dupes)
