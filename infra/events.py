"""Bucket upload events: Pub/Sub topic, subscription and the bucket notification feeding them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class EventsArgs:
    project: str
    bucket_name: pulumi.Input[str]
    topic_name: str
    subscription_name: str
    labels: dict
    object_name_prefix: Optional[str] = None
    depends_on: Sequence[pulumi.Resource] = ()


class UploadEvents(pulumi.ComponentResource):
    """Publishes an OBJECT_FINALIZE message (JSON_API_V1 payload) for every upload to the bucket.

    GCS publishes as the project's Cloud Storage service agent, whose address is looked up with
    `gcp.storage.get_project_service_account` (which also makes Google create the agent); the
    agent gets `roles/pubsub.publisher` on this topic only, and the notification waits for that
    grant — without it GCS refuses to create the notification. The subscription never expires, so
    an idle demo project does not lose it after 31 days. Who may read the subscription is decided
    in `infra/identity.py`.
    """

    def __init__(self, name: str, args: EventsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:UploadEvents", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.topic = gcp.pubsub.Topic(
            "topic", name=args.topic_name, project=args.project, labels=args.labels, opts=child
        )
        self.subscription = gcp.pubsub.Subscription(
            "subscription",
            name=args.subscription_name,
            project=args.project,
            topic=self.topic.id,
            ack_deadline_seconds=60,
            # An empty ttl means "never expire".
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            labels=args.labels,
            opts=child,
        )
        gcs_agent = gcp.storage.get_project_service_account_output(
            project=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.publisher_grant = gcp.pubsub.TopicIAMMember(
            "gcs-agent-publisher",
            project=args.project,
            topic=self.topic.name,
            role="roles/pubsub.publisher",
            member=gcs_agent.email_address.apply(lambda email: f"serviceAccount:{email}"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.notification = gcp.storage.Notification(
            "upload-notification",
            bucket=args.bucket_name,
            topic=self.topic.id,
            payload_format="JSON_API_V1",
            event_types=["OBJECT_FINALIZE"],
            object_name_prefix=args.object_name_prefix,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.publisher_grant]),
        )
        self.topic_id = self.topic.id
        self.subscription_id = self.subscription.id
        self.register_outputs(
            {"topic_id": self.topic_id, "subscription_id": self.subscription_id}
        )
