"""The references and the AWS policies users would otherwise pick, exactly as BENCHMARK.md pins them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from gameday.alarms import Comparison, MetricAlarm
from gameday.engine import Metric, Policy, PolicyContext, PolicyFactory, PolicyView
from gameday.fleet import ceil_tol
from surgeguard.domain.anchors import (
    STEP_IN,
    STEP_IN_BELOW,
    STEP_IN_DATAPOINTS,
    STEP_OUT,
    STEP_OUT_AT,
    STEP_WARMUP_MINUTES,
    percent_adjustment,
)


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

    def __init__(
        self,
        name: str,
        metric: Metric,
        target: float | None = None,
        *,
        target_share: float = 0.5,
        high_datapoints: int = 3,
    ) -> None:
        self.name = name
        self.metric = metric
        # None: `target_share` of one instance's capacity (requests per target), known only at reset.
        self._configured_target = target
        self._target_share = target_share
        self.high_datapoints = high_datapoints
        self.target = target or 0.0
        self.high: MetricAlarm | None = None
        self.low: MetricAlarm | None = None

    def reset(self, ctx: PolicyContext) -> None:
        target = self._configured_target
        if target is None:
            target = self._target_share * ctx.sizing.capacity_per_instance
        self.target = target
        self.high = ctx.cloudwatch.create_alarm(
            f"TargetTracking-{self.name}-AlarmHigh",
            self.metric,
            target,
            Comparison.GREATER_THAN,
            self.high_datapoints,
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


def target_tracking_cpu(target: float = 50.0) -> TargetTracking:
    """ASGAverageCPUUtilization at 50%: AWS's recommended default; saturation caps a round at 2x."""
    return TargetTracking("aws-target-tracking-cpu", Metric.CPU, target)


def target_tracking_requests(target: float = 50.0) -> TargetTracking:
    """ALBRequestCountPerTarget at `target` percent of one instance's capacity (default 0.5 c)."""
    return TargetTracking(
        "aws-target-tracking-requests", Metric.REQUESTS_PER_TARGET, target_share=target / 100.0
    )


def target_tracking_hires(target: float = 50.0) -> TargetTracking:
    """Target tracking on a 10-second CPU metric (EC2 Auto Scaling, since 2024-11).

    BENCHMARK.md: the high alarm needs 1 of 1 one-minute datapoints (the six 10-s datapoints of a
    minute all equal its CPU here), so desired first rises one minute after the first breaching
    minute instead of three. AWS publishes no faster scale-in: 15 of 15 below 0.9 x target, as classic.
    """
    return TargetTracking("aws-target-tracking-hires", Metric.CPU, target, high_datapoints=1)


# BENCHMARK.md's predictive scaling model: forecasts every 6 hours from up to 14 days back, for 48 hours.
FORECAST_EVERY_MINUTES = 360
FORECAST_LOOKBACK_MINUTES = 14 * 1440
FORECAST_MIN_MEASURED_MINUTES = 1440
FORECAST_HOURS = 48
# SchedulingBufferTime 300 s: the capacity of hour h is set 5 minutes before it starts.
SCHEDULING_BUFFER_MINUTES = 5


class PredictiveWithTargetTracking:
    """AWS predictive scaling (ForecastAndScale) beside classic CPU target tracking, per BENCHMARK.md.

    Every 360 minutes it forecasts each trace hour's peak for the next 48 hours as the mean of the
    same hour one and two weeks back, averaged with the mean of the same hour on the 7 most recent days
    with data (only hours inside the 14-day lookback count; a day without data is passed over: that is
    how the reference implementation reads it, nasa-aug95's cost matches to 3 decimals only so).
    cap(h) = ceil(F(h) / (c x target)) is fixed 5 minutes before hour h, and desired never goes below
    max(cap(hour of t), cap(hour of t+5)): target tracking scales out above that floor as usual and
    its scale-in stops at it. Generous to AWS, as the protocol says: it forecasts each hour's peak
    minute and knows c exactly.
    """

    name = "aws-predictive+tt"

    def __init__(self, target: float = 50.0) -> None:
        self.target_percent = target
        self.tracking = TargetTracking(self.name, Metric.CPU, target)
        self._peaks: list[float | None] = []  # P(h) of each completed trace hour, None if all gap
        self._measured: list[int] = []  # non-gap minutes per completed hour
        self._next_refresh = 0
        self._forecasts: dict[int, list[float | None] | None] = {}  # refresh minute -> F of its 48 hours
        self._capacity_unit = 1.0

    def reset(self, ctx: PolicyContext) -> None:
        self.tracking.reset(ctx)
        self._peaks = []
        self._measured = []
        self._next_refresh = 0
        self._forecasts = {}
        self._capacity_unit = ctx.sizing.capacity_per_instance * self.target_percent / 100.0

    def decide(self, view: PolicyView) -> int | None:
        t = view.minute
        requests = view.history.requests
        # Complete the hours whose 60 minutes are all in the history (< t).
        while 60 * (len(self._peaks) + 1) <= t:
            hour = len(self._peaks)
            minutes = [d for d in requests[60 * hour : 60 * hour + 60] if d == d]
            self._peaks.append(max(minutes) if minutes else None)
            self._measured.append(len(minutes))
        # A refresh time that fell in a gap still forecasts from the minutes before it.
        while self._next_refresh <= t:
            self._forecasts[self._next_refresh] = self._forecast(self._next_refresh)
            self._next_refresh += FORECAST_EVERY_MINUTES
        floor = max(self._cap(t // 60), self._cap((t + 5) // 60))
        wanted = self.tracking.decide(view)
        desired = view.desired if wanted is None else wanted
        desired = max(desired, floor)
        return desired if desired != view.desired else None

    def _forecast(self, refresh: int) -> list[float | None] | None:
        """F(h) for the 48 hours from refresh/60 from the completed hours inside the lookback."""
        first_hour = max(0, refresh - FORECAST_LOOKBACK_MINUTES) // 60
        last_hour = refresh // 60  # exclusive: hours before the refresh are complete
        if sum(self._measured[first_hour:last_hour]) < FORECAST_MIN_MEASURED_MINUTES:
            return None
        peaks = self._peaks

        def known(hour: int) -> float | None:
            return peaks[hour] if first_hour <= hour < last_hour else None

        forecast: list[float | None] = []
        for h in range(last_hour, last_hour + FORECAST_HOURS):
            weekly = [p for k in (1, 2) if (p := known(h - 168 * k)) is not None]
            # The 7 most recent days whose same hour is completed and has data (a gap day is skipped).
            daily: list[float] = []
            day_hour = h - 24 * max(1, -((last_hour - h) // 24))
            while day_hour >= first_hour and len(daily) < 7:
                if (p := known(day_hour)) is not None:
                    daily.append(p)
                day_hour -= 24
            parts = [sum(part) / len(part) for part in (weekly, daily) if part]
            forecast.append(sum(parts) / len(parts) if parts else None)
        return forecast

    def _cap(self, hour: int) -> int:
        """Capacity for `hour` from the latest forecast made by minute 60h - 5; 0 if none."""
        fixed_at = 60 * hour - SCHEDULING_BUFFER_MINUTES
        if fixed_at < 0:
            return 0
        refresh = fixed_at // FORECAST_EVERY_MINUTES * FORECAST_EVERY_MINUTES
        forecast = self._forecasts.get(refresh)
        if forecast is None:
            return 0
        value = forecast[hour - refresh // 60]
        return 0 if value is None else ceil_tol(value / self._capacity_unit)


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

    # The domain's own (the forecaster replays step scaling as the box's fourth anchor): one definition.
    OUT_THRESHOLD = STEP_OUT_AT
    IN_THRESHOLD = STEP_IN_BELOW
    OUT_STEPS = STEP_OUT  # (lower bound, percent), checked top down
    IN_STEPS = STEP_IN  # [30, 40) -> -10%, below 30 -> -30%

    def __init__(self, warmup_minutes: int = STEP_WARMUP_MINUTES) -> None:
        self.warmup_minutes = warmup_minutes
        self.scale_out: MetricAlarm | None = None
        self.scale_in: MetricAlarm | None = None

    def reset(self, ctx: PolicyContext) -> None:
        self.scale_out = ctx.cloudwatch.create_alarm(
            "Step-ScaleOut", Metric.CPU, self.OUT_THRESHOLD, Comparison.GREATER_THAN_OR_EQUAL, 1
        )
        self.scale_in = ctx.cloudwatch.create_alarm(
            "Step-ScaleIn", Metric.CPU, self.IN_THRESHOLD, Comparison.LESS_THAN, STEP_IN_DATAPOINTS
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
    "aws-target-tracking-hires": target_tracking_hires,
    "aws-predictive+tt": PredictiveWithTargetTracking,
}
# What users would otherwise pick (the seed rule included): the policies to beat.
AWS_POLICIES = (
    "aws-target-tracking-cpu",
    "aws-target-tracking-requests",
    "aws-step-scaling",
    "seed-rule",
    "aws-target-tracking-hires",
    "aws-predictive+tt",
)

# BENCHMARK.md's frontier: each AWS family's one knob (its target, percent; request targets are that
# share of c), swept over these settings.
AWS_FRONTIER_SETTINGS = (30.0, 40.0, 50.0, 60.0, 70.0)
AWS_FRONTIER: dict[str, Callable[[float], Policy]] = {
    "aws-target-tracking-cpu": target_tracking_cpu,
    "aws-target-tracking-requests": target_tracking_requests,
    "aws-target-tracking-hires": target_tracking_hires,
    "aws-predictive+tt": PredictiveWithTargetTracking,
}


def register_policy(name: str, factory: PolicyFactory, *, replace: bool = False) -> None:
    """Make a policy available to `surgeguard bench --policy NAME` and to the default run."""
    if name in POLICIES and not replace:
        raise ValueError(f"policy {name!r} is already registered")
    POLICIES[name] = factory
