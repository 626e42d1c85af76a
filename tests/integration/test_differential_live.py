"""The real half of the differential test (tests/kestra/test_standin_differential.py): a real
Kestra 1.1 still answers the differential requests as recorded in tests/kestra/standin_recorded.json,
so the recording the stand-in is held against in CI cannot go stale unnoticed. The recording was made
on H2; the few answers that depend on the database (`differential.ON_POSTGRES`) may instead be
PostgreSQL's.

Skipped unless ``KESTRA_URL`` is set (with ``KESTRA_USERNAME``, ``KESTRA_PASSWORD``). Each scenario
works in its own namespace and dashboard id and deletes its flows, files, KV entries and dashboards.
"""

from __future__ import annotations

import os

import pytest

from tests.support import differential
from tests.support.differential import SCENARIOS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("KESTRA_URL"), reason="KESTRA_URL is not set"),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_real_kestra_still_answers_as_recorded(scenario):
    answers = differential.run(differential.target_from_env(), scenario)
    lines = differential.differences(differential.load_recording()["scenarios"][scenario.name], answers,
                                     alternatives=differential.ON_POSTGRES)
    assert lines == [], "\n".join(lines)
