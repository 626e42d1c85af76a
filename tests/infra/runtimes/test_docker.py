"""KestraRuntime under mocks: the Docker resources, their wiring, and where the secrets go."""

import base64
import json

import pulumi
import pytest
import yaml

from infra.config import load_config
from infra.runtimes.docker import KestraRuntime, KestraRuntimeArgs, postgres_data_path, reachable_host
from tests.support.pulumi_harness import MOCK_PRIVATE_KEY, plain, run_stack

PASSWORD = "Configured-Pass-2024"
PG_PASSWORD = "pg-Configured-Pass-99"
GITHUB_TOKEN = "ghp_MockGithubToken0123456789"
GEMINI_KEY = "AIzaMockGeminiKey-0123456789"
# What the harness answers as RandomPassword.result for length 32.
GENERATED = "Mock" + "x" * 26 + "42"

LOCAL = {"kestra-gcp:profile": "local"}
CONFIGURED_SECRETS = {
    "kestra-gcp:kestraPassword": PASSWORD,
    "kestra-gcp:postgresPassword": PG_PASSWORD,
    "kestra-gcp:githubToken": GITHUB_TOKEN,
    "kestra-gcp:geminiApiKey": GEMINI_KEY,
}
EXPORTS = ("url", "management_url", "internal_url", "network_name", "username", "password")

CONTAINER = "docker:index/container:Container"
PASSWORD_TYPE = "random:index/randomPassword:RandomPassword"


def runtime_program(gcp_key=None):
    def program():
        config = load_config()
        key = None if gcp_key is None else pulumi.Output.secret(gcp_key)
        runtime = KestraRuntime("kestra", KestraRuntimeArgs.from_config(config, key))
        for name in EXPORTS:
            pulumi.export(name, getattr(runtime, name))
        pulumi.export("container_name", runtime.kestra_container.name)

    return program


def run(config, gcp_key=None):
    secret_keys = tuple(k for k in config if k in CONFIGURED_SECRETS)
    return run_stack(dict(config), secret_keys=secret_keys, program=runtime_program(gcp_key))


@pytest.fixture(scope="module")
def local_run():
    """Local profile, nothing configured: passwords generated, no GCP key, no optional secret."""
    return run(LOCAL)


@pytest.fixture(scope="module")
def full_run():
    """GCP key, every optional secret and a password for Kestra and Postgres configured."""
    return run({**LOCAL, **CONFIGURED_SECRETS}, gcp_key=MOCK_PRIVATE_KEY)


def container(stack, suffix):
    return stack.one(CONTAINER, f"kestra-{suffix}")


def envs(stack, suffix) -> dict:
    return dict(entry.split("=", 1) for entry in plain(container(stack, suffix).inputs["envs"]))


def kestra_configuration(stack) -> dict:
    return yaml.safe_load(envs(stack, "kestra")["KESTRA_CONFIGURATION"])


def test_network_volumes_and_images_have_explicit_names(local_run):
    assert local_run.one("docker:index/network:Network").inputs["name"] == "kestra-gcp-dev-net"
    volumes = {v.inputs["name"] for v in local_run.of_type("docker:index/volume:Volume")}
    assert volumes == {"kestra-gcp-dev-postgres-data", "kestra-gcp-dev-kestra-storage"}
    images = {i.inputs["name"]: i for i in local_run.of_type("docker:index/remoteImage:RemoteImage")}
    assert set(images) == {"postgres:17", "kestra/kestra:v1.1.7"}
    assert all(i.inputs["keepLocally"] is True for i in images.values())


def test_every_resource_is_a_child_and_named_ones_are_deleted_before_replacement(local_run):
    children = [r for r in local_run.resources if r.type != "kestra-gcp:infra:KestraRuntime"]
    assert len(children) == 9
    assert {r.parent_type for r in children} == {"kestra-gcp:infra:KestraRuntime"}
    named = [r for r in children if r.type.startswith("docker:") and "remoteImage" not in r.type]
    assert len(named) == 5
    # Docker refuses a second container/network/volume with the same name: create-before-delete
    # would fail on every replacement.
    assert all(r.delete_before_replace for r in named)


def test_containers_names_aliases_images_and_network(local_run):
    network = local_run.one("docker:index/network:Network")
    for suffix, alias, image in (("postgres", "postgres", "postgres-image"), ("kestra", "kestra", "kestra-image")):
        c = container(local_run, suffix)
        assert c.inputs["name"] == f"kestra-gcp-dev-{suffix}"
        assert c.inputs["networksAdvanced"] == [{"name": "kestra-gcp-dev-net", "aliases": [alias]}]
        assert network.urn in c.dependencies
        image_urn = local_run.one("docker:index/remoteImage:RemoteImage", f"kestra-{image}").urn
        assert c.property_dependencies["image"] == [image_urn]
        assert c.inputs["image"] == f"sha256:kestra-{image}"
        assert c.inputs["restart"] == "unless-stopped"


def test_postgres_is_private_persistent_and_waited_for(local_run):
    pg = container(local_run, "postgres")
    assert "ports" not in pg.inputs
    assert pg.inputs["mounts"] == [
        {"type": "volume", "source": "kestra-gcp-dev-postgres-data", "target": "/var/lib/postgresql/data"}
    ]
    check = pg.inputs["healthcheck"]
    assert check["tests"][:2] == ["CMD", "pg_isready"]
    assert " -d kestra -U kestra" in " ".join(check["tests"])
    assert pg.inputs["wait"] is True
    assert pg.inputs["waitTimeout"] == 300


def test_kestra_container_runs_standalone_as_root_with_socket_and_working_dir(local_run):
    k = container(local_run, "kestra")
    assert k.inputs["command"] == ["server", "standalone"]
    assert k.inputs["user"] == "root"
    mounts = {m["target"]: m for m in k.inputs["mounts"]}
    assert mounts["/var/run/docker.sock"] == {
        "type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"
    }
    assert mounts["/app/storage"] == {"type": "volume", "source": "kestra-gcp-dev-kestra-storage", "target": "/app/storage"}
    # Same path on both sides: script-task containers are given host paths under it.
    assert k.inputs["volumes"] == [{"hostPath": "/tmp/kestra-wd", "containerPath": "/tmp/kestra-wd"}]


def test_kestra_publishes_ui_and_management_on_loopback_only(local_run):
    ports = sorted(container(local_run, "kestra").inputs["ports"], key=lambda p: p["internal"])
    assert ports == [
        {"internal": 8080, "external": 8080, "ip": "127.0.0.1", "protocol": "tcp"},
        {"internal": 8081, "external": 8081, "ip": "127.0.0.1", "protocol": "tcp"},
    ]


def test_kestra_healthcheck_waits_for_a_cold_jvm_after_postgres(local_run):
    k = container(local_run, "kestra")
    check = k.inputs["healthcheck"]
    assert check["tests"][:2] == ["CMD", "curl"]
    assert "-f" in check["tests"] or "-fsS" in check["tests"]
    assert check["tests"][-1] == "http://localhost:8081/health"
    assert check["startPeriod"] == "300s"
    assert k.inputs["wait"] is True
    assert k.inputs["waitTimeout"] == 300
    assert container(local_run, "postgres").urn in k.dependencies


def test_generated_passwords_satisfy_kestra_and_are_used(local_run):
    generated = {p.name: p.inputs for p in local_run.of_type(PASSWORD_TYPE)}
    assert set(generated) == {"kestra-kestra-password", "kestra-postgres-password"}
    for inputs in generated.values():
        assert inputs["length"] >= 24
        assert inputs["special"] is False  # nothing that needs escaping in URLs or shells
        assert inputs["minUpper"] >= 1 and inputs["minLower"] >= 1 and inputs["minNumeric"] >= 1
    assert envs(local_run, "postgres")["POSTGRES_PASSWORD"] == GENERATED
    config = kestra_configuration(local_run)
    assert config["datasources"]["postgres"]["password"] == GENERATED
    assert config["kestra"]["server"]["basic-auth"]["password"] == GENERATED
    assert local_run.outputs["password"] == GENERATED


def test_configured_passwords_are_used_and_nothing_is_generated(full_run):
    assert full_run.of_type(PASSWORD_TYPE) == []
    assert envs(full_run, "postgres")["POSTGRES_PASSWORD"] == PG_PASSWORD
    config = kestra_configuration(full_run)
    assert config["datasources"]["postgres"]["password"] == PG_PASSWORD
    assert config["kestra"]["server"]["basic-auth"] == {"username": "admin@kestra.io", "password": PASSWORD}
    assert full_run.outputs["password"] == PASSWORD


def test_postgres_environment(local_run):
    assert envs(local_run, "postgres") == {
        "POSTGRES_DB": "kestra",
        "POSTGRES_USER": "kestra",
        "POSTGRES_PASSWORD": GENERATED,
    }


def test_local_profile_env_has_exactly_the_always_present_names(local_run):
    assert set(envs(local_run, "kestra")) == {
        "KESTRA_CONFIGURATION",
        "SECRET_KESTRA_USER",
        "SECRET_KESTRA_PASSWORD",
    }


def test_optional_secrets_appear_when_configured(full_run):
    env = envs(full_run, "kestra")
    assert set(env) == {
        "KESTRA_CONFIGURATION",
        "SECRET_KESTRA_USER",
        "SECRET_KESTRA_PASSWORD",
        "SECRET_GCP_SERVICE_ACCOUNT",
        "SECRET_GITHUB_TOKEN",
    }
    # The key's private_key already is base64 of the JSON key: passed as-is, not encoded twice.
    assert env["SECRET_GCP_SERVICE_ACCOUNT"] == MOCK_PRIVATE_KEY
    assert json.loads(base64.b64decode(env["SECRET_GCP_SERVICE_ACCOUNT"]))["type"] == "service_account"
    assert base64.b64decode(env["SECRET_GITHUB_TOKEN"]).decode() == GITHUB_TOKEN
    assert base64.b64decode(env["SECRET_KESTRA_USER"]).decode() == "admin@kestra.io"
    assert base64.b64decode(env["SECRET_KESTRA_PASSWORD"]).decode() == PASSWORD


def test_kestra_configuration_structure(local_run):
    config = kestra_configuration(local_run)
    assert config["datasources"]["postgres"]["url"] == "jdbc:postgresql://postgres:5432/kestra"
    assert config["datasources"]["postgres"]["username"] == "kestra"
    kestra = config["kestra"]
    assert kestra["repository"]["type"] == "postgres"
    assert kestra["queue"]["type"] == "postgres"
    assert kestra["storage"] == {"type": "local", "local": {"base-path": "/app/storage"}}
    assert kestra["tasks"]["tmp-dir"]["path"] == "/tmp/kestra-wd/tmp"
    assert kestra["server"]["basic-auth"]["username"] == "admin@kestra.io"
    assert kestra["url"] == "http://localhost:8080/"
    assert "ai" not in kestra


def test_gemini_key_adds_the_ai_block(full_run):
    ai = kestra_configuration(full_run)["kestra"]["ai"]
    assert ai == {"type": "gemini", "gemini": {"model-name": "gemini-2.5-flash", "api-key": GEMINI_KEY}}


@pytest.mark.parametrize("stack_fixture", ["local_run", "full_run"])
def test_every_secret_input_is_sent_as_a_secret(stack_fixture, request):
    stack = request.getfixturevalue(stack_fixture)
    for suffix in ("postgres", "kestra"):
        assert container(stack, suffix).is_secret("envs"), suffix


@pytest.mark.parametrize("stack_fixture", ["local_run", "full_run"])
def test_outputs_password_secret_and_urls_plain(stack_fixture, request):
    stack = request.getfixturevalue(stack_fixture)
    assert "password" in stack.secret_outputs
    assert stack.secret_outputs == {"password"}
    assert stack.outputs["url"] == "http://127.0.0.1:8080"
    assert stack.outputs["management_url"] == "http://127.0.0.1:8081"
    assert stack.outputs["internal_url"] == "http://kestra:8080"
    assert stack.outputs["network_name"] == "kestra-gcp-dev-net"
    assert stack.outputs["username"] == "admin@kestra.io"
    assert stack.outputs["container_name"] == "kestra-gcp-dev-kestra"


def _secret_values():
    values = {GENERATED, PASSWORD, PG_PASSWORD, GITHUB_TOKEN, GEMINI_KEY, MOCK_PRIVATE_KEY}
    values |= {base64.b64encode(v.encode()).decode() for v in (GENERATED, PASSWORD, GITHUB_TOKEN)}
    return values


def _strip_secret_paths(value, secret_paths, prefix=""):
    if prefix in secret_paths:
        return None
    if isinstance(value, dict):
        return {k: _strip_secret_paths(v, secret_paths, f"{prefix}.{k}" if prefix else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secret_paths(v, secret_paths, f"{prefix}[{i}]") for i, v in enumerate(value)]
    return value


def assert_no_plain_secrets(stack):
    for r in stack.resources:
        visible = json.dumps(_strip_secret_paths(r.inputs, r.secret_paths), default=str)
        for secret in _secret_values():
            assert secret not in visible, f"{r.type} {r.name} shows a secret in a plain input"
    plain_outputs = json.dumps({k: v for k, v in stack.outputs.items() if k not in stack.secret_outputs})
    for secret in _secret_values():
        assert secret not in plain_outputs


@pytest.mark.parametrize("stack_fixture", ["local_run", "full_run"])
def test_no_secret_value_in_any_plain_input_or_output(stack_fixture, request):
    assert_no_plain_secrets(request.getfixturevalue(stack_fixture))


def test_configured_host_and_ports():
    stack = run({**LOCAL, "kestra-gcp:hostAddress": "192.168.1.20", "kestra-gcp:uiPort": 18080,
                 "kestra-gcp:managementPort": 18081, "kestra-gcp:startupTimeoutSeconds": 600})
    k = container(stack, "kestra")
    assert sorted((p["internal"], p["external"], p["ip"]) for p in k.inputs["ports"]) == [
        (8080, 18080, "192.168.1.20"),
        (8081, 18081, "192.168.1.20"),
    ]
    assert k.inputs["waitTimeout"] == 600
    assert stack.outputs["url"] == "http://192.168.1.20:18080"
    assert stack.outputs["management_url"] == "http://192.168.1.20:18081"
    # The in-container side does not move with the published ports.
    assert k.inputs["healthcheck"]["tests"][-1] == "http://localhost:8081/health"
    assert stack.outputs["internal_url"] == "http://kestra:8080"
    assert kestra_configuration(stack)["kestra"]["url"] == "http://192.168.1.20:18080/"


def test_all_interfaces_publishes_everywhere_but_url_uses_loopback():
    stack = run({**LOCAL, "kestra-gcp:hostAddress": "0.0.0.0"})
    assert {p["ip"] for p in container(stack, "kestra").inputs["ports"]} == {"0.0.0.0"}
    assert stack.outputs["url"] == "http://127.0.0.1:8080"


def test_postgres_18_mounts_the_new_data_root():
    stack = run({**LOCAL, "kestra-gcp:postgresImage": "postgres:18-alpine"})
    assert container(stack, "postgres").inputs["mounts"][0]["target"] == "/var/lib/postgresql"


@pytest.mark.parametrize(
    "image, path",
    [
        ("postgres:17", "/var/lib/postgresql/data"),
        ("postgres:16.4-bookworm", "/var/lib/postgresql/data"),
        ("docker.io/library/postgres:17.2@sha256:abc", "/var/lib/postgresql/data"),
        ("postgres:18", "/var/lib/postgresql"),
        ("postgres:19.1", "/var/lib/postgresql"),
        ("postgres:latest", "/var/lib/postgresql"),
        ("postgres", "/var/lib/postgresql"),
    ],
)
def test_postgres_data_path(image, path):
    assert postgres_data_path(image) == path


@pytest.mark.parametrize(
    "address, host",
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("10.0.0.5", "10.0.0.5"), ("::", "[::1]"), ("::1", "[::1]")],
)
def test_reachable_host(address, host):
    assert reachable_host(address) == host


@pytest.mark.parametrize(
    "changes, fragment",
    [({"username": "admin"}, "username: must be an email address"), ({"name_prefix": "-bad prefix"}, "name_prefix")],
)
def test_invalid_args_fail_before_any_resource(changes, fragment):
    def program():
        config = load_config()
        values = {"name_prefix": config.name_prefix, "docker": config.docker, "username": "admin@kestra.io"}
        KestraRuntime("kestra", KestraRuntimeArgs(**{**values, **changes}))

    with pytest.raises(ValueError, match=fragment):
        run_stack(dict(LOCAL), program=program)


def test_plain_string_secrets_are_still_sent_and_exported_as_secrets():
    """Args may be plain strings (e.g. from another program): the component marks them secret."""

    def program():
        config = load_config()
        runtime = KestraRuntime(
            "kestra",
            KestraRuntimeArgs(
                name_prefix=config.name_prefix,
                docker=config.docker,
                username="admin@kestra.io",
                password=PASSWORD,
                postgres_password=PG_PASSWORD,
                gcp_service_account_key=MOCK_PRIVATE_KEY,
                github_token=GITHUB_TOKEN,
                gemini_api_key=GEMINI_KEY,
            ),
        )
        pulumi.export("password", runtime.password)
        pulumi.export("url", runtime.url)

    stack = run_stack(dict(LOCAL), program=program)
    assert stack.of_type(PASSWORD_TYPE) == []
    for suffix in ("postgres", "kestra"):
        assert container(stack, suffix).is_secret("envs"), suffix
    assert set(envs(stack, "kestra")) >= {"SECRET_GCP_SERVICE_ACCOUNT", "SECRET_GITHUB_TOKEN"}
    assert stack.secret_outputs == {"password"}
    assert stack.outputs["password"] == PASSWORD
    assert_no_plain_secrets(stack)


def test_consumers_of_url_depend_on_the_healthy_kestra_container():
    """A resource fed `url` (as FlowsDeployment's will be) is created only after the container."""
    import pulumi_random as random

    def program():
        config = load_config()
        runtime = KestraRuntime(
            "kestra",
            KestraRuntimeArgs(name_prefix=config.name_prefix, docker=config.docker, username="admin@kestra.io"),
        )
        random.RandomId("url-probe", byte_length=4, keepers={"url": runtime.url})
        random.RandomId("management-probe", byte_length=4, keepers={"url": runtime.management_url})

    stack = run_stack(dict(LOCAL), program=program)
    for probe, url in (("url-probe", "http://127.0.0.1:8080"), ("management-probe", "http://127.0.0.1:8081")):
        consumer = stack.one("random:index/randomId:RandomId", probe)
        assert consumer.inputs["keepers"]["url"] == url
        assert container(stack, "kestra").urn in consumer.dependencies, probe


# --- settings a user relies on without seeing them ---------------------------------------------

def test_postgres_health_is_checked_over_tcp_so_first_start_init_is_not_mistaken_for_ready(local_run):
    # The postgres image's entrypoint initialises a new data directory with a temporary server
    # listening on the Unix socket only (listen_addresses=''), then restarts it. pg_isready over
    # the socket would report that temporary server ready and Kestra would start against a
    # database about to go away; over TCP it is ready only once the real server listens.
    check = container(local_run, "postgres").inputs["healthcheck"]["tests"]
    assert check[:2] == ["CMD", "pg_isready"]
    assert check[check.index("-h") + 1] == "127.0.0.1"


def test_destroy_gives_each_container_time_to_stop_cleanly(local_run):
    # README: Postgres gets 30 s to shut down (a checkpoint instead of crash recovery on the next
    # start), Kestra 60 s to stop its workers. Docker's default is 10 s, then SIGKILL.
    assert container(local_run, "postgres").inputs["destroyGraceSeconds"] == 30
    assert container(local_run, "kestra").inputs["destroyGraceSeconds"] == 60


def test_postgres_healthcheck_timing_allows_a_slow_first_init(local_run):
    # Docker marks a container unhealthy after `retries` failed checks past `start_period`; with
    # 5 s between checks and 10 retries Postgres has about a minute beyond the start period.
    check = container(local_run, "postgres").inputs["healthcheck"]
    assert (check["interval"], check["timeout"], check["retries"], check["startPeriod"]) == ("5s", "5s", 10, "10s")


def test_kestra_healthcheck_tolerates_a_minute_of_failures_once_started(local_run):
    check = container(local_run, "kestra").inputs["healthcheck"]
    assert (check["interval"], check["timeout"], check["retries"]) == ("10s", "5s", 6)


def test_containers_talk_over_a_private_bridge_network(local_run):
    # Postgres has no published port: Kestra reaches it by alias on this user-defined bridge.
    network = local_run.one("docker:index/network:Network")
    assert network.inputs["driver"] == "bridge"
    for suffix in ("postgres", "kestra"):
        assert container(local_run, suffix).inputs["networksAdvanced"][0]["name"] == network.inputs["name"]


def test_container_environments_stay_secret_when_read_back(local_run):
    # envs hold the Postgres and Kestra passwords; marked secret outputs, they stay encrypted in
    # state also when `pulumi refresh` reads them back from Docker.
    for suffix in ("postgres", "kestra"):
        assert container(local_run, suffix).additional_secret_outputs == ["envs"], suffix


VOLUME = "docker:index/volume:Volume"


def test_keep_data_retains_both_volumes_and_nothing_else_of_docker():
    """keepData: Kestra's database and internal storage (KV values, namespace files) are in the
    two volumes; destroy must leave them to Docker. Containers, network and images hold no data."""
    kept = run({**LOCAL, "kestra-gcp:keepData": "true", "kestra-gcp:postgresPassword": PG_PASSWORD})
    volumes = kept.of_type(VOLUME)
    assert len(volumes) == 2 and all(v.retain_on_delete for v in volumes)
    others = [r for r in kept.resources if r.type.startswith("docker:") and r.type != VOLUME]
    assert others and not any(r.retain_on_delete for r in others)


def test_without_keep_data_destroy_deletes_the_volumes(local_run):
    assert not any(v.retain_on_delete for v in local_run.of_type(VOLUME))


def test_containers_have_a_hook_that_clears_a_name_left_taken_by_an_interrupted_create(local_run):
    """A create interrupted during the health wait leaves a running container that holds the
    name (infra/runtimes/docker_engine.py). The hook is no input: deployed containers stay."""
    for suffix in ("postgres", "kestra"):
        resource = container(local_run, suffix)
        assert resource.before_create_hooks == [f"kestra-{suffix}-stale-container"]
        assert "labels" not in resource.inputs


@pytest.mark.parametrize("startup, create", [(300, "1200s"), (3600, "4200s")])
def test_a_container_create_may_last_as_long_as_its_health_wait(startup, create):
    """pulumi-docker bounds a container create, health wait included, by 20 minutes unless the
    resource's create timeout says otherwise (resource_docker_container.go Timeouts)."""
    stack = run({**LOCAL, "kestra-gcp:startupTimeoutSeconds": str(startup)})
    for suffix in ("postgres", "kestra"):
        resource = container(stack, suffix)
        assert resource.inputs["waitTimeout"] == startup
        assert resource.custom_timeouts["create"] == create


def test_a_rootless_engines_socket_is_what_kestra_gets_at_the_usual_path():
    """Docker refuses a bind mount whose source does not exist on its host ("bind source path does
    not exist"); a rootless engine listens on $XDG_RUNTIME_DIR/docker.sock."""
    stack = run({**LOCAL, "kestra-gcp:dockerSocket": "/run/user/1000/docker.sock"})
    mounts = {m["target"]: m for m in container(stack, "kestra").inputs["mounts"]}
    assert mounts["/var/run/docker.sock"] == {
        "type": "bind", "source": "/run/user/1000/docker.sock", "target": "/var/run/docker.sock"
    }
