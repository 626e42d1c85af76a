"""The example stack file (Pulumi.dev.yaml) passes the real CLI's config validation in every profile; bad values
stop the run with a message naming the key, before anything is created.

These tests install no provider plugin (as on a machine without them, and automatic downloads are
off), so a profile that needs one (gcp, docker, random) must stop exactly there — after the CLI
validated the config and the program ran — and nowhere earlier. test_profiles.py runs the same
profiles to the end on the echo plugins.
"""

import re
from pathlib import Path

import pytest

PROJECT_ID = "acme-data-123"
# The CLI's own validation (pkg/workspace/config.go) and the program's (infra/config.py).
CLI_CONFIG_ERROR = "validating stack config"
PROGRAM_CONFIG_ERROR = "invalid stack configuration"


def _missing_plugin(output: str) -> set[str]:
    return set(re.findall(r"no resource plugin 'pulumi-resource-([a-z]+)' found", output))


def _downloaded_plugins(project) -> list[str]:
    """Plugins the CLI put into PULUMI_HOME: there must be none (automatic acquisition is off)."""
    return sorted(p.name for p in (Path(project.env["PULUMI_HOME"]) / "plugins").glob("*"))


def _assert_config_accepted(run):
    assert CLI_CONFIG_ERROR not in run.output, run.output
    assert "missing configuration" not in run.output, run.output
    assert PROGRAM_CONFIG_ERROR not in run.output, run.output


def test_readme_stack_file_gcp_profile_stops_only_at_the_missing_gcp_plugin(engine_project):
    engine_project.use_example_stack_file()
    engine_project.set_config({"gcp:project": PROJECT_ID})
    run = engine_project.pulumi("preview", check=False)
    assert run.returncode != 0
    _assert_config_accepted(run)
    assert _missing_plugin(run.output) == {"gcp"}, run.output
    assert _downloaded_plugins(engine_project) == []


def test_readme_stack_file_local_profile_stops_only_at_missing_docker_or_random_plugin(engine_project):
    engine_project.use_example_stack_file()
    engine_project.set_config({"gcp:project": PROJECT_ID, "profile": "local"})
    run = engine_project.pulumi("preview", check=False)
    assert run.returncode != 0
    _assert_config_accepted(run)
    missing = _missing_plugin(run.output)
    assert missing and missing <= {"docker", "random"}, run.output
    assert _downloaded_plugins(engine_project) == []


def test_readme_stack_file_gcp_profile_with_external_kestra_stops_only_at_the_gcp_plugin(
    engine_project, kestra_standin
):
    engine_project.use_example_stack_file()
    engine_project.set_config({"gcp:project": PROJECT_ID, "kestraUrl": kestra_standin.url})
    engine_project.set_config({"kestraPassword": kestra_standin.password}, secret=True)
    run = engine_project.pulumi("preview", check=False)
    assert run.returncode != 0
    _assert_config_accepted(run)
    assert _missing_plugin(run.output) == {"gcp"}, run.output


def test_readme_stack_file_external_profile_previews_cleanly(engine_project, kestra_standin):
    engine_project.use_example_stack_file()
    engine_project.set_config(
        {"gcp:project": PROJECT_ID, "profile": "local", "kestraUrl": kestra_standin.url}
    )
    engine_project.set_config({"kestraPassword": kestra_standin.password}, secret=True)
    run = engine_project.pulumi("preview", "--diff")
    _assert_config_accepted(run)
    assert "kestra:NamespaceFlows" in run.output  # the flows, one resource per namespace


def test_readme_stack_file_as_shipped_stops_on_the_placeholder_and_creates_nothing(engine_project):
    engine_project.use_example_stack_file()
    run = engine_project.pulumi("up", "--yes", "--skip-preview", check=False)
    assert run.returncode != 0
    assert CLI_CONFIG_ERROR not in run.output, run.output
    line = next((l for l in run.output.splitlines() if "- gcp:project:" in l), None)
    assert line is not None and "placeholder" in line, run.output
    assert "Traceback" not in run.output, "a config error must be our message, not a Python traceback"
    # Only the stack itself (which the SDK registers before the program runs) is in the state.
    resources = engine_project.pulumi("stack", "export").json()["deployment"].get("resources") or []
    assert [r["type"] for r in resources] in ([], ["pulumi:pulumi:Stack"]), resources


@pytest.mark.parametrize(
    "plain, secret, key, fragment",
    [
        ({"gcp:project": PROJECT_ID, "iamMode": "admin"}, {}, "kestra-gcp:iamMode", "least-privilege, guide"),
        ({"gcp:project": PROJECT_ID, "bucketName": "My_Bucket"}, {}, "kestra-gcp:bucketName", "lowercase"),
        ({"profile": "cloud"}, {}, "kestra-gcp:profile", "auto, gcp, local"),
        ({"uiPort": "80800"}, {}, "kestra-gcp:uiPort", "outside"),
        ({"kestraUrl": "https://kestra.example.com"}, {}, "kestra-gcp:kestraPassword", "required with kestraUrl"),
        ({"kestraPassword": "Sup3rSecretPw"}, {}, "kestra-gcp:kestraPassword", "must be stored encrypted"),
        ({}, {"postgresPassword": "short"}, "kestra-gcp:postgresPassword", "at least 12"),
    ],
)
def test_bad_value_stops_with_our_message_naming_the_key(engine_project, plain, secret, key, fragment):
    engine_project.use_example_stack_file()
    engine_project.pulumi("config", "rm", "gcp:project")  # the placeholder would be reported too
    engine_project.set_config(plain)
    engine_project.set_config(secret, secret=True)
    run = engine_project.pulumi("preview", check=False)
    assert run.returncode != 0
    assert CLI_CONFIG_ERROR not in run.output, run.output
    line = next((l for l in run.output.splitlines() if f"- {key}:" in l), None)
    assert line is not None and fragment in line, run.output
    assert "Traceback" not in run.output, run.output
    for value in list(plain.values()) + list(secret.values()):
        if "Secret" in value or value == "short":
            assert value not in run.output, "a secret value was echoed"


@pytest.mark.parametrize(
    "key, value, type_name",
    [
        ("uiPort", "eighty", "integer"),
        ("keepData", "yes", "boolean"),
        # A JSON string is not a map: a map is set by path (pulumi config set --path labels.team data).
        ("labels", '{"team": "data"}', "object"),
    ],
)
def test_value_of_the_wrong_type_is_refused_by_the_cli_naming_the_key(engine_project, key, value, type_name):
    engine_project.set_config({key: value})
    run = engine_project.pulumi("preview", check=False)
    assert run.returncode != 0
    assert f"configuration key '{key}' must be of type '{type_name}'" in run.output, run.output


def test_labels_set_as_a_map_reach_the_program(engine_project):
    engine_project.use_example_stack_file()
    engine_project.set_config({"gcp:project": PROJECT_ID})
    engine_project.pulumi("config", "set", "--path", "labels.team", "data")
    engine_project.pulumi("config", "set", "--path", "labels.Cost-Centre", "x1")
    run = engine_project.pulumi("preview", check=False)
    assert CLI_CONFIG_ERROR not in run.output, run.output
    # Our label check saw the map the CLI passed: the bad key is named, the good one is not.
    problems = [l for l in run.output.splitlines() if "- kestra-gcp:labels:" in l]
    assert len(problems) == 1 and "Cost-Centre=x1" in problems[0], run.output


# --- the gke profile --------------------------------------------------------------------------

GKE_PLUGINS = {"gcp", "kubernetes", "tls", "random"}


def test_readme_stack_file_gke_profile_stops_only_at_a_missing_provider_plugin(engine_project):
    # The real CLI validates the gke keys' declared types and defaults (Pulumi.yaml), the program
    # reads and validates them, runs, and registers resources up to the first provider the CLI
    # cannot load: no config error on the way, and nothing downloaded.
    engine_project.use_example_stack_file()
    engine_project.set_config({"gcp:project": PROJECT_ID, "profile": "gke"})
    run = engine_project.pulumi("preview", check=False)
    assert run.returncode != 0
    _assert_config_accepted(run)
    missing = _missing_plugin(run.output)
    assert missing and missing <= GKE_PLUGINS, run.output
    assert _downloaded_plugins(engine_project) == []


def test_gke_profile_with_every_key_set_by_the_cli_is_accepted(engine_project):
    engine_project.use_example_stack_file()
    engine_project.set_config({
        "gcp:project": PROJECT_ID, "profile": "gke", "gkeLocation": "europe-west2-c", "gkeNetwork": "default",
        "gkeMachineType": "e2-standard-8", "gkeMinNodes": "0", "gkeMaxNodes": "4", "gkeReleaseChannel": "STABLE",
        "kestraWorkerReplicas": "2", "kestraDomain": "kestra.example.com", "cloudSqlTier": "db-custom-2-7680",
    })
    engine_project.pulumi("config", "set", "--path", "kestraSourceRanges[0]", "203.0.113.0/24")
    engine_project.pulumi("config", "set", "--path", "kestraSourceRanges[1]", "198.51.100.7/32")
    engine_project.set_config({"postgresPassword": "gke-postgres-pass-5521"}, secret=True)
    run = engine_project.pulumi("preview", check=False)
    _assert_config_accepted(run)
    missing = _missing_plugin(run.output)
    assert missing and missing <= GKE_PLUGINS, run.output


@pytest.mark.parametrize(
    "plain, key, fragment",
    [
        ({"gkeLocation": "us-central1-a"}, "kestra-gcp:gkeLocation", "neither gcp:region"),
        ({"gkeNetwork": "My_Network"}, "kestra-gcp:gkeNetwork", "not a VPC network name"),
        ({"gkeMachineType": "big one"}, "kestra-gcp:gkeMachineType", "not a machine type"),
        ({"gkeMinNodes": "101"}, "kestra-gcp:gkeMinNodes", "outside 0..100"),
        ({"gkeMaxNodes": "0"}, "kestra-gcp:gkeMaxNodes", "outside 1..100"),
        ({"gkeMinNodes": "5", "gkeMaxNodes": "2"}, "kestra-gcp:gkeMaxNodes", "below gkeMinNodes"),
        ({"gkeReleaseChannel": "FAST"}, "kestra-gcp:gkeReleaseChannel", "RAPID, REGULAR, STABLE, EXTENDED"),
        ({"kestraWorkerReplicas": "0"}, "kestra-gcp:kestraWorkerReplicas", "outside 1..50"),
        ({"kestraDomain": "https://kestra.example.com"}, "kestra-gcp:kestraDomain", "no scheme"),
        ({"cloudSqlTier": "huge"}, "kestra-gcp:cloudSqlTier", "not a Cloud SQL tier"),
        ({"kestraUrl": "https://kestra.example.com"}, "kestra-gcp:kestraUrl", "runs its own Kestra on GKE"),
        ({"uiPort": "9090"}, "kestra-gcp:uiPort", "Docker-only"),
        ({"hostAddress": "0.0.0.0"}, "kestra-gcp:hostAddress", "Docker-only"),
        ({"postgresImage": "postgres:16"}, "kestra-gcp:postgresImage", "Docker-only"),
    ],
)
def test_bad_gke_value_stops_with_our_message_naming_the_key(engine_project, plain, key, fragment):
    engine_project.use_example_stack_file()
    engine_project.set_config({"gcp:project": PROJECT_ID, "profile": "gke", **plain})
    run = engine_project.pulumi("preview", check=False)
    assert run.returncode != 0
    assert CLI_CONFIG_ERROR not in run.output, run.output
    line = next((l for l in run.output.splitlines() if f"- {key}:" in l), None)
    assert line is not None and fragment in line, run.output
    assert "Traceback" not in run.output, run.output
    assert not _missing_plugin(run.output), "the program must stop before registering any resource"


def test_a_bad_source_range_set_by_path_is_named(engine_project):
    engine_project.use_example_stack_file()
    engine_project.set_config({"gcp:project": PROJECT_ID, "profile": "gke"})
    engine_project.pulumi("config", "set", "--path", "kestraSourceRanges[0]", "10.0.0.1/8")
    run = engine_project.pulumi("preview", check=False)
    line = next((l for l in run.output.splitlines() if "- kestra-gcp:kestraSourceRanges:" in l), None)
    assert line is not None and "'10.0.0.1/8' is not a CIDR range" in line, run.output


def test_source_ranges_of_the_wrong_type_are_refused_by_the_cli(engine_project):
    engine_project.set_config({"kestraSourceRanges": "0.0.0.0/0"})
    run = engine_project.pulumi("preview", check=False)
    assert run.returncode != 0
    assert "configuration key 'kestraSourceRanges' must be of type 'array<string>'" in run.output, run.output
