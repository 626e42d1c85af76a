"""The Git sync flows are safe to run on a stack Pulumi manages (docs/tour.md, Git sync): a run without
inputs only plans (dry run), Git is the source of truth, nothing that exists in Kestra but not in
Git is deleted, and TenantSync never touches the `system` namespace.

Measured on Kestra 1.1.7 with plugin-git 1.1.5 built from source, against a local Git server laid
out as docs/tour.md says (2026-12-03): the dry run of each flow planned the ADDED flows and files and changed
nothing; with dry_run=false both added them and kept every flow and namespace file Pulumi had
deployed; a flow Kestra refuses, planned ADDED by the dry run, failed the applying run at that
flow, the flows after it not applied. The meanings come from the plugin (kestra-io/plugin-git v1.1.5, NamespaceSync.java and
TenantSync.java): `dryRun` only computes the `diff` output, `whenMissingInSource: KEEP` keeps what
the source lacks (DELETE, the default, would delete it), `protectedNamespaces` are never changed.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.flows.conftest import FLOWS_ROOT

GIT_FLOWS = {
    "dev.testing/git_namespace_sync": ("io.kestra.plugin.git.NamespaceSync", "sync_namespace"),
    "system/tenant_sync": ("io.kestra.plugin.git.TenantSync", "sync_tenant"),
}


def load(name: str) -> dict:
    return yaml.safe_load((FLOWS_ROOT / f"{name}.yaml").read_text(encoding="utf-8"))


def sync_task(name: str) -> dict:
    type_, task_id = GIT_FLOWS[name]
    [task] = [t for t in load(name)["tasks"] if t["id"] == task_id]
    assert task["type"] == type_
    return task


@pytest.mark.parametrize("name", sorted(GIT_FLOWS))
def test_a_run_without_inputs_only_plans(name):
    flow = load(name)
    inputs = {i["id"]: i for i in flow["inputs"]}
    task = sync_task(name)
    # dryRun is the flow's BOOL input, rendered as it is: nothing else can switch it on or off.
    match = re.fullmatch(r"\{\{\s*inputs\.(\w+)\s*\}\}", str(task["dryRun"]))
    assert match, f"{name}: dryRun is {task['dryRun']!r}, not one flow input"
    dry_run = inputs[match[1]]
    assert dry_run["type"] == "BOOL" and dry_run["defaults"] is True


@pytest.mark.parametrize("name", sorted(GIT_FLOWS))
def test_git_is_the_source_and_nothing_missing_from_it_is_deleted(name):
    task = sync_task(name)
    assert task["sourceOfTruth"] == "GIT"
    assert task["whenMissingInSource"] == "KEEP"
    # An invalid flow in Git fails the run at that flow (seen: "Invalid syntax for FLOW ..."), rather
    # than being skipped with a log line (SKIP, WARN); the dry run does not validate, it plans it.
    assert task["onInvalidSyntax"] == "FAIL"


def test_tenant_sync_never_touches_the_system_namespace():
    assert "system" in sync_task("system/tenant_sync")["protectedNamespaces"]


def test_namespace_sync_syncs_its_own_namespace():
    task = sync_task("dev.testing/git_namespace_sync")
    assert task["namespace"] == "{{ flow.namespace }}"
    assert load("dev.testing/git_namespace_sync")["namespace"] == "dev.testing"
