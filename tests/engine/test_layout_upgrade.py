"""A stack deployed by an earlier layout of the program upgrades in place: the current program, run
on a state that layout wrote (tests/engine/states/, made before infra/runtimes/ existed), replaces,
creates and deletes nothing.

A resource's URN is made of its component type tokens (``kestra-gcp:infra:GkeNetwork``), its
parents' and its name; the module a component lives in is not part of it. Moving a module keeps
every URN; renaming a type token or a resource does not, and the engine then plans a create of the
new URN and a delete of the old one. The dynamic providers (kestra/) are pickled into the state by
module path (kestra/resources.py), so the state also names no module of infra/.

The state is imported as written. Kestra's address is part of what it holds (each Kestra object's
``url`` input, the gke endpoint's reserved address), so the stand-in serves Kestra where the state
says it is: on the pinned port (gcp: hostAddress and uiPort) or behind the load balancer on the
pinned address (gke), whose certificate the echo cloud holds as the state says it was uploaded.
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

from kestra.client import KestraNotFound
from kestra.smoke import client_from_outputs
from tests.engine.conftest import (
    ECHO_EXTERNAL_ADDRESS_ENV,
    ECHO_PROVIDERS,
    STACK,
    EngineProject,
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
    """The "Resources:" counts `pulumi up` printed, e.g. {"updated": 1, "unchanged": 40}."""
    tail = run.output.rsplit("Resources:", 1)[-1]
    verbs = r"created|updated|deleted|replaced|unchanged|imported|discarded"
    return {verb: int(n) for n, verb in re.findall(rf"^\s*[-+~]*\s*(\d+) ({verbs})\b", tail, re.M)}


@pytest.mark.parametrize("profile", ["gcp", "gke"])
def test_a_state_of_the_previous_layout_upgrades_without_a_create_replace_or_delete(
    profile, tmp_path, pulumi_tools, echo_plugins
):
    old = json.loads((STATES / f"{profile}.json").read_text())
    assert pickled_modules(old) and all(m.startswith("kestra.") for m in pickled_modules(old)), pickled_modules(old)

    project = EngineProject(copy_project(tmp_path / "project"), _engine_env(tmp_path, pulumi_tools), pulumi_tools)
    shutil.copytree(STATES / "flows", project.dir / "fixture-flows")
    project.install_echo_plugins(echo_plugins)
    project.pulumi("stack", "init", STACK)
    # The stack file the state was made with: its config and the salt of its encrypted secrets.
    shutil.copy2(STATES / f"{profile}.Pulumi.{STACK}.yaml", project.stack_file)
    project.pulumi("stack", "import", "--file", str(STATES / f"{profile}.json"))

    if profile == "gcp":
        require_bindable("127.0.0.1", STANDIN_PORT)
        standin_args = ["--port", str(STANDIN_PORT)]
    else:
        require_bindable(GKE_ADDRESS, 443)
        project.env[ECHO_EXTERNAL_ADDRESS_ENV] = GKE_ADDRESS
        decrypted = project.pulumi("stack", "export", "--show-secrets").json()["deployment"]
        assert seed_echo_store(echo_store(tmp_path), decrypted) > 0
        standin_args = ["--load-balancer", f"{GKE_ADDRESS}:443", "--echo-store", str(echo_store(tmp_path))]
    with contextlib.contextmanager(_run_standin)("--username", USERNAME, "--password", PASSWORD, *standin_args):
        preview = project.pulumi("preview", "--json").json()
        # changeSummary counts every step by operation; steps lists those that are not "same", and
        # the stack (pulumi/pulumi pkg/backend/display/json.go, ShowJSONEvents: shouldShow).
        print(f"\n[engine] {profile}: preview of the old state {preview['changeSummary']}")
        assert preview["changeSummary"].get("same"), preview
        changed = sorted((s["op"], s["urn"]) for s in preview.get("steps") or [] if s["op"] not in KEEPS)
        assert changed == [], "the current layout would change resources of the old state:\n" + "\n".join(
            f"{op} {urn}" for op, urn in changed)
        assert set(preview["changeSummary"]) <= KEEPS, preview["changeSummary"]

        up = project.pulumi("up", "--yes", "--skip-preview")
        counts = resources_summary(up)
        assert counts.get("unchanged"), up.output
        assert set(counts) <= {"unchanged", "updated"}, up.output
        assert [e for e in project.echo_log() if e["op"] != "update"] == []  # nothing created or deleted
        assert urns(project.pulumi("stack", "export").json()) == urns(old)
        # The outputs still lead to Kestra (over HTTPS verified with the stack's CA on gke), so an
        # update of a Kestra object would reach it: the flow is not in this fresh stand-in.
        with client_from_outputs(project.stack_outputs(), deadline=10) as client:
            with pytest.raises(KestraNotFound):
                client.get_flow("dev.testing", "gcs_connection_test")
