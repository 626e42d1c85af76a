"""A stack deployed by an earlier layout of the program upgrades in place: the current program, run
on a state that layout wrote (tests/engine/states/), keeps every resource and every URN but those
of the Kestra flows, which it takes over without touching Kestra.

A resource's URN is made of its component type tokens (``kestra-gcp:infra:GkeNetwork``), its
parents' and its name; the module a component lives in is not part of it. Moving a module keeps
every URN; renaming a type token or a resource does not, and the engine then plans a create of the
new URN and a delete of the old one. The dynamic providers (kestra/) are pickled into the state by
module path (kestra/resources.py), so the state also names no module of infra/.

Flows changed shape on purpose: the states hold one ``kestra:Flow`` per flow, the program now
declares one ``kestra:NamespaceFlows`` per namespace (``<namespace>/flows``). The engine creates
each new resource, which adopts the flows Kestra already holds (a create that finds the same flow
writes nothing), and afterwards deletes the dropped Flow resources (pulumi/pulumi
pkg/resource/deploy/step_generator.go: GenerateDeletes runs once the program has registered every
resource, so each NamespaceFlows's Check has run by then). Those deletes must not reach Kestra:
a Flow whose flow a NamespaceFlows of the same provider host claimed hands it over
(`FlowProvider.delete`); one whose file went away in the same upgrade is deleted as before.

The state is imported as written. Kestra's address is part of what it holds (each Kestra object's
``url`` input, the gke endpoint's reserved address), so the stand-in serves Kestra where the state
says it is: on the pinned port (gcp, external: hostAddress and uiPort, or kestraUrl) or behind the
load balancer on the pinned address (gke), whose certificate the echo cloud holds as the state says
it was uploaded. Before the upgrade the stand-in holds the flows the state says Kestra holds.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from kestra.client import KestraClient
from kestra.smoke import client_from_outputs
from tests.engine.conftest import (
    ECHO_EXTERNAL_ADDRESS_ENV,
    ECHO_PROVIDERS,
    STACK,
    EngineProject,
    StandinProcess,
    _engine_env,
    _run_standin,
    copy_project,
    echo_store,
)
from tests.engine.states.make_states import GKE_ADDRESS, PASSWORD, STANDIN_PORT, USERNAME
from tests.support import tiers

STATES = Path(__file__).parent / "states"
# pulumi/sdk/go/common/resource/sig: the signature key and value marking a secret in a state.
_SIG_KEY, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
# Step operations that keep the resource and its URN (pulumi/pulumi pkg/resource/deploy/step.go,
# OpSame, OpUpdate, OpRefresh); every other one creates, replaces, reads or deletes something. An
# update is allowed: the program may change an input since the state was made; a URN may not change.
KEEPS = {"same", "update", "refresh"}
FLOW_TYPE = "pulumi-python:dynamic/kestra:Flow"
NAMESPACE_FLOWS_TYPE = "pulumi-python:dynamic/kestra:NamespaceFlows"
FLOWS_PARENT = "kestra-gcp:infra:FlowsDeployment"
# Profile -> the folder of tests/engine/states/ with the flows its state deployed (flowsDir).
FIXTURE_FLOWS = {"gcp": "flows", "gke": "flows", "external": "external-flows"}


def plaintext(value):
    """A `stack export --show-secrets` value with every secret replaced by its plaintext."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return plaintext(json.loads(value["plaintext"]))
        return {k: plaintext(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plaintext(v) for v in value]
    return value


def seed_echo_store(store: Path, deployment: dict) -> int:
    """Writes what the echo cloud holds for every resource the echo plugins created in `deployment`,
    as they write it (tools/pulumi/cmd/pulumi-resource-echo/provider.go, `keep` and `storePath`):
    one file per resource named by sha256(urn "\\n" id), {"urn", "type", "provider", "id",
    "outputs"} with secrets in plaintext. Returns how many."""
    store.mkdir(parents=True, exist_ok=True)
    count = 0
    for resource in deployment["resources"]:
        package = resource["type"].split(":", 1)[0]
        if not resource.get("custom") or package not in ECHO_PROVIDERS:
            continue
        urn, id_ = resource["urn"], resource.get("id", "")
        name = hashlib.sha256(f"{urn}\n{id_}".encode()).hexdigest()[:32] + ".json"
        (store / name).write_text(json.dumps({"urn": urn, "type": resource["type"], "provider": package,
                                              "id": id_, "outputs": plaintext(resource.get("outputs") or {})}))
        count += 1
    return count


def require_bindable(address: str, port: int) -> None:
    """The stand-in must listen where the state says Kestra is. Probed as the stand-in binds
    (CPython's http.server.HTTPServer sets allow_reuse_address), so the connections of a previous
    run waiting out TIME-WAIT do not count as taken."""
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((address, port))
    except PermissionError:
        tiers.require(False, f"binding {address}:{port} (the Kestra address the state records)",
                      "run the engine tests as root, or sysctl -w net.ipv4.ip_unprivileged_port_start=443")
    except OSError as exc:
        pytest.fail(f"{address}:{port}, where the state says Kestra is, is taken: {exc}")
    finally:
        probe.close()


def pickled_modules(state: dict) -> set[str]:
    """The modules the dynamic providers in `state` are pickled by reference to (dill stores a
    class defined in an importable module as module name and class name)."""
    found = set()
    for resource in state["deployment"]["resources"]:
        pickled = (resource.get("inputs") or {}).get("__provider")
        if isinstance(pickled, str):
            text = base64.b64decode(pickled).decode("latin-1")
            found |= set(re.findall(r"(?:kestra|infra)(?:\.\w+)+", text))
    return found


def urns(state: dict) -> set[str]:
    return {r["urn"] for r in state["deployment"]["resources"]}


def resources_summary(run) -> dict:
    """The "Resources:" counts `pulumi up` printed, e.g. {"updated": 1, "unchanged": 40}; the
    unchanged count follows the total of changes on one line ("6 changes. 8 unchanged")."""
    tail = run.output.rsplit("Resources:", 1)[-1]
    verbs = r"created|updated|deleted|replaced|unchanged|imported|discarded"
    return {verb: int(n) for n, verb in re.findall(rf"(?:^|\. )\s*[-+~]*\s*(\d+) ({verbs})\b", tail, re.M)}



def legacy_flows(state: dict) -> dict[tuple[str, str], dict]:
    """(namespace, id) -> the outputs of each per-flow Flow resource of an old state: what it says
    Kestra holds (source, revision, tenant)."""
    return {
        (r["outputs"]["namespace"], r["outputs"]["flow_id"]): r["outputs"]
        for r in state["deployment"]["resources"]
        if r["type"] == FLOW_TYPE
    }


def namespace_flows_urn(namespace: str) -> str:
    return f"urn:pulumi:{STACK}::kestra-gcp::{FLOWS_PARENT}${NAMESPACE_FLOWS_TYPE}::{namespace}/flows"


def kestra_client(standin: StandinProcess) -> KestraClient:
    return KestraClient(standin.url, standin.username, standin.password, deadline=10)


def seed_kestra(standin: StandinProcess, flows: dict[tuple[str, str], dict]) -> None:
    """Puts into the stand-in the flows `flows` (from `legacy_flows`) says Kestra holds, at the
    revision the state recorded, then forgets those requests."""
    with kestra_client(standin) as client:
        for (namespace, flow_id), outputs in sorted(flows.items()):
            assert outputs.get("tenant", "main") == "main", outputs
            created = client.create_flow(outputs["source"])
            assert (created["namespace"], created["id"], created["revision"]) == (
                namespace, flow_id, outputs["revision"]), created
    standin.control("POST", "reset-log")


def kestra_flows(standin: StandinProcess) -> dict[tuple[str, str], tuple[str, int]]:
    """(namespace, id) -> (source, revision) of every flow the stand-in holds."""
    return {(f["namespace"], f["id"]): (f["source"], f["revision"]) for f in standin.control("GET", "state")["flows"]}


def flow_writes(standin: StandinProcess) -> list[str]:
    """Every request since the last reset-log that could change or remove a flow (POST answered
    422 "already exists" changes nothing and is left out)."""
    return [f"{r['method']} {r['path']} -> {r['status']}" for r in standin.control("GET", "requests")
            if "/flows" in r["path"] and r["method"] in ("POST", "PUT", "DELETE")
            and not (r["method"] == "POST" and r["status"] == 422)]


def import_legacy_state(tmp_path: Path, profile: str, pulumi_tools, echo_plugins) -> tuple[EngineProject, list]:
    """The project with the state of `profile` imported and the flows it deployed in fixture-flows;
    returns it and the stand-in's arguments."""
    project = EngineProject(copy_project(tmp_path / "project"), _engine_env(tmp_path, pulumi_tools), pulumi_tools)
    shutil.copytree(STATES / FIXTURE_FLOWS[profile], project.dir / "fixture-flows")
    project.install_echo_plugins(echo_plugins)
    project.pulumi("stack", "init", STACK)
    # The stack file the state was made with: its config and the salt of its encrypted secrets.
    shutil.copy2(STATES / f"{profile}.Pulumi.{STACK}.yaml", project.stack_file)
    project.pulumi("stack", "import", "--file", str(STATES / f"{profile}.json"))
    if profile in ("gcp", "external"):
        require_bindable("127.0.0.1", STANDIN_PORT)
        return project, ["--port", str(STANDIN_PORT)]
    require_bindable(GKE_ADDRESS, 443)
    project.env[ECHO_EXTERNAL_ADDRESS_ENV] = GKE_ADDRESS
    decrypted = project.pulumi("stack", "export", "--show-secrets").json()["deployment"]
    assert seed_echo_store(echo_store(tmp_path), decrypted) > 0
    return project, ["--load-balancer", f"{GKE_ADDRESS}:443", "--echo-store", str(echo_store(tmp_path))]


def standin_at(args: list) -> contextlib.AbstractContextManager:
    return contextlib.contextmanager(_run_standin)("--username", USERNAME, "--password", PASSWORD, *args)


@pytest.mark.parametrize("profile", ["gcp", "gke", "external"])
def test_a_state_of_the_previous_layout_upgrades_replacing_only_the_per_flow_resources_and_kestra_is_untouched(
    profile, tmp_path, pulumi_tools, echo_plugins
):
    old = json.loads((STATES / f"{profile}.json").read_text())
    assert pickled_modules(old) and all(m.startswith("kestra.") for m in pickled_modules(old)), pickled_modules(old)
    flows = legacy_flows(old)
    assert flows, "the fixture holds no per-flow Flow resource"
    namespaces = sorted({ns for ns, _ in flows})
    old_flow_urns = {r["urn"] for r in old["deployment"]["resources"] if r["type"] == FLOW_TYPE}
    expected_changes = sorted([("create", namespace_flows_urn(ns)) for ns in namespaces]
                              + [("delete", urn) for urn in old_flow_urns])

    project, standin_args = import_legacy_state(tmp_path, profile, pulumi_tools, echo_plugins)
    with standin_at(standin_args) as standin:
        seed_kestra(standin, flows)
        before = kestra_flows(standin)
        assert set(before) == set(flows)

        preview = project.pulumi("preview", "--json").json()
        # changeSummary counts every step by operation; steps lists those that are not "same", and
        # the stack (pulumi/pulumi pkg/backend/display/json.go, ShowJSONEvents: shouldShow).
        print(f"\n[engine] {profile}: preview of the old state {preview['changeSummary']}")
        assert preview["changeSummary"].get("same"), preview
        changed = sorted((s["op"], s["urn"]) for s in preview.get("steps") or [] if s["op"] not in KEEPS)
        assert changed == expected_changes, "the current layout would change other resources of the old state:\n" + (
            "\n".join(f"{op} {urn}" for op, urn in changed))
        # Each new resource holds the flows of its namespace the old state held, one property each.
        for step in preview["steps"]:
            if step["op"] == "create":
                inputs = step["newState"]["inputs"]
                namespace = inputs["namespace"]
                assert sorted(k for k in inputs if "/" in k) == sorted(
                    f"{ns}/{fid}" for ns, fid in flows if ns == namespace), inputs
        assert flow_writes(standin) == [], "a preview wrote to Kestra"

        up = project.pulumi("up", "--yes", "--skip-preview")
        counts = resources_summary(up)
        assert counts.get("unchanged"), up.output
        assert {k: v for k, v in counts.items() if k in ("created", "deleted")} == {
            "created": len(namespaces), "deleted": len(flows)}, up.output
        assert set(counts) <= {"unchanged", "updated", "created", "deleted"}, up.output
        assert [e for e in project.echo_log() if e["op"] != "update"] == []  # no cloud resource created or deleted
        new = project.pulumi("stack", "export").json()
        assert urns(new) == (urns(old) - old_flow_urns) | {namespace_flows_urn(ns) for ns in namespaces}
        # Kestra still holds every flow, at the revision it had: nothing was deleted or rewritten.
        assert flow_writes(standin) == [], "the upgrade wrote to or deleted from Kestra's flows"
        assert kestra_flows(standin) == before
        revisions = {r["urn"]: r["outputs"]["revisions"] for r in new["deployment"]["resources"]
                     if r["type"] == NAMESPACE_FLOWS_TYPE}
        assert revisions == {namespace_flows_urn(ns): {f"{n}/{fid}": flows[(n, fid)]["revision"]
                                                       for n, fid in flows if n == ns} for ns in namespaces}

        # The upgrade is done: the next up changes nothing.
        standin.control("POST", "reset-log")
        again = project.pulumi("up", "--yes", "--skip-preview")
        assert set(resources_summary(again)) == {"unchanged"}, again.output
        assert flow_writes(standin) == []
        assert kestra_flows(standin) == before

        # The outputs still lead to Kestra (over HTTPS verified with the stack's CA on gke).
        with client_from_outputs(project.stack_outputs(), deadline=10) as client:
            namespace, flow_id = sorted(flows)[0]
            assert client.get_flow(namespace, flow_id)["revision"] == flows[(namespace, flow_id)]["revision"]


def test_a_flow_whose_file_goes_away_in_the_upgrade_is_deleted_and_the_others_are_handed_over(
    tmp_path, pulumi_tools, echo_plugins
):
    """The hand-over covers only the flows a NamespaceFlows declares: a per-flow Flow of the old state
    whose file was removed with the upgrade deletes its flow, in a namespace whose other flows move
    to the new resource, and in a namespace left with no flow at all."""
    old = json.loads((STATES / "external.json").read_text())
    flows = legacy_flows(old)
    gone = [("dev.testing", "parent_service"), ("gcp.ecommerce", "debug_demo")]
    assert set(gone) <= set(flows) and {ns for ns, _ in flows} - {ns for ns, _ in gone} == set()
    kept = {key: outputs for key, outputs in flows.items() if key not in gone}
    assert {ns for ns, _ in kept} == {"dev.testing"}

    project, standin_args = import_legacy_state(tmp_path, "external", pulumi_tools, echo_plugins)
    for namespace, flow_id in gone:
        (project.dir / "fixture-flows" / namespace / f"{flow_id}.yaml").unlink()
    with standin_at(standin_args) as standin:
        seed_kestra(standin, flows)
        before = kestra_flows(standin)
        project.pulumi("up", "--yes", "--skip-preview")
        after = kestra_flows(standin)
        assert after == {key: before[key] for key in kept}
        assert sorted(flow_writes(standin)) == sorted(
            f"DELETE /api/v1/main/flows/{ns}/{fid} -> 204" for ns, fid in gone)
        new = project.pulumi("stack", "export").json()
        assert {r["urn"] for r in new["deployment"]["resources"] if r["type"] in (FLOW_TYPE, NAMESPACE_FLOWS_TYPE)} == {
            namespace_flows_urn("dev.testing")}


@pytest.mark.parametrize("options", [[], ["--run-program"]], ids=["destroy", "destroy-run-program"])
def test_destroying_a_state_of_the_previous_layout_deletes_its_flows(options, tmp_path, pulumi_tools, echo_plugins):
    """`pulumi destroy` deletes every flow of an old state, also when it runs the current program
    (``--run-program``, whose resources declare the same flows)."""
    old = json.loads((STATES / "external.json").read_text())
    flows = legacy_flows(old)
    project, standin_args = import_legacy_state(tmp_path, "external", pulumi_tools, echo_plugins)
    with standin_at(standin_args) as standin:
        seed_kestra(standin, flows)
        project.pulumi("destroy", "--yes", "--skip-preview", *options)
        assert kestra_flows(standin) == {}
        assert sorted(flow_writes(standin)) == sorted(
            f"DELETE /api/v1/main/flows/{ns}/{fid} -> 204" for ns, fid in flows)
        assert project.pulumi("stack", "export").json()["deployment"].get("resources") in (None, [])
