"""Every profile on the real engine: the Pulumi CLI runs the program with the echo provider plugins
standing in for gcp, docker and random, and Kestra's published address pointing at the stand-in.

For each profile: `up` deploys what the README says, a second `preview --expect-no-changes` finds
nothing to do, `stack output --json` keeps secret outputs secret, the state holds no plaintext
secret (neither those the test set nor those the stack generated), keepData is honoured by the
engine's own deletes, and `destroy` deletes everything it created.
"""

from __future__ import annotations

import json
import secrets as random_secrets
from dataclasses import dataclass, field

import pytest

from tests.engine.conftest import PROJECT_ID
from tests.engine.deployed import expected_deployment, live
from tests.engine.test_lifecycle import UP, summary

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

# README "Keeping data": keepData retains the bucket, its objects and the datasets.
RETAINED_GCP_TYPES = {"gcp:storage/bucket:Bucket", "gcp:storage/bucketObject:BucketObject", "gcp:bigquery/dataset:Dataset"}
# Outputs the providers' schemas mark sensitive, which the stack generates.
GENERATED_SECRETS = {
    "random:index/randomPassword:RandomPassword": ("result", "bcryptHash"),
    "gcp:serviceaccount/key:Key": ("privateKey",),
}


@dataclass(frozen=True)
class Profile:
    fixture: str
    include_gcp: bool
    echo: bool
    # Resource types the program registers with this profile (README architecture).
    types: frozenset = field(default_factory=frozenset)


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
PROFILES = {
    # Kestra's password comes from config here (the stand-in's), so only Postgres' is generated.
    "gcp": Profile("gcp_project", include_gcp=True, echo=True,
                   types=GCP_TYPES | DOCKER_TYPES | {"random:index/randomPassword:RandomPassword"}),
    "local": Profile("local_project", include_gcp=False, echo=True,
                     types=DOCKER_TYPES | {"random:index/randomPassword:RandomPassword"}),
    "external": Profile("external_project", include_gcp=False, echo=False),
}


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
def test_profile_lifecycle_on_the_real_engine(name, request, kestra_standin):
    profile = PROFILES[name]
    project = request.getfixturevalue(profile.fixture)
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
    if profile.echo:
        assert outputs["kestraUrl"] == kestra_standin.url  # http://<hostAddress>:<uiPort>
        assert outputs["gitSyncConfigured"] is True and outputs["aiConfigured"] is True

    # No plaintext secret anywhere in the state: neither what the test set nor what was generated.
    state_text = project.pulumi("stack", "export").stdout
    decrypted = project.pulumi("stack", "export", "--show-secrets").json()
    generated = []
    for resource in custom_resources(decrypted):
        for attr in GENERATED_SECRETS.get(resource["type"], ()):
            [value] = plaintext_secrets(resource["outputs"][attr], [])
            generated.append(value)
    if profile.echo:
        assert len(generated) == (3 if profile.include_gcp else 2)  # Postgres' password, its bcrypt hash (, the key)
    every_secret = list(set_secrets.values()) + generated
    decrypted_text = json.dumps(decrypted)
    for value in every_secret:
        assert isinstance(value, str) and len(value) >= 8
        if name != "external" or value == kestra_standin.password:  # external Kestra gets no token/key
            assert value in decrypted_text or json.dumps(value)[1:-1] in decrypted_text  # the state does hold it…
        assert value not in state_text, "a secret is stored in plaintext"  # …only encrypted
    assert plaintext_secrets(decrypted, [])  # and the export does mark secrets

    project.reset_echo_log() if profile.echo else None
    destroy = project.pulumi("destroy", "--yes")
    print(f"[engine] {name}: destroy {destroy.seconds:.1f} s")
    assert kestra_standin.control("GET", "state") == {"flows": [], "files": [], "kv": [], "dashboards": []}
    if profile.echo:
        deleted = ops(project.echo_log(), "delete")
        assert sorted(deleted) == sorted(created)  # every resource deleted exactly once


@pytest.mark.parametrize("name", ["gcp", "local"])
def test_keep_data_is_honoured_by_the_engines_own_deletes(name, request, kestra_standin):
    profile = PROFILES[name]
    project = request.getfixturevalue(profile.fixture)
    project.pulumi(*UP)
    created = ops(project.echo_log(), "create")
    types = {entry["urn"]: entry["type"] for entry in project.echo_log()}

    project.set_config({"keepData": True})
    project.reset_echo_log()
    kestra_standin.control("POST", "reset-log")
    up = project.pulumi(*UP)  # records retainOnDelete in the state
    changed = {verb: n for verb, n in summary(up).items() if verb != "unchanged"}
    assert "created" not in changed and "deleted" not in changed, up.output
    assert kestra_standin.control("GET", "stats")["requests"] == 0  # nothing in Kestra is rewritten
    # The up touches no cloud object beyond the retained ones' destroy-time settings
    # (force_destroy, delete_contents_on_destroy).
    assert not ops(project.echo_log(), "create") and not ops(project.echo_log(), "delete")
    assert {types[urn] for urn in ops(project.echo_log(), "update")} <= RETAINED_GCP_TYPES

    project.reset_echo_log()
    project.pulumi("destroy", "--yes")
    deleted = set(ops(project.echo_log(), "delete"))
    retained = {urn for urn in created if types[urn] in RETAINED_GCP_TYPES}
    assert deleted == set(created) - retained  # exactly the retained resources were not deleted
    if profile.include_gcp:
        assert {types[urn] for urn in retained} == RETAINED_GCP_TYPES
    else:
        assert retained == set()
    kept = live(kestra_standin.control("GET", "state"))
    expected = expected_deployment(project.dir / "flows", include_gcp=profile.include_gcp)
    assert kept == {"flows": {}, "files": expected["files"], "kv": expected["kv"], "dashboards": {}}
