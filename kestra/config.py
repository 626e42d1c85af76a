"""Kestra's own configuration, rendered from plain values: no Pulumi, no I/O.

`render_kestra_configuration(settings)` returns the YAML that goes into the container's
``KESTRA_CONFIGURATION`` variable: the Postgres datasource, Postgres repository and queue, internal
storage (local, or GCS when a bucket is given), the tasks' temporary directory, basic auth, Kestra's
public URL, instance-level plugin defaults when given and — only when a Gemini API key is given —
the AI copilot. The shape follows Kestra's own ``docker-compose.yml`` (kestra-io/kestra); the AI
keys follow ``GeminiConfiguration`` / ``GeminiAiService`` (``kestra.ai.type: gemini``,
``kestra.ai.gemini.api-key``, ``kestra.ai.gemini.model-name``); GCS storage follows storage-gcs's
``GcsStorage`` (``kestra.storage.type: gcs``, ``kestra.storage.gcs.bucket`` / ``project-id``; no
``service-account``: Application Default Credentials); plugin defaults follow
``PluginGlobalDefaultConfiguration`` (``kestra.plugins.defaults``: a list of ``{type, values,
forced}``, applied to every flow after the flow's own ``pluginDefaults``, 1.1 source).

`split_configuration(settings)` returns the same configuration as two documents: the public part
and the secret values (the Postgres password, the basic-auth password, the Gemini key) at the same
paths. Kestra on Kubernetes reads both as Micronaut configuration files, which merge key by key, so
the public part can go into a ConfigMap and only the secret part into a Secret.

`secret_env(...)` returns the ``SECRET_<NAME>=<base64>`` entries Kestra OSS reads with
``{{ secret('NAME') }}``.

Values are validated before anything is rendered. A `ValueError` names the offending field and
never echoes a value, so a mistyped password cannot end up in a log.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Mapping, Optional
from urllib.parse import urlparse

import yaml

DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"

# Kestra's basic-auth rules, copied from BasicAuthService (webserver, 1.1 source): EMAIL_PATTERN,
# PASSWORD_PATTERN and EMAIL_PASSWORD_MAX_LEN. Java's Matcher.matches() must consume the whole
# value (fullmatch here), Java's "." stops at any line terminator, the class holds the typographic
# apostrophe U+2019 (not "'"), and String.length() counts UTF-16 code units.
_KESTRA_USERNAME = re.compile("[a-zA-Z0-9_!#$%&\u2019*+/=?`{|}~^.-]+@[a-zA-Z0-9.-]+")
_JAVA_DOT = "[^\n\r\u0085\u2028\u2029]"
_KESTRA_PASSWORD = re.compile(
    f"(?={_JAVA_DOT}{{8,}})(?={_JAVA_DOT}*[a-z])(?={_JAVA_DOT}*[A-Z])(?={_JAVA_DOT}*[0-9]){_JAVA_DOT}*"
)
KESTRA_BASIC_AUTH_MAX_LEN = 256
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_JDBC_PARAMETER = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_JDBC_VALUE = re.compile(r"^[A-Za-z0-9_./:-]+$")
_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


@dataclass(frozen=True)
class KestraSettings:
    """Everything `render_kestra_configuration` needs, as plain values (secrets in plaintext)."""

    postgres_password: str
    basic_auth_username: str
    basic_auth_password: str
    public_url: str
    postgres_host: str = "postgres"  # the Postgres container's network alias
    postgres_port: int = 5432
    postgres_db: str = "kestra"
    postgres_user: str = "kestra"
    storage_path: str = "/app/storage"
    tmp_dir: str = "/tmp/kestra-wd/tmp"
    gemini_api_key: Optional[str] = None  # None or "" → no AI block at all
    gemini_model: str = DEFAULT_GEMINI_MODEL
    # Query parameters of the JDBC URL, e.g. (("sslmode", "verify-ca"), ("sslrootcert", "/path")).
    postgres_parameters: tuple = ()
    gcs_bucket: Optional[str] = None  # set: internal storage on this bucket instead of storage_path
    gcs_project: Optional[str] = None
    plugin_defaults: tuple = ()  # kestra.plugins.defaults entries (see gcp_key_plugin_defaults)


# Where each secret value sits in the configuration (split_configuration moves exactly these).
SECRET_PATHS = (
    ("datasources", "postgres", "password"),
    ("kestra", "server", "basic-auth", "password"),
    ("kestra", "ai", "gemini", "api-key"),
)
# The GCP plugins' property that takes a service account key (GcpInterface.serviceAccount) and the
# plugin-type prefix covering every GCP task and trigger (PluginDefaultService matches prefixes).
GCP_PLUGIN_PREFIX = "io.kestra.plugin.gcp"


def gcp_key_plugin_defaults(secret_name: str) -> tuple:
    """The instance-level plugin default that gives every GCP task and trigger a key read from
    Kestra's secret `secret_name` (rendered at run time, like a flow's own ``{{ secret() }}``).

    Not forced: a flow's own ``serviceAccount`` still wins. Without it the GCP plugins use
    Application Default Credentials (Workload Identity on GKE).
    """
    if not _SECRET_NAME.match(secret_name or ""):
        raise ValueError("secret_name: secret names are upper-case letters, digits and '_'")
    return (
        {
            "type": GCP_PLUGIN_PREFIX,
            "forced": False,
            "values": {"serviceAccount": "{{ secret('%s') }}" % secret_name},
        },
    )


def _java_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def basic_auth_username_problem(username: str) -> Optional[str]:
    """Why Kestra would refuse this basic-auth username (BasicAuthService.save), or None.

    Kestra does not apply refused credentials, so every API call would then get 401.
    """
    username = username or ""
    if _java_length(username) > KESTRA_BASIC_AUTH_MAX_LEN:
        return f"must be at most {KESTRA_BASIC_AUTH_MAX_LEN} characters (Kestra's basic-auth rule)"
    if not _KESTRA_USERNAME.fullmatch(username):
        return (
            "must be an email address as Kestra's basic-auth rule defines it (BasicAuthService): "
            "letters, digits and !#$%&\u2019*+/=?`{|}~^._- before the @; only letters, digits, '.' and '-' "
            "after it (no '_')"
        )
    return None


def basic_auth_password_problem(password: str) -> Optional[str]:
    """Why Kestra would refuse this basic-auth password (BasicAuthService.save), or None."""
    password = password or ""
    rule = " (Kestra's basic-auth rule)"
    if _java_length(password) > KESTRA_BASIC_AUTH_MAX_LEN:
        return f"must be at most {KESTRA_BASIC_AUTH_MAX_LEN} characters{rule}"
    if re.search("[\n\r\u0085\u2028\u2029]", password):
        return f"must be a single line{rule}"
    if len(password) < 8:
        return f"must be at least 8 characters{rule}"
    if not re.search(r"[A-Z]", password) or not re.search(r"[a-z]", password):
        return f"must contain upper-case and lower-case letters{rule}"
    if not re.search(r"[0-9]", password):
        return f"must contain a digit{rule}"
    if not _KESTRA_PASSWORD.fullmatch(password):  # the checks above spell PASSWORD_PATTERN out
        return f"does not match{rule}"
    return None


def validate_settings(settings: KestraSettings) -> None:
    """Raises ValueError listing every invalid field by name (values are never included)."""
    problems: list[str] = []

    def check(field_name: str, problem: Optional[str]) -> None:
        if problem:
            problems.append(f"{field_name}: {problem}")

    check("basic_auth_username", basic_auth_username_problem(settings.basic_auth_username))
    check("basic_auth_password", basic_auth_password_problem(settings.basic_auth_password))
    check("postgres_password", None if settings.postgres_password else "must not be empty")
    url = urlparse(settings.public_url or "")
    check(
        "public_url",
        None if url.scheme in ("http", "https") and url.netloc else "must be an http(s) URL",
    )
    check(
        "postgres_host",
        None if _HOSTNAME.match(settings.postgres_host or "") else "must be a host name",
    )
    port_ok = isinstance(settings.postgres_port, int) and 0 < settings.postgres_port < 65536
    check("postgres_port", None if port_ok else "must be a port number")
    for name in ("postgres_db", "postgres_user"):
        value = getattr(settings, name)
        check(name, None if _IDENTIFIER.match(value or "") else "must be a plain SQL identifier")
    for name in ("storage_path", "tmp_dir"):
        value = getattr(settings, name)
        check(name, None if (value or "").startswith("/") else "must be an absolute path")
    if settings.gemini_api_key:
        check("gemini_model", None if (settings.gemini_model or "").strip() else "must not be empty")
    for key, value in settings.postgres_parameters:
        ok = _JDBC_PARAMETER.match(str(key)) and _JDBC_VALUE.match(str(value))
        check("postgres_parameters", None if ok else "must be plain key=value pairs")
    if settings.gcs_bucket is not None:
        check("gcs_bucket", None if _GCS_BUCKET.match(settings.gcs_bucket) else "must be a bucket name")
    for entry in settings.plugin_defaults:
        ok = (isinstance(entry, dict) and isinstance(entry.get("type"), str) and entry["type"]
              and isinstance(entry.get("values"), dict))
        check("plugin_defaults", None if ok else "each entry needs a type and a values mapping")
    if problems:
        raise ValueError("invalid Kestra settings: " + "; ".join(problems))


def kestra_configuration(settings: KestraSettings) -> dict:
    """The configuration as a mapping (validated); `render_kestra_configuration` dumps it."""
    validate_settings(settings)
    kestra: dict = {
        "server": {
            "basic-auth": {
                "username": settings.basic_auth_username,
                "password": settings.basic_auth_password,
            }
        },
        "repository": {"type": "postgres"},
        "queue": {"type": "postgres"},
        "storage": _storage(settings),
        "tasks": {"tmp-dir": {"path": settings.tmp_dir}},
        # Kestra builds the links in notifications and the UI from this; the trailing slash is
        # what its own docker-compose uses.
        "url": settings.public_url.rstrip("/") + "/",
    }
    if settings.plugin_defaults:
        kestra["plugins"] = {"defaults": [dict(entry) for entry in settings.plugin_defaults]}
    if settings.gemini_api_key:
        kestra["ai"] = {
            "type": "gemini",
            "gemini": {"model-name": settings.gemini_model, "api-key": settings.gemini_api_key},
        }
    return {
        "datasources": {
            "postgres": {
                "url": (
                    f"jdbc:postgresql://{settings.postgres_host}:{settings.postgres_port}"
                    f"/{settings.postgres_db}"
                    + ("?" + "&".join(f"{k}={v}" for k, v in settings.postgres_parameters)
                       if settings.postgres_parameters else "")
                ),
                "driverClassName": "org.postgresql.Driver",
                "username": settings.postgres_user,
                "password": settings.postgres_password,
            }
        },
        "kestra": kestra,
    }


def _storage(settings: KestraSettings) -> dict:
    if settings.gcs_bucket:
        gcs = {"bucket": settings.gcs_bucket}
        if settings.gcs_project:
            gcs["project-id"] = settings.gcs_project
        return {"type": "gcs", "gcs": gcs}
    return {"type": "local", "local": {"base-path": settings.storage_path}}


def split_configuration(settings: KestraSettings) -> tuple[dict, dict]:
    """(public, secret): `kestra_configuration` with every value at `SECRET_PATHS` moved out of
    the first mapping into the second, at the same path. Merged key by key they give the whole."""
    public = kestra_configuration(settings)
    secret: dict = {}
    for path in SECRET_PATHS:
        node = public
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or path[-1] not in node:
            continue
        value = node.pop(path[-1])
        target = secret
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    return public, secret


def dump_yaml(document: dict) -> str:
    """YAML as Kestra reads it. PyYAML quotes whatever a password contains."""
    return yaml.safe_dump(
        document,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,  # never fold a long value onto several lines
    )


def render_kestra_configuration(settings: KestraSettings) -> str:
    """The ``KESTRA_CONFIGURATION`` YAML. PyYAML quotes whatever a password contains."""
    return dump_yaml(kestra_configuration(settings))


def secret_env(
    plaintext: Optional[Mapping[str, str]] = None,
    base64_encoded: Optional[Mapping[str, str]] = None,
) -> list[str]:
    """``SECRET_<NAME>=<base64>`` entries, sorted by name.

    `plaintext` values are base64-encoded here. `base64_encoded` values are passed unchanged —
    a GCP service account key's ``private_key`` already is base64 of the JSON key, and encoding
    it twice would hand flows base64 instead of JSON. Names must be upper-case
    (``[A-Z][A-Z0-9_]*``) and appear only once across both mappings.
    """
    plaintext = dict(plaintext or {})
    base64_encoded = dict(base64_encoded or {})
    problems: list[str] = []
    for name in sorted(set(plaintext) & set(base64_encoded)):
        problems.append(f"{name}: given both as plaintext and as base64")
    entries: dict[str, str] = {}
    for name, value in plaintext.items():
        entries[name] = base64.b64encode((value or "").encode("utf-8")).decode("ascii")
    for name, value in base64_encoded.items():
        try:
            base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"{name}: is not valid base64")
        entries[name] = value
    for name, value in entries.items():
        if not _SECRET_NAME.match(name):
            problems.append(f"{name!r}: secret names are upper-case letters, digits and '_'")
        elif not value:
            problems.append(f"{name}: is empty")
    if problems:
        raise ValueError("invalid Kestra secrets: " + "; ".join(problems))
    return [f"SECRET_{name}={entries[name]}" for name in sorted(entries)]
