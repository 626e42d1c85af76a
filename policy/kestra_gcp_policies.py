"""kestra-gcp's policy pack: one module per area (gcp_policies, docker_policies, gke_policies,
kestra_policies) on pack_support; README "Policy pack" says why each policy exists. Every message
names the resource, the property and the fix.

Deliberate exceptions: the stack config `kestra-gcp:policyExceptions`, a map of policy name to
the reason, switches that policy off for the stack, and the advisory policy
`policy-exceptions-in-use` lists every exception on every preview:

    pulumi config set --path 'policyExceptions["docker-ports-on-loopback"]' 'LAN demo, firewall in front'
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

import docker_policies as docker
import gcp_policies as gcp
import gke_policies as gke
import kestra_policies as kestra
from pack_support import ADVISORY, JUDGED_TYPES, settings


def report_exceptions(args: StackValidationArgs, report: ReportViolation) -> None:
    known = {p.name for p in POLICIES}
    for name, reason in sorted(settings().exceptions.items()):
        if name in known:
            report(f"policy {name} is switched off for this stack by config policyExceptions: {reason}")
        else:
            report(f"config policyExceptions names {name}, which is not a policy of this pack "
                   f"(policies: {', '.join(sorted(known))}); it has no effect.")


# Not a stack_policy: an exception cannot switch off the list of exceptions.
EXCEPTIONS_IN_USE = StackValidationPolicy(
    name="policy-exceptions-in-use",
    description="Lists the policies this stack switches off through config policyExceptions.",
    enforcement_level=ADVISORY, validate=report_exceptions)
JUDGED_TYPES[EXCEPTIONS_IN_USE.name] = ()

POLICIES = [
    gcp.NO_BROAD_PROJECT_ROLES,
    gcp.BUCKET_ACCESS,
    gcp.NO_PUBLIC_MEMBERS,
    docker.PORTS_ON_LOOPBACK,
    docker.ENV_CREDENTIALS_ARE_SECRETS,
    gke.WORKLOAD_IDENTITY,
    gke.NO_SERVICE_ACCOUNT_KEYS,
    gke.CLOUD_SQL,
    gke.HTTPS_ONLY,
    kestra.NO_STACK_SECRET,
    gcp.STANDARD_LABELS_POLICY,
    gcp.IN_STACK_PROJECT,
    docker.IMAGE_TAG_PINNED,
    EXCEPTIONS_IN_USE,
]
