"""Which flow `python -m kestra.smoke` runs when none is named: the README's CI command must work
in both profiles, and the local profile does not deploy dev.testing/gcs_connection_test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kestra.conftest import flow_source

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "profile, deployed, other",
    [("local", "python_multi_step", "gcs_connection_test"), ("gcp", "gcs_connection_test", "python_multi_step")],
)
def test_without_flow_flags_runs_the_profiles_smoke_flow(standin, profile, deployed, other):
    standin.put_flow_directly(flow_source(flow_id=deployed))
    outputs = {"profile": profile, "kestraUrl": standin.url, "kestraUsername": standin.username,
               "kestraPassword": standin.password}
    done = subprocess.run([sys.executable, "-m", "kestra.smoke", "--stack-output", "-", "--interval", "0"],
                          input=json.dumps(outputs), capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"triggered dev.testing/{deployed}" in done.stdout
    assert [e.flow_id for e in standin.executions.values()] == [deployed]
    assert other not in done.stdout
