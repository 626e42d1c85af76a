"""The policy pack's ties to the rest of the project, offline (the engine tests run the pack
itself: tests/engine/test_policy_pack.py)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "policy"


def pack_module():
    sys.path.insert(0, str(POLICY))
    try:
        import kestra_gcp_policies
    finally:
        sys.path.remove(str(POLICY))
    return kestra_gcp_policies


def test_guide_mode_exception_is_exactly_the_walkthroughs_admin_roles():
    # Pulumi.yaml: iamMode guide grants "the walkthrough's project-wide admin roles"; the pack lets
    # exactly those admin roles through in guide mode, and no basic role.
    from infra.identity import GUIDE_PROJECT_ROLES, LEAST_PRIVILEGE_PROJECT_ROLES

    pack = pack_module()
    assert {r for r in GUIDE_PROJECT_ROLES if pack.is_broad_role(r)} == pack.GUIDE_ADMIN_ROLES
    assert not any(pack.is_broad_role(r) for r in LEAST_PRIVILEGE_PROJECT_ROLES)
    for role in ("roles/owner", "roles/editor", "roles/bigquery.admin", "roles/compute.admin"):
        assert pack.is_broad_role(role), role
    for role in ("roles/viewer", "roles/bigquery.dataEditor", "roles/storage.objectAdmin", "roles/pubsub.subscriber"):
        assert not pack.is_broad_role(role), role


def test_the_pack_knows_nothing_of_the_programs_modules():
    for path in POLICY.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & {"infra", "kestra", "tests"}, f"{path.name} imports {imported & {'infra', 'kestra', 'tests'}}"


def test_the_pack_runs_in_the_projects_virtualenv_which_pins_pulumi_policy():
    spec = yaml.safe_load((POLICY / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"] == {"name": "python", "options": {"virtualenv": "../venv"}}
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"]["virtualenv"] == "venv"  # ../venv seen from policy/
    pins = [line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("pulumi-policy")]
    assert pins == ["pulumi-policy==1.21.0"]  # the pack reads secret marks through this version's servicer


def test_every_policy_has_an_engine_test_that_makes_it_fire():
    pack = pack_module()
    engine_tests = (REPO / "tests" / "engine" / "test_policy_pack.py").read_text()
    for policy in pack.POLICIES:
        assert f'"{policy.name}"' in engine_tests, f"no engine test makes {policy.name} fire"
