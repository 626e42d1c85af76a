"""Cloud SQL for PostgreSQL 17: Kestra's repository and queue on GKE."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

DATABASE_VERSION = "POSTGRES_17"
# Enterprise, not Enterprise Plus (the default for PostgreSQL 16+), which allows the small tiers.
EDITION = "ENTERPRISE"
DISK_TYPE = "PD_SSD"
DISK_GB = 10  # grows by itself (disk_autoresize)
BACKUP_START = "02:00"  # UTC
RETAINED_BACKUPS = 7
LOG_RETENTION_DAYS = 7  # point-in-time recovery window
DATABASE = "kestra"
USER = "kestra"


@dataclass(frozen=True)
class CloudSqlArgs:
    project: str
    region: str
    tier: str
    network_id: pulumi.Input[str]  # the VPC whose private services access gives the private IP
    keep_data: bool
    password: Optional[pulumi.Input[str]] = None  # None: generated
    labels: dict = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # the private services access peering, the API


def _first_cert(certs) -> str:
    first = (certs or [{}])[0]
    return getattr(first, "cert", None) or (first.get("cert") if isinstance(first, dict) else None) or ""


class CloudSqlPostgres(pulumi.ComponentResource):
    """A PostgreSQL 17 instance with a private IP only (no public IP, reached through the
    network's private services access), SSL required (`ENCRYPTED_ONLY`: Kestra verifies the
    server's CA, see `server_ca`), automated daily backups kept 7 and point-in-time recovery, a
    database `kestra` and a user `kestra` whose password is a Pulumi secret (generated unless given).

    `keep_data` protects the data both ways: Pulumi's `deletion_protection` and Cloud SQL's own
    (`settings.deletion_protection_enabled`) are on, and the instance, database and user are
    retained on `pulumi destroy`. Without it destroy deletes the instance and its backups.
    Database and user are abandoned rather than dropped on delete: the instance takes them along,
    and PostgreSQL refuses to drop a role that owns Kestra's tables.

    Depends on the network only: nothing here waits for the GKE cluster.
    """

    def __init__(self, name: str, args: CloudSqlArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:CloudSqlPostgres", name, None, opts)
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=args.keep_data)
        self.instance = gcp.sql.DatabaseInstance(
            "instance",
            project=args.project,
            region=args.region,
            database_version=DATABASE_VERSION,
            deletion_protection=args.keep_data,
            settings={
                "tier": args.tier,
                "edition": EDITION,
                "availability_type": "ZONAL",
                "disk_type": DISK_TYPE,
                "disk_size": DISK_GB,
                "disk_autoresize": True,
                "deletion_protection_enabled": args.keep_data,
                "ip_configuration": {
                    "ipv4_enabled": False,
                    "private_network": args.network_id,
                    "ssl_mode": "ENCRYPTED_ONLY",
                },
                "backup_configuration": {
                    "enabled": True,
                    "start_time": BACKUP_START,
                    "point_in_time_recovery_enabled": True,
                    "transaction_log_retention_days": LOG_RETENTION_DAYS,
                    "backup_retention_settings": {"retained_backups": RETAINED_BACKUPS, "retention_unit": "COUNT"},
                },
                "user_labels": args.labels,
            },
            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(depends_on=list(args.depends_on))),
        )
        self.database = gcp.sql.Database(
            "database",
            project=args.project,
            instance=self.instance.name,
            name=DATABASE,
            deletion_policy="ABANDON",
            opts=kept,
        )
        if args.password is not None:
            password = pulumi.Output.secret(args.password)
        else:
            password = random.RandomPassword(
                "password", length=32, special=False, min_upper=2, min_lower=2, min_numeric=2,
                opts=pulumi.ResourceOptions(parent=self),
            ).result
        self.user = gcp.sql.User(
            "user",
            project=args.project,
            instance=self.instance.name,
            name=USER,
            password=password,
            deletion_policy="ABANDON",
            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(additional_secret_outputs=["password"])),
        )
        self.connection_name: pulumi.Output[str] = self.instance.connection_name
        self.private_ip: pulumi.Output[str] = self.instance.private_ip_address
        # The CA that signs the server's certificate (what Kestra's JDBC driver verifies against).
        self.server_ca: pulumi.Output[str] = self.instance.server_ca_certs.apply(_first_cert)
        self.database_name: pulumi.Output[str] = self.database.name
        self.user_name: pulumi.Output[str] = self.user.name
        self.password: pulumi.Output[str] = pulumi.Output.secret(password)
        self.register_outputs(
            {"connection_name": self.connection_name, "private_ip": self.private_ip, "password": self.password}
        )
