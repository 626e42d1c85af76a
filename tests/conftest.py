"""Suite-wide pytest hooks."""

import os

import pytest

from tests.support.kestra_standin import KestraStandin


def pytest_configure(config):
    """Under mutation testing, run whole test files rather than single tests.

    mutmut records which tests executed a function and, for each mutant, runs only those. Our
    Pulumi runs are module-scoped fixtures: they execute inside the first test of a file that asks
    for them, so mutmut would credit that one test and skip the file's other assertions on the
    same run, reporting mutants as surviving that the suite kills. mutmut names the mutant in
    MUTANT_UNDER_TEST (`<function>__mutmut_<n>`; other values outside a mutant run).
    """
    if "__mutmut_" not in os.environ.get("MUTANT_UNDER_TEST", ""):
        return
    files = sorted({arg.split("::")[0] for arg in config.args})
    config.args[:] = files


@pytest.fixture(autouse=True)
def no_request_that_can_freeze_kestra():
    """Fails any test during which a Kestra stand-in received a request that a real Kestra 1.1
    may answer by freezing (a PUT of a missing flow or dashboard, `KestraStandin._hazard`),
    whether or not the client under test noticed the stand-in's refusal."""
    yield
    seen = [hazard for standin in list(KestraStandin.instances) for hazard in standin.hazards]
    for standin in list(KestraStandin.instances):
        standin.hazards.clear()
    if seen:
        pytest.fail("hazardous request(s) sent to Kestra:\n" + "\n".join(f"  - {h}" for h in seen), pytrace=False)
