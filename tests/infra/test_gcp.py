"""Every GCP resource of the walkthrough, as the real program registers it under mocks."""

from pathlib import Path

import pulumi
import pytest

from infra.config import BUCKET_FOLDERS, DATASET_IDS
from infra.storage import Storage, StorageArgs
from infra.identity import GUIDE_PROJECT_ROLES
from tests.infra.conftest import GCP_CONFIG, PROJECT
from tests.support.pulumi_harness import GCS_SERVICE_AGENT, REPO_ROOT, run_stack

SA_MEMBER = f"serviceAccount:kestra-sa@{PROJECT}.iam.gserviceaccount.com"
ADMIN_ROLES = {"roles/bigquery.admin", "roles/storage.admin", "roles/owner", "roles/editor", "roles/pubsub.admin"}


def test_required_apis_enabled_and_kept_on_destroy(gcp_run):
    services = gcp_run.of_type("gcp:projects/service:Service")
    assert {s.inputs["service"] for s in services} == {
        "storage.googleapis.com",
        "bigquery.googleapis.com",
        "pubsub.googleapis.com",
        "iam.googleapis.com",
    }
    for s in services:
        assert s.inputs["project"] == PROJECT
        assert s.inputs["disableOnDestroy"] is False
        assert s.parent_type == "kestra-gcp:infra:ProjectServices"


def test_bucket_is_private_regional_and_destroyable(gcp_run):
    bucket = gcp_run.one("gcp:storage/bucket:Bucket")
    assert bucket.inputs["name"] == f"{PROJECT}-kestra"
    assert bucket.inputs["location"] == "EUROPE-WEST2"
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["forceDestroy"] is True
    assert bucket.inputs["labels"]["managed-by"] == "pulumi"
    assert bucket.retain_on_delete is False
    assert bucket.parent_type == "kestra-gcp:infra:Storage"


def test_destroyed_data_is_not_kept_by_soft_delete_unless_data_is_kept(gcp_run):
    # Cloud Storage soft delete keeps deleted objects (and a deleted bucket) 7 days by default,
    # billed; retention 0 turns it off (cloud.google.com/storage/docs/soft-delete; pulumi_gcp
    # BucketSoftDeletePolicyArgs). With keepData, Google's default stays: no policy is sent.
    bucket = gcp_run.one("gcp:storage/bucket:Bucket")
    assert bucket.inputs["softDeletePolicy"] == {"retentionDurationSeconds": 0}
    kept = run_stack({**GCP_CONFIG, "kestra-gcp:keepData": "true", "kestra-gcp:postgresPassword": "pg-Configured-Pass-99"},
                     secret_keys=("kestra-gcp:postgresPassword",)).one("gcp:storage/bucket:Bucket")
    assert "softDeletePolicy" not in kept.inputs


def test_bucket_waits_for_the_storage_api(gcp_run):
    bucket = gcp_run.one("gcp:storage/bucket:Bucket")
    depended = {gcp_run.by_urn(u).name for u in bucket.dependencies}
    assert "storage" in depended


def test_folders_and_data_files(gcp_run):
    objects = {o.inputs["name"]: o for o in gcp_run.of_type("gcp:storage/bucketObject:BucketObject")}
    assert set(BUCKET_FOLDERS) <= set(objects)
    assert set(BUCKET_FOLDERS) == {
        "test/", "yellow-cab/", "yellow-cab-archive/", "yc-retry/data/", "yc-retry/archive/", "yc-retry/errors/"
    }
    sample_files = ("data.csv", "taxi_zone_lookup.csv", "yc-retry/data/retry-ok-file.csv",
                    "yc-retry/data/retry-dirty-file.csv", "yc-retry/data/retry-error-file.csv")
    for name in sample_files:
        assert name in objects, name
        assert objects[name].inputs["contentType"] == "text/csv"
        assert objects[name].inputs["bucket"] == f"{PROJECT}-kestra"
    assert len(objects) == len(BUCKET_FOLDERS) + len(sample_files)


def test_datasets(gcp_run):
    datasets = {d.inputs["datasetId"]: d for d in gcp_run.of_type("gcp:bigquery/dataset:Dataset")}
    assert set(datasets) == {"kestra_test", "raw", "clean", "YellowCab", "yc_retry"} == set(DATASET_IDS)
    for d in datasets.values():
        assert d.inputs["location"] == "europe-west2"
        assert d.inputs["deleteContentsOnDestroy"] is True
        assert d.inputs["project"] == PROJECT
        assert d.retain_on_delete is False


def test_service_account_and_key(gcp_run):
    account = gcp_run.one("gcp:serviceaccount/account:Account")
    assert account.inputs["accountId"] == "kestra-sa"
    assert account.inputs["project"] == PROJECT
    key = gcp_run.one("gcp:serviceaccount/key:Key")
    assert key.inputs["serviceAccountId"] == f"projects/{PROJECT}/serviceAccounts/kestra-sa@{PROJECT}.iam.gserviceaccount.com"
    # pulumi-gcp marks the key material secret; the harness honours it like the engine does.
    assert "privateKey" in key.additional_secret_outputs


def test_least_privilege_grants(gcp_run):
    project_roles = {m.inputs["role"] for m in gcp_run.of_type("gcp:projects/iAMMember:IAMMember")}
    assert project_roles == {"roles/bigquery.jobUser"}
    assert not project_roles & ADMIN_ROLES

    dataset_grants = gcp_run.of_type("gcp:bigquery/datasetIamMember:DatasetIamMember")
    assert {g.inputs["datasetId"] for g in dataset_grants} == set(DATASET_IDS)
    assert {g.inputs["role"] for g in dataset_grants} == {"roles/bigquery.dataEditor"}

    bucket_grant = gcp_run.one("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert bucket_grant.inputs["role"] == "roles/storage.objectAdmin"
    assert bucket_grant.inputs["bucket"] == f"{PROJECT}-kestra"

    sub_grant = gcp_run.one("gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember")
    assert sub_grant.inputs["role"] == "roles/pubsub.subscriber"
    assert sub_grant.inputs["subscription"] == f"projects/{PROJECT}/subscriptions/file-upload-sub"

    for grant in dataset_grants + [bucket_grant, sub_grant] + gcp_run.of_type("gcp:projects/iAMMember:IAMMember"):
        assert grant.inputs["member"] == SA_MEMBER


def test_only_non_authoritative_iam(gcp_run, guide_run):
    for run in (gcp_run, guide_run):
        for t in run.types():
            assert not t.endswith(("IAMBinding", "IAMPolicy", "IamBinding", "IamPolicy")), t


def test_guide_mode_grants_the_walkthrough_roles(guide_run):
    grants = guide_run.of_type("gcp:projects/iAMMember:IAMMember")
    assert {g.inputs["role"] for g in grants} == set(GUIDE_PROJECT_ROLES) == {
        "roles/bigquery.admin", "roles/storage.admin", "roles/pubsub.subscriber", "roles/pubsub.viewer"
    }
    assert all(g.inputs["member"] == SA_MEMBER for g in grants)
    assert not guide_run.of_type("gcp:bigquery/datasetIamMember:DatasetIamMember")
    assert not guide_run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")


def test_topic_subscription_and_notification(gcp_run):
    topic = gcp_run.one("gcp:pubsub/topic:Topic")
    assert topic.inputs["name"] == "file-upload-events"
    sub = gcp_run.one("gcp:pubsub/subscription:Subscription")
    assert sub.inputs["name"] == "file-upload-sub"
    assert sub.inputs["topic"] == f"projects/{PROJECT}/topics/file-upload-events"
    assert sub.inputs["expirationPolicy"] == {"ttl": ""}
    note = gcp_run.one("gcp:storage/notification:Notification")
    assert note.inputs["payloadFormat"] == "JSON_API_V1"
    assert note.inputs["eventTypes"] == ["OBJECT_FINALIZE"]
    assert note.inputs["topic"] == f"projects/{PROJECT}/topics/file-upload-events"
    assert note.inputs["bucket"] == f"{PROJECT}-kestra"


def test_gcs_agent_may_publish_and_notification_waits_for_it(gcp_run):
    assert any(tok == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount" and args.get("project") == PROJECT
               for tok, args in gcp_run.invokes)
    grant = gcp_run.one("gcp:pubsub/topicIAMMember:TopicIAMMember")
    assert grant.inputs["role"] == "roles/pubsub.publisher"
    assert grant.inputs["member"] == f"serviceAccount:{GCS_SERVICE_AGENT}"
    assert grant.inputs["topic"] == "file-upload-events"
    note = gcp_run.one("gcp:storage/notification:Notification")
    assert grant.urn in note.dependencies


def test_keep_data_retains_bucket_objects_and_datasets():
    # Kestra runs in Docker here, whose kept database needs a Postgres password that outlives destroy.
    run = run_stack({**GCP_CONFIG, "kestra-gcp:keepData": "true", "kestra-gcp:postgresPassword": "pg-Configured-Pass-99"},
                    secret_keys=("kestra-gcp:postgresPassword",))
    bucket = run.one("gcp:storage/bucket:Bucket")
    assert bucket.retain_on_delete and bucket.inputs["forceDestroy"] is False
    for d in run.of_type("gcp:bigquery/dataset:Dataset"):
        assert d.retain_on_delete and d.inputs["deleteContentsOnDestroy"] is False
    for o in run.of_type("gcp:storage/bucketObject:BucketObject"):
        assert o.retain_on_delete


def test_outputs_are_the_documented_contract(gcp_run):
    out = gcp_run.outputs
    assert out["project"] == PROJECT
    assert out["region"] == "europe-west2"
    assert out["bucketName"] == f"{PROJECT}-kestra"
    assert out["bucketUrl"] == f"gs://{PROJECT}-kestra"
    assert out["datasetIds"] == {d: d for d in DATASET_IDS}
    assert out["serviceAccountEmail"] == f"kestra-sa@{PROJECT}.iam.gserviceaccount.com"
    assert out["topicId"] == f"projects/{PROJECT}/topics/file-upload-events"
    assert out["subscriptionId"] == f"projects/{PROJECT}/subscriptions/file-upload-sub"


def test_key_material_never_exported_in_plaintext(gcp_run):
    from tests.support.pulumi_harness import MOCK_PRIVATE_KEY

    for name, value in gcp_run.outputs.items():
        if name not in gcp_run.secret_outputs:
            assert MOCK_PRIVATE_KEY not in str(value), name


@pytest.mark.parametrize("resource_type", [
    "gcp:storage/bucket:Bucket",
    "gcp:bigquery/dataset:Dataset",
    "gcp:pubsub/topic:Topic",
    "gcp:serviceaccount/account:Account",
])
def test_everything_is_inside_a_component(gcp_run, resource_type):
    for r in gcp_run.of_type(resource_type):
        assert r.parent_type.startswith("kestra-gcp:infra:"), (r.name, r.parent_type)


# --- what a fresh project needs: every resource waits for the API that serves it ------------
# On a project where an API is still off, GCP answers 403 SERVICE_DISABLED; Pulumi only orders
# creation along dependencies, so a missing edge is a failed first `pulumi up`.

def _awaited_apis(run, resource):
    return {run.by_urn(u).inputs["service"] for u in resource.dependencies
            if run.by_urn(u).type == "gcp:projects/service:Service"}


@pytest.mark.parametrize("resource_type, api", [
    ("gcp:storage/bucket:Bucket", "storage.googleapis.com"),
    ("gcp:bigquery/dataset:Dataset", "bigquery.googleapis.com"),
    ("gcp:pubsub/topic:Topic", "pubsub.googleapis.com"),
    ("gcp:pubsub/subscription:Subscription", "pubsub.googleapis.com"),
    ("gcp:serviceaccount/account:Account", "iam.googleapis.com"),
])
def test_first_up_on_a_fresh_project_creates_each_resource_after_its_api(gcp_run, resource_type, api):
    resources = gcp_run.of_type(resource_type)
    assert resources
    for r in resources:
        assert api in _awaited_apis(gcp_run, r), (r.name, r.dependencies)


def test_api_resources_keep_their_names_so_existing_stacks_are_not_replaced(gcp_run):
    # The logical name is part of the URN: renaming would make `up` replace every API resource.
    names = {s.inputs["service"]: s.name for s in gcp_run.of_type("gcp:projects/service:Service")}
    assert names == {
        "storage.googleapis.com": "storage",
        "bigquery.googleapis.com": "bigquery",
        "pubsub.googleapis.com": "pubsub",
        "iam.googleapis.com": "iam",
    }


def test_destroy_never_disables_an_api_or_the_apis_that_depend_on_it(gcp_run):
    # README: "The APIs stay enabled." Other workloads in the project may use them; and should
    # disableOnDestroy ever be switched on, disabling must not cascade to dependent APIs.
    for s in gcp_run.of_type("gcp:projects/service:Service"):
        assert s.inputs["disableOnDestroy"] is False
        assert s.inputs["disableDependentServices"] is False


def test_subscription_gives_kestra_a_minute_to_ack_before_pubsub_redelivers(gcp_run):
    # docs/configuration.md: ack deadline 60 s. Pub/Sub's default is 10 s; a message Kestra's trigger has not
    # acknowledged by then is delivered again and would start a second execution for one upload.
    sub = gcp_run.one("gcp:pubsub/subscription:Subscription")
    assert sub.inputs["ackDeadlineSeconds"] == 60


def test_a_subscription_idle_for_31_days_is_not_deleted(gcp_run):
    # Pub/Sub deletes a subscription after 31 days without activity unless its expiration
    # policy has an empty ttl ("never expires").
    sub = gcp_run.one("gcp:pubsub/subscription:Subscription")
    assert sub.inputs["expirationPolicy"] == {"ttl": ""}
    assert sub.inputs["topic"] == f"projects/{PROJECT}/topics/file-upload-events"


# --- the bucket's contents ---------------------------------------------------------------------

def test_bucket_is_created_in_the_stack_project(gcp_run):
    assert gcp_run.one("gcp:storage/bucket:Bucket").inputs["project"] == PROJECT


def test_folders_are_empty_directory_markers(gcp_run):
    # The walkthrough: the folders are zero-byte `name/` objects, as the console creates them;
    # the content type marks them as folders rather than files to download.
    folders = [o for o in gcp_run.of_type("gcp:storage/bucketObject:BucketObject") if o.inputs["name"].endswith("/")]
    assert {o.inputs["name"] for o in folders} == set(BUCKET_FOLDERS)
    for o in folders:
        source = o.inputs["source"]
        assert isinstance(source, pulumi.FileAsset) and Path(source.path).read_bytes() == b"", o.name
        assert o.inputs["contentType"] == "application/x-directory", o.name


def test_data_objects_upload_the_repository_sample_files(gcp_run):
    objects = {o.inputs["name"]: o for o in gcp_run.of_type("gcp:storage/bucketObject:BucketObject")}
    for name, repo_path in {
        "data.csv": "data/data.csv",
        "taxi_zone_lookup.csv": "data/taxi_zone_lookup.csv",
        "yc-retry/data/retry-ok-file.csv": "data/yc-retry/retry-ok-file.csv",
        "yc-retry/data/retry-dirty-file.csv": "data/yc-retry/retry-dirty-file.csv",
        "yc-retry/data/retry-error-file.csv": "data/yc-retry/retry-error-file.csv",
    }.items():
        source = objects[name].inputs["source"]
        assert isinstance(source, pulumi.FileAsset), name
        assert Path(source.path) == REPO_ROOT / repo_path


def test_storage_resources_keep_their_names_so_up_never_replaces_the_bucket(gcp_run):
    # A logical name is part of the URN: renaming one makes `up` delete and recreate it, and for
    # the bucket that means with all its data.
    names = {r.name for r in gcp_run.resources if r.parent_type == "kestra-gcp:infra:Storage"}
    assert names == {
        "bucket",
        "folder-test", "folder-yellow-cab", "folder-yellow-cab-archive",
        "folder-yc-retry-data", "folder-yc-retry-archive", "folder-yc-retry-errors",
        "data-data-csv", "data-taxi_zone_lookup-csv",
        "data-yc-retry-data-retry-ok-file-csv", "data-yc-retry-data-retry-dirty-file-csv",
        "data-yc-retry-data-retry-error-file-csv",
    }


def test_a_missing_sample_file_stops_the_program_naming_the_file():
    def program():
        Storage("storage", StorageArgs(
            project=PROJECT, location="europe-west2", bucket_name=f"{PROJECT}-kestra", folders=(),
            labels={}, keep_data=False, data_files={"gone.csv": "data/no-such-file.csv"},
        ))

    with pytest.raises(FileNotFoundError, match=r"^data/no-such-file\.csv: sample data file missing"):
        run_stack({}, program=program)


# --- labels: `labels` are "extra GCP labels" on what the stack creates (Pulumi.yaml) ---------

LABELLED = ("gcp:storage/bucket:Bucket", "gcp:bigquery/dataset:Dataset", "gcp:pubsub/topic:Topic",
            "gcp:pubsub/subscription:Subscription")


def test_configured_labels_reach_every_labelled_resource():
    # Billing reports and `gcloud ... --filter=labels.team=data` find the stack's resources by them.
    run = run_stack({**GCP_CONFIG, "kestra-gcp:labels": '{"team": "data"}'})
    for resource_type in LABELLED:
        resources = run.of_type(resource_type)
        assert resources, resource_type
        for r in resources:
            assert r.inputs["labels"]["team"] == "data", (resource_type, r.name)
            assert r.inputs["labels"]["managed-by"] == "pulumi", (resource_type, r.name)


@pytest.mark.parametrize("resource_type", [
    "gcp:bigquery/dataset:Dataset", "gcp:pubsub/topic:Topic", "gcp:pubsub/subscription:Subscription",
    "gcp:pubsub/topicIAMMember:TopicIAMMember", "gcp:bigquery/datasetIamMember:DatasetIamMember",
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "gcp:projects/iAMMember:IAMMember",
])
def test_everything_lands_in_the_stack_project(gcp_run, resource_type):
    # Without an explicit project the provider falls back to its own default project, which on a
    # workstation may be another one entirely.
    for r in gcp_run.of_type(resource_type):
        assert r.inputs["project"] == PROJECT, (resource_type, r.name)


def test_datasets_say_what_they_are_in_the_console(gcp_run):
    for d in gcp_run.of_type("gcp:bigquery/dataset:Dataset"):
        assert d.inputs["description"] == f"Kestra walkthrough dataset {d.inputs['datasetId']}, managed by Pulumi"


def test_notification_covers_the_whole_bucket(gcp_run):
    # event_ingest routes on the object name itself, so every upload must reach it.
    note = gcp_run.one("gcp:storage/notification:Notification")
    assert note.inputs.get("objectNamePrefix") is None


def test_gcs_agent_publish_grant_is_on_the_stack_project_topic(gcp_run):
    grant = gcp_run.one("gcp:pubsub/topicIAMMember:TopicIAMMember")
    assert grant.inputs["project"] == PROJECT
    assert grant.parent_type == "kestra-gcp:infra:UploadEvents"


def test_service_account_is_recognisable_in_the_console(gcp_run):
    account = gcp_run.one("gcp:serviceaccount/account:Account")
    assert account.inputs["displayName"] == "Kestra workflows"
    assert "kestra-gcp" in account.inputs["description"]


def test_an_unknown_iam_mode_is_refused_before_any_grant():
    from infra.identity import IdentityArgs, KestraIdentity

    def program():
        KestraIdentity("identity", IdentityArgs(
            project=PROJECT, account_id="kestra-sa", iam_mode="admin", bucket_name="b",
            bucket_object_role="roles/storage.objectAdmin", dataset_ids={}, subscription_id="s",
        ))

    with pytest.raises(ValueError, match=r"^iam_mode: unknown mode 'admin'$") as info:
        run_stack({}, program=program)
    assert not [r for r in info.value.registered if "IAMMember" in r.type or "IamMember" in r.type]


def test_iam_resources_keep_their_names(gcp_run, guide_run):
    # Renaming a grant replaces it: for a moment the account lacks the role mid-run.
    least = {r.name for r in gcp_run.resources if r.parent_type == "kestra-gcp:infra:KestraIdentity"}
    assert least == {
        "service-account", "service-account-key", "project-bigquery-jobUser",
        *(f"dataset-{d}-editor" for d in DATASET_IDS), "bucket-objects", "subscription-subscriber",
    }
    guide = {r.name for r in guide_run.resources if r.parent_type == "kestra-gcp:infra:KestraIdentity"}
    assert guide == {
        "service-account", "service-account-key", "project-bigquery-admin", "project-storage-admin",
        "project-pubsub-subscriber", "project-pubsub-viewer",
    }


def test_event_resources_keep_their_names(gcp_run):
    # Renaming the notification or the topic replaces it: uploads in between publish nothing.
    names = {r.name for r in gcp_run.resources if r.parent_type == "kestra-gcp:infra:UploadEvents"}
    assert names == {"topic", "subscription", "gcs-agent-publisher", "upload-notification"}


@pytest.mark.parametrize("resource_type, component", [
    ("gcp:projects/service:Service", "ProjectServices"),
    ("gcp:storage/bucket:Bucket", "Storage"),
    ("gcp:storage/bucketObject:BucketObject", "Storage"),
    ("gcp:bigquery/dataset:Dataset", "BigQueryDatasets"),
    ("gcp:pubsub/topic:Topic", "UploadEvents"),
    ("gcp:pubsub/subscription:Subscription", "UploadEvents"),
    ("gcp:storage/notification:Notification", "UploadEvents"),
    ("gcp:serviceaccount/account:Account", "KestraIdentity"),
    ("gcp:serviceaccount/key:Key", "KestraIdentity"),
    ("gcp:bigquery/datasetIamMember:DatasetIamMember", "KestraIdentity"),
])
def test_component_types_are_stable_because_every_child_urn_contains_them(gcp_run, resource_type, component):
    # A child's URN embeds its parent's type: renaming a component type makes `up` replace all
    # of its children — the datasets with their tables, the bucket with its objects.
    for r in gcp_run.of_type(resource_type):
        assert r.parent_type == f"kestra-gcp:infra:{component}", (r.name, r.parent_type)
