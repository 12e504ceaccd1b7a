"""`surgeguard loadtest` (`make loadtest`): the shop, its fleet, the load and three policies, side by side."""

from __future__ import annotations

import argparse
import asyncio
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loadtest.fleet import FleetSpec
from loadtest.policies import FixedFleet, LivePolicy, LiveSurgeguard, LiveTargetTracking
from loadtest.runner import RunResult, Stack, process_alive, run_policy
from loadtest.shape import Load, black_friday_load, trace_load

POLICY_NAMES = ("fixed", "target-tracking", "surgeguard")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="surgeguard loadtest", description=__doc__)
    parser.add_argument(
        "--trace", help="a `minute,requests` CSV to follow (default: the synthetic Black Friday)"
    )
    parser.add_argument("--start", help="wall-clock time of the trace's minute 0, ISO 8601 with offset")
    parser.add_argument("--minutes", type=int, help="only the first N trace minutes")
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
    return parser


def _load(args: argparse.Namespace) -> Load:
    if args.trace is None:
        return black_friday_load()
    start = datetime.fromisoformat(args.start) if args.start else datetime(2026, 11, 27, tzinfo=UTC)
    if start.tzinfo is None:
        raise SystemExit("surgeguard loadtest: --start needs a UTC offset")
    return trace_load(args.trace, start)


def make_policies(names: Sequence[str], load: Load, args: argparse.Namespace) -> list[LivePolicy]:
    rps = load.scaled(args.peak_rps, args.minutes)
    # Sized for the average with target tracking's headroom: mean demand at half an instance's capacity.
    fixed = max(args.min_size, math.ceil(sum(rps) / len(rps) / (0.5 * args.capacity_rps)))
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
    """Served requests/s of 1, 2 and 4 instances offered 1.5x their nominal capacity (shedding off)."""
    points = []
    minutes = 25
    for n in counts:
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


def _ms(value: float | None) -> float:
    return math.inf if value is None else value


def verdict(results: Sequence[RunResult]) -> list[tuple[str, bool]]:
    """The issue's bar: Surgeguard fewer errors and lower p95 than both, no more worker-minutes than
    target tracking, nothing oversold."""
    by = {r.policy: r.summary() for r in results}
    checks = [("0 units oversold by every policy", all(s["oversold"] == 0 for s in by.values()))]
    sg = by.get("surgeguard")
    if sg is None:
        return checks
    run = next(r for r in results if r.policy == "surgeguard")
    applied = [
        (r["previous_desired"], r["new_desired"]) for r in run.records if r.get("outcome") == "applied"
    ]
    checks.append(
        (
            "the fleet's changes are the audit's applied decisions",
            applied == [(c.previous, c.desired) for c in run.changes],
        )
    )
    for other in ("fixed", "target-tracking"):
        if other in by:
            o = by[other]
            checks.append((f"surgeguard errors below {other}", sg["error_pct"] < o["error_pct"]))
            checks.append((f"surgeguard p95 below {other}", sg["p95_ms"] < o["p95_ms"]))
            checks.append(
                (f"surgeguard surge p95 below {other}", _ms(sg["surge_p95_ms"]) < _ms(o["surge_p95_ms"]))
            )
    if "target-tracking" in by:
        checks.append(
            (
                "surgeguard worker-minutes <= target-tracking",
                sg["worker_minutes"] <= by["target-tracking"]["worker_minutes"],
            )
        )
    return checks


async def run_local(args: argparse.Namespace) -> int:
    from loadtest.report import table, write

    load = _load(args)
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
    checks = verdict(results)
    checks.append(("every process stopped", not leftovers))
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in checks) else 1


def black_friday_events() -> tuple[object, ...]:
    from gameday.synthetic import demo_window

    return demo_window().events


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.seconds_per_minute is None:
        args.seconds_per_minute = 60.0 if args.host else 0.4
    if args.seconds_per_minute <= 0 or args.peak_rps <= 0 or args.capacity_rps <= 0:
        raise SystemExit(
            "surgeguard loadtest: --seconds-per-minute, --peak-rps and --capacity-rps must be > 0"
        )
    if args.host:
        from loadtest.staging import run_against_host

        return run_against_host(
            args.host, _load(args), table=args.table, group=args.group, region=args.region,
            seconds_per_minute=args.seconds_per_minute,
            peak_rps=args.peak_rps, minutes=args.minutes, workdir=Path(args.out),
        )  # fmt: skip
    return asyncio.run(run_local(args))


if __name__ == "__main__":
    sys.exit(main())
