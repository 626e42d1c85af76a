"""Ordering mutants: each removes one ordering edge the gcp or gke profile relies on — a
`depends_on`, or an output passed as an input — from the test's copy of the program, and a first
`up` on the echo plugins must then fail with the message GCP would answer, for the resource that
lost its edge (tools/pulumi/cmd/pulumi-resource-echo/refusals*.go) — or Helm's wait, for the pods'
needs (refusals_helm.go), or Kestra, for a write GCS refuses (the stand-in's
store_internal_storage_in_gcs). A mutant that survived would be an edge the stack does not need, or
a refusal the echo cloud does not model.

A first `up` costs tens of seconds whether it fails early or not (the program still registers
everything), so mutants whose refusals cannot mask each other share one `up --continue-on-error`
(a batch): no mutant's refused resource depends on another's in its batch, and each test asserts
the failure of its own resource with its own message. Slow creates are given more time than
elsewhere, and enabling an API more still (the program registers the gke profile's resources over
seconds), so that a resource created alongside the one it needs meets it still being created
however loaded the machine is.

Some of these creates are made slower still in one batch (SLOWER): the one whose edge its mutant
removes, so that what needs it starts while it is being created, however the engine schedules the
rest.

Edges that are gone, and why:
- The Helm release's waits for the Workload Identity binding and the internal-storage grant: Kestra
  only builds its GCS client at boot (kestra-io/storage-gcs, GcsStorage.init) and first uses both at
  a write to its internal storage, so the flows' resources (KV values, namespace files) wait for
  them instead (`ready`; storage-writes-wait-for-*).
- The release's explicit waits for the Cloud SQL user and database: its values name both by their
  outputs (Kestra's datasource), which orders it after them (release-values-name-the-cloud-sql-*).
- The release's wait for the APIs: the release only reaches the cluster's API server, through a
  provider that waits for the cluster, which waits for them.
- The node pool's wait for the node account's role: GKE creates the pool without it and the nodes
  register; only their logs and metrics are refused until the grant lands ("Troubleshoot service
  accounts in GKE"), and the grant, which waits only for the account, lands while the cluster is
  still being created. Nothing refuses a create without it, so nothing waits for it.

Edges proven through another, with the answer GCP gives either way:
- The notification's topic (its id as an input): the notification also waits for the publisher
  grant on that topic, which names the topic by its output, so the topic is there before the
  notification whichever way the notification names it. Without the grant edge as well, GCS answers
  a missing topic as a missing grant, "The service account '<agent>' does not have permission to
  publish messages to to the Cloud Pub/Sub topic '<topic>', or that topic does not exist."
  (notification-waits-for-the-storage-agents-publisher-grant, publisher-grant-names-the-topic-by-
  its-output).
- The node pool's node account (its email in node_config): the pool names its cluster by its
  output (node-pool-names-the-cluster-by-its-output), and the cluster names the same account
  (cluster-names-the-node-account-by-its-output); GKE answers the pool as the cluster, "error
  creating NodePool: googleapi: Error 400: Service account "<email>" does not exist., badRequest"
  (refusals_gke.go and its Go test).
- The private services connection's network: the connection names the allocated range by its
  output, and the range names the network (private-services-range-names-the-network-by-its-output).
- The release's namespace: through the Secrets and the ConfigMap its values name
  (kubernetes-objects-wait-for-the-namespace proves theirs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.conftest import ECHO_PROVISIONING_ENV, PROJECT_ID
from tests.engine.test_lifecycle import UP

PROVISIONING_MS = 1500
ENABLEMENT_ENV = "PULUMI_ECHO_GCP_ENABLEMENT_MS"
ENABLEMENT_MS = 8000


@dataclass(frozen=True)
class Mutant:
    batch: str  # the `up` it shares with other mutants (BATCHES)
    edits: tuple  # (text in one file under infra/ or __main__.py, its replacement), applied in order
    resource: str  # the refused resource, as the CLI names it: "<type as shown> <name>"
    message: str  # what GCP answers (refusals.go), a regular expression


def lit(text: str) -> str:
    return re.escape(text)


def api_refused(kind: str, title: str) -> str:
    return lit(f"Error creating {kind}: googleapi: Error 403: {title} has not been used in project ")


EMAIL = f"kestra-sa@{PROJECT_ID}.iam.gserviceaccount.com"
SA = f"projects/{PROJECT_ID}/serviceAccounts/{EMAIL}"
GCP, GCP_APIS, GCP_PARENTS, GKE_NETWORK, GKE, GKE_SQL = "gcp", "gcp-apis", "gcp-parents", "gke-network", "gke", "gke-sql"
GKE_SUBNETS, GKE_NAT, GKE_NAT_SUBNET = "gke-subnets", "gke-nat", "gke-nat-subnet"
RELEASE_NODES, RELEASE_NAT, RELEASE_USER, RELEASE_DATABASE = ("release-nodes", "release-nat", "release-user",
                                                              "release-database")
WRITES_IDENTITY, WRITES_GRANT = "writes-identity", "writes-grant"
# batch -> (the profile's fixture, whether its refusals are of APIs not yet enabled)
BATCHES = {
    GCP: ("gcp_project", True), GCP_APIS: ("gcp_project", True), GCP_PARENTS: ("gcp_project", False),
    GKE_NETWORK: ("gke_project", True), GKE: ("gke_project", False), GKE_SQL: ("gke_project", False),
    GKE_SUBNETS: ("gke_project", False), GKE_NAT: ("gke_project", False), GKE_NAT_SUBNET: ("gke_project", False),
    RELEASE_NODES: ("gke_project", False), RELEASE_NAT: ("gke_project", False),
    RELEASE_USER: ("gke_project", False), RELEASE_DATABASE: ("gke_project", False),
    WRITES_IDENTITY: ("gke_project", False), WRITES_GRANT: ("gke_project", False),
}
# batch -> creates made slower than PROVISIONING_MS ("<type>[::<name>]": ms, the echo plugin's
# PULUMI_ECHO_GCP_SLOW_MS): the resource whose edge a mutant removes is still being created when
# the one that needs it starts, however the engine schedules the rest. Each stands for a create
# that takes Google minutes (a network, a node pool, a Cloud NAT, an IAM grant's propagation…).
SLOW_ENV = "PULUMI_ECHO_GCP_SLOW_MS"
SLOW_MS = 12000
SLOWER = {
    GKE_SUBNETS: {"gcp:compute/network:Network": 4000},
    GKE_NAT: {"gcp:compute/network:Network": 4000},
    GKE_NAT_SUBNET: {"gcp:compute/subnetwork:Subnetwork": 8000},
    GKE_SQL: {"gcp:serviceaccount/account:Account": 5000},
    RELEASE_NODES: {"gcp:container/nodePool:NodePool": SLOW_MS},
    RELEASE_NAT: {"gcp:compute/routerNat:RouterNat": SLOW_MS},
    RELEASE_USER: {"gcp:sql/user:User": SLOW_MS},
    RELEASE_DATABASE: {"gcp:sql/database:Database": SLOW_MS},
    WRITES_IDENTITY: {"gcp:serviceaccount/iAMMember:IAMMember::workload-identity": SLOW_MS},
    WRITES_GRANT: {"gcp:storage/bucketIAMMember:BucketIAMMember::internal-storage-objects": SLOW_MS},
}
# The grants name the account by its email instead of its output, and wait for what the account
# waits for (the APIs): they are created alongside the account and the resources they are on.
GRANTS_WITHOUT_THE_ACCOUNT = (
    ('member = self.account.email.apply(lambda email: f"serviceAccount:{email}")',
     'member = f"serviceAccount:{args.account_id}@{args.project}.iam.gserviceaccount.com"'),
    ("child = pulumi.ResourceOptions(parent=self)\n        self.account = gcp.serviceaccount.Account(",
     "child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))\n"
     "        self.account = gcp.serviceaccount.Account("),
)
# Created alongside the instance, the user or database reaches Cloud SQL either before the
# instance's insert (404) or while it runs (400): both are Cloud SQL's answer (refusals.go).
SQL_INSTANCE_NOT_UP = "(" + "|".join((
    lit("Error 404: The Cloud SQL instance does not exist., instanceDoesNotExist"),
    lit("Error 400: Invalid request: Invalid request since instance is not running., invalid"))) + ")"
NAMED_INSTANCE = ("            database_version=DATABASE_VERSION,",
                  "            name=\"kestra-sql\",\n            database_version=DATABASE_VERSION,")
NET = f"projects/{PROJECT_ID}/global/networks/kestra-net"
NAMED_NETWORK = ("                auto_create_subnetworks=False,",
                 "                name=\"kestra-net\",\n                auto_create_subnetworks=False,")

NAMED_SUBNET = ('            "subnet",\n            project=args.project,',
                '            "subnet",\n            name="kestra-subnet",\n            project=args.project,')
SUBNET_ID = 'f"projects/{args.project}/regions/{args.region}/subnetworks/kestra-subnet"'


def network_missing(kind: str) -> str:
    return lit(f"Error creating {kind}: googleapi: Error 404: The resource '{NET}' was not found, notFound")


# Helm's wait as pulumi-kubernetes reports it (refusals_helm.go): the same whatever the pods lack.
RELEASE = "kubernetes:helm.sh/v3:Release kestra"
# A partial failure (the release was created): the CLI lists the provider's reasons, in full under
# Diagnostics (the release is the stack's only one).
RELEASE_TIMED_OUT = r"1 error occurred:[\s\S]*?\* " + lit('Helm release "kestra/kestra" was created, but failed to initialize completely. Use Helm CLI to '
                        "investigate.: failed to become available within allocated timeout. Error: Helm Release "
                        "kestra/kestra: context deadline exceeded")
READY = "self.ready: list[pulumi.Resource] = [self.release, self.workload_identity, self.storage_grant]"
# A KV value is written to the internal storage (the stand-in's store_internal_storage_in_gcs).
KV_WRITE = "pulumi-python:dynamic/kestra:KvEntry"
# The dynamic provider's traceback, in full under Diagnostics, ends with Kestra's answer.
KV_REFUSED = (lit("Traceback (most recent call last):") + r"[\s\S]*?KestraApiError: [^\n]*"
              + lit("unexpected answer 500 Internal Server Error: Internal server error: "
                    "com.google.cloud.storage.StorageException: "))

MUTANTS = {
    # --- gcp profile -----------------------------------------------------------------------------
    "bucket-waits-for-the-storage-api": Mutant(GCP_APIS, (
        ("opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(args.depends_on))),",
         "opts=child,"),), "gcp:storage:Bucket bucket", api_refused("Bucket", "Cloud Storage API")),
    "bucket-objects-name-the-bucket-by-its-output": Mutant(GCP, (
        ("bucket=self.bucket.name,\n                name=folder,", "bucket=args.bucket_name,\n                name=folder,"),
        ("bucket=self.bucket.name,\n                    name=object_name,",
         "bucket=args.bucket_name,\n                    name=object_name,")),
        "gcp:storage:BucketObject data-data-csv", api_refused("BucketObject", "Cloud Storage API")),
    "datasets-wait-for-the-bigquery-api": Mutant(GCP, (
        ("parent=self, retain_on_delete=args.keep_data, depends_on=list(args.depends_on)",
         "parent=self, retain_on_delete=args.keep_data"),),
        "gcp:bigquery:Dataset raw", api_refused("Dataset", "BigQuery API")),
    "topic-waits-for-the-pubsub-api": Mutant(GCP_APIS, (
        ("child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))\n        self.topic",
         "child = pulumi.ResourceOptions(parent=self)\n        self.topic"),),
        "gcp:pubsub:Topic topic", api_refused("Topic", "Cloud Pub/Sub API")),
    "publisher-grant-names-the-topic-by-its-output": Mutant(GCP_APIS, (
        ("topic=self.topic.name,\n            role=\"roles/pubsub.publisher\",",
         "topic=args.topic_name,\n            role=\"roles/pubsub.publisher\","),),
        "gcp:pubsub:TopicIAMMember gcs-agent-publisher", api_refused("TopicIAMMember", "Cloud Pub/Sub API")),
    "notification-waits-for-the-storage-agents-publisher-grant": Mutant(GCP, (
        ("opts=pulumi.ResourceOptions(parent=self, depends_on=[self.publisher_grant]),",
         "opts=pulumi.ResourceOptions(parent=self),"),),
        "gcp:storage:Notification upload-notification",
        lit(f"Error creating notification config for bucket {PROJECT_ID}-kestra: googleapi: Error 403: The service "
            "account 'service-") + r"\d+" + lit("@gs-project-accounts.iam.gserviceaccount.com' does not have permission "
                                               "to publish messages to to the Cloud Pub/Sub topic '//pubsub.googleapis"
                                               f".com/projects/{PROJECT_ID}/topics/file-upload-events', or that topic "
                                               "does not exist., forbidden")),
    "service-account-waits-for-the-iam-api": Mutant(GCP, (
        ("opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),\n        )\n        self.key",
         "opts=child,\n        )\n        self.key"),),
        "gcp:serviceaccount:Account service-account", api_refused("Account", "Identity and Access Management (IAM) API")),
    "key-names-the-account-by-its-output": Mutant(GCP, (
        ("service_account_id=self.account.name, opts=child",
         "service_account_id=f\"projects/{args.project}/serviceAccounts/{args.account_id}@{args.project}"
         ".iam.gserviceaccount.com\", opts=child"),),
        "gcp:serviceaccount:Key service-account-key",
        lit("Error creating service account key: googleapi: Error 403: Identity and Access Management (IAM) API "
            "has not been used in project ")),
    # The grants and the subscription are created alongside the resources they need (GCP_PARENTS:
    # these APIs are enabled in 1.5 s, the parents then take 1.5 s to create).
    "grants-name-the-account-by-its-output": Mutant(GCP_PARENTS, GRANTS_WITHOUT_THE_ACCOUNT,
        "gcp:projects:IAMMember project-bigquery-jobUser",
        lit(f"Request `Create IAM Members roles/bigquery.jobUser serviceAccount:{EMAIL} for project \"{PROJECT_ID}\"` "
            "returned error: Batch request and retried single request ") + ".*"
        + lit(f"both failed. Final error: Error applying IAM policy for project \"{PROJECT_ID}\": Error setting IAM "
              f"policy for project \"{PROJECT_ID}\": googleapi: Error 400: Service account {EMAIL} does not exist., "
              "badRequest")),
    "dataset-grants-name-the-datasets-by-their-outputs": Mutant(GCP_PARENTS, (
        *GRANTS_WITHOUT_THE_ACCOUNT,
        ("dataset_ids=bigquery.dataset_ids,", "dataset_ids={key: key for key in gcp_cfg.dataset_ids},")),
        "gcp:bigquery:DatasetIamMember dataset-raw-editor",
        lit(f"Error retrieving IAM policy for Bigquery Dataset {PROJECT_ID}/raw: googleapi: Error 404: Not found: "
            f"Dataset {PROJECT_ID}:raw, notFound")),
    "bucket-grant-names-the-bucket-by-its-output": Mutant(GCP_PARENTS, (
        *GRANTS_WITHOUT_THE_ACCOUNT,
        ("bucket_name=storage.bucket_name,\n            bucket_object_role=",
         "bucket_name=gcp_cfg.bucket_name,\n            bucket_object_role=")),
        "gcp:storage:BucketIAMMember bucket-objects",
        lit(f"Error retrieving IAM policy for storage bucket \"b/{PROJECT_ID}-kestra\": googleapi: Error 404: The "
            "specified bucket does not exist., notFound")),
    "subscription-grant-names-the-subscription-by-its-output": Mutant(GCP_PARENTS, (
        *GRANTS_WITHOUT_THE_ACCOUNT,
        ("subscription_id=events.subscription_id,",
         "subscription_id=f\"projects/{gcp_cfg.project}/subscriptions/{gcp_cfg.subscription_name}\",")),
        "gcp:pubsub:SubscriptionIAMMember subscription-subscriber",
        lit(f"Error retrieving IAM policy for pubsub subscription \"projects/{PROJECT_ID}/subscriptions/file-upload-sub\""
            ": googleapi: Error 404: Resource not found (resource=file-upload-sub)., notFound")),
    "subscription-names-the-topic-by-its-output": Mutant(GCP_PARENTS, (
        ("topic=self.topic.id,\n            ack_deadline_seconds=",
         "topic=f\"projects/{args.project}/topics/{args.topic_name}\",\n            ack_deadline_seconds="),),
        "gcp:pubsub:Subscription subscription",
        lit("Error creating Subscription: googleapi: Error 404: Resource not found (resource=file-upload-events)., "
            "notFound")),
    # The notification waits for what the bucket waits for (the APIs) instead of the bucket, and
    # names its topic: otherwise the grant it waits for comes after the bucket anyway.
    "notification-names-the-bucket-by-its-output": Mutant(GCP_PARENTS, (
        ("bucket_name=storage.bucket_name,\n            topic_name=",
         "bucket_name=gcp_cfg.bucket_name,\n            topic_name="),
        ("topic=self.topic.id,\n            payload_format=",
         "topic=f\"projects/{args.project}/topics/{args.topic_name}\",\n            payload_format="),
        ("opts=pulumi.ResourceOptions(parent=self, depends_on=[self.publisher_grant]),",
         "opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),")),
        "gcp:storage:Notification upload-notification",
        lit(f"Error creating notification config for bucket {PROJECT_ID}-kestra: googleapi: Error 404: The specified "
            "bucket does not exist., notFound")),
    # --- gke profile -----------------------------------------------------------------------------
    "network-waits-for-the-compute-api": Mutant(GKE_NETWORK, (
        ("deps = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))\n"
         "        kept = pulumi.ResourceOptions.merge(deps, pulumi.ResourceOptions(retain_on_delete=args.keep_data))\n"
         "        self.owns_network",
         "deps = pulumi.ResourceOptions(parent=self)\n"
         "        kept = pulumi.ResourceOptions.merge(deps, pulumi.ResourceOptions(retain_on_delete=args.keep_data))\n"
         "        self.owns_network"),), "gcp:compute:Network network", api_refused("Network", "Compute Engine API")),
    "endpoint-address-waits-for-the-compute-api": Mutant(GKE_NETWORK, (
        ("deps = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))\n        self.address",
         "deps = child\n        self.address"),),
        "gcp:compute:GlobalAddress address", api_refused("GlobalAddress", "Compute Engine API")),
    "internal-storage-bucket-waits-for-the-storage-api": Mutant(GKE_NETWORK, (
        ("deps = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))\n"
         "        kube = pulumi.ResourceOptions(parent=self, provider=args.provider)",
         "deps = child\n        kube = pulumi.ResourceOptions(parent=self, provider=args.provider)"),),
        "gcp:storage:Bucket internal-storage", api_refused("Bucket", "Cloud Storage API")),
    # The node pool waits for what the cluster waits for (the APIs) instead of the cluster, and the
    # cluster also for the node role: without the cluster edge the pool's create starts first.
    "node-pool-names-the-cluster-by-its-output": Mutant(GKE, (
        ("cluster=self.cluster.name,", "cluster=args.name,"),
        ('opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),',
         'opts=pulumi.ResourceOptions.merge(deps, pulumi.ResourceOptions(ignore_changes=["initialNodeCount"])),'),
        ('pulumi.ResourceOptions(ignore_changes=["nodeConfig", "initialNodeCount"]),',
         'pulumi.ResourceOptions(depends_on=[self.node_grant], ignore_changes=["nodeConfig", "initialNodeCount"]),')),
        "gcp:container:NodePool node-pool",
        lit(f"error creating NodePool: googleapi: Error 404: Not found: projects/{PROJECT_ID}/locations/")
        + r"[a-z0-9-]+" + lit("/clusters/kestra-dev., notFound")),
    "cloud-sql-waits-for-the-private-services-connection": Mutant(GKE, (
        ("depends_on=[*apis, self.network.private_services],", "depends_on=[*apis],"),),
        "gcp:sql:DatabaseInstance instance",
        lit("Error, failed to create instance instance-") + r"[0-9a-f]{7}" + lit(": googleapi: Error 400: Invalid "
                                                                               "request: Incorrect Service Networking "
                                                                               f"config for instance: {PROJECT_ID}:instance-")),
    "workload-identity-binding-waits-for-the-cluster": Mutant(GKE, (
        ("opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.workload_pool_ready)),", "opts=child,"),),
        "gcp:serviceaccount:IAMMember workload-identity",
        lit(f"Error applying IAM policy for service account '{SA}': Error setting IAM policy for service account "
            f"'{SA}': googleapi: Error 400: Identity Pool does not exist ({PROJECT_ID}.svc.id.goog).")),
    # The grant names the bucket and the account, and waits for what the bucket waits for (the APIs).
    "internal-storage-grant-names-the-bucket-by-its-output": Mutant(GKE, (
        ('"internal-storage-objects", bucket=self.bucket.name, role=STORAGE_ROLE, member=member, opts=child',
         '"internal-storage-objects", bucket=internal_storage_bucket_name(args.project), role=STORAGE_ROLE, '
         'member=f"serviceAccount:kestra-sa@{args.project}.iam.gserviceaccount.com", opts=deps'),),
        "gcp:storage:BucketIAMMember internal-storage-objects",
        lit(f"Error retrieving IAM policy for storage bucket \"b/{PROJECT_ID}-kestra-internal\": googleapi: Error 404: "
            "The specified bucket does not exist., notFound")),
    "kubernetes-objects-wait-for-the-namespace": Mutant(GKE, (
        ("in_namespace = pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[self.namespace]))",
         "in_namespace = kube"),),
        "kubernetes:core/v1:Secret secret-env",
        lit('resource "urn:pulumi:') + r'[^"]*' + lit('::secret-env" was not successfully created by the Kubernetes API '
                                                   'server: namespaces "kestra" not found')),
    # The binding names the account, and waits for what the account waits for (the APIs) instead of
    # the cluster (GKE_SQL: the GKE batch removes the cluster edge alone).
    "workload-identity-binding-names-the-account-by-its-output": Mutant(GKE_SQL, (
        ("service_account_id=args.service_account_name,", f"service_account_id=\"{SA}\","),
        ("opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.workload_pool_ready)),", "opts=deps,")),
        "gcp:serviceaccount:IAMMember workload-identity",
        lit(f"Error retrieving IAM policy for service account '{SA}': googleapi: Error 404: Unknown service account, "
            "notFound")),
    # The user and the database wait for what the instance waits for instead of the instance (named).
    "cloud-sql-user-names-the-instance-by-its-output": Mutant(GKE_SQL, (
        NAMED_INSTANCE,
        ("            instance=self.instance.name,\n            name=USER,",
         "            instance=\"kestra-sql\",\n            name=USER,"),
        ("opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(additional_secret_outputs=[\"password\"])),",
         "opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(additional_secret_outputs=[\"password\"], "
         "depends_on=list(args.depends_on))),")),
        "gcp:sql:User user",
        lit("Error, failed to insert user kestra into instance kestra-sql: googleapi: ") + SQL_INSTANCE_NOT_UP),
    "cloud-sql-database-names-the-instance-by-its-output": Mutant(GKE_SQL, (
        NAMED_INSTANCE,
        ("            instance=self.instance.name,\n            name=DATABASE,\n            deletion_policy=\"ABANDON\",\n"
         "            opts=kept,",
         "            instance=\"kestra-sql\",\n            name=DATABASE,\n            deletion_policy=\"ABANDON\",\n"
         "            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(depends_on=list(args.depends_on))),")),
        "gcp:sql:Database database",
        lit("Error creating Database: googleapi: ") + SQL_INSTANCE_NOT_UP),
    # The cluster's nodes run as the node account named by its email, and the cluster waits for
    # what the account waits for (the APIs) and the network (GKE_SQL: the account's create is slow).
    "cluster-names-the-node-account-by-its-output": Mutant(GKE_SQL, (
        ('"service_account": self.node_account.email,',
         '"service_account": f"{node_service_account_id(args.name)}@{args.project}.iam.gserviceaccount.com",'),),
        "gcp:container:Cluster cluster",
        lit(f'googleapi: Error 400: Service account "kestra-dev-nodes@{PROJECT_ID}.iam.gserviceaccount.com" does not '
            "exist., badRequest")),
    # The network's children name it (named) by its id, and wait for what it waits for (the APIs).
    "subnet-names-the-network-by-its-output": Mutant(GKE_SUBNETS, (
        NAMED_NETWORK,
        ("network=self.network_id,\n            ip_cidr_range=SUBNET_CIDR,", f"network=\"{NET}\",\n            ip_cidr_range=SUBNET_CIDR,")),
        "gcp:compute:Subnetwork subnet", network_missing("Subnetwork")),
    "private-services-range-names-the-network-by-its-output": Mutant(GKE_SUBNETS, (
        NAMED_NETWORK,
        ("network=self.network_id,\n            description=\"Private services access",
         f"network=\"{NET}\",\n            description=\"Private services access")),
        "gcp:compute:GlobalAddress private-services-range", network_missing("GlobalAddress")),
    "router-names-the-network-by-its-output": Mutant(GKE_SUBNETS, (
        NAMED_NETWORK,
        ('"router", project=args.project, region=args.region, network=self.network_id, opts=deps',
         f'"router", project=args.project, region=args.region, network="{NET}", opts=deps')),
        "gcp:compute:Router router", network_missing("Router")),
    "firewall-names-the-network-by-its-output": Mutant(GKE_SUBNETS, (
        NAMED_NETWORK,
        ("network=self.network_id,\n            direction=\"INGRESS\",", f"network=\"{NET}\",\n            direction=\"INGRESS\",")),
        "gcp:compute:Firewall lb-health-checks", network_missing("Firewall")),
    # The NAT names its router (named) and the subnet (named) by their names, and waits for what
    # they wait for (the APIs): its create starts before the router's, which waits for the network.
    "nat-names-the-router-by-its-output": Mutant(GKE_NAT, (
        ('"router", project=args.project, region=args.region, network=self.network_id, opts=deps',
         '"router", name="kestra-router", project=args.project, region=args.region, network=self.network_id, opts=deps'),
        ("router=self.router.name,", 'router="kestra-router",'),
        NAMED_SUBNET,
        ('subnetworks=[{"name": self.subnet.id,', f'subnetworks=[{{"name": {SUBNET_ID},')),
        "gcp:compute:RouterNat nat",
        lit(f"googleapi: Error 404: The resource 'projects/{PROJECT_ID}/regions/") + r"[a-z0-9-]+"
        + lit("/routers/kestra-router' was not found, notFound")),
    # The NAT names the subnet (named) by its id, still waiting for the router, which is up long
    # before the subnet (GKE_NAT_SUBNET: the subnet's create is slow).
    "nat-names-the-subnet-by-its-output": Mutant(GKE_NAT_SUBNET, (
        NAMED_SUBNET,
        ('subnetworks=[{"name": self.subnet.id,', f'subnetworks=[{{"name": {SUBNET_ID},')),
        "gcp:compute:RouterNat nat",
        lit("Error creating RouterNat: googleapi: Error 400: Invalid value for field 'resource.nats[0].subnetworks[0].name"
            f"': 'projects/{PROJECT_ID}/regions/") + r"[a-z0-9-]+" + lit("/subnetworks/kestra-subnet'. The referenced "
                                                                        "subnetwork resource cannot be found., invalid")),
    # The release without one of the things its pods need (each batch makes that one's create slow).
    "release-waits-for-the-node-pool": Mutant(RELEASE_NODES, (
        ("cluster_ready=[self.cluster.node_pool, self.network.nat],", "cluster_ready=[self.network.nat],"),),
        RELEASE, RELEASE_TIMED_OUT),
    "release-waits-for-the-nat": Mutant(RELEASE_NAT, (
        ("cluster_ready=[self.cluster.node_pool, self.network.nat],", "cluster_ready=[self.cluster.node_pool],"),),
        RELEASE, RELEASE_TIMED_OUT),
    "release-values-name-the-cloud-sql-user-by-its-output": Mutant(RELEASE_USER, (
        ("self.user_name: pulumi.Output[str] = self.user.name", "self.user_name = pulumi.Output.from_input(USER)"),),
        RELEASE, RELEASE_TIMED_OUT),
    "release-values-name-the-cloud-sql-database-by-its-output": Mutant(RELEASE_DATABASE, (
        ("self.database_name: pulumi.Output[str] = self.database.name",
         "self.database_name = pulumi.Output.from_input(DATABASE)"),),
        RELEASE, RELEASE_TIMED_OUT),
    # The flows' writes to the internal storage without what GCS needs to accept them.
    "storage-writes-wait-for-workload-identity": Mutant(WRITES_IDENTITY, (
        (READY, "self.ready: list[pulumi.Resource] = [self.release, self.storage_grant]"),),
        KV_WRITE, KV_REFUSED + lit("Unexpected Error code 403 trying to get security access token from Compute Engine "
                                   "metadata for the default service account: Unable to generate access token; IAM "
                                   "returned 403 Forbidden: Permission 'iam.serviceAccounts.getAccessToken' denied")),
    "storage-writes-wait-for-the-bucket-grant": Mutant(WRITES_GRANT, (
        (READY, "self.ready: list[pulumi.Resource] = [self.release, self.workload_identity]"),),
        KV_WRITE, KV_REFUSED + lit(f"kestra-sa@{PROJECT_ID}.iam.gserviceaccount.com does not have "
                                   "storage.objects.create access to the Google Cloud Storage object.")),
}


def apply_edit(project_dir: Path, old: str, new: str) -> None:
    """Replaces the one occurrence of `old` in the program (wherever its module lives now)."""
    sources = [project_dir / "__main__.py", *sorted((project_dir / "infra").rglob("*.py"))]
    found = [path for path in sources if old in path.read_text()]
    assert len(found) == 1, f"expected the edge in exactly one file, found it in {found}: {old!r}"
    text = found[0].read_text()
    assert text.count(old) == 1, f"{found[0]}: the edge occurs {text.count(old)} times: {old!r}"
    found[0].write_text(text.replace(old, new))


# batch -> the output of its `up` (each batch runs once, for its first test)
_OUTPUTS: dict[str, str] = {}


def batch_output(batch: str, request) -> str:
    if batch not in _OUTPUTS:
        fixture, apis = BATCHES[batch]
        project = request.getfixturevalue(fixture)
        project.env[ECHO_PROVISIONING_ENV] = str(PROVISIONING_MS)
        if apis:
            project.env[ENABLEMENT_ENV] = str(ENABLEMENT_MS)
        if batch in SLOWER:
            project.env[SLOW_ENV] = ",".join(f"{key}={ms}" for key, ms in SLOWER[batch].items())
        edits = [edit for mutant in MUTANTS.values() if mutant.batch == batch for edit in mutant.edits]
        for old, new in dict.fromkeys(edits):  # an edit two mutants share is made once
            apply_edit(project.dir, old, new)
        # --parallel: the program's registrations wait on no slot the slow creates hold, as on a
        # machine with more cores than CI's 2 (the default is 4 per core: pulumi/pulumi,
        # pkg/cmd/pulumi/operations/up.go, defaultParallel).
        up = project.pulumi(*UP, "--continue-on-error", "--parallel", "64", check=False)
        assert up.returncode != 0, f"every mutant of batch {batch} survived:\n{up.output}"
        _OUTPUTS[batch] = up.output
    return _OUTPUTS[batch]


@pytest.mark.parametrize("name", list(MUTANTS))
def test_removing_an_ordering_edge_fails_the_first_up_with_gcps_answer(name, request):
    mutant = MUTANTS[name]
    output = batch_output(mutant.batch, request)
    failed = re.escape(mutant.resource) + r"[^\n]* \*\*creating failed\*\* error: " + mutant.message
    assert re.search(failed, output), f"the mutant survived: {name}\n{output}"
