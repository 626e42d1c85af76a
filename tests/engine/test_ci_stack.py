"""scripts/ci-stack, the shell steps of .github/workflows/stack.yml, run as the workflow runs them
(config from the environment, secrets on stdin) against the Kestra stand-in: preview writes the
plan for the PR comment, up deploys, smoke runs a flow from the stack outputs, destroy empties."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.engine.conftest import REPO_ROOT
from tests.engine.deployed import expected_local
from tests.engine.test_lifecycle import state


def test_ci_stack_preview_up_smoke_destroy(engine_project, kestra_standin, tmp_path):
    (engine_project.dir / "scripts").mkdir()
    shutil.copy2(REPO_ROOT / "scripts" / "ci-stack", engine_project.dir / "scripts" / "ci-stack")
    plan = tmp_path / "plan.md"
    env = {**engine_project.env, "PULUMI_STACK": engine_project.stack, "KESTRA_URL": kestra_standin.url,
           "KESTRA_PASSWORD": kestra_standin.password, "PYTHON": sys.executable, "CI_STACK_PLAN": str(plan),
           "SMOKE_TIMEOUT": "30",
           "CI_STACK_INSTALL": "false"}  # ./venv links the test venv, which `pulumi install` cannot rebuild

    def ci_stack(step: str) -> subprocess.CompletedProcess:
        done = subprocess.run(["scripts/ci-stack", step], cwd=engine_project.dir, env=env, capture_output=True,
                              text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"ci-stack {step}:\n{done.stdout}\n{done.stderr}"
        return done

    ci_stack("preview")
    comment = plan.read_text()
    assert comment.startswith(f"### `pulumi preview` of stack `{engine_project.stack}` (ok)")
    assert "dev.testing/python_multi_step" in comment and "to create" in comment
    assert "kestra-gcp-guardrails" in comment  # the workflow's preview runs the policy pack
    assert kestra_standin.password not in comment
    config = engine_project.pulumi("config", "--json").json()
    assert config["kestra-gcp:kestraPassword"]["secret"] is True  # set from the environment, encrypted
    assert state(kestra_standin)["flows"] == {}  # a preview writes nothing

    validated = ci_stack("validate")  # the workflow's step before up: the whole tree, nothing written
    assert state(kestra_standin)["flows"] == {}
    assert "problem" not in validated.stdout.lower()

    ci_stack("up")
    assert state(kestra_standin) == expected_local(engine_project.dir / "flows")

    smoke = ci_stack("smoke")  # pulumi stack output --json --show-secrets | python -m kestra.smoke --stack-output -
    assert "triggered dev.testing/python_multi_step" in smoke.stdout and "succeeded" in smoke.stdout
    assert kestra_standin.password not in smoke.stdout + smoke.stderr

    ci_stack("destroy")
    assert kestra_standin.control("GET", "state") == {"flows": [], "files": [], "kv": [], "dashboards": []}


def test_the_readme_smoke_command_passes_against_the_standin(external_project, kestra_standin):
    external_project.pulumi("up", "--yes", "--skip-preview")
    outputs = external_project.pulumi("stack", "output", "--json", "--show-secrets").stdout
    done = subprocess.run([sys.executable, "-m", "kestra.smoke", "--stack-output", "-", "--interval", "0.1"],
                          input=outputs, cwd=external_project.dir, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout


def test_a_failing_preview_fails_the_step_and_its_comment_says_why(engine_project, kestra_standin, tmp_path):
    (engine_project.dir / "scripts").mkdir()
    shutil.copy2(REPO_ROOT / "scripts" / "ci-stack", engine_project.dir / "scripts" / "ci-stack")
    plan = tmp_path / "plan.md"
    env = {**engine_project.env, "PULUMI_STACK": engine_project.stack, "KESTRA_URL": "kestra.example:8080",
           "KESTRA_PASSWORD": kestra_standin.password, "CI_STACK_PLAN": str(plan), "CI_STACK_INSTALL": "false"}
    done = subprocess.run(["scripts/ci-stack", "preview"], cwd=engine_project.dir, env=env, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    comment = plan.read_text()
    assert comment.startswith(f"### `pulumi preview` of stack `{engine_project.stack}` (failed, exit ")
    assert "kestra-gcp:kestraUrl: must be an http(s) URL" in comment, comment


def test_validate_step_stops_a_bad_flow_before_up_naming_file_and_reason(engine_project, kestra_standin):
    (engine_project.dir / "scripts").mkdir()
    shutil.copy2(REPO_ROOT / "scripts" / "ci-stack", engine_project.dir / "scripts" / "ci-stack")
    # A misspelt task type: Kestra's validator refuses it (the stand-in answers as /flows/validate does).
    (engine_project.dir / "flows" / "dev.testing" / "broken.yaml").write_text(
        "id: broken\nnamespace: dev.testing\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Lgo\n"
        "    message: hi\n")
    env = {**engine_project.env, "PULUMI_STACK": engine_project.stack, "KESTRA_URL": kestra_standin.url,
           "KESTRA_PASSWORD": kestra_standin.password, "PYTHON": sys.executable, "CI_STACK_INSTALL": "false"}
    done = subprocess.run(["scripts/ci-stack", "validate"], cwd=engine_project.dir, env=env, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dev.testing/broken.yaml" in done.stdout and "io.kestra.plugin.core.log.Lgo" in done.stdout
    assert state(kestra_standin)["flows"] == {}


def test_a_mandatory_policy_violation_stops_the_workflows_preview_and_up(engine_project, kestra_standin, tmp_path):
    (engine_project.dir / "scripts").mkdir()
    shutil.copy2(REPO_ROOT / "scripts" / "ci-stack", engine_project.dir / "scripts" / "ci-stack")
    # A flow that pastes the Kestra password instead of {{ secret('KESTRA_PASSWORD') }}.
    (engine_project.dir / "flows" / "dev.testing" / "leaky.yaml").write_text(
        f"id: leaky\nnamespace: dev.testing\nlabels:\n  login: {kestra_standin.password}\ntasks:\n"
        "  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
    plan = tmp_path / "plan.md"
    env = {**engine_project.env, "PULUMI_STACK": engine_project.stack, "KESTRA_URL": kestra_standin.url,
           "KESTRA_PASSWORD": kestra_standin.password, "CI_STACK_PLAN": str(plan), "CI_STACK_INSTALL": "false"}
    for step in ("preview", "up"):
        done = subprocess.run(["scripts/ci-stack", step], cwd=engine_project.dir, env=env, capture_output=True,
                              text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert done.returncode != 0, f"ci-stack {step} passed a mandatory violation:\n{done.stdout}\n{done.stderr}"
        assert "kestra-objects-hold-no-stack-secret" in done.stdout + done.stderr
    assert "[mandatory]  kestra-objects-hold-no-stack-secret" in plan.read_text()
    assert state(kestra_standin)["flows"] == {}  # up stopped before deploying anything


def test_ci_stack_sets_the_postgres_password_keep_data_on_docker_needs(engine_project, tmp_path):
    """KEEP_DATA with Kestra in Docker needs postgresPassword (the kept database only accepts the
    password it was initialised with): the workflow passes it from the POSTGRES_PASSWORD secret."""
    (engine_project.dir / "scripts").mkdir()
    shutil.copy2(REPO_ROOT / "scripts" / "ci-stack", engine_project.dir / "scripts" / "ci-stack")
    env = {**engine_project.env, "PULUMI_STACK": engine_project.stack, "STACK_PROFILE": "local", "KEEP_DATA": "true",
           "POSTGRES_PASSWORD": "pg-Engine-Tests-2026", "CI_STACK_PLAN": str(tmp_path / "plan.md"),
           "CI_STACK_INSTALL": "false"}
    # Only the config the step sets is looked at (no docker plugin is installed here for the preview).
    subprocess.run(["scripts/ci-stack", "preview"], cwd=engine_project.dir, env=env, capture_output=True, text=True,
                   timeout=600, stdin=subprocess.DEVNULL)
    config = engine_project.pulumi("config", "--json").json()
    assert config["kestra-gcp:postgresPassword"]["secret"] is True  # set from the environment, encrypted
    assert engine_project.pulumi("config", "get", "postgresPassword").stdout.strip() == "pg-Engine-Tests-2026"
