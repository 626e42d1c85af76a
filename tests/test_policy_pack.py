"""The policy pack offline: its ties to the rest of the project, and its policies driven through
pulumi-policy's own analyzer servicer with the requests the engine sends (proto/pulumi/analyzer.proto).
The engine tests run the pack itself through the CLI: tests/engine/test_policy_pack.py."""

from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from google.protobuf import json_format, struct_pb2

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "policy"
PACK_NAME = "kestra-gcp-guardrails"
# The engine's secret mark on a property value (sdk/go/common/resource/sig).
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def pack_module(name: str = "kestra_gcp_policies"):
    """A module of the pack, imported as `pulumi.policy` imports them (policy/ on the path)."""
    sys.path.insert(0, str(POLICY))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(POLICY))


def secret(value: Any) -> dict:
    return {**SECRET_SIG, "value": value}


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:dev::kestra-gcp::{type_}::{name}"


class Pack:
    """The pack's analyzer servicer, called as the engine calls it through the host's policy proxy:
    ConfigureStack (the decrypted config and the secret keys), then Analyze / AnalyzeStack."""

    def __init__(self, module) -> None:
        import pulumi_policy.policy as policy_module
        from pulumi_policy import EnforcementLevel

        self.module = module
        self.servicer = policy_module._PolicyAnalyzerServicer(
            PACK_NAME, "1.0.0", module.POLICIES, EnforcementLevel.MANDATORY)

    def configure(self, config: dict[str, str], secret_keys: list[str]) -> None:
        from pulumi.runtime.proto import analyzer_pb2 as proto

        self.servicer.ConfigureStack(proto.AnalyzerStackConfigureRequest(
            stack="dev", project="kestra-gcp", dry_run=True, config=config, config_secret_keys=secret_keys), None)

    def analyze(self, type_: str, props: dict, name: str = "subject") -> list[tuple[str, str]]:
        from pulumi.runtime.proto import analyzer_pb2 as proto

        request = proto.AnalyzeRequest(type=type_, name=name, urn=urn(type_, name),
                                       properties=json_format.ParseDict(props, struct_pb2.Struct()))
        return self._violations(self.servicer.Analyze(request, None))

    def analyze_stack(self, resources: list[tuple[str, str, dict]]) -> list[tuple[str, str]]:
        from pulumi.runtime.proto import analyzer_pb2 as proto

        request = proto.AnalyzeStackRequest(resources=[
            proto.AnalyzerResource(type=t, name=n, urn=urn(t, n), properties=json_format.ParseDict(p, struct_pb2.Struct()))
            for t, n, p in resources])
        return self._violations(self.servicer.AnalyzeStack(request, None))

    @staticmethod
    def _violations(response) -> list[tuple[str, str]]:
        # pulumi-policy puts the policy's description on the message's first line.
        return [(d.policyName, d.message.removeprefix(d.description + "\n")) for d in response.diagnostics]


@pytest.fixture
def pack(monkeypatch):
    """A fresh pack on the host users have: PULUMI_CONFIG in the environment, no
    PULUMI_CONFIG_SECRET_KEYS (upstream's RunPlugin sets only the former)."""
    import pulumi.runtime.config as runtime_config

    module, support = pack_module(), pack_module("pack_support")
    saved = dict(runtime_config.CONFIG.get())  # the SDK copies PULUMI_CONFIG into this global
    for name in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN"):
        monkeypatch.delenv(name, raising=False)
    def reset():
        support._configured.clear()
        support.settings.cache_clear()

    reset()
    yield Pack(module)
    reset()
    runtime_config.CONFIG.get().clear()
    runtime_config.CONFIG.get().update(saved)


def configure(pack: Pack, monkeypatch, config: dict[str, str], secret_keys: list[str],
              env_secret_keys: Optional[list[str]] = None) -> None:
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    if env_secret_keys is not None:
        monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(env_secret_keys))
    pack.configure(config, secret_keys)


def test_guide_mode_exception_is_exactly_the_walkthroughs_admin_roles():
    # Pulumi.yaml: iamMode guide grants "the walkthrough's project-wide admin roles"; the pack lets
    # exactly those admin roles through in guide mode, and no basic role.
    from infra.identity import GUIDE_PROJECT_ROLES, LEAST_PRIVILEGE_PROJECT_ROLES

    pack = pack_module("gcp_policies")
    assert {r for r in GUIDE_PROJECT_ROLES if pack.is_broad_role(r)} == pack.GUIDE_ADMIN_ROLES
    assert not any(pack.is_broad_role(r) for r in LEAST_PRIVILEGE_PROJECT_ROLES)
    for role in ("roles/owner", "roles/editor", "roles/bigquery.admin", "roles/compute.admin"):
        assert pack.is_broad_role(role), role
    for role in ("roles/viewer", "roles/bigquery.dataEditor", "roles/storage.objectAdmin", "roles/pubsub.subscriber"):
        assert not pack.is_broad_role(role), role


# Roles whose holder can make itself an owner, and the permission that lets it (Google Cloud's
# IAM docs: the Security Admin role "with permissions to get and set any IAM policy"; Project IAM
# Admin administers the project's allow policy; Service Account Admin sets service accounts'
# policies; Service Account User / Token Creator / Key Admin / Workload Identity User impersonate
# (cloud.google.com/iam/docs/service-account-permissions); Compute Instance Admin (v1) sets instance
# and project metadata, so SSH keys, on VMs whose attached service account it then uses
# (cloud.google.com/iam/docs/best-practices-service-accounts, "Limit shell access to VMs…")).
ESCALATING = [
    ("roles/iam.securityAdmin", "resourcemanager.projects.setIamPolicy"),
    ("roles/resourcemanager.projectIamAdmin", "resourcemanager.projects.setIamPolicy"),
    ("roles/iam.serviceAccountAdmin", "iam.serviceAccounts.setIamPolicy"),
    ("roles/compute.instanceAdmin.v1", "compute.instances.setMetadata"),
    ("roles/iam.serviceAccountUser", "iam.serviceAccounts.actAs"),
    ("roles/iam.serviceAccountTokenCreator", "iam.serviceAccounts.getAccessToken"),
    ("roles/iam.serviceAccountKeyAdmin", "iam.serviceAccountKeys.create"),
    ("roles/iam.workloadIdentityUser", "iam.serviceAccounts.getAccessToken"),
    ("roles/iam.roleAdmin", "iam.roles.update"),
]


@pytest.mark.parametrize("role,permission", ESCALATING, ids=[r for r, _ in ESCALATING])
@pytest.mark.parametrize("iam_mode", ["least-privilege", "guide"])
def test_a_project_role_that_can_make_its_holder_an_owner_is_refused(pack, monkeypatch, role, permission, iam_mode):
    configure(pack, monkeypatch, {"kestra-gcp:iamMode": iam_mode}, [])
    found = pack.analyze("gcp:projects/iAMMember:IAMMember",
                         {"project": "acme-data-123", "role": role, "member": "serviceAccount:a@b.iam.gserviceaccount.com"})
    assert [p for p, _ in found] == ["no-project-basic-or-admin-roles"], found
    assert f"role is {role}, a role that can make its holder an owner: it holds {permission}" in found[0][1]


def test_the_same_roles_in_a_project_policy_document_are_refused(pack, monkeypatch):
    configure(pack, monkeypatch, {}, [])
    policy = json.dumps({"bindings": [{"role": "roles/bigquery.jobUser", "members": ["user:a@example.com"]},
                                      {"role": "roles/iam.securityAdmin", "members": ["user:a@example.com"]}]})
    found = pack.analyze("gcp:projects/iAMPolicy:IAMPolicy", {"project": "acme-data-123", "policyData": policy})
    assert [p for p, _ in found] == ["no-project-basic-or-admin-roles"]
    assert "policyData.bindings[1].role is roles/iam.securityAdmin" in found[0][1]


def test_the_walkthroughs_admin_roles_pass_in_guide_mode_only(pack, monkeypatch):
    for role in ("roles/bigquery.admin", "roles/storage.admin"):
        props = {"project": "acme-data-123", "role": role, "member": "serviceAccount:a@b.iam.gserviceaccount.com"}
        configure(pack, monkeypatch, {"kestra-gcp:iamMode": "guide"}, [])
        assert pack.analyze("gcp:projects/iAMMember:IAMMember", props) == []
        configure(pack, monkeypatch, {}, [])
        assert [p for p, _ in pack.analyze("gcp:projects/iAMMember:IAMMember", props)] == ["no-project-basic-or-admin-roles"]


CONTAINER = "docker:index/container:Container"


def container(*envs: Any) -> dict:
    return {"name": "kestra-app", "image": "sha256:0", "envs": list(envs)}


# The README promises names containing KEY; PASS, PWD, SECRET, TOKEN, CREDENTIAL likewise, as
# whole name parts.
@pytest.mark.parametrize("name", ["SIGNING_KEY", "ENCRYPTION_KEY", "DB_PASS", "MYSQL_PWD", "API_KEY", "GITHUB_TOKEN",
                                  "POSTGRES_PASSWORD", "CLIENT_SECRET", "GOOGLE_CREDENTIALS", "dbPassword"])
def test_a_plaintext_variable_named_as_a_credential_is_refused(pack, monkeypatch, name):
    configure(pack, monkeypatch, {}, [])
    found = pack.analyze(CONTAINER, container("POSTGRES_DB=kestra", f"{name}=s3cr3t-value"))
    assert [p for p, _ in found] == ["docker-env-credentials-are-secrets"], found
    assert f"envs[1] ({name}) holds a credential but is not a Pulumi secret" in found[0][1]
    # The same variable as a secret passes: the mark is what counts.
    assert pack.analyze(CONTAINER, container("POSTGRES_DB=kestra", secret(f"{name}=s3cr3t-value"))) == []


# Names of the stack's own plaintext-safe variables (infra/runtime.py: POSTGRES_DB, POSTGRES_USER,
# KESTRA_CONFIGURATION), and names that only contain a credential word inside another word or
# name where a credential is (Docker's *_FILE convention, a key's id).
@pytest.mark.parametrize("name", ["POSTGRES_DB", "POSTGRES_USER", "KESTRA_CONFIGURATION", "MONKEY_MODE",
                                  "PASSTHROUGH", "TOKENIZER", "POSTGRES_PASSWORD_FILE", "AWS_ACCESS_KEY_ID"])
def test_a_plaintext_variable_not_named_as_a_credential_passes(pack, monkeypatch, name):
    configure(pack, monkeypatch, {}, [])
    assert pack.analyze(CONTAINER, container(f"{name}=some-value")) == []


POSTGRES_PASSWORD = "Pg-0f3e9a7c2b"


def test_a_plaintext_variable_holding_a_secret_config_value_is_refused_on_upstreams_host(pack, monkeypatch):
    # Upstream's host gives the pack PULUMI_CONFIG only; the engine's ConfigureStack says which
    # keys are secret.
    configure(pack, monkeypatch, {"kestra-gcp:postgresPassword": POSTGRES_PASSWORD, "kestra-gcp:profile": "local"},
              ["kestra-gcp:postgresPassword"])
    url = f"DATABASE_URL=postgresql://kestra:{POSTGRES_PASSWORD}@postgres:5432/kestra"
    found = pack.analyze(CONTAINER, container("POSTGRES_DB=kestra", url))
    assert [p for p, _ in found] == ["docker-env-credentials-are-secrets"], found
    assert "envs[1] (DATABASE_URL) holds a credential" in found[0][1]
    assert POSTGRES_PASSWORD not in found[0][1]
    assert pack.analyze(CONTAINER, container("POSTGRES_DB=kestra", secret(url))) == []
    # A plaintext config value in a variable is no credential.
    assert pack.analyze(CONTAINER, container("KESTRA_PROFILE=local", "POSTGRES_DB=kestra")) == []


def test_a_flow_holding_a_secret_config_value_is_refused_on_upstreams_host(pack, monkeypatch):
    configure(pack, monkeypatch, {"kestra-gcp:kestraPassword": "Kestra-pw-81b2c"}, ["kestra-gcp:kestraPassword"])
    flow = ("pulumi-python:dynamic/kestra:Flow", "dev.testing/leaky",
            {"source": "id: leaky\nnamespace: dev.testing\nlabels:\n  note: Kestra-pw-81b2c\n"})
    found = pack.analyze_stack([flow])
    assert [p for p, _ in found] == ["kestra-objects-hold-no-stack-secret"], found


NAMESPACE_FLOWS = "pulumi-python:dynamic/kestra:NamespaceFlows"


def namespace_flows(**flows: Any) -> dict:
    """The properties of a `<ns>/flows` resource: its connection and one `dev.testing/<id>` per flow."""
    return {"url": "http://127.0.0.1:8080", "username": "admin@kestra.io", "password": secret("Kestra-pw-81b2c"),
            "tenant": "main", "namespace": "dev.testing", "directory": "flows/dev.testing",
            **{f"dev.testing/{fid}": source for fid, source in flows.items()}}


def test_a_leaky_flow_among_the_flows_of_a_namespace_is_named(pack, monkeypatch):
    configure(pack, monkeypatch, {"kestra-gcp:kestraPassword": "Kestra-pw-81b2c"}, ["kestra-gcp:kestraPassword"])
    leaky = "id: leaky\nnamespace: dev.testing\nlabels:\n  note: Kestra-pw-81b2c\n"
    clean = "id: clean\nnamespace: dev.testing\nlabels:\n  note: \"{{ secret('KESTRA_PASSWORD') }}\"\n"
    also_leaky = "id: zz_also\nnamespace: dev.testing\n# Kestra-pw-81b2c\n"
    found = pack.analyze_stack([(NAMESPACE_FLOWS, "dev.testing/flows",
                                 namespace_flows(clean=clean, leaky=leaky, zz_also=also_leaky))])
    assert [p for p, _ in found] == ["kestra-objects-hold-no-stack-secret"] * 2, found
    for (_, message), flow in zip(found, ("leaky", "zz_also")):
        assert message.startswith(
            f"flow 'dev.testing/{flow}' of resource 'dev.testing/flows' ({NAMESPACE_FLOWS}): source contains the "
            "value of one of the stack's secrets, which Kestra shows in plaintext"), message
        assert "Kestra-pw-81b2c" not in message
    # Clean flows pass, and so does the connection's own password (a secret, not shown by Kestra).
    assert pack.analyze_stack([(NAMESPACE_FLOWS, "dev.testing/flows", namespace_flows(clean=clean))]) == []
    # A flow source sent as a secret is not shown in plaintext by the state either way: the
    # policy judges only what is plain, as for the other types.
    assert pack.analyze_stack([(NAMESPACE_FLOWS, "dev.testing/flows", namespace_flows(leaky=secret(leaky)))]) == []


def test_a_namespace_resource_whose_flow_is_still_unknown_passes_the_preview(pack, monkeypatch):
    from pulumi.runtime.rpc import UNKNOWN as UNKNOWN_VALUE

    configure(pack, monkeypatch, {"kestra-gcp:kestraPassword": "Kestra-pw-81b2c"}, ["kestra-gcp:kestraPassword"])
    props = namespace_flows(later=UNKNOWN_VALUE, leaky="id: leaky\nnamespace: dev.testing\n# Kestra-pw-81b2c\n")
    found = pack.analyze_stack([(NAMESPACE_FLOWS, "dev.testing/flows", props)])
    assert len(found) == 1 and found[0][1].startswith(
        f"flow 'dev.testing/leaky' of resource 'dev.testing/flows' ({NAMESPACE_FLOWS}): source contains"), found


def test_our_hosts_secret_key_variable_still_counts(pack, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"kestra-gcp:postgresPassword": POSTGRES_PASSWORD}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["kestra-gcp:postgresPassword"]))
    found = pack.analyze(CONTAINER, container(f"DATABASE_URL=postgresql://kestra:{POSTGRES_PASSWORD}@db/kestra"))
    assert [p for p, _ in found] == ["docker-env-credentials-are-secrets"], found


def test_without_any_word_on_secret_keys_the_pack_fails_closed(pack, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"kestra-gcp:postgresPassword": POSTGRES_PASSWORD}))
    found = pack.analyze_stack([])
    assert [p for p, _ in found] == ["kestra-objects-hold-no-stack-secret"], found
    assert "cannot tell which stack config values are secret" in found[0][1]


def test_the_pack_knows_nothing_of_the_programs_modules():
    for path in POLICY.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & {"infra", "kestra", "tests"}, f"{path.name} imports {imported & {'infra', 'kestra', 'tests'}}"


def test_the_pack_runs_in_the_projects_virtualenv_which_pins_pulumi_policy():
    spec = yaml.safe_load((POLICY / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"] == {"name": "python", "options": {"virtualenv": "../venv"}}
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"]["virtualenv"] == "venv"  # ../venv seen from policy/
    pins = [line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("pulumi-policy")]
    assert pins == ["pulumi-policy==1.21.0"]  # the pack reads secret marks through this version's servicer


def test_every_policy_has_an_engine_test_that_makes_it_fire():
    pack = pack_module()
    engine_tests = (REPO / "tests" / "engine" / "test_policy_pack.py").read_text()
    for policy in pack.POLICIES:
        assert f'"{policy.name}"' in engine_tests, f"no engine test makes {policy.name} fire"


# ---------------------------------------------------------------------------------------------
# Every policy on every resource type it judges: a violating input (the properties as the real
# providers' schemas name them) makes exactly that policy fire with a message naming the
# property, and a compliant one passes.

STACK_PROJECT = "acme-data-123"
USER = "user:a@example.com"
POLICY_DATA = {m: json.dumps({"bindings": [{"role": "roles/viewer", "members": [m]}]}) for m in ("allUsers", USER)}
# Type: (violating properties, the path the message names, compliant properties).
PUBLIC_MEMBER_CASES = {
    "gcp:storage/bucketIAMMember:BucketIAMMember": (
        {"bucket": "b", "role": "roles/storage.objectViewer", "member": "allUsers"}, "member",
        {"bucket": "b", "role": "roles/storage.objectViewer", "member": USER}),
    "gcp:storage/bucketIAMBinding:BucketIAMBinding": (
        {"bucket": "b", "role": "roles/storage.objectViewer", "members": [USER, "allUsers"]}, "members[1]",
        {"bucket": "b", "role": "roles/storage.objectViewer", "members": [USER]}),
    "gcp:storage/bucketIAMPolicy:BucketIAMPolicy": (
        {"bucket": "b", "policyData": POLICY_DATA["allUsers"]}, "policyData.bindings[0].members[0]",
        {"bucket": "b", "policyData": POLICY_DATA[USER]}),
    "gcp:storage/bucketAccessControl:BucketAccessControl": (
        {"bucket": "b", "role": "READER", "entity": "allUsers"}, "entity",
        {"bucket": "b", "role": "READER", "entity": "user-a@example.com"}),
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl": (
        {"bucket": "b", "role": "READER", "entity": "allUsers"}, "entity",
        {"bucket": "b", "role": "READER", "entity": "user-a@example.com"}),
    "gcp:storage/objectAccessControl:ObjectAccessControl": (
        {"bucket": "b", "object": "o", "role": "READER", "entity": "allUsers"}, "entity",
        {"bucket": "b", "object": "o", "role": "READER", "entity": "user-a@example.com"}),
    "gcp:storage/bucketACL:BucketACL": (
        {"bucket": "b", "roleEntities": ["OWNER:user-a@example.com", "READER:allUsers"]}, "roleEntities[1]",
        {"bucket": "b", "roleEntities": ["OWNER:user-a@example.com"]}),
    "gcp:storage/defaultObjectACL:DefaultObjectACL": (
        {"bucket": "b", "roleEntities": ["READER:allUsers"]}, "roleEntities[0]",
        {"bucket": "b", "roleEntities": ["READER:user-a@example.com"]}),
    "gcp:storage/objectACL:ObjectACL": (
        {"bucket": "b", "object": "o", "roleEntities": ["READER:allUsers"]}, "roleEntities[0]",
        {"bucket": "b", "object": "o", "roleEntities": ["READER:user-a@example.com"]}),
    "gcp:bigquery/datasetIamMember:DatasetIamMember": (
        {"datasetId": "d", "role": "roles/bigquery.dataViewer", "member": "allUsers"}, "member",
        {"datasetId": "d", "role": "roles/bigquery.dataViewer", "member": USER}),
    "gcp:bigquery/datasetIamBinding:DatasetIamBinding": (
        {"datasetId": "d", "role": "roles/bigquery.dataViewer", "members": ["allUsers"]}, "members[0]",
        {"datasetId": "d", "role": "roles/bigquery.dataViewer", "members": [USER]}),
    "gcp:bigquery/datasetIamPolicy:DatasetIamPolicy": (
        {"datasetId": "d", "policyData": POLICY_DATA["allUsers"]}, "policyData.bindings[0].members[0]",
        {"datasetId": "d", "policyData": POLICY_DATA[USER]}),
    "gcp:bigquery/dataset:Dataset": (
        {"datasetId": "d", "labels": {"managed-by": "pulumi", "app": "kestra"},
         "accesses": [{"role": "OWNER", "userByEmail": "a@example.com"}, {"role": "READER", "specialGroup": "allUsers"}]},
        "accesses[1].specialGroup",
        {"datasetId": "d", "labels": {"managed-by": "pulumi", "app": "kestra"},
         "accesses": [{"role": "OWNER", "userByEmail": "a@example.com"}, {"role": "READER", "specialGroup": "projectReaders"}]}),
    "gcp:bigquery/datasetAccess:DatasetAccess": (
        {"datasetId": "d", "role": "READER", "iamMember": "allUsers"}, "iamMember",
        {"datasetId": "d", "role": "READER", "iamMember": USER}),
    "gcp:pubsub/topicIAMMember:TopicIAMMember": (
        {"topic": "t", "role": "roles/pubsub.subscriber", "member": "allUsers"}, "member",
        {"topic": "t", "role": "roles/pubsub.subscriber", "member": USER}),
    "gcp:pubsub/topicIAMBinding:TopicIAMBinding": (
        {"topic": "t", "role": "roles/pubsub.subscriber", "members": ["allUsers"]}, "members[0]",
        {"topic": "t", "role": "roles/pubsub.subscriber", "members": [USER]}),
    "gcp:pubsub/topicIAMPolicy:TopicIAMPolicy": (
        {"topic": "t", "policyData": POLICY_DATA["allUsers"]}, "policyData.bindings[0].members[0]",
        {"topic": "t", "policyData": POLICY_DATA[USER]}),
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": (
        {"subscription": "s", "role": "roles/pubsub.subscriber", "member": "allUsers"}, "member",
        {"subscription": "s", "role": "roles/pubsub.subscriber", "member": USER}),
    "gcp:pubsub/subscriptionIAMBinding:SubscriptionIAMBinding": (
        {"subscription": "s", "role": "roles/pubsub.subscriber", "members": ["allUsers"]}, "members[0]",
        {"subscription": "s", "role": "roles/pubsub.subscriber", "members": [USER]}),
    "gcp:pubsub/subscriptionIAMPolicy:SubscriptionIAMPolicy": (
        {"subscription": "s", "policyData": POLICY_DATA["allUsers"]}, "policyData.bindings[0].members[0]",
        {"subscription": "s", "policyData": POLICY_DATA[USER]}),
}


INGRESS_OK = {"metadata": {"annotations": {"ingress.gcp.kubernetes.io/pre-shared-cert": "kestra-cert",
                                           "kubernetes.io/ingress.allow-http": "false"}},
              "spec": {"rules": [{"host": "kestra.example.com"}]}}
INGRESS_HTTP = {"metadata": {"annotations": {"ingress.gcp.kubernetes.io/pre-shared-cert": "kestra-cert"}},
                "spec": {"rules": [{"host": "kestra.example.com"}]}}
CHART_OK = {"values": {"service": {"type": "ClusterIP"}, "ingress": {"enabled": True, "annotations": INGRESS_OK["metadata"]["annotations"]}}}
BUCKET_OK = {"name": "b", "project": STACK_PROJECT, "uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced",
             "labels": {"managed-by": "pulumi", "app": "kestra"}}
LABELS = {"managed-by": "pulumi", "app": "kestra"}
CLUSTER_OK = {"project": STACK_PROJECT, "workloadIdentityConfig": {"workloadPool": f"{STACK_PROJECT}.svc.id.goog"},
              "nodeConfig": {"workloadMetadataConfig": {"mode": "GKE_METADATA"}}}
SQL_OK = {"settings": {"ipConfiguration": {"ipv4Enabled": False, "privateNetwork": "projects/p/global/networks/n",
                                           "sslMode": "ENCRYPTED_ONLY"}}}
CONTAINER_OK = {"name": "kestra-app", "ports": [{"internal": 8080, "external": 8080, "ip": "127.0.0.1"}],
                "envs": ["POSTGRES_DB=kestra", secret("POSTGRES_PASSWORD=Pg-0f3e9a7c2b")]}
KESTRA_PASSWORD = "Kestra-pw-81b2c"


def resource_cases() -> list[tuple[str, str, dict, str, dict]]:
    """(policy, type, violating, what the message says, compliant) of every resource policy."""
    roles = "no-project-basic-or-admin-roles"
    member = {"project": STACK_PROJECT, "member": "user:a@example.com"}
    cases = [
        (roles, "gcp:projects/iAMMember:IAMMember", {**member, "role": "roles/iam.securityAdmin"},
         "role is roles/iam.securityAdmin", {**member, "role": "roles/bigquery.jobUser"}),
        (roles, "gcp:projects/iAMBinding:IAMBinding", {"project": STACK_PROJECT, "role": "roles/owner", "members": ["user:a@example.com"]},
         "role is roles/owner, a basic role", {"project": STACK_PROJECT, "role": "roles/viewer", "members": ["user:a@example.com"]}),
        (roles, "gcp:projects/iAMPolicy:IAMPolicy",
         {"project": STACK_PROJECT, "policyData": json.dumps({"bindings": [{"role": "roles/compute.instanceAdmin.v1", "members": ["user:a@example.com"]}]})},
         "policyData.bindings[0].role is roles/compute.instanceAdmin.v1",
         {"project": STACK_PROJECT, "policyData": json.dumps({"bindings": [{"role": "roles/bigquery.jobUser", "members": ["user:a@example.com"]}]})}),
        ("bucket-uniform-access-and-public-access-prevention", "gcp:storage/bucket:Bucket",
         {**BUCKET_OK, "publicAccessPrevention": "inherited"}, "publicAccessPrevention is 'inherited'", BUCKET_OK),
        ("docker-ports-on-loopback", "docker:index/container:Container",
         {**CONTAINER_OK, "ports": [{"internal": 8080, "external": 8080, "ip": "0.0.0.0"}]}, "ports[0].ip is 0.0.0.0", CONTAINER_OK),
        ("docker-env-credentials-are-secrets", "docker:index/container:Container",
         {**CONTAINER_OK, "envs": ["POSTGRES_DB=kestra", "ENCRYPTION_KEY=0f3e9a7c2b44"]}, "envs[1] (ENCRYPTION_KEY)", CONTAINER_OK),
        ("gke-workload-identity", "gcp:container/cluster:Cluster",
         {**CLUSTER_OK, "workloadIdentityConfig": {}}, "workloadIdentityConfig.workloadPool is not set", CLUSTER_OK),
        ("gke-workload-identity", "gcp:container/nodePool:NodePool",
         {"cluster": "c", "nodeConfig": {"workloadMetadataConfig": {"mode": "GCE_METADATA"}}},
         "nodeConfig.workloadMetadataConfig.mode is GCE_METADATA", {"cluster": "c", "nodeConfig": CLUSTER_OK["nodeConfig"]}),
        ("cloud-sql-private-and-ssl-only", "gcp:sql/databaseInstance:DatabaseInstance",
         {"settings": {"ipConfiguration": {**SQL_OK["settings"]["ipConfiguration"], "sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED"}}},
         "settings.ipConfiguration.sslMode is 'ALLOW_UNENCRYPTED_AND_ENCRYPTED'", SQL_OK),
        ("no-load-balancer-without-tls", "kubernetes:core/v1:Service", {"spec": {"type": "LoadBalancer"}},
         "spec.type is LoadBalancer", {"spec": {"type": "ClusterIP"}}),
        *[("no-load-balancer-without-tls", t, INGRESS_HTTP, 'metadata.annotations["kubernetes.io/ingress.allow-http"] is None',
           INGRESS_OK) for t in ("kubernetes:networking.k8s.io/v1:Ingress", "kubernetes:networking.k8s.io/v1beta1:Ingress",
                                 "kubernetes:extensions/v1beta1:Ingress")],
        *[("no-load-balancer-without-tls", t, {"values": {"service": {"type": "LoadBalancer"}}},
           "values.service.type is LoadBalancer", CHART_OK) for t in ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")],
        *[("gcp-standard-labels", t, {**props, "labels": {"app": "kestra"}}, "labels lack managed-by", {**props, "labels": LABELS})
          for t, props in (("gcp:storage/bucket:Bucket", BUCKET_OK), ("gcp:bigquery/dataset:Dataset", {"datasetId": "d"}),
                           ("gcp:pubsub/topic:Topic", {"name": "t"}), ("gcp:pubsub/subscription:Subscription", {"name": "s", "topic": "t"}))],
        ("docker-image-tag-pinned", "docker:index/remoteImage:RemoteImage", {"name": "kestra/kestra:latest"},
         "name is kestra/kestra:latest, tagged latest", {"name": "kestra/kestra:v1.1.7"}),
    ]
    for type_, (props, path, compliant) in PUBLIC_MEMBER_CASES.items():
        entry = "READER:allUsers" if path.startswith("roleEntities") else "allUsers"  # the ACL entry as written
        cases.append(("no-public-members", type_, props, f"{path} grants access to {entry}, that is to anyone", compliant))
    return cases


RESOURCE_CASES = resource_cases()
STACK_CASES = [
    # (policy, type, violating resource, what the message says, compliant resource, config)
    ("gke-no-service-account-keys", "gcp:serviceaccount/key:Key", {"serviceAccountId": "projects/p/serviceAccounts/k@p"},
     "serviceAccountId projects/p/serviceAccounts/k@p gets a downloadable key although profile is gke", None, {"kestra-gcp:profile": "gke"}),
    *[("kestra-objects-hold-no-stack-secret", t, {key: f"note: {KESTRA_PASSWORD}\n"}, f"{key} contains the value of one of the stack's secrets",
       {key: "note: {{ secret('KESTRA_PASSWORD') }}\n"}, {"kestra-gcp:kestraPassword": KESTRA_PASSWORD})
      for t, key in (("pulumi-python:dynamic/kestra:Flow", "source"), ("pulumi-python:dynamic/kestra:Dashboard", "source"),
                     ("pulumi-python:dynamic/kestra:NamespaceFile", "content"), ("pulumi-python:dynamic/kestra:KvEntry", "value"))],
    # One property per flow, named <namespace>/<flow_id>; the message names the flow too.
    ("kestra-objects-hold-no-stack-secret", "pulumi-python:dynamic/kestra:NamespaceFlows",
     {"dev.testing/leaky": f"note: {KESTRA_PASSWORD}\n"}, "source contains the value of one of the stack's secrets",
     {"dev.testing/clean": "note: {{ secret('KESTRA_PASSWORD') }}\n"}, {"kestra-gcp:kestraPassword": KESTRA_PASSWORD}),
]


@pytest.mark.parametrize("policy,type_,bad,says,good", RESOURCE_CASES, ids=[f"{c[0]}:{c[1]}" for c in RESOURCE_CASES])
def test_each_resource_policy_judges_each_type_it_claims(pack, monkeypatch, policy, type_, bad, says, good):
    configure(pack, monkeypatch, {"gcp:project": STACK_PROJECT}, [])
    found = pack.analyze(type_, bad)
    assert [p for p, _ in found] == [policy], found
    assert f"resource 'subject' ({type_}): {says}" in found[0][1], found[0][1]
    assert pack.analyze(type_, good) == []


@pytest.mark.parametrize("policy,type_,bad,says,good,config", STACK_CASES, ids=[f"{c[0]}:{c[1]}" for c in STACK_CASES])
def test_each_stack_policy_judges_each_type_it_claims(pack, monkeypatch, policy, type_, bad, says, good, config):
    configure(pack, monkeypatch, config, [k for k in config if k.endswith("Password")])
    found = pack.analyze_stack([(type_, "subject", bad)])
    assert [p for p, _ in found] == [policy], found
    assert f"resource 'subject' ({type_}): {says}" in found[0][1], found[0][1]
    assert KESTRA_PASSWORD not in found[0][1]
    assert pack.analyze_stack([(type_, "subject", good)] if good is not None else []) == []


def echo_table_types() -> set[str]:
    """The resource types the echo plugins answer (the keys of table.go's `resources`)."""
    import re

    table = (REPO / "tools" / "pulumi" / "cmd" / "pulumi-resource-echo" / "table.go").read_text()
    body = table[table.index("var resources = map[string]resourceSpec{"):table.index("\n}\n", table.index("var resources"))]
    return set(re.findall(r'^\t"([a-z0-9-]+:[^"]+)": \{', body, re.M))


GCP_TYPES = sorted(t for t in echo_table_types() if t.startswith("gcp:"))


@pytest.mark.parametrize("type_", GCP_TYPES)
def test_every_gcp_type_is_held_to_the_stacks_project(pack, monkeypatch, type_):
    configure(pack, monkeypatch, {"gcp:project": STACK_PROJECT}, [])
    policy = "gcp-resources-in-stack-project"
    found = [m for p, m in pack.analyze(type_, {"project": "other-project-123"}) if p == policy]
    assert found == [f"resource 'subject' ({type_}): project is other-project-123, not the stack's gcp:project "
                     f"{STACK_PROJECT}, so `pulumi destroy` of this stack reaches into another project. Fix: drop the "
                     f"explicit project or use the stack's."]
    assert [p for p, _ in pack.analyze(type_, {"project": STACK_PROJECT}) if p == policy] == []


def test_the_cases_above_are_exactly_the_types_each_policy_claims():
    claims = {(policy, t) for policy, types in pack_module("pack_support").JUDGED_TYPES.items() for t in types}
    cases = {(c[0], c[1]) for c in RESOURCE_CASES + STACK_CASES} | {("gcp-resources-in-stack-project", "gcp:")}
    assert cases == claims
    # Every GCP type a policy names is among those the project policy is tried on.
    assert {t for _, t in claims if t.startswith("gcp:") and t != "gcp:"} <= set(GCP_TYPES)


# Types no echo plugin can stand in for: a remote component (the engine asks the provider to
# Construct it; the echo plugins answer custom resources) and the program's dynamic resources
# (pulumi-python's dynamic provider, not an echo plugin).
NOT_ECHOED = {"kubernetes:helm.sh/v4:Chart"}


def test_every_type_a_policy_judges_has_an_echo_row():
    claimed = {t for types in pack_module("pack_support").JUDGED_TYPES.values() for t in types
               if t.split(":")[0] in ("gcp", "docker", "kubernetes") and t != "gcp:"}
    assert claimed - NOT_ECHOED <= echo_table_types(), sorted(claimed - NOT_ECHOED - echo_table_types())
