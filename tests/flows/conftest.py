"""Discovery of the flows/ tree for the flow tests.

Layout (see DESIGN.md): ``flows/<namespace>/<flow_id>.yaml`` for flows,
``flows/<namespace>/files/**`` for namespace files and ``flows/<namespace>/dashboards/<id>.yaml``
for dashboards. Files are loaded once at collection time so every test can be parametrized per
file and name it in its test id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
FLOWS_ROOT = REPO_ROOT / "flows"
ALLOWLIST_PATH = Path(__file__).with_name("plugin_types.txt")

FILES_DIR = "files"
DASHBOARDS_DIR = "dashboards"


@dataclass(frozen=True)
class Source:
    """One YAML file under flows/: a flow or a dashboard."""

    path: Path
    namespace: str  # the folder name, which must equal the flow's namespace
    kind: str  # "flow" or "dashboard"
    text: str
    doc: Any  # parsed first document; None when it did not parse
    error: str | None  # YAML error, or why the file is not a single mapping

    @property
    def rel(self) -> str:
        return self.path.relative_to(REPO_ROOT).as_posix()


def namespace_dirs() -> list[Path]:
    if not FLOWS_ROOT.is_dir():
        return []
    return sorted(p for p in FLOWS_ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))


def flow_paths(ns_dir: Path) -> list[Path]:
    return sorted(p for p in ns_dir.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def dashboard_paths(ns_dir: Path) -> list[Path]:
    folder = ns_dir / DASHBOARDS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def namespace_files(namespace: str) -> set[str]:
    """Paths of a namespace's files relative to its files/ folder, '/'-separated, no leading '/'."""
    root = FLOWS_ROOT / namespace / FILES_DIR
    if not root.is_dir():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def load_source(path: Path, namespace: str, kind: str) -> Source:
    text = path.read_text(encoding="utf-8")
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        return Source(path, namespace, kind, text, None, f"YAML error: {exc}")
    if len(docs) != 1:
        # Kestra's create/validate endpoints take one flow per body; a second document is a mistake.
        return Source(path, namespace, kind, text, None, f"{len(docs)} YAML documents, expected exactly 1")
    if not isinstance(docs[0], dict):
        return Source(path, namespace, kind, text, None, f"top level is {type(docs[0]).__name__}, expected a mapping")
    return Source(path, namespace, kind, text, docs[0], None)


def discover() -> tuple[list[Source], list[Source]]:
    flows, dashboards = [], []
    for ns_dir in namespace_dirs():
        flows += [load_source(p, ns_dir.name, "flow") for p in flow_paths(ns_dir)]
        dashboards += [load_source(p, ns_dir.name, "dashboard") for p in dashboard_paths(ns_dir)]
    return flows, dashboards


FLOWS, DASHBOARDS = discover()


def load_allowlist(path: Path = ALLOWLIST_PATH) -> dict[str, str]:
    """type -> source it was checked in. Lines: '<type> <repo>@<ref>:<path>'; '#' starts a comment."""
    entries: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        entries[parts[0]] = parts[1] if len(parts) > 1 else ""
    return entries


ENUM_FACTS_PATH = Path(__file__).with_name("plugin_enums.txt")


def load_enum_facts(path: Path = ENUM_FACTS_PATH) -> list[dict]:
    """The enum facts of plugin_enums.txt: ``{type, property, values, source, enum}`` per line, where
    `source` is where the plugin declares the property and `enum` where the constants come from.
    Lines: '<type> <property> <A,B,...> <repo>@<ref>:<path> <repo>@<ref>:<path>'; '#' starts a comment."""
    facts: list[dict] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 5:
            raise ValueError(f"{path.name}:{number}: expected 5 columns, got {len(parts)}: {raw!r}")
        type_, prop, values, source, enum = parts
        facts.append({"type": type_, "property": prop, "values": values.split(","), "source": source, "enum": enum})
    return facts


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrize by file so a failure's test id already names the file.
    # Distinctive names, so tests in this folder that define their own fixtures are not affected.
    if "flow_file" in metafunc.fixturenames:
        metafunc.parametrize("flow_file", FLOWS, ids=[s.rel for s in FLOWS])
    if "dashboard_file" in metafunc.fixturenames:
        metafunc.parametrize("dashboard_file", DASHBOARDS, ids=[s.rel for s in DASHBOARDS])
    if "yaml_file" in metafunc.fixturenames:
        sources = FLOWS + DASHBOARDS
        metafunc.parametrize("yaml_file", sources, ids=[s.rel for s in sources])


@pytest.fixture(scope="session")
def all_flows() -> list[Source]:
    return FLOWS


@pytest.fixture(scope="session")
def all_dashboards() -> list[Source]:
    return DASHBOARDS


@pytest.fixture(scope="session")
def allowlist() -> dict[str, str]:
    return load_allowlist()
