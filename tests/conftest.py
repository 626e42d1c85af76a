"""Suite-wide pytest hooks."""

import os


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
