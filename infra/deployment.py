"""Deploys the `flows/` tree to Kestra: one resource per namespace holding its flows, one per
namespace file, KV entry and dashboard.

Layout read by `discover()`:
- `flows/<namespace>/<flow_id>.yaml` — a flow (the file stem is its id);
- `flows/<namespace>/files/<path>` — a namespace file, uploaded at `/<path>`;
- `flows/<namespace>/dashboards/<id>.yaml` — a dashboard.

Resource names are derived from those paths only, so adding a file never renames (and so never
replaces) another resource, and removing a file deletes exactly its object on the next `up`.
Every namespace that holds flows receives the stack's KV entries (`infra/kv_and_secrets.py`), so flows
never carry a project, bucket or dataset name. In the local profile, flows that need GCP are left
out rather than deployed to fail.

This module knows nothing of HTTP: the `kestra/` resources do the talking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
import yaml

from infra.kv_and_secrets import GCP_KV_KEYS
from kestra.resources import Dashboard, KestraConnection, KvEntry, NamespaceFile, NamespaceFlows, subflow_calls

_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_FLOW_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
_GCP_MARKERS = ("io.kestra.plugin.gcp.", "secret('GCP_SERVICE_ACCOUNT')", 'secret("GCP_SERVICE_ACCOUNT")')
# libyaml's safe loader when PyYAML was built with it: the same documents and errors as
# yaml.SafeLoader, read about 10x faster, which counts when the tree holds hundreds of flows (the
# program reads the whole tree on every preview and up).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The demo flow whose Schedule the stack switches on and off (config demoScheduleEnabled).
DEMO_SCHEDULE = ("gcp.ecommerce", "debug_demo", "every_10_minutes")


class FlowsTreeError(ValueError):
    """A file under flows/ that cannot be deployed; the message names the file and the field."""


@dataclass(frozen=True)
class FlowSpec:
    namespace: str
    flow_id: str
    origin: str  # repository-relative path, for messages
    source: str
    subflows: tuple = ()  # (namespace, flow_id) this flow calls

    @property
    def needs_gcp(self) -> bool:
        uses_gcp_kv = any(f"kv('{key}')" in self.source or f'kv("{key}")' in self.source for key in GCP_KV_KEYS)
        return uses_gcp_kv or any(marker in self.source for marker in _GCP_MARKERS)


@dataclass(frozen=True)
class NamespaceFileSpec:
    namespace: str
    path: str  # as stored in Kestra, with a leading /
    origin: str
    content: str


@dataclass(frozen=True)
class DashboardSpec:
    dashboard_id: str
    origin: str
    source: str


@dataclass(frozen=True)
class Catalogue:
    flows: tuple = ()
    files: tuple = ()
    dashboards: tuple = ()

    @property
    def namespaces(self) -> list[str]:
        return sorted({f.namespace for f in self.flows})


def _load_yaml(path: Path, origin: str) -> dict:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise FlowsTreeError(f"{origin}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise FlowsTreeError(f"{origin}: not UTF-8 text") from exc
    if not isinstance(document, dict):
        raise FlowsTreeError(f"{origin}: expected a YAML mapping at the top level")
    return document


def _refuse_duplicate(flows_dir: Path, repo_root: Path, path: Path, document: dict) -> None:
    """A flow file declaring the namespace and id that another file owns is refused naming both.

    The file at ``<namespace>/<id>.yaml`` owns that flow; a second file claiming it would deploy
    one Kestra flow from two sources, whichever is written last winning. Checked by path, so the
    message names both files whichever of them is read first.
    """
    namespace, flow_id = document.get("namespace"), document.get("id")
    if not isinstance(namespace, str) or not isinstance(flow_id, str):
        return
    if not _NAMESPACE.match(namespace) or not _FLOW_ID.match(flow_id):
        return
    owner = flows_dir / namespace / f"{flow_id}.yaml"
    if owner != path and owner.is_file():
        raise FlowsTreeError(
            f"{path.relative_to(repo_root)}: namespace/id {namespace}/{flow_id} is already the flow of "
            f"{owner.relative_to(repo_root)}: a flow is defined by one file only"
        )


def discover(flows_dir: Path, repo_root: Optional[Path] = None) -> Catalogue:
    """Reads the flows tree. Raises FlowsTreeError naming the file for anything undeployable."""
    repo_root = repo_root or flows_dir.parent
    if not flows_dir.is_dir():
        raise FlowsTreeError(f"{flows_dir}: flows directory not found (config flowsDir)")
    flows, files, dashboards = [], [], []
    seen_dashboards: dict[str, str] = {}
    for ns_dir in sorted(p for p in flows_dir.iterdir() if p.is_dir()):
        namespace = ns_dir.name
        if not _NAMESPACE.match(namespace):
            raise FlowsTreeError(f"{ns_dir.relative_to(repo_root)}: {namespace!r} is not a Kestra namespace name")
        for path in sorted(ns_dir.iterdir()):
            origin = str(path.relative_to(repo_root))
            if path.is_file() and path.suffix == ".yml":
                raise FlowsTreeError(f"{origin}: flow files end in .yaml (rename it)")
            if path.is_file() and path.suffix == ".yaml":
                document = _load_yaml(path, origin)
                _refuse_duplicate(flows_dir, repo_root, path, document)
                if document.get("id") != path.stem:
                    raise FlowsTreeError(f"{origin}: id {document.get('id')!r} must equal the file name {path.stem!r}")
                if document.get("namespace") != namespace:
                    raise FlowsTreeError(
                        f"{origin}: namespace {document.get('namespace')!r} must equal the folder {namespace!r}"
                    )
                if not _FLOW_ID.match(path.stem):
                    raise FlowsTreeError(f"{origin}: {path.stem!r} is not a valid flow id")
                flows.append(
                    FlowSpec(
                        namespace=namespace,
                        flow_id=path.stem,
                        origin=origin,
                        source=path.read_text(encoding="utf-8"),
                        subflows=tuple(sorted(subflow_calls([document.get(k) for k in ("tasks", "errors", "finally")]))),
                    )
                )
        for path in sorted((ns_dir / "files").rglob("*")) if (ns_dir / "files").is_dir() else []:
            if path.is_file():
                origin = str(path.relative_to(repo_root))
                try:
                    content = path.read_text(encoding="utf-8")
                except UnicodeDecodeError as exc:
                    raise FlowsTreeError(f"{origin}: namespace files must be UTF-8 text") from exc
                files.append(
                    NamespaceFileSpec(
                        namespace=namespace,
                        path="/" + path.relative_to(ns_dir / "files").as_posix(),
                        origin=origin,
                        content=content,
                    )
                )
        for path in sorted((ns_dir / "dashboards").glob("*.y*ml")) if (ns_dir / "dashboards").is_dir() else []:
            origin = str(path.relative_to(repo_root))
            document = _load_yaml(path, origin)
            if document.get("id") != path.stem:
                raise FlowsTreeError(f"{origin}: id {document.get('id')!r} must equal the file name {path.stem!r}")
            if path.stem in seen_dashboards:
                raise FlowsTreeError(f"{origin}: dashboard id {path.stem!r} already used by {seen_dashboards[path.stem]}")
            seen_dashboards[path.stem] = origin
            dashboards.append(DashboardSpec(path.stem, origin, path.read_text(encoding="utf-8")))
    return Catalogue(tuple(flows), tuple(files), tuple(dashboards))


def set_trigger_disabled(source: str, trigger_id: str, disabled: bool, origin: str) -> str:
    """Returns `source` with `disabled:` of trigger `trigger_id` set, keeping every other byte.

    A text edit rather than a YAML round trip, so comments and layout (what users read in Kestra's
    editor) survive. The result is parsed back to prove only that field changed.
    """
    lines = source.splitlines(keepends=True)
    item = re.compile(rf"^(\s*-\s+)id:\s*['\"]?{re.escape(trigger_id)}['\"]?\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if item.match(line.rstrip("\n"))), None)
    if start is None:
        raise FlowsTreeError(f"{origin}: triggers: no trigger with id {trigger_id!r}")
    key_indent = len(item.match(lines[start].rstrip("\n")).group(1))  # column of the item's keys
    edited = None
    for i in range(start + 1, len(lines)):
        text = lines[i].rstrip("\n")
        indent = len(text) - len(text.lstrip(" "))
        if text.strip() and indent < key_indent:
            break  # left this trigger's mapping
        match = re.match(r"^(\s*disabled:\s*)(true|false)(\s*(#.*)?)$", text)
        if match and indent == key_indent:
            lines[i] = f"{match.group(1)}{'true' if disabled else 'false'}{match.group(3)}\n"
            edited = "".join(lines)
            break
    if edited is None:
        raise FlowsTreeError(f"{origin}: triggers[{trigger_id}]: needs an explicit `disabled:` line the stack can switch")
    before, after = yaml.safe_load(source), yaml.safe_load(edited)
    for trigger in after.get("triggers", []):
        if trigger.get("id") == trigger_id:
            trigger["disabled"] = next(t for t in before["triggers"] if t.get("id") == trigger_id).get("disabled")
    if before != after:
        raise FlowsTreeError(f"{origin}: triggers[{trigger_id}]: could not switch `disabled` safely")
    return edited


@dataclass(frozen=True)
class FlowsPlan:
    """The flows to deploy, callees first, with the exact source each one gets; and the skipped."""

    flows: tuple  # (FlowSpec, source) pairs
    skipped: tuple  # "namespace/flow_id" left out (they need GCP, in the local profile)


def plan_flows(catalogue: Catalogue, *, include_gcp: bool, demo_schedule_enabled: bool, flows_dir_name: str = "flows"
               ) -> FlowsPlan:
    """Selects, orders and edits the flows as `FlowsDeployment` deploys them; raises
    FlowsTreeError (subflow cycle, demo schedule not switchable) before anything is declared."""
    flows = [f for f in catalogue.flows if include_gcp or not f.needs_gcp]
    skipped = tuple(f"{f.namespace}/{f.flow_id}" for f in catalogue.flows if f not in flows)
    if demo_schedule_enabled and DEMO_SCHEDULE[:2] not in {(f.namespace, f.flow_id) for f in flows}:
        raise FlowsTreeError(
            f"demoScheduleEnabled is true but {flows_dir_name}/{DEMO_SCHEDULE[0]}/{DEMO_SCHEDULE[1]}.yaml "
            "is not deployed"
        )
    planned = []
    for spec in _callees_first(flows):
        source = spec.source
        if (spec.namespace, spec.flow_id) == DEMO_SCHEDULE[:2]:
            source = set_trigger_disabled(source, DEMO_SCHEDULE[2], not demo_schedule_enabled, spec.origin)
        planned.append((spec, source))
    return FlowsPlan(tuple(planned), skipped)


def preflight(flows_dir: Path, *, include_gcp: bool, demo_schedule_enabled: bool) -> Catalogue:
    """Reads and checks the whole flows tree as a deployment would (the config phase calls this,
    so a missing folder or a bad file stops the program before any resource is declared)."""
    catalogue = discover(flows_dir)
    plan_flows(catalogue, include_gcp=include_gcp, demo_schedule_enabled=demo_schedule_enabled,
               flows_dir_name=flows_dir.name)
    return catalogue


@dataclass(frozen=True)
class FlowsDeploymentArgs:
    flows_dir: Path
    connection: KestraConnection
    kv_values: Mapping[str, pulumi.Input[Any]]
    include_gcp: bool
    demo_schedule_enabled: bool = False
    # Retain KV entries and namespace files on destroy (config keepData): they are what Kestra
    # stores for flows and users (the KV store, namespace storage), and the KV entries name the
    # bucket and datasets keepData keeps. Flows and dashboards come back from flows/ anyway.
    keep_data: bool = False
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    catalogue: Optional[Catalogue] = None  # the tree as the config phase read it (else read here)


class FlowsDeployment(pulumi.ComponentResource):
    """Everything under flows/ as Kestra objects, waiting for Kestra (`depends_on`) first.

    KV entries and namespace files of a namespace are written before its flows, and a flow that
    calls a subflow is written after it, so triggers that start on save find what they need.
    Does not create namespaces explicitly (Kestra OSS creates them implicitly) and does not delete
    objects it did not create.
    """

    def __init__(self, name: str, args: FlowsDeploymentArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # Everything that can fail on the tree fails here, before this component is registered.
        catalogue = args.catalogue if args.catalogue is not None else discover(args.flows_dir)
        plan = plan_flows(catalogue, include_gcp=args.include_gcp, demo_schedule_enabled=args.demo_schedule_enabled,
                          flows_dir_name=args.flows_dir.name)
        super().__init__("kestra-gcp:infra:FlowsDeployment", name, None, opts)
        flows = [spec for spec, _ in plan.flows]
        self.skipped_flows = list(plan.skipped)
        namespaces = sorted({f.namespace for f in flows})
        ready = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        stored = pulumi.ResourceOptions.merge(ready, pulumi.ResourceOptions(retain_on_delete=args.keep_data))

        self.kv_entries: dict[str, KvEntry] = {}
        for namespace in namespaces:
            for key, value in sorted(args.kv_values.items()):
                self.kv_entries[f"{namespace}/{key}"] = KvEntry(
                    f"{namespace}/kv/{key}",
                    connection=args.connection,
                    namespace=namespace,
                    key=key,
                    value=value,
                    opts=stored,
                )
        self.namespace_files: dict[str, NamespaceFile] = {}
        for spec in catalogue.files:
            self.namespace_files[f"{spec.namespace}:{spec.path}"] = NamespaceFile(
                f"{spec.namespace}/files{spec.path}",
                connection=args.connection,
                namespace=spec.namespace,
                path=spec.path,
                content=spec.content,
                origin=spec.origin,
                opts=stored,
            )

        # One resource per namespace: the engine's cost grows with its steps and its state, so a
        # catalogue of hundreds of flows costs a step per namespace, while the resource's diff still
        # names each flow (docs/flows-as-code.md, "Performance of a large catalogue").
        by_namespace: dict[str, dict[str, str]] = {}
        for spec, source in plan.flows:
            by_namespace.setdefault(spec.namespace, {})[spec.flow_id] = source
        self.flow_sets: dict[str, NamespaceFlows] = {}
        self.flows: dict[str, NamespaceFlows] = {}
        callees = namespace_callees(flows)
        for namespace in namespace_order(callees):
            before = [r for k, r in self.kv_entries.items() if k.startswith(f"{namespace}/")]
            before += [r for k, r in self.namespace_files.items() if k.startswith(f"{namespace}:")]
            before += [self.flow_sets[callee] for callee in callees[namespace]]
            self.flow_sets[namespace] = NamespaceFlows(
                f"{namespace}/flows",
                connection=args.connection,
                namespace=namespace,
                flows=by_namespace[namespace],
                directory=f"{args.flows_dir.name}/{namespace}",
                opts=pulumi.ResourceOptions.merge(ready, pulumi.ResourceOptions(depends_on=before)),
            )
            for flow_id in by_namespace[namespace]:
                self.flows[f"{namespace}/{flow_id}"] = self.flow_sets[namespace]
        self.dashboards = {
            spec.dashboard_id: Dashboard(
                f"dashboards/{spec.dashboard_id}",
                connection=args.connection,
                source=spec.source,
                origin=spec.origin,
                opts=ready,
            )
            for spec in catalogue.dashboards
        }
        self.register_outputs(
            {
                "flows": sorted(self.flows),
                "namespace_files": sorted(self.namespace_files),
                "dashboards": sorted(self.dashboards),
                "skipped_flows": self.skipped_flows,
            }
        )


def _callees_first(flows: Sequence[FlowSpec]) -> list[FlowSpec]:
    """Orders flows so each subflow comes before its callers (input order otherwise kept)."""
    by_key = {(f.namespace, f.flow_id): f for f in flows}
    ordered: list[FlowSpec] = []
    state: dict[tuple, str] = {}

    def visit(spec: FlowSpec, chain: tuple) -> None:
        key = (spec.namespace, spec.flow_id)
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            cycle = " -> ".join(f"{ns}/{fid}" for ns, fid in chain + (key,))
            raise FlowsTreeError(f"{spec.origin}: tasks: subflow cycle {cycle}")
        state[key] = "visiting"
        for callee in spec.subflows:
            if callee in by_key:
                visit(by_key[callee], chain + (key,))
        state[key] = "done"
        ordered.append(spec)

    for spec in flows:
        visit(spec, ())
    return ordered


def _namespace_graph(flows: Sequence[FlowSpec]) -> dict[str, set[str]]:
    """namespace -> the other namespaces whose flows its flows call as subflows."""
    present = {f.namespace for f in flows}
    keys = {(f.namespace, f.flow_id) for f in flows}
    graph: dict[str, set[str]] = {ns: set() for ns in present}
    for spec in flows:
        graph[spec.namespace] |= {ns for ns, fid in spec.subflows if (ns, fid) in keys and ns != spec.namespace}
    return graph


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def namespace_callees(flows: Sequence[FlowSpec]) -> dict[str, list[str]]:
    """namespace -> the namespaces whose flows must be written before its own: those its flows
    call, except where they call back (namespaces calling each other are written side by side)."""
    graph = _namespace_graph(flows)
    return {ns: sorted(c for c in graph[ns] if ns not in _reach(graph, c)) for ns in sorted(graph)}


def namespace_order(callees: dict[str, list[str]]) -> list[str]:
    """The namespaces of `callees`, each after those it must wait for (else alphabetical)."""
    ordered: list[str] = []
    while len(ordered) < len(callees):
        ordered += [ns for ns in callees if ns not in ordered and set(callees[ns]) <= set(ordered)][:1]
    return ordered


def stack_kv_values(
    *,
    git_repository_url: str,
    git_branch: str,
    kestra_internal_url: pulumi.Input[str],
    gcp: Optional[Mapping[str, pulumi.Input[Any]]] = None,
) -> dict[str, pulumi.Input[Any]]:
    """The KV entries every deployed namespace receives: exactly `infra.kv_and_secrets.KV_KEYS`, the GCP
    ones (`gcp`, keyed by `GCP_KV_KEYS`) only in the GCP profile. Passing resource Outputs (not
    config strings) makes the entries wait for the bucket, datasets and subscription."""
    values: dict[str, pulumi.Input[Any]] = {
        "GIT_REPOSITORY_URL": git_repository_url,
        "GIT_BRANCH": git_branch,
        "KESTRA_INTERNAL_URL": kestra_internal_url,
    }
    if gcp is not None:
        if set(gcp) != set(GCP_KV_KEYS):
            raise ValueError(f"GCP KV values must be exactly {GCP_KV_KEYS}, got {sorted(gcp)}")
        values |= dict(gcp)
    return values
