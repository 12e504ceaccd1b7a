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
