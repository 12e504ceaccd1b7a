"""`surgeguard loadtest`'s arguments and what its capacity check decides (no process starts: the stack,
the check and the runs are stand-ins)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from loadtest import cli
from loadtest.runner import Minute, RunResult
from loadtest.shape import Load, black_friday_load


class _NoStack:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the stack started: the arguments were not checked first")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--latency-target", "0"], "--latency-target"),
        (["--latency-target", "-1"], "--latency-target"),
        (["--latency-target", "61"], "--latency-target"),
        (["--latency-target", "nan"], "--latency-target"),
        (["--min-size", "5", "--max-size", "3"], "--min-size 5 is above --max-size 3"),
        (["--max-size", "0"], "--max-size"),
        (["--min-size", "-1"], "--min-size"),
        (["--minutes", "0"], "--minutes"),
        (["--minutes", "-700"], "--minutes"),
        (["--slots", "0"], "--slots"),
        (["--peak-rps", "nan"], "--peak-rps"),
        (["--seconds-per-minute", "0"], "--seconds-per-minute"),
        (["--trace", "/nonexistent/trace.csv"], "cannot read"),
        (["--trace", __file__, "--start", "2026-11-27T05:00"], "--start needs a UTC offset"),
        (["--host", "http://127.0.0.1:9", "--minutes", "0"], "--minutes"),
        (["--host", "http://127.0.0.1:9", "--max-failure-pct", "101"], "--max-failure-pct"),
    ],
)
def test_bad_arguments_are_usage_errors_before_anything_starts(
    argv: list[str], named: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "Stack", _NoStack)
    monkeypatch.setattr("loadtest.staging.run_against_host", _NoStack)
    with pytest.raises(SystemExit) as stopped:
        cli.main([*argv, "--out", "/nonexistent/out"])
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err


def _args(*argv: str) -> argparse.Namespace:
    args = cli.build_parser().parse_args(list(argv))
    args.seconds_per_minute = 0.4
    return args


def test_minutes_keep_the_whole_traces_scale() -> None:
    load = Load("steps", (1.0, 2.0, 4.0), datetime(2026, 11, 27, tzinfo=UTC))
    # The first two minutes of the trace as they are in it, not stretched to the peak.
    assert load.scaled(100.0, 2) == (25.0, 50.0)
    assert load.scaled(100.0) == (25.0, 50.0, 100.0)
    # The synthetic day's first hour (23:00, quiet) stays far below the flash sale's peak.
    assert max(black_friday_load().scaled(150.0, 60)) < 0.5 * 150.0


def test_the_fixed_fleet_fits_the_pool() -> None:
    # Mean demand of 500 req/s at 10 per instance asks for 50 instances: the group has 14.
    args = _args("--peak-rps", "1500")
    fixed = cli.make_policies(["fixed"], black_friday_load(), args)[0]
    assert isinstance(fixed, cli.FixedFleet) and fixed.size == args.max_size == 14


# --- the capacity check ------------------------------------------------------------------------------


class _FakeStack:
    """Stack's surface run_local reads; no process."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.pids: list[int] = []
        self.ports = [1]
        self.balancer = argparse.Namespace(port=1)

    async def __aenter__(self) -> _FakeStack:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


def _served(per_instance: Sequence[float]) -> Any:
    async def capacity_check(stack: object, args: argparse.Namespace) -> list[cli.CapacityPoint]:
        return [
            cli.CapacityPoint(n, 1.5 * n * args.capacity_rps, n * each)
            for n, each in zip((1, 2, 4), per_instance, strict=True)
        ]

    return capacity_check


def _result(policy: str) -> RunResult:
    minutes = [
        Minute(t, 10.0, 8, 8, 0, 0, 0.1, 0.2, 0.3, 40.0, 2, 2, 2, False) for t in range(5)
    ]  # fmt: skip
    return RunResult(
        policy, minutes, [[0.1, 0.2]] * 5, 0.4, 20.0, 0, 0, 1, 0, 0, [], [], locust_exit=0,
    )  # fmt: skip


def test_a_failed_capacity_check_stops_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def no_run(*args: object, **kwargs: object) -> RunResult:
        raise AssertionError("a policy ran after the capacity check failed")

    monkeypatch.setattr(cli, "Stack", _FakeStack)
    monkeypatch.setattr(cli, "run_policy", no_run)
    # The machine, not the fleet, is the limit: four instances serve what one does.
    monkeypatch.setattr(cli, "capacity_check", _served([21.0, 10.5, 5.25]))
    code = cli.main(["--policy", "fixed", "--minutes", "5", "--out", str(tmp_path)])
    assert code == 1
    assert "FAIL  capacity check: 4 instances served 5.2 req/s each" in capsys.readouterr().out


def test_a_capacity_check_that_holds_lets_the_policies_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    async def run(stack: object, policy: Any, load: Load, **kwargs: object) -> RunResult:
        ran.append(policy.name)
        return _result(policy.name)

    monkeypatch.setattr(cli, "Stack", _FakeStack)
    monkeypatch.setattr(cli, "run_policy", run)
    monkeypatch.setattr(cli, "capacity_check", _served([21.6, 21.0, 21.5]))
    assert cli.main(["--policy", "fixed", "--minutes", "5", "--out", str(tmp_path)]) == 0
    assert ran == ["fixed"]
    assert "FAIL" not in capsys.readouterr().out


def test_capacity_problems_name_what_is_wrong() -> None:
    def points(*served: float) -> list[cli.CapacityPoint]:
        return [cli.CapacityPoint(n, 30.0 * n, s) for n, s in zip((1, 2, 4), served, strict=True)]

    assert cli.capacity_problems(points(21.6, 42.0, 86.1), 20.0) == []
    assert cli.capacity_problems([], 20.0) == []
    assert len(cli.capacity_problems(points(21.0, 21.0, 21.0), 20.0)) == 2
    # --capacity-rps far above what an instance serves: the runs would be judged on a wrong capacity.
    (problem,) = cli.capacity_problems(points(21.0, 42.0, 84.0), 50.0)
    assert "nominal 50" in problem
    assert len(cli.capacity_problems(points(0.0, 0.0, 0.0), 20.0)) == 1  # nothing served at all
