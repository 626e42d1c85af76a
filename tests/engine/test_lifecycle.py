"""The stack's whole lifecycle through the real Pulumi CLI, external-Kestra profile, against the
Kestra stand-in in its own process: up, no-op preview, drift, file deletes and renames, destroy.
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
    edited = original.replace("tasks:", "labels:\n  edited: in-the-ui\ntasks:", 1)
    assert edited != original
    kestra_put_flow(kestra_standin, namespace, flow_id, edited)

    # Before refresh the state still holds our version: preview sees nothing (diffs are offline).
    external_project.pulumi("preview", "--expect-no-changes")
    refresh = external_project.pulumi("refresh", "--yes")
    assert summary(refresh).get("updated") == 1, refresh.output
    drift = external_project.pulumi("preview", "--expect-no-changes", "--diff", check=False)
    assert drift.returncode != 0, drift.output
    assert f"{namespace}/{flow_id}" in drift.output and re.search(r"\b1 to update", drift.output), drift.output

    up = external_project.pulumi(*UP)
    assert summary(up).get("updated") == 1, up.output
    assert state(kestra_standin)["flows"][(namespace, flow_id)] == original
    external_project.pulumi("preview", "--expect-no-changes")


def test_deleting_a_flow_file_or_namespace_file_deletes_its_object_only(external_project, kestra_standin):
    deploy(external_project, kestra_standin)
    before = state(kestra_standin)
    flows_dir = external_project.dir / "flows"
    (flows_dir / "dev.testing" / "python_inline_pandas.yaml").unlink()
    (flows_dir / "dev.testing" / "files" / "maven" / "pom.xml").unlink()

    up = external_project.pulumi(*UP)
    assert summary(up).get("deleted") == 2 and "created" not in summary(up), up.output
    after = state(kestra_standin)
    assert set(before["flows"]) - set(after["flows"]) == {("dev.testing", "python_inline_pandas")}
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
    assert changed == {"created": 2, "deleted": 2}, up.output  # the moved dashboard is untouched
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
