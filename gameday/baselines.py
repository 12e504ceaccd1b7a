"""The references and the AWS policies users would otherwise pick, exactly as BENCHMARK.md pins them."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from gameday.alarms import Comparison, MetricAlarm
from gameday.engine import Metric, PolicyContext, PolicyFactory, PolicyView
from gameday.fleet import ceil_tol


def percent_adjustment(capacity: int, percent: int) -> int:
    """PercentChangeInCapacity as EC2 Auto Scaling rounds it.

    User guide ("Step and simple scaling policies", percent change in capacity): a result whose
    magnitude is above 1 is truncated toward zero (12.7 -> 12, -6.67 -> -6); between 0 and 1
    it becomes 1 (0.67 -> 1, -0.58 -> -1). Integer arithmetic keeps 30% of 10 from being 3.0000000000000004.
    """
    scaled = capacity * percent  # hundredths of an instance
    if scaled == 0:
        return 0
    magnitude = abs(scaled) // 100
    sign = 1 if scaled > 0 else -1
    return sign * max(1, magnitude)


def forward_max(values: Sequence[float], width: int) -> list[float]:
    """max(values[t : t + width]) for every t, in linear time (a monotonic deque of indices)."""
    window: deque[int] = deque()
    out = [0.0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        value = values[i]
        while window and values[window[-1]] <= value:
            window.pop()
        window.append(i)
        if window[0] >= i + width:
            window.popleft()
        out[i] = values[window[0]]
    return out


class Oracle:
    """Lower bound: ceil(d/c) instances every minute, as if instances served the moment they launched.

    Not a policy; no AWS behaviour. Its instance-minutes are the denominator of cost_vs_oracle.
    """

    name = "oracle"

    def fleet_series(self, ctx: PolicyContext) -> Sequence[int]:
        c = ctx.sizing.capacity_per_instance
        return [ceil_tol(d / c) for d in ctx.lookahead_demand]


class Clairvoyant:
    """Reference, not a policy: desired(t) = ceil(max(d[t..t+4]) / c / 0.9).

    It knows demand until the launch delay has passed (4 minutes), so it shows what is physically
    reachable when instances need pending + warming time, with 10% headroom.
    """

    name = "clairvoyant"

    def __init__(self, utilization: float = 0.9) -> None:
        self.utilization = utilization
        self._desired: list[int] = []

    def reset(self, ctx: PolicyContext) -> None:
        demand = ctx.lookahead_demand
        reach = ctx.params.serving_age
        c = ctx.sizing.capacity_per_instance
        divisor = c * self.utilization
        self._desired = [ceil_tol(peak / divisor) for peak in forward_max(demand, reach + 1)]

    def decide(self, view: PolicyView) -> int | None:
        return self._desired[view.minute]


class TargetTracking:
    """EC2 Auto Scaling target tracking on one metric, with the two alarms AWS creates for it.

    User guide ("Target tracking scaling policies"): the high alarm fires when the metric is above
    the target for 3 of 3 one-minute datapoints, the low alarm when it is below 90% of the target
    for 15 of 15. While an alarm is in ALARM the policy is re-evaluated every minute and sets
    capacity to ceil(n * metric / target), n the serving instances that produced the datapoint.
    Scale-out only raises desired (instances already launched are not added twice); scale-in only
    lowers it and is skipped while any instance is still pending or warming up ("Amazon EC2 Auto
    Scaling doesn't scale in while instances are warming up").
    """

    def __init__(self, name: str, metric: Metric, target: float | None = None) -> None:
        self.name = name
        self.metric = metric
        # None: half of one instance's capacity (requests per target), known only at reset.
        self._configured_target = target
        self.target = target or 0.0
        self.high: MetricAlarm | None = None
        self.low: MetricAlarm | None = None

    def reset(self, ctx: PolicyContext) -> None:
        target = self._configured_target
        if target is None:
            target = 0.5 * ctx.sizing.capacity_per_instance
        self.target = target
        self.high = ctx.cloudwatch.create_alarm(
            f"TargetTracking-{self.name}-AlarmHigh", self.metric, target, Comparison.GREATER_THAN, 3
        )
        self.low = ctx.cloudwatch.create_alarm(
            f"TargetTracking-{self.name}-AlarmLow", self.metric, 0.9 * target, Comparison.LESS_THAN, 15
        )

    def decide(self, view: PolicyView) -> int | None:
        high, low = self.high, self.low
        assert high is not None and low is not None, "reset() creates the alarms"
        if high.in_alarm:
            needed = self._needed(view)
            return needed if needed > view.desired else None
        if low.in_alarm and not view.not_serving:
            needed = self._needed(view)
            return needed if needed < view.desired else None
        return None

    def _needed(self, view: PolicyView) -> int:
        history = view.history
        latest = history.series(self.metric)[-1]
        serving = history.serving[-1]
        return ceil_tol(serving * latest / self.target)


def target_tracking_cpu() -> TargetTracking:
    """ASGAverageCPUUtilization at 50%: AWS's recommended default; saturation caps a round at 2x."""
    return TargetTracking("aws-target-tracking-cpu", Metric.CPU, 50.0)


def target_tracking_requests() -> TargetTracking:
    """ALBRequestCountPerTarget at half of one instance's capacity (0.5 c)."""
    return TargetTracking("aws-target-tracking-requests", Metric.REQUESTS_PER_TARGET)


class StepScaling:
    """The step scaling example of the EC2 Auto Scaling user guide, without cooldown.

    Scale-out alarm CPU >= 60 (1 of 1), steps [60, 70) +10% and >= 70 +30%; scale-in alarm
    CPU < 40 (15 of 15), steps [30, 40) -10% and < 30 -30%; the step is chosen by the latest
    datapoint and the policy runs every minute its alarm is in ALARM. Estimated instance warm-up
    300 s: on scale-out, instances launched less than 5 minutes ago are not counted in the base,
    and desired only grows to base + adjustment (guide: 10 instances, +10% -> 11; while the new one
    warms, +30% of 10 -> 13, launching 2 more, not 3).
    """

    name = "aws-step-scaling"

    OUT_THRESHOLD = 60.0
    IN_THRESHOLD = 40.0
    OUT_STEPS = ((70.0, 30), (60.0, 10))  # (lower bound, percent), checked top down
    IN_STEPS = ((30.0, -10), (float("-inf"), -30))  # [30, 40) -> -10%, below 30 -> -30%

    def __init__(self, warmup_minutes: int = 5) -> None:
        self.warmup_minutes = warmup_minutes
        self.scale_out: MetricAlarm | None = None
        self.scale_in: MetricAlarm | None = None

    def reset(self, ctx: PolicyContext) -> None:
        self.scale_out = ctx.cloudwatch.create_alarm(
            "Step-ScaleOut", Metric.CPU, self.OUT_THRESHOLD, Comparison.GREATER_THAN_OR_EQUAL, 1
        )
        self.scale_in = ctx.cloudwatch.create_alarm(
            "Step-ScaleIn", Metric.CPU, self.IN_THRESHOLD, Comparison.LESS_THAN, 15
        )

    def decide(self, view: PolicyView) -> int | None:
        scale_out, scale_in = self.scale_out, self.scale_in
        assert scale_out is not None and scale_in is not None, "reset() creates the alarms"
        if scale_out.in_alarm:
            cpu = view.history.cpu[-1]
            percent = next(p for bound, p in self.OUT_STEPS if cpu >= bound)
            base = view.desired - view.launched_within(self.warmup_minutes)
            target = base + percent_adjustment(base, percent)
            return target if target > view.desired else None
        if scale_in.in_alarm:
            cpu = view.history.cpu[-1]
            percent = next(p for bound, p in self.IN_STEPS if cpu >= bound)
            return view.desired + percent_adjustment(view.desired, percent)
        return None


class SeedRule:
    """The seed article's script, polled every minute (no CloudWatch alarm, no AWS policy).

    Latest CPU > 70 -> desired + 2 (its cooldown is overridden, so +2 every minute it stays > 70);
    the last 15 datapoints all < 30 and at least 300 s since the last change of desired -> desired - 1.
    A missing datapoint (data gap) compares false, so after a gap it needs 15 fresh ones.
    """

    name = "seed-rule"

    HIGH = 70.0
    LOW = 30.0
    LOW_DATAPOINTS = 15
    QUIET_MINUTES = 5

    def __init__(self) -> None:
        self._last_change = -(10**9)
        self._low_run = 0
        self._seen_until = 0
        self._desired_left = -1

    def reset(self, ctx: PolicyContext) -> None:
        self._last_change = -(10**9)
        self._low_run = 0
        self._seen_until = 0
        self._desired_left = ctx.sizing.initial_size

    def decide(self, view: PolicyView) -> int | None:
        t = view.minute
        if view.desired != self._desired_left:  # changed by someone else (a scheduled action)
            self._last_change = t
        cpu = view.history.cpu
        # Count consecutive low datapoints incrementally, including any we did not see (gaps).
        for minute in range(self._seen_until, t):
            self._low_run = self._low_run + 1 if cpu[minute] < self.LOW else 0
        self._seen_until = t
        if t == 0:
            return None
        new_desired = view.desired
        if cpu[-1] > self.HIGH:
            new_desired = view.desired + 2
        elif self._low_run >= self.LOW_DATAPOINTS and t - self._last_change >= self.QUIET_MINUTES:
            new_desired = view.desired - 1
        new_desired = min(view.max_size, max(view.min_size, new_desired))
        self._desired_left = new_desired
        if new_desired == view.desired:
            return None
        self._last_change = t
        return new_desired


# name -> factory of a fresh policy; bench runs them in this order. Other modules add theirs
# (the project's own policy) with register_policy.
POLICIES: dict[str, PolicyFactory] = {
    "oracle": Oracle,
    "clairvoyant": Clairvoyant,
    "aws-target-tracking-cpu": target_tracking_cpu,
    "aws-target-tracking-requests": target_tracking_requests,
    "aws-step-scaling": StepScaling,
    "seed-rule": SeedRule,
}
# What users would otherwise pick (the seed rule included): the policies to beat.
AWS_POLICIES = ("aws-target-tracking-cpu", "aws-target-tracking-requests", "aws-step-scaling", "seed-rule")


def register_policy(name: str, factory: PolicyFactory, *, replace: bool = False) -> None:
    """Make a policy available to `surgeguard bench --policy NAME` and to the default run."""
    if name in POLICIES and not replace:
        raise ValueError(f"policy {name!r} is already registered")
    POLICIES[name] = factory
