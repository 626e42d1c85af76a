"""The suite-wide guard (tests/conftest.py) fails a test that sent Kestra a request that can
freeze a real Kestra 1.1 — even when the code under test swallowed the stand-in's refusal."""

from __future__ import annotations

pytest_plugins = ["pytester"]

INNER_TEST = '''
import requests
from tests.conftest import no_request_that_can_freeze_kestra  # the guard under test
from tests.support.kestra_standin import KestraStandin


def test_swallows_the_refusal():
    with KestraStandin() as standin:
        try:  # a careless client: PUT first, ignore what comes back
            requests.put(f"{standin.url}/api/v1/main/flows/dev.testing/gone", data=b"id: gone",
                         headers={"Content-Type": "application/x-yaml"}, auth=(standin.username, standin.password),
                         timeout=5)
        except requests.RequestException:
            pass


def test_reads_first():
    with KestraStandin() as standin:
        requests.get(f"{standin.url}/api/v1/main/flows/dev.testing/gone",
                     auth=(standin.username, standin.password), timeout=5)
'''


def test_a_test_that_put_a_missing_flow_fails_and_a_careful_one_passes(pytester):
    pytester.makepyfile(test_inner=INNER_TEST)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*hazardous request(s) sent to Kestra*", "*PUT of the missing flow dev.testing/gone*"])
