"""SNS topics: `signals` (alarms -> scaler Lambda) and `notifications` (scaler -> people)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from infra.constructs.arns import alarm_arn

CLOUDWATCH = iam.ServicePrincipal("cloudwatch.amazonaws.com")


class ScalerTopics(Construct):
    """Both topics are encrypted with one customer-managed key and accept TLS only.

    CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key, hence
    the customer-managed key whose policy lets CloudWatch use it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_prefix: str,
        subscribers: Mapping[str, Sequence[str] | None],
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Surgeguard SNS topics: alarm signals and notifications",
            enable_key_rotation=True,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToEncryptedTopics",
                principals=[CLOUDWATCH],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )

        self.signals = sns.Topic(
            self,
            "Signals",
            display_name="Surgeguard alarm signals",
            master_key=self.key,
            enforce_ssl=True,
        )
        # The TLS-only topic policy replaces SNS's default one, so say explicitly that this stack's
        # alarms (and only those) may publish.
        self.signals.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StackAlarmsPublish",
                principals=[CLOUDWATCH],
                actions=["sns:Publish"],
                resources=[self.signals.topic_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": alarm_arn(self, f"{alarm_prefix}/*")},
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                },
            )
        )

        self.notifications = sns.Topic(
            self,
            "Notifications",
            display_name="Surgeguard notifications",
            master_key=self.key,
            enforce_ssl=True,
        )
        # The Lambda tags every notification with its group; a group's own people hear only theirs.
        for email, groups in subscribers.items():
            scope_filter = (
                None
                if groups is None
                else {"group": sns.SubscriptionFilter.string_filter(allowlist=list(groups))}
            )
            self.notifications.add_subscription(subs.EmailSubscription(email, filter_policy=scope_filter))
