"""The reactive scaler: a breached alarm -> signals topic -> this Lambda -> SetDesiredCapacity.

A lasting breach sends nothing new (alarms notify on state change only); the per-minute re-evaluation
(reevaluation.py) invokes this Lambda to decide again, so it never re-arms alarms (no SetAlarmState).
"""

from __future__ import annotations

from aws_cdk import Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.constructs.scaler_function import ScalerFunction
from infra.constructs.scaling_grants import (
    grant_group_actions,
    grant_read_groups_and_metrics,
    publish_to_encrypted_topic,
)
from surgeguard.config import ScalerConfig

HANDLER = "surgeguard.handlers.alarm.lambda_handler"


class ReactiveFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ScalerConfig,
        code: lambda_.Code,
        table: dynamodb.ITable,
        signals_topic: sns.ITopic,
        notify_topic: sns.ITopic,
        alarm_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = ScalerFunction(
            self,
            "Handler",
            code=code,
            handler=HANDLER,
            description="Surgeguard: scales the configured Auto Scaling groups when their alarms fire",
            table=table,
            notify_topic=notify_topic,
            alarm_prefix=alarm_prefix,
        )
        self.function = self.handler.function

        self.subscription_dead_letter_queue = DeadLetterQueue(
            self, "UndeliveredSignals", holds="alarm signals SNS could not deliver to the Lambda"
        )
        signals_topic.add_subscription(
            subs.LambdaSubscription(
                self.function, dead_letter_queue=self.subscription_dead_letter_queue.queue
            )
        )

        self._grant_scaling(config)

    def _grant_scaling(self, config: ScalerConfig) -> None:
        role = self.handler.role
        acknowledgments = grant_group_actions(
            self,
            role,
            sid="ScaleTaggedGroupsOnly",
            actions=["autoscaling:SetDesiredCapacity"],
            tag=config.managed_tag,
        )
        acknowledgments += grant_read_groups_and_metrics(role)
        acknowledgments.append(publish_to_encrypted_topic())
        Validations.of(role).acknowledge(*acknowledgments)
