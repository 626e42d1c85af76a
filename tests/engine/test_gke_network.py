"""The gke profile's network against the echo cloud's model of Google's private services access
(tools/pulumi/cmd/pulumi-resource-echo/refusals_network.go): destroy while Cloud SQL still holds
the connection, an existing network's other peering ranges, and the lookups that stop a preview
at a network or zone GCP does not have."""

from __future__ import annotations

import json
from pathlib import Path

from tests.engine.conftest import ECHO_STORE_ENV, PROJECT_ID
from tests.engine.test_lifecycle import UP
from tests.engine.test_ordering_mutants import apply_edit
from tests.support.echo_cloud import live_resources

CONNECTION = "gcp:servicenetworking/connection:Connection"
NETWORK = "gcp:compute/network:Network"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
# Service Networking's refusal while Cloud SQL holds a deleted instance's resources
# (terraform-google-modules/terraform-google-sql-db#585; Cloud SQL: up to four days).
PRODUCERS_STILL_USING = ("Failed to delete connection; Producer services (e.g. CloudSQL, Cloud Memstore, etc.) "
                         "are still using this connection.")


def deleted_types(project) -> list[str]:
    return [entry["type"] for entry in project.echo_log() if entry["op"] == "delete"]


def holds(project) -> list[Path]:
    return sorted((Path(project.env[ECHO_STORE_ENV]) / "producer-holds").glob("*.json"))


def test_gke_destroy_ends_the_connection_cloud_sql_still_holds_and_deletes_the_network(gke_project):
    gke_project.pulumi(*UP)
    gke_project.reset_echo_log()
    gke_project.pulumi("destroy", "--yes")
    deleted = deleted_types(gke_project)
    # The instance goes first, so Cloud SQL holds the connection when it is deleted…
    assert deleted.index(SQL) < deleted.index(CONNECTION) < deleted.index(NETWORK)
    assert len(holds(gke_project)) == 1
    # …and yet nothing is left: the peering was removed, so the network could be deleted.
    assert live_resources(gke_project.env[ECHO_STORE_ENV]) == []


def test_with_the_providers_default_deletion_policy_destroy_stops_at_the_connection(gke_project):
    apply_edit(gke_project.dir, 'return "REMOVE_PEERING" if owns_network else "ABANDON"',
               'return None if owns_network else "ABANDON"')
    gke_project.pulumi(*UP)
    destroy = gke_project.pulumi("destroy", "--yes", check=False)
    assert destroy.returncode != 0
    assert PRODUCERS_STILL_USING in destroy.output, destroy.output
    # The connection, and the network its peering sits on, are still there.
    live_types = {r["type"] for r in live_resources(gke_project.env[ECHO_STORE_ENV])}
    assert {CONNECTION, NETWORK} <= live_types


# --- an existing network, and what only GCP can answer at preview --------------------------------

EXISTING_NETWORK = f"projects/{PROJECT_ID}/global/networks/default"


def seed_existing_connection(project, *ranges: str) -> Path:
    """A private services connection made outside the stack on the project's `default` network, as
    a project that already gives Cloud SQL private IPs has (the echo cloud's store format)."""
    store = Path(project.env[ECHO_STORE_ENV])
    store.mkdir(parents=True, exist_ok=True)
    path = store / "existing-connection.json"
    path.write_text(json.dumps({
        "urn": "urn:pulumi:other::other::gcp:servicenetworking/connection:Connection::existing",
        "type": CONNECTION, "provider": "gcp", "id": f"{EXISTING_NETWORK}:servicenetworking.googleapis.com",
        "outputs": {"network": EXISTING_NETWORK, "service": "servicenetworking.googleapis.com",
                    "reservedPeeringRanges": list(ranges), "peering": "servicenetworking-googleapis-com"},
    }))
    return path


def config_error_line(run, key: str) -> str:
    assert run.returncode != 0, run.output
    assert "Traceback" not in run.output, run.output
    line = next((l for l in run.output.splitlines() if f"- kestra-gcp:{key}:" in l), None)
    assert line is not None, run.output
    return line


def own_range(project) -> str:
    [own] = [r for r in live_resources(project.env[ECHO_STORE_ENV], "gcp:compute/globalAddress:GlobalAddress")
             if r["outputs"].get("purpose") == "VPC_PEERING"]
    return own["outputs"]["name"]


def test_an_existing_networks_other_ranges_are_kept_in_its_connection(gke_project):
    existing = seed_existing_connection(gke_project, "google-managed-services-default")
    gke_project.set_config({"gkeNetwork": "default"})
    gke_project.pulumi(*UP)
    # update_on_creation_fail patched the connection with the stack's list: the range it held stays.
    held = json.loads(existing.read_text())["outputs"]["reservedPeeringRanges"]
    assert sorted(held) == sorted(["google-managed-services-default", own_range(gke_project)])
    # The next preview reads the connection again, the stack's own range now in it: nothing changes.
    gke_project.pulumi("preview", "--expect-no-changes")


def test_without_reading_them_the_patch_drops_the_ranges_the_connection_held(gke_project):
    apply_edit(gke_project.dir, "        if not self.owns_network:\n            # The network's connection",
               "        if False:\n            # The network's connection")
    existing = seed_existing_connection(gke_project, "google-managed-services-default")
    gke_project.set_config({"gkeNetwork": "default"})
    gke_project.pulumi(*UP)
    assert json.loads(existing.read_text())["outputs"]["reservedPeeringRanges"] == [own_range(gke_project)]


def test_a_missing_gke_network_stops_preview_naming_the_key(gke_project):
    gke_project.set_config({"gkeNetwork": "shared-vpc"})
    line = config_error_line(gke_project.pulumi("preview", check=False), "gkeNetwork")
    assert f"project {PROJECT_ID} has no network 'shared-vpc'" in line
    assert gke_project.echo_log() == []


def test_a_zone_the_region_lacks_stops_preview_naming_the_key(gke_project):
    gke_project.set_config({"gkeLocation": "europe-west2-d"})  # europe-west2: a, b, c
    line = config_error_line(gke_project.pulumi("preview", check=False), "gkeLocation")
    assert "its zones are europe-west2-a, europe-west2-b, europe-west2-c" in line
