"""`scripts/ci-stack` and the gke profile, with a stand-in `pulumi` on PATH that records every call
(the engine tests run the script with the real CLI for the other profiles, tests/engine/test_ci_stack.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FAKE_PULUMI = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$PULUMI_CALLS"
if [[ "$1 $2" == "config get" ]]; then printf '%s' "$FAKE_PROFILE"; fi
"""


def ci_stack(tmp_path: Path, step: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "pulumi").write_text(FAKE_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KESTRA_", "GCP_", "STACK_"))}
    full_env.update({"PATH": f"{bin_dir}:{os.environ['PATH']}", "PULUMI_CALLS": str(calls),
                     "PULUMI_STACK": "ci", "FAKE_PROFILE": "", **env})
    done = subprocess.run([str(REPO / "scripts" / "ci-stack"), step], env=full_env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    return done, calls.read_text().splitlines()


def test_destroy_never_runs_the_program_whatever_the_profile(tmp_path):
    # gke authenticates through gke-gcloud-auth-plugin at each call, so the provider recorded in
    # the state still works an hour later: a plain destroy, with the options the last up recorded.
    for profile in ("gke", "gcp", "local", ""):
        done, calls = ci_stack(tmp_path, "destroy", FAKE_PROFILE=profile)
        assert done.returncode == 0, done.stderr
        assert calls[-1] == "destroy --stack ci --non-interactive --yes --color never"
        assert "install" not in calls


def test_up_sets_the_profile_and_domain_from_the_environment(tmp_path):
    done, calls = ci_stack(tmp_path, "up", STACK_PROFILE="gke", KESTRA_DOMAIN="kestra.example.com",
                           GCP_PROJECT="acme-data-123", CI_STACK_INSTALL="false")
    assert done.returncode == 0, done.stderr
    assert "config set --stack ci profile -- gke" in calls
    assert "config set --stack ci kestraDomain -- kestra.example.com" in calls
    assert not [c for c in calls if "kestraUrl" in c]
    assert calls[-1].startswith("up --stack ci")


def test_a_gke_stack_with_kestra_url_stops_before_any_pulumi_call(tmp_path):
    done, calls = ci_stack(tmp_path, "up", STACK_PROFILE="gke", KESTRA_URL="https://kestra.example.com")
    assert done.returncode == 2
    assert "STACK_PROFILE=gke deploys its own on GKE: remove the KESTRA_URL secret" in done.stderr
    assert calls == []
