"""The minute loop: one policy, one trace, one simulated Auto Scaling group, per BENCHMARK.md."""

from __future__ import annotations

import dataclasses
import enum
import heapq
import math
import random
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, overload, runtime_checkable

from gameday.alarms import AlarmTransition, Comparison, MetricAlarm
from gameday.fleet import (
    CEIL_TOLERANCE,
    DEFAULT_PARAMS,
    Fleet,
    FleetParams,
    FleetSizing,
    ceil_tol,
    size_fleet,
)
from gameday.traces import Trace
from gameday.warm_pool import WarmPoolFleet, WarmPoolParams

DEFAULT_START = datetime(2026, 11, 27, tzinfo=UTC)
_NO_DATA = math.nan
# How often (in minutes) the progress callback is told where the loop is.
PROGRESS_EVERY_MINUTES = 1 << 16


class Metric(enum.StrEnum):
    """The per-minute datapoints the simulated group publishes (CloudWatch metric names)."""

    CPU = "CPUUtilization"
    REQUESTS_PER_TARGET = "RequestCountPerTarget"
    REQUESTS = "RequestCount"


@dataclass(frozen=True)
class DeclaredEvent:
    """A sale the team declared: wall-clock start (with offset), duration and expected peak multiplier."""

    start: datetime
    duration_minutes: int
    peak_multiplier: float

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("event start needs a UTC offset (e.g. 2026-11-27T00:00-05:00)")
        if self.duration_minutes <= 0:
            raise ValueError("event duration must be > 0 minutes")
        if not math.isfinite(self.peak_multiplier) or self.peak_multiplier <= 0:
            raise ValueError("event peak multiplier must be a finite number > 0")

    def start_minute(self, trace_start: datetime) -> float:
        """Minute of the trace at which the event starts (may be fractional or negative)."""
        return (self.start - trace_start).total_seconds() / 60.0


@dataclass(frozen=True)
class ScheduledAction:
    """An Auto Scaling scheduled action: at `minute`, set any of desired, min and max."""

    minute: int
    desired: int | None = None
    min_size: int | None = None
    max_size: int | None = None
    name: str = "scheduled"


class ReadOnlySeries(Sequence[float]):
    """A read-only window on one of the engine's per-minute lists (gap minutes hold NaN)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[float]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> list[float]: ...

    def __getitem__(self, index: int | slice) -> float | list[float]:
        return self._items[index]

    def __iter__(self) -> Iterator[float]:
        return iter(self._items)


@dataclass(frozen=True)
class MetricHistory:
    """Datapoints of minutes 0..t-1 (what CloudWatch has at the start of minute t); NaN in gaps.

    `serving` is the number of serving instances that produced each datapoint: target tracking
    multiplies the metric by it to size the group. `in_service`: the instances past pending, warming ones
    included, as AWS/AutoScaling GroupInServiceInstances counts them; `instances`: all of them, pending
    ones included (GroupTotalInstances).
    """

    cpu: ReadOnlySeries
    requests_per_target: ReadOnlySeries
    requests: ReadOnlySeries
    serving: ReadOnlySeries
    in_service: ReadOnlySeries = field(default_factory=lambda: ReadOnlySeries([]))
    instances: ReadOnlySeries = field(default_factory=lambda: ReadOnlySeries([]))

    def series(self, metric: Metric) -> ReadOnlySeries:
        if metric is Metric.CPU:
            return self.cpu
        if metric is Metric.REQUESTS_PER_TARGET:
            return self.requests_per_target
        return self.requests


class CloudWatch:
    """Holds the alarms policies create; the engine feeds them one datapoint per minute."""

    def __init__(self, history: MetricHistory) -> None:
        self._history = history
        self.alarms: list[tuple[MetricAlarm, list[float]]] = []

    def create_alarm(
        self,
        name: str,
        metric: Metric,
        threshold: float,
        comparison: Comparison,
        evaluation_periods: int,
        datapoints_to_alarm: int | None = None,
    ) -> MetricAlarm:
        """PutMetricAlarm on the group's 1-minute metric; evaluated at the start of every minute."""
        alarm = MetricAlarm(
            name, metric.value, threshold, comparison, evaluation_periods, datapoints_to_alarm
        )
        # The engine's list itself, so evaluation is one index per alarm and minute.
        self.alarms.append((alarm, self._history.series(metric)._items))
        return alarm

    def evaluate(self, minute: int, transitions: list[AlarmTransition]) -> None:
        """Feed every alarm the datapoint of minute-1 (NaN in a gap: history lost); collect changes."""
        for alarm, values in self.alarms:
            transition = alarm.evaluate(values[minute - 1], minute)
            if transition is not None:
                transitions.append(transition)


class Scheduler:
    """Scheduled actions; AWS documents they can start up to 2 minutes late (seeded lateness)."""

    def __init__(self, rng: random.Random, max_delay_minutes: int) -> None:
        self._rng = rng
        self._max_delay = max_delay_minutes
        self._sequence = 0
        self.queue: list[tuple[int, int, ScheduledAction]] = []

    def schedule(self, action: ScheduledAction) -> None:
        """PutScheduledUpdateGroupAction; fires at the first non-gap minute >= its (late) time."""
        delay = self._rng.randint(0, self._max_delay) if self._max_delay else 0
        self._sequence += 1
        heapq.heappush(self.queue, (action.minute + delay, self._sequence, action))

    def pop_due(self, minute: int) -> list[ScheduledAction]:
        due = []
        while self.queue and self.queue[0][0] <= minute:
            due.append(heapq.heappop(self.queue)[2])
        return due

    def apply_due(self, minute: int, fleet: Fleet, limits: tuple[int, int]) -> tuple[int, int]:
        """Run the actions due at `minute` on the fleet; returns the group's new (min, max)."""
        min_size, max_size = limits
        for action in self.pop_due(minute):
            if action.min_size is not None:
                min_size = action.min_size
            if action.max_size is not None:
                max_size = action.max_size
            # As in AWS, new limits pull desired inside them.
            target = fleet.total if action.desired is None else action.desired
            target = min(max_size, max(min_size, target))
            if target != fleet.total:
                fleet.set_desired(target, minute)
        return min_size, max_size


@dataclass(frozen=True)
class PolicyContext:
    """What a policy learns once, before minute 0 (Policy.reset)."""

    trace_name: str
    minutes: int
    start: datetime
    sizing: FleetSizing
    params: FleetParams
    events: tuple[DeclaredEvent, ...]
    cloudwatch: CloudWatch
    scheduler: Scheduler
    seed: int
    # The whole trace. Only the `clairvoyant` reference may read ahead; real policies must not.
    lookahead_demand: Sequence[float] = field(repr=False, default=())
    # The group's warm pool (None: the default fleet model, no pool).
    warm_pool: WarmPoolParams | None = None
    # The pool beside the simulated group, for a policy that sizes it (PutWarmPool); None without a pool.
    warm_pool_fleet: WarmPoolFleet | None = field(repr=False, default=None)

    def minute_of(self, when: datetime) -> float:
        """Trace minute of a wall-clock time (fractional; negative before the trace)."""
        return (when - self.start).total_seconds() / 60.0


class PolicyView:
    """Read-only state at the start of minute t, before the decision. Valid only during decide()."""

    __slots__ = (
        "_minute",
        "_now",
        "_desired",
        "_min_size",
        "_max_size",
        "_fleet",
        "_transitions",
        "_context",
        "_history",
    )

    def __init__(self, context: PolicyContext, fleet: Fleet, history: MetricHistory) -> None:
        self._context = context
        self._fleet = fleet
        self._history = history
        self._minute = 0
        self._now = context.start
        self._desired = fleet.total
        self._min_size = context.sizing.min_size
        self._max_size = context.sizing.max_size
        self._transitions: tuple[AlarmTransition, ...] = ()

    def _move_to(self, minute: int) -> None:
        """The engine's (and the load test's) step to the start of `minute`."""
        self._minute = minute
        self._now = self._context.start + timedelta(minutes=minute)

    @property
    def minute(self) -> int:
        return self._minute

    @property
    def now(self) -> datetime:
        """Wall-clock time of the start of this minute (set with the minute: a decision asks often)."""
        return self._now

    @property
    def desired(self) -> int:
        return self._desired

    @property
    def pending(self) -> int:
        return self._fleet.pending(self._minute)

    @property
    def warming(self) -> int:
        return self._fleet.warming(self._minute)

    @property
    def not_serving(self) -> int:
        """Pending + warming: the instances that will serve but do not yet."""
        return self._fleet.not_serving(self._minute)

    @property
    def serving(self) -> int:
        return self._fleet.serving(self._minute)

    def launched_within(self, minutes: int) -> int:
        """Instances in the group launched less than `minutes` minutes ago (instance warm-up)."""
        return self._fleet.launched_within(self._minute, minutes)

    @property
    def capacity_per_instance(self) -> float:
        return self._context.sizing.capacity_per_instance

    @property
    def min_size(self) -> int:
        """Current group minimum (scheduled actions may change it)."""
        return self._min_size

    @property
    def max_size(self) -> int:
        return self._max_size

    @property
    def params(self) -> FleetParams:
        return self._context.params

    @property
    def history(self) -> MetricHistory:
        return self._history

    @property
    def alarm_transitions(self) -> tuple[AlarmTransition, ...]:
        """Alarm state changes since the previous decide() call (including those during a gap)."""
        return self._transitions

    @property
    def events(self) -> tuple[DeclaredEvent, ...]:
        return self._context.events

    @property
    def warm_pool(self) -> WarmPoolFleet | None:
        """The group's warm pool, for a policy that sizes it (PutWarmPool): None in the default fleet
        model and when the bench holds every policy to a static pool."""
        pool = self._context.warm_pool_fleet
        return pool if pool is not None and pool.pool_params.resizable else None


class Policy(Protocol):
    """A scaling policy: called at the start of every non-gap minute; returns a new desired or None."""

    name: str

    def reset(self, ctx: PolicyContext) -> None: ...

    def decide(self, view: PolicyView) -> int | None: ...


@runtime_checkable
class ComputedReference(Protocol):
    """A reference that is not simulated but computed: it gives the serving (= billed) fleet per minute."""

    name: str

    def fleet_series(self, ctx: PolicyContext) -> Sequence[int]: ...


PolicyFactory = Callable[[], Policy | ComputedReference]
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class PolicyMetrics:
    """The numbers BENCHMARK.md reports per trace and policy (gap minutes left out of all of them)."""

    dropped_pct: float
    overload_minutes: int
    instance_hours: float
    cost_vs_oracle: float
    actions: int
    # With a warm pool only: stopped pool instance-hours (already priced into instance_hours at the
    # pool's cost fraction) and instances drawn from the pool.
    warm_pool_hours: float | None = None
    warm_starts: int | None = None

    def as_dict(self) -> dict[str, float | int]:
        numbers: dict[str, float | int] = {
            "dropped_pct": self.dropped_pct,
            "overload_minutes": self.overload_minutes,
            "instance_hours": self.instance_hours,
            "cost_vs_oracle": self.cost_vs_oracle,
            "actions": self.actions,
        }
        if self.warm_pool_hours is not None:
            numbers["warm_pool_hours"] = self.warm_pool_hours
        if self.warm_starts is not None:
            numbers["warm_starts"] = self.warm_starts
        return numbers


@dataclass(frozen=True)
class FleetSeries:
    """Per-minute series for plotting; `billed` = pending + warming + serving."""

    demand: Sequence[float]
    gap: Sequence[bool]
    served: array[float]
    serving: array[int]
    desired: array[int]
    billed: array[int]
    # Desired before minute 0 (the group's starting size), so a change at minute 0 counts as an action.
    initial_desired: int | None = None
    # With a warm pool: pool instances still initialising (full price) and stopped (at the fraction).
    pool_initialising: array[int] | None = None
    pool_stopped: array[int] | None = None
    pool_cost_fraction: float = 0.0
    warm_starts: int = 0


@dataclass(frozen=True)
class SimulationResult:
    trace_name: str
    policy_name: str
    sizing: FleetSizing
    params: FleetParams
    metrics: PolicyMetrics
    series: FleetSeries


_Result = TypeVar("_Result")


def run_each(
    function: Callable[..., _Result], calls: Sequence[tuple[Any, ...]], jobs: int = 1
) -> list[_Result]:
    """`function(*call)` for each call, in order; with `jobs` > 1 in that many worker processes (the
    bench's and the frontier's runs are independent and deterministic, so the results are the same)."""
    if jobs <= 1:
        return [function(*call) for call in calls]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(function, *call) for call in calls]
        return [future.result() for future in futures]


def oracle_instance_minutes(trace: Trace, capacity_per_instance: float) -> int:
    """Sum over non-gap minutes of ceil(d / c): exactly the capacity needed, never late."""
    c = capacity_per_instance
    return sum(ceil_tol(d / c) for d, is_gap in zip(trace.demand, trace.gap, strict=True) if not is_gap)


def simulate(
    trace: Trace,
    policy: Policy | ComputedReference,
    *,
    params: FleetParams = DEFAULT_PARAMS,
    sizing: FleetSizing | None = None,
    start: datetime = DEFAULT_START,
    events: Sequence[DeclaredEvent] = (),
    seed: int = 0,
    oracle_minutes: int | None = None,
    progress: ProgressCallback | None = None,
    warm_pool: WarmPoolParams | None = None,
) -> SimulationResult:
    """Replay `trace` through a fresh group driven by `policy`; deterministic for a given seed.

    `warm_pool` puts a warm pool beside the group (README's protocol); the computed references
    (oracle, clairvoyant) are not simulated and ignore it.
    """
    if sizing is None:
        sizing = size_fleet(trace, params)
    if oracle_minutes is None:
        oracle_minutes = oracle_instance_minutes(trace, sizing.capacity_per_instance)
    history = MetricHistory(ReadOnlySeries([]), ReadOnlySeries([]), ReadOnlySeries([]), ReadOnlySeries([]))
    rng = random.Random(seed)
    pool_fleet = (
        None if warm_pool is None else WarmPoolFleet(sizing.initial_size, params, warm_pool, sizing.max_size)
    )
    context = PolicyContext(
        trace_name=trace.name,
        minutes=trace.minutes,
        start=start,
        sizing=sizing,
        params=params,
        events=tuple(events),
        cloudwatch=CloudWatch(history),
        scheduler=Scheduler(rng, params.scheduled_action_delay_minutes),
        seed=seed,
        lookahead_demand=trace.demand,
        warm_pool=warm_pool,
        warm_pool_fleet=pool_fleet,
    )
    if isinstance(policy, ComputedReference):
        series = _computed_series(trace, sizing, policy.fleet_series(context))
    else:
        series = _run(trace, policy, context, history, progress)
    metrics = measure(series, sizing.capacity_per_instance, oracle_minutes)
    return SimulationResult(trace.name, policy.name, sizing, params, metrics, series)


def measure(series: FleetSeries, capacity_per_instance: float, oracle_minutes: int) -> PolicyMetrics:
    """BENCHMARK.md's numbers from the per-minute series, leaving gap minutes out."""
    c = capacity_per_instance
    # Overloaded = needed more instances than served, with ceil()'s tolerance: ceil_tol(d / c) > serving.
    slack = CEIL_TOLERANCE * c
    dropped = offered = 0.0
    overload = billed = actions = 0
    previous_desired = series.initial_desired
    for d, is_gap, serving, desired, instances in zip(
        series.demand, series.gap, series.serving, series.desired, series.billed, strict=True
    ):
        if previous_desired is not None and desired != previous_desired:
            actions += 1
        previous_desired = desired
        if is_gap:
            continue
        capacity = serving * c
        offered += d
        billed += instances
        if d > capacity + slack:
            dropped += d - capacity
            overload += 1
    dropped_pct = 100.0 * dropped / offered if offered > 0 else 0.0
    if series.pool_stopped is None or series.pool_initialising is None:
        hours = billed / 60.0
        return PolicyMetrics(
            dropped_pct=dropped_pct,
            overload_minutes=overload,
            instance_hours=hours,
            cost_vs_oracle=billed / oracle_minutes if oracle_minutes else math.inf,
            actions=actions,
        )
    # Cost = running instance-minutes (the group, and pool instances at their first boot) + the
    # stopped-cost fraction x stopped pool instance-minutes; gap minutes left out as above.
    initialising = stopped = 0
    for is_gap, booting, idle in zip(series.gap, series.pool_initialising, series.pool_stopped, strict=True):
        if not is_gap:
            initialising += booting
            stopped += idle
    priced = billed + initialising + series.pool_cost_fraction * stopped
    return PolicyMetrics(
        dropped_pct=dropped_pct,
        overload_minutes=overload,
        instance_hours=priced / 60.0,
        cost_vs_oracle=priced / oracle_minutes if oracle_minutes else math.inf,
        actions=actions,
        warm_pool_hours=stopped / 60.0,
        warm_starts=series.warm_starts,
    )


def _computed_series(trace: Trace, sizing: FleetSizing, fleet: Sequence[int]) -> FleetSeries:
    c = sizing.capacity_per_instance
    serving = array("q", fleet)
    slack = CEIL_TOLERANCE * c
    served = array(
        "d", (d if d <= n * c + slack else n * c for d, n in zip(trace.demand, serving, strict=True))
    )
    return FleetSeries(trace.demand, trace.gap, served, serving, array("q", serving), array("q", serving))


def _run(
    trace: Trace,
    policy: Policy,
    context: PolicyContext,
    history: MetricHistory,
    progress: ProgressCallback | None,
) -> FleetSeries:
    # Hot loop: millions of minutes on hourly traces, hence locals and bound methods.
    sizing = context.sizing
    c = sizing.capacity_per_instance
    min_size, max_size = sizing.min_size, sizing.max_size
    pool = context.warm_pool_fleet
    fleet = Fleet(sizing.initial_size, context.params) if pool is None else pool
    slack = CEIL_TOLERANCE * c  # as in measure(): within ceil()'s tolerance counts as served
    # The longest age at which an instance may still not serve (a warm start's is shorter).
    serving_age = fleet.serving_age
    launch_minutes = fleet.launch_minutes
    view = PolicyView(context, fleet, history)
    scheduler = context.scheduler
    scheduled = scheduler.queue
    transitions: list[AlarmTransition] = []
    served_series: array[float] = array("d")
    serving_series: array[int] = array("q")
    desired_series: array[int] = array("q")
    billed_series: array[int] = array("q")
    add_served, add_serving = served_series.append, serving_series.append
    add_desired, add_billed = desired_series.append, billed_series.append
    pool_initialising_series: array[int] = array("q")
    pool_stopped_series: array[int] = array("q")
    add_cpu = history.cpu._items.append
    add_rpt = history.requests_per_target._items.append
    add_requests = history.requests._items.append
    add_serving_history = history.serving._items.append
    add_in_service_history = history.in_service._items.append
    add_instances_history = history.instances._items.append
    decide = policy.decide
    desired = fleet.total
    policy.reset(context)
    cloudwatch = context.cloudwatch
    alarms = cloudwatch.alarms  # the list policies add to, in reset() or later

    demand, gap = trace.demand, trace.gap
    minutes = len(demand)
    for chunk_start in range(0, minutes, PROGRESS_EVERY_MINUTES):
        if progress is not None:
            progress(chunk_start, minutes)
        for t in range(chunk_start, min(minutes, chunk_start + PROGRESS_EVERY_MINUTES)):
            # Alarms see the datapoint of minute t-1 now (NaN after a gap minute: history lost).
            if t and alarms:
                cloudwatch.evaluate(t, transitions)
            in_gap = gap[t]
            if not in_gap:
                if scheduled and scheduled[0][0] <= t:
                    min_size, max_size = scheduler.apply_due(t, fleet, (min_size, max_size))
                    desired = fleet.total
                    view._min_size, view._max_size = min_size, max_size
                view._move_to(t)
                view._desired = desired
                if transitions:
                    view._transitions = tuple(transitions)
                    transitions.clear()
                    decision = decide(view)
                    view._transitions = ()
                else:
                    decision = decide(view)
                if decision is not None:
                    decision = min(max_size, max(min_size, decision))
                    if decision != desired:
                        fleet.set_desired(decision, t)
                        desired = decision
            if pool is not None:
                # The pool keeps refilling in a gap too: Auto Scaling runs whatever the metrics do.
                pool.refill(t, max_size)
                pool_initialising_series.append(pool.pool_initialising)
                pool_stopped_series.append(pool.pool_ready)
            total = fleet.total
            if launch_minutes and launch_minutes[-1] > t - serving_age:
                serving = total - fleet.not_serving(t)
                in_service = total - fleet.pending(t)
            else:
                serving = in_service = total
            d = demand[t]
            capacity = serving * c
            add_served(d if d <= capacity + slack else capacity)
            add_serving(serving)
            add_desired(desired)
            add_billed(total)
            add_serving_history(serving)
            add_in_service_history(in_service)
            add_instances_history(total)
            if in_gap:
                add_cpu(_NO_DATA)
                add_rpt(_NO_DATA)
                add_requests(_NO_DATA)
            else:
                if serving > 0:
                    add_cpu(100.0 if d >= capacity else 100.0 * d / capacity)
                    add_rpt(d / serving)
                else:
                    add_cpu(100.0 if d > 0 else 0.0)
                    add_rpt(d)
                add_requests(d)
    return _finish(
        trace,
        FleetSeries(
            demand, gap, served_series, serving_series, desired_series, billed_series, sizing.initial_size
        ),
        pool,
        (pool_initialising_series, pool_stopped_series),
        progress,
    )


def _finish(
    trace: Trace,
    series: FleetSeries,
    pool: WarmPoolFleet | None,
    pool_series: tuple[array[int], array[int]],
    progress: ProgressCallback | None,
) -> FleetSeries:
    """The loop's series, with the pool's when the group had one; the progress line at 100 %."""
    if progress is not None:
        progress(trace.minutes, trace.minutes)
    if pool is None:
        return series
    return dataclasses.replace(
        series,
        pool_initialising=pool_series[0],
        pool_stopped=pool_series[1],
        pool_cost_fraction=pool.pool_params.stopped_cost_fraction,
        warm_starts=pool.warm_starts,
    )
