"""Shared helpers for the simulation-engine tests: trace location and small synthetic fleets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gameday.engine import ComputedReference, Policy, simulate
from gameday.fleet import FleetSizing
from gameday.traces import Trace

REPO_ROOT = Path(__file__).resolve().parents[3]
# The shared traces live beside the repository, not in it: a user's clone has none.
SHARED_TRACES = REPO_ROOT / ".." / "shared" / "traces"


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    if not SHARED_TRACES.is_dir():
        pytest.skip(f"shared traces not found at {SHARED_TRACES} (they sit beside the repository checkout)")
    return SHARED_TRACES


StepRunner = Callable[[Policy | ComputedReference, float, int], tuple[int, int]]


def step_trace(base: float, multiplier: float, before: int = 60, held: int = 60) -> Trace:
    """Flat demand `base`, then `multiplier` x base held for `held` minutes."""
    return Trace.from_demand("step", [base] * before + [base * multiplier] * held)


def step_sizing(base: float, initial: int = 10, max_size: int = 30) -> FleetSizing:
    """BENCHMARK.md's step test fleet: c = base / 5, so `initial` = 10 instances run at 50% CPU."""
    return FleetSizing(capacity_per_instance=base / 5, min_size=2, max_size=max_size, initial_size=initial)


def first_minute(values: list[bool], start: int) -> int:
    """Minutes after `start` until the first True at or after it."""
    for minute in range(start, len(values)):
        if values[minute]:
            return minute - start
    raise AssertionError("never happened")


@pytest.fixture
def run_step() -> StepRunner:
    """(minutes until desired first rises, minutes until the demand is fully served) after the step."""

    def run(policy: Policy | ComputedReference, multiplier: float, max_size: int) -> tuple[int, int]:
        base, before = 100.0, 60
        trace = step_trace(base, multiplier, before=before)
        sizing = step_sizing(base, max_size=max_size)
        result = simulate(trace, policy, sizing=sizing)
        series = result.series
        raised = [desired > sizing.initial_size for desired in series.desired]
        served = [
            serving * sizing.capacity_per_instance >= d
            for serving, d in zip(series.serving, trace.demand, strict=True)
        ]
        return first_minute(raised, before), first_minute(served, before)

    return run


@pytest.fixture
def days(tmp_path: Path) -> Path:
    """Three days with a daily surge, as a bench CSV: the forecaster runs, so the knob moves more than
    the target, and the noise headroom, the signals and the scale-in limits each hold capacity at times."""
    minutes = 3 * 1440
    rows = [200 + 150 * ((m // 90) % 3) + (400 if m % 1440 in range(600, 615) else 0) for m in range(minutes)]
    path = tmp_path / "days.csv"
    path.write_text("minute,requests\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)), encoding="utf-8")
    return path
