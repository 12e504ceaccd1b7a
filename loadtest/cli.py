"""`surgeguard loadtest` (`make loadtest`): the shop, its fleet, the load and three policies, side by side."""

from __future__ import annotations

import argparse
import asyncio
import math
import platform
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.fleet import FleetSpec
from loadtest.policies import (
    FixedFleet,
    LivePolicy,
    LiveSurgeguard,
    LiveTargetTracking,
    ShopTuning,
    loadtest_config,
)
from loadtest.runner import RunResult, Stack, process_alive, run_policy
from loadtest.shape import Load, black_friday_load, trace_load

POLICY_NAMES = ("fixed", "target-tracking", "surgeguard")
# The capacity check: each of n instances serves at least this share of what one alone serves (the
# served rate grows with instances: the machine is not the limit), and one alone at least half its
# nominal capacity (--capacity-rps describes the instances the run has).
LINEAR_SHARE = 0.8
NOMINAL_SHARE = 0.5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="surgeguard loadtest", description=__doc__)
    parser.add_argument(
        "--trace", help="a `minute,requests` CSV to follow (default: the synthetic Black Friday)"
    )
    parser.add_argument("--start", help="wall-clock time of the trace's minute 0, ISO 8601 with offset")
    parser.add_argument(
        "--minutes", type=int,
        help="only the first N trace minutes, at the whole trace's scale (--peak-rps is still the whole "
        "trace's busiest minute)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds-per-minute", type=float,
        help="real seconds per trace minute (default 0.4 locally: the 12-hour day in 4.8 minutes per policy; "
        "60 with --host: staging scales in real time)",
    )  # fmt: skip
    parser.add_argument(
        "--peak-rps", type=float, default=150.0, help="requests/s at the trace's busiest minute"
    )
    parser.add_argument(
        "--capacity-rps", type=float, default=20.0, help="requests/s one instance serves (nominal)"
    )
    parser.add_argument("--slots", type=int, default=4, help="requests an instance serves at once")
    parser.add_argument("--max-size", type=int, default=14, help="the group's max (and the process pool)")
    parser.add_argument("--min-size", type=int, default=2)
    parser.add_argument(
        "--latency-target", type=float, default=0.8, help="Surgeguard's p95 threshold, seconds"
    )
    parser.add_argument("--policy", action="append", choices=POLICY_NAMES, default=[], help="repeatable")
    parser.add_argument(
        "--declare-events", action="store_true", help="give Surgeguard the trace's declared sales"
    )
    parser.add_argument(
        "--no-requests-signal", dest="requests_signal", action="store_false",
        help="leave RequestCountPerTarget (the surge guard) out of Surgeguard's signals",
    )  # fmt: skip
    parser.add_argument(
        "--no-capacity-check", action="store_true", help="skip the 1/2/4-instance capacity check"
    )
    parser.add_argument(
        "--out", default="loadtest-out", help="folder for the table, JSON, PNG and Locust logs"
    )
    staging = parser.add_argument_group("against staging")
    staging.add_argument(
        "--host", help="drive this URL instead of the local shop (no local fleet is started)"
    )
    staging.add_argument("--table", help="the deployed stack's audit table, printed live beside the load")
    staging.add_argument("--group", help="the Auto Scaling group whose decisions to print")
    staging.add_argument("--region")
    staging.add_argument(
        "--max-failure-pct", type=float, default=5.0,
        help="fail (exit 1) when more of the requests than this failed: 5xx or no answer (default 5)",
    )  # fmt: skip
    return parser


def _load(args: argparse.Namespace) -> Load:
    if args.trace is None:
        return black_friday_load()
    start = datetime.fromisoformat(args.start) if args.start else datetime(2026, 11, 27, tzinfo=UTC)
    if start.tzinfo is None:
        raise ValueError("--start needs a UTC offset")
    return trace_load(args.trace, start)


def checked_load(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Load:
    """Every argument checked before anything starts: a bad one is a usage error (exit 2), not a
    traceback after the capacity check and the first policies' runs."""
    if args.seconds_per_minute is None:
        args.seconds_per_minute = 60.0 if args.host else 0.4
    for flag in ("seconds_per_minute", "peak_rps", "capacity_rps"):
        value = getattr(args, flag)
        if not (math.isfinite(value) and value > 0):
            parser.error(f"--{flag.replace('_', '-')} must be a number above 0, not {value:g}")
    if args.minutes is not None and args.minutes < 1:
        parser.error(f"--minutes must be at least 1, not {args.minutes}")
    if args.slots < 1:
        parser.error(f"--slots must be at least 1, not {args.slots}")
    if args.min_size < 0:
        parser.error(f"--min-size must be at least 0, not {args.min_size}")
    if args.max_size < 1:
        parser.error(f"--max-size must be at least 1, not {args.max_size}")
    if args.min_size > args.max_size:
        parser.error(f"--min-size {args.min_size} is above --max-size {args.max_size}")
    # Surgeguard's p95 threshold, as its config takes it (ResponseTimeSignal.target).
    if not 0 < args.latency_target <= 60:
        parser.error(f"--latency-target must be above 0 and at most 60 seconds, not {args.latency_target:g}")
    if not 0 <= args.max_failure_pct <= 100:
        parser.error(f"--max-failure-pct must be 0-100, not {args.max_failure_pct:g}")
    try:
        load = _load(args)
        load.scaled(args.peak_rps, args.minutes)
    except ValueError as err:
        parser.error(str(err))
    try:
        # The config the surgeguard run builds when it starts: whatever else it refuses, refused now.
        loadtest_config(
            args.min_size, args.max_size, args.capacity_rps * args.seconds_per_minute, args.latency_target,
            ShopTuning(), requests_signal=args.requests_signal,
        )  # fmt: skip
    except ValueError as err:
        parser.error(f"Surgeguard's config refuses these arguments: {err}")
    return load


def make_policies(names: Sequence[str], load: Load, args: argparse.Namespace) -> list[LivePolicy]:
    rps = load.scaled(args.peak_rps, args.minutes)
    # Sized for the average with target tracking's headroom: mean demand at half an instance's capacity;
    # no more than the group's max, the pool of processes.
    average = math.ceil(sum(rps) / len(rps) / (0.5 * args.capacity_rps))
    fixed = min(args.max_size, max(args.min_size, average))
    first_rpm = max(rps[:5]) * args.seconds_per_minute
    made: dict[str, LivePolicy] = {
        "fixed": FixedFleet(fixed),
        "target-tracking": LiveTargetTracking(first_rpm),
        "surgeguard": LiveSurgeguard(
            first_rpm, args.latency_target, declare=args.declare_events, requests_signal=args.requests_signal
        ),
    }
    return [made[name] for name in names]


@dataclass(frozen=True)
class CapacityPoint:
    instances: int
    offered_rps: float
    served_rps: float


async def capacity_check(
    stack: Stack, args: argparse.Namespace, counts: Sequence[int] = (1, 2, 4)
) -> list[CapacityPoint]:
    """Served requests/s of 1, 2 and 4 instances (as many as the pool has) offered 1.5x their nominal
    capacity (shedding off)."""
    points = []
    minutes = 25
    for n in (n for n in counts if n <= args.max_size):
        offered = 1.5 * n * args.capacity_rps
        flat = Load(f"flat-{n}", tuple([1.0] * minutes), datetime(2026, 11, 27, tzinfo=UTC))
        result = await run_policy(
            stack, FixedFleet(n), flat, seconds_per_minute=args.seconds_per_minute, peak_rps=offered,
            capacity_rps=args.capacity_rps, workdir=Path(args.out), degrade=False, progress=False,
        )  # fmt: skip
        steady = result.minutes[5:]  # after the queues have filled
        seconds = len(steady) * args.seconds_per_minute
        points.append(CapacityPoint(n, offered, sum(m.served for m in steady) / seconds))
    return points


def capacity_problems(points: Sequence[CapacityPoint], capacity_rps: float) -> list[str]:
    """Why the capacity check says the machine, not the fleet, would limit the runs (empty: it would not)."""
    if not points:
        return []
    alone = points[0].served_rps / points[0].instances
    problems = []
    if alone < NOMINAL_SHARE * capacity_rps:
        problems.append(
            f"{points[0].instances} instance(s) served {alone:.1f} req/s each, under {NOMINAL_SHARE:.0%} of "
            f"the nominal {capacity_rps:g} (--capacity-rps)"
        )
    for point in points[1:]:
        each = point.served_rps / point.instances
        if each < LINEAR_SHARE * alone:
            problems.append(
                f"{point.instances} instances served {each:.1f} req/s each, under {LINEAR_SHARE:.0%} of "
                f"the {alone:.1f} of {points[0].instances}: the served rate does not grow with instances"
            )
    return problems


# A verdict line: True (PASS), False (FAIL) or None (not judged: a comparison without data on a side).
Check = tuple[str, bool | None]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _error_rate(run: RunResult) -> float | None:
    return run.errors / run.arrivals if run.arrivals else None


def _p95(run: RunResult) -> float | None:
    return _number(run.percentile(95))


def _surge_p95(run: RunResult) -> float | None:
    return _number(run.surge()[0])  # NaN without a surge minute or without a timed request in it


def _below(name: str, mine: float | None, theirs: float | None) -> Check:
    """`mine` below `theirs`, unrounded (the table's rounding would turn 1 error in 70,000 against 3 into
    0.00 against 0.00)."""
    return (name, None if mine is None or theirs is None else mine < theirs)


def verdict(results: Sequence[RunResult]) -> list[Check]:
    """The issue's bar: Surgeguard fewer errors and lower p95 than both, no more worker-minutes than
    target tracking, nothing oversold; and every policy met its load."""
    checks: list[Check] = [
        ("0 units oversold by every policy", all(r.oversold == 0 for r in results)),
        (
            "Locust offered every policy's load (it ran to the end, requests arrived)",
            all(r.locust_exit == 0 and r.arrivals > 0 for r in results),
        ),
    ]
    by = {r.policy: r for r in results}
    sg = by.get("surgeguard")
    if sg is None:
        return checks
    applied = [(r["previous_desired"], r["new_desired"]) for r in sg.records if r.get("outcome") == "applied"]
    checks.append(
        (
            "the fleet's changes are the audit's applied decisions",
            applied == [(c.previous, c.desired) for c in sg.changes],
        )
    )
    for name in ("fixed", "target-tracking"):
        other = by.get(name)
        if other is not None:
            checks.append(_below(f"surgeguard errors below {name}", _error_rate(sg), _error_rate(other)))
            checks.append(_below(f"surgeguard p95 below {name}", _p95(sg), _p95(other)))
            checks.append(_below(f"surgeguard surge p95 below {name}", _surge_p95(sg), _surge_p95(other)))
    tracking = by.get("target-tracking")
    if tracking is not None:
        checks.append(
            ("surgeguard worker-minutes <= target-tracking", sg.worker_minutes <= tracking.worker_minutes)
        )
    return checks


def print_verdict(checks: Sequence[Check]) -> int:
    """One line per check; 1 when one failed. A line not judged fails nothing: it had no data."""
    for name, ok in checks:
        if ok is None:
            print(f"  ----  {name}: not judged, no data on a side")
        else:
            print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok is not False for _, ok in checks) else 1


async def run_local(args: argparse.Namespace, load: Load) -> int:
    from loadtest.report import table, write

    names = list(dict.fromkeys(args.policy)) or list(POLICY_NAMES)
    policies = make_policies(names, load, args)
    spec = FleetSpec(slots=args.slots, min_size=args.min_size, max_size=args.max_size)
    began = time.monotonic()
    out = Path(args.out)
    print(
        f"load test: {load.name}, {len(load.scaled(args.peak_rps, args.minutes))} trace minutes at "
        f"{args.seconds_per_minute:g} s each, peak {args.peak_rps:g} req/s; instances of {args.slots} slots "
        f"(~{args.capacity_rps:g} req/s), group {args.min_size}-{args.max_size}; policies {', '.join(names)}",
        flush=True,
    )
    async with Stack(spec) as stack:
        pids, ports = stack.pids, stack.ports
        print(f"stack up in {time.monotonic() - began:.1f} s: postgres + redis (Unix sockets), balancer "
              f"127.0.0.1:{stack.balancer.port}, {len(ports) - 1} shop instances", flush=True)  # fmt: skip
        points: list[CapacityPoint] = []
        if not args.no_capacity_check:
            points = await capacity_check(stack, args)
            for p in points:
                print(
                    f"capacity: {p.instances} instance(s) offered {p.offered_rps:.0f} req/s served "
                    f"{p.served_rps:.1f} req/s ({p.served_rps / p.instances:.1f} per instance)",
                    flush=True,
                )
            problems = capacity_problems(points, args.capacity_rps)
            for problem in problems:
                print(f"  FAIL  capacity check: {problem}", flush=True)
            if problems:
                print("the machine, not the fleet, would set the policies' results: not run "
                      "(--no-capacity-check runs them anyway)", flush=True)  # fmt: skip
                return 1
        results = []
        events = tuple(black_friday_events()) if args.trace is None else ()
        for policy in policies:
            results.append(
                await run_policy(
                    stack,
                    policy,
                    load,
                    seconds_per_minute=args.seconds_per_minute,
                    peak_rps=args.peak_rps,
                    capacity_rps=args.capacity_rps,
                    minutes=args.minutes,
                    workdir=out,
                    events=events,
                )  # fmt: skip
            )
    pids += [r.locust_pid for r in results if r.locust_pid is not None]
    leftovers = [pid for pid in pids if process_alive(pid)]
    elapsed = time.monotonic() - began
    meta = {
        "title": f"{load.name}: demand, capacity and p95 ({args.seconds_per_minute:g} s per trace minute)",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
        "seconds": round(elapsed),
        "capacity_check": [p.__dict__ for p in points],
        "args": {k: v for k, v in vars(args).items() if k not in ("table", "group", "region", "host")},
    }
    paths = write(results, out, meta)
    print()
    print(table(results))
    print(f"\n{meta['machine']}, {meta['date']}, {elapsed / 60:.1f} minutes in all; "
          f"table {paths['table']}, plot {paths['png']}")  # fmt: skip
    for r in results:
        if r.locust_exit != 0 or not r.arrivals:
            print(f"  {r.policy}: Locust exited {r.locust_exit}, {r.arrivals} requests arrived; "
                  f"its log: {out / f'locust-{r.policy}.log'}")  # fmt: skip
    checks = verdict(results)
    checks.append(("every process stopped", not leftovers))
    return print_verdict(checks)


def black_friday_events() -> tuple[object, ...]:
    from gameday.synthetic import demo_window

    return demo_window().events


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Terminated(BaseException):
    """SIGTERM (a CI timeout, `timeout`, `kill`): the run stops as on Ctrl-C, everything cleaned up.
    A BaseException, as KeyboardInterrupt is: no `except Exception` on the way may swallow it."""


async def _until_sigterm(run: Coroutine[Any, Any, int]) -> int:
    """`run`, cancelled by SIGTERM so that every `finally` and `async with` stops what it started: the
    servers, the shops and Locust run in sessions of their own, which a signal to this process misses."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_sigterm() -> None:
        if not received:  # a second SIGTERM must not cut the cleanup short
            received.append(signal.SIGTERM)
            task.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        code = await run
    except asyncio.CancelledError:
        if received:
            raise Terminated from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    if received:
        raise Terminated
    return code


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    load = checked_load(parser, args)
    try:
        if args.host:
            from loadtest.staging import run_against_host

            previous = signal.signal(signal.SIGTERM, _raise_terminated)
            try:
                return run_against_host(
                    args.host, load, table=args.table, group=args.group, region=args.region,
                    seconds_per_minute=args.seconds_per_minute, peak_rps=args.peak_rps,
                    minutes=args.minutes, workdir=Path(args.out), max_failure_pct=args.max_failure_pct,
                )  # fmt: skip
            finally:
                signal.signal(signal.SIGTERM, previous)
        return asyncio.run(_until_sigterm(run_local(args, load)))
    except Terminated:
        print("surgeguard loadtest: stopped by SIGTERM; every process it started is stopped", file=sys.stderr)
        return 128 + signal.SIGTERM


if __name__ == "__main__":
    sys.exit(main())
