"""Surgeguard's own standing in the benchmark, pinned so it cannot slip (BENCHMARK.md's goals 1 and 2).

On every month-long minute trace, Surgeguard at its default setting (the real service code, through
real-shaped SNS events, with its forecaster's burst anticipation and its noise headroom) drops no more
AND costs no more than both classic target-tracking policies and 10-second target tracking (the
milestone), and drops no more than the lowest of them and step scaling while costing no more than the
cheapest (the box). The five-year appserver trace is left to `surgeguard bench` (README): it takes
minutes, not seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.baselines import (
    StepScaling,
    target_tracking_cpu,
    target_tracking_hires,
    target_tracking_requests,
)
from gameday.engine import simulate
from gameday.goals import box, milestone
from gameday.surgeguard_policy import SurgeguardPolicy
from gameday.traces import load_trace

MONTH_LONG = ["nasa-aug95", "twitter-stream-2021-08", "worldcup98-may30-jun30-5min"]


@pytest.mark.parametrize("name", MONTH_LONG)
def test_surgeguard_passes_the_milestone_and_sits_in_the_box(name: str, traces_dir: Path) -> None:
    trace = load_trace(traces_dir / f"{name}.csv")
    policies = {
        aws.name: simulate(trace, aws).metrics
        for aws in [target_tracking_cpu(), target_tracking_requests(), target_tracking_hires(), StepScaling()]
    }
    policies["surgeguard"] = simulate(trace, SurgeguardPolicy(keep_records=False)).metrics
    # The same verdicts `surgeguard bench` prints under the table.
    for verdict in (milestone(policies["surgeguard"], policies), box(policies["surgeguard"], policies)):
        assert verdict.met, verdict.line()


def test_the_in_memory_audit_keeps_every_record_when_asked(traces_dir: Path) -> None:
    # The game day reads these records back; the benchmark only counts them.
    trace = load_trace(traces_dir / "azure-llm-conv-2023-11-16.csv")
    policy = SurgeguardPolicy()
    simulate(trace, policy)
    assert policy.aws is not None
    assert policy.aws.audit_count == len(policy.aws.records) > 0
    assert {r["outcome"] for r in policy.aws.records} <= {"applied", "unchanged", "skipped"}


def test_request_history_follows_the_engine_as_it_appends_and_starts_again_on_a_new_run() -> None:
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from gameday.engine import ReadOnlySeries
    from gameday.surgeguard_policy import InMemoryAws

    nan = float("nan")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items: list[float] = [3.0, nan, 5.0]
    aws = InMemoryAws({})

    def history(series: ReadOnlySeries, minute: int, first: int, last: int) -> list[float | None]:
        aws.view = SimpleNamespace(  # type: ignore[assignment]
            now=start + timedelta(minutes=minute), minute=minute, history=SimpleNamespace(requests=series)
        )
        return aws.request_history(None, start + timedelta(minutes=first), start + timedelta(minutes=last))  # type: ignore[arg-type]

    series = ReadOnlySeries(items)
    assert history(series, 3, -2, 3) == [None, None, 3.0, None, 5.0]
    items.extend([nan, 7.0])
    assert history(series, 5, 1, 7) == [None, 5.0, None, 7.0, None, None]
    # A new run (a new series) is read from its own start, not from the previous run's minutes.
    assert history(ReadOnlySeries([1.0, 2.0]), 2, 0, 2) == [1.0, 2.0]


def test_fleet_history_is_the_groups_metrics_by_the_minute_none_outside_the_trace_and_in_gaps() -> None:
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from gameday.engine import ReadOnlySeries
    from gameday.surgeguard_policy import InMemoryAws

    nan = float("nan")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    requests = [3.0, nan, 5.0, 6.0, nan, 8.0]
    in_service = [2, 2, 3, 4, 4, 5]
    instances = [2, 3, 4, 4, 5, 5]
    aws = InMemoryAws({})
    aws.view = SimpleNamespace(  # type: ignore[assignment]
        now=start + timedelta(minutes=6),
        minute=6,
        history=SimpleNamespace(
            requests=ReadOnlySeries(requests),
            in_service=ReadOnlySeries([float(n) for n in in_service]),
            instances=ReadOnlySeries([float(n) for n in instances]),
        ),
    )

    def by_definition(series: list[int], first: int, last: int) -> list[float | None]:
        return [
            float(series[m]) if 0 <= m < len(series) and requests[m] == requests[m] else None
            for m in range(first, last)
        ]

    # Read as slices (a lookup a minute was most of the bench's daily anchor judgement): every window,
    # before the trace, across it, past the view, and empty, is the per-minute definition.
    for first in range(-4, 10):
        for last in range(-4, 10):
            read = aws.fleet_history(None, start + timedelta(minutes=first), start + timedelta(minutes=last))  # type: ignore[arg-type]
            assert read == (by_definition(in_service, first, last), by_definition(instances, first, last))
    assert aws.fleet_history(None, start - timedelta(minutes=1), start + timedelta(minutes=3)) == (  # type: ignore[arg-type]
        [None, 2.0, None, 3.0],
        [None, 2.0, None, 4.0],
    )


def test_a_random_walk_load_has_its_noise_headroom_judged_and_stood_down_after_a_week() -> None:
    """The bench runs the forecaster's daily judgement through the same service as the Lambda: on a load
    that moves like a random walk (5-minute counts, as AAPL's tweets), no verdict before a week of
    history, then the noise headroom stands down and the signals aim at the lower target."""
    import math
    import random
    from datetime import datetime, timedelta

    from gameday.traces import Trace

    rng = random.Random(7)
    center = math.log(400.0)
    level, demand = center, []
    for _ in range(9 * 1440 // 5):
        level += rng.gauss(0, 0.45) - 0.05 * (level - center)
        demand.extend([math.exp(level)] * 5)
    policy = SurgeguardPolicy()
    simulate(Trace.from_demand("random-walk", demand), policy)
    assert policy.aws is not None
    records = policy.aws.records
    forecasts = [r for r in records if "forecast" in r]
    judged = [r for r in forecasts if "headroom" in r["forecast"]]
    # Hourly forecasts from day 2; the first verdict once a week of minutes can be replayed.
    assert forecasts and judged
    first_forecast, first_verdict = (datetime.fromisoformat(r["at"]) for r in (forecasts[0], judged[0]))
    assert first_verdict - first_forecast >= timedelta(days=4)
    assert all("not judged yet" in r["reason"] for r in forecasts if "headroom" not in r["forecast"])
    assert not judged[-1]["forecast"]["headroom"]["noise_pays"]
    # Judged once a day: a verdict is kept by the hourly runs until it is a day old.
    times = sorted({r["forecast"]["headroom"]["judged_at"] for r in judged})
    assert 1 <= len(times) <= 3 and len(judged) > 24
    stood_down = [r for r in records if "stood_down" in r.get("noise", {})]
    assert stood_down and all(r["noise"]["target_share"] == 0.83 for r in stood_down)
    assert min(r["at"] for r in stood_down) >= judged[0]["at"]  # the same minute at the earliest
