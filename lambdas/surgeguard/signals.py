"""Which CloudWatch metric each configured signal reads: one source for the alarms and GetMetricData."""

from __future__ import annotations

from dataclasses import dataclass

from surgeguard.config import (
    CpuSignal,
    Direction,
    GroupConfig,
    QueueBacklogSignal,
    RequestsPerTargetSignal,
    ResponseTimeSignal,
    Signal,
)

Dimensions = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MetricStat:
    id: str
    namespace: str
    metric_name: str
    dimensions: Dimensions
    statistic: str  # "Average", "Sum", "p95", ...


@dataclass(frozen=True)
class SignalMetric:
    """A signal's value: one metric, or `expression` over several (e.g. backlog per instance)."""

    signal_id: str
    stats: tuple[MetricStat, ...]
    expression: str | None = None

    @property
    def is_math(self) -> bool:
        return self.expression is not None


def signal_metric(group: GroupConfig, signal: Signal) -> SignalMetric:
    asg: Dimensions = (("AutoScalingGroupName", group.name),)
    dims: Dimensions
    if isinstance(signal, CpuSignal):
        stat = MetricStat("m1", signal.namespace, signal.metric_name, asg, "Average")
        return SignalMetric(signal.id, (stat,))
    if isinstance(signal, RequestsPerTargetSignal):
        dims = (("TargetGroup", signal.target_group),)
        stat = MetricStat("m1", signal.namespace, "RequestCountPerTarget", dims, "Sum")
        return SignalMetric(signal.id, (stat,))
    if isinstance(signal, ResponseTimeSignal):
        dims = (("LoadBalancer", signal.load_balancer), ("TargetGroup", signal.target_group))
        stat = MetricStat("m1", signal.namespace, "TargetResponseTime", dims, signal.percentile)
        return SignalMetric(signal.id, (stat,))
    if isinstance(signal, QueueBacklogSignal):
        # AWS's backlog-per-instance pattern; GroupInServiceInstances needs group metrics
        # collection enabled on the Auto Scaling group.
        visible = MetricStat(
            "m1",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            (("QueueName", signal.queue_name),),
            "Maximum",
        )
        in_service = MetricStat("m2", "AWS/AutoScaling", "GroupInServiceInstances", asg, "Average")
        return SignalMetric(signal.id, (visible, in_service), expression="m1 / IF(m2 < 1, 1, m2)")
    raise TypeError(f"unknown signal kind {type(signal).__name__}")


def alarm_threshold(signal: Signal, direction: Direction) -> float:
    """Out: above the target. In: below `scale_in_ratio` of it (AWS target tracking uses 90%)."""
    if direction is Direction.OUT:
        return signal.target
    return signal.target * signal.scale_in_ratio
