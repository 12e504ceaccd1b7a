"""The load test's numbers: percentiles, the surge, the verdict and the table (pure, no processes)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from loadtest.cli import verdict
from loadtest.fleet import Change
from loadtest.report import table, write
from loadtest.runner import Minute, RunResult, percentile


def _run(
    policy: str,
    errors: int,
    latency: float,
    billed: int,
    applied: bool = True,
    *,
    arrivals: int = 20,
    flat: bool = False,
    timed: bool = True,
) -> RunResult:
    minutes, latencies = [], []
    for t in range(10):
        surge = t >= 7
        minutes.append(
            Minute(
                minute=t,
                target_rps=60.0 if surge and not flat else 10.0,
                arrivals=arrivals,
                served=arrivals - errors * surge,
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
        latencies.append([0.1] * 10 + [latency if surge else 0.2] * 10 if timed else [])
    changes = [Change(3.0, 2, 4)]
    records = [{"outcome": "applied", "previous_desired": 2, "new_desired": 4 if applied else 5}]
    return RunResult(policy, minutes, latencies, 0.4, 20.0, 1, 0, 40, 1, 0, records, changes, locust_exit=0)


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


def test_verdict_compares_the_numbers_not_their_rounding() -> None:
    # 1 error in 70,000 requests against 3: both 0.00 % in the table.
    tracking = _run("target-tracking", errors=0, latency=1.0, billed=3, arrivals=7000)
    tracking = replace(tracking, minutes=[replace(m, errors=3 * (m.minute == 9)) for m in tracking.minutes])
    surgeguard = _run("surgeguard", errors=0, latency=0.5, billed=3, arrivals=7000)
    one_error = [replace(m, errors=int(m.minute == 9)) for m in surgeguard.minutes]
    surgeguard = replace(surgeguard, minutes=one_error)
    assert surgeguard.summary()["error_pct"] == tracking.summary()["error_pct"]
    checks = dict(verdict([tracking, surgeguard]))
    assert checks["surgeguard errors below target-tracking"] is True


def test_a_comparison_without_data_is_not_judged() -> None:
    # A flat trace has no surge minute: no policy has a surge p95, and that compares nothing.
    fixed = _run("fixed", errors=5, latency=2.0, billed=2, flat=True)
    surgeguard = _run("surgeguard", errors=0, latency=0.5, billed=3, flat=True)
    assert surgeguard.surge_minutes() == [] and surgeguard.summary()["surge_p95_ms"] is None
    checks = dict(verdict([fixed, surgeguard]))
    assert checks["surgeguard surge p95 below fixed"] is None
    assert checks["surgeguard p95 below fixed"] is True and checks["surgeguard errors below fixed"] is True


def test_a_run_without_a_timed_request_is_reported_and_fails_the_verdict(tmp_path: Path) -> None:
    # Locust did not start (or the run was too short for an answer): no request, no latency.
    silent = replace(_run("fixed", errors=0, latency=0.5, billed=2, arrivals=0, timed=False), locust_exit=1)
    surgeguard = _run("surgeguard", errors=0, latency=0.5, billed=3)
    summary = silent.summary()
    assert summary["p50_ms"] is None and summary["p95_ms"] is None and summary["p99_ms"] is None
    assert "|      - |" in table([silent, surgeguard]).splitlines()[2]
    paths = write([silent, surgeguard], tmp_path, {"title": "t"})
    assert paths["png"].exists()
    checks = dict(verdict([silent, surgeguard]))
    assert checks["Locust offered every policy's load (it ran to the end, requests arrived)"] is False
    assert checks["surgeguard p95 below fixed"] is None and checks["surgeguard errors below fixed"] is None
