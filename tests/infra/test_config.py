"""Stack config: defaults, profiles, and errors that name the key before any resource exists."""

import json
from pathlib import Path

import pytest
import yaml
from pulumi.runtime import config as runtime_config

from infra import config as config_module
from infra.config import ConfigError, bucket_name_problem, load_config
from kestra.config import basic_auth_password_problem, basic_auth_username_problem
from tests.support.pulumi_harness import REPO_ROOT, plain, run_stack

GOOD = {"gcp:project": "acme-data-123"}


def _config_error(config, secret_keys=()):
    with pytest.raises(ConfigError) as info:
        run_stack(config, secret_keys=secret_keys)
    assert info.value.registered == [], "resources were declared before the config was validated"
    return str(info.value)


@pytest.mark.parametrize(
    "config, key, fragment",
    [
        ({"kestra-gcp:profile": "gcp"}, "gcp:project", "required for the gcp profile"),
        ({"gcp:project": "Bad_Project"}, "gcp:project", "is not a project id"),
        ({"gcp:project": "REPLACE-WITH-YOUR-PROJECT-ID"}, "gcp:project", "placeholder"),
        ({**GOOD, "gcp:region": "Europe West"}, "gcp:region", "is not a region"),
        ({**GOOD, "kestra-gcp:bucketName": "My_Bucket"}, "kestra-gcp:bucketName", "lowercase"),
        ({**GOOD, "kestra-gcp:bucketName": "google-data"}, "kestra-gcp:bucketName", "google"),
        ({**GOOD, "kestra-gcp:bucketName": "ab"}, "kestra-gcp:bucketName", "3 to 63"),
        ({**GOOD, "kestra-gcp:bucketName": "192.168.1.10"}, "kestra-gcp:bucketName", "IP address"),
        ({**GOOD, "kestra-gcp:iamMode": "admin"}, "kestra-gcp:iamMode", "least-privilege, guide"),
        ({**GOOD, "kestra-gcp:bucketObjectRole": "roles/storage.admin"}, "kestra-gcp:bucketObjectRole", "not one of"),
        ({**GOOD, "kestra-gcp:keepData": "yes"}, "kestra-gcp:keepData", "true or false"),
        ({**GOOD, "kestra-gcp:labels": '{"Team": "x"}'}, "kestra-gcp:labels", "label rules"),
        ({"kestra-gcp:profile": "cloud"}, "kestra-gcp:profile", "auto, gcp, local, gke"),
        ({"kestra-gcp:uiPort": "80800"}, "kestra-gcp:uiPort", "outside"),
        ({"kestra-gcp:managementPort": "8080"}, "kestra-gcp:managementPort", "must differ"),
        ({"kestra-gcp:hostAddress": "localhost"}, "kestra-gcp:hostAddress", "not an IP address"),
        ({"kestra-gcp:kestraVersion": "v1.1.7 latest"}, "kestra-gcp:kestraVersion", "image tag"),
        ({"kestra-gcp:kestraUsername": "admin"}, "kestra-gcp:kestraUsername", "email"),
        ({"kestra-gcp:kestraUrl": "kestra.internal:8080"}, "kestra-gcp:kestraUrl", "http(s) URL"),
        ({"kestra-gcp:kestraUrl": "https://kestra.example.com"}, "kestra-gcp:kestraPassword", "required with kestraUrl"),
        ({"kestra-gcp:gitRepositoryUrl": "git@github.com:x/y"}, "kestra-gcp:gitRepositoryUrl", "http(s) URL"),
        ({"kestra-gcp:dockerSocket": "docker.sock"}, "kestra-gcp:dockerSocket", "not an absolute path"),
        # Postgres keeps the password its kept data was initialised with; a generated one is new
        # after every destroy.
        ({"kestra-gcp:keepData": "true"}, "kestra-gcp:postgresPassword", "required with keepData on the Docker"),
        ({**GOOD, "kestra-gcp:keepData": "true"}, "kestra-gcp:postgresPassword", "required with keepData on the Docker"),
    ],
)
def test_bad_config_names_the_key_and_creates_nothing(config, key, fragment):
    message = _config_error(config)
    line = next((l for l in message.splitlines() if key + ":" in l), None)
    assert line is not None, message
    assert fragment in line, line


@pytest.mark.parametrize("config", [
    {"kestra-gcp:keepData": "true", "kestra-gcp:postgresPassword": "pg-Configured-Pass-99"},
    # No Postgres of the stack's: an existing Kestra.
    {"kestra-gcp:keepData": "true", "kestra-gcp:kestraUrl": "http://127.0.0.1:8080",
     "kestra-gcp:kestraPassword": "Passw0rd!x"},
], ids=["docker-with-password", "external"])
def test_keep_data_needs_a_postgres_password_only_where_the_stack_runs_postgres_in_docker(config):
    secret_keys = tuple(k for k in config if k.endswith("Password"))
    run = run_stack(config, secret_keys=secret_keys)  # no ConfigError
    assert run.resources


def test_every_problem_is_reported_at_once():
    message = _config_error({"gcp:project": "acme-data-123", "kestra-gcp:iamMode": "x", "kestra-gcp:bucketName": "A"})
    assert "kestra-gcp:iamMode" in message and "kestra-gcp:bucketName" in message


def test_secrets_must_be_encrypted_and_are_never_echoed():
    message = _config_error({"kestra-gcp:kestraPassword": "Sup3rSecretPw"})
    assert "pulumi config set --secret kestraPassword" in message
    assert "Sup3rSecretPw" not in message


def test_weak_password_rejected_without_echoing_it():
    message = _config_error({"kestra-gcp:kestraPassword": "weakpass"}, secret_keys=("kestra-gcp:kestraPassword",))
    assert "kestra-gcp:kestraPassword: must contain upper-case" in message
    assert "weakpass" not in message


@pytest.mark.parametrize("name", ["my-bucket", "a.b.c", "abc", "x" * 63, "data_lake-01"])
def test_valid_bucket_names(name):
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize("name", ["-abc", "abc-", "ab", "x" * 64, "a..b", "goog-x", "my-google", "a b", "ABC"])
def test_invalid_bucket_names(name):
    assert bucket_name_problem(name)


@pytest.mark.parametrize("password, ok", [("Abcdefg1", True), ("abcdefg1", False), ("ABCDEFG1", False), ("Abcdefgh", False), ("Ab1", False)])
def test_kestra_password_rule(password, ok):
    assert (basic_auth_password_problem(password) is None) is ok


def _load(values, secret_keys=()):
    runtime_config.set_all_config(dict(values), secret_keys=list(secret_keys))
    return load_config(stack="dev")


def test_auto_profile_follows_gcp_project():
    assert _load({}).profile == "local" and _load({}).gcp is None
    gcp = _load(GOOD)
    assert gcp.profile == "gcp" and gcp.gcp.bucket_name == "acme-data-123-kestra"
    assert _load({**GOOD, "kestra-gcp:profile": "local"}).gcp is None


def test_external_kestra_has_no_docker_settings():
    cfg = _load(
        {"kestra-gcp:kestraUrl": "https://kestra.example.com", "kestra-gcp:kestraPassword": "Abcdefg12"},
        secret_keys=("kestra-gcp:kestraPassword",),
    )
    assert cfg.docker is None and cfg.access.external_url == "https://kestra.example.com"


def test_docker_defaults():
    docker = _load({}).docker
    assert docker.kestra_image == "kestra/kestra:v1.1.7"
    assert docker.host_address == "127.0.0.1"
    assert (docker.ui_port, docker.management_port) == (8080, 8081)
    assert docker.public_url == "http://localhost:8080"


def _declared():
    return yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["config"]


def _keys_the_program_reads(monkeypatch):
    """(every own key the program reads, the own keys it reads as secrets), over both Kestra branches."""
    read, secrets = set(), set()
    real_get, real_secret = config_module.get_config, config_module._Reader.secret

    def recording_get(key):
        read.add(key)
        return real_get(key)

    def recording_secret(self, key, *args, **kwargs):
        secrets.add(key)
        return real_secret(self, key, *args, **kwargs)

    monkeypatch.setattr(config_module, "get_config", recording_get)
    monkeypatch.setattr(config_module._Reader, "secret", recording_secret)
    _load({**GOOD, "kestra-gcp:kestraUrl": "https://k.example.com", "kestra-gcp:kestraPassword": "Abcdefg12"},
          secret_keys=("kestra-gcp:kestraPassword",))
    _load(GOOD)  # the Docker branch
    _load({**GOOD, "kestra-gcp:profile": "gke"})  # the GKE branch
    own = {k.split(":", 1)[1] for k in read if k.startswith("kestra-gcp:")}
    return own, {k.split(":")[-1] for k in secrets}


def test_pulumi_yaml_declares_exactly_the_non_secret_keys_the_program_reads(monkeypatch):
    own, secrets = _keys_the_program_reads(monkeypatch)
    assert secrets == {"kestraPassword", "postgresPassword", "githubToken", "geminiApiKey"}
    assert set(_declared()) == own - secrets


def test_optional_secrets_are_documented_but_not_declared(monkeypatch):
    # The CLI reports a declared secret without a value as missing and refuses one whose value
    # comes from a plaintext default (pkg/workspace/config.go: mergeConfig, validateStackConfigValue),
    # so optional secrets can only be documented: in Pulumi.yaml's comments and the configuration
    # reference.
    _, secrets = _keys_the_program_reads(monkeypatch)
    pulumi_yaml = (REPO_ROOT / "Pulumi.yaml").read_text()
    reference = (REPO_ROOT / "docs" / "configuration.md").read_text()
    for key in secrets:
        assert key not in _declared(), f"Pulumi.yaml declares the secret {key}"
        assert f"#   {key} " in pulumi_yaml, f"Pulumi.yaml's comments do not document the secret {key}"
        assert f"`{key}` (secret)" in reference, f"docs/configuration.md does not document the secret {key}"


# How Pulumi.yaml's config types must look in YAML (the CLI's ValidateConfigValue).
_YAML_TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list}


def test_every_declared_key_passes_the_cli_with_no_value_set():
    # The CLI's rule (pkg/workspace/config.go mergeConfig): a project key with neither `default`
    # nor `value` is "missing" and stops every command; a default must have the declared type.
    for key, spec in _declared().items():
        assert spec.get("description"), f"Pulumi.yaml: config {key} has no description"
        assert "default" in spec, f"Pulumi.yaml: optional config {key} has no default, so the CLI calls it missing"
        assert not spec.get("secret"), f"Pulumi.yaml: secret {key} is declared"
        assert isinstance(spec["default"], _YAML_TYPES[spec["type"]]), f"Pulumi.yaml: default of {key}"


def _as_the_cli_passes_it(value):
    # The program receives every value as text: Go's %v for scalars, JSON for objects
    # (pkg/workspace/config.go createConfigValue).
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def test_pulumi_yaml_defaults_mean_the_same_as_no_value():
    defaults = {f"kestra-gcp:{k}": _as_the_cli_passes_it(v["default"]) for k, v in _declared().items()}
    assert _load({**GOOD, **defaults}) == _load(GOOD)
    assert _load(defaults) == _load({})
    # The CLI passes the Docker-only keys' defaults in the gke profile too: they must not count as set.
    gke = {**GOOD, "kestra-gcp:profile": "gke"}
    assert _load({**defaults, **gke}) == _load(gke)


def test_example_stack_file_is_complete_but_needs_a_real_project():
    example = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())["config"]
    assert example["gcp:region"] == "europe-west2"
    message = _config_error(example)
    assert "placeholder" in message
    run = run_stack({**example, "gcp:project": "acme-data-123"})
    assert run.outputs["region"] == "europe-west2"


def test_labels_are_a_map_merged_with_ours():
    # `labels` is declared `type: object`; the CLI hands the map to the program as JSON text.
    assert _declared()["labels"]["type"] == "object"
    value = _as_the_cli_passes_it({"team": "data", "app": "orchestration"})
    labels = _load({**GOOD, "kestra-gcp:labels": value}).gcp.labels
    assert labels == {"managed-by": "pulumi", "app": "orchestration", "team": "data"}


# docs/configuration.md: startupTimeoutSeconds is 30..3600. Below 30 s not even Postgres' first init fits, so
# every `up` would fail; above an hour a broken start would hang `up` for longer than anyone waits.
@pytest.mark.parametrize("seconds, accepted", [("29", False), ("30", True), ("3600", True), ("3601", False)])
def test_startup_timeout_accepts_exactly_the_documented_range(seconds, accepted):
    config = {"kestra-gcp:startupTimeoutSeconds": seconds}
    if accepted:
        assert _load(config).docker.startup_timeout_seconds == int(seconds)
    else:
        message = _config_error(config)
        assert f"kestra-gcp:startupTimeoutSeconds: {seconds} is outside 30..3600" in message


# docs/configuration.md: a configured postgresPassword has 12+ characters (it guards the whole Kestra database).
def test_short_postgres_password_rejected_without_echoing_it():
    message = _config_error({"kestra-gcp:postgresPassword": "Elevenchars"},
                            secret_keys=("kestra-gcp:postgresPassword",))
    assert "kestra-gcp:postgresPassword: must be at least 12 characters" in message
    assert "Elevenchars" not in message


def test_twelve_character_postgres_password_is_used():
    run = run_stack({"kestra-gcp:profile": "local", "kestra-gcp:postgresPassword": "Twelve-chars"},
                    secret_keys=("kestra-gcp:postgresPassword",))
    postgres = run.one("docker:index/container:Container", "kestra-postgres")
    assert "POSTGRES_PASSWORD=Twelve-chars" in plain(postgres.inputs["envs"])
    assert [p.name for p in run.of_type("random:index/randomPassword:RandomPassword")] == ["kestra-kestra-password"]

# -- the flows tree is read with the config ----------------------------------------------------


def test_missing_flows_dir_stops_before_any_resource():
    message = _config_error({"kestra-gcp:flowsDir": "no-such-folder"})
    line = next(l for l in message.splitlines() if "kestra-gcp:flowsDir:" in l)
    assert "no-such-folder: flows directory not found" in line


def test_a_bad_flow_file_stops_before_any_resource(tmp_path):
    (tmp_path / "dev.testing").mkdir()
    (tmp_path / "dev.testing" / "hello.yaml").write_text("id: other\nnamespace: dev.testing\ntasks: []\n")
    message = _config_error({"kestra-gcp:flowsDir": str(tmp_path)})
    line = next(l for l in message.splitlines() if "kestra-gcp:flowsDir:" in l)
    assert "dev.testing/hello.yaml: id 'other' must equal the file name 'hello'" in line


def test_unparsable_flow_yaml_is_a_config_error_naming_the_file(tmp_path):
    (tmp_path / "ns").mkdir()
    (tmp_path / "ns" / "f.yaml").write_text("id: f\nnamespace: ns\ntasks: [\n")
    message = _config_error({"kestra-gcp:flowsDir": str(tmp_path), "kestra-gcp:profile": "local"})
    assert "ns/f.yaml: not valid YAML" in message


def test_config_carries_the_checked_flows_tree():
    catalogue = _load({}).flows.catalogue
    assert catalogue is not None and ("dev.testing", "java_hello_world") in {(f.namespace, f.flow_id) for f in catalogue.flows}


@pytest.mark.parametrize("username, ok", [
    ("admin@kestra.io", True),
    ("ops@my_host.io", False),        # BasicAuthService.EMAIL_PATTERN: no "_" after the @
    ("o_p+s!#@host-1.example", True),  # but "_" and these are fine before it
    ("admin", False),
    ("a b@kestra.io", False),
    ("admin@kestra.io\n", False),      # matches() must consume the whole value
    ("it\u2019s@kestra.io", True),     # the class holds U+2019, not "'"
    ("it's@kestra.io", False),
    ("a" * 246 + "@kestra.io", True),  # 256 characters: EMAIL_PASSWORD_MAX_LEN
    ("a" * 247 + "@kestra.io", False),
])
def test_kestra_username_rule(username, ok):
    assert (basic_auth_username_problem(username) is None) is ok


def test_username_error_says_it_is_kestras_rule():
    message = _config_error({"kestra-gcp:kestraUsername": "ops@my_host.io"})
    line = next(l for l in message.splitlines() if "kestra-gcp:kestraUsername:" in l)
    assert "Kestra's basic-auth rule" in line and "no '_'" in line and "401" in line


@pytest.mark.parametrize("password, ok", [
    ("Abcdefg1" + "x" * 248, True),   # 256 characters
    ("Abcdefg1" + "x" * 249, False),
    ("Abcd\nefg1", False),            # Java's "." stops at a line terminator
    ("\U0001F600" * 124 + "Abcdefg1", True),   # 256 UTF-16 code units
    ("\U0001F600" * 125 + "Abcdefg1", False),  # 258: String.length() counts UTF-16 units
])
def test_kestra_password_length_and_lines(password, ok):
    assert (basic_auth_password_problem(password) is None) is ok


# Cloud Storage naming: names with dots are dot-separated components of 1 to 63 characters each.
@pytest.mark.parametrize("name", ["a..b", "data." + "x" * 64 + ".example.com"])
def test_bucket_name_components_are_checked_one_by_one(name):
    assert bucket_name_problem(name) == "each dot-separated part must be 1 to 63 characters"


@pytest.mark.parametrize("port, accepted", [("65535", True), ("65536", False), ("1", True), ("0", False)])
def test_ui_port_is_a_tcp_port(port, accepted):
    config = {"kestra-gcp:uiPort": port, "kestra-gcp:managementPort": "8081" if port != "8081" else "8082"}
    if accepted:
        assert _load(config).docker.ui_port == int(port)
    else:
        assert f"kestra-gcp:uiPort: {port} is outside 1..65535" in _config_error(config)


def test_config_errors_read_one_line_per_bad_key():
    # docs/configuration.md: "Invalid values stop `pulumi preview` ... with one line per bad key."
    message = _config_error({"gcp:project": "acme-data-123", "kestra-gcp:iamMode": "x", "kestra-gcp:bucketName": "A"})
    lines = message.splitlines()
    assert lines[0] == "invalid stack configuration:"
    assert len(lines) == 3
    assert {line.split(":")[0] + ":" + line.split(":")[1] for line in lines[1:]} == {
        "  - kestra-gcp:iamMode", "  - kestra-gcp:bucketName"}


def test_all_interfaces_still_gives_a_browser_url_on_localhost():
    # docs/configuration.md: kestraPublicUrl defaults to http://localhost:<uiPort>; 0.0.0.0 is not an address a
    # browser can open.
    assert _load({"kestra-gcp:hostAddress": "0.0.0.0"}).docker.public_url == "http://localhost:8080"
    assert _load({"kestra-gcp:hostAddress": "192.168.1.20"}).docker.public_url == "http://192.168.1.20:8080"


def test_gcp_profile_may_switch_on_a_demo_schedule_whose_flow_uses_gcp(tmp_path):
    # The config phase checks the tree as the profile deploys it: in the GCP profile a demo flow
    # that calls GCP is deployed, so its schedule can be switched on.
    demo = tmp_path / "gcp.ecommerce" / "debug_demo.yaml"
    demo.parent.mkdir()
    demo.write_text(
        "id: debug_demo\nnamespace: gcp.ecommerce\ntasks:\n"
        "  - id: up\n    type: io.kestra.plugin.gcp.gcs.Upload\n"
        "triggers:\n  - id: every_10_minutes\n    type: io.kestra.plugin.core.trigger.Schedule\n"
        "    cron: \"*/10 * * * *\"\n    disabled: true\n")
    cfg = _load({**GOOD, "kestra-gcp:flowsDir": str(tmp_path), "kestra-gcp:demoScheduleEnabled": "true"})
    assert cfg.flows.demo_schedule_enabled is True
    message = _config_error({"kestra-gcp:flowsDir": str(tmp_path), "kestra-gcp:demoScheduleEnabled": "true"})
    assert "demoScheduleEnabled is true but" in message


def test_labels_that_are_not_a_map_are_refused_naming_the_key():
    message = _config_error({**GOOD, "kestra-gcp:labels": '["team", "data"]'})
    assert "kestra-gcp:labels: expected a map" in message


def test_a_missing_project_says_how_to_set_it():
    message = _config_error({"kestra-gcp:profile": "gcp"})
    assert "  - gcp:project: required for the gcp profile — run `pulumi config set gcp:project <id>` " in message


def test_a_google_bucket_name_says_which_rule():
    # Cloud Storage reserves names starting with "goog" or containing "google".
    assert bucket_name_problem("my-google-data") == "must not start with 'goog' or contain 'google'"


@pytest.mark.parametrize("config, env, host", [
    ({}, {}, "unix:///var/run/docker.sock"),
    ({}, {"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, "unix:///run/user/1000/docker.sock"),
    ({"docker:host": "tcp://10.0.0.5:2375"}, {"DOCKER_HOST": "unix:///other.sock"}, "tcp://10.0.0.5:2375"),
    # What the program does not speak: SSH, a Docker context (it overrides the host), TLS.
    ({"docker:host": "ssh://me@builder"}, {}, None),
    ({"docker:context": "remote"}, {}, None),
    ({}, {"DOCKER_CONTEXT": "remote"}, None),
    ({"docker:host": "tcp://10.0.0.5:2376"}, {"DOCKER_CERT_PATH": "/home/me/.docker"}, None),
])
def test_the_docker_engine_is_the_one_pulumi_docker_talks_to(config, env, host, monkeypatch):
    # pulumi-docker's provider.go: docker:host, else DOCKER_HOST, else the local socket; a context wins.
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _load({"kestra-gcp:profile": "local", **config}).docker.engine_host == host


def _catalogue(root, n=500, per_namespace=50):
    for i in range(n):
        ns = f"team{i // per_namespace:02d}"
        (root / ns).mkdir(exist_ok=True)
        (root / ns / f"flow_{i:03d}.yaml").write_text(
            f"id: flow_{i:03d}\nnamespace: {ns}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n"
            "    message: hi\n")


@pytest.mark.parametrize("path, text, reported", [
    ("team03/flow_170.yaml", "id: flow_17\nnamespace: team03\ntasks: []\n",
     "team03/flow_170.yaml: id 'flow_17' must equal the file name 'flow_170'"),
    ("team07/flow_377.yaml", "id: flow_377\nnamespace: team07\ntasks: [\n",
     "team07/flow_377.yaml: not valid YAML"),
])
def test_one_bad_flow_among_500_stops_before_any_resource_naming_file_and_field(tmp_path, path, text, reported):
    _catalogue(tmp_path)
    (tmp_path / path).write_text(text)
    message = _config_error({"kestra-gcp:flowsDir": str(tmp_path), "kestra-gcp:profile": "local"})
    line = next(l for l in message.splitlines() if "kestra-gcp:flowsDir:" in l)
    # Nothing is declared (_config_error checks), so none of the other 499 flows is written.
    assert reported in line
    if "YAML" in reported:
        assert "line 4, column 1" in message  # where the open flow sequence meets the end of the file


def test_a_flow_defined_by_two_files_among_500_names_both(tmp_path):
    _catalogue(tmp_path)
    (tmp_path / "team09" / "flow_123.yaml").write_text((tmp_path / "team02" / "flow_123.yaml").read_text())
    message = _config_error({"kestra-gcp:flowsDir": str(tmp_path), "kestra-gcp:profile": "local"})
    line = next(l for l in message.splitlines() if "kestra-gcp:flowsDir:" in l)
    assert "team09/flow_123.yaml" in line and "team02/flow_123.yaml" in line and "team02/flow_123" in line
