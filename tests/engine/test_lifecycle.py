"""The stack's whole lifecycle through the real Pulumi CLI, external-Kestra profile, against the
Kestra stand-in in its own process: up, no-op preview, drift, a changed flow, file deletes and
renames, destroy.
Each test prints the engine's wall time and the requests it made (`-s` shows them)."""

from __future__ import annotations

import json
import re
import urllib.request
from base64 import b64encode

from tests.engine.deployed import expected_local, live

UP = ("up", "--yes", "--skip-preview")


def deploy(project, standin):
    """`pulumi up` into an empty stand-in; returns (run, requests it made)."""
    standin.control("POST", "reset-log")
    run = project.pulumi(*UP)
    return run, standin.control("GET", "stats")


def cost(label: str, run, stats: dict) -> str:
    line = f"{label}: {run.seconds:.1f} s wall, {stats['requests']} requests {json.dumps(stats['by_method'], sort_keys=True)}"
    print(f"\n[engine cost] {line}")
    return line


def summary(run) -> dict:
    """The "Resources:" counts a command printed, e.g. {"created": 2, "deleted": 2, "unchanged": 25}."""
    tail = run.output.rsplit("Resources:", 1)[-1]
    return {verb: int(n) for n, verb in re.findall(r"^\s*[-+~]?\s*(\d+) (created|updated|deleted|unchanged)\b", tail, re.M)}


def state(standin) -> dict:
    return live(standin.control("GET", "state"))


def revisions(standin) -> dict:
    return {(f["namespace"], f["id"]): f["revision"] for f in standin.control("GET", "state")["flows"]}


def flow_changes(preview_json: dict) -> dict:
    """What `pulumi preview --json` says changes, per step that is not "same": {(op, resource name):
    the flow keys (``namespace/id``) whose source differs between the step's old and new inputs}.

    Flows are properties of one resource per namespace (kestra.resources.NamespaceFlows). The
    Python dynamic-provider host answers Diff with ``changes``/``replaces`` only (pulumi/pulumi
    sdk/python/lib/pulumi/dynamic/__main__.py, Diff), so a step carries no ``diffReasons`` nor
    ``detailedDiff`` (pkg/backend/display/json.go, getPreviewMetadataStep): the flows a step
    changes are the inputs that differ."""
    changes = {}
    for step in preview_json.get("steps") or []:
        if step["op"] == "same":
            continue
        old = (step.get("oldState") or {}).get("inputs") or {}
        new = (step.get("newState") or {}).get("inputs") or {}
        keys = {k for k in {*old, *new} if "/" in k and old.get(k) != new.get(k)}
        changes[(step["op"], step["urn"].rsplit("::", 1)[-1])] = keys
    return changes


def shown_diffs(run) -> dict:
    """{resource name: the property list the engine prints after it, e.g. "~dev.testing/x"} for every
    NamespaceFlows line of a `pulumi preview`/`up`/`refresh` with ``[diff: ...]``: the engine's own
    comparison of old and new inputs (pkg/backend/display/rows.go, getDiffInfo)."""
    return dict(re.findall(r"kestra:NamespaceFlows (\S+) \w+(?: \([\d.]+s\))? \[diff: ([^\]]*)\]", run.output))


def kestra_put_flow(standin, namespace: str, flow_id: str, source: str) -> None:
    """Saves a flow as Kestra's editor does: ``PUT /api/v1/main/flows/{namespace}/{id}`` with YAML."""
    auth = b64encode(f"{standin.username}:{standin.password}".encode()).decode()
    request = urllib.request.Request(
        f"{standin.url}/api/v1/main/flows/{namespace}/{flow_id}", data=source.encode(), method="PUT",
        headers={"Content-Type": "application/x-yaml", "Authorization": f"Basic {auth}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def test_up_deploys_every_local_profile_object_and_a_second_preview_changes_nothing(external_project, kestra_standin):
    expected = expected_local(external_project.dir / "flows")
    assert expected["flows"] and expected["files"] and expected["dashboards"]  # the tree is not empty

    run, stats = deploy(external_project, kestra_standin)
    cost("full local-profile deploy (pulumi up)", run, stats)

    deployed = state(kestra_standin)
    assert deployed["flows"] == expected["flows"]  # every local flow, byte for byte, nothing else
    assert deployed["files"] == expected["files"]
    assert deployed["kv"] == expected["kv"]
    assert deployed["dashboards"] == expected["dashboards"]
    kv = {(e["namespace"], e["key"]): e["value"] for e in kestra_standin.control("GET", "state")["kv"]}
    for namespace in {ns for ns, _ in expected["flows"]}:  # Pulumi.yaml's defaults; Kestra's own URL here
        assert kv[(namespace, "GIT_REPOSITORY_URL")] == "https://github.com/kestra-io/flows"
        assert kv[(namespace, "GIT_BRANCH")] == "main"
        assert kv[(namespace, "KESTRA_INTERNAL_URL")] == kestra_standin.url
    assert set(revisions(kestra_standin).values()) == {1}  # each flow written once

    outputs = external_project.stack_outputs()
    assert sorted(outputs["flows"]) == sorted(f"{ns}/{fid}" for ns, fid in expected["flows"])

    kestra_standin.control("POST", "reset-log")
    preview = external_project.pulumi("preview", "--expect-no-changes")
    stats = kestra_standin.control("GET", "stats")
    cost("no-op preview (pulumi preview --expect-no-changes)", preview, stats)
    assert stats["requests"] == 0  # diffs are computed offline
    assert state(kestra_standin) == deployed


def test_a_flow_edited_in_kestra_shows_as_drift_after_refresh_and_up_restores_it(external_project, kestra_standin):
    deploy(external_project, kestra_standin)
    namespace, flow_id = "dev.testing", "python_multi_step"
    original = (external_project.dir / "flows" / namespace / f"{flow_id}.yaml").read_text()
    edited = original.replace("\ntasks:", "\nlabels:\n  edited: in-the-ui\ntasks:", 1)
    assert edited != original
    kestra_put_flow(kestra_standin, namespace, flow_id, edited)

    # Before refresh the state still holds our version: preview sees nothing (diffs are offline).
    external_project.pulumi("preview", "--expect-no-changes")
    refresh = external_project.pulumi("refresh", "--yes")
    assert summary(refresh).get("updated") == 1, refresh.output
    # The refresh names the flow that drifted, and only it, in its namespace's resource.
    assert shown_diffs(refresh) == {f"{namespace}/flows": f"~{namespace}/{flow_id}"}, refresh.output
    drift = external_project.pulumi("preview", "--expect-no-changes", "--diff", check=False)
    assert drift.returncode != 0, drift.output
    assert f"{namespace}/{flow_id}" in drift.output and re.search(r"\b1 to update", drift.output), drift.output
    preview = external_project.pulumi("preview", "--json").json()
    assert flow_changes(preview) == {("update", f"{namespace}/flows"): {f"{namespace}/{flow_id}"}}, preview

    up = external_project.pulumi(*UP)
    assert summary(up).get("updated") == 1, up.output
    assert state(kestra_standin)["flows"][(namespace, flow_id)] == original
    external_project.pulumi("preview", "--expect-no-changes")


def test_a_changed_flow_file_is_named_in_the_preview_and_only_it_is_written(external_project, kestra_standin):
    """One resource holds every flow of a namespace, but what a user reads names the flow: the
    preview's text (``[diff: ~namespace/id]``) and its JSON (the step's inputs differ in that flow's
    property only); `up` writes that flow alone. A change of comments or layout is no change."""
    deploy(external_project, kestra_standin)
    flows_dir = external_project.dir / "flows"
    namespace, flow_id = "dev.testing", "python_multi_step"
    path = flows_dir / namespace / f"{flow_id}.yaml"
    changed = path.read_text().replace("\ntasks:", "\nlabels:\n  team: data\ntasks:", 1)
    path.write_text(changed)
    # Another flow of the namespace changes its comments and layout only, at the same time.
    reformatted = flows_dir / namespace / "java_hello_world.yaml"
    reformatted.write_text("# same flow, new comments\n" + reformatted.read_text().replace("\ntasks:", "\n# the tasks\ntasks:", 1))

    preview = external_project.pulumi("preview", "--json").json()
    assert flow_changes(preview) == {("update", f"{namespace}/flows"): {f"{namespace}/{flow_id}"}}, preview
    text = external_project.pulumi("preview")
    assert shown_diffs(text) == {f"{namespace}/flows": f"~{namespace}/{flow_id}"}, text.output

    kestra_standin.control("POST", "reset-log")
    before = revisions(kestra_standin)
    up = external_project.pulumi(*UP)
    assert summary(up).get("updated") == 1 and set(summary(up)) == {"updated", "unchanged"}, up.output
    assert state(kestra_standin)["flows"][(namespace, flow_id)] == changed
    after = revisions(kestra_standin)
    assert {key for key in after if after[key] != before[key]} == {(namespace, flow_id)}
    writes = [f"{r['method']} {r['path']}" for r in kestra_standin.control("GET", "requests") if r["method"] != "GET"]
    assert writes == [f"PUT /api/v1/main/flows/{namespace}/{flow_id}"], writes

    # Comments and layout only: the engine sees the text Kestra holds, so there is nothing to do.
    other = flows_dir / "system" / "tenant_sync.yaml"
    other.write_text("# same flow, new comments\n" + other.read_text().replace("\ntasks:", "\n# the tasks\ntasks:", 1)
                     + "\n# the end\n")
    kestra_standin.control("POST", "reset-log")
    external_project.pulumi("preview", "--expect-no-changes")
    up = external_project.pulumi(*UP)
    assert set(summary(up)) == {"unchanged"}, up.output
    assert kestra_standin.control("GET", "stats")["requests"] == 0


def test_deleting_a_flow_file_or_namespace_file_deletes_its_object_only(external_project, kestra_standin):
    deploy(external_project, kestra_standin)
    before = state(kestra_standin)
    flows_dir = external_project.dir / "flows"
    (flows_dir / "dev.testing" / "python_inline_pandas.yaml").unlink()
    (flows_dir / "dev.testing" / "files" / "maven" / "pom.xml").unlink()

    preview = external_project.pulumi("preview", "--json").json()
    assert flow_changes(preview) == {("update", "dev.testing/flows"): {"dev.testing/python_inline_pandas"},
                                     ("delete", "dev.testing/files/maven/pom.xml"): set()}, preview
    up = external_project.pulumi(*UP)
    # The flow is a property of its namespace's resource: an update that names it, and deletes it.
    assert shown_diffs(up) == {"dev.testing/flows": "-dev.testing/python_inline_pandas"}, up.output
    assert {verb: n for verb, n in summary(up).items() if verb != "unchanged"} == {"updated": 1, "deleted": 1}, up.output
    after = state(kestra_standin)
    assert set(before["flows"]) - set(after["flows"]) == {("dev.testing", "python_inline_pandas")}
    assert set(after["flows"]) <= set(before["flows"])
    assert set(before["files"]) - set(after["files"]) == {("dev.testing", "/maven/pom.xml")}
    assert after["kv"] == before["kv"] and after["dashboards"] == before["dashboards"]
    assert set(revisions(kestra_standin).values()) == {1}  # nothing else rewritten


def test_renaming_files_keeps_their_objects_under_the_new_names(external_project, kestra_standin):
    deploy(external_project, kestra_standin)
    before = state(kestra_standin)
    ns_dir = external_project.dir / "flows" / "dev.testing"
    # A flow's id is its file name, so renaming the file renames the flow (id inside included).
    old_flow = ns_dir / "java_hello_world.yaml"
    new_source = old_flow.read_text().replace("id: java_hello_world", "id: java_hello", 1)
    (ns_dir / "java_hello.yaml").write_text(new_source)
    old_flow.unlink()
    (ns_dir / "files" / "java" / "DataProcessor.java").rename(ns_dir / "files" / "java" / "Processor.java")
    # Dashboards belong to no namespace: moving one to another namespace folder changes nothing.
    flows_dir = external_project.dir / "flows"
    (ns_dir / "dashboards").mkdir()
    [dashboard] = (flows_dir / "gcp.ecommerce" / "dashboards").glob("*.yaml")
    dashboard.rename(ns_dir / "dashboards" / dashboard.name)

    up = external_project.pulumi(*UP)
    changed = {verb: n for verb, n in summary(up).items() if verb != "unchanged"}
    # The renamed flow is a property of its namespace's resource; the moved dashboard is untouched.
    assert changed == {"created": 1, "deleted": 1, "updated": 1}, up.output
    # The engine prints the added and the removed key with no space between them (measured with
    # Pulumi v3.274.1, NO_COLOR=1, 2026-12-06).
    assert shown_diffs(up) == {"dev.testing/flows": "+dev.testing/java_hello-dev.testing/java_hello_world"}, up.output
    after = state(kestra_standin)
    assert after["flows"][("dev.testing", "java_hello")] == new_source
    assert ("dev.testing", "java_hello_world") not in after["flows"]
    assert after["files"][("dev.testing", "/java/Processor.java")] == before["files"][("dev.testing", "/java/DataProcessor.java")]
    assert ("dev.testing", "/java/DataProcessor.java") not in after["files"]
    assert len(after["flows"]) == len(before["flows"]) and len(after["files"]) == len(before["files"])
    assert after["dashboards"] == before["dashboards"]
    external_project.pulumi("preview", "--expect-no-changes")


def test_destroy_leaves_the_standin_empty(external_project, kestra_standin):
    deploy(external_project, kestra_standin)
    assert kestra_standin.control("GET", "stats")["flows"] > 0
    kestra_standin.control("POST", "reset-log")
    destroy = external_project.pulumi("destroy", "--yes")
    cost("destroy", destroy, kestra_standin.control("GET", "stats"))
    assert kestra_standin.control("GET", "state") == {"flows": [], "files": [], "kv": [], "dashboards": []}
