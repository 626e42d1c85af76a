"""keepData on the Kestra side (docs/keeping-data.md): KV entries and namespace files are retained
on destroy, flows and dashboards are not; without keepData nothing is retained."""

import pytest

from tests.support.pulumi_harness import run_stack

FLOWS_T = "pulumi-python:dynamic/kestra:NamespaceFlows"  # the flows of one namespace
FILE_T = "pulumi-python:dynamic/kestra:NamespaceFile"
KV_T = "pulumi-python:dynamic/kestra:KvEntry"
DASH_T = "pulumi-python:dynamic/kestra:Dashboard"
EXTERNAL = {"kestra-gcp:kestraUrl": "http://127.0.0.1:8080", "kestra-gcp:kestraPassword": "Passw0rd!x",
            "kestra-gcp:profile": "local"}


@pytest.mark.parametrize("config", [
    # GCP profile, Kestra in Docker (whose kept database needs a password that outlives destroy)
    {"gcp:project": "acme-data-123", "kestra-gcp:postgresPassword": "pg-Configured-Pass-99"},
    EXTERNAL,  # local profile, an existing Kestra
], ids=["gcp", "external"])
def test_keep_data_retains_kv_entries_and_namespace_files_only(config):
    run = run_stack({**config, "kestra-gcp:keepData": "true"},
                    secret_keys=("kestra-gcp:kestraPassword", "kestra-gcp:postgresPassword"))
    assert run.of_type(KV_T) and run.of_type(FILE_T) and run.of_type(FLOWS_T) and run.of_type(DASH_T)
    assert all(r.retain_on_delete for r in run.of_type(KV_T) + run.of_type(FILE_T))
    assert not any(r.retain_on_delete for r in run.of_type(FLOWS_T) + run.of_type(DASH_T))


def test_without_keep_data_nothing_in_kestra_is_retained():
    run = run_stack(EXTERNAL, secret_keys=("kestra-gcp:kestraPassword",))
    assert all(run.of_type(t) for t in (FLOWS_T, FILE_T, KV_T, DASH_T))
    kestra = [r for t in (FLOWS_T, FILE_T, KV_T, DASH_T) for r in run.of_type(t)]
    assert not any(r.retain_on_delete for r in kestra)


def test_a_bad_keep_data_value_is_reported_once_naming_the_key():
    from infra.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        run_stack({"gcp:project": "acme-data-123", "kestra-gcp:keepData": "yes"})
    assert [p for p in caught.value.problems if "keepData" in p] == [
        "kestra-gcp:keepData: expected true or false, got 'yes'"
    ]
