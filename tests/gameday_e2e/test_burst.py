"""Doors open, smaller: many groups breach at once against a scarce Auto Scaling bucket and a small
reserved concurrency. Every group is decided and applied, within 60 s, and nothing is lost."""

from __future__ import annotations

import pytest

from gameday.burst import BurstParams, run_burst
from surgeguard.adapters import clients


def test_a_burst_under_throttling_applies_every_group_and_loses_nothing() -> None:
    # GIVEN 40 groups breaching in the same second, 8 Lambda environments, and an Auto Scaling bucket
    # of 10 tokens refilled at 3 per second (80 calls needed: most of them wait for tokens)
    params = BurstParams(groups=40, concurrency=8, asg_bucket=10, asg_refill=3, seed=11)
    # WHEN the burst runs through the real handler, adapters and botocore retries
    result = run_burst(params)
    # THEN throttling happened and was absorbed by retries, not by function errors
    assert result.throttles > 0 and result.retries >= result.throttles
    assert result.failures == 0
    # AND every group was applied, once, within the goal, with exactly one audit record per trigger
    assert result.unapplied == 0 and result.lost == 0
    assert result.outcomes == {"applied": 40}
    assert result.audit_records == 40
    assert all(g.records == 1 and g.attempts == 1 for g in result.groups.values())
    assert result.quantile(1.0) <= 60.0 and result.met
    # AND no invocation outlived the Lambda's timeout
    assert result.longest_invocation < params.timeout


def test_three_attempts_are_not_enough_when_the_bucket_runs_dry(monkeypatch: pytest.MonkeyPatch) -> None:
    # The design fix pinned: with only the SDK's 3 attempts for Auto Scaling, the same burst fails calls
    # (each failure then waits a minute for Lambda's retry), so the goal is missed.
    monkeypatch.setattr(clients, "PATIENT_SERVICES", frozenset())
    result = run_burst(BurstParams(groups=40, concurrency=8, asg_bucket=10, asg_refill=3, seed=11))
    assert result.failures > 0
    assert not result.met
    assert result.lost == 0  # late, never lost: every failed delivery was audited and retried
