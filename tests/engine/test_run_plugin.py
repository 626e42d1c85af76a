"""Our Python language host's RunPlugin, through the CLI, with the upstream host's semantics: a policy
pack runs with `python -u -m pulumi.policy` in the virtualenv its PulumiPolicy.yaml names, in its
own directory, with the stack's identity and configuration in its environment and the CLI's
environment inherited; a pack that fails or exits stops the preview with its reason."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROBE = '''
import json, os, sys
from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy

def facts(args, report):
    config = json.loads(os.environ.get("PULUMI_CONFIG", "{{}}"))
    keys = json.loads(os.environ.get("PULUMI_CONFIG_SECRET_KEYS", "[]"))
    report("probe: " + json.dumps({{
        "prefix": os.path.realpath(sys.prefix), "cwd": os.getcwd(), "argv0": sys.argv[0],
        "project": os.environ.get("PULUMI_PROJECT"), "stack": os.environ.get("PULUMI_STACK"),
        "dry_run": os.environ.get("PULUMI_DRY_RUN"), "inherited": os.environ.get("PROBE_INHERITED"),
        "kestraUrl": config.get("kestra-gcp:kestraUrl"), "secret_keys": keys,
        "password_visible": "kestra-gcp:kestraPassword" in config,
    }}, sort_keys=True))

{before}
PolicyPack(name="probe", enforcement_level=EnforcementLevel.ADVISORY,
           policies=[StackValidationPolicy(name="facts", description="environment facts", validate=facts)])
'''


def probe_pack(tmp_path: Path, virtualenv: str, before: str = "") -> Path:
    pack = tmp_path / "probe-pack"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text(
        f"description: probe\nruntime:\n  name: python\n  options:\n    virtualenv: {virtualenv}\n")
    (pack / "__main__.py").write_text(PROBE.format(before=before))
    return pack


def reported_facts(run) -> dict:
    import json
    import re

    match = re.search(r"probe: (\{.*\})", run.output)
    assert match, run.output
    return json.loads(match.group(1))


def test_a_policy_pack_runs_in_its_virtualenv_and_directory_with_the_stacks_settings(external_project, kestra_standin, tmp_path):
    venv = Path(sys.prefix)
    pack = probe_pack(tmp_path, str(venv))
    run = external_project.pulumi("preview", "--policy-pack", str(pack), env={"PROBE_INHERITED": "yes"})
    facts = reported_facts(run)
    assert facts["prefix"] == os.path.realpath(venv)
    assert facts["cwd"] == str(pack)  # policy packs run in their own directory
    assert facts["argv0"] == str(pack)  # `-m pulumi.policy … PACK_DIR` runs the directory it gets last
    assert (facts["project"], facts["stack"], facts["dry_run"]) == ("kestra-gcp", "dev", "true")
    assert facts["inherited"] == "yes"
    assert facts["kestraUrl"] == kestra_standin.url
    assert facts["password_visible"] is True and facts["secret_keys"] == ["kestra-gcp:kestraPassword"]

    up = external_project.pulumi("up", "--yes", "--skip-preview", "--policy-pack", str(pack))
    assert reported_facts(up)["dry_run"] == "false"


def test_a_relative_virtualenv_is_the_packs_own_folder(external_project, tmp_path):
    (tmp_path / "venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    pack = probe_pack(tmp_path, "../venv")
    facts = reported_facts(external_project.pulumi("preview", "--policy-pack", str(pack)))
    assert facts["prefix"] == os.path.realpath(sys.prefix)


def test_a_pack_that_fails_to_start_fails_the_preview_with_its_error(external_project, tmp_path):
    pack = probe_pack(tmp_path, sys.prefix, before='raise RuntimeError("probe pack is broken on purpose")')
    run = external_project.pulumi("preview", "--policy-pack", str(pack), check=False, timeout=300)
    assert run.returncode != 0
    assert "probe pack is broken on purpose" in run.output, run.output


def test_a_pack_whose_virtualenv_is_missing_fails_naming_it(external_project, tmp_path):
    pack = probe_pack(tmp_path, "no-such-venv")
    run = external_project.pulumi("preview", "--policy-pack", str(pack), check=False, timeout=300)
    assert run.returncode != 0
    assert "no-such-venv" in run.output, run.output
