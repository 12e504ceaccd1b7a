"""CloudWatch dashboards: one overview per stack (failures, Lambda health, decisions, pause state) and
group dashboards (per group: desired, in service and pending against demand; each signal against its
target).

Limits: a dashboard body holds 0 to 500 widgets (Dashboard Body Structure and Syntax, CloudWatch API
Reference). A group takes 1 + one widget per signal, so groups are split GROUPS_PER_DASHBOARD to a
dashboard, which also keeps each body small (metrics and characters) and each page readable; 300
groups of 3 signals make 12 group dashboards of at most 101 widgets.

Decisions and pause state are read from the reactive Lambda's JSON logs with Logs Insights: every
decision of an alarm or a re-evaluation is logged as `<outcome> <group>: <reason>`, and one the kill
switch stopped has a reason starting `paused` (the pause itself lives in the audit table, which no widget
can read; sale phases are audited there too, `surgeguard audit` shows them).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.alarms import signal_metric_construct
from infra.constructs.monitoring import WatchedFunction, WatchedQueue
from surgeguard.config import (
    CpuSignal,
    Direction,
    GroupConfig,
    QueueBacklogSignal,
    RequestsPerTargetSignal,
    Signal,
)
from surgeguard.signals import alarm_threshold, signal_metric

GROUPS_PER_DASHBOARD = 25
MAX_WIDGETS = 500
MINUTE = Duration.minutes(1)
WIDTH = 24  # the dashboard grid is 24 columns wide

DECISION = (
    r"parse message /^(?<outcome>applied|unchanged|skipped|rejected|failed) (?<grp>[^:]+): (?<why>.*)$/"
)


def _group_metric(group: GroupConfig, name: str, statistic: str, label: str) -> cw.Metric:
    return cw.Metric(
        namespace="AWS/AutoScaling",
        metric_name=name,
        dimensions_map={"AutoScalingGroupName": group.name},
        statistic=statistic,
        period=MINUTE,
        label=label,
    )


def signal_value(group: GroupConfig, signal: Signal) -> cw.IMetric:
    """The value the signal's alarms compare with its target (same metric, statistic and math)."""
    value = signal_metric_construct(signal_metric(group, signal), MINUTE)
    # metric math is already labelled with the signal's id; a plain metric gets the same label
    return value.with_(label=signal.id) if isinstance(value, cw.Metric) else value


def demand(group: GroupConfig, signal: Signal, index: int) -> cw.MathExpression | None:
    """Instances the signal asks for to hold its target, where it scales proportionally: the value
    times the instances in service over the target (backlog: messages over the target per instance)."""
    in_service = _group_metric(group, "GroupInServiceInstances", "Average", "in service")
    label = f"demand ({signal.id})"
    if isinstance(signal, CpuSignal | RequestsPerTargetSignal):
        value = signal_value(group, signal)
        assert isinstance(value, cw.Metric)
        return cw.MathExpression(
            expression=f"v{index} * n{index} / {signal.target:g}",
            using_metrics={f"v{index}": value, f"n{index}": in_service},
            period=MINUTE,
            label=label,
        )
    if isinstance(signal, QueueBacklogSignal):
        visible = cw.Metric(
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions_map={"QueueName": signal.queue_name},
            statistic="Maximum",
            period=MINUTE,
        )
        return cw.MathExpression(
            expression=f"q{index} / {signal.target:g}",
            using_metrics={f"q{index}": visible},
            period=MINUTE,
            label=label,
        )
    return None  # latency does not scale with instances


def group_widgets(group: GroupConfig) -> list[cw.IWidget]:
    capacity: list[cw.IMetric] = [
        _group_metric(group, "GroupDesiredCapacity", "Maximum", "desired"),
        _group_metric(group, "GroupInServiceInstances", "Average", "in service"),
        _group_metric(group, "GroupPendingInstances", "Average", "pending"),
    ]
    capacity += [d for i, s in enumerate(group.signals) if (d := demand(group, s, i)) is not None]
    widgets: list[cw.IWidget] = [
        cw.GraphWidget(
            title=f"{group.name}: capacity against demand",
            left=capacity,
            left_annotations=[
                cw.HorizontalAnnotation(value=group.min, label="min"),
                cw.HorizontalAnnotation(value=group.max, label="max"),
            ],
            width=WIDTH // 2,
            height=6,
        )
    ]
    for signal in group.signals:
        widgets.append(
            cw.GraphWidget(
                title=f"{group.name}: {signal.id} against its target",
                left=[signal_value(group, signal)],
                left_annotations=[
                    cw.HorizontalAnnotation(value=signal.target, label="target (scale out above)"),
                    cw.HorizontalAnnotation(
                        value=alarm_threshold(signal, Direction.IN), label="scale in below"
                    ),
                ],
                width=WIDTH // 4,
                height=6,
            )
        )
    return widgets


def group_chunks(groups: Sequence[GroupConfig]) -> list[list[GroupConfig]]:
    return [list(groups[i : i + GROUPS_PER_DASHBOARD]) for i in range(0, len(groups), GROUPS_PER_DASHBOARD)]


class GroupDashboards(Construct):
    """One dashboard per GROUPS_PER_DASHBOARD groups, in `scope` (the stack or a nested one)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, title: str, groups: Sequence[GroupConfig]
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboards: list[cw.Dashboard] = []
        chunks = group_chunks(groups)
        for number, chunk in enumerate(chunks, start=1):
            first, last = chunk[0].name, chunk[-1].name
            header = cw.TextWidget(
                markdown=f"# {title}: groups {first} to {last} ({number} of {len(chunks)})\n"
                "Capacity lines need the group's metrics collection enabled (GroupInServiceInstances, ...).",
                width=WIDTH,
                height=2,
            )
            widgets: list[cw.IWidget] = [header]
            for group in chunk:
                widgets += group_widgets(group)
            assert len(widgets) <= MAX_WIDGETS
            dashboard = cw.Dashboard(self, f"Groups{number}", period_override=cw.PeriodOverride.AUTO)
            dashboard.add_widgets(*widgets)
            self.dashboards.append(dashboard)


class OverviewDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        title: str,
        functions: Sequence[WatchedFunction],
        queues: Sequence[WatchedQueue],
        alarms: Sequence[cw.IAlarm],
        decision_logs: Sequence[logs.ILogGroup],
    ) -> None:
        super().__init__(scope, construct_id)

        def per_function(metric_name: str, statistic: str) -> list[cw.IMetric]:
            return [
                cw.Metric(
                    namespace="AWS/Lambda",
                    metric_name=metric_name,
                    dimensions_map={"FunctionName": f.function.function_name},
                    statistic=statistic,
                    period=MINUTE,
                    label=f"{f.label} {metric_name.lower()}",
                )
                for f in functions
            ]

        def insights(title: str, *lines: str) -> cw.LogQueryWidget:
            return cw.LogQueryWidget(
                title=title,
                log_group_names=[g.log_group_name for g in decision_logs],
                query_lines=list(lines),
                view=cw.LogQueryVisualizationType.TABLE,
                width=WIDTH // 3,
                height=8,
            )

        self.dashboard = cw.Dashboard(self, "Dashboard", period_override=cw.PeriodOverride.AUTO)
        self.dashboard.add_widgets(
            cw.TextWidget(
                markdown=f"# {title}\nFailures first; per-group capacity and signals are on the "
                "group dashboards of this stack.",
                width=WIDTH,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Watch alarms", alarms=list(alarms), width=WIDTH, height=4)
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Lambda errors and throttles",
                left=per_function("Errors", "Sum") + per_function("Throttles", "Sum"),
                width=WIDTH // 3,
            ),
            cw.GraphWidget(
                title="Lambda invocations and concurrency",
                left=per_function("Invocations", "Sum"),
                right=per_function("ConcurrentExecutions", "Maximum"),
                width=WIDTH // 3,
            ),
            cw.GraphWidget(
                title="Failure queues: messages waiting",
                left=[
                    cw.Metric(
                        namespace="AWS/SQS",
                        metric_name="ApproximateNumberOfMessagesVisible",
                        dimensions_map={"QueueName": q.queue.queue_name},
                        statistic="Maximum",
                        period=MINUTE,
                        label=q.label,
                    )
                    for q in queues
                ],
                width=WIDTH // 3,
            ),
        )
        self.dashboard.add_widgets(
            insights(
                "Decisions by group and outcome (alarms and re-evaluation)",
                "fields @timestamp, message",
                DECISION,
                "filter ispresent(outcome)",
                "stats count(*) as decisions by grp, outcome",
                "sort decisions desc",
                "limit 100",
            ),
            insights(
                "Paused (kill switch): latest stopped decision per group",
                "fields @timestamp, message",
                DECISION,
                "filter why like /^paused/",
                "stats latest(why) as pause, max(@timestamp) as last_seen by grp",
                "sort last_seen desc",
            ),
            insights(
                "Failures: failed or rejected decisions and errors",
                "fields @timestamp, level, message",
                DECISION,
                "filter outcome in ['failed', 'rejected'] or level = 'ERROR'",
                "sort @timestamp desc",
                "limit 50",
            ),
        )
