"""`surgeguard loadtest --host URL`: the same load shape against a real staging URL, with the decisions
of the deployed Surgeguard (its audit table) printed live beside the load, one line per trace minute.

The shop's paths (`/products/{id}`, `/search`, `/cart`, `/checkout`, ...) are what the shoppers ask
for: point it at a staging copy of the sample shop, or adapt loadtest/locustfile.py to your own.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.shape import Load, Plan, users_for


@dataclass(frozen=True)
class LoadSample:
    requests: int
    failures: int
    p95_ms: float | None


def read_locust_totals(stats_csv: Path) -> LoadSample | None:
    """The Aggregated row of Locust's `--csv` stats file (rewritten every second while it runs)."""
    try:
        with open(stats_csv, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error):
        return None
    total = next((r for r in rows if r.get("Name") == "Aggregated"), None)
    if total is None:
        return None
    p95 = total.get("95%", "N/A")
    return LoadSample(
        int(total["Request Count"]),
        int(total["Failure Count"]),
        None if p95 in ("N/A", "", None) else float(p95),
    )


def watch(
    plan: Plan,
    locust: subprocess.Popen[bytes],
    stats_csv: Path,
    tail: Any,
    describe: Callable[[dict[str, Any]], str],
    emit: Callable[[str], None] = print,
) -> int:
    """Print, at the end of every trace minute, the load it offered and the audit records it brought."""
    previous = LoadSample(0, 0, None)
    minute = 0
    while minute < len(plan.rps):
        end = plan.epoch + (minute + 1) * plan.seconds_per_minute
        while time.time() < end:
            if locust.poll() is not None:
                break
            time.sleep(min(0.5, max(0.0, end - time.time())))
        sample = read_locust_totals(stats_csv) or previous
        sent, failed = sample.requests - previous.requests, sample.failures - previous.failures
        p95 = "-" if sample.p95_ms is None else f"{sample.p95_ms:.0f}"
        emit(
            f"minute {minute:4d}  target {plan.rps[minute]:7.1f} req/s  "
            f"sent {sent / plan.seconds_per_minute:7.1f} req/s  failed {failed:5d}  p95 so far {p95} ms"
        )
        for record in tail.poll():
            emit("    " + describe(record))
        previous = sample
        minute += 1
        if locust.poll() is not None:
            break
    return minute


def run_against_host(
    host: str,
    load: Load,
    *,
    table: str | None,
    group: str | None,
    region: str | None,
    seconds_per_minute: float,
    peak_rps: float,
    minutes: int | None,
    workdir: Path,
    max_failure_pct: float = 5.0,
) -> int:
    """Drive the load at `host`; 1 when it was not offered in full or more than `max_failure_pct` % of
    the requests failed (5xx or no answer: an unreachable host fails them all), else 0."""
    from loadtest.runner import LOCUST_LEAD_SECONDS, _locust, _stop_process

    tail: Any
    if table and group:
        from loadtest.audit_tail import AuditTail, describe

        tail = AuditTail(table, group, region)
        seen = tail.prime()
        print(f"audit table {table}, group {group}: {seen} earlier records skipped")
    else:
        tail, describe = _NoAudit(), str  # type: ignore[assignment]
        print("no --table/--group: the load only")
    workdir.mkdir(parents=True, exist_ok=True)
    rps = load.scaled(peak_rps, minutes)
    plan = Plan(load.name, rps, seconds_per_minute, time.time() + LOCUST_LEAD_SECONDS, load.start.isoformat(),
                users_for(peak_rps))  # fmt: skip
    prefix = workdir / "staging"
    grace = 0.0  # interrupted (SIGTERM, Ctrl-C): stop Locust at once
    locust = _spawned_whole(
        lambda: _locust(
            plan.write(workdir / "plan-staging.json"), host, workdir / "locust-staging.log", prefix
        )
    )
    try:  # at once: a SIGTERM raises wherever it lands, and only this `finally` stops Locust
        locust.deliver_deferred()
        print(
            f"{load.name}: {len(rps)} trace minutes of {seconds_per_minute:g} s against {host}, "
            f"peak {peak_rps:g} req/s, {plan.users} shoppers"
        )
        stats = Path(f"{prefix}_stats.csv")
        shown = watch(plan, locust.process, stats, tail, describe)
        grace = 15.0  # for its shoppers' last requests after the plan's end
    finally:
        code = _stop_process(locust.process, grace)
    print(f"locust exited {code}; its log: {workdir / 'locust-staging.log'}")
    problems = judge_run(
        read_locust_totals(stats), locust_exit=code, minutes_shown=shown, minutes_planned=len(rps),
        max_failure_pct=max_failure_pct,
    )  # fmt: skip
    for problem in problems:
        print(f"  FAIL  {problem} (failures by kind: {prefix}_failures.csv)")
    if not problems:
        print(f"  PASS  the load was offered in full, failures within {max_failure_pct:g} %")
    return 1 if problems else 0


@dataclass
class _Spawned:
    """A process started with SIGTERM held off, and the SIGTERM that came meanwhile, if any."""

    process: Any
    deferred: bool = False

    def deliver_deferred(self) -> None:
        """Raise the SIGTERM held off during the start, now that the caller's `finally` can stop it."""
        if self.deferred:
            signal.raise_signal(signal.SIGTERM)


def _spawned_whole(start: Callable[[], Any]) -> _Spawned:
    """`start()` with SIGTERM held off until its process is in hand: the handler raises wherever it
    lands, and between the spawn and the assignment it once lost Locust (left running after "every
    process it started is stopped"). Off the main thread signals cannot be handled here: started as is."""
    if threading.current_thread() is not threading.main_thread():
        return _Spawned(start())
    came: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: came.append(signum))
    try:
        process = start()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return _Spawned(process, deferred=bool(came))


def judge_run(
    totals: LoadSample | None,
    *,
    locust_exit: int,
    minutes_shown: int,
    minutes_planned: int,
    max_failure_pct: float,
) -> list[str]:
    """What makes a staging run fail: the load not offered in full, or too many requests failed."""
    problems = []
    if locust_exit != 0:
        problems.append(f"Locust exited {locust_exit}, not 0")
    if minutes_shown < minutes_planned:
        problems.append(f"Locust stopped after {minutes_shown} of {minutes_planned} trace minutes")
    if totals is None or totals.requests == 0:
        problems.append("no request was sent: Locust wrote no totals")
    elif totals.failures == totals.requests:
        problems.append(f"all {totals.requests:,} requests failed: is the host reachable?")
    elif 100 * totals.failures / totals.requests > max_failure_pct:
        problems.append(
            f"{totals.failures:,} of {totals.requests:,} requests failed "
            f"({100 * totals.failures / totals.requests:.2f} %), over the {max_failure_pct:g} % allowed"
        )
    return problems


class _NoAudit:
    def poll(self) -> list[dict[str, Any]]:
        return []
