"""Every profile on the real engine: the Pulumi CLI runs the program with the echo provider plugins
standing in for gcp, docker, random, kubernetes and tls, and Kestra's address pointing at the
stand-in — for Docker its published port, for GKE the reserved global address, where the stand-in
answers HTTPS as the Ingress's load balancer with the certificate the stack issued and uploaded.

For each profile: `up` deploys what the docs say, a second `preview --expect-no-changes` finds
nothing to do, `stack output --json` keeps secret outputs secret, the state holds no plaintext
secret (neither those the test set nor those the stack generated), keepData is honoured by the
engine's own deletes, and `destroy` deletes everything it created.
"""

from __future__ import annotations

import base64
import json
import re
import secrets as random_secrets
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from kestra.client import KestraTlsError
from kestra.smoke import client_from_outputs
from tests.engine.conftest import ECHO_STORE_ENV, PROJECT_ID, REPO_ROOT
from tests.engine.deployed import expected_deployment, live
from tests.engine.test_lifecycle import UP, summary
from tests.support.echo_cloud import live_resources

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

# docs/keeping-data.md: keepData retains the bucket, its objects and the datasets.
RETAINED_GCP_TYPES = {"gcp:storage/bucket:Bucket", "gcp:storage/bucketObject:BucketObject", "gcp:bigquery/dataset:Dataset"}
# docs/keeping-data.md, "On GKE": keepData also keeps the Cloud SQL instance with
# its database and user, the internal-storage bucket, and what the instance sits on: the VPC, the
# peering range and the private services connection — (type, resource name).
RETAINED_GKE = {
    ("gcp:sql/databaseInstance:DatabaseInstance", "instance"), ("gcp:sql/database:Database", "database"),
    ("gcp:sql/user:User", "user"), ("gcp:storage/bucket:Bucket", "internal-storage"),
    ("gcp:compute/network:Network", "network"), ("gcp:compute/globalAddress:GlobalAddress", "private-services-range"),
    ("gcp:servicenetworking/connection:Connection", "private-services"),
}
# README "Keeping data": on the Docker runtime keepData keeps the two volumes, Kestra's database and
# its internal storage (KV values, namespace files).
RETAINED_DOCKER_TYPES = {"docker:index/volume:Volume"}
# Outputs (and inputs) the providers' schemas mark sensitive, which the stack generates or derives
# ("attr.field": that field of each item of a list).
GENERATED_SECRETS = {
    "random:index/randomPassword:RandomPassword": ("result", "bcryptHash"),
    "gcp:serviceaccount/key:Key": ("privateKey",),
    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"),
    "gcp:compute/sSLCertificate:SSLCertificate": ("privateKey",),
    "gcp:sql/databaseInstance:DatabaseInstance": ("serverCaCerts.cert",),  # each CA's PEM (not its dates)
    "gcp:sql/user:User": ("password",),
    "kubernetes:core/v1:Secret": ("stringData",),
}


@dataclass(frozen=True)
class Profile:
    fixture: str
    include_gcp: bool
    echo: bool
    # Resource types the program registers with this profile (README, architecture).
    types: frozenset = field(default_factory=frozenset)
    standin: str = "kestra_standin"  # the fixture running the Kestra the profile deploys to
    generated: int = 0  # how many generated secret values the state holds (GENERATED_SECRETS)


DOCKER_TYPES = frozenset({
    "docker:index/network:Network", "docker:index/volume:Volume", "docker:index/remoteImage:RemoteImage",
    "docker:index/container:Container",
})
GCP_TYPES = frozenset({
    "gcp:projects/service:Service", "gcp:storage/bucket:Bucket", "gcp:storage/bucketObject:BucketObject",
    "gcp:bigquery/dataset:Dataset", "gcp:pubsub/topic:Topic", "gcp:pubsub/subscription:Subscription",
    "gcp:pubsub/topicIAMMember:TopicIAMMember", "gcp:storage/notification:Notification",
    "gcp:serviceaccount/account:Account", "gcp:serviceaccount/key:Key", "gcp:projects/iAMMember:IAMMember",
    "gcp:bigquery/datasetIamMember:DatasetIamMember", "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
})
# docs/gke.md: the gcp profile's resources without the key, the network, GKE, Cloud SQL,
# the HTTPS endpoint with the stack's own CA (no kestraDomain), Kestra's release and objects.
GKE_TYPES = (GCP_TYPES - {"gcp:serviceaccount/key:Key"}) | frozenset({
    "gcp:compute/network:Network", "gcp:compute/subnetwork:Subnetwork", "gcp:compute/globalAddress:GlobalAddress",
    "gcp:servicenetworking/connection:Connection", "gcp:compute/router:Router", "gcp:compute/routerNat:RouterNat",
    "gcp:compute/firewall:Firewall", "gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool",
    "gcp:sql/databaseInstance:DatabaseInstance", "gcp:sql/database:Database", "gcp:sql/user:User",
    "gcp:compute/sSLCertificate:SSLCertificate", "gcp:serviceaccount/iAMMember:IAMMember",
    "tls:index/privateKey:PrivateKey", "tls:index/selfSignedCert:SelfSignedCert", "tls:index/certRequest:CertRequest",
    "tls:index/locallySignedCert:LocallySignedCert",
    "kubernetes:core/v1:Namespace", "kubernetes:core/v1:Secret", "kubernetes:core/v1:ConfigMap",
    "kubernetes:cloud.google.com/v1:BackendConfig", "kubernetes:helm.sh/v3:Release",
    "random:index/randomPassword:RandomPassword",
})
PROFILES = {
    # Kestra's password comes from config here (the stand-in's), so only Postgres' is generated:
    # its password and bcrypt hash (, the service account key).
    "gcp": Profile("gcp_project", include_gcp=True, echo=True,
                   types=GCP_TYPES | DOCKER_TYPES | {"random:index/randomPassword:RandomPassword"}, generated=3),
    "local": Profile("local_project", include_gcp=False, echo=True,
                     types=DOCKER_TYPES | {"random:index/randomPassword:RandomPassword"}, generated=2),
    "external": Profile("external_project", include_gcp=False, echo=False),
    # Cloud SQL's password and its hash, the user's password, two TLS keys in three encodings, the
    # server key as uploaded, Cloud SQL's server CA, the two Kubernetes Secrets' data.
    "gke": Profile("gke_project", include_gcp=True, echo=True, types=GKE_TYPES, standin="gke_standin",
                   generated=2 + 1 + 6 + 1 + 1 + 2),
}


def secret_strings(value) -> list[str]:
    """The strings inside a secret's plaintext (a map's values, a list's items, nested)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in secret_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in secret_strings(v)]
    return []


def stored_forms(value: str) -> set[str]:
    """How a secret value can appear in an exported state: as is, JSON-escaped (PEM, YAML), and
    base64-encoded (Kestra's SECRET_* variables), escaped too."""
    encoded = base64.b64encode(value.encode()).decode()
    return {value, json.dumps(value)[1:-1], encoded}


def run_smoke(outputs: dict) -> subprocess.CompletedProcess:
    """The README's smoke run: `pulumi stack output --json --show-secrets | python -m kestra.smoke --stack-output -`."""
    return subprocess.run([sys.executable, "-m", "kestra.smoke", "--stack-output", "-", "--timeout", "60"],
                          input=json.dumps(outputs), capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)


def plaintext_secrets(value, found: list) -> list:
    """The plaintext of every secret in a `stack export --show-secrets` document."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG and "plaintext" in value:
            found.append(json.loads(value["plaintext"]))
            return found
        for v in value.values():
            plaintext_secrets(v, found)
    elif isinstance(value, list):
        for v in value:
            plaintext_secrets(v, found)
    return found


def custom_resources(export: dict) -> list[dict]:
    return [r for r in export["deployment"].get("resources") or []
            if r.get("custom") and not r["type"].startswith("pulumi:providers:")]


def ops(log: list[dict], op: str) -> list[str]:
    return [entry["urn"] for entry in log if entry["op"] == op]


@pytest.mark.parametrize("name", list(PROFILES))
def test_profile_lifecycle_on_the_real_engine(name, request):
    profile = PROFILES[name]
    project = request.getfixturevalue(profile.fixture)
    kestra_standin = request.getfixturevalue(profile.standin)
    set_secrets = {"githubToken": "ghp_" + random_secrets.token_hex(18), "geminiApiKey": "AIza" + random_secrets.token_hex(16)}
    project.set_config(set_secrets, secret=True)
    set_secrets["kestraPassword"] = kestra_standin.password

    up = project.pulumi(*UP)
    print(f"\n[engine] {name}: first up {up.seconds:.1f} s")
    expected = expected_deployment(project.dir / "flows", include_gcp=profile.include_gcp)
    assert live(kestra_standin.control("GET", "state")) == expected  # deployed to the Kestra at kestraUrl
    export = project.pulumi("stack", "export").json()
    if profile.echo:
        created = ops(project.echo_log(), "create")
        assert len(created) == len(set(created)), "a resource was created twice"
        assert {r["type"] for r in custom_resources(export) if not r["type"].startswith("pulumi-python:")} == profile.types
        # Every provider resource in the state was created by its plugin, once.
        assert set(created) == {r["urn"] for r in custom_resources(export) if not r["type"].startswith("pulumi-python:")}

    project.reset_echo_log() if profile.echo else None
    preview = project.pulumi("preview", "--expect-no-changes", "--diff")
    print(f"[engine] {name}: no-op preview {preview.seconds:.1f} s")
    assert "to create" not in preview.output and "to update" not in preview.output, preview.output
    if profile.echo:
        assert project.echo_log() == []  # a preview writes nothing
        # Read answers what the state holds: a refresh finds no drift.
        project.pulumi("refresh", "--yes", "--expect-no-changes")

    outputs = project.pulumi("stack", "output", "--json").json()
    assert outputs["kestraPassword"] == "[secret]"
    assert project.stack_outputs()["kestraPassword"] == kestra_standin.password
    if profile.include_gcp:  # README "Stack outputs", example values for project acme-data-123
        assert outputs["serviceAccountEmail"] == f"kestra-sa@{PROJECT_ID}.iam.gserviceaccount.com"
        assert outputs["bucketName"] == f"{PROJECT_ID}-kestra" and outputs["bucketUrl"] == f"gs://{PROJECT_ID}-kestra"
        assert outputs["topicId"] == f"projects/{PROJECT_ID}/topics/file-upload-events"
        assert outputs["subscriptionId"] == f"projects/{PROJECT_ID}/subscriptions/file-upload-sub"
        assert outputs["datasetIds"]["YellowCab"] == "YellowCab"
    if profile.echo and name != "gke":
        assert outputs["kestraUrl"] == kestra_standin.url  # http://<hostAddress>:<uiPort>
    if profile.echo:
        assert outputs["gitSyncConfigured"] is True and outputs["aiConfigured"] is True
    if name == "gke":  # docs/gke.md: https://<reserved IP>, the stack's CA, keyless
        assert outputs["kestraUrl"] == f"https://{kestra_standin.address}" == kestra_standin.https
        assert outputs["kestraAddress"] == kestra_standin.address
        assert outputs["clusterName"] == "kestra-dev"  # kestra-<stack>
        # The instance's connection name, <project>:<region>:<name>, the name given by pulumi-gcp.
        assert re.fullmatch(rf"{PROJECT_ID}:europe-west2:instance-[0-9a-f]{{7}}", outputs["cloudSqlInstance"])
        assert "serviceAccountKey" not in outputs
        with_secrets = project.stack_outputs()
        # The deployed Kestra answers at kestraUrl, verified against kestraCaCertificate only…
        with client_from_outputs(with_secrets, deadline=10) as client:
            for flow in outputs["flows"]:
                assert client.get_flow(*flow.split("/"))["source"] == expected["flows"][tuple(flow.split("/"))]
        # …and the system's CAs do not vouch for it.
        with pytest.raises(KestraTlsError):
            with client_from_outputs({**with_secrets, "kestraCaCertificate": None}, deadline=10) as client:
                client.get_flow(*outputs["flows"][0].split("/"))
        smoke = run_smoke(with_secrets)  # the CI contract: the smoke run drives it from the outputs
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "gcs_connection_test" in smoke.stdout + smoke.stderr

    # No plaintext secret anywhere in the state: neither what the test set nor what was generated.
    state_text = project.pulumi("stack", "export").stdout
    decrypted = project.pulumi("stack", "export", "--show-secrets").json()
    generated = []
    for resource in custom_resources(decrypted):
        for attr in GENERATED_SECRETS.get(resource["type"], ()):
            attr, _, item_field = attr.partition(".")
            [value] = plaintext_secrets(resource["outputs"][attr], [])
            generated.append([item[item_field] for item in value] if item_field else value)
    assert len(generated) == profile.generated
    every_secret = list(set_secrets.values()) + [s for value in generated for s in secret_strings(value) if len(s) >= 8]
    # What the state holds: the document, and the strings inside its secrets (a secret's plaintext
    # is JSON in a JSON string, so PEM and YAML are escaped twice in the document).
    held = [json.dumps(decrypted)] + secret_strings(plaintext_secrets(decrypted, []))
    for value in every_secret:
        assert isinstance(value, str) and len(value) >= 8
        if name != "external" or value == kestra_standin.password:  # external Kestra gets no token/key
            assert any(form in text for form in stored_forms(value) for text in held)  # the state does hold it…
        for form in stored_forms(value):
            assert form not in state_text, "a secret is stored in plaintext"  # …only encrypted
    assert plaintext_secrets(decrypted, [])  # and the export does mark secrets

    project.reset_echo_log() if profile.echo else None
    destroy = project.pulumi("destroy", "--yes")
    print(f"[engine] {name}: destroy {destroy.seconds:.1f} s")
    assert kestra_standin.control("GET", "state") == {"flows": [], "files": [], "kv": [], "dashboards": []}
    if profile.echo:
        deleted = ops(project.echo_log(), "delete")
        assert sorted(deleted) == sorted(created)  # every resource deleted exactly once
        assert live_resources(project.env[ECHO_STORE_ENV]) == []  # nothing is left in the (echo) cloud


def retained_urns(name: str, created: list[str], types: dict) -> set[str]:
    """The resources keepData keeps, by docs/keeping-data.md: types for the gcp profile, and for gke those
    plus the named pieces of Cloud SQL and its network."""
    retained = {urn for urn in created if types[urn] in RETAINED_GCP_TYPES} if PROFILES[name].include_gcp else set()
    if DOCKER_TYPES <= PROFILES[name].types:
        retained |= {urn for urn in created if types[urn] in RETAINED_DOCKER_TYPES}
    if name == "gke":
        retained |= {urn for urn in created if (types[urn], urn.rsplit("::", 1)[1]) in RETAINED_GKE}
    return retained


@pytest.mark.parametrize("name", ["gcp", "local", "gke"])
def test_keep_data_is_honoured_by_the_engines_own_deletes(name, request):
    profile = PROFILES[name]
    project = request.getfixturevalue(profile.fixture)
    kestra_standin = request.getfixturevalue(profile.standin)
    if DOCKER_TYPES <= profile.types:  # keepData on Docker needs a Postgres password that outlives destroy
        project.set_config({"postgresPassword": "pg-Engine-Tests-2026"}, secret=True)
    project.pulumi(*UP)
    created = ops(project.echo_log(), "create")
    types = {entry["urn"]: entry["type"] for entry in project.echo_log()}
    retained = retained_urns(name, created, types)

    project.set_config({"keepData": True})
    project.reset_echo_log()
    kestra_standin.control("POST", "reset-log")
    up = project.pulumi(*UP)  # records retainOnDelete in the state
    changed = {verb: n for verb, n in summary(up).items() if verb != "unchanged"}
    assert "created" not in changed and "deleted" not in changed, up.output
    assert kestra_standin.control("GET", "stats")["requests"] == 0  # nothing in Kestra is rewritten
    # The up touches no cloud object beyond the retained ones' destroy-time settings
    # (force_destroy, delete_contents_on_destroy; Cloud SQL's deletion protection).
    assert not ops(project.echo_log(), "create") and not ops(project.echo_log(), "delete")
    assert set(ops(project.echo_log(), "update")) <= retained
    if name == "gke":  # docs/keeping-data.md: keepData turns on deletion protection, Pulumi's and Cloud SQL's own
        [instance] = live_resources(project.env[ECHO_STORE_ENV], "gcp:sql/databaseInstance:DatabaseInstance")
        assert instance["outputs"]["deletionProtection"] is True
        assert instance["outputs"]["settings"]["deletionProtectionEnabled"] is True

    project.reset_echo_log()
    project.pulumi("destroy", "--yes")
    deleted = set(ops(project.echo_log(), "delete"))
    assert deleted == set(created) - retained  # exactly the retained resources were not deleted
    # …and they are what the (echo) cloud still holds.
    assert {r["urn"] for r in live_resources(project.env[ECHO_STORE_ENV])} == retained
    if profile.include_gcp:
        assert {types[urn] for urn in retained} >= RETAINED_GCP_TYPES
    if DOCKER_TYPES <= profile.types:
        assert sorted(types[urn] for urn in retained if types[urn].startswith("docker:")) == [
            "docker:index/volume:Volume"] * 2
    if not profile.include_gcp and not DOCKER_TYPES <= profile.types:
        assert retained == set()
    if name == "gke":
        assert {(types[urn], urn.rsplit("::", 1)[1]) for urn in retained} >= RETAINED_GKE
    kept = live(kestra_standin.control("GET", "state"))
    expected = expected_deployment(project.dir / "flows", include_gcp=profile.include_gcp)
    assert kept == {"flows": {}, "files": expected["files"], "kv": expected["kv"], "dashboards": {}}
