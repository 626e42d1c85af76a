"""Ordering mutants: each removes one ordering edge the gcp or gke profile relies on — a
`depends_on`, or an output passed as an input — from the test's copy of the program, and a first
`up` on the echo plugins must then fail with the message GCP would answer, for the resource that
lost its edge (tools/pulumi/cmd/pulumi-resource-echo/refusals.go). A mutant that survived would be
an edge the stack does not need, or a refusal the echo cloud does not model.

A first `up` costs tens of seconds whether it fails early or not (the program still registers
everything), so mutants whose refusals cannot mask each other share one `up --continue-on-error`
(a batch): no mutant's refused resource depends on another's in its batch, and each test asserts
the failure of its own resource with its own message. Slow creates are given more time than
elsewhere, and enabling an API more still (the program registers the gke profile's resources over
seconds), so that a resource created alongside the one it needs meets it still being created
however loaded the machine is.
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


SA = f"projects/{PROJECT_ID}/serviceAccounts/kestra-sa@{PROJECT_ID}.iam.gserviceaccount.com"
GCP, GCP_APIS, GKE_NETWORK, GKE, GKE_SQL = "gcp", "gcp-apis", "gke-network", "gke", "gke-sql"
# batch -> (the profile's fixture, whether its refusals are of APIs not yet enabled)
BATCHES = {
    GCP: ("gcp_project", True), GCP_APIS: ("gcp_project", True), GKE_NETWORK: ("gke_project", True),
    GKE: ("gke_project", False), GKE_SQL: ("gke_project", False),
}
NAMED_INSTANCE = ("            database_version=DATABASE_VERSION,",
                  "            name=\"kestra-sql\",\n            database_version=DATABASE_VERSION,")

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
    "node-pool-names-the-cluster-by-its-output": Mutant(GKE, (
        ("cluster=self.cluster.name,", "cluster=args.name,"),), "gcp:container:NodePool node-pool",
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
    # The user and the database wait for what the instance waits for instead of the instance (named).
    "cloud-sql-user-names-the-instance-by-its-output": Mutant(GKE_SQL, (
        NAMED_INSTANCE,
        ("            instance=self.instance.name,\n            name=USER,",
         "            instance=\"kestra-sql\",\n            name=USER,"),
        ("opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(additional_secret_outputs=[\"password\"])),",
         "opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(additional_secret_outputs=[\"password\"], "
         "depends_on=list(args.depends_on))),")),
        "gcp:sql:User user",
        lit("Error, failed to insert user kestra into instance kestra-sql: googleapi: Error 400: Invalid request: "
            "Invalid request since instance is not running., invalid")),
    "cloud-sql-database-names-the-instance-by-its-output": Mutant(GKE_SQL, (
        NAMED_INSTANCE,
        ("            instance=self.instance.name,\n            name=DATABASE,\n            deletion_policy=\"ABANDON\",\n"
         "            opts=kept,",
         "            instance=\"kestra-sql\",\n            name=DATABASE,\n            deletion_policy=\"ABANDON\",\n"
         "            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(depends_on=list(args.depends_on))),")),
        "gcp:sql:Database database",
        lit("Error creating Database: googleapi: Error 400: Invalid request: Invalid request since instance is not "
            "running., invalid")),
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
    failed = re.escape(mutant.resource) + r" \*\*creating failed\*\* error: " + mutant.message
    assert re.search(failed, output), f"the mutant survived: {name}\n{output}"
