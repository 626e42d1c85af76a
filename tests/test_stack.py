"""The whole program in its three shapes: GCP + Docker, local-only, and an external Kestra."""

import base64
import json

import pytest

from tests.support.pulumi_harness import MOCK_PRIVATE_KEY, plain, run_stack

PROJECT = "acme-data-123"
EXTERNAL_PASSWORD = "External-Pass-77"


def kestra_env(run) -> dict:
    container = run.one("docker:index/container:Container", "kestra-kestra")
    assert container.is_secret("envs")
    return dict(e.split("=", 1) for e in plain(container.inputs["envs"]))


@pytest.fixture(scope="module")
def gcp_docker():
    return run_stack({"gcp:project": PROJECT})


@pytest.fixture(scope="module")
def local_only():
    return run_stack({})


@pytest.fixture(scope="module")
def external():
    return run_stack(
        {"gcp:project": PROJECT, "kestra-gcp:kestraUrl": "https://kestra.example.com",
         "kestra-gcp:kestraPassword": EXTERNAL_PASSWORD},
        secret_keys=("kestra-gcp:kestraPassword",),
    )


def test_gcp_and_docker_pass_the_key_to_kestra_as_is(gcp_docker):
    env = kestra_env(gcp_docker)
    # Kestra's OSS secrets are base64 in SECRET_<NAME>; the key's privateKey already is.
    assert env["SECRET_GCP_SERVICE_ACCOUNT"] == MOCK_PRIVATE_KEY
    assert json.loads(base64.b64decode(env["SECRET_GCP_SERVICE_ACCOUNT"]))["type"] == "service_account"
    key = gcp_docker.one("gcp:serviceaccount/key:Key")
    container = gcp_docker.one("docker:index/container:Container", "kestra-kestra")
    assert key.urn in container.property_dependencies["envs"]


def test_local_only_creates_no_gcp_resource(local_only):
    assert local_only.outputs["profile"] == "local"
    assert not [t for t in local_only.types() if t.startswith("gcp:")]
    assert not [tok for tok, _ in local_only.invokes if tok.startswith("gcp:")]
    assert "docker:index/container:Container" in local_only.types()
    assert "SECRET_GCP_SERVICE_ACCOUNT" not in kestra_env(local_only)
    assert "bucketName" not in local_only.outputs


def test_external_kestra_creates_no_docker_resource(external):
    assert not [t for t in external.types() if t.startswith(("docker:", "random:"))]
    assert external.outputs["kestraUrl"] == "https://kestra.example.com"
    assert external.outputs["kestraPassword"] == EXTERNAL_PASSWORD
    assert "gcp:storage/bucket:Bucket" in external.types()


def test_an_external_kestra_gets_no_service_account_key(external):
    # Nothing hands an existing Kestra a key (it is neither exported nor configured there), and
    # where iam.disableServiceAccountKeyCreation is enforced (the default for organizations created
    # since May 2024) creating one fails `up`.
    assert external.one("gcp:serviceaccount/account:Account")
    assert not external.of_type("gcp:serviceaccount/key:Key")
    assert "serviceAccountKey" not in external.outputs


@pytest.mark.parametrize("fixture", ["gcp_docker", "local_only", "external"])
def test_kestra_outputs_and_secrets(request, fixture):
    run = request.getfixturevalue(fixture)
    assert run.outputs["kestraUsername"] == "admin@kestra.io"
    assert run.outputs["kestraUrl"].startswith("http")
    assert "kestraPassword" in run.secret_outputs
    secrets = {str(run.outputs["kestraPassword"]), MOCK_PRIVATE_KEY}
    for name, value in run.outputs.items():
        if name not in run.secret_outputs:
            assert not any(s in json.dumps(value) for s in secrets), name


def test_docker_url_is_loopback_by_default(gcp_docker):
    assert gcp_docker.outputs["kestraUrl"] == "http://127.0.0.1:8080"


def test_container_receives_exactly_the_secrets_flows_may_name_and_the_key():
    from infra.kv_and_secrets import GCP_KEY_SECRET, SECRET_NAMES

    run = run_stack(
        {"gcp:project": PROJECT, "kestra-gcp:githubToken": "ghp_example0123456789"},
        secret_keys=("kestra-gcp:githubToken",),
    )
    names = {k.removeprefix("SECRET_") for k in kestra_env(run) if k.startswith("SECRET_")}
    assert names == set(SECRET_NAMES) | {GCP_KEY_SECRET} == {
        "GITHUB_TOKEN", "KESTRA_USER", "KESTRA_PASSWORD", "GCP_SERVICE_ACCOUNT"}


def _kestra_configuration(run) -> dict:
    import yaml

    return yaml.safe_load(kestra_env(run)["KESTRA_CONFIGURATION"])


def test_docker_kestra_points_every_gcp_plugin_at_the_key_through_instance_plugin_defaults(gcp_docker):
    # Flows carry no credentials; Kestra 1.1 binds `kestra.plugins.defaults` to a list of
    # PluginDefault {type, forced, values} (PluginGlobalDefaultConfiguration) and merges the ones
    # whose type prefixes a task's type after the flow's own pluginDefaults (PluginDefaultService).
    # The GCP plugins' `serviceAccount` takes the key's JSON, which {{ secret() }} decodes from
    # SECRET_GCP_SERVICE_ACCOUNT at run time.
    defaults = _kestra_configuration(gcp_docker)["kestra"]["plugins"]["defaults"]
    assert defaults == [{
        "type": "io.kestra.plugin.gcp",
        "forced": False,
        "values": {"serviceAccount": "{{ secret('GCP_SERVICE_ACCOUNT') }}"},
    }]


def test_local_only_kestra_has_no_plugin_defaults(local_only):
    assert "plugins" not in _kestra_configuration(local_only)["kestra"]
