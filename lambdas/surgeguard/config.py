"""The team's one config file: groups, signals, limits; validated once, failing loudly with the field path.

The CDK app reads the YAML and bundles the validated JSON next to the Lambda code, so the Lambda and the
stack always agree on names, targets and windows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from surgeguard import keys
from surgeguard.domain.forecast import BurstSettings

BUNDLED_CONFIG_FILE = "surgeguard_config.json"

# AWS publishes these namespaces at one-minute resolution: a 10 or 30 s alarm on them never fills.
ONE_MINUTE_NAMESPACES = ("AWS/EC2", "AWS/ApplicationELB", "AWS/SQS")
# How the group's instances publish CPU (see `GroupConfig.monitoring`).
Monitoring = Literal["basic", "detailed", "high_resolution"]
EC2_CPU = ("AWS/EC2", "CPUUtilization")
BASIC_MONITORING_PERIOD = 300  # EC2 basic monitoring: one CPUUtilization datapoint per 5 minutes
# The CloudWatch agent's CPU metric (the `cpu` plugin's `usage_active` measurement), aggregated per group
# through `append_dimensions` + `aggregation_dimensions` on AutoScalingGroupName (README).
AGENT_CPU = ("CWAgent", "cpu_usage_active")

# The targets (percent of full load) an anchored group may replay target tracking at; a FORECAST item's
# choice judged at a target outside them is damaged.
ANCHOR_TARGET_LOW, ANCHOR_TARGET_HIGH = 10.0, 90.0


class ConfigError(ValueError):
    """The config is invalid; the message names every bad field by its path."""


def _wants_number(annotation: Any) -> bool:
    """Whether a field's type is a number (int or float), alone or with None (bool is not one)."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return any(option in (int, float) for option in options)


class Direction(StrEnum):
    OUT = "out"
    IN = "in"


class _Strict(BaseModel):
    # No infinity or NaN in any number: `.inf` (or 1e309, which YAML reads as it) passed `gt=0` and came
    # out of the bundled config as null, failing every Lambda's start.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """YAML reads yes/no/on/off as booleans, which pydantic would take as 1 and 0: `min: no` would be
        a minimum of 0 and `target: yes` a 1 % CPU target. A number field wants a number."""
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                value = data.get(field.alias or name)
                if isinstance(value, bool) and _wants_number(field.annotation):
                    raise ValueError(f"{name}: a number, not {str(value).lower()}")
        return data


def _full_name(kind: str, example: str) -> Callable[[str], str]:
    """CloudWatch's dimension for an ALB or target group is its full name, KIND/NAME/ID, never the ARN:
    under an ARN no datapoint is ever published, so the alarms on it never leave INSUFFICIENT_DATA."""
    shape = re.compile(rf"{kind}/[A-Za-z0-9-]{{1,32}}/[0-9a-f]{{1,16}}")
    arn = re.compile(rf"arn:aws[\w-]*:elasticloadbalancing:[^:]*:\d*:(?:loadbalancer/)?({kind}/.+)")

    def checked(value: str) -> str:
        if shape.fullmatch(value):
            return value
        pasted = arn.fullmatch(value)
        if pasted is not None:
            raise ValueError(f"{value!r} is an ARN; CloudWatch's dimension is the full name: {pasted[1]!r}")
        raise ValueError(f"{value!r} is not a full name such as {example!r} ({kind}/NAME/ID)")

    return checked


LoadBalancerDimension = Annotated[str, AfterValidator(_full_name("app", "app/shop-alb/50dc6c495c0c9188"))]
TargetGroupDimension = Annotated[
    str, AfterValidator(_full_name("targetgroup", "targetgroup/shop-web/73e2d6bc24d8a067"))
]
# One address per entry: SNS subscribes each as it is, and "a@x.com, b@x.com" or a typo fails the deploy.
# No control character either (a "\0" escape in a YAML string): it is part of no address.
EmailAddress = Annotated[
    str,
    Field(
        pattern=r"^[^@\s,;\x00-\x1f\x7f]+@[^@\s,;\x00-\x1f\x7f]+\.[^@\s,;\x00-\x1f\x7f]+$",
        max_length=254,
    ),
]


def _once_each(emails: list[str]) -> list[str]:
    """A repeated address asks for nothing more than one (unlike a repeated group or signal, it cannot
    mean two different things), so it is kept once rather than refused: repeated, it put its group twice
    in the subscription's filter policy, counted twice toward SNS's 150 values."""
    return list(dict.fromkeys(emails))


EmailAddresses = Annotated[list[EmailAddress], AfterValidator(_once_each)]


class DirectionPolicy(_Strict):
    """How one direction (out or in) reacts: alarm shape, step limit and stabilization window."""

    period_seconds: Literal[10, 30, 60] = 60
    datapoints_to_alarm: int = Field(default=1, ge=1, le=60)
    evaluation_periods: int = Field(default=1, ge=1, le=60)
    max_step_instances: int | None = Field(default=None, ge=1)
    max_step_percent: float | None = Field(default=None, gt=0, le=1000)
    # Read for scale-in only: recommendations are held at their highest over this window, and no
    # scale-in follows a scale-out inside it (no flip-flop). Scale-out is never held (fast out):
    # instances already launching are counted, so repeated alarms do not add them twice.
    stabilization_seconds: int = Field(default=0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _m_of_n(self) -> DirectionPolicy:
        if self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError(
                f"datapoints_to_alarm ({self.datapoints_to_alarm}) cannot exceed "
                f"evaluation_periods ({self.evaluation_periods})"
            )
        return self

    def step_limit(self, current: int) -> int | None:
        """Largest change allowed from `current` in one action, or None when unlimited."""
        limits = []
        if self.max_step_instances is not None:
            limits.append(self.max_step_instances)
        if self.max_step_percent is not None:
            limits.append(max(1, math.ceil(current * self.max_step_percent / 100 - 1e-9)))
        return min(limits) if limits else None


def _default_out() -> DirectionPolicy:
    # Fast out: react to one breaching minute, to the whole need at once (as benchmarked; target
    # tracking has no step limit either). A cap of 3x per action lost spikes of 10-100x for minutes:
    # the unseen AAPL trace dropped 7.40 % with it, 7.15 % without (README).
    return DirectionPolicy(period_seconds=60, datapoints_to_alarm=1, evaluation_periods=1)


def _default_in() -> DirectionPolicy:
    # In soon but in small steps: 5 quiet minutes, at most 25% per action (one per period), the
    # highest need of the last 5 minutes held. The benchmark's tuning (README), as defaults.
    return DirectionPolicy(
        period_seconds=60,
        datapoints_to_alarm=5,
        evaluation_periods=5,
        max_step_percent=25,
        stabilization_seconds=300,
    )


# CloudWatch's smallest and largest values (PutMetricData, MetricDatum.Value: 8.515920e-109 to
# 1.174271e+108). A target or a per-instance figure below the smallest holds no alarm threshold, and a
# reading divided by it overflowed to infinity: every decision of the group crashed (math.ceil).
CLOUDWATCH_SMALLEST = 8.515920e-109


def _within_cloudwatch(value: float | None) -> float | None:
    if value is not None and value < CLOUDWATCH_SMALLEST:
        raise ValueError(
            f"{value:g} is below CloudWatch's smallest value ({CLOUDWATCH_SMALLEST:g}): no alarm holds it, "
            "and a reading divided by it overflows"
        )
    return value


class _SignalBase(_Strict):
    id: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$", max_length=40)
    # The scale-in alarm fires when the metric is below this fraction of the target.
    scale_in_ratio: float = Field(default=0.9, gt=0, lt=1)

    # Every kind has a target (defined with its own bounds and meaning); none may be that small.
    _target_within_cloudwatch = field_validator("target", check_fields=False)(_within_cloudwatch)


class CpuSignal(_SignalBase):
    """Average CPU of the group, proportional like target tracking; saturates at 100%."""

    kind: Literal["cpu"]
    target: float = Field(gt=0, lt=100, description="average CPU % to hold")
    # CloudWatch's limits (PutMetricAlarm): 1-255 characters, and a namespace never starts with ":".
    namespace: str = Field(
        default="AWS/EC2",
        min_length=1,
        max_length=255,
        pattern=r"^[^:]",
        description="CWAgent for high-resolution CPU",
    )
    metric_name: str = Field(default="CPUUtilization", min_length=1, max_length=255)


class RequestsPerTargetSignal(_SignalBase):
    """ALB RequestCountPerTarget: requests per instance per minute; does not saturate."""

    kind: Literal["requests_per_target"]
    target: float = Field(gt=0, description="requests per instance per minute")
    target_group: TargetGroupDimension = Field(description="ALB target group full name, targetgroup/NAME/ID")
    load_balancer: LoadBalancerDimension = Field(description="ALB full name, app/NAME/ID")
    namespace: Literal["AWS/ApplicationELB"] = "AWS/ApplicationELB"


class ResponseTimeSignal(_SignalBase):
    """ALB TargetResponseTime at a percentile: a threshold, not a proportional quantity."""

    kind: Literal["response_time"]
    scale_in_ratio: float = Field(default=0.5, gt=0, lt=1)
    percentile: Literal["p95", "p99"] = "p95"
    target: float = Field(gt=0, le=60, description="latency threshold in seconds")
    target_group: TargetGroupDimension
    load_balancer: LoadBalancerDimension
    namespace: Literal["AWS/ApplicationELB"] = "AWS/ApplicationELB"


class QueueBacklogSignal(_SignalBase):
    """SQS visible messages divided by serving instances (AWS's backlog-per-instance pattern).

    Requires the group's metrics collection: the divisor is AWS/AutoScaling GroupInServiceInstances,
    which Auto Scaling publishes only after EnableMetricsCollection (1Minute granularity). The stack never
    changes the group, so the team enables it; without it the backlog alarms go to ALARM on missing data
    and the Lambda records each such trigger as skipped (`metrics_collection`) with how to enable it.
    """

    kind: Literal["queue_backlog"]
    scale_in_ratio: float = Field(default=0.5, gt=0, lt=1)
    # SQS's rule for a queue name: up to 80 of these characters, a FIFO queue's ending in ".fifo".
    queue_name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+(\.fifo)?$")
    target: float = Field(gt=0, description="visible messages per instance")
    namespace: Literal["AWS/SQS"] = "AWS/SQS"


Signal = Annotated[
    CpuSignal | RequestsPerTargetSignal | ResponseTimeSignal | QueueBacklogSignal,
    Field(discriminator="kind"),
]


# PutCompositeAlarm: an AlarmRule names at most 100 child alarms. Its length, at most 10,240 characters,
# is checked at synth, where the stack's name and region are known (infra/constructs/alarms.py).
COMPOSITE_CHILDREN_MAX = 100


class CompositeRule(_Strict):
    """Scale out only when every listed signal breaches at once (a CloudWatch composite alarm)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=40)
    all_of: list[str] = Field(min_length=2, max_length=COMPOSITE_CHILDREN_MAX)

    @model_validator(mode="after")
    def _distinct_signals(self) -> CompositeRule:
        # Two of one signal met the two-signal minimum and made a composite of one alarm: it scaled out
        # on that signal alone, where the rule asked for every listed signal at once.
        repeated = sorted({i for i in self.all_of if self.all_of.count(i) > 1})
        if repeated:
            raise ValueError(f"composite {self.id!r} lists signals more than once: {repeated}")
        return self


class RampStep(_Strict):
    """Demand expected to reach `fraction` of the peak `minutes_before_start` before the doors open
    (early access, a teaser): the floor is raised in stages, each with its own scheduled phase."""

    minutes_before_start: int = Field(ge=1, le=1440)
    fraction: float = Field(gt=0, lt=1)


# The most capacity a group can be given: MaxSize and DesiredCapacity are API Integers (32-bit), and AWS
# documents no smaller cap, weighted or not. Units, not instances: a memory-mib group
# counts each instance as its MiB, so 40 instances of 16 GiB are 655,360 units.
MAX_CAPACITY_UNITS = 2**31 - 1

# Far from datetime's ends, so that a plan's times (the doors less a lead, the end plus a restore) exist.
SALE_YEARS = (1970, 2999)
PEAK_MULTIPLIER_MAX = 100.0


@cache
def shipped_zones() -> frozenset[str]:
    """The IANA zone names of the tzdata package the Lambdas ship (requirements.txt), else this
    machine's."""
    try:
        from importlib.resources import files

        return frozenset(files("tzdata").joinpath("zones").read_text().split())
    except (ModuleNotFoundError, FileNotFoundError):
        from zoneinfo import available_timezones

        return frozenset(available_timezones())


class SaleEvent(_Strict):
    """A sale the team knows about: capacity goes in place before its doors open.

    Times are wall-clock times in `timezone` (an IANA name such as America/New_York): the stack turns
    them into EventBridge Scheduler `at()` schedules in that zone, so nobody converts to UTC by hand.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=40)
    start: datetime
    end: datetime
    timezone: str = Field(min_length=1)
    peak_multiplier: float | None = Field(
        default=None, gt=0, le=PEAK_MULTIPLIER_MAX, description="x normal demand then"
    )
    peak_requests_per_minute: float | None = Field(default=None, gt=0)
    temporary_max: int | None = Field(default=None, ge=1, le=MAX_CAPACITY_UNITS)
    ramp: list[RampStep] = Field(default_factory=list, max_length=10)
    # Scale-in stays frozen this long after the end, then capacity steps down with the load.
    hold_after_minutes: int = Field(default=30, ge=0, le=1440)
    # Release sooner: this many minutes after the doors open (if that comes first), the freeze ends and
    # the floor starts stepping down. The surge has arrived by then, and the reactive path keeps what
    # the load needs; demand that did not come no longer holds capacity. None: hold until the above.
    release_after_doors_minutes: int | None = Field(default=None, ge=1, le=1440)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # The Lambdas read zones from the tzdata package they ship, not the build machine's files, which
        # also hold names such as `localtime` or `posix/...` that would pass here and fail every start.
        if value not in shipped_zones():
            raise ValueError(f"unknown IANA time zone {value!r} (a name such as America/New_York)")
        return value

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, value: datetime) -> datetime:
        if value.tzinfo is not None:
            raise ValueError("give local wall-clock time without an offset; `timezone` says where")
        first, last = SALE_YEARS
        if not first <= value.year <= last:
            raise ValueError(f"{value.isoformat()} is not in a year a sale can be in ({first}-{last})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SaleEvent:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) is not after start ({self.start})")
        for field, when in (("start", self.start), ("end", self.end)):
            if not self._exists(when):
                raise ValueError(
                    f"{field} {when.isoformat()} does not exist in {self.timezone}: the clocks skip it "
                    "(a daylight-saving change); give a time the clocks show"
                )
        if (self.peak_multiplier is None) == (self.peak_requests_per_minute is None):
            raise ValueError("give exactly one of peak_multiplier and peak_requests_per_minute")
        steps = [(r.minutes_before_start, r.fraction) for r in self.ramp]
        if steps != sorted(steps, key=lambda s: -s[0]) or len({m for m, _ in steps}) != len(steps):
            raise ValueError("ramp steps must be listed earliest first, each at its own time")
        fractions = [f for _, f in steps]
        if fractions != sorted(fractions):
            raise ValueError("ramp fractions must not fall as the doors approach")
        self._check_max_kept_to_the_end()
        return self

    def _check_max_kept_to_the_end(self) -> None:
        """The temporary max is restored an hour after the release, and an early release can come hours
        before the end: the restore then cut desired to the old max mid-sale, and no decision could pass
        it for the rest of the sale the temporary max was declared for."""
        if self.temporary_max is None or self.release_after_doors_minutes is None:
            return
        from surgeguard.domain.sales import RESTORE_AFTER  # sales.py imports this module

        doors, end = (self.local(when).astimezone(UTC) for when in (self.start, self.end))
        release = min(
            end + timedelta(minutes=self.hold_after_minutes),
            doors + timedelta(minutes=self.release_after_doors_minutes),
        )
        restore = release + RESTORE_AFTER
        if restore < end:
            needed = math.ceil((end - doors - RESTORE_AFTER) / timedelta(minutes=1))
            local_restore = restore.astimezone(self.local(self.start).tzinfo).replace(tzinfo=None)
            raise ValueError(
                f"temporary_max ({self.temporary_max}) would be restored at {local_restore.isoformat()}, "
                f"before the sale ends at {self.end.isoformat()} (an hour after its release, "
                f"{self.release_after_doors_minutes} minutes after the doors), and no decision could pass "
                f"max for the rest of the sale; give release_after_doors_minutes of at least {needed}, "
                "or none"
            )

    def local(self, when: datetime) -> datetime:
        from zoneinfo import ZoneInfo

        return when.replace(tzinfo=ZoneInfo(self.timezone))

    def _exists(self, when: datetime) -> bool:
        """Whether the zone's clocks ever show `when` (in the hour skipped when they spring forward, they
        do not, and it would read as an hour later: a sale whose doors open after its end)."""
        local = self.local(when)
        return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) == when


# More spreads than this is no longer headroom for noise: it holds the peak whatever the spread.
# The noise headroom is anchored on at least 3 days with half their minutes known (requests and the
# group's metrics): stop 28's stitched measurement held the choice with 2 to 3 days of warm-up, and lost
# AMZN with 5.
ANCHOR_MIN_DAYS = 3
NOISE_SIGMAS_MAX = 10.0
NOISE_MAX_SHARE_OF_MEAN_MAX = 10.0


class NoiseHeadroom(_Strict):
    """Scale-in keeps capacity for the demand's own noise (`floor:noise`): not below what serves the
    mean of the last `window_minutes` of RequestCount plus `sigmas` times its minute-to-minute spread,
    at full load. Only holds capacity (a scale-in decision never raises it); needs a
    requests_per_target signal. At a few requests a minute noise is most of the load, and a fixed
    target's headroom is too little there and too much at high load: this is headroom where it is due.
    Off unless asked for: it pays where a minute's excess is lost (the benchmark's traces: README), not
    where instances queue it for seconds."""

    sigmas: float = Field(default=0.0, ge=0, le=NOISE_SIGMAS_MAX)  # 0: off; the benchmark's config uses 3
    window_minutes: int = Field(default=15, ge=5, le=60)
    # The headroom above the mean is at most this share of the mean (None: no cap).
    max_share_of_mean: float | None = Field(default=None, gt=0, le=NOISE_MAX_SHARE_OF_MEAN_MAX)
    # While the latest minute is within this many spreads of the mean, a signal asks no more than the
    # noise headroom (and the mean at the target): a noise spike is not scaled for. 0: off.
    band_sigmas: float = Field(default=0.0, ge=0, le=10)
    # Judged daily by the forecaster (README, "Noise headroom, judged"): where, over the last week or
    # more, the noise headroom would have dropped more than the same spend on target headroom, it stands
    # down (floor and band) and the signals aim at this share of their targets, until a later judgement
    # finds it pays again. None: never judged, always on.
    target_share_if_unpaid: float | None = Field(default=None, ge=0.5, le=1)
    # Anchored by the forecaster (README, "Noise headroom anchored to AWS"): once a day it replays AWS
    # target tracking at `anchor_target` on the group's last two weeks of requests, measures what the
    # group itself dropped and paid for (GroupInServiceInstances and GroupTotalInstances: the group's
    # metrics collection), and runs the noise headroom (sigmas and cap) at the smallest multiple up to 3x
    # predicted to beat target tracking on both counts. Off: as configured.
    anchored: bool = False
    # The target (percent of full load; a requests target at that share of it) target tracking is
    # replayed at: AWS recommends 50; a group run leaner or more generously than that anchors to target
    # tracking run the same way (the benchmark's knob: README, "Anchored knob settings").
    anchor_target: float = Field(default=50.0, ge=ANCHOR_TARGET_LOW, le=ANCHOR_TARGET_HIGH)


class ForecastConfig(_Strict):
    """Forecast floor from history: a scheduled forecaster fits daily and weekly seasonality to the
    load metric (up to 14 days) and writes an upper-percentile floor the reactive path respects."""

    # Of the seasonal floor only (forecast_only: record, never act); bursts have their own switch.
    mode: Literal["floor", "forecast_only"] = "floor"
    # At least 3: the fit needs 2 days of known 5-minute buckets, and RequestCount has gaps in any real
    # read (published minutes late, none in a minute without requests); with 2 days read, one missing
    # bucket meant no forecast, run after run.
    history_days: int = Field(default=14, ge=3, le=14)
    horizon_hours: int = Field(default=3, ge=1, le=24)
    percentile: float = Field(default=0.9, gt=0.5, lt=1.0)
    every_minutes: int = Field(default=60, ge=5, le=1440)
    # Bursts that recur at the same minute of the day (README, "Burst anticipation"): the forecaster
    # learns them from the same history, and the per-minute re-evaluation has capacity for the recent
    # level times the learned rise in place a launch-plus-warm-up ahead (`floor:burst`).
    anticipate_bursts: bool = True
    # ... and bursts that recur at the same minute of the hour, in at least this share of the learning
    # days' hours (README, "Bursts at a minute of the hour"; 0: that rule is off).
    hourly_burst_share: float = Field(default=BurstSettings.hourly_share, ge=0, le=1)
    # Size the group's EC2 warm pool (MaxGroupPreparedCapacity, PutWarmPool) to what the forecast, the
    # last week's peak and the sale calendar say the next hours could need (README, "Warm pools"). Off:
    # Surgeguard never touches a warm pool. On, a group without one gets one (Stopped, ReuseOnScaleIn).
    size_warm_pool: bool = False

    @model_validator(mode="after")
    def _runs_within_its_horizon(self) -> ForecastConfig:
        # Each run's floor and bursts hold for the horizon only: run every 4 hours with a 1-hour horizon
        # and they were in effect 1 hour in 4, while the staleness alarm, hearing runs, said nothing.
        if self.every_minutes > self.horizon_hours * 60:
            raise ValueError(
                f"every_minutes ({self.every_minutes}) is longer than the horizon ({self.horizon_hours} h): "
                "the floor would lapse between runs; run at least once a horizon"
            )
        return self


class GroupConfig(_Strict):
    name: str = Field(min_length=1, max_length=255, description="existing Auto Scaling group name")
    min: int = Field(ge=0)
    max: int = Field(ge=1, le=MAX_CAPACITY_UNITS)
    signals: list[Signal] = Field(min_length=1)
    composites: list[CompositeRule] = Field(default_factory=list)
    scale_out: DirectionPolicy = Field(default_factory=_default_out)
    scale_in: DirectionPolicy = Field(default_factory=_default_in)
    warmup_seconds: int = Field(default=240, ge=0, le=3600)
    # SetDesiredCapacity to InService (pending): with warmup_seconds, the lead time of a pre-warm.
    launch_seconds: int = Field(default=120, ge=0, le=3600)
    dry_run: bool | None = None
    notify_emails: EmailAddresses = Field(default_factory=list)
    events: list[SaleEvent] = Field(default_factory=list)
    forecast: ForecastConfig | None = None
    # What one instance serves at full load, in requests per minute (a load test measures it). Short
    # bursts and the noise headroom are met at it rather than at the steady state's target; unset,
    # at the requests signal's target, which buys more instances.
    requests_per_instance: float | None = Field(default=None, gt=0, le=1e9)
    _per_instance_within_cloudwatch = field_validator("requests_per_instance")(_within_cloudwatch)
    noise_headroom: NoiseHeadroom = Field(default_factory=NoiseHeadroom)
    # How the instances publish CPU. basic (the default, what a launch template gives unless it enables
    # detailed monitoring): EC2 every 5 minutes, so CPU alarms use 300 s periods; detailed: every minute;
    # high_resolution: the CloudWatch agent's cpu_usage_active, for 10 or 30 s periods. The default is
    # the one that cannot be wrong: a 60 s alarm on basic monitoring never fills and never scales in.
    monitoring: Monitoring = "basic"

    @model_validator(mode="before")
    @classmethod
    def _name_signals(cls, data: Any) -> Any:
        # A signal's id defaults to its kind, so one-signal-per-kind configs need no ids. With
        # high-resolution monitoring a CPU signal reads the agent's metric unless it names another.
        agent = isinstance(data, dict) and data.get("monitoring") == "high_resolution"
        if isinstance(data, dict) and isinstance(data.get("signals"), list):
            signals = []
            for raw in data["signals"]:
                if isinstance(raw, dict) and not raw.get("id") and isinstance(raw.get("kind"), str):
                    raw = {**raw, "id": raw["kind"]}
                if agent and isinstance(raw, dict) and raw.get("kind") == "cpu" and "namespace" not in raw:
                    raw = {"namespace": AGENT_CPU[0], "metric_name": AGENT_CPU[1], **raw}
                signals.append(raw)
            data = {**data, "signals": signals}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> GroupConfig:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        self._check_name_in_cloudwatch()
        self._check_name_quotable_in_alarm_rules()
        self._check_name_not_reserved()
        ids = [s.id for s in self.signals]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"signal ids must be unique, repeated: {duplicates}")
        composite_ids = [c.id for c in self.composites]
        repeated_rules = sorted({i for i in composite_ids if composite_ids.count(i) > 1})
        if repeated_rules:
            raise ValueError(f"composite ids must be unique, repeated: {repeated_rules}")
        for composite in self.composites:
            unknown = [i for i in composite.all_of if i not in ids]
            if unknown:
                raise ValueError(f"composite {composite.id!r} names unknown signals {unknown}")
            if composite.id in ids:
                raise ValueError(f"composite id {composite.id!r} collides with a signal id")
        names = [e.name for e in self.events]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"event names must be unique within a group, repeated: {repeated}")
        for event in self.events:
            if event.temporary_max is not None and event.temporary_max < self.max:
                raise ValueError(
                    f"event {event.name!r}: temporary_max ({event.temporary_max}) is below max ({self.max})"
                )
            per_instance = self.requests_target()
            if event.peak_requests_per_minute is not None and per_instance is None:
                raise ValueError(
                    f"event {event.name!r}: peak_requests_per_minute needs a requests_per_target signal "
                    "(what one instance serves); give peak_multiplier, or add the signal"
                )
            if event.peak_requests_per_minute is not None and per_instance is not None:
                ceiling = event.temporary_max or self.max
                # A tiny target over a huge peak overflows to infinity: more than any ceiling, said so.
                instances = event.peak_requests_per_minute / per_instance
                if not math.isfinite(instances) or instances - 1e-9 > ceiling:
                    needed = f"{math.ceil(instances - 1e-9)}" if math.isfinite(instances) else "more"
                    raise ValueError(
                        f"event {event.name!r}: a peak of {event.peak_requests_per_minute:g} requests/min "
                        f"needs {needed} instances at the requests target, above the {ceiling} allowed; "
                        "raise temporary_max"
                    )
        self._check_periods()
        self._check_cpu_metrics()
        return self

    def _check_periods(self) -> None:
        for direction in ("scale_out", "scale_in"):
            period = getattr(self, direction).period_seconds
            if period < 60:
                coarse = [s.id for s in self.signals if s.namespace in ONE_MINUTE_NAMESPACES]
                if coarse:
                    raise ValueError(
                        f"{direction}.period_seconds={period} needs high-resolution metrics, but "
                        f"signals {coarse} are published by AWS once a minute; use 60 or a "
                        "high-resolution CPU namespace such as CWAgent"
                    )
                if self.monitoring != "high_resolution":
                    raise ValueError(
                        f"{direction}.period_seconds={period} needs monitoring: high_resolution (the "
                        "CloudWatch agent publishing cpu_usage_active every 10 s)"
                    )

    def _check_cpu_metrics(self) -> None:
        for signal in self.signals:
            if not isinstance(signal, CpuSignal):
                continue
            where = (signal.namespace, signal.metric_name)
            if signal.namespace == EC2_CPU[0] and where != EC2_CPU:
                raise ValueError(f"signal {signal.id!r}: AWS/EC2 publishes CPU as CPUUtilization")
            if self.monitoring == "high_resolution" and signal.namespace == EC2_CPU[0]:
                raise ValueError(
                    f"signal {signal.id!r}: monitoring high_resolution reads CPU from the CloudWatch "
                    "agent (namespace CWAgent or your agent's namespace), EC2 never publishes below 60 s"
                )
            if signal.namespace == AGENT_CPU[0] and signal.metric_name == EC2_CPU[1]:
                raise ValueError(
                    f"signal {signal.id!r}: the CloudWatch agent publishes CPU as cpu_usage_active "
                    "(cpu plugin, measurement usage_active), not CPUUtilization"
                )
            if signal.namespace != EC2_CPU[0] and self.monitoring == "basic":
                raise ValueError(
                    f"signal {signal.id!r} reads the agent metric {signal.namespace}/{signal.metric_name}, "
                    "but monitoring basic describes EC2's 5-minute CPU: set detailed (the agent every "
                    "60 s) or high_resolution (every 10 s)"
                )

    def _check_name_not_reserved(self) -> None:
        """Auto Scaling takes any name; the audit table keeps two for itself, and a group so named would
        share their items: pausing the group `*` paused every group."""
        reserved = {
            keys.GLOBAL_CONTROL_SORT_KEY: "the kill switch of every group",
            keys.UNKNOWN_GROUP: "triggers that name no known group",
        }
        if self.name in reserved:
            raise ValueError(
                f"name {self.name!r} is the audit table's key for {reserved[self.name]}; "
                "Surgeguard cannot manage a group so named"
            )

    def _check_name_quotable_in_alarm_rules(self) -> None:
        """A composite's AlarmRule names each child alarm as ALARM("<its ARN>"), the group's name inside,
        and CloudWatch documents no escape (PutCompositeAlarm): a quote would end the name early and a
        backslash means nothing it promises, so the rule would not parse or would name another alarm."""
        unquotable = sorted({c for c in self.name if c in '"\\'})
        if self.composites and unquotable:
            raise ValueError(
                f"name {self.name!r} holds {' and '.join(unquotable)}: a composite alarm rule quotes its "
                "alarms' names in double quotes, with no escape CloudWatch documents; drop composites for "
                "this group, or manage a group whose name has neither"
            )

    def _check_name_in_cloudwatch(self) -> None:
        """Auto Scaling takes any Unicode name, tab and newline included; CloudWatch does not. An alarm
        name holds no ASCII control character, and a dimension value is ASCII only (PutMetricAlarm):
        such a name once validated here and failed the deploy."""
        if any(ord(c) < 32 or ord(c) == 127 for c in self.name):
            raise ValueError(
                f"name {self.name!r} holds an ASCII control character: CloudWatch refuses it in the alarm "
                "names Surgeguard makes from the group's name"
            )
        if self.name.isascii():
            return
        by_name = [s.id for s in self.signals if isinstance(s, CpuSignal | QueueBacklogSignal)]
        if self.forecast is not None:
            by_name.append("forecast (its staleness alarm)")
        if by_name:
            raise ValueError(
                f"name {self.name!r} is not ASCII, and CloudWatch dimension values are ASCII only: "
                f"{', '.join(by_name)} would alarm on a dimension holding the group's name (only ALB "
                "signals, dimensioned by target group, can serve a group so named)"
            )

    @model_validator(mode="after")
    def _forecast_reads_requests(self) -> GroupConfig:
        if self.forecast is not None and self.requests_target() is None:
            raise ValueError("forecast needs a requests_per_target signal (it forecasts ALB RequestCount)")
        if self.noise_headroom.target_share_if_unpaid is not None and not self.judges_noise_headroom():
            raise ValueError(
                "noise_headroom.target_share_if_unpaid needs the noise headroom on (sigmas > 0) and a "
                "forecast: the forecaster is what judges it"
            )
        if self.noise_headroom.anchored and not self.anchors_noise_headroom():
            raise ValueError(
                "noise_headroom.anchored needs the noise headroom on (sigmas > 0) and a forecast: the "
                "forecaster is what anchors it"
            )
        if (
            self.anchors_noise_headroom()
            and self.forecast is not None
            and self.forecast.history_days < ANCHOR_MIN_DAYS
        ):
            raise ValueError(
                f"noise_headroom.anchored judges at least {ANCHOR_MIN_DAYS} days: forecast.history_days "
                f"({self.forecast.history_days}) would never read them"
            )
        return self

    def anchors_noise_headroom(self) -> bool:
        return self.noise_headroom.anchored and self.forecast is not None and self.keeps_noise_headroom()

    def judges_noise_headroom(self) -> bool:
        return (
            self.noise_headroom.target_share_if_unpaid is not None
            and self.forecast is not None
            and self.keeps_noise_headroom()
        )

    def event(self, name: str) -> SaleEvent | None:
        return next((e for e in self.events if e.name == name), None)

    def signal(self, signal_id: str) -> Signal | None:
        return next((s for s in self.signals if s.id == signal_id), None)

    def requests_signal(self) -> RequestsPerTargetSignal | None:
        """The group's requests signal: its first `requests_per_target`, whose target group's RequestCount
        the forecaster, the noise headroom and its band read."""
        return next((s for s in self.signals if isinstance(s, RequestsPerTargetSignal)), None)

    def requests_target(self) -> float | None:
        """Requests per instance per minute the group is sized for, when it has that signal."""
        signal = self.requests_signal()
        return None if signal is None else signal.target

    def basic_ec2_cpu(self, signal: Signal) -> bool:
        """Whether `signal` is EC2's own CPU on basic monitoring: one datapoint per 5 minutes."""
        return (
            isinstance(signal, CpuSignal)
            and self.monitoring == "basic"
            and (signal.namespace, signal.metric_name) == EC2_CPU
        )

    def read_period(self, signal: Signal, direction: Direction = Direction.OUT) -> int:
        """The period a signal is read at for a decision in `direction`: EC2's own 5 minutes for CPU on
        basic monitoring (its one datapoint per 5 minutes, stamped when its period began), else that
        direction's alarm period, so that a scale-in is sized on what its alarm evaluated (a 60 s
        scale-in alarm's minute, not the last 10 s of a high-resolution CPU)."""
        if self.basic_ec2_cpu(signal):
            return BASIC_MONITORING_PERIOD
        policy = self.scale_in if direction is Direction.IN else self.scale_out
        return policy.period_seconds

    def read_lookback_periods(self) -> int:
        """How many of its own periods a signal's read looks back: the longer alarm's, and 5 more."""
        return max(self.scale_out.evaluation_periods, self.scale_in.evaluation_periods) + 5

    def read_window_seconds(self) -> int:
        """How far back a decision's read looks (its widest signal's periods x the lookback): a reading
        may have begun that long ago, and the launches since must be known to tell who produced it."""
        periods = (self.read_period(s, d) for s in self.signals for d in Direction)
        return max(periods) * self.read_lookback_periods()

    def lead_minutes(self) -> int:
        """Whole minutes from SetDesiredCapacity to serving (launch, then warm-up): how far ahead
        capacity for a forecast load must be asked for."""
        return (self.launch_seconds + self.warmup_seconds + 59) // 60

    def in_service_to_serving_minutes(self) -> int:
        """Whole minutes an instance is InService before it serves: the launch-to-serving time less the
        launch to InService (AWS counts an instance InService while it still warms up)."""
        return (max(0, self.warmup_seconds - self.launch_seconds) + 59) // 60

    def launch_to_serving_minutes(self) -> int:
        """Whole minutes from launch to serving: `warmup_seconds`, the fleet's launch-to-serving time
        (README, the config's fields); what AWS's own policies would wait for an instance, replayed."""
        return (self.warmup_seconds + 59) // 60

    def anticipates_bursts(self) -> bool:
        return self.forecast is not None and self.forecast.anticipate_bursts

    def full_load_requests(self) -> float | None:
        """What one instance serves at full load: `requests_per_instance`, else the requests target."""
        return (
            self.requests_per_instance if self.requests_per_instance is not None else self.requests_target()
        )

    def keeps_noise_headroom(self) -> bool:
        return self.noise_headroom.sigmas > 0 and self.requests_target() is not None

    def caps_noise_spikes(self) -> bool:
        return self.noise_headroom.band_sigmas > 0 and self.requests_target() is not None

    def gated_signal_ids(self) -> set[str]:
        """Signals that act only together, through a composite alarm."""
        return {i for c in self.composites for i in c.all_of}


class ManagedTag(_Strict):
    """The tag the platform team puts on every group Surgeguard may change: the Lambdas' IAM allows
    SetDesiredCapacity and UpdateAutoScalingGroup only on groups carrying it (no ARN list to outgrow)."""

    key: str = Field(default="surgeguard:managed", min_length=1, max_length=128, pattern=r"^[^*?]+$")
    value: str = Field(default="true", min_length=1, max_length=256, pattern=r"^[^*?]+$")


class ReservedConcurrency(_Strict):
    """Lambda concurrency kept for the scaler functions (null: none reserved). AWS refuses a reservation
    that leaves the account under 100 unreserved, so the account's limit must be at least the sum + 100."""

    reactive: int | None = Field(default=20, ge=1, le=1000)
    sale: int | None = Field(default=10, ge=1, le=1000)


class Deployment(_Strict):
    """One CDK stage: the same stack in `account`/`region`, deployed as `<name>/*`."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
    account: str = Field(pattern=r"^[0-9]{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")


# Groups one per-minute re-evaluation decides at most (see ScalerConfig.reevaluation_shards).
REEVALUATION_GROUPS_PER_SHARD = 50
# Reactive runs kept for alarm deliveries beside the re-evaluations (one per shard, started together
# every minute on the same function, each for up to half a minute at 50 groups).
ALARM_RUNS_BESIDE_REEVALUATION = 10


class ScalerConfig(_Strict):
    groups: list[GroupConfig] = Field(min_length=1)
    dry_run: bool = False
    notify_emails: EmailAddresses = Field(default_factory=list)
    audit_retention_days: int = Field(default=90, ge=1, le=3650)
    managed_tag: ManagedTag = Field(default_factory=ManagedTag)
    reserved_concurrency: ReservedConcurrency = Field(default_factory=ReservedConcurrency)
    deployments: list[Deployment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_groups(self) -> ScalerConfig:
        names = [g.name for g in self.groups]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"group names must be unique, repeated: {repeated}")
        stages = [d.name for d in self.deployments]
        repeated = sorted({n for n in stages if stages.count(n) > 1})
        if repeated:
            raise ValueError(f"deployment names must be unique, repeated: {repeated}")
        # Every stage deploys the whole stack for the same groups: two in one account and region would be
        # two scalers changing those groups, each taking the other's changes for an outside writer's.
        first_at: dict[tuple[str, str], str] = {}
        for deployment in self.deployments:
            where = (deployment.account, deployment.region)
            if where in first_at:
                raise ValueError(
                    f"deployments {first_at[where]} and {deployment.name} are both in account "
                    f"{deployment.account}, {deployment.region}: each would scale the same groups"
                )
            first_at[where] = deployment.name
        self._check_reactive_reservation()
        return self

    def _check_reactive_reservation(self) -> None:
        reserved = self.reserved_concurrency.reactive
        needed = self.reevaluation_shards + ALARM_RUNS_BESIDE_REEVALUATION
        if (
            "reactive" in self.reserved_concurrency.model_fields_set
            and reserved is not None
            and reserved < needed
        ):
            raise ValueError(
                f"reserved_concurrency.reactive ({reserved}) leaves too few runs for alarms beside the "
                f"{self.reevaluation_shards} re-evaluations that start together every minute for "
                f"{len(self.groups)} groups (one per {REEVALUATION_GROUPS_PER_SHARD}): they could take "
                "every slot, and alarm deliveries would wait in Lambda's retry queue instead of scaling; "
                f"give at least {needed}, or null (no reservation)"
            )

    @property
    def reactive_reserved_concurrency(self) -> int | None:
        """The reactive function's reservation: as configured (null: none), or the default grown with
        the groups, so that the re-evaluations started each minute never take every run (a fixed 20
        did from 1,000 groups, 20 shards)."""
        reserved = self.reserved_concurrency.reactive
        if reserved is None or "reactive" in self.reserved_concurrency.model_fields_set:
            return reserved
        return max(reserved, self.reevaluation_shards + ALARM_RUNS_BESIDE_REEVALUATION)

    def group(self, name: str) -> GroupConfig | None:
        return next((g for g in self.groups if g.name == name), None)

    @property
    def reevaluation_shards(self) -> int:
        """How many per-minute re-evaluation schedules the stack runs, each deciding its share of groups.

        One invocation decides its groups one after another (0.3-0.5 s each against the real APIs), so
        300 groups in ALARM at once would outlast the 60 s timeout and the same first ~130 would be the
        only ones ever re-evaluated. Shards of at most REEVALUATION_GROUPS_PER_SHARD fit comfortably.
        """
        return -(-len(self.groups) // REEVALUATION_GROUPS_PER_SHARD)

    def reevaluation_shard(self, shard: int) -> frozenset[str]:
        """The groups one re-evaluation shard decides: every n-th group in config order (balanced)."""
        return frozenset(g.name for g in self.groups[shard :: self.reevaluation_shards])

    def is_dry_run(self, group: GroupConfig) -> bool:
        return self.dry_run if group.dry_run is None else group.dry_run

    def alarms(self, prefix: str) -> Iterator[AlarmSpec]:
        """Every alarm the stack creates, in a stable order; the Lambda maps names back with it."""
        for group in self.groups:
            gated = group.gated_signal_ids()
            for signal in group.signals:
                for direction in Direction:
                    yield AlarmSpec(
                        name=alarm_name(prefix, group.name, signal.id, direction),
                        group=group.name,
                        rule=signal.id,
                        direction=direction,
                        # A gated signal's high alarm only feeds its composite; it notifies nobody.
                        notifies=not (direction is Direction.OUT and signal.id in gated),
                    )
            for composite in group.composites:
                yield AlarmSpec(
                    name=alarm_name(prefix, group.name, composite.id, Direction.OUT),
                    group=group.name,
                    rule=composite.id,
                    direction=Direction.OUT,
                    notifies=True,
                    composite_of=tuple(
                        alarm_name(prefix, group.name, i, Direction.OUT) for i in composite.all_of
                    ),
                )


class AlarmSpec(_Strict):
    name: str
    group: str
    rule: str
    direction: Direction
    notifies: bool
    composite_of: tuple[str, ...] = ()


# CloudWatch alarm names are 1-255 characters (PutMetricAlarm, PutCompositeAlarm); group names may be 255.
ALARM_NAME_MAX = 255
_NAME_HASH = 10  # hex digits of SHA-256 of the whole group name: distinct long names stay distinct


def alarm_name(prefix: str, group: str, rule: str, direction: Direction) -> str:
    """`prefix/group/rule/direction`; when that passes 255 characters the group part is cut and ends in
    `~` + a hash of the whole group name, so the name stays unique, deterministic and prefixed (the
    topic policy and the Lambda match `prefix/*`). The Lambda maps names back through `alarms()`,
    which calls this same function, never by parsing the name."""
    name = f"{prefix}/{group}/{rule}/{direction.value}"
    if len(name) <= ALARM_NAME_MAX:
        return name
    import hashlib

    digest = hashlib.sha256(group.encode()).hexdigest()[:_NAME_HASH]
    room = ALARM_NAME_MAX - len(f"{prefix}//{rule}/{direction.value}") - len(digest) - 1
    if room < 1:
        raise ValueError(f"alarm prefix {prefix!r} and rule {rule!r} leave no room for the group name")
    return f"{prefix}/{group[:room]}~{digest}/{rule}/{direction.value}"


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"]).lstrip(".")
        lines.append(f"  {path or '(root)'}: {item['msg']}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "config") -> ScalerConfig:
    try:
        return ScalerConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source} is invalid:\n{_format_errors(error)}") from None


def load_config(path: str | Path) -> ScalerConfig:
    """Read the YAML (or JSON) config; raise ConfigError naming the file and every bad field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:  # saved as UTF-16 or Latin-1 by an editor: once a traceback
        raise ConfigError(f"config {path} is not UTF-8 (byte {error.start}): save it as UTF-8") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_json_object)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path} is not valid JSON: {error}") from None
        except _RepeatedKeyError as error:
            raise ConfigError(f"{path} {error}") from None
        except RecursionError:
            raise ConfigError(f"{path} {TOO_DEEP}") from None
    else:
        from surgeguard.config_yaml import YamlConfigError, load_yaml

        try:
            data = load_yaml(text)
        except YamlConfigError as error:
            raise ConfigError(f"{path} {error}") from None
    return parse_config(data, source=str(path))


# Nested past Python's recursion limit, a reader raised RecursionError: a traceback out of every command.
TOO_DEEP = "nests lists or mappings too deep to read"


class _RepeatedKeyError(ValueError):
    pass


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose key repeats would keep only its last value (a second "events" drops the
    first list's sales without a word): refused instead."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _RepeatedKeyError(f"has key {key!r} twice in one object: only the last would be kept")
        data[key] = value
    return data


def config_json(config: ScalerConfig) -> str:
    return config.model_dump_json(by_alias=True, exclude_none=True)
