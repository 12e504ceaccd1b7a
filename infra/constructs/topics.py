"""SNS topics: `signals` (alarms -> scaler Lambda), `notifications` (scaler and watch alarms -> people)
and, when some address hears only its own groups, `group_watch` (watch alarms -> those people).

A group's own addresses hear only their groups: their subscription to `notifications` filters on the
message attribute `group`, which the Lambdas set on every message. CloudWatch's alarm notifications
carry no message attributes at all, so that filter never passes a watch alarm, and adding
`{"exists": false}` to it would not either: SNS documents that `"exists": false` "only matches if at
least one attribute is present" (Amazon SNS Developer Guide, Key matching). And one address has one
subscription per topic. So the watch alarms also go to `group_watch`, where those addresses subscribe
without a filter: each hears every watch alarm, its groups' staleness alarms and the other groups'.
(A MessageBody filter on the alarm's name could keep the other groups' staleness alarms out, but an
email subscriber is sent CloudWatch's text rendering of an alarm, not its JSON, and nothing offline
shows which of the two SNS would filter: a filter that might drop every alarm is this bug again.)

SNS limits (Amazon SNS Developer Guide, "Filter policy constraints"), checked here so that the synth,
not the deploy, fails, and says what to change: at most 150 values (the total combination) in one
filter policy, and by default 200 filter policies per topic (a raised quota is given to the synth as
`-c surgeguard_filter_policies_per_topic=N`).
"""

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
MAX_FILTER_VALUES = 150  # the total combination of values in one filter policy
FILTER_POLICIES_PER_TOPIC = 200  # SNS's default quota
FILTER_POLICIES_CONTEXT = "surgeguard_filter_policies_per_topic"  # a raised quota, when there is one


def filter_policy_quota(scope: Construct) -> int:
    """Filter policies allowed per topic: SNS's default, or the raised quota passed as context."""
    value = scope.node.try_get_context(FILTER_POLICIES_CONTEXT)
    if value is None:
        return FILTER_POLICIES_PER_TOPIC
    if isinstance(value, bool) or not str(value).isdigit() or int(str(value)) < 1:
        raise ValueError(
            f"-c {FILTER_POLICIES_CONTEXT}={value!r} is not a number of filter policies per topic"
        )
    return int(str(value))


def check_filter_limits(scoped: Mapping[str, Sequence[str]], quota: int) -> None:
    """Each group-scoped address is one subscription whose filter policy lists its groups."""
    for email, groups in scoped.items():
        if len(groups) > MAX_FILTER_VALUES:
            raise ValueError(
                f"{email} is in the notify_emails of {len(groups)} groups: its subscription's filter "
                f"policy would list {len(groups)} group names, and SNS allows at most {MAX_FILTER_VALUES} "
                "values in one filter policy, so the deploy would fail. List it in the top-level "
                "notify_emails instead (it then hears every group, with no filter), or spread those groups "
                f"over several addresses of at most {MAX_FILTER_VALUES} groups each."
            )
    if len(scoped) > quota:
        raise ValueError(
            f"{len(scoped)} addresses are only in groups' notify_emails: each is a subscription with a "
            f"filter policy on the notifications topic, and SNS allows {quota} filter policies per "
            f"topic ({'its default quota' if quota == FILTER_POLICIES_PER_TOPIC else 'the quota given'}), "
            "so the deploy would fail. Use fewer per-group addresses (one address for several groups), "
            "move the ones that should hear every group to the top-level notify_emails (no filter "
            "policy), or have the SNS quota on filter policies per topic raised (Service Quotas) and "
            f"synthesize with -c {FILTER_POLICIES_CONTEXT}=<the new quota>."
        )


class ScalerTopics(Construct):
    """The topics are encrypted with one customer-managed key and accept TLS only.

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
        scoped = {email: groups for email, groups in subscribers.items() if groups is not None}
        check_filter_limits(scoped, filter_policy_quota(self))
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

        def alarms_topic(construct_id: str, display_name: str, sid: str) -> sns.Topic:
            """A topic under the key, TLS only, that this stack's alarms (and only those) may publish
            to: the TLS-only topic policy replaces SNS's default one, so that is said explicitly."""
            topic = sns.Topic(
                self, construct_id, display_name=display_name, master_key=self.key, enforce_ssl=True
            )
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[CLOUDWATCH],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                    conditions=from_own_alarms,
                )
            )
            return topic

        self.signals = alarms_topic("Signals", "Surgeguard alarm signals", "StackAlarmsPublish")
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

        # The watch alarms (monitoring.py) tell people directly: CloudWatch may publish here too.
        self.notifications = alarms_topic("Notifications", "Surgeguard notifications", "StackAlarmsNotify")
        # The Lambda tags every notification with its group; a group's own people hear only theirs.
        for email, groups in subscribers.items():
            scope_filter = (
                None
                if groups is None
                else {"group": sns.SubscriptionFilter.string_filter(allowlist=list(groups))}
            )
            self.notifications.add_subscription(subs.EmailSubscription(email, filter_policy=scope_filter))

        # The watch alarms for those people (see the module's docstring), unfiltered.
        self.group_watch: sns.Topic | None = None
        if scoped:
            self.group_watch = alarms_topic(
                "GroupWatch", "Surgeguard watch alarms for group emails", "StackAlarmsNotify"
            )
            for email in scoped:
                self.group_watch.add_subscription(subs.EmailSubscription(email))

    @property
    def watch_topics(self) -> list[sns.ITopic]:
        """Where the watch alarms go: the notifications topic, and the group-watch topic if any."""
        return [self.notifications, *([self.group_watch] if self.group_watch is not None else [])]
