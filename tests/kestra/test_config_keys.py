"""Every configuration key the stack hands Kestra is one Kestra 1.1 (or Micronaut's datasource) reads.

A key Kestra does not read is silently ignored: a misspelt ``kestra.storage.gcs.projectid`` or a
block one level too deep would boot fine and leave Kestra on its defaults. The keys Kestra reads,
with the source file that reads each, are in `kestra_config_keys.txt` beside this test; the
configurations checked are the ones the real program renders for each runtime (Docker:
``KESTRA_CONFIGURATION``; gke: the ConfigMap and Secret files the chart merges), with every optional
block switched on. Booting Kestra with them is the opt-in `real_kestra` tier
(tests/real_kestra/test_rendered_configuration_boots.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kestra.config import KestraSettings, gcp_key_plugin_defaults, kestra_configuration
from tests.support.rendered_kestra import GCP, GKE, LOCAL, OPTIONAL_SECRETS, docker_configuration, gke_release

FACTS = Path(__file__).with_name("kestra_config_keys.txt")
# Values that are lists are bound as a whole (kestra.plugins.defaults: List<PluginDefault>).
LIST_VALUED = {"kestra.plugins.defaults"}


def keys_read_by_kestra() -> dict[str, str]:
    facts = {}
    for line in FACTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, source = line.split(" ", 1)
            facts[key] = source
    return facts


def leaf_keys(document: dict, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in document.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and path not in LIST_VALUED:
            keys |= leaf_keys(value, path)
        else:
            keys.add(path)
    return keys


def unread(document: dict) -> set[str]:
    return leaf_keys(document) - set(keys_read_by_kestra())


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    """The documents each runtime hands Kestra, every optional block switched on."""
    return {
        "docker local": [yaml.safe_load(docker_configuration({**LOCAL, **OPTIONAL_SECRETS}))],
        # gcp: the service account key switches on the instance-level plugin defaults.
        "docker gcp": [yaml.safe_load(docker_configuration({**GCP, **OPTIONAL_SECRETS}))],
        "gke": [yaml.safe_load(text) for text in gke_release({**GKE, **OPTIONAL_SECRETS})[:2]],
    }


@pytest.mark.parametrize("runtime", ["docker local", "docker gcp", "gke"])
def test_every_rendered_key_is_one_kestra_reads(rendered, runtime):
    for document in rendered[runtime]:
        assert not unread(document), f"{runtime}: keys no Kestra 1.1 code reads: {sorted(unread(document))}"


def test_the_optional_blocks_were_rendered(rendered):
    # Otherwise the test above would pass on a configuration without the AI block or plugin defaults.
    docker = leaf_keys(rendered["docker gcp"][0])
    gke = set().union(*(leaf_keys(document) for document in rendered["gke"]))
    assert {"kestra.ai.type", "kestra.ai.gemini.api-key", "kestra.plugins.defaults",
            "kestra.storage.local.base-path"} <= docker
    assert {"kestra.ai.gemini.model-name", "kestra.storage.gcs.bucket", "kestra.storage.gcs.project-id",
            "datasources.postgres.password"} <= gke


def test_every_listed_key_is_rendered_by_some_runtime():
    """No stale fact: a key the renderer stopped emitting leaves the file too."""
    settings = KestraSettings(
        postgres_password="p", basic_auth_username="a@b.c", basic_auth_password="Passw0rd-x",
        public_url="http://localhost:8080", gemini_api_key="k", plugin_defaults=gcp_key_plugin_defaults("K"),
    )
    rendered = leaf_keys(kestra_configuration(settings))
    rendered |= leaf_keys(kestra_configuration(KestraSettings(
        postgres_password="p", basic_auth_username="a@b.c", basic_auth_password="Passw0rd-x",
        public_url="http://localhost:8080", gcs_bucket="bucket-1", gcs_project="project-1")))
    assert set(keys_read_by_kestra()) == rendered


@pytest.mark.parametrize("wrong", [
    {"kestra": {"storage": {"gcs": {"project": "p"}}}},  # GcsStorage has projectId, no "project"
    {"kestra": {"storage": {"local": {"basepath": "/x"}}}},
    {"kestra": {"server": {"basic_auth": {"username": "a@b.c"}}}},
    {"datasource": {"postgres": {"url": "jdbc:postgresql://h/k"}}},
])
def test_a_key_kestra_does_not_read_is_caught(wrong):
    assert unread(wrong)
