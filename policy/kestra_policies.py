"""Kestra objects (flows, dashboards, namespace files, KV values): no stack secret in what Kestra
shows to anyone who can read the namespace."""

from __future__ import annotations

import json
import re
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs

from pack_support import (
    MANDATORY, UNKNOWN, exception_hint, is_secret, plain, prop, secret_paths, settings, stack_policy,
)

# Dynamic resources of kestra/resources.py and the properties Kestra shows to anyone who can
# read the namespace. A NamespaceFlows resource holds every flow of a namespace, each flow's
# source in a property of its own named `<namespace>/<flow_id>` (FLOW_PROPERTIES); Flow, one flow
# per resource, is what programs declared before and their states and previews still hold.
NAMESPACE_FLOWS = "pulumi-python:dynamic/kestra:NamespaceFlows"
FLOW_PROPERTIES = "<namespace>/<flow_id>"
KESTRA_CONTENT = {
    NAMESPACE_FLOWS: FLOW_PROPERTIES,
    "pulumi-python:dynamic/kestra:Flow": "source",
    "pulumi-python:dynamic/kestra:Dashboard": "source",
    "pulumi-python:dynamic/kestra:NamespaceFile": "content",
    "pulumi-python:dynamic/kestra:KvEntry": "value",
}


# A secret output of a resource counts from this length: generated passwords and keys are far
# longer, while providers also mark short non-credentials secret (a bucket's effectiveLabels).
MIN_RESOURCE_SECRET_LENGTH = 12


def _candidates(path: str, value: Any) -> set[str]:
    """Credential-like strings in a resource's secret value: the value, or the value part of
    NAME=value (container envs); labels, which providers mark secret, are not credentials."""
    if not isinstance(value, str) or path.split("[")[0].split(".")[0].lower().endswith("labels"):
        return set()
    found = {value}
    if m := re.match(r"^[A-Za-z_][A-Za-z0-9_]*=(.*)$", value, re.S):
        found.add(m.group(1))
    return {v for v in found if len(v) >= MIN_RESOURCE_SECRET_LENGTH and not re.search(r"\s", v)}


def check_kestra_sources(args: StackValidationArgs, report: ReportViolation) -> None:
    policy = "kestra-objects-hold-no-stack-secret"
    stack = settings()
    if not stack.secret_keys_known:
        # Fail closed: without the list this policy and docker-env-credentials-are-secrets would
        # pass a pasted secret config value silently.
        report("The pack cannot tell which stack config values are secret: this Pulumi CLI sent no "
               "ConfigureStack secret keys and its language host no PULUMI_CONFIG_SECRET_KEYS. Fix: a Pulumi CLI "
               f"whose engine sends them (pulumi/pulumi v3.174.0 and later). {exception_hint(policy)}")
    secrets = set(stack.secret_values())
    for resource in args.resources:
        for path, value in secret_paths(resource.urn).items():
            secrets |= _candidates(path, value)
    for resource in args.resources:
        for subject, key, field in _shown(resource):
            if is_secret(resource.urn, key):
                continue
            text = prop(resource.props, key)
            if not isinstance(text, str):
                text = json.dumps(plain(text)) if text not in (None, UNKNOWN) else ""
            if any(s in text for s in secrets):
                report(f"{subject}: {field} contains the value of one of "
                       f"the stack's secrets, which Kestra shows in plaintext to anyone who can read the "
                       f"namespace. Fix: reference it as {{{{ secret('NAME') }}}} (the runtime's SECRET_* "
                       f"variables) instead of pasting it. {exception_hint(policy)}", resource.urn)


def _shown(resource) -> list[tuple[str, str, str]]:
    """(what the message names, property, what it holds) for each property of `resource` that
    Kestra shows."""
    key = KESTRA_CONTENT.get(resource.resource_type)
    where = f"resource '{resource.name}' ({resource.resource_type})"
    if key is None:
        return []
    if key != FLOW_PROPERTIES:
        return [(where, key, key)]
    # Every top-level property holding a flow: the other inputs (url, namespace, directory...)
    # have no '/' in their names.
    return [(f"flow '{k}' of {where}", k, "source") for k in sorted(resource.props) if "/" in k]


NO_STACK_SECRET = stack_policy(
    "kestra-objects-hold-no-stack-secret",
    "No Kestra flow, dashboard, namespace file or plain KV value contains one of the stack's secrets.",
    MANDATORY, tuple(KESTRA_CONTENT), check_kestra_sources)
