"""Backtest on a group's own history: `surgeguard bench|gameday --from-cloudwatch GROUP --days N`.

Reads the group's ALB RequestCount (Sum) for the last N days through GetMetricData, at the finest period
CloudWatch still keeps for that age (60 s up to 15 days, 300 s up to 63, 3600 s up to 455), paginated,
writes it as a trace CSV (`minute,` / `min5,` / `hour,requests`) and hands it to the unchanged bench or
game day, which derive the fleet from it as for any trace. The series and the fleet are printed first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from surgeguard_cli import output

DEFAULT_CONFIG = "surgeguard.yaml"
_HEADER = {60: "minute", 300: "min5", 3600: "hour"}


@dataclass(frozen=True)
class History:
    group: str
    start: datetime
    period: int  # seconds per row
    values: list[float]  # requests per row (Sum over the period); 0 where CloudWatch has nothing
    missing: int  # rows without a datapoint (ALB publishes nothing at zero traffic)

    def csv(self) -> str:
        rows = [f"{_HEADER[self.period]},requests"]
        # repr: the shortest text that reads back as the same float (`:g` kept six digits).
        rows += [f"{i},{value!r}" for i, value in enumerate(self.values)]
        return "\n".join(rows) + "\n"


def read_history(aws: Any, config_path: str, group_name: str, days: int, now: datetime) -> History:
    from surgeguard.config import RequestsPerTargetSignal, load_config
    from surgeguard_cli.aws import period_for_age

    config = load_config(config_path)
    group = config.group(group_name)
    if group is None:
        raise ValueError(f"no group {group_name!r} in {config_path}")
    signal = next((s for s in group.signals if isinstance(s, RequestsPerTargetSignal)), None)
    if signal is None:
        raise ValueError(
            f"group {group_name} has no requests_per_target signal: no ALB to read RequestCount from"
        )
    start = now - timedelta(days=days)
    period = period_for_age(start, now)
    # Periods aligned to the hour answer faster and keep rows on the clock (CloudWatch's advice).
    start = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    end = now.replace(second=0, microsecond=0)
    end -= timedelta(seconds=(end - start).total_seconds() % period)
    points = aws.request_counts(signal, start, end, period)
    rows = int((end - start).total_seconds() // period)
    values = [0.0] * rows
    seen = 0
    for when, value in points.items():
        index = int((when - start).total_seconds() // period)
        if 0 <= index < rows:
            values[index] = value
            seen += 1
    return History(group_name, start, period, values, rows - seen)


def describe(history: History) -> str:
    """The derived series and the fleet the bench will assume, in words and one table per day."""
    from gameday.fleet import DEFAULT_PARAMS, size_fleet
    from gameday.traces import parse_trace

    trace = parse_trace(history.csv().splitlines(), history.group)
    sizing = size_fleet(trace, DEFAULT_PARAMS)
    per_minute = [v for v in trace.demand if v > 0]
    lines = [
        f"{history.group}: ALB RequestCount from {history.start:%Y-%m-%d %H:%M} UTC, "
        f"{len(history.values)} rows of {history.period} s ({trace.minutes:,} minutes), "
        f"{history.missing} without a datapoint (zero traffic or no data), "
        f"{trace.gap_minutes:,} gap minutes left out",
        f"demand (requests/min): median {statistics.median(per_minute) if per_minute else 0:,.0f}, "
        f"peak {max(trace.demand, default=0):,.0f}",
        "fleet assumed (benchmark model, not your instances): "
        f"c = {sizing.capacity_per_instance:,.0f} requests/min per instance, "
        f"group {sizing.min_size}..{sizing.max_size}, starts at {sizing.initial_size}",
    ]
    return "\n".join(lines)


def daily_rows(history: History) -> list[tuple[str, str, str, int]]:
    per_day: dict[str, list[float]] = {}
    for i, value in enumerate(history.values):
        day = (history.start + timedelta(seconds=i * history.period)).strftime("%a %Y-%m-%d")
        per_day.setdefault(day, []).append(value)
    return [
        (day, f"{sum(v):,.0f}", f"{max(v) * 60 / history.period:,.0f}", sum(1 for x in v if x == 0))
        for day, v in per_day.items()
    ]


def run(argv: Sequence[str], command: str, delegate: Callable[[list[str]], int], aws: Any = None) -> int:
    """`argv` with --from-cloudwatch GROUP --days N [--config PATH] [--save-trace CSV]: read the history,
    print it, then call the bench or game day with the trace in place of a CSV argument."""
    from surgeguard.config import ConfigError

    # Its own --help, read before anything else: passed on to the bench or game day, it came only after
    # the history's read, and named none of these options.
    parser = argparse.ArgumentParser(
        prog=f"surgeguard {command}",
        usage=f"surgeguard {command} --from-cloudwatch GROUP [--days N] [--config PATH] [--save-trace CSV] "
        "...",
        description=f"Run the {command} on the group's own ALB RequestCount from CloudWatch. Needs AWS "
        "credentials.",
        epilog=f"Every other option is the {command}'s own (`surgeguard {command} --help`).",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="help", help="show this help message and exit")
    parser.add_argument(
        "--from-cloudwatch", required=True, metavar="GROUP", help="the config's group to read"
    )
    parser.add_argument("--days", type=int, default=14, help="days of history to read, 1..455 (default 14)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    parser.add_argument("--save-trace", type=Path, metavar="CSV", help="also keep the trace read as this CSV")
    known, rest = parser.parse_known_args(list(argv))
    if not 1 <= known.days <= 455:
        print(f"surgeguard {command}: --days must be 1..455 (CloudWatch keeps 455 days)", file=sys.stderr)
        return output.USAGE
    from gameday.bench import unwritable_file

    unwritable = unwritable_file(known.save_trace)
    if unwritable:
        # Checked before the history is read: that read is the slow part.
        print(f"surgeguard {command}: --save-trace {known.save_trace}: {unwritable}", file=sys.stderr)
        return output.USAGE
    from surgeguard_cli.aws import Aws, AwsError

    aws = aws or Aws()
    now = datetime.now(UTC)
    try:
        with output.spinner(f"reading {known.days} days of RequestCount"):
            history = read_history(aws, known.config, known.from_cloudwatch, known.days, now)
    except (ConfigError, ValueError) as error:
        print(f"surgeguard {command}: {error}", file=sys.stderr)
        return output.USAGE
    except AwsError as error:
        print(f"surgeguard {command}: cannot read CloudWatch: {error}", file=sys.stderr)
        return output.AWS
    if not any(history.values):
        print(f"surgeguard {command}: no RequestCount at all in {known.days} days", file=sys.stderr)
        return output.FOUND
    print(describe(history))
    output.console().print(
        output.table(None, ["day (UTC)", "requests", "peak per min", "empty rows"], daily_rows(history))
    )
    with tempfile.TemporaryDirectory(prefix="surgeguard-backtest-") as folder:
        path = known.save_trace or Path(folder) / f"{known.from_cloudwatch}-{known.days}d.csv"
        try:
            path.write_text(history.csv(), encoding="utf-8")
        except OSError as error:
            print(f"surgeguard {command}: cannot write {path}: {error.strerror or error}", file=sys.stderr)
            return output.USAGE
        start = history.start.isoformat()
        # The history's own first minute, unless given (the game day's timeline and report are dated so).
        extra = [] if "--start" in rest else ["--start", start]
        if command == "bench":
            return delegate([str(path), *extra, *rest])
        return delegate(["--trace", str(path), *extra, *rest])
