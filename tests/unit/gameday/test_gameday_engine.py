"""The minute loop and fleet model: timing, conservation, gaps, determinism, metrics."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gameday.alarms import AlarmState
from gameday.baselines import POLICIES, Clairvoyant, Oracle, SeedRule, forward_max, target_tracking_cpu
from gameday.engine import (
    DEFAULT_START,
    DeclaredEvent,
    PolicyContext,
    PolicyView,
    ScheduledAction,
    simulate,
)
from gameday.fleet import FleetParams, FleetSizing, ceil_tol, cpu_utilization, requests_per_target, size_fleet
from gameday.traces import Trace


def sizing(c: float = 10.0, initial: int = 2, min_size: int = 2, max_size: int = 100) -> FleetSizing:
    return FleetSizing(capacity_per_instance=c, min_size=min_size, max_size=max_size, initial_size=initial)


class Scripted:
    """Sets desired at given minutes and records what it saw."""

    name = "scripted"

    def __init__(self, script: dict[int, int] | None = None) -> None:
        self.script = script or {}
        self.seen: list[tuple[int, int, int, int, int]] = []
        self.called: list[int] = []
        self.transitions: list[tuple[int, str]] = []
        self.context: PolicyContext | None = None

    def reset(self, ctx: PolicyContext) -> None:
        self.context = ctx

    def decide(self, view: PolicyView) -> int | None:
        self.called.append(view.minute)
        self.seen.append((view.minute, view.desired, view.pending, view.warming, view.serving))
        self.transitions += [(t.minute, t.new_state.value) for t in view.alarm_transitions]
        return self.script.get(view.minute)


def test_launched_instance_is_pending_then_warming_then_serving() -> None:
    trace = Trace.from_demand("flat", [15.0] * 12)
    policy = Scripted({5: 5})
    result = simulate(trace, policy, sizing=sizing())
    by_minute = {minute: (pending, warming, serving) for minute, _, pending, warming, serving in policy.seen}
    assert by_minute[6] == (3, 0, 2)
    assert by_minute[7] == (0, 3, 2)
    assert by_minute[8] == (0, 3, 2)
    assert by_minute[9] == (0, 0, 5)
    assert list(result.series.serving) == [2] * 9 + [5] * 3
    assert list(result.series.billed) == [2] * 5 + [5] * 7  # billed from launch


def test_scale_in_removes_youngest_first() -> None:
    trace = Trace.from_demand("flat", [50.0] * 12)
    result = simulate(trace, Scripted({5: 14, 6: 12, 7: 8}), sizing=sizing(initial=10))
    assert list(result.series.billed[5:8]) == [14, 12, 8]
    # Minute 7 removed the 2 remaining pending ones, then 2 serving: none of minute 5 survives.
    assert list(result.series.serving) == [10] * 7 + [8] * 5


def test_desired_is_clamped_to_the_group_limits() -> None:
    trace = Trace.from_demand("flat", [50.0] * 6)
    result = simulate(trace, Scripted({1: 1000, 3: 0}), sizing=sizing(initial=3, min_size=2, max_size=7))
    assert list(result.series.desired) == [3, 7, 7, 2, 2, 2]
    assert result.metrics.actions == 2


class RandomWalk:
    """Seeded random desired changes, checking conservation on every call."""

    name = "random-walk"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.checked = 0

    def reset(self, ctx: PolicyContext) -> None:
        pass

    def decide(self, view: PolicyView) -> int | None:
        assert view.pending + view.warming + view.serving == view.desired
        assert view.launched_within(view.params.serving_age) == view.pending + view.warming
        self.checked += 1
        if self.rng.random() < 0.3:
            return view.desired + self.rng.randint(-6, 6)
        return None


def test_instances_are_conserved() -> None:
    rng = random.Random(7)
    trace = Trace.from_demand("noise", [rng.uniform(10, 300) for _ in range(2000)])
    policy = RandomWalk(3)
    result = simulate(trace, policy, sizing=sizing(initial=5, max_size=40))
    assert policy.checked == trace.minutes
    series = result.series
    assert list(series.desired) == list(series.billed)
    assert all(0 <= serving <= billed for serving, billed in zip(series.serving, series.billed, strict=True))
    assert all(
        served == (d if d <= serving * 10.0 + 1e-8 else serving * 10.0)
        for served, d, serving in zip(series.served, trace.demand, series.serving, strict=True)
    )


def test_two_runs_give_the_same_output() -> None:
    rng = random.Random(11)
    trace = Trace.from_demand("noise", [rng.uniform(10, 500) for _ in range(3000)])
    params = FleetParams(scheduled_action_delay_minutes=2)
    for name, factory in POLICIES.items():
        first = simulate(trace, factory(), params=params, seed=5)
        second = simulate(trace, factory(), params=params, seed=5)
        assert first.metrics == second.metrics, name
        assert first.series == second.series, name


class HistoryProbe:
    """Checks that only datapoints of minutes <= t-1 are visible at minute t."""

    name = "probe"

    def __init__(self, demand: tuple[float, ...]) -> None:
        self.demand = demand

    def reset(self, ctx: PolicyContext) -> None:
        pass

    def decide(self, view: PolicyView) -> int | None:
        t = view.minute
        history = view.history
        assert len(history.cpu) == len(history.requests) == len(history.requests_per_target) == t
        if t:
            assert history.requests[-1] == self.demand[t - 1]
            assert history.cpu[-1] == cpu_utilization(self.demand[t - 1], int(history.serving[-1]), 10.0)
            assert history.requests_per_target[-1] == requests_per_target(
                self.demand[t - 1], int(history.serving[-1])
            )
        return None


def test_datapoint_of_minute_t_is_visible_from_t_plus_1() -> None:
    demand = tuple(float(10 * (i % 7) + 1) for i in range(50))
    simulate(Trace.from_demand("saw", demand), HistoryProbe(demand), sizing=sizing(initial=3))


def test_cpu_saturates_and_requests_per_target_does_not() -> None:
    assert cpu_utilization(300.0, 2, 100.0) == 100.0
    assert cpu_utilization(100.0, 2, 100.0) == 50.0
    assert cpu_utilization(5.0, 0, 100.0) == 100.0
    assert cpu_utilization(0.0, 0, 100.0) == 0.0
    assert requests_per_target(300.0, 2) == 150.0


def gap_trace() -> Trace:
    return Trace.from_demand("gappy", [40.0] * 30 + [0.0] * 25 + [40.0] * 30)


def test_gap_minutes_call_no_policy_and_produce_no_datapoint() -> None:
    trace = gap_trace()
    policy = Scripted()
    simulate(trace, policy, sizing=sizing(initial=4))
    assert policy.called == list(range(30)) + list(range(55, 85))


def test_alarms_lose_history_in_a_gap() -> None:
    trace = gap_trace()

    class Watcher(Scripted):
        def reset(self, ctx: PolicyContext) -> None:
            super().reset(ctx)
            self.alarm = target_tracking_cpu()
            self.alarm.reset(ctx)

    policy = Watcher()
    simulate(trace, policy, sizing=sizing(initial=10))  # CPU 40 < 45: the low alarm fires at minute 15
    assert (15, "ALARM") in policy.transitions
    # Told at the first call after the gap; 15 fresh datapoints later (55..69) it is in ALARM again.
    assert (31, "INSUFFICIENT_DATA") in policy.transitions
    assert (70, "ALARM") in policy.transitions
    assert policy.alarm.low is not None and policy.alarm.low.state is AlarmState.ALARM


def test_metrics_leave_gap_minutes_out() -> None:
    trace = gap_trace()
    result = simulate(trace, Scripted(), sizing=sizing(c=10.0, initial=2))
    # 60 non-gap minutes, 40 demand on 20 capacity: half dropped, every minute overloaded.
    assert result.metrics.dropped_pct == pytest.approx(50.0)
    assert result.metrics.overload_minutes == 60
    assert result.metrics.instance_hours == pytest.approx(2 * 60 / 60)
    assert result.metrics.cost_vs_oracle == pytest.approx(0.5)  # oracle: 4 per non-gap minute
    assert history_is_nan_in_gap(trace)


def history_is_nan_in_gap(trace: Trace) -> bool:
    seen: list[float] = []

    class Last(Scripted):
        def decide(self, view: PolicyView) -> int | None:
            if view.minute == 55:
                seen.extend(view.history.cpu)
            return None

    simulate(trace, Last(), sizing=sizing(initial=4))
    return all(math.isnan(v) for v in seen[30:55]) and not any(math.isnan(v) for v in seen[:30])


def test_oracle_cost_is_exact_on_a_toy_trace() -> None:
    trace = Trace.from_demand("toy", [10.0, 25.0, 0.0, 7.0, 30.000000000001])
    result = simulate(trace, Oracle(), sizing=sizing(c=10.0))
    assert list(result.series.billed) == [1, 3, 0, 1, 3]  # ceil with 1e-9 tolerance
    assert result.metrics.instance_hours == pytest.approx(8 / 60)
    assert result.metrics.dropped_pct == 0.0
    assert result.metrics.cost_vs_oracle == 1.0


def test_clairvoyant_sizes_for_the_next_four_minutes() -> None:
    demand = [10.0] * 10 + [90.0] + [10.0] * 10
    trace = Trace.from_demand("spike", demand)
    result = simulate(trace, Clairvoyant(), sizing=sizing(c=10.0, initial=2))
    expected = [min(100, max(2, ceil_tol(max(demand[t : t + 5]) / 10.0 / 0.9))) for t in range(len(demand))]
    assert list(result.series.desired) == expected
    assert result.metrics.dropped_pct == 0.0


def test_a_change_at_minute_0_is_an_action() -> None:
    trace = Trace.from_demand("flat", [10.0] * 5)
    result = simulate(trace, Scripted({0: 4}), sizing=sizing(initial=2))
    assert result.metrics.actions == 1


def test_forward_max() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    assert forward_max(values, 3) == [max(values[i : i + 3]) for i in range(len(values))]


def test_size_fleet_follows_the_protocol() -> None:
    demand = [100.0, 50.0, 50.0, 50.0, 50.0] + [50.0] * 20 + [500.0]
    fleet = size_fleet(Trace.from_demand("t", demand))
    assert fleet.capacity_per_instance == 10.0  # median 50 / 5
    assert fleet.max_size == 75  # ceil(1.5 * 500 / 10)
    assert fleet.initial_size == 20  # ceil(100 / (0.5 * 10))


def test_size_fleet_uses_the_mean_when_the_median_is_zero_and_ignores_gaps() -> None:
    demand = [0.0] * 10 + [100.0] * 3 + [0.0] * 30 + [60.0]
    trace = Trace.from_demand("sparse", demand)
    # non-gap minutes: 10 zeros (the run at minute 0 is not a gap), 3 x 100, 1 x 60 -> median 0
    fleet = size_fleet(trace)
    assert fleet.capacity_per_instance == pytest.approx((300 + 60) / 14 / 5)
    assert fleet.initial_size == 2


def test_scheduled_action_fires_on_time_or_up_to_the_delay_late() -> None:
    trace = Trace.from_demand("flat", [30.0] * 40)

    class Planner(Scripted):
        def reset(self, ctx: PolicyContext) -> None:
            ctx.scheduler.schedule(ScheduledAction(minute=10, desired=8))

    on_time = simulate(trace, Planner(), sizing=sizing(initial=3))
    assert list(on_time.series.desired).index(8) == 10
    lateness = {
        list(
            simulate(trace, Planner(), sizing=sizing(initial=3), params=late, seed=seed).series.desired
        ).index(8)
        - 10
        for seed in range(40)
        for late in [FleetParams(scheduled_action_delay_minutes=2)]
    }
    assert lateness == {0, 1, 2}


def test_events_and_wall_clock_reach_the_policy() -> None:
    start = datetime(2026, 11, 26, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    event = DeclaredEvent(start=start + timedelta(hours=1), duration_minutes=240, peak_multiplier=4.0)
    seen: list[tuple[datetime, tuple[DeclaredEvent, ...]]] = []

    class Reader(Scripted):
        def decide(self, view: PolicyView) -> int | None:
            seen.append((view.now, view.events))
            return None

    policy = Reader()
    simulate(Trace.from_demand("flat", [30.0] * 3), policy, sizing=sizing(), start=start, events=[event])
    assert seen[2] == (start + timedelta(minutes=2), (event,))
    assert policy.context is not None and policy.context.minute_of(event.start) == 60.0
    assert event.start_minute(start) == 60.0
    assert datetime(2026, 11, 27, tzinfo=UTC) == DEFAULT_START


def test_event_needs_an_offset() -> None:
    with pytest.raises(ValueError):
        DeclaredEvent(start=datetime(2026, 11, 27), duration_minutes=60, peak_multiplier=2.0)


def test_seed_rule_waits_300_s_between_scale_ins() -> None:
    trace = Trace.from_demand("idle", [10.0] * 40)  # 10% CPU on 10 instances of c = 10
    desired = list(simulate(trace, SeedRule(), sizing=sizing(initial=10)).series.desired)
    # 15 datapoints (minutes 0..14) are visible at minute 15; then one step every 5 minutes.
    assert desired[14:16] == [10, 9]
    assert desired[19:21] == [9, 8]
    assert desired[24:26] == [8, 7]


def test_target_tracking_scale_in_waits_for_warm_up() -> None:
    # Low CPU: the low alarm fires at 15 (15 of 15 datapoints < 45%) but an instance launched at 13
    # is warming until 16, so scale-in happens only at 17.
    policy = target_tracking_cpu()

    class Launcher:
        name = "launcher"

        def reset(self, ctx: PolicyContext) -> None:
            policy.reset(ctx)

        def decide(self, view: PolicyView) -> int | None:
            if view.minute == 13:
                return view.desired + 1
            return policy.decide(view)

    trace = Trace.from_demand("idle", [30.0] * 30)  # 30% CPU on 10 instances of c = 10
    desired = list(simulate(trace, Launcher(), sizing=sizing(initial=10)).series.desired)
    assert desired[13:17] == [11, 11, 11, 11]
    assert desired[17] == ceil_tol(10 * 30.0 / 50)  # n = 10 serving produced the 30% datapoint
