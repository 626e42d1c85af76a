"""The network Kestra on GKE lives in: a VPC-native subnet, Cloud SQL's private services access,
Cloud NAT for the private nodes, and the firewall opening for Google's load-balancer health checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_gcp as gcp

# Address plan (RFC 1918, outside the 10.128.0.0/9 of an auto-mode network such as `default`).
SUBNET_CIDR = "10.20.0.0/20"  # nodes
PODS_RANGE_NAME, PODS_CIDR = "pods", "10.24.0.0/14"
SERVICES_RANGE_NAME, SERVICES_CIDR = "services", "10.28.0.0/20"
# Private services access: Cloud SQL's private IPs come from this block (Google asks for /24 or
# larger; a /20 leaves room for more instances).
PRIVATE_SERVICES_PREFIX_LENGTH = 20
SERVICE_NETWORKING = "servicenetworking.googleapis.com"
# The VPC peering a private services connection adds to the network (the connection's `peering`).
SERVICE_NETWORKING_PEERING = "servicenetworking-googleapis-com"
# Where Google's load balancers send health checks from (Cloud Load Balancing docs, "Health
# checks overview", probe IP ranges for global external Application Load Balancers).
HEALTH_CHECK_RANGES = ("130.211.0.0/22", "35.191.0.0/16")
NODE_TAG = "kestra-gke-node"
KESTRA_PORTS = ("8080", "8081")  # Kestra's API/UI and management (health) ports


def connection_deletion_policy(owns_network: bool) -> str:
    """How `pulumi destroy` ends the private services connection.

    Cloud SQL keeps a deleted instance's producer resources on the connection for up to four days
    (cloud.google.com/sql/docs/postgres/delete-instance), and until then Service Networking refuses
    to delete it ("Failed to delete connection; Producer services (e.g. CloudSQL, Cloud Memstore,
    etc.) are still using this connection": terraform-provider-google#16275). With the provider's
    default ("DELETE") the destroy stops there, and the peering it leaves blocks deleting the
    network. "REMOVE_PEERING" tries the same delete and, when it is refused, removes the peering
    from the network so the network can go (pulumi_gcp/servicenetworking/connection.py, "Deleting a
    connection"): right for a network the stack owns, as the destroy deletes the instance first
    (it depends on the connection) and the network right after. In a network the stack does not
    own, others may use the connection: "ABANDON" leaves it, and its peering, in place.
    """
    return "REMOVE_PEERING" if owns_network else "ABANDON"


@dataclass(frozen=True)
class GkeNetworkArgs:
    project: str
    region: str
    network: str = ""  # name of an existing network; "" creates one
    keep_data: bool = False
    depends_on: Sequence[pulumi.Resource] = ()


class GkeNetwork(pulumi.ComponentResource):
    """A network for the cluster and Cloud SQL, reachable from the internet only through Kestra's
    load balancer.

    - the VPC (`network=""`: one of the stack's own, custom subnets; otherwise the named network),
      a subnet with secondary ranges for pods and services (VPC-native) and Private Google Access;
    - private services access (an allocated range and the `servicenetworking` peering) so Cloud SQL
      gets a private IP only. In a network the stack does not own, the peering may exist already
      (`update_on_creation_fail` adds the range to it, keeping the ranges it holds) and is
      abandoned, not deleted, on destroy;
      in the stack's own network, destroy removes the peering should Cloud SQL still hold the
      connection (`connection_deletion_policy`);
    - a Cloud Router with Cloud NAT for the subnet only: the nodes have no external IP, yet pull
      images from Docker Hub and reach the internet for the flows;
    - an ingress rule letting Google's health-check ranges reach Kestra's ports on the nodes.

    With `keep_data` the VPC, the range and the peering are retained on destroy, as the Cloud SQL
    instance that keeps Kestra's data sits on them. Nothing here depends on the cluster or Cloud SQL.
    """

    def __init__(self, name: str, args: GkeNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:GkeNetwork", name, None, opts)
        deps = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        kept = pulumi.ResourceOptions.merge(deps, pulumi.ResourceOptions(retain_on_delete=args.keep_data))
        self.owns_network = not args.network
        if self.owns_network:
            self.network = gcp.compute.Network(
                "network",
                project=args.project,
                auto_create_subnetworks=False,
                routing_mode="REGIONAL",
                description="Kestra on GKE; managed by Pulumi (kestra-gcp)",
                opts=kept,
            )
            self.network_id: pulumi.Output[str] = self.network.id
            self.network_name: pulumi.Output[str] = self.network.name
        else:
            self.network = None
            self.network_id = pulumi.Output.from_input(f"projects/{args.project}/global/networks/{args.network}")
            self.network_name = pulumi.Output.from_input(args.network)

        self.subnet = gcp.compute.Subnetwork(
            "subnet",
            project=args.project,
            region=args.region,
            network=self.network_id,
            ip_cidr_range=SUBNET_CIDR,
            secondary_ip_ranges=[
                {"range_name": PODS_RANGE_NAME, "ip_cidr_range": PODS_CIDR},
                {"range_name": SERVICES_RANGE_NAME, "ip_cidr_range": SERVICES_CIDR},
            ],
            private_ip_google_access=True,
            description="GKE nodes of Kestra; managed by Pulumi (kestra-gcp)",
            opts=deps,
        )
        self.private_services_range = gcp.compute.GlobalAddress(
            "private-services-range",
            project=args.project,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=PRIVATE_SERVICES_PREFIX_LENGTH,
            network=self.network_id,
            description="Private services access (Cloud SQL); managed by Pulumi (kestra-gcp)",
            opts=kept,
        )
        ranges: pulumi.Input = [self.private_services_range.name]
        if not self.owns_network:
            # The network's connection, if it has one, is patched with this list and Force
            # (update_on_creation_fail): it must keep the ranges it holds (`held_ranges`).
            ranges = pulumi.Output.all(self.held_ranges(args), self.private_services_range.name).apply(
                lambda held_and_own: sorted({*held_and_own[0], held_and_own[1]})
            )
        self.private_services = gcp.servicenetworking.Connection(
            "private-services",
            network=self.network_id,
            service=SERVICE_NETWORKING,
            reserved_peering_ranges=ranges,
            update_on_creation_fail=not self.owns_network,
            deletion_policy=connection_deletion_policy(self.owns_network),
            opts=kept,
        )
        self.router = gcp.compute.Router(
            "router", project=args.project, region=args.region, network=self.network_id, opts=deps
        )
        self.nat = gcp.compute.RouterNat(
            "nat",
            project=args.project,
            region=args.region,
            router=self.router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[{"name": self.subnet.id, "source_ip_ranges_to_nats": ["ALL_IP_RANGES"]}],
            opts=deps,
        )
        self.health_checks = gcp.compute.Firewall(
            "lb-health-checks",
            project=args.project,
            network=self.network_id,
            direction="INGRESS",
            source_ranges=list(HEALTH_CHECK_RANGES),
            target_tags=[NODE_TAG],
            allows=[{"protocol": "tcp", "ports": list(KESTRA_PORTS)}],
            description="Google load-balancer health checks to Kestra; managed by Pulumi (kestra-gcp)",
            opts=deps,
        )
        self.subnet_id = self.subnet.id
        self.register_outputs(
            {"network_id": self.network_id, "subnet_id": self.subnet_id, "private_services": self.private_services.id}
        )

    def held_ranges(self, args: GkeNetworkArgs) -> pulumi.Input:
        """The allocated ranges the existing network's private services connection holds, read
        from GCP at every preview and update ([] when the network has none).

        With update_on_creation_fail the provider patches an existing connection with this
        resource's ranges alone, UpdateMask("reservedPeeringRanges").Force(true)
        (terraform-provider-google, google/services/servicenetworking/
        resource_service_networking_connection.go): ranges left out are dropped, and the services
        using them (other Cloud SQL instances, Memorystore…) lose them. No data source reads a
        connection, so it is read as a resource (`Connection.get`: the provider imports it by
        `<network>:<service>` and reads its reservedPeeringRanges) when Service Networking's
        peering shows that there is one (compute.getNetworkPeering; the peering is named after
        the service).
        """
        network_id = f"projects/{args.project}/global/networks/{args.network}"
        try:
            peering = gcp.compute.get_network_peering(network=network_id, name=SERVICE_NETWORKING_PEERING)
            connected = bool(peering.state or peering.peer_network)
        except Exception as exc:  # noqa: BLE001 a peering that is not there
            if "not found" not in str(exc):
                raise
            connected = False
        if not connected:
            return []
        held = gcp.servicenetworking.Connection.get(
            "held-private-services", f"{network_id}:{SERVICE_NETWORKING}", opts=pulumi.ResourceOptions(parent=self)
        )
        return held.reserved_peering_ranges.apply(lambda r: list(r or []))
