"""Kestra's service account, its JSON key (when a runtime needs one) and every role it holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_gcp as gcp

# The walkthrough grants these project-wide; kept as the `guide` IAM mode.
GUIDE_PROJECT_ROLES = (
    "roles/bigquery.admin",
    "roles/storage.admin",
    "roles/pubsub.subscriber",
    "roles/pubsub.viewer",
)
# Running query and load jobs is a project-level permission; everything else is per resource.
LEAST_PRIVILEGE_PROJECT_ROLES = ("roles/bigquery.jobUser",)
DATASET_ROLE = "roles/bigquery.dataEditor"
SUBSCRIPTION_ROLE = "roles/pubsub.subscriber"


@dataclass(frozen=True)
class IdentityArgs:
    project: str
    account_id: str
    iam_mode: str  # "least-privilege" or "guide"
    bucket_name: pulumi.Input[str]
    bucket_object_role: str
    dataset_ids: Mapping[str, pulumi.Input[str]]
    subscription_id: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource] = ()
    # True only for a runtime that uses a key (Docker); otherwise no Key resource exists at all.
    create_key: bool = True


class KestraIdentity(pulumi.ComponentResource):
    """The service account Kestra's GCP tasks run as, a JSON key for it, and its grants.

    `least-privilege` (default): `roles/bigquery.jobUser` on the project, `roles/bigquery.dataEditor`
    on each dataset, `bucket_object_role` on the bucket, `roles/pubsub.subscriber` on the
    subscription — nothing else in the project is reachable. `guide`: the walkthrough's
    project-wide admin roles. Only non-authoritative `*IAMMember` resources are used, so grants
    made by others on the same project, bucket or datasets are never removed.

    `private_key` is base64 of the JSON key — exactly what Kestra's `SECRET_*` variables hold —
    and is a secret Output. The key lives in Pulumi state (encrypted) and is deleted on destroy.
    With `create_key=False` there is no key and `private_key` is None.
    """

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:KestraIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = gcp.serviceaccount.Account(
            "service-account",
            project=args.project,
            account_id=args.account_id,
            display_name="Kestra workflows",
            description="Used by Kestra's GCP tasks; managed by Pulumi (kestra-gcp)",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.key = (
            gcp.serviceaccount.Key("service-account-key", service_account_id=self.account.name, opts=child)
            if args.create_key
            else None
        )
        member = self.account.email.apply(lambda email: f"serviceAccount:{email}")

        self.grants: list[pulumi.CustomResource] = []
        if args.iam_mode == "guide":
            project_roles = GUIDE_PROJECT_ROLES
        elif args.iam_mode == "least-privilege":
            project_roles = LEAST_PRIVILEGE_PROJECT_ROLES
        else:
            raise ValueError(f"iam_mode: unknown mode {args.iam_mode!r}")
        for role in project_roles:
            self.grants.append(
                gcp.projects.IAMMember(
                    f"project-{role.split('/')[-1].replace('.', '-')}",
                    project=args.project,
                    role=role,
                    member=member,
                    opts=child,
                )
            )
        if args.iam_mode == "least-privilege":
            for key, dataset_id in args.dataset_ids.items():
                self.grants.append(
                    gcp.bigquery.DatasetIamMember(
                        f"dataset-{key}-editor",
                        project=args.project,
                        dataset_id=dataset_id,
                        role=DATASET_ROLE,
                        member=member,
                        opts=child,
                    )
                )
            self.grants.append(
                gcp.storage.BucketIAMMember(
                    "bucket-objects",
                    bucket=args.bucket_name,
                    role=args.bucket_object_role,
                    member=member,
                    opts=child,
                )
            )
            self.grants.append(
                gcp.pubsub.SubscriptionIAMMember(
                    "subscription-subscriber",
                    project=args.project,
                    subscription=args.subscription_id,
                    role=SUBSCRIPTION_ROLE,
                    member=member,
                    opts=child,
                )
            )
        self.email = self.account.email
        self.account_name = self.account.name  # projects/<p>/serviceAccounts/<email>
        self.private_key = self.key.private_key if self.key is not None else None
        self.register_outputs({"email": self.email, "private_key": self.private_key})
