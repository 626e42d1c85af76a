"""Kestra on GKE, the gke profile's runtime: network, cluster, Cloud SQL, HTTPS endpoint and the
Helm release, wired so that the two slow parts (cluster and Cloud SQL, 5-15 minutes each) are
created side by side and only the release waits for both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi

from infra.config import GkeSettings, StackConfig
from infra.runtimes.contract import KestraRuntimeOutputs
from infra.runtimes.gke.cloudsql import CloudSqlArgs, CloudSqlPostgres
from infra.runtimes.gke.cluster import GkeCluster, GkeClusterArgs
from infra.runtimes.gke.endpoint import HttpsEndpoint, HttpsEndpointArgs
from infra.runtimes.gke.kestra import KestraOnGke, KestraOnGkeArgs
from infra.runtimes.gke.network import GkeNetwork, GkeNetworkArgs
from kestra.config import DEFAULT_GEMINI_MODEL

# How long each API call of the flows' deployment may retry: the load balancer answers 502 or
# drops connections for several minutes after the Ingress appears, until its health checks pass.
API_DEADLINE_SECONDS = 1200.0


@dataclass(frozen=True)
class KestraGkeArgs:
    project: str
    region: str
    gke: GkeSettings
    username: str
    service_account_email: pulumi.Input[str]
    service_account_name: pulumi.Input[str]
    password: Optional[pulumi.Input[str]] = None
    postgres_password: Optional[pulumi.Input[str]] = None
    github_token: Optional[pulumi.Input[str]] = None
    gemini_api_key: Optional[pulumi.Input[str]] = None
    gemini_model: str = DEFAULT_GEMINI_MODEL
    keep_data: bool = False
    labels: dict = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # the project's APIs

    @classmethod
    def from_config(
        cls,
        config: StackConfig,
        service_account_email: pulumi.Input[str],
        service_account_name: pulumi.Input[str],
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> "KestraGkeArgs":
        if config.gke is None or config.gcp is None:
            raise ValueError("gke: the stack config does not select the gke profile")
        return cls(
            project=config.gcp.project,
            region=config.gcp.region,
            gke=config.gke,
            username=config.access.username,
            service_account_email=service_account_email,
            service_account_name=service_account_name,
            password=config.access.password,
            postgres_password=config.postgres_password,
            github_token=config.github_token,
            gemini_api_key=config.gemini_api_key,
            gemini_model=config.gemini_model,
            keep_data=config.keep_data,
            labels=config.gcp.labels,
            depends_on=depends_on,
        )


class KestraGke(pulumi.ComponentResource):
    """Everything the gke profile adds to the GCP side, and the runtime contract it yields.

    Children: `network` (`GkeNetwork`), `cluster` (`GkeCluster`, on the subnet), `database`
    (`CloudSqlPostgres`, on the private services access: it never waits for the cluster, nor the
    cluster for it), `endpoint` (`HttpsEndpoint`: address, certificate, source ranges) and `kestra`
    (`KestraOnGke`: the release, which needs both the node pool and the database).
    """

    def __init__(self, name: str, args: KestraGkeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:KestraGke", name, None, opts)
        settings = args.gke
        child = pulumi.ResourceOptions(parent=self)
        apis = list(args.depends_on)
        self.network = GkeNetwork(
            "network",
            GkeNetworkArgs(project=args.project, region=args.region, network=settings.network,
                           keep_data=args.keep_data, depends_on=apis),
            child,
        )
        self.cluster = GkeCluster(
            "cluster",
            GkeClusterArgs(
                project=args.project,
                name=settings.name_prefix,
                location=settings.location,
                network_id=self.network.network_id,
                subnet_id=self.network.subnet_id,
                machine_type=settings.machine_type,
                min_nodes=settings.min_nodes,
                max_nodes=settings.max_nodes,
                release_channel=settings.release_channel,
                labels=args.labels,
                # Not the NAT: GKE creates a private cluster without it (its nodes reach the control
                # plane and Google's APIs inside the VPC, privateIpGoogleAccess), so the 5-15 minute
                # create starts without waiting for the router. The release waits for the NAT.
                depends_on=apis,
            ),
            child,
        )
        self.database = CloudSqlPostgres(
            "cloudsql",
            CloudSqlArgs(
                project=args.project,
                region=args.region,
                tier=settings.cloud_sql_tier,
                network_id=self.network.network_id,
                keep_data=args.keep_data,
                password=args.postgres_password,
                labels=args.labels,
                depends_on=[*apis, self.network.private_services],
            ),
            child,
        )
        self.endpoint = HttpsEndpoint(
            "endpoint",
            HttpsEndpointArgs(project=args.project, name_prefix=settings.name_prefix, domain=settings.domain,
                              source_ranges=settings.source_ranges, depends_on=apis),
            child,
        )
        self.kestra = KestraOnGke(
            "kestra",
            KestraOnGkeArgs(
                project=args.project,
                region=args.region,
                provider=self.cluster.provider,
                # Pods need nodes, and the private nodes pull Kestra's images from Docker Hub
                # through Cloud NAT: they have no external IP ("About network isolation in GKE",
                # cloud.google.com/kubernetes-engine/docs/concepts/network-isolation: outbound
                # internet access of private nodes is through Cloud NAT).
                cluster_ready=[self.cluster.node_pool, self.network.nat],
                workload_pool_ready=[self.cluster.cluster],
                database=self.database,
                endpoint=self.endpoint,
                service_account_email=args.service_account_email,
                service_account_name=args.service_account_name,
                image_tag=settings.kestra_image_tag,
                worker_replicas=settings.worker_replicas,
                domain=settings.domain,
                username=args.username,
                password=args.password,
                github_token=args.github_token,
                gemini_api_key=args.gemini_api_key,
                gemini_model=args.gemini_model,
                keep_data=args.keep_data,
                labels=args.labels,
                depends_on=apis,
                chart_repository=settings.chart_repository,
                chart_is_local=settings.chart_is_local,
            ),
            child,
        )
        self.outputs = KestraRuntimeOutputs(
            url=self.kestra.url,
            password=self.kestra.password,
            internal_url=self.kestra.internal_url,
            ready=self.kestra.ready,
            ca_certificate=self.endpoint.ca_certificate,
            deadline=API_DEADLINE_SECONDS,
            configures_secrets=True,
        )
        self.cluster_name = self.cluster.cluster_name
        self.cloud_sql_instance = self.database.connection_name
        self.register_outputs(
            {"url": self.kestra.url, "cluster_name": self.cluster_name, "cloud_sql_instance": self.cloud_sql_instance}
        )
