"""Docker (the local and gcp profiles' runtime): published ports, credentials in the environment,
pinned images."""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable

from pulumi_policy import ResourceValidationArgs
from pulumi_policy.proxy import UnknownValueError

from pack_support import (
    ADVISORY, MANDATORY, UNKNOWN, StackSettings, contains_unknown, exception_hint, is_secret, plain, prop,
    resource_policy, where,
)


CONTAINER = "docker:index/container:Container"


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_container_ports(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    ports = plain(prop(args.props, "ports", []))
    if not isinstance(ports, list):
        return
    for i, port in enumerate(ports):
        if not isinstance(port, dict) or contains_unknown(port):
            continue
        ip = port.get("ip") or "0.0.0.0"  # Docker publishes on every interface without one
        if _loopback(ip) or ip == stack.host_address:
            continue
        external = port.get("external")
        if isinstance(external, float) and external.is_integer():  # numbers cross the wire as floats
            external = int(external)
        yield (f"{where(args)}: ports[{i}].ip is {ip} (host port {external}), so the port is "
               f"reachable from other machines; Kestra's API must not be. Fix: publish on 127.0.0.1 "
               f"(ip=settings.host_address), or, if the network is meant to reach it, say so with "
               f"`pulumi config set hostAddress {ip}`. {exception_hint('docker-ports-on-loopback')}")


# A name says credential when one of its parts (split at _ - . and camelCase) is a credential
# word: KEY, PASS, PWD… as a whole part (so MONKEY or PASSTHROUGH are not), the longer words also
# at a part's end (DBPASSWORD, GITHUBTOKEN). A last part that names where a credential is, not
# the credential (POSTGRES_PASSWORD_FILE, AWS_ACCESS_KEY_ID), does not count.
_CREDENTIAL_PARTS = frozenset({
    "KEY", "KEYS", "APIKEY", "PRIVATEKEY", "ACCESSKEY", "SECRETKEY", "PASS", "PWD", "PW", "CREDS",
})
_CREDENTIAL_ENDINGS = re.compile(r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL)S?$")
_REFERENCE_PARTS = frozenset({"FILE", "PATH", "DIR", "ID", "NAME"})


def name_parts(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [part for part in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if part]


def is_credential_name(name: str) -> bool:
    parts = name_parts(name)
    if not parts or parts[-1] in _REFERENCE_PARTS:
        return False
    return any(part in _CREDENTIAL_PARTS or _CREDENTIAL_ENDINGS.search(part) for part in parts)


def check_container_env_secrets(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    envs = prop(args.props, "envs", [])
    try:
        count = len(envs) if envs is not UNKNOWN else 0
    except UnknownValueError:
        count = 0
    known_secrets = stack.secret_values()
    for i in range(count):
        try:
            entry = envs[i]
        except UnknownValueError:
            continue
        if not isinstance(entry, str) or "=" not in entry:
            continue
        name, value = entry.split("=", 1)
        if not value:
            continue
        holds_credential = is_credential_name(name) or any(s in value for s in known_secrets)
        if holds_credential and not is_secret(args.urn, f"envs[{i}]"):
            yield (f"{where(args)}: envs[{i}] ({name}) holds a credential but is not a Pulumi secret, so its "
                   f"value is stored in plaintext in the state and shown by preview. Fix: build the list "
                   f"with pulumi.Output.secret(...) from secret inputs (`pulumi config set --secret`). "
                   f"{exception_hint('docker-env-credentials-are-secrets')}")


REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"


def check_image_tag(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    name = prop(args.props, "name")
    if not isinstance(name, str) or "@sha256:" in name:
        return
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag in (None, "latest"):
        yield (f"{where(args)}: name is {name}, {'without a tag' if tag is None else 'tagged latest'}, so "
               f"each pull may bring another version (Postgres data volumes are not upgraded "
               f"automatically). Fix: pin a version, e.g. kestraVersion v1.1.7 or postgresImage postgres:17.")


PORTS_ON_LOOPBACK = resource_policy(
    "docker-ports-on-loopback",
    "Containers publish ports only on a loopback address, or on the address config hostAddress names.",
    MANDATORY, (CONTAINER,), check_container_ports)
ENV_CREDENTIALS_ARE_SECRETS = resource_policy(
    "docker-env-credentials-are-secrets",
    "A container environment variable holding a credential is a Pulumi secret.",
    MANDATORY, (CONTAINER,), check_container_env_secrets)
IMAGE_TAG_PINNED = resource_policy(
    "docker-image-tag-pinned",
    "Images are pulled by a pinned tag (not latest, not untagged).",
    ADVISORY, (REMOTE_IMAGE,), check_image_tag)
