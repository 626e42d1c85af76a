"""The echo gcp plugin refuses what GCP refuses (tools/pulumi/cmd/pulumi-resource-echo/refusals.go).

Each refusal has a Go unit test next to it, run here so that CI runs them; this file and
test_ordering_mutants.py show them firing through the real engine with the provider's message.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.engine.conftest import ECHO_ENFORCED_CONSTRAINTS_ENV, PROJECT_ID, REPO_ROOT
from tests.support import tiers

KEY = "gcp:serviceaccount/key:Key"
# GCP docs, "Restricting service account usage": enforced by default in organizations created
# since 3 May 2024.
KEY_POLICY = "iam.disableServiceAccountKeyCreation"


def test_the_echo_plugins_go_unit_tests_pass():
    go = shutil.which("go")
    tiers.require(go is not None, "Go (the echo plugins' unit tests)", "https://go.dev/doc/install")
    run = subprocess.run([go, "test", "-count=1", "./cmd/pulumi-resource-echo/"], cwd=REPO_ROOT / "tools" / "pulumi",
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_docker_runtime_needs_a_key_so_the_key_policy_stops_its_up_as_gcp_would(gcp_project):
    gcp_project.env[ECHO_ENFORCED_CONSTRAINTS_ENV] = KEY_POLICY
    up = gcp_project.pulumi("up", "--yes", "--skip-preview", check=False)
    assert up.returncode != 0
    assert "Error creating service account key: googleapi: Error 400: Key creation is not allowed on this service account." in up.output
    assert f"constraints/{KEY_POLICY}" in up.output and "failedPrecondition" in up.output
    assert KEY not in {entry["type"] for entry in gcp_project.echo_log() if entry["op"] == "create"}


@pytest.fixture
def external_gcp_project(engine_project, kestra_standin, echo_plugins):
    """GCP resources (echo gcp plugin) for an existing Kestra: gcp:project with kestraUrl."""
    engine_project.install_echo_plugins(echo_plugins)
    engine_project.set_config({"gcp:project": PROJECT_ID, "kestraUrl": kestra_standin.url,
                               "kestraUsername": kestra_standin.username})
    engine_project.set_config({"kestraPassword": kestra_standin.password}, secret=True)
    return engine_project


def test_an_existing_kestra_gets_no_key_so_up_succeeds_under_the_key_policy(external_gcp_project):
    external_gcp_project.env[ECHO_ENFORCED_CONSTRAINTS_ENV] = KEY_POLICY
    external_gcp_project.pulumi("up", "--yes", "--skip-preview")
    created = {entry["type"] for entry in external_gcp_project.echo_log() if entry["op"] == "create"}
    assert "gcp:serviceaccount/account:Account" in created and KEY not in created
