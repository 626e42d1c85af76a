"""`scripts/ci-stack comment` (the PR-comment step of .github/workflows/stack.yml) with a stand-in
`gh` on PATH that records how it was called: the plan file goes to the PR as one edited comment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FAKE_GH = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$GH_CALL"
while [[ $# -gt 0 ]]; do [[ $1 == --body-file ]] && cp "$2" "$GH_CALL.body"; shift; done
"""


def run_comment(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    full_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GH_CALL": str(tmp_path / "call"),
                "PULUMI_STACK": "ci", **env}
    return subprocess.run([str(REPO / "scripts" / "ci-stack"), "comment"], env=full_env, capture_output=True,
                          text=True, timeout=60)


def test_comment_posts_the_plan_editing_the_last_comment(tmp_path):
    plan = tmp_path / "plan.md"
    plan.write_text("### `pulumi preview` of stack `ci` (ok)\n\n```diff\n+ 27 to create\n```\n")
    done = run_comment(tmp_path, CI_STACK_PLAN=str(plan), PR_NUMBER="42")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "call").read_text().split("\n")[:6] == [
        "pr", "comment", "42", "--edit-last", "--create-if-none", "--body-file"]
    assert (tmp_path / "call.body").read_text() == plan.read_text()


def test_comment_without_a_plan_or_pr_number_fails_saying_why(tmp_path):
    done = run_comment(tmp_path, CI_STACK_PLAN=str(tmp_path / "missing.md"), PR_NUMBER="42")
    assert done.returncode != 0 and "run scripts/ci-stack preview first" in done.stderr
    assert not (tmp_path / "call").exists()
    done = run_comment(tmp_path, CI_STACK_PLAN=str(tmp_path / "missing.md"), PR_NUMBER="")
    assert done.returncode != 0 and "PR_NUMBER" in done.stderr
