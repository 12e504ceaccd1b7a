"""The load test's numbers: percentiles, the surge, the verdict and the table (pure, no processes)."""

from __future__ import annotations

import math
from pathlib import Path

from loadtest.cli import verdict
from loadtest.fleet import Change
from loadtest.report import table, write
from loadtest.runner import Minute, RunResult, percentile


def _run(policy: str, errors: int, latency: float, billed: int, applied: bool = True) -> RunResult:
    minutes, latencies = [], []
    for t in range(10):
        surge = t >= 7
        minutes.append(
            Minute(
                minute=t,
                target_rps=60.0 if surge else 10.0,
                arrivals=20,
                served=20 - errors * surge,
                errors=errors * surge,
                throttled=1,
                p50=0.1,
                p95=latency,
                p99=latency,
                cpu=50.0,
                desired=2,
                serving=2,
                billed=billed,
                degraded=False,
            )
        )
        latencies.append([0.1] * 10 + [latency if surge else 0.2] * 10)
    changes = [Change(3.0, 2, 4)]
    records = [{"outcome": "applied", "previous_desired": 2, "new_desired": 4 if applied else 5}]
    return RunResult(policy, minutes, latencies, 0.4, 20.0, 1, 0, 40, 1, 0, records, changes)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert math.isnan(percentile([], 95))


def test_surge_is_the_busy_minutes_only() -> None:
    run = _run("surgeguard", errors=2, latency=3.0, billed=2)
    assert run.surge_minutes() == [7, 8, 9]
    p95, error_pct = run.surge()
    assert p95 == 3.0 and error_pct == 10.0
    assert run.percentile(50) == 0.1 and run.percentile(95) == 3.0
    assert run.summary()["worker_minutes"] == 20


def test_verdict_needs_fewer_errors_lower_p95_and_no_more_worker_minutes() -> None:
    fixed = _run("fixed", errors=5, latency=2.0, billed=2)
    tracking = _run("target-tracking", errors=1, latency=1.0, billed=3)
    good = _run("surgeguard", errors=0, latency=0.5, billed=3)
    assert all(ok for _, ok in verdict([fixed, tracking, good]))
    costly = _run("surgeguard", errors=0, latency=0.5, billed=4)
    failed = [name for name, ok in verdict([fixed, tracking, costly]) if not ok]
    assert failed == ["surgeguard worker-minutes <= target-tracking"]
    mismatched = _run("surgeguard", errors=0, latency=0.5, billed=3, applied=False)
    failed = [name for name, ok in verdict([fixed, tracking, mismatched]) if not ok]
    assert failed == ["the fleet's changes are the audit's applied decisions"]


def test_table_and_files(tmp_path: Path) -> None:
    runs = [_run("fixed", 5, 2.0, 2), _run("surgeguard", 0, 0.5, 3)]
    text = table(runs)
    assert text.splitlines()[0].startswith("| policy") and len(text.splitlines()) == 4
    paths = write(runs, tmp_path, {"title": "t"})
    assert paths["png"].stat().st_size > 10_000 and paths["json"].exists()
