"""Writes the state fixtures of tests/engine/test_layout_upgrade.py: `pulumi up` of the program in
PROGRAM (a checkout of the layout whose states the upgrade test must keep working) for the gcp and
gke profiles on the echo provider plugins and the Kestra stand-in, then `pulumi stack export`.

    python -m tests.engine.states.make_states PROGRAM [PROFILE ...]

Each profile leaves two files here: ``<profile>.json``, the exported state (secrets encrypted with
the engine tests' passphrase), and ``<profile>.Pulumi.dev.yaml``, the stack file it was made with
(its config and the salt those secrets are encrypted with); ``flows/`` (gcp, gke) or
``external-flows/`` (external) holds the flows deployed (``flowsDir``). Kestra's address is pinned
(`STANDIN_PORT`, `GKE_ADDRESS`) so that the upgrade test can serve Kestra where the state says it is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.engine.conftest import (
    ECHO_EXTERNAL_ADDRESS_ENV,
    PASSPHRASE,
    PROJECT_FILES,
    PROJECT_ID,
    STACK,
    EngineProject,
    _engine_env,
    echo_store,
    find_echo_plugins,
    find_pulumi_tools,
)

HERE = Path(__file__).resolve().parent
# Outside the ports Linux hands out as ephemeral (32768-60999), so a test can bind it again.
STANDIN_PORT = 28391
# Outside the loopback addresses tests.engine.conftest draws for gke_standin (127.20-219.x.x).
GKE_ADDRESS = "127.241.0.24"
USERNAME = "admin@kestra.io"
PASSWORD = "Passw0rd!x"  # the stand-in's default login (tests/support/kestra_standin.py)
# One flow keeps the fixtures small: its namespace still gets every KV entry the profile sets.
FLOWS = ("dev.testing/gcs_connection_test.yaml",)
# The external profile (Kestra at a URL; only Kestra objects in the state) holds several flows in
# two namespaces, one calling another as a subflow (none uses GCP, which this profile leaves out): the state of one resource per flow that the
# upgrade to one resource per namespace must take over without touching Kestra.
EXTERNAL_FLOWS = (
    "dev.testing/critical_service_subflow.yaml",
    "dev.testing/java_hello_world.yaml",
    "dev.testing/parent_service.yaml",
    "gcp.ecommerce/debug_demo.yaml",
)


def fixture_flows(profile: str) -> tuple[Path, tuple[str, ...]]:
    """(the folder here holding the flows `profile`'s state deployed, those flows)."""
    return (HERE / "external-flows", EXTERNAL_FLOWS) if profile == "external" else (HERE / "flows", FLOWS)
# Where the state says the program was (the data files' asset paths), instead of a temporary folder.
PROGRAM_DIR = "/src/kestra-gcp"


def standin_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.support.kestra_standin", *args]


def profile_config(profile: str) -> tuple[dict, dict]:
    """(plaintext config, secret config) of each profile's stack."""
    common = {"gcp:project": PROJECT_ID, "kestraUsername": USERNAME, "flowsDir": "fixture-flows"}
    if profile == "gcp":
        return {**common, "hostAddress": "127.0.0.1", "uiPort": str(STANDIN_PORT),
                "managementPort": str(STANDIN_PORT + 1)}, {"kestraPassword": PASSWORD}
    if profile == "gke":
        return {**common, "profile": "gke"}, {"kestraPassword": PASSWORD}
    if profile == "external":
        return {"profile": "local", "kestraUrl": f"http://127.0.0.1:{STANDIN_PORT}", "kestraUsername": USERNAME,
                "flowsDir": "fixture-flows"}, {"kestraPassword": PASSWORD}
    raise ValueError(f"no fixture profile {profile!r}")


def copy_program(program: Path, destination: Path, profile: str) -> None:
    destination.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = program / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, destination / name)
    here, flows_of_profile = fixture_flows(profile)
    for flows in (destination / "fixture-flows", here):
        for flow in flows_of_profile:
            (flows / flow).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(program / "flows" / flow, flows / flow)
    (destination / "venv").symlink_to(Path(sys.prefix), target_is_directory=True)


def scrub(exported: str, project_dir: Path) -> dict:
    """The exported state without what only the machine that made it knew: each resource's
    ``stackTrace`` (paths of the CLI and the virtualenv; metadata the next update rewrites) and the
    temporary project folder in asset paths (a FileAsset is compared by its hash, not its path)."""
    state = json.loads(exported.replace(str(project_dir), PROGRAM_DIR))
    for resource in state["deployment"]["resources"]:
        resource.pop("stackTrace", None)
    return state


def make_state(program: Path, profile: str) -> None:
    tools, echo = find_pulumi_tools(), find_echo_plugins()
    if tools is None or echo is None:
        sys.exit("needs the Pulumi CLI and the echo plugins: scripts/install-tools")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy_program(program, root / "project", profile)
        project = EngineProject(root / "project", _engine_env(root, tools), tools)
        project.install_echo_plugins(echo)
        args = ["--port", str(STANDIN_PORT)] if profile in ("gcp", "external") else [
            "--load-balancer", f"{GKE_ADDRESS}:443", "--echo-store", str(echo_store(root))]
        if profile == "gke":
            project.env[ECHO_EXTERNAL_ADDRESS_ENV] = GKE_ADDRESS
        standin = subprocess.Popen(standin_command("--username", USERNAME, "--password", PASSWORD, *args),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=program)
        try:
            standin.stdout.readline()
            project.pulumi("stack", "init", STACK)
            plain, secret = profile_config(profile)
            project.set_config(plain)
            project.set_config(secret, secret=True)
            project.pulumi("up", "--yes", "--skip-preview")
            state = scrub(project.pulumi("stack", "export").stdout, project.dir)
        finally:
            standin.stdin.close()
            standin.wait(15)
        (HERE / f"{profile}.json").write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
        shutil.copy2(project.stack_file, HERE / f"{profile}.Pulumi.{STACK}.yaml")


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    program = Path(argv[0]).resolve()
    for profile in argv[1:] or ["gcp", "gke"]:
        make_state(program, profile)
        print(f"{profile}: {(HERE / f'{profile}.json').stat().st_size} bytes (passphrase {PASSPHRASE!r})")


if __name__ == "__main__":
    main(sys.argv[1:])
