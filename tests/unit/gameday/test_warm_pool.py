"""The warm pool lever of the fleet model (README's benchmark protocol), off by default.

AWS semantics pinned here, from the EC2 Auto Scaling user guide, "Warm pools for Amazon EC2 Auto
Scaling", and the PutWarmPool API reference: the pool holds MaxGroupPreparedCapacity (default: the
group's max size) minus desired, never below MinSize; scale-out draws on it first; scale-in terminates
unless ReuseOnScaleIn; stopped instances cost only their volumes.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

import pytest

from gameday.baselines import StepScaling, target_tracking_cpu, target_tracking_hires
from gameday.engine import FleetSeries, Policy, PolicyView, measure, simulate
from gameday.fleet import DEFAULT_PARAMS
from gameday.traces import Trace
from gameday.warm_pool import WarmPoolConfig, WarmPoolFleet, WarmPoolParams
from tests.unit.gameday.conftest import first_minute, step_sizing, step_trace

REUSE = WarmPoolParams(WarmPoolConfig(reuse_on_scale_in=True))


@pytest.mark.parametrize(
    ("config", "desired", "max_size", "size"),
    [
        # The user guide's examples: desired 6, max 10 -> 4; MaxGroupPreparedCapacity 8 -> 2.
        (WarmPoolConfig(), 6, 10, 4),
        (WarmPoolConfig(max_group_prepared_capacity=8), 6, 20, 2),
        # "If the desired capacity ... is higher than the MaxGroupPreparedCapacity, the capacity of
        # the warm pool is 0, unless you specify a value for MinSize."
        (WarmPoolConfig(max_group_prepared_capacity=8), 9, 20, 0),
        (WarmPoolConfig(max_group_prepared_capacity=8, min_size=3), 9, 20, 3),
        # "Only when MaxGroupPreparedCapacity and MinSize are set to the same value does the warm pool
        # have an absolute size."
        (WarmPoolConfig(max_group_prepared_capacity=5, min_size=5), 2, 20, 5),
        (WarmPoolConfig(max_group_prepared_capacity=5, min_size=5), 12, 20, 5),
    ],
)
def test_pool_size_as_aws_documents(config: WarmPoolConfig, desired: int, max_size: int, size: int) -> None:
    assert config.pool_size(desired, max_size) == size


def _step_run(policy: Policy, warm_pool: WarmPoolParams | None) -> tuple[int, int]:
    base, before = 100.0, 60
    trace = step_trace(base, 4.0, before=before)
    sizing = step_sizing(base)
    series = simulate(trace, policy, sizing=sizing, warm_pool=warm_pool).series
    raised = [desired > sizing.initial_size for desired in series.desired]
    served = [
        serving * sizing.capacity_per_instance >= d
        for serving, d in zip(series.serving, trace.demand, strict=True)
    ]
    return first_minute(raised, before), first_minute(served, before)


@pytest.mark.parametrize(
    ("factory", "cold", "warm"),
    [(target_tracking_hires, (1, 5), (1, 3)), (target_tracking_cpu, (3, 7), (3, 5))],
    ids=["tt-hires", "tt-cpu"],
)
def test_a_warm_start_serves_two_minutes_sooner(
    factory: Callable[[], Policy], cold: tuple[int, int], warm: tuple[int, int]
) -> None:
    """BENCHMARK.md's 4x step: 10 instances of max 30, so the default pool holds 20 stopped ones."""
    assert _step_run(factory(), None) == cold
    assert _step_run(factory(), WarmPoolParams()) == warm


class _Scripted:
    """Sets desired at given minutes; records what the view says about the instances."""

    name = "scripted"

    def __init__(self, script: dict[int, int]) -> None:
        self.script = script
        self.seen: list[tuple[int, int, int, int]] = []

    def reset(self, ctx: object) -> None:
        self.seen.clear()

    def decide(self, view: PolicyView) -> int | None:
        self.seen.append((view.minute, view.pending, view.warming, view.serving))
        return self.script.get(view.minute)


def _flat(minutes: int = 20) -> Trace:
    return Trace.from_demand("flat", [100.0] * minutes)


def test_draw_refill_and_cost_without_reuse() -> None:
    """Pool 10 - 4 = 6 stopped. Out to 7 at minute 2: 3 warm starts (pending at 2, warming at 3,
    serving from 4), and the pool is not refilled (the group holds them). In to 4 at minute 10:
    terminated, and 3 fresh instances boot into the pool at full price for 4 minutes, then stop."""
    sizing = step_sizing(100.0, initial=4, max_size=10)
    policy = _Scripted({2: 7, 10: 4})
    series = simulate(_flat(), policy, sizing=sizing, warm_pool=WarmPoolParams()).series
    assert series.pool_stopped is not None and series.pool_initialising is not None
    assert list(series.pool_stopped) == [6] * 2 + [3] * 8 + [3] * 4 + [6] * 6
    assert list(series.pool_initialising) == [0] * 10 + [3] * 4 + [0] * 6
    assert [seen[1:] for seen in policy.seen[2:5]] == [(0, 0, 4), (0, 3, 4), (0, 0, 7)]
    assert list(series.serving[:6]) == [4, 4, 4, 4, 7, 7]
    assert series.warm_starts == 3
    metrics = measure(series, sizing.capacity_per_instance, oracle_minutes=100)
    running = sum(series.billed) + 12
    stopped = 6 * 2 + 3 * 12 + 6 * 6
    assert metrics.instance_hours == pytest.approx((running + 0.03 * stopped) / 60)
    assert metrics.cost_vs_oracle == pytest.approx((running + 0.03 * stopped) / 100)
    assert metrics.warm_pool_hours == pytest.approx(stopped / 60)
    assert metrics.warm_starts == 3


def test_reuse_on_scale_in_returns_instances_to_the_pool() -> None:
    sizing = step_sizing(100.0, initial=4, max_size=10)
    series = simulate(_flat(), _Scripted({2: 7, 10: 4}), sizing=sizing, warm_pool=REUSE).series
    assert series.pool_initialising is not None and series.pool_stopped is not None
    assert list(series.pool_initialising) == [0] * 20  # nothing boots: the three went back stopped
    assert list(series.pool_stopped[9:11]) == [3, 6]


def test_a_surplus_returned_still_booting_is_terminated_first() -> None:
    """Pool of 1 (MaxGroupPreparedCapacity 5, desired 4): out to 6 draws 1 and launches 1 cold at
    minute 2; back to 4 at minute 3 returns the cold one (booting until 6) and the warm one."""
    sizing = step_sizing(100.0, initial=4, max_size=10)
    pool = WarmPoolParams(WarmPoolConfig(max_group_prepared_capacity=5, reuse_on_scale_in=True))
    series = simulate(_flat(), _Scripted({2: 6, 3: 4}), sizing=sizing, warm_pool=pool).series
    assert series.pool_initialising is not None and series.pool_stopped is not None
    # Minute 3: the warm one is back stopped; the cold one boots on at full price until minute 6;
    # the pool's size is 1, so the surplus that costs full price is terminated first.
    assert list(series.pool_stopped[:5]) == [1, 1, 0, 1, 1]
    assert list(series.pool_initialising[:8]) == [0] * 8


def test_an_empty_pool_changes_nothing() -> None:
    """MaxGroupPreparedCapacity 0: no pool, the same numbers as the default fleet model."""
    demand = [100.0 * (1 + (minute // 30) % 3) for minute in range(600)]
    trace = Trace.from_demand("waves", demand)
    empty = WarmPoolParams(WarmPoolConfig(max_group_prepared_capacity=0))
    for factory in (target_tracking_cpu, StepScaling):
        plain = simulate(trace, factory()).metrics
        pooled = simulate(trace, factory(), warm_pool=empty).metrics
        assert pooled.warm_pool_hours == 0 and pooled.warm_starts == 0
        assert (pooled.dropped_pct, pooled.instance_hours, pooled.actions) == (
            plain.dropped_pct,
            plain.instance_hours,
            plain.actions,
        )


def test_the_default_fleet_model_has_no_pool() -> None:
    result = simulate(_flat(), _Scripted({2: 7}), sizing=step_sizing(100.0, initial=4, max_size=10))
    assert result.series.pool_stopped is None
    assert result.metrics.warm_pool_hours is None
    assert "warm_pool_hours" not in result.metrics.as_dict()


def test_put_warm_pool_resizes_from_the_next_refill() -> None:
    fleet = WarmPoolFleet(4, DEFAULT_PARAMS, WarmPoolParams(), max_size=10)
    assert fleet.pool_ready == 6
    fleet.put_warm_pool(WarmPoolConfig(max_group_prepared_capacity=6))
    fleet.refill(0, 10)
    assert (fleet.pool_ready, fleet.pool_initialising) == (2, 0)
    fleet.put_warm_pool(WarmPoolConfig(min_size=8))
    fleet.refill(1, 10)
    assert (fleet.pool_ready, fleet.pool_initialising) == (2, 6)
    fleet.refill(5, 10)
    assert (fleet.pool_ready, fleet.pool_initialising) == (8, 0)
    assert fleet.pool_launches == 6


def test_measure_prices_the_pool() -> None:
    series = FleetSeries(
        demand=[10.0, 10.0, 0.0],
        gap=[False, False, True],
        served=array("d", [10.0, 10.0, 0.0]),
        serving=array("q", [2, 2, 2]),
        desired=array("q", [2, 2, 2]),
        billed=array("q", [2, 2, 2]),
        pool_initialising=array("q", [1, 0, 5]),
        pool_stopped=array("q", [3, 4, 9]),
        pool_cost_fraction=0.5,
    )
    metrics = measure(series, 5.0, oracle_minutes=4)
    # Gap minute left out: running 4 + booting 1, stopped 7 at half price.
    assert metrics.instance_hours == pytest.approx((5 + 3.5) / 60)
    assert metrics.cost_vs_oracle == pytest.approx(8.5 / 4)
