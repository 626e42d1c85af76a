"""KESTRA_CONFIGURATION rendering and SECRET_* entries: structure, quoting, validation."""

import base64
import json
from dataclasses import replace

import pytest
import yaml

from kestra.config import (
    DEFAULT_GEMINI_MODEL,
    KestraSettings,
    basic_auth_password_problem,
    render_kestra_configuration,
    secret_env,
)

PASSWORD = "Kestra-Admin-42"
PG_PASSWORD = "pg-Secret-123456"
BASE = KestraSettings(
    postgres_password=PG_PASSWORD,
    basic_auth_username="admin@kestra.io",
    basic_auth_password=PASSWORD,
    public_url="http://localhost:8080",
)


def parsed(settings: KestraSettings) -> dict:
    text = render_kestra_configuration(settings)
    assert isinstance(text, str)
    return yaml.safe_load(text)


def test_every_required_key_has_kestra_compose_shape():
    config = parsed(BASE)
    assert config["datasources"]["postgres"] == {
        "url": "jdbc:postgresql://postgres:5432/kestra",
        "driverClassName": "org.postgresql.Driver",
        "username": "kestra",
        "password": PG_PASSWORD,
    }
    kestra = config["kestra"]
    assert kestra["repository"] == {"type": "postgres"}
    assert kestra["queue"] == {"type": "postgres"}
    assert kestra["storage"] == {"type": "local", "local": {"base-path": "/app/storage"}}
    assert kestra["tasks"] == {"tmp-dir": {"path": "/tmp/kestra-wd/tmp"}}
    assert kestra["server"]["basic-auth"] == {"username": "admin@kestra.io", "password": PASSWORD}
    assert kestra["url"] == "http://localhost:8080/"
    assert set(config) == {"datasources", "kestra"}


def test_host_database_and_paths_are_taken_from_settings():
    settings = replace(
        BASE,
        postgres_host="db.internal",
        postgres_port=6543,
        postgres_db="orchestrator",
        postgres_user="svc_kestra",
        storage_path="/data/storage",
        tmp_dir="/tmp/wd/tmp",
        public_url="https://kestra.example.com/",
    )
    config = parsed(settings)
    assert config["datasources"]["postgres"]["url"] == "jdbc:postgresql://db.internal:6543/orchestrator"
    assert config["datasources"]["postgres"]["username"] == "svc_kestra"
    assert config["kestra"]["storage"]["local"]["base-path"] == "/data/storage"
    assert config["kestra"]["tasks"]["tmp-dir"]["path"] == "/tmp/wd/tmp"
    assert config["kestra"]["url"] == "https://kestra.example.com/"


@pytest.mark.parametrize("key", [None, ""])
def test_no_ai_block_without_a_gemini_key(key):
    assert "ai" not in parsed(replace(BASE, gemini_api_key=key))["kestra"]


def test_ai_block_with_a_gemini_key():
    config = parsed(replace(BASE, gemini_api_key="AIza-test-key"))
    assert config["kestra"]["ai"] == {
        "type": "gemini",
        "gemini": {"model-name": DEFAULT_GEMINI_MODEL, "api-key": "AIza-test-key"},
    }
    assert DEFAULT_GEMINI_MODEL == "gemini-2.5-flash"
    custom = parsed(replace(BASE, gemini_api_key="k", gemini_model="gemini-2.5-pro"))
    assert custom["kestra"]["ai"]["gemini"]["model-name"] == "gemini-2.5-pro"


@pytest.mark.parametrize(
    "password",
    [
        "Ab1'single'quote",
        'Ab1"double"quote',
        "Ab1 # not a comment",
        "Ab1: looks: like: a map",
        "Ab1{flow}[seq]",
        "Ab1 &anchor *alias !tag",
        "Ab1%|>@`",
        " Ab1 leading and trailing spaces ",
        "Ab1\ttab\tseparated",  # a line break is refused: Kestra's PASSWORD_PATTERN "." stops at it
        "Ab1ünïcødé",
    ],
)
def test_special_characters_survive_a_yaml_round_trip(password):
    settings = replace(BASE, basic_auth_password=password, postgres_password=password, gemini_api_key=password)
    config = parsed(settings)
    assert config["kestra"]["server"]["basic-auth"]["password"] == password
    assert config["datasources"]["postgres"]["password"] == password
    assert config["kestra"]["ai"]["gemini"]["api-key"] == password


@pytest.mark.parametrize("password", ["Yes12345Y", "True1234a", "1234567Aa", "Null9999z"])
def test_yaml_lookalike_scalars_stay_strings(password):
    config = parsed(replace(BASE, basic_auth_password=password, postgres_password="12345678"))
    assert config["kestra"]["server"]["basic-auth"]["password"] == password
    assert config["datasources"]["postgres"]["password"] == "12345678"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"basic_auth_username": "admin"}, "basic_auth_username"),
        ({"basic_auth_password": "Sh0rt!"}, "basic_auth_password"),
        ({"basic_auth_password": "alllowercase123"}, "basic_auth_password"),
        ({"basic_auth_password": "ALLUPPERCASE123"}, "basic_auth_password"),
        ({"basic_auth_password": "NoDigitsHere#"}, "basic_auth_password"),
        ({"postgres_password": ""}, "postgres_password"),
        ({"public_url": "localhost:8080"}, "public_url"),
        ({"postgres_host": "postgres;drop"}, "postgres_host"),
        ({"postgres_db": "kestra?ssl=false"}, "postgres_db"),
        ({"storage_path": "relative/storage"}, "storage_path"),
        ({"gemini_api_key": "k", "gemini_model": " "}, "gemini_model"),
    ],
)
def test_invalid_settings_name_the_field(changes, field):
    with pytest.raises(ValueError) as info:
        render_kestra_configuration(replace(BASE, **changes))
    assert field in str(info.value)


@pytest.mark.parametrize(
    "field, secret",
    [
        ("basic_auth_password", "weakpass#secret"),
        ("basic_auth_password", "Sh0rt"),
        ("postgres_password", None),
    ],
)
def test_validation_errors_never_contain_secrets(field, secret):
    # An invalid basic-auth password must not be echoed, nor any other secret in the settings.
    settings = replace(BASE, basic_auth_username="not-an-email", gemini_api_key="AIza-do-not-log")
    if secret is not None:
        settings = replace(settings, **{field: secret})
    with pytest.raises(ValueError) as info:
        render_kestra_configuration(settings)
    message = str(info.value)
    assert "basic_auth_username" in message
    for value in (secret, PASSWORD, PG_PASSWORD, "AIza-do-not-log", "not-an-email"):
        if value:
            assert value not in message


def test_secret_env_encodes_plaintext_and_passes_base64_through():
    key_json = json.dumps({"type": "service_account", "private_key": "-----KEY-----"})
    key_b64 = base64.b64encode(key_json.encode()).decode()
    entries = secret_env(
        {"KESTRA_USER": "admin@kestra.io", "KESTRA_PASSWORD": "p@ss: 'w#rd'"},
        {"GCP_SERVICE_ACCOUNT": key_b64},
    )
    assert [e.split("=", 1)[0] for e in entries] == [
        "SECRET_GCP_SERVICE_ACCOUNT",
        "SECRET_KESTRA_PASSWORD",
        "SECRET_KESTRA_USER",
    ]
    values = dict(e.split("=", 1) for e in entries)
    assert values["SECRET_GCP_SERVICE_ACCOUNT"] == key_b64  # not encoded twice
    assert json.loads(base64.b64decode(values["SECRET_GCP_SERVICE_ACCOUNT"])) == json.loads(key_json)
    assert base64.b64decode(values["SECRET_KESTRA_PASSWORD"]).decode() == "p@ss: 'w#rd'"
    assert base64.b64decode(values["SECRET_KESTRA_USER"]).decode() == "admin@kestra.io"


@pytest.mark.parametrize(
    "plaintext, encoded, fragment",
    [
        ({"github_token": "ghp_secretvalue"}, {}, "upper-case"),
        ({"GITHUB_TOKEN": ""}, {}, "GITHUB_TOKEN: is empty"),
        ({}, {"GCP_SERVICE_ACCOUNT": '{"private_key": "raw json"}'}, "GCP_SERVICE_ACCOUNT: is not valid base64"),
        ({"TOKEN": "ghp_secretvalue"}, {"TOKEN": "Z2hw"}, "TOKEN: given both"),
    ],
)
def test_secret_env_rejects_bad_input_without_echoing_it(plaintext, encoded, fragment):
    with pytest.raises(ValueError) as info:
        secret_env(plaintext, encoded)
    message = str(info.value)
    assert fragment in message
    for value in ("ghp_secretvalue", "raw json", "Z2hw"):
        assert value not in message


def test_a_multi_line_password_is_refused_like_kestra_does():
    # BasicAuthService.PASSWORD_PATTERN with Matcher.matches(): Java's "." does not match "\n".
    assert "single line" in basic_auth_password_problem("Abcdefg1\nsecond line")


# --- GCS storage, JDBC parameters, instance plugin defaults, and the public/secret split --------

from kestra.config import (  # noqa: E402
    gcp_key_plugin_defaults,
    kestra_configuration,
    split_configuration,
)


def test_gcs_storage_replaces_local_storage():
    # storage-gcs: @Plugin.Id("gcs"), fields bucket and projectId; Kestra maps the kebab-case keys of
    # kestra.storage.<id> onto them (KestraBeansFactory.StorageConfig, MapFormat CAMEL_CASE).
    config = parsed(replace(BASE, gcs_bucket="acme-kestra-internal", gcs_project="acme-data-123"))
    assert config["kestra"]["storage"] == {"type": "gcs", "gcs": {"bucket": "acme-kestra-internal", "project-id": "acme-data-123"}}


def test_jdbc_parameters_are_appended_to_the_url():
    config = parsed(replace(BASE, postgres_parameters=(("sslmode", "verify-ca"), ("sslrootcert", "/app/ca/server.pem"))))
    assert config["datasources"]["postgres"]["url"] == (
        "jdbc:postgresql://postgres:5432/kestra?sslmode=verify-ca&sslrootcert=/app/ca/server.pem")


@pytest.mark.parametrize("params", [(("sslmode", "require&user=x"),), (("bad key", "x"),)])
def test_jdbc_parameters_cannot_smuggle_more_into_the_url(params):
    with pytest.raises(ValueError, match="postgres_parameters"):
        render_kestra_configuration(replace(BASE, postgres_parameters=params))


def test_gcp_key_plugin_default_is_kestras_plugin_default_shape():
    # PluginDefault {type, forced, values}; a type that is a package prefix covers every GCP task
    # and trigger (PluginDefaultService.defaults: pluginType.startsWith(type)).
    assert gcp_key_plugin_defaults("GCP_SERVICE_ACCOUNT") == ({
        "type": "io.kestra.plugin.gcp", "forced": False,
        "values": {"serviceAccount": "{{ secret('GCP_SERVICE_ACCOUNT') }}"},
    },)
    with pytest.raises(ValueError, match="secret_name"):
        gcp_key_plugin_defaults("gcp-key')}}")


def test_plugin_defaults_land_under_kestra_plugins_defaults():
    config = parsed(replace(BASE, plugin_defaults=gcp_key_plugin_defaults("GCP_SERVICE_ACCOUNT")))
    assert config["kestra"]["plugins"] == {"defaults": [{
        "type": "io.kestra.plugin.gcp", "forced": False,
        "values": {"serviceAccount": "{{ secret('GCP_SERVICE_ACCOUNT') }}"},
    }]}
    with pytest.raises(ValueError, match="plugin_defaults"):
        render_kestra_configuration(replace(BASE, plugin_defaults=({"values": {}},)))


def _merge(a: dict, b: dict) -> dict:
    """Micronaut merges configuration files key by key (later files win)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def test_split_moves_exactly_the_secret_values_out():
    settings = replace(BASE, gemini_api_key="AIza-test-key")
    public, secret = split_configuration(settings)
    assert secret == {
        "datasources": {"postgres": {"password": PG_PASSWORD}},
        "kestra": {"server": {"basic-auth": {"password": PASSWORD}}, "ai": {"gemini": {"api-key": "AIza-test-key"}}},
    }
    text = yaml.safe_dump(public)
    for value in (PG_PASSWORD, PASSWORD, "AIza-test-key"):
        assert value not in text
    assert _merge(public, secret) == kestra_configuration(settings)


def test_split_without_a_gemini_key_has_no_ai_in_either_part():
    public, secret = split_configuration(BASE)
    assert "ai" not in public["kestra"] and "ai" not in secret["kestra"]
