"""Surgeguard's own standing in the benchmark: BENCHMARK.md's first milestone, pinned so it cannot slip.

On every month-long minute trace, Surgeguard (the real service code, through real-shaped SNS events)
drops no more AND costs no more than both target-tracking policies. The five-year appserver trace is
left to `surgeguard bench` (README): it takes minutes, not seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.baselines import target_tracking_cpu, target_tracking_requests
from gameday.engine import simulate
from gameday.surgeguard_policy import SurgeguardPolicy
from gameday.traces import load_trace

MONTH_LONG = ["nasa-aug95", "twitter-stream-2021-08", "worldcup98-may30-jun30-5min"]


@pytest.mark.parametrize("name", MONTH_LONG)
def test_surgeguard_drops_no_more_and_costs_no_more_than_target_tracking(name: str, traces_dir: Path) -> None:
    trace = load_trace(traces_dir / f"{name}.csv")
    ours = simulate(trace, SurgeguardPolicy(keep_records=False)).metrics
    for aws in (target_tracking_cpu(), target_tracking_requests()):
        theirs = simulate(trace, aws).metrics
        assert ours.dropped_pct <= theirs.dropped_pct, (aws.name, ours, theirs)
        assert ours.instance_hours <= theirs.instance_hours, (aws.name, ours, theirs)


def test_the_in_memory_audit_keeps_every_record_when_asked(traces_dir: Path) -> None:
    # The game day reads these records back; the benchmark only counts them.
    trace = load_trace(traces_dir / "azure-llm-conv-2023-11-16.csv")
    policy = SurgeguardPolicy()
    simulate(trace, policy)
    assert policy.aws is not None
    assert policy.aws.audit_count == len(policy.aws.records) > 0
    assert {r["outcome"] for r in policy.aws.records} <= {"applied", "unchanged", "skipped"}
