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
    GroupDashboards,
    GroupPlacement,
    OverviewDashboard,
    ReactiveFunction,
    Reevaluation,
    SaleSchedules,
    ScalerTopics,
    ScalingAlarms,
    Watch,
    WatchedFunction,
    WatchedQueue,
    check_resource_limits,
    pending_phase_counts,
    reserve_concurrency,
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
        layout: str = "auto",
        **kwargs: Any,
    ) -> None:
        """`layout`: where per-group resources go, `auto`, `flat` or `nested` (see shards.py)."""
        super().__init__(scope, construct_id, **kwargs)
        alarm_prefix = self.stack_name  # the Lambda gets it as ALARM_PREFIX
        self.placement = GroupPlacement(self, config, pending_phase_counts(config, now), layout)

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
        reserve_concurrency(self.reactive.function, config.reactive_reserved_concurrency)
        if self.placement.nested:
            self.alarms = [
                ScalingAlarms(
                    shard, "Alarms", config=subset, alarm_prefix=alarm_prefix, topic=self.topics.signals
                )
                for shard, subset in self.placement.subsets(config)
            ]
        else:
            self.alarms = [
                ScalingAlarms(
                    self, "Alarms", config=config, alarm_prefix=alarm_prefix, topic=self.topics.signals
                )
            ]
        # Every minute, whatever the alarms did: alarms notify on state change only, so a breach that
        # lasts (its alarm staying in ALARM) is heard here.
        self.reevaluation = Reevaluation(
            self,
            "Reevaluation",
            function=self.reactive.function,
            role=self.reactive.handler.role,
            shards=config.reevaluation_shards,
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
                group_scope=self.placement.group_scope("Sales"),
            )
            if any(group.events for group in config.groups)
            else None
        )
        if self.sales is not None:
            reserve_concurrency(self.sales.function, config.reserved_concurrency.sale)
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
                group_scope=self.placement.group_scope("Forecast"),
            )
            if any(group.forecast for group in config.groups)
            else None
        )
        self._watch(config, alarm_prefix)

        CfnOutput(self, "AuditTableName", value=self.audit.table.table_name)
        CfnOutput(self, "NotificationsTopicArn", value=self.topics.notifications.topic_arn)
        if self.topics.group_watch is not None:
            # `surgeguard preflight` checks its email subscriptions are confirmed too.
            CfnOutput(self, "GroupWatchTopicArn", value=self.topics.group_watch.topic_arn)
        CfnOutput(self, "ReactiveFunctionName", value=self.reactive.function.function_name)
        CfnOutput(self, "DashboardName", value=self.overview.dashboard.dashboard_name)
        if self.sales is not None:
            CfnOutput(self, "SaleFunctionName", value=self.sales.function.function_name)
            CfnOutput(self, "SaleScheduleGroupName", value=self.sales.group.schedule_group_name)
        if self.forecaster is not None:
            CfnOutput(self, "ForecastFunctionName", value=self.forecaster.function.function_name)
        self.resource_counts = check_resource_limits(self, self.placement.shards.values())

    def _watch(self, config: ScalerConfig, alarm_prefix: str) -> None:
        """Alarms on failures (monitoring.py) and the dashboards (dashboard.py)."""
        reactive = self.reactive
        functions = [WatchedFunction("reactive", reactive.function)]
        queues = [
            WatchedQueue(
                "reactive-failed-invocations",
                "alarm and re-evaluation invocations that failed every retry",
                reactive.handler.dead_letter_queue.queue,
            ),
            WatchedQueue(
                "reactive-undelivered-signals",
                "alarm signals SNS could not deliver to the Lambda",
                reactive.subscription_dead_letter_queue.queue,
            ),
            WatchedQueue(
                "reevaluation-undelivered",
                "per-minute re-evaluations Scheduler could not deliver",
                self.reevaluation.plumbing.dead_letter_queue.queue,
            ),
        ]
        if self.sales is not None:
            functions.append(WatchedFunction("sale", self.sales.function))
            queues += [
                WatchedQueue(
                    "sale-failed-invocations",
                    "sale phases that failed every retry",
                    self.sales.handler.dead_letter_queue.queue,
                ),
                WatchedQueue(
                    "sale-undelivered",
                    "sale phases Scheduler could not deliver",
                    self.sales.plumbing.dead_letter_queue.queue,
                ),
            ]
        if self.forecaster is not None:
            functions.append(WatchedFunction("forecast", self.forecaster.function))
            queues += [
                WatchedQueue(
                    "forecast-failed-invocations",
                    "forecast runs that failed every retry",
                    self.forecaster.handler.dead_letter_queue.queue,
                ),
                WatchedQueue(
                    "forecast-undelivered",
                    "forecast runs Scheduler could not deliver",
                    self.forecaster.plumbing.dead_letter_queue.queue,
                ),
            ]
        self.watch = Watch(
            self,
            "Watch",
            alarm_prefix=alarm_prefix,
            topics=self.topics.watch_topics,
            functions=functions,
            queues=queues,
        )
        stack_alarms = list(self.watch.alarms.values())
        place = self.placement.group_scope("Watch")
        for group in config.groups:
            if group.forecast is not None:
                self.watch.forecast_staleness(place(group.name) if place else self.watch, group)
        self.overview = OverviewDashboard(
            self,
            "Overview",
            title=f"Surgeguard {alarm_prefix}",
            functions=functions,
            queues=queues,
            alarms=stack_alarms,
            decision_logs=[reactive.handler.log_group],
        )
        title = f"Surgeguard {alarm_prefix}"
        if self.placement.nested:
            self.group_dashboards = [
                GroupDashboards(shard, "Dashboards", title=title, groups=subset.groups)
                for shard, subset in self.placement.subsets(config)
            ]
        else:
            self.group_dashboards = [
                GroupDashboards(self, "GroupDashboards", title=title, groups=config.groups)
            ]
