"""kestra-gcp's CrossGuard policy pack: `pulumi preview --policy-pack policy`.

The policies live in kestra_gcp_policies.py (next to this file, which `pulumi.policy` puts on the
import path); README "Policy pack" says what each enforces and why.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from kestra_gcp_policies import POLICIES

PolicyPack(name="kestra-gcp-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
