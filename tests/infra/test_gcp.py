"""Every GCP resource of the walkthrough, as the real program registers it under mocks."""

import pytest

from infra.config import BUCKET_FOLDERS, DATASET_IDS
from infra.identity import GUIDE_PROJECT_ROLES
from tests.infra.conftest import GCP_CONFIG, PROJECT
from tests.support.pulumi_harness import GCS_SERVICE_AGENT, run_stack

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
    run = run_stack({**GCP_CONFIG, "kestra-gcp:keepData": "true"})
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
