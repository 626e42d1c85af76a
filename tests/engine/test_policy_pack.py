"""The policy pack (policy/) through the real CLI: `pulumi preview --policy-pack policy` passes on the
stack as shipped in every profile; each mandatory policy fails the preview on a small violating edit
with a message naming the resource, the property and the fix, and the preview passes again once
the edit is undone; advisory policies report without failing; a deliberate exception is a config
value the pack reads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests.engine.test_lifecycle import UP

PACK = ("--policy-pack", "policy")
PACK_NAME = "kestra-gcp-guardrails"


def preview(project, *extra: str):
    return project.pulumi("preview", *PACK, *extra, check=False)


def violations(run, level: str) -> list[str]:
    """The policy names the CLI lists under "Policies:" at `level` (mandatory or advisory)."""
    return re.findall(rf"- \[{level}\]\s+([a-z0-9-]+)\s", run.output)


def assert_passes(run) -> None:
    assert run.returncode == 0, run.output
    assert PACK_NAME in run.output and violations(run, "mandatory") == [], run.output


@pytest.mark.parametrize("profile", ["gcp_project", "local_project", "external_project", "gke_project"])
def test_the_stack_as_shipped_passes_every_policy_in_every_profile(profile, request):
    project = request.getfixturevalue(profile)
    run = preview(project)
    assert_passes(run)
    assert violations(run, "advisory") == [], run.output  # not even advisories on the shipped stack
    assert "can't run policy" not in run.output, run.output


def test_the_walkthroughs_iam_mode_passes_and_up_runs_the_pack_too(gcp_project):
    gcp_project.set_config({"iamMode": "guide"})
    assert_passes(preview(gcp_project))
    up = gcp_project.pulumi(*UP, *PACK)
    assert PACK_NAME in up.output
    assert_passes(preview(gcp_project, "--expect-no-changes"))


@dataclass(frozen=True)
class Violation:
    """A small edit of the program that breaks `policy`, and what the message must say."""

    id: str
    profile: str
    file: str
    old: str
    new: str
    policy: str
    message: str  # a regex the message must match: resource, property, value
    config: Optional[dict] = None
    secret_config: Optional[dict] = None


def flow_with(value: str) -> str:
    return (f"id: leaky\nnamespace: dev.testing\nlabels:\n  note: {value}\ntasks:\n"
            "  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")


VIOLATIONS = [
    Violation("owner-role", "gcp_project", "infra/identity.py",
              'LEAST_PRIVILEGE_PROJECT_ROLES = ("roles/bigquery.jobUser",)',
              'LEAST_PRIVILEGE_PROJECT_ROLES = ("roles/bigquery.jobUser", "roles/owner")',
              "no-project-basic-or-admin-roles",
              r"resource 'project-owner' \(gcp:projects/iAMMember:IAMMember\): role is roles/owner.*Fix: "),
    # The guide's own admin role, granted without `iamMode: guide` in the stack config.
    Violation("guide-role-without-guide-mode", "gcp_project", "infra/identity.py",
              'LEAST_PRIVILEGE_PROJECT_ROLES = ("roles/bigquery.jobUser",)',
              'LEAST_PRIVILEGE_PROJECT_ROLES = ("roles/bigquery.jobUser", "roles/storage.admin")',
              "no-project-basic-or-admin-roles",
              r"resource 'project-storage-admin' \(gcp:projects/iAMMember:IAMMember\): role is roles/storage\.admin"),
    # Guide mode allows the walkthrough's admin roles only, not an editor grant.
    Violation("editor-in-guide-mode", "gcp_project", "infra/identity.py",
              '    "roles/pubsub.viewer",\n)', '    "roles/pubsub.viewer",\n    "roles/editor",\n)',
              "no-project-basic-or-admin-roles",
              r"resource 'project-editor' .*role is roles/editor.*iamMode guide allows only roles/bigquery\.admin, roles/storage\.admin",
              config={"iamMode": "guide"}),
    # Roles that are no admin by name but let their holder make itself an owner.
    Violation("security-admin-role", "gcp_project", "infra/identity.py",
              'LEAST_PRIVILEGE_PROJECT_ROLES = ("roles/bigquery.jobUser",)',
              'LEAST_PRIVILEGE_PROJECT_ROLES = ("roles/bigquery.jobUser", "roles/iam.securityAdmin")',
              "no-project-basic-or-admin-roles",
              r"resource 'project-iam-securityAdmin' \(gcp:projects/iAMMember:IAMMember\): role is roles/iam\.securityAdmin, "
              r"a role that can make its holder an owner: it holds resourcemanager\.projects\.setIamPolicy.*Fix: "),
    Violation("instance-admin-role", "gcp_project", "infra/identity.py",
              'LEAST_PRIVILEGE_PROJECT_ROLES = ("roles/bigquery.jobUser",)',
              'LEAST_PRIVILEGE_PROJECT_ROLES = ("roles/bigquery.jobUser", "roles/compute.instanceAdmin.v1")',
              "no-project-basic-or-admin-roles",
              r"resource 'project-compute-instanceAdmin-v1' .*role is roles/compute\.instanceAdmin\.v1, a role that can "
              r"make its holder an owner: it holds compute\.instances\.setMetadata"),
    Violation("public-access-prevention", "gcp_project", "infra/storage.py",
              'public_access_prevention="enforced"', 'public_access_prevention="inherited"',
              "bucket-uniform-access-and-public-access-prevention",
              r"resource 'bucket' \(gcp:storage/bucket:Bucket\): publicAccessPrevention is 'inherited'.*"
              r"Fix: public_access_prevention=\"enforced\""),
    Violation("fine-grained-acls", "gcp_project", "infra/storage.py",
              "uniform_bucket_level_access=True", "uniform_bucket_level_access=False",
              "bucket-uniform-access-and-public-access-prevention",
              r"resource 'bucket' \(gcp:storage/bucket:Bucket\): uniformBucketLevelAccess is False.*"
              r"Fix: uniform_bucket_level_access=True"),
    Violation("public-bucket-grant", "gcp_project", "infra/identity.py",
              '                    role=args.bucket_object_role,\n                    member=member,',
              '                    role=args.bucket_object_role,\n                    member="allUsers",',
              "no-public-members",
              r"resource 'bucket-objects' \(gcp:storage/bucketIAMMember:BucketIAMMember\): member grants access to "
              r"allUsers.*Fix: grant a named member"),
    Violation("public-topic-grant", "gcp_project", "infra/events.py",
              'member=gcs_agent.email_address.apply(lambda email: f"serviceAccount:{email}")',
              'member="allAuthenticatedUsers"',
              "no-public-members",
              r"resource 'gcs-agent-publisher' \(gcp:pubsub/topicIAMMember:TopicIAMMember\): member grants access "
              r"to allAuthenticatedUsers"),
    Violation("kestra-on-every-interface", "local_project", "infra/runtimes/docker.py",
              "        host = settings.host_address\n", '        host = "0.0.0.0"\n',
              "docker-ports-on-loopback",
              r"resource 'kestra-kestra' \(docker:index/container:Container\): ports\[0\]\.ip is 0\.0\.0\.0 "
              r"\(host port \d+\).*Fix: publish on 127\.0\.0\.1"),
    Violation("plaintext-password-env", "local_project", "infra/runtimes/docker.py",
              "            envs=postgres_envs,\n",
              '            envs=["POSTGRES_DB=kestra", "POSTGRES_USER=kestra", "POSTGRES_PASSWORD=hunter2hunter2"],\n',
              "docker-env-credentials-are-secrets",
              r"resource 'kestra-postgres' \(docker:index/container:Container\): envs\[2\] \(POSTGRES_PASSWORD\) "
              r"holds a credential but is not a Pulumi secret.*Fix: "),
    # KEY as a whole name part (the README's promise), not only API_KEY / PRIVATE_KEY / ACCESS_KEY.
    Violation("plaintext-signing-key-env", "local_project", "infra/runtimes/docker.py",
              "            envs=postgres_envs,\n",
              '            envs=["POSTGRES_DB=kestra", "POSTGRES_USER=kestra", "SIGNING_KEY=9f2c4e6a8b0d1f3e"],\n',
              "docker-env-credentials-are-secrets",
              r"resource 'kestra-postgres' \(docker:index/container:Container\): envs\[2\] \(SIGNING_KEY\) "
              r"holds a credential but is not a Pulumi secret"),
    # A plaintext URL that embeds a secret config value: caught on upstream's host too, which gives
    # the pack no PULUMI_CONFIG_SECRET_KEYS (the engine's ConfigureStack says which keys are secret).
    Violation("postgres-password-in-database-url", "local_project", "infra/runtimes/docker.py",
              "            envs=postgres_envs,\n",
              '            envs=["POSTGRES_DB=kestra", "DATABASE_URL=postgresql://kestra:" + '
              '__import__("pulumi").Config().require("postgresPassword") + "@postgres:5432/kestra"],\n',
              "docker-env-credentials-are-secrets",
              r"resource 'kestra-postgres' \(docker:index/container:Container\): envs\[1\] \(DATABASE_URL\) "
              r"holds a credential but is not a Pulumi secret",
              secret_config={"postgresPassword": "Pg-7d41c9e0b2"}),
    # No credential-like name: the value is one of the stack's secrets (the Kestra password).
    Violation("stack-secret-in-plain-env", "local_project", "infra/runtimes/docker.py",
              "            envs=postgres_envs,\n",
              '            envs=["POSTGRES_DB=kestra", "KESTRA_LOGIN=" + __import__("pulumi").Config().require("kestraPassword")],\n',
              "docker-env-credentials-are-secrets",
              r"resource 'kestra-postgres' \(docker:index/container:Container\): envs\[1\] \(KESTRA_LOGIN\) "
              r"holds a credential but is not a Pulumi secret"),
    # --- the gke profile ---
    Violation("workload-identity-off", "gke_project", "infra/runtimes/gke/cluster.py",
              '            workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},\n', "",
              "gke-workload-identity",
              r"resource 'cluster' \(gcp:container/cluster:Cluster\): workloadIdentityConfig\.workloadPool is not set.*"
              r'Fix: workload_identity_config=\{"workload_pool": "acme-data-123\.svc\.id\.goog"\}'),
    Violation("nodes-on-the-gce-metadata-server", "gke_project", "infra/runtimes/gke/cluster.py",
              '"workload_metadata_config": {"mode": "GKE_METADATA"},', '"workload_metadata_config": {"mode": "GCE_METADATA"},',
              "gke-workload-identity",
              r"resource 'node-pool' \(gcp:container/nodePool:NodePool\): nodeConfig\.workloadMetadataConfig\.mode is "
              r"GCE_METADATA.*Fix: workload_metadata_config="),
    Violation("service-account-key-on-gke", "gke_project", "__main__.py",
              "create_key=config.docker is not None,", "create_key=True,",
              "gke-no-service-account-keys",
              r"resource 'service-account-key' \(gcp:serviceaccount/key:Key\): serviceAccountId .* gets a downloadable "
              r"key although profile is gke.*Fix: remove the Key"),
    Violation("cloud-sql-public-ip", "gke_project", "infra/runtimes/gke/cloudsql.py",
              '"ipv4_enabled": False,', '"ipv4_enabled": True,',
              "cloud-sql-private-and-ssl-only",
              r"resource 'instance' \(gcp:sql/databaseInstance:DatabaseInstance\): settings\.ipConfiguration\.ipv4Enabled "
              r"is True.*Fix: ip_configuration="),
    Violation("cloud-sql-unencrypted", "gke_project", "infra/runtimes/gke/cloudsql.py",
              '"ssl_mode": "ENCRYPTED_ONLY",', '"ssl_mode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED",',
              "cloud-sql-private-and-ssl-only",
              r"resource 'instance' \(gcp:sql/databaseInstance:DatabaseInstance\): settings\.ipConfiguration\.sslMode is "
              r"'ALLOW_UNENCRYPTED_AND_ENCRYPTED'.*Fix: ssl_mode=\"ENCRYPTED_ONLY\""),
    Violation("chart-service-load-balancer", "gke_project", "infra/runtimes/gke/kestra.py",
              '        "service": {\n            "annotations": {',
              '        "service": {\n            "type": "LoadBalancer",\n            "annotations": {',
              "no-load-balancer-without-tls",
              r"resource 'kestra' \(kubernetes:helm\.sh/v3:Release\): values\.service\.type is LoadBalancer.*"
              r"Fix: keep the Service ClusterIP"),
    Violation("ingress-answers-http", "gke_project", "infra/runtimes/gke/kestra.py",
              '"kubernetes.io/ingress.allow-http": "false",', '"kubernetes.io/ingress.allow-http": "true",',
              "no-load-balancer-without-tls",
              r"resource 'kestra' \(kubernetes:helm\.sh/v3:Release\): values\.ingress\.annotations\["
              r"\"kubernetes\.io/ingress\.allow-http\"\] is 'true'.*Fix: "),
    Violation("load-balancer-service", "gke_project", "infra/runtimes/gke/kestra.py",
              "        endpoint = args.endpoint\n",
              "        endpoint = args.endpoint\n"
              '        k8s.core.v1.Service("public", metadata=metadata, spec={"type": "LoadBalancer", '
              '"selector": {"app.kubernetes.io/name": "kestra"}, "ports": [{"port": 80, "target_port": 8080}]}, '
              "opts=in_namespace)\n",
              "no-load-balancer-without-tls",
              r"resource 'public' \(kubernetes:core/v1:Service\): spec\.type is LoadBalancer.*Fix: keep the Service ClusterIP"),
    Violation("password-in-a-flow", "external_project", "flows/dev.testing/leaky.yaml", "", "{password}",
              "kestra-objects-hold-no-stack-secret",
              # The flows of a namespace are one resource (kestra.resources.NamespaceFlows): the message
              # names the flow, then the resource holding it.
              r"flow 'dev\.testing/leaky' of resource 'dev\.testing/flows' "
              r"\(pulumi-python:dynamic/kestra:NamespaceFlows\)[^\n]*contains the value of "
              r"one of the stack's secrets.*Fix: reference it as \{\{ secret\('NAME'\) \}\}"),
]


def apply(project, v: Violation, password: str) -> Callable[[], None]:
    """Makes the edit; returns what undoes it."""
    path: Path = project.dir / v.file
    if v.old == "":  # a new file
        path.write_text(flow_with(v.new.format(password=password)))
        return path.unlink
    source = path.read_text()
    assert source.count(v.old) == 1, f"{v.file} no longer holds the line this test edits: {v.old!r}"
    path.write_text(source.replace(v.old, v.new))
    return lambda: path.write_text(source)


@pytest.mark.parametrize("v", VIOLATIONS, ids=lambda v: v.id)
def test_each_mandatory_policy_fails_the_preview_on_a_small_violating_edit(v, request, kestra_standin):
    project = request.getfixturevalue(v.profile)
    if v.config:
        project.set_config(v.config)
    if v.secret_config:
        project.set_config(v.secret_config, secret=True)
    undo = apply(project, v, kestra_standin.password)
    run = preview(project)
    print("\n" + run.output[run.output.find("Policies:"):run.output.find("Diagnostics:")])  # docs/policy-pack.md quotes one (-s)
    assert run.returncode != 0, run.output
    assert set(violations(run, "mandatory")) == {v.policy}, run.output
    assert re.search(v.message, run.output), run.output
    assert kestra_standin.password not in run.output  # the message does not leak the secret it found
    undo()
    assert_passes(preview(project))


def test_hostaddress_in_the_stack_config_is_the_deliberate_way_to_publish_kestra(local_project):
    local_project.set_config({"hostAddress": "0.0.0.0"})
    assert_passes(preview(local_project))


def test_a_deliberate_exception_switches_a_policy_off_and_every_preview_says_so(gcp_project):
    v = next(v for v in VIOLATIONS if v.id == "public-bucket-grant")
    apply(gcp_project, v, "")
    reason = "public demo data, approved in TICKET-42"
    gcp_project.pulumi("config", "set", "--path", 'policyExceptions["no-public-members"]', reason)
    run = preview(gcp_project)
    assert_passes(run)
    assert violations(run, "advisory") == ["policy-exceptions-in-use"], run.output
    assert f"policy no-public-members is switched off for this stack by config policyExceptions: {reason}" in run.output
    # A misspelt exception changes nothing but is reported.
    gcp_project.pulumi("config", "rm", "--path", 'policyExceptions["no-public-members"]')
    gcp_project.pulumi("config", "set", "--path", 'policyExceptions["no-public-member"]', "typo")
    run = preview(gcp_project)
    assert run.returncode != 0 and violations(run, "mandatory") == ["no-public-members"], run.output
    assert "config policyExceptions names no-public-member, which is not a policy of this pack" in run.output


ADVISORIES = [
    Violation("labels-dropped", "gcp_project", "infra/events.py",
              '"topic", name=args.topic_name, project=args.project, labels=args.labels, opts=child',
              '"topic", name=args.topic_name, project=args.project, opts=child',
              "gcp-standard-labels",
              r"resource 'topic' \(gcp:pubsub/topic:Topic\): labels lack managed-by, app.*Fix: "),
    Violation("other-project", "gcp_project", "infra/events.py",
              '"topic", name=args.topic_name, project=args.project,',
              '"topic", name=args.topic_name, project="other-project-123",',
              "gcp-resources-in-stack-project",
              r"resource 'topic' \(gcp:pubsub/topic:Topic\): project is other-project-123, not the stack's "
              r"gcp:project acme-data-123.*Fix: "),
    Violation("latest-image", "local_project", "", "", "", "docker-image-tag-pinned",
              r"resource 'kestra-kestra-image' \(docker:index/remoteImage:RemoteImage\): name is "
              r"kestra/kestra:latest, tagged latest.*Fix: pin a version",
              config={"kestraVersion": "latest"}),
]


@pytest.mark.parametrize("v", ADVISORIES, ids=lambda v: v.id)
def test_each_advisory_policy_reports_without_failing_the_preview(v, request, kestra_standin):
    project = request.getfixturevalue(v.profile)
    if v.config:
        project.set_config(v.config)
    if v.file:
        apply(project, v, "")
    run = preview(project)
    assert_passes(run)
    assert violations(run, "advisory") == [v.policy], run.output
    assert re.search(v.message, run.output), run.output


# Resources of every type a policy judges that the stack itself does not create, each violating
# that policy, added to the program: the echo plugins must answer each type (a row in their
# table), and the pack must name each resource in the preview.
PUBLIC = '"allUsers"'
EXTRA_RESOURCES = {
    "no-public-members": ("gcp_project", {
        "gcp:storage/bucketIAMBinding:BucketIAMBinding":
            f'gcp.storage.BucketIAMBinding("{{name}}", bucket="b", role="roles/storage.objectViewer", members=[{PUBLIC}])',
        "gcp:storage/bucketIAMPolicy:BucketIAMPolicy":
            'gcp.storage.BucketIAMPolicy("{name}", bucket="b", policy_data=POLICY)',
        "gcp:storage/bucketAccessControl:BucketAccessControl":
            f'gcp.storage.BucketAccessControl("{{name}}", bucket="b", role="READER", entity={PUBLIC})',
        "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl":
            f'gcp.storage.DefaultObjectAccessControl("{{name}}", bucket="b", role="READER", entity={PUBLIC})',
        "gcp:storage/objectAccessControl:ObjectAccessControl":
            f'gcp.storage.ObjectAccessControl("{{name}}", bucket="b", object="o", role="READER", entity={PUBLIC})',
        "gcp:storage/bucketACL:BucketACL": 'gcp.storage.BucketACL("{name}", bucket="b", role_entities=["READER:allUsers"])',
        "gcp:storage/defaultObjectACL:DefaultObjectACL":
            'gcp.storage.DefaultObjectACL("{name}", bucket="b", role_entities=["READER:allUsers"])',
        "gcp:storage/objectACL:ObjectACL": 'gcp.storage.ObjectACL("{name}", bucket="b", object="o", role_entities=["READER:allUsers"])',
        "gcp:bigquery/datasetIamBinding:DatasetIamBinding":
            f'gcp.bigquery.DatasetIamBinding("{{name}}", dataset_id="d", role="roles/bigquery.dataViewer", members=[{PUBLIC}])',
        "gcp:bigquery/datasetIamPolicy:DatasetIamPolicy": 'gcp.bigquery.DatasetIamPolicy("{name}", dataset_id="d", policy_data=POLICY)',
        "gcp:bigquery/datasetAccess:DatasetAccess":
            f'gcp.bigquery.DatasetAccess("{{name}}", dataset_id="d", role="READER", special_group={PUBLIC})',
        "gcp:pubsub/topicIAMBinding:TopicIAMBinding":
            f'gcp.pubsub.TopicIAMBinding("{{name}}", topic="t", role="roles/pubsub.subscriber", members=[{PUBLIC}])',
        "gcp:pubsub/topicIAMPolicy:TopicIAMPolicy": 'gcp.pubsub.TopicIAMPolicy("{name}", topic="t", policy_data=POLICY)',
        "gcp:pubsub/subscriptionIAMBinding:SubscriptionIAMBinding":
            f'gcp.pubsub.SubscriptionIAMBinding("{{name}}", subscription="s", role="roles/pubsub.subscriber", members=[{PUBLIC}])',
        "gcp:pubsub/subscriptionIAMPolicy:SubscriptionIAMPolicy":
            'gcp.pubsub.SubscriptionIAMPolicy("{name}", subscription="s", policy_data=POLICY)',
    }),
    "no-project-basic-or-admin-roles": ("gcp_project", {
        "gcp:projects/iAMBinding:IAMBinding":
            'gcp.projects.IAMBinding("{name}", project="acme-data-123", role="roles/iam.serviceAccountTokenCreator", '
            'members=["user:a@example.com"])',
        "gcp:projects/iAMPolicy:IAMPolicy": 'gcp.projects.IAMPolicy("{name}", project="acme-data-123", policy_data=OWNER_POLICY)',
    }),
    "no-load-balancer-without-tls": ("gke_project", {
        "kubernetes:networking.k8s.io/v1beta1:Ingress":
            'k8s.networking.v1beta1.Ingress("{name}", metadata={{"name": "{name}", "namespace": "default"}}, '
            'spec={{"rules": [{{"host": "kestra.example.com"}}]}})',
        "kubernetes:extensions/v1beta1:Ingress":
            'k8s.extensions.v1beta1.Ingress("{name}", metadata={{"name": "{name}", "namespace": "default"}}, '
            'spec={{"rules": [{{"host": "kestra.example.com"}}]}})',
    }),
}
PROGRAM_HEADER = '''
import json as _json
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
POLICY = _json.dumps({"bindings": [{"role": "roles/viewer", "members": ["allUsers"]}]})
OWNER_POLICY = _json.dumps({"bindings": [{"role": "roles/owner", "members": ["user:a@example.com"]}]})
'''


@pytest.mark.parametrize("policy", sorted(EXTRA_RESOURCES))
def test_each_type_a_policy_judges_is_judged_through_the_engine(policy, request):
    profile, resources = EXTRA_RESOURCES[policy]
    project = request.getfixturevalue(profile)
    names = {type_: f"probe-{i}" for i, type_ in enumerate(resources)}
    main = project.dir / "__main__.py"
    main.write_text(main.read_text() + PROGRAM_HEADER + "".join(
        code.format(name=names[type_]) + "\n" for type_, code in resources.items()))
    run = preview(project)
    assert run.returncode != 0, run.output
    assert set(violations(run, "mandatory")) == {policy}, run.output
    for type_, name in names.items():
        assert f"resource '{name}' ({type_}): " in run.output, f"{type_} was not judged:\n{run.output}"
