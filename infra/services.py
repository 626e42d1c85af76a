"""Enables the Google APIs the stack uses."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

REQUIRED_SERVICES = (
    "storage.googleapis.com",
    "bigquery.googleapis.com",
    "pubsub.googleapis.com",
    "iam.googleapis.com",
)
# What the gke profile adds: GKE, Cloud SQL, its private services access, and Compute Engine
# (network, addresses, load balancer, certificates, Cloud Armor).
GKE_SERVICES = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "sqladmin.googleapis.com",
    "servicenetworking.googleapis.com",
)


@dataclass(frozen=True)
class ProjectServicesArgs:
    project: str
    services: tuple = REQUIRED_SERVICES


class ProjectServices(pulumi.ComponentResource):
    """Turns on each API in `services` for the project.

    Does not turn them off on destroy: other workloads in the project may rely on them, and
    disabling an API can take dependent resources with it.
    """

    def __init__(self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:ProjectServices", name, None, opts)
        self.services = [
            gcp.projects.Service(
                service.split(".")[0],
                project=args.project,
                service=service,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for service in args.services
        ]
        self.register_outputs({"services": [s.service for s in self.services]})
