"""The stack outputs `python -m kestra.tour` reads to skip the Git and AI phases.

The stack hands a GitHub token and a Gemini key to the Kestra it runs itself (SECRET_GITHUB_TOKEN,
the AI block of KESTRA_CONFIGURATION); an external Kestra (kestraUrl) gets neither from the stack,
so for it the phases are reported as not configured.
"""

import pytest

from tests.support.pulumi_harness import run_stack

PROJECT = "acme-data-123"
SECRETS = ("kestra-gcp:githubToken", "kestra-gcp:geminiApiKey")


@pytest.fixture(scope="module")
def with_credentials():
    return run_stack(
        {"kestra-gcp:githubToken": "ghp_example_token_123", "kestra-gcp:geminiApiKey": "AIza-example-key"},
        secret_keys=SECRETS,
    )


def test_docker_stack_with_token_and_key_says_both_are_configured(with_credentials):
    assert with_credentials.outputs["gitSyncConfigured"] is True
    assert with_credentials.outputs["aiConfigured"] is True


def test_stack_without_them_says_neither_is():
    run = run_stack({"gcp:project": PROJECT})
    assert run.outputs["gitSyncConfigured"] is False and run.outputs["aiConfigured"] is False


def test_external_kestra_is_never_given_them_by_the_stack():
    run = run_stack(
        {"gcp:project": PROJECT, "kestra-gcp:kestraUrl": "https://kestra.example.com",
         "kestra-gcp:kestraPassword": "External-Pass-77", "kestra-gcp:githubToken": "ghp_example_token_123"},
        secret_keys=("kestra-gcp:kestraPassword", "kestra-gcp:githubToken"),
    )
    assert run.outputs["gitSyncConfigured"] is False
