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
    the customer-managed key whose policy lets CloudWatch use it, for this stack's alarms only.
    Only this stack's alarms may publish signals: everyone else is denied on the topic itself.
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
        own_alarms = alarm_arn(self, f"{alarm_prefix}/*")
        # CloudWatch acting for this stack's alarms only, the same confused-deputy guard as on the
        # topic. (kms:EncryptionContext:aws:sns:topicArn would pin the topic too, but the topic's ARN
        # in its own key's policy is a circular reference.)
        from_own_alarms = {
            "ArnLike": {"aws:SourceArn": own_alarms},
            "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
        }
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToEncryptedTopics",
                principals=[CLOUDWATCH],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions=from_own_alarms,
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
                conditions=from_own_alarms,
            )
        )
        # A message on this topic can move capacity, so nobody else may publish, whatever their own
        # IAM policy allows (an identity policy alone suffices in the same account): an explicit
        # deny for every request whose aws:SourceArn is not one of this stack's alarms. IAM users and
        # roles carry no aws:SourceArn, and a negated operator on a missing key is true, so they are
        # denied; CloudWatch acting for one of our alarms does not match and passes. The
        # notifications topic (the Lambdas publish there) gets no such statement.
        self.signals.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyPublishExceptStackAlarms",
                effect=iam.Effect.DENY,
                principals=[iam.StarPrincipal()],
                actions=["sns:Publish"],
                resources=[self.signals.topic_arn],
                conditions={"ArnNotLike": {"aws:SourceArn": own_alarms}},
            )
        )

        self.notifications = sns.Topic(
            self,
            "Notifications",
            display_name="Surgeguard notifications",
            master_key=self.key,
            enforce_ssl=True,
        )
        # The watch alarms (monitoring.py) tell people directly. The TLS-only policy replaced SNS's
        # default one here too, so CloudWatch may publish, for this stack's alarms only.
        self.notifications.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StackAlarmsNotify",
                principals=[CLOUDWATCH],
                actions=["sns:Publish"],
                resources=[self.notifications.topic_arn],
                conditions=from_own_alarms,
            )
        )
        # The Lambda tags every notification with its group; a group's own people hear only theirs.
        for email, groups in subscribers.items():
            scope_filter = (
                None
                if groups is None
                else {"group": sns.SubscriptionFilter.string_filter(allowlist=list(groups))}
            )
            self.notifications.add_subscription(subs.EmailSubscription(email, filter_policy=scope_filter))
