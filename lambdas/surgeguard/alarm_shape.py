"""How each scaling alarm is shaped so that its metric really arrives; pure, no I/O.

One source for the CDK alarms (infra/constructs/alarms.py), the game day's put_metric_alarm calls
(gameday/moto_path.py) and the Lambda's reading of a signal with no datapoint (adapters/cloudwatch.py):

- Period. EC2 basic monitoring publishes CPUUtilization every 5 minutes: a 60 s CPU alarm needing 5 of 5
  would never fill (no scale-in, and scale-out 5 minutes late). With `monitoring: basic` CPU alarms use
  300 s periods, M and N scaled so the window stays at least as long as configured.
- Missing data, per signal and direction (AWS documents what each service leaves out):
  * ALB RequestCountPerTarget and TargetResponseTime are not published at all while no request flows.
    Scale-in treats missing as breaching (no requests: below any target, so a quiet night scales in);
    scale-out as notBreaching (no requests is never a reason to add capacity).
  * SQS backlog per instance: an idle queue may stop publishing, and the divisor (GroupInServiceInstances)
    exists only with the group's metrics collection. Scale-in breaching, scale-out notBreaching, as for
    the ALB; a missing divisor then shows up as an ALARM the Lambda audits (`metrics_collection`).
  * CPU is published while instances run: missing means the metric broke (agent stopped, group empty).
    Both directions keep `missing`: the alarm goes to INSUFFICIENT_DATA (visible), and nothing is added
    or removed on no evidence.
- Percentile statistics (p95/p99 latency) ignore periods with too few samples to be significant
  (`EvaluateLowSampleCountPercentile: ignore`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from surgeguard.config import (
    BASIC_MONITORING_PERIOD,
    CpuSignal,
    Direction,
    GroupConfig,
    QueueBacklogSignal,
    RequestsPerTargetSignal,
    ResponseTimeSignal,
    ScalerConfig,
    Signal,
)

GROUP_IN_SERVICE = "GroupInServiceInstances"


class TreatMissing(StrEnum):
    """CloudWatch TreatMissingData values."""

    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"
    IGNORE = "ignore"
    MISSING = "missing"


@dataclass(frozen=True)
class AlarmShape:
    period_seconds: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: TreatMissing
    evaluate_low_sample_count_percentile: str | None  # "ignore" on percentile statistics, else None


def is_percentile(statistic: str) -> bool:
    return statistic.startswith("p") and statistic[1:].replace(".", "", 1).isdigit()


def grows_while_filling(statistic: str) -> bool:
    """Whether a statistic over part of its period can only be at or below its value over the whole:
    a Sum, a Maximum or a SampleCount of the datapoints published so far is short by those yet to come
    (an Average, a Minimum or a percentile over fewer samples is not short, just less certain)."""
    return statistic in ("Sum", "Maximum", "SampleCount")


def significant_samples(statistic: str) -> float:
    """The fewest samples a period needs for CloudWatch to hold a percentile statistic significant
    ("Percentile-based alarms and low data samples"): 10 / (1 - p) from p50 up (200 for p95, 1000 for
    p99), 10 / p below."""
    fraction = float(statistic[1:]) / 100
    return 10 / (1 - fraction) if fraction >= 0.5 else 10 / fraction


def treat_missing(signal: Signal, direction: Direction) -> TreatMissing:
    if isinstance(signal, CpuSignal):
        return TreatMissing.MISSING
    if isinstance(signal, RequestsPerTargetSignal | ResponseTimeSignal | QueueBacklogSignal):
        return TreatMissing.BREACHING if direction is Direction.IN else TreatMissing.NOT_BREACHING
    raise TypeError(f"unknown signal kind {type(signal).__name__}")


def alarm_shape(group: GroupConfig, signal: Signal, direction: Direction, statistic: str) -> AlarmShape:
    """The shape of `signal`'s `direction` alarm in `group` (`statistic`: the alarm's statistic)."""
    policy = group.scale_out if direction is Direction.OUT else group.scale_in
    period: int = policy.period_seconds
    evaluation_periods = policy.evaluation_periods
    datapoints = policy.datapoints_to_alarm
    if group.basic_ec2_cpu(signal) and period < BASIC_MONITORING_PERIOD:
        # Keep the configured window (N x period) or longer, in 5-minute datapoints.
        scale = BASIC_MONITORING_PERIOD / period
        evaluation_periods = max(1, math.ceil(evaluation_periods / scale - 1e-9))
        datapoints = min(evaluation_periods, max(1, math.ceil(datapoints / scale - 1e-9)))
        period = BASIC_MONITORING_PERIOD
    return AlarmShape(
        period_seconds=period,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints,
        treat_missing_data=treat_missing(signal, direction),
        evaluate_low_sample_count_percentile="ignore" if is_percentile(statistic) else None,
    )


def absent_value(signal: Signal) -> float | None:
    """What a signal with no datapoint in the window means. For the ALB signals: no request flowed
    (the ALB publishes RequestCountPerTarget and TargetResponseTime only while requests flow), so 0
    requests and nothing slow. Otherwise unknown (None: the signal abstains): a missing backlog may be
    a missing divisor (no metrics collection) with messages waiting, and missing CPU a broken metric."""
    return 0.0 if isinstance(signal, RequestsPerTargetSignal | ResponseTimeSignal) else None


# How long after its period ends a one-minute datapoint may still be on its way into CloudWatch. AWS
# documents no figure (ELB "measures and sends its metrics in 60-second intervals"; an alarm looks back
# over more periods than it evaluates for data that arrives late); monitoring vendors measure about
# 2 minutes for one-minute AWS metrics. 3 minutes, so that a datapoint merely late never reads as none.
PUBLISHING_DELAY = timedelta(minutes=3)


def quiet_since(when: datetime, period: timedelta, now: datetime) -> bool:
    """Whether a datapoint (its period began `when`) is older than the newest CloudWatch has had time
    to publish: the period after it ended more than the publishing delay ago, with no datapoint. For a
    signal that publishes nothing while idle (an ALB with no request), that period had none, and
    neither does now: the signal is its absent value, not the last busy period's."""
    return when + 2 * period + PUBLISHING_DELAY <= now


# What the pre-warm's "normal demand" averages: the 15 whole minutes around its time (7 before, 7 after).
NORMAL_WINDOW_MINUTES = 15
NORMAL_WINDOW = timedelta(minutes=NORMAL_WINDOW_MINUTES)


def normal_window(around: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the whole minutes the normal demand at `around` averages. Whole minutes: for a
    start inside a minute CloudWatch rounds down and answers one minute more than a mean of 15 expects."""
    start = around.replace(second=0, microsecond=0) - timedelta(minutes=NORMAL_WINDOW_MINUTES // 2)
    return start, start + NORMAL_WINDOW


def mean_requests_per_minute(counts: Sequence[float], window_minutes: int) -> float | None:
    """The mean of an ALB RequestCount (Sum per minute) over a window of `window_minutes`, from the
    datapoints it has. A minute without one had no request (the ALB publishes RequestCount only while
    requests flow), so it counts as 0: averaged over the busy minutes only, a quiet window's mean was up
    to `window_minutes` times too high, and a pre-warm sized on it as many times too large. None when no
    minute has a datapoint: nothing says the group was serving then."""
    if not counts or window_minutes <= 0:
        return None
    return sum(counts) / max(window_minutes, len(counts))


def needs_group_metrics(signal: Signal) -> bool:
    """Whether the signal divides by GroupInServiceInstances (the group's metrics collection)."""
    return isinstance(signal, QueueBacklogSignal)


def monitoring_warnings(config: ScalerConfig) -> list[str]:
    """What a platform engineer must know before deploying (a call: neither synth nor `surgeguard plan`
    prints it)."""
    warnings = []
    for group in config.groups:
        basic = [s.id for s in group.signals if group.basic_ec2_cpu(s)]
        if basic:
            warnings.append(
                f"{group.name}: monitoring basic: EC2 publishes CPU every 5 minutes, so the CPU alarms "
                f"({', '.join(basic)}) use 300 s periods and react minutes later; enable detailed "
                "monitoring in the launch template (Monitoring.Enabled) and set monitoring: detailed"
            )
        backlog = [s.id for s in group.signals if needs_group_metrics(s)]
        if backlog:
            warnings.append(
                f"{group.name}: signals {', '.join(backlog)} divide by {GROUP_IN_SERVICE}: enable the "
                f"group's metrics collection (aws autoscaling enable-metrics-collection "
                f"--auto-scaling-group-name {group.name} --granularity 1Minute --metrics {GROUP_IN_SERVICE})"
            )
    return warnings
