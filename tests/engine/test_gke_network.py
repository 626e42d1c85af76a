"""The gke profile's network against the echo cloud's model of Google's private services access
(tools/pulumi/cmd/pulumi-resource-echo/refusals_network.go): destroy while Cloud SQL still holds
the connection, an existing network's other peering ranges, and the lookups that stop a preview
at a network or zone GCP does not have."""

from __future__ import annotations

from pathlib import Path

from tests.engine.conftest import ECHO_STORE_ENV
from tests.engine.test_lifecycle import UP
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
    network_module = gke_project.dir / "infra" / "gke_network.py"
    source = network_module.read_text()
    old_policy = source.replace('return "REMOVE_PEERING" if owns_network else "ABANDON"',
                                'return None if owns_network else "ABANDON"')
    assert old_policy != source
    network_module.write_text(old_policy)
    gke_project.pulumi(*UP)
    destroy = gke_project.pulumi("destroy", "--yes", check=False)
    assert destroy.returncode != 0
    assert PRODUCERS_STILL_USING in destroy.output, destroy.output
    # The connection, and the network its peering sits on, are still there.
    live_types = {r["type"] for r in live_resources(gke_project.env[ECHO_STORE_ENV])}
    assert {CONNECTION, NETWORK} <= live_types
