"""The users' CI workflow (.github/workflows/): actionlint finds nothing, every shell step is
scripts/ci-stack (which the engine tests run), and the CLI it installs is the one we test with."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import tiers

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))


@pytest.fixture(scope="module")
def actionlint() -> str:
    local = REPO / ".tools" / "bin" / "actionlint"
    found = str(local) if local.is_file() else shutil.which("actionlint")
    tiers.require(found is not None, "actionlint", "scripts/install-tools (builds it from its Go module)")
    return found


def lint(actionlint: str, *paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint, "-no-color", "-oneline", *map(str, paths)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_actionlint_passes_the_workflows(actionlint):
    assert WORKFLOWS
    done = lint(actionlint, *WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_would_catch_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOWS[0].read_text().replace("github.event_name", "github.event_nam", 1)
    broken.write_text(text)
    done = lint(actionlint, broken)
    assert done.returncode == 1 and "event_nam" in done.stdout


def steps(workflow: Path):
    for job in yaml.safe_load(workflow.read_text())["jobs"].values():
        yield from job["steps"]


def test_every_shell_step_is_a_ci_stack_subcommand():
    script = (REPO / "scripts" / "ci-stack").read_text()
    subcommands = set(re.findall(r"^  ([a-z]+)\)$", script, re.M))
    runs = [s["run"] for w in WORKFLOWS for s in steps(w) if "run" in s]
    assert runs
    for run in runs:
        words = run.split()
        assert len(words) == 2 and words[0] == "scripts/ci-stack" and words[1] in subcommands, run


def test_the_workflow_installs_the_cli_version_the_engine_tests_use():
    gomod = (REPO / "tools" / "pulumi" / "go.mod").read_text()
    pinned = re.search(r"github\.com/pulumi/pulumi/pkg/v3 v(\S+)", gomod).group(1)
    installs = [s for w in WORKFLOWS for s in steps(w) if s.get("uses", "").startswith("pulumi/actions@")]
    assert installs and all(str(s["with"]["pulumi-version"]) == pinned for s in installs)


def test_every_job_that_runs_pulumi_on_a_gke_stack_has_the_gke_auth_plugin():
    # The gke stack's Kubernetes provider runs gke-gcloud-auth-plugin for every call, destroy included.
    jobs = yaml.safe_load((REPO / ".github" / "workflows" / "stack.yml").read_text())["jobs"]
    for name, job in jobs.items():
        uses = [s.get("uses", "") for s in job["steps"]]
        if not any(u.startswith("pulumi/actions@") for u in uses):
            continue
        gcloud = [s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/setup-gcloud@")]
        assert len(gcloud) == 1, name
        assert gcloud[0]["with"]["install_components"] == "gke-gcloud-auth-plugin", name
        assert gcloud[0]["if"] == "vars.STACK_PROFILE == 'gke'", name
        # after the credentials it uses, before the first pulumi step
        assert uses.index(gcloud[0]["uses"]) > next(i for i, u in enumerate(uses) if u.startswith("google-github-actions/auth@"))
