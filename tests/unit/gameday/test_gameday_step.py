"""BENCHMARK.md's step test and the AWS user guide's step-scaling example."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gameday.baselines import (
    Clairvoyant,
    SeedRule,
    StepScaling,
    target_tracking_cpu,
    target_tracking_requests,
)
from gameday.engine import ComputedReference, Policy, simulate
from gameday.fleet import FleetSizing
from gameday.traces import Trace
from surgeguard.domain.anchors import percent_adjustment

StepRunner = Callable[[Policy | ComputedReference, float, int], tuple[int, int]]


@pytest.mark.parametrize(
    ("factory", "raised_after", "served_after"),
    [
        (target_tracking_cpu, 3, 7),
        (target_tracking_requests, 3, 7),
        (StepScaling, 1, 15),
        (SeedRule, 1, 9),
    ],
    ids=["tt-cpu", "tt-requests", "step", "seed-rule"],
)
def test_4x_step(
    run_step: StepRunner, factory: Callable[[], Policy], raised_after: int, served_after: int
) -> None:
    assert run_step(factory(), 4.0, 30) == (raised_after, served_after)


@pytest.mark.parametrize(
    ("factory", "served_after"),
    [(target_tracking_cpu, 17), (target_tracking_requests, 7)],
    ids=["tt-cpu-doubles-per-round", "tt-requests"],
)
def test_10x_step(run_step: StepRunner, factory: Callable[[], Policy], served_after: int) -> None:
    # max = ceil(1.5 * peak / c) = 75, the protocol's default for this trace; 30 could never serve 10x.
    assert run_step(factory(), 10.0, 75)[1] == served_after


def test_clairvoyant_sees_the_step_coming(run_step: StepRunner) -> None:
    _, served_after = run_step(Clairvoyant(), 4.0, 30)
    assert served_after == 0  # it launched 4 minutes ahead of the step


def test_step_scaling_user_guide_10_11_13() -> None:
    """10 instances; CPU in [60, 70) adds 10% -> 11; while it warms CPU >= 70 adds 30% of 10 -> 13."""
    c = 10.0
    demand = [50.0] * 5 + [65.0, 80.0, 80.0] + [50.0] * 3
    demand = [d * 10 * c / 100 for d in demand]  # CPU % of 10 serving instances
    trace = Trace.from_demand("aws-example", demand)
    sizing = FleetSizing(capacity_per_instance=c, min_size=2, max_size=100, initial_size=10)
    desired = list(simulate(trace, StepScaling(), sizing=sizing).series.desired)
    assert desired[:6] == [10] * 6
    assert desired[6] == 11  # datapoint of minute 5 (65%) acted on at minute 6
    assert desired[7] == 13  # 30% of the base 10 (the new instance is still warming), not of 11
    assert desired[8] == 13  # the same datapoint level again does not add twice


@pytest.mark.parametrize(
    ("capacity", "percent", "expected"),
    [
        (10, 10, 1),
        (10, 30, 3),
        (13, 30, 3),
        (42, 30, 12),
        (3, 10, 1),
        (5, -10, -1),
        (10, -30, -3),
        (22, -30, -6),
        (0, 30, 0),
    ],
)
def test_percent_adjustment_rounds_like_aws(capacity: int, percent: int, expected: int) -> None:
    assert percent_adjustment(capacity, percent) == expected
