"""The reactive scaler: a breached alarm -> signals topic -> this Lambda -> SetDesiredCapacity."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from infra.constructs.arns import alarm_arn
from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.constructs.nag import resource_finding
from infra.constructs.scaler_function import ScalerFunction
from infra.constructs.scaling_grants import (
    IAM5,
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

        self._grant_scaling(config, alarm_prefix)

    def _grant_scaling(self, config: ScalerConfig, alarm_prefix: str) -> None:
        role = self.handler.role
        own_alarms = alarm_arn(self, f"{alarm_prefix}/*")
        acknowledgments = grant_group_actions(
            self,
            role,
            sid="ScaleConfiguredGroupsOnly",
            actions=["autoscaling:SetDesiredCapacity"],
            group_names=[group.name for group in config.groups],
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RearmOwnAlarms",  # set a breached alarm back to OK so a lasting breach fires again
                actions=["cloudwatch:SetAlarmState"],
                resources=[own_alarms],
            )
        )
        acknowledgments += grant_read_groups_and_metrics(role)
        acknowledgments += [
            Acknowledgment(
                id=resource_finding(self, IAM5, own_alarms),
                reason=(
                    "cloudwatch:SetAlarmState on this stack's own alarms only (all are named "
                    f"'{alarm_prefix}/...'); the Lambda re-arms a breached alarm to OK."
                ),
            ),
            publish_to_encrypted_topic(),
        ]
        Validations.of(role).acknowledge(*acknowledgments)
