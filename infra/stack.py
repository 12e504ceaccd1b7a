"""The Surgeguard stack: wires the capability constructs together and nothing else.

It never touches an Auto Scaling group itself (no AWS::AutoScaling resource, no custom resource):
a deploy must not reset a fleet's capacity; only the Lambda scales, inside [min, max].
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.constructs import (
    AuditTable,
    ReactiveFunction,
    ScalerTopics,
    ScalingAlarms,
    scaler_code,
)
from surgeguard.config import ScalerConfig


def notify_emails(config: ScalerConfig) -> list[str]:
    """Everyone who hears about changes: the global list plus every group's, once each."""
    return sorted(email_scopes(config))


def email_scopes(config: ScalerConfig) -> dict[str, tuple[str, ...] | None]:
    """Each address and the groups it hears about: None for the global list (every group)."""
    scopes: dict[str, tuple[str, ...] | None] = dict.fromkeys(config.notify_emails)
    for group in config.groups:
        for email in group.notify_emails:
            if email not in scopes or scopes[email] is not None:
                scopes[email] = (*(scopes.get(email) or ()), group.name)
    return scopes


class SurgeguardStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: ScalerConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        alarm_prefix = self.stack_name  # the Lambda gets it as ALARM_PREFIX

        self.audit = AuditTable(self, "Audit")
        self.topics = ScalerTopics(
            self, "Topics", alarm_prefix=alarm_prefix, subscribers=email_scopes(config)
        )
        self.reactive = ReactiveFunction(
            self,
            "Reactive",
            config=config,
            code=scaler_code(config),
            table=self.audit.table,
            signals_topic=self.topics.signals,
            notify_topic=self.topics.notifications,
            alarm_prefix=alarm_prefix,
        )
        self.alarms = ScalingAlarms(
            self, "Alarms", config=config, alarm_prefix=alarm_prefix, topic=self.topics.signals
        )

        CfnOutput(self, "AuditTableName", value=self.audit.table.table_name)
        CfnOutput(self, "NotificationsTopicArn", value=self.topics.notifications.topic_arn)
        CfnOutput(self, "ReactiveFunctionName", value=self.reactive.function.function_name)
