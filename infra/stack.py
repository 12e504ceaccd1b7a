"""The Surgeguard stack: wires the capability constructs together and nothing else.

It never touches an Auto Scaling group itself (no AWS::AutoScaling resource, no custom resource):
a deploy must not reset a fleet's capacity; only the Lambda scales, inside [min, max].
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.constructs import (
    AuditTable,
    Forecaster,
    ReactiveFunction,
    Reevaluation,
    SaleSchedules,
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
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ScalerConfig,
        now: datetime,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        alarm_prefix = self.stack_name  # the Lambda gets it as ALARM_PREFIX

        self.audit = AuditTable(self, "Audit")
        self.topics = ScalerTopics(
            self, "Topics", alarm_prefix=alarm_prefix, subscribers=email_scopes(config)
        )
        code = scaler_code(config)  # one asset shared by every function
        self.reactive = ReactiveFunction(
            self,
            "Reactive",
            config=config,
            code=code,
            table=self.audit.table,
            signals_topic=self.topics.signals,
            notify_topic=self.topics.notifications,
            alarm_prefix=alarm_prefix,
        )
        self.alarms = ScalingAlarms(
            self, "Alarms", config=config, alarm_prefix=alarm_prefix, topic=self.topics.signals
        )
        # Every minute, whatever the alarms did: alarms notify on state change only, so a breach that
        # lasts (its alarm staying in ALARM) is heard here.
        self.reevaluation = Reevaluation(
            self, "Reevaluation", function=self.reactive.function, role=self.reactive.handler.role
        )
        # Sale events only when some group has one: no idle Lambda allowed to change groups.
        self.sales = (
            SaleSchedules(
                self,
                "Sales",
                config=config,
                now=now,
                code=code,
                table=self.audit.table,
                notify_topic=self.topics.notifications,
                alarm_prefix=alarm_prefix,
            )
            if any(group.events for group in config.groups)
            else None
        )
        # The forecaster only when some group asks for it; it reads metrics and writes floors only.
        self.forecaster = (
            Forecaster(
                self,
                "Forecast",
                config=config,
                code=code,
                table=self.audit.table,
                notify_topic=self.topics.notifications,
                alarm_prefix=alarm_prefix,
            )
            if any(group.forecast for group in config.groups)
            else None
        )

        CfnOutput(self, "AuditTableName", value=self.audit.table.table_name)
        CfnOutput(self, "NotificationsTopicArn", value=self.topics.notifications.topic_arn)
        CfnOutput(self, "ReactiveFunctionName", value=self.reactive.function.function_name)
        if self.sales is not None:
            CfnOutput(self, "SaleFunctionName", value=self.sales.function.function_name)
            CfnOutput(self, "SaleScheduleGroupName", value=self.sales.group.schedule_group_name)
        if self.forecaster is not None:
            CfnOutput(self, "ForecastFunctionName", value=self.forecaster.function.function_name)
