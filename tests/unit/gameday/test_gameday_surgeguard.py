"""Surgeguard's own standing in the benchmark: BENCHMARK.md's first milestone, pinned so it cannot slip.

On every month-long minute trace, Surgeguard (the real service code, through real-shaped SNS events)
drops no more AND costs no more than both classic target-tracking policies, and than 10-second target
tracking (TT-hires) where that holds: not on twitter, whose clock-aligned bursts the reactive path
meets a minute late; there the burst anticipation passes it (README). The five-year appserver trace is
left to `surgeguard bench` (README): it takes minutes, not seconds.
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
from gameday.surgeguard_policy import SurgeguardPolicy, Tuning
from gameday.traces import load_trace
from surgeguard.domain.forecast import BurstSettings

MONTH_LONG = ["nasa-aug95", "twitter-stream-2021-08", "worldcup98-may30-jun30-5min"]


@pytest.mark.parametrize("name", MONTH_LONG)
def test_surgeguard_drops_no_more_and_costs_no_more_than_target_tracking(name: str, traces_dir: Path) -> None:
    trace = load_trace(traces_dir / f"{name}.csv")
    ours = simulate(trace, SurgeguardPolicy(keep_records=False)).metrics
    anchors = [target_tracking_cpu(), target_tracking_requests()]
    if name != "twitter-stream-2021-08":
        anchors.append(target_tracking_hires())
    for aws in anchors:
        theirs = simulate(trace, aws).metrics
        assert ours.dropped_pct <= theirs.dropped_pct, (aws.name, ours, theirs)
        assert ours.instance_hours <= theirs.instance_hours, (aws.name, ours, theirs)


@pytest.mark.slow
def test_anticipation_passes_the_milestone_with_tt_hires_on_twitter(traces_dir: Path) -> None:
    """Twitter's bursts start at the same minutes of the hour; anticipating them cuts drops from
    5.49 % to 2.47 % (measured 2026-11-29) and passes every classic and hires anchor."""
    trace = load_trace(traces_dir / "twitter-stream-2021-08.csv")
    ours = simulate(trace, SurgeguardPolicy(Tuning(anticipation=BurstSettings()), keep_records=False)).metrics
    for aws in (target_tracking_cpu(), target_tracking_requests(), target_tracking_hires(), StepScaling()):
        theirs = simulate(trace, aws).metrics
        assert ours.dropped_pct <= theirs.dropped_pct, (aws.name, ours, theirs)
        if aws.name != StepScaling.name:  # step scaling is 5 % cheaper: the box is not met here
            assert ours.instance_hours <= theirs.instance_hours, (aws.name, ours, theirs)


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
