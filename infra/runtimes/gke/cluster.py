"""GKE Standard: the cluster, its node pool and service account, and the Kubernetes provider that
reaches it through `gke-gcloud-auth-plugin` (no kubeconfig file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import yaml

from infra.runtimes.gke.network import NODE_TAG, PODS_RANGE_NAME, SERVICES_RANGE_NAME

# The control plane's block in a private cluster (a /28 outside the network's other ranges).
MASTER_CIDR = "172.16.0.32/28"
# GKE's least-privilege role for node service accounts ("Use least privilege IAM service accounts").
NODE_ROLE = "roles/container.defaultNodeServiceAccount"
NODE_DISK_GB = 50
NODE_DISK_TYPE = "pd-balanced"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True)
class GkeClusterArgs:
    project: str
    name: str  # the cluster's name, kestra-<stack>
    location: str  # zone or region
    network_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    machine_type: str
    min_nodes: int
    max_nodes: int
    release_channel: str
    labels: dict = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


def node_service_account_id(cluster_name: str) -> str:
    """<cluster>-nodes within the 6-30 characters a service account id may have."""
    suffix = "-nodes"
    return cluster_name[: 30 - len(suffix)].rstrip("-") + suffix


# Google's credential plugin for kubectl and client-go (GKE 1.26+): it mints a token from the
# caller's gcloud/ADC credentials at each use, so the kubeconfig itself holds no credential.
AUTH_PLUGIN = "gke-gcloud-auth-plugin"
AUTH_PLUGIN_INSTALL_HINT = (
    "Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin, or the "
    "google-cloud-cli-gke-gcloud-auth-plugin package): "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)


def render_kubeconfig(endpoint: str, ca_certificate_b64: str) -> str:
    """A kubeconfig for the cluster at `endpoint` whose user runs `gke-gcloud-auth-plugin`.

    It depends on the cluster alone (endpoint and CA), never on a token, so it is the same on every
    run: no provider diff on each preview, and `destroy`/`refresh` (which do not run the program)
    still authenticate with fresh credentials.
    """
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "gke", "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca_certificate_b64}}
            ],
            "users": [
                {
                    "name": "gke",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": AUTH_PLUGIN,
                            "installHint": AUTH_PLUGIN_INSTALL_HINT,
                            "provideClusterInfo": True,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
            "contexts": [{"name": "gke", "context": {"cluster": "gke", "user": "gke"}}],
            "current-context": "gke",
        },
        sort_keys=False,
    )


class GkeCluster(pulumi.ComponentResource):
    """A GKE Standard cluster (not Autopilot: Kestra's script tasks need a privileged
    Docker-in-Docker sidecar, which Autopilot refuses) with one autoscaled node pool.

    Workload Identity on (pool `<project>.svc.id.goog`, nodes on the GKE metadata server), shielded
    nodes with secure boot and integrity monitoring, the legacy metadata endpoints off, a release
    channel with auto-upgrade and auto-repair, private nodes (no external IP; Cloud NAT in
    `GkeNetwork`) and a public control-plane endpoint (Google IAM authentication) so `pulumi up`
    can reach it from a workstation or CI. The nodes run as a service account of their own with
    `roles/container.defaultNodeServiceAccount` only, never the Compute Engine default account.

    `provider` is a Kubernetes provider for this cluster: endpoint and CA from the cluster, and
    `gke-gcloud-auth-plugin` as the credential (it must be on the PATH of whoever runs `pulumi`;
    README, "Kestra on GKE"). `cluster_identifier` is the cluster's id, so only a new cluster
    replaces the provider and the Kubernetes objects in it.

    Depends only on the network: nothing here waits for Cloud SQL.
    """

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:GkeCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        deps = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.node_account = gcp.serviceaccount.Account(
            "node-service-account",
            project=args.project,
            account_id=node_service_account_id(args.name),
            display_name="Kestra GKE nodes",
            description="Runs the GKE nodes of Kestra; managed by Pulumi (kestra-gcp)",
            opts=deps,
        )
        self.node_grant = gcp.projects.IAMMember(
            "node-service-account-role",
            project=args.project,
            role=NODE_ROLE,
            member=self.node_account.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=child,
        )
        hardened_node = {
            "service_account": self.node_account.email,
            "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
            "metadata": {"disable-legacy-endpoints": "true"},
        }
        self.cluster = gcp.container.Cluster(
            "cluster",
            name=args.name,
            project=args.project,
            location=args.location,
            network=args.network_id,
            subnetwork=args.subnet_id,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={
                "cluster_secondary_range_name": PODS_RANGE_NAME,
                "services_secondary_range_name": SERVICES_RANGE_NAME,
            },
            # The default pool is replaced by `node-pool`, which can change without touching the cluster.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=hardened_node,
            workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},
            release_channel={"channel": args.release_channel},
            enable_shielded_nodes=True,
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": False,
                "master_ipv4_cidr_block": MASTER_CIDR,
            },
            addons_config={"http_load_balancing": {"disabled": False}},  # GKE Ingress
            resource_labels=args.labels,
            # No data lives in the cluster (Cloud SQL and GCS hold it): destroy may delete it.
            deletion_protection=False,
            opts=pulumi.ResourceOptions.merge(
                deps,
                pulumi.ResourceOptions(ignore_changes=["nodeConfig", "initialNodeCount"]),
            ),
        )
        self.node_pool = gcp.container.NodePool(
            "node-pool",
            project=args.project,
            location=args.location,
            cluster=self.cluster.name,
            initial_node_count=max(args.min_nodes, 1),
            autoscaling={"min_node_count": args.min_nodes, "max_node_count": args.max_nodes},
            management={"auto_repair": True, "auto_upgrade": True},
            node_config={
                **hardened_node,
                "machine_type": args.machine_type,
                "disk_size_gb": NODE_DISK_GB,
                "disk_type": NODE_DISK_TYPE,
                "tags": [NODE_TAG],
                "labels": args.labels,
            },
            # The autoscaler owns the size once the pool exists. Nothing here waits for the node
            # role: GKE creates the cluster and the pool without it, the nodes register, and only
            # their logs and metrics are refused until the grant lands (GKE docs, "Troubleshoot
            # service accounts in GKE": a missing roles/container.defaultNodeServiceAccount is
            # flagged, "Grant roles/container.defaultNodeServiceAccount role to Node service
            # account to allow for non-degraded operations"). The grant waits only for the
            # account, so it lands while the cluster is still being created (5-15 minutes).
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )
        kubeconfig = pulumi.Output.all(self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate).apply(
            lambda v: render_kubeconfig(v[0], v[1])
        )
        self.provider = k8s.Provider(
            "gke",
            kubeconfig=kubeconfig,
            cluster_identifier=self.cluster.id,
            # A cluster deleted behind Pulumi's back must not block `destroy` of what was in it.
            delete_unreachable=True,
            opts=child,
        )
        self.cluster_name = self.cluster.name
        self.register_outputs({"name": self.cluster_name, "endpoint": self.cluster.endpoint, "node_pool": self.node_pool.id})
