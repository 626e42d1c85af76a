import pytest

from tests.support.pulumi_harness import run_stack

PROJECT = "acme-data-123"
GCP_CONFIG = {"gcp:project": PROJECT, "gcp:region": "europe-west2"}


@pytest.fixture(scope="module")
def gcp_run():
    """The default GCP profile (least-privilege IAM), run once per module."""
    return run_stack(dict(GCP_CONFIG))


@pytest.fixture(scope="module")
def guide_run():
    return run_stack({**GCP_CONFIG, "kestra-gcp:iamMode": "guide"})
