"""kestra-gcp's CrossGuard policy pack: `pulumi preview --policy-pack policy`.

The policies live in one module per area next to this file (gcp_policies, docker_policies,
gke_policies, kestra_policies), which `pulumi.policy` puts on the import path, gathered in
kestra_gcp_policies; README "Policy pack" says what each enforces and why.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from kestra_gcp_policies import POLICIES

PolicyPack(name="kestra-gcp-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
