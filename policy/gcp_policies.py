"""GCP IAM and data: project roles, bucket access, public members, labels and the stack's project."""

from __future__ import annotations

import json
import re
from typing import Iterable, Optional

from pulumi_policy import ResourceValidationArgs

from gcp_escalating_roles import ROLES as ESCALATING_ROLES, WHY as ESCALATION_WHY
from pack_support import (
    ADVISORY, EVERY_GCP_TYPE, MANDATORY, UNKNOWN, StackSettings, contains_unknown, exception_hint, plain, prop,
    resource_policy, where,
)

# The walkthrough's project-wide admin roles, which `iamMode: guide` grants on purpose
# (README "Configuration"; the walkthrough's IAM step).
GUIDE_ADMIN_ROLES = frozenset({"roles/bigquery.admin", "roles/storage.admin"})
# The labels every GCP resource of the stack carries (README "Configuration": `labels`).
STANDARD_LABELS = ("managed-by", "app")


BASIC_ROLES = ("roles/owner", "roles/editor")
_ADMIN_ROLE = re.compile(r"^roles/[A-Za-z0-9]+(\.[A-Za-z0-9]+)*\.admin$")
PROJECT_IAM_TYPES = {
    "gcp:projects/iAMMember:IAMMember": "role",
    "gcp:projects/iAMBinding:IAMBinding": "role",
}
PROJECT_IAM_POLICY = "gcp:projects/iAMPolicy:IAMPolicy"


def role_problem(role: str) -> Optional[str]:
    """Why a project-level grant of `role` is refused, or None: a basic role, a service's full
    admin role (roles/*.admin), or a role holding a permission that lets its holder make itself
    an owner (gcp_escalating_roles)."""
    if role in BASIC_ROLES:
        return "a basic role"
    held = ESCALATING_ROLES.get(role, ())
    if held:
        return (f"a role that can make its holder an owner: it holds {held[0]}, so its holder can "
                f"{ESCALATION_WHY[held[0]]}")
    if _ADMIN_ROLE.match(role):
        return "a service's admin role"
    return None


def is_broad_role(role: str) -> bool:
    return role_problem(role) is not None


def _project_roles(args: ResourceValidationArgs) -> list[tuple[str, str]]:
    """(property, role) of a project-level grant; IAMPolicy carries them in policyData."""
    if args.resource_type in PROJECT_IAM_TYPES:
        role = prop(args.props, "role")
        return [("role", role)] if isinstance(role, str) else []
    if args.resource_type == PROJECT_IAM_POLICY:
        data = prop(args.props, "policyData")
        try:
            bindings = json.loads(data).get("bindings", []) if isinstance(data, str) else []
        except ValueError:
            bindings = []
        return [(f"policyData.bindings[{i}].role", b.get("role", "")) for i, b in enumerate(bindings)]
    return []


def check_project_roles(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    for path, role in _project_roles(args):
        problem = role_problem(role)
        if problem is None:
            continue
        if stack.iam_mode == "guide" and role in GUIDE_ADMIN_ROLES:
            continue  # the walkthrough's grant, chosen with `iamMode: guide`
        allowed = (f" (iamMode guide allows only {', '.join(sorted(GUIDE_ADMIN_ROLES))})"
                   if stack.iam_mode == "guide" else "")
        yield (f"{where(args)}: {path} is {role}, {problem}, granted on the whole project{allowed}. "
               f"Fix: grant a predefined role on the resource that needs it (e.g. "
               f"roles/bigquery.dataEditor on a dataset, roles/storage.objectAdmin on the bucket), "
               f"or use iamMode guide for the walkthrough's admin roles. {exception_hint('no-project-basic-or-admin-roles')}")


BUCKET = "gcp:storage/bucket:Bucket"
DATASET = "gcp:bigquery/dataset:Dataset"
DATASET_ACCESS = "gcp:bigquery/datasetAccess:DatasetAccess"


def check_bucket_access(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    ubla = prop(args.props, "uniformBucketLevelAccess")
    if ubla is not UNKNOWN and ubla is not True:
        yield (f"{where(args)}: uniformBucketLevelAccess is {ubla!r}, so object ACLs can grant access "
               f"the bucket's IAM does not show. Fix: uniform_bucket_level_access=True. "
               f"{exception_hint('bucket-uniform-access-and-public-access-prevention')}")
    pap = prop(args.props, "publicAccessPrevention")
    if pap is not UNKNOWN and pap != "enforced":
        yield (f"{where(args)}: publicAccessPrevention is {pap!r}, so the bucket can be made public. "
               f"Fix: public_access_prevention=\"enforced\". "
               f"{exception_hint('bucket-uniform-access-and-public-access-prevention')}")


PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# Resource type -> how its members are given: "member" (one), "members" (a list), "policyData"
# (an IAM policy document), "entity" (ACL entry), "roleEntities" ("ROLE:entity" list).
PUBLIC_MEMBER_TYPES = {
    "gcp:storage/bucketIAMMember:BucketIAMMember": "member",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding": "members",
    "gcp:storage/bucketIAMPolicy:BucketIAMPolicy": "policyData",
    "gcp:storage/bucketAccessControl:BucketAccessControl": "entity",
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl": "entity",
    "gcp:storage/objectAccessControl:ObjectAccessControl": "entity",
    "gcp:storage/bucketACL:BucketACL": "roleEntities",
    "gcp:storage/defaultObjectACL:DefaultObjectACL": "roleEntities",
    "gcp:storage/objectACL:ObjectACL": "roleEntities",
    "gcp:bigquery/datasetIamMember:DatasetIamMember": "member",
    "gcp:bigquery/datasetIamBinding:DatasetIamBinding": "members",
    "gcp:bigquery/datasetIamPolicy:DatasetIamPolicy": "policyData",
    "gcp:pubsub/topicIAMMember:TopicIAMMember": "member",
    "gcp:pubsub/topicIAMBinding:TopicIAMBinding": "members",
    "gcp:pubsub/topicIAMPolicy:TopicIAMPolicy": "policyData",
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": "member",
    "gcp:pubsub/subscriptionIAMBinding:SubscriptionIAMBinding": "members",
    "gcp:pubsub/subscriptionIAMPolicy:SubscriptionIAMPolicy": "policyData",
}


def _public_members(args: ResourceValidationArgs) -> list[tuple[str, str]]:
    """(property path, public member) pairs of a grant, ACL or dataset access list."""
    found: list[tuple[str, str]] = []
    kind = PUBLIC_MEMBER_TYPES.get(args.resource_type)
    if kind in ("member", "entity"):
        value = prop(args.props, kind)
        if value in PUBLIC_MEMBERS:
            found.append((kind, value))
    elif kind == "members":
        members = plain(prop(args.props, "members", []))
        for i, m in enumerate(members if isinstance(members, list) else []):
            if m in PUBLIC_MEMBERS:
                found.append((f"members[{i}]", m))
    elif kind == "roleEntities":
        entries = plain(prop(args.props, "roleEntities", []))
        for i, e in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(e, str) and e.split(":", 1)[-1] in PUBLIC_MEMBERS:
                found.append((f"roleEntities[{i}]", e))
    elif kind == "policyData":
        data = prop(args.props, "policyData")
        try:
            bindings = json.loads(data).get("bindings", []) if isinstance(data, str) else []
        except ValueError:
            bindings = []
        for i, b in enumerate(bindings):
            for j, m in enumerate(b.get("members", [])):
                if m in PUBLIC_MEMBERS:
                    found.append((f"policyData.bindings[{i}].members[{j}]", m))
    elif args.resource_type == DATASET:
        accesses = plain(prop(args.props, "accesses", []))
        for i, a in enumerate(accesses if isinstance(accesses, list) else []):
            if not isinstance(a, dict):
                continue
            for key in ("specialGroup", "iamMember"):
                if a.get(key) in PUBLIC_MEMBERS:
                    found.append((f"accesses[{i}].{key}", a[key]))
    elif args.resource_type == DATASET_ACCESS:
        for key in ("specialGroup", "iamMember"):
            if prop(args.props, key) in PUBLIC_MEMBERS:
                found.append((key, prop(args.props, key)))
    return found


def check_public_members(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    for path, member in _public_members(args):
        yield (f"{where(args)}: {path} grants access to {member}, that is to anyone"
               f"{' with a Google account' if member == 'allAuthenticatedUsers' else ' on the internet'}. "
               f"Fix: grant a named member (serviceAccount:…, user:…, group:…) instead. "
               f"{exception_hint('no-public-members')}")


LABELLED_TYPES = (
    BUCKET,
    DATASET,
    "gcp:pubsub/topic:Topic",
    "gcp:pubsub/subscription:Subscription",
)


def check_labels(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    labels = plain(prop(args.props, "labels", {}))
    if contains_unknown(labels):
        return
    missing = [k for k in STANDARD_LABELS if k not in (labels or {})]
    if missing:
        yield (f"{where(args)}: labels lack {', '.join(missing)}, so billing reports and `gcloud … "
               f"--filter labels.` cannot find it. Fix: pass the stack's labels (config `labels`, "
               f"which always holds managed-by and app).")


def check_project(args: ResourceValidationArgs, stack: StackSettings) -> Iterable[str]:
    if stack.project is None:
        return
    project = prop(args.props, "project")
    if isinstance(project, str) and project and project != stack.project:
        yield (f"{where(args)}: project is {project}, not the stack's gcp:project {stack.project}, so "
               f"`pulumi destroy` of this stack reaches into another project. Fix: drop the explicit "
               f"project or use the stack's.")


NO_BROAD_PROJECT_ROLES = resource_policy(
    "no-project-basic-or-admin-roles",
    "No project-level basic role, admin role (roles/*.admin) or role that can make its holder an owner "
    "(setIamPolicy, service-account impersonation or keys, shell on VMs), except the walkthrough's "
    "admin roles under iamMode guide.",
    MANDATORY, (*PROJECT_IAM_TYPES, PROJECT_IAM_POLICY), check_project_roles)
BUCKET_ACCESS = resource_policy(
    "bucket-uniform-access-and-public-access-prevention",
    "Buckets use uniform bucket-level access and enforce public access prevention.",
    MANDATORY, (BUCKET,), check_bucket_access)
NO_PUBLIC_MEMBERS = resource_policy(
    "no-public-members",
    "No allUsers or allAuthenticatedUsers on buckets, objects, datasets, topics or subscriptions.",
    MANDATORY, (*PUBLIC_MEMBER_TYPES, DATASET, DATASET_ACCESS), check_public_members)
STANDARD_LABELS_POLICY = resource_policy(
    "gcp-standard-labels",
    "GCP resources that take labels carry the stack's labels (managed-by, app).",
    ADVISORY, LABELLED_TYPES, check_labels)
IN_STACK_PROJECT = resource_policy(
    "gcp-resources-in-stack-project",
    "GCP resources live in the stack's gcp:project.",
    ADVISORY, (EVERY_GCP_TYPE,), check_project)
