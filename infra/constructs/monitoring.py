"""The stack watching itself: alarms to people when something that should never happen quietly does.

- every failure queue (on-failure destinations, SNS and Scheduler dead-letter queues) holding a
  message: ApproximateNumberOfMessagesVisible > 0. SQS publishes queue metrics only while a queue is
  active, and a queue holding messages is active, so missing data means empty (notBreaching);
- each Lambda's Errors, Throttles and DestinationDeliveryFailures > 0 in a minute (the last: an
  asynchronous event Lambda could not hand to its on-failure destination is lost with no queue
  holding it). Lambda publishes its metrics only when the function is invoked, so missing data is a
  quiet minute (notBreaching);
- per forecasting group, no forecast written for two of its intervals: Sum of
  Surgeguard/ForecastWritten (published by the forecast handler, embedded metric format) below 1,
  with missing data BREACHING: a forecaster that stopped (schedule gone, every run failing, no
  history) is silence, and silence must alarm.

Each alarm tells the notifications topic (its top-level, unfiltered addresses) and, when some address
hears only its groups, the group-watch topic too (topics.py): CloudWatch's notifications carry no
message attributes, so they never pass such an address's `group` filter on the notifications topic.
Names sit under the stack's alarm prefix (`<prefix>/watch/...`): the topics' key and the notifications
topics let CloudWatch in for this stack's alarms only, by that prefix. Three segments, where a
scaling alarm has four (`<prefix>/<group>/<rule>/<direction>`), so the Lambda, which maps names back
to groups, never mistakes one for the other. Each alarm notifies on ALARM and on OK (recovered).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from surgeguard.config import GroupConfig
from surgeguard.forecast_service import FORECAST_WRITTEN, METRIC_NAMESPACE

MINUTE = Duration.minutes(1)
MAX_ALARM_NAME = 255  # CloudWatch's limit on AlarmName
# An alarm's period times its evaluation periods: seven days at most, and one day for periods under an
# hour (PutMetricAlarm). A cap of one day for every period once cut a daily forecaster's window to one run.
MAX_EVALUATION_SECONDS = 604_800
MAX_SHORT_PERIOD_EVALUATION_SECONDS = 86_400


def watch_alarm_name(prefix: str, what: str) -> str:
    """`<prefix>/watch/<what>`, shortened with a digest when it would pass 255 characters."""
    name = f"{prefix}/watch/{what}"
    if len(name) <= MAX_ALARM_NAME:
        return name
    digest = hashlib.sha256(what.encode()).hexdigest()[:12]
    return f"{name[: MAX_ALARM_NAME - len(digest) - 1]}~{digest}"


def staleness_window_seconds(group: GroupConfig) -> int:
    """Two forecast intervals (one run may fail and retry), within CloudWatch's limits (one period)."""
    assert group.forecast is not None
    window = 2 * group.forecast.every_minutes * 60
    return min(window, MAX_SHORT_PERIOD_EVALUATION_SECONDS if window < 3_600 else MAX_EVALUATION_SECONDS)


@dataclass(frozen=True)
class WatchedFunction:
    label: str  # "reactive", "sale", "forecast"
    function: lambda_.IFunction


@dataclass(frozen=True)
class WatchedQueue:
    label: str  # e.g. "reactive-failed-invocations"
    holds: str
    queue: sqs.IQueue


class Watch(Construct):
    """Failure-queue and Lambda alarms for the stack; `forecast_staleness` adds one per group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_prefix: str,
        topics: Sequence[sns.ITopic],
        functions: Sequence[WatchedFunction],
        queues: Sequence[WatchedQueue],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarm_prefix = alarm_prefix
        self.actions = [cw_actions.SnsAction(topic) for topic in topics]
        self.alarms: dict[str, cw.Alarm] = {}
        for watched in functions:
            for metric_name in ("Errors", "Throttles", "DestinationDeliveryFailures"):
                metric = cw.Metric(
                    namespace="AWS/Lambda",
                    metric_name=metric_name,
                    dimensions_map={"FunctionName": watched.function.function_name},
                    statistic="Sum",
                    period=MINUTE,
                )
                self._alarm(
                    self,
                    f"{watched.label}-{metric_name.lower()}",
                    metric,
                    description=f"Surgeguard: the {watched.label} Lambda reported {metric_name} "
                    "(a trigger may not have been handled; see its log group and audit records)",
                    comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    threshold=0,
                    missing=cw.TreatMissingData.NOT_BREACHING,
                )
        for watched_queue in queues:
            metric = cw.Metric(
                namespace="AWS/SQS",
                metric_name="ApproximateNumberOfMessagesVisible",
                dimensions_map={"QueueName": watched_queue.queue.queue_name},
                statistic="Maximum",
                period=MINUTE,
            )
            self._alarm(
                self,
                f"{watched_queue.label}-queued",
                metric,
                description=f"Surgeguard: {watched_queue.holds} are waiting in a failure queue "
                "(inspect, then redrive or purge)",
                comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                threshold=0,
                missing=cw.TreatMissingData.NOT_BREACHING,
            )

    def forecast_staleness(self, scope: Construct, group: GroupConfig) -> cw.Alarm:
        """In `scope` (the group's place: this stack or a nested one)."""
        window = staleness_window_seconds(group)
        metric = cw.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=FORECAST_WRITTEN,
            dimensions_map={"Stack": self.alarm_prefix, "Group": group.name},
            statistic="Sum",
            period=Duration.seconds(window),
        )
        return self._alarm(
            scope,
            f"forecast-stale-{group.name}",
            metric,
            description=f"Surgeguard: no forecast written for {group.name} in {window // 60} minutes "
            "(schedule gone, runs failing, or under 2 days of history): its forecast floor has lapsed",
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            threshold=1,
            missing=cw.TreatMissingData.BREACHING,
        )

    def _alarm(
        self,
        scope: Construct,
        what: str,
        metric: cw.Metric,
        *,
        description: str,
        comparison: cw.ComparisonOperator,
        threshold: float,
        missing: cw.TreatMissingData,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            scope,
            f"Watch-{what}" if scope is not self else what,
            alarm_name=watch_alarm_name(self.alarm_prefix, what),
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(*self.actions)
        alarm.add_ok_action(*self.actions)
        self.alarms[what] = alarm
        return alarm
