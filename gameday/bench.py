"""`surgeguard bench`: replay traces through every policy in one engine and report the numbers."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from gameday.baselines import POLICIES
from gameday.cost import CostBreakdown, DropBreakdown, explain_drops
from gameday.engine import (
    DEFAULT_START,
    DeclaredEvent,
    PolicyMetrics,
    oracle_instance_minutes,
    run_each,
    simulate,
)
from gameday.fleet import DEFAULT_PARAMS, FleetParams, FleetSizing, size_fleet
from gameday.report import CHALLENGER, TraceReport, format_report, report_json

# Importing it registers the `surgeguard` policies.
from gameday.surgeguard_policy import (
    HEADROOM_SETTINGS,
    SETTING_FAMILIES,
    SurgeguardPolicy,
    Tuning,
    config_at,
)
from gameday.traces import Trace, TraceFormatError, load_trace
from gameday.warm_pool import WarmPoolConfig, WarmPoolParams
from surgeguard.config import PEAK_MULTIPLIER_MAX, SALE_YEARS

_DEFAULTS = DEFAULT_PARAMS
DEFAULT_SETTING = Tuning().cpu_target
# The pool of `--warm-pool`: AWS's defaults, with ReuseOnScaleIn on (see bench_warm_pool).
_POOL_DEFAULTS = WarmPoolParams(WarmPoolConfig(reuse_on_scale_in=True))


def parse_when(text: str) -> datetime:
    """ISO 8601 with a UTC offset ('Z' allowed); a naive time would be ambiguous across zones."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"needs a UTC offset, e.g. {text.strip()}+00:00 or ...Z: {text!r}")
    return when


def parse_event(text: str) -> DeclaredEvent:
    """START,DURATION_MINUTES,PEAK_MULTIPLIER, e.g. 2026-11-27T00:00-05:00,240,4."""
    fields = text.split(",")
    if len(fields) != 3:
        raise argparse.ArgumentTypeError(
            f"expected START,DURATION_MINUTES,PEAK_MULTIPLIER (3 fields), got {len(fields)}: {text!r}"
        )
    start_text, duration_text, multiplier_text = (field.strip() for field in fields)
    start = parse_when(start_text)
    try:
        duration = int(duration_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"DURATION_MINUTES must be an integer: {duration_text!r}") from None
    try:
        multiplier = float(multiplier_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"PEAK_MULTIPLIER must be a number: {multiplier_text!r}") from None
    if duration <= 0:
        raise argparse.ArgumentTypeError(f"DURATION_MINUTES must be > 0: {duration_text!r}")
    # The limits Surgeguard's own config puts on a sale: checked here, before any policy has run.
    if not math.isfinite(multiplier) or not 0 < multiplier <= PEAK_MULTIPLIER_MAX:
        raise argparse.ArgumentTypeError(
            f"PEAK_MULTIPLIER must be a number > 0 and <= {PEAK_MULTIPLIER_MAX:g}: {multiplier_text!r}"
        )
    try:
        end = start + timedelta(minutes=duration)
    except OverflowError:
        raise argparse.ArgumentTypeError(f"the event ends past the calendar's end: {text!r}") from None
    first, last = SALE_YEARS
    if not (first <= start.year and end.year <= last):
        raise argparse.ArgumentTypeError(f"the event must lie in the years {first}-{last}: {text!r}")
    return DeclaredEvent(start=start, duration_minutes=duration, peak_multiplier=multiplier)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than `minimum`, or a message saying which rule failed."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}: {text!r}")
        return value

    return parse


_non_negative_int = int_at_least(0)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1]: {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0: {text!r}")
    return value


EXAMPLES = """examples:
  surgeguard bench ../shared/traces/*.csv                 every trace, every policy
  surgeguard bench day.csv --policy surgeguard --policy aws-target-tracking-cpu --json out.json
  surgeguard bench day.csv --event 2026-11-27T00:00-05:00,240,4   a declared sale
  surgeguard bench ../shared/traces/*.csv --warm-pool      every policy with the same warm pool
  surgeguard bench day.csv --policy surgeguard --setting 46       Surgeguard at another point of its knob
  surgeguard bench day.csv --show-config --setting 46      the config to deploy for that point
  surgeguard bench day.csv --policy surgeguard --explain-cost   where its instance-hours go
  surgeguard bench day.csv --explain-drops                 where each policy's drops happen
  surgeguard bench --from-cloudwatch shop-web --days 14 --config surgeguard.yaml   the group's own history

exit codes: 0 done, 2 bad arguments or trace, 3 AWS unreadable (--from-cloudwatch only)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgeguard bench",
        description="Replay request-rate traces (CSV: minute|min5|hour,requests) through every scaling "
        "policy in one simulated Auto Scaling group and report drops and cost (BENCHMARK.md).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("traces", nargs="+", metavar="TRACE", type=Path, help="trace CSV file")
    parser.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this policy (repeatable); default: all registered",
    )
    parser.add_argument(
        "--start",
        type=parse_when,
        default=DEFAULT_START,
        help="wall-clock time of each trace's first row, ISO 8601 with offset (default %(default)s)",
    )
    parser.add_argument(
        "--event",
        action="append",
        default=[],
        type=parse_event,
        metavar="START,DURATION_MINUTES,PEAK_MULTIPLIER",
        help="declare a known event (repeatable); passed to the policies",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers as JSON")
    parser.add_argument(
        "--frontier",
        action="store_true",
        help="sweep each family's knob (AWS targets 30..70%%, Surgeguard's headroom settings) and print "
        "which Surgeguard point dominates each AWS point; --json writes the frontier",
    )
    parser.add_argument(
        "--setting",
        type=_positive_float,
        default=None,
        metavar="S",
        help="run surgeguard and surgeguard-reactive at this point of their headroom knob (the "
        f"frontier's settings: {', '.join(f'{s:g}' for s in HEADROOM_SETTINGS)}; default "
        f"{DEFAULT_SETTING:g}, the only one anchored to AWS); BENCHMARK.md's goals are judged at the "
        "default",
    )
    parser.add_argument(
        "--show-config",
        action="store_true",
        help="print, for each trace, the config surgeguard runs (at --setting): the group block to "
        "deploy for that point; runs nothing",
    )
    parser.add_argument(
        "--explain-cost",
        action="store_true",
        help="after each table, where surgeguard's instance-hours go (x the oracle's): serving within the "
        "need, launching, and serving over the need by what held it (the rule or limit its audit records "
        "name); default fleet only",
    )
    parser.add_argument(
        "--explain-drops",
        action="store_true",
        help="after each table, where each policy's drops happened (points of demand): while instances "
        "launched, at the group's max, soon after a scale-in, or before anything acted; default fleet only",
    )
    parser.add_argument(
        "--png", type=Path, metavar="PATH", help="with --frontier: plot dropped %% against cost per family"
    )
    parser.add_argument(
        "--jobs",
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="run the policies (with --frontier: the sweep) in N worker processes (default 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of anything random (default 0)")
    parser.add_argument(
        "--compare",
        default=CHALLENGER,
        metavar="NAME",
        help="policy whose ratios to each AWS policy end every table (default %(default)s, when it ran)",
    )
    fleet = parser.add_argument_group("fleet model (defaults from BENCHMARK.md)")
    fleet.add_argument("--pending-minutes", type=_non_negative_int, default=_DEFAULTS.pending_minutes)
    fleet.add_argument("--warming-minutes", type=_non_negative_int, default=_DEFAULTS.warming_minutes)
    fleet.add_argument("--min-size", type=_non_negative_int, default=_DEFAULTS.min_size)
    fleet.add_argument(
        "--max-factor", type=_positive_float, default=_DEFAULTS.max_factor, help="max = ceil(F * peak / c)"
    )
    fleet.add_argument(
        "--capacity-divisor",
        type=_positive_float,
        default=_DEFAULTS.capacity_divisor,
        help="c = median(demand) / D",
    )
    fleet.add_argument(
        "--initial-utilization",
        type=_positive_float,
        default=_DEFAULTS.initial_utilization,
        help="start = ceil(max(d[0..4]) / (U c))",
    )
    fleet.add_argument(
        "--scheduled-action-delay",
        type=_non_negative_int,
        default=_DEFAULTS.scheduled_action_delay_minutes,
        metavar="MINUTES",
        help="scheduled actions start up to this many minutes late (AWS documents 2; default on time)",
    )
    pool = parser.add_argument_group(
        "warm pool (off by default; one pool for every policy alike, README's benchmark protocol)"
    )
    pool.add_argument(
        "--warm-pool",
        action="store_true",
        help="put an EC2 Auto Scaling warm pool (PoolState Stopped) beside the group",
    )
    pool.add_argument(
        "--warm-pool-max-prepared",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="MaxGroupPreparedCapacity (default: unset, i.e. the group's max size, as in AWS)",
    )
    pool.add_argument(
        "--warm-pool-min-size",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help=f"the pool's MinSize (default {_POOL_DEFAULTS.config.min_size})",
    )
    pool.add_argument(
        "--warm-pool-reuse-on-scale-in",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale-in returns instances to the pool instead of terminating them (default: yes)",
    )
    pool.add_argument(
        "--warm-pool-stopped-cost",
        type=_fraction,
        default=None,
        metavar="F",
        help="a stopped pool instance costs F of a running one "
        f"(default {_POOL_DEFAULTS.stopped_cost_fraction:g})",
    )
    pool.add_argument(
        "--warm-start-pending-minutes",
        type=_non_negative_int,
        default=None,
        help="minutes an instance drawn from the pool pends "
        f"(default {_POOL_DEFAULTS.warm_start_pending_minutes})",
    )
    pool.add_argument(
        "--warm-start-warming-minutes",
        type=_non_negative_int,
        default=None,
        help=f"then warms before it serves (default {_POOL_DEFAULTS.warm_start_warming_minutes})",
    )
    pool.add_argument(
        "--warm-pool-sized",
        action="store_true",
        default=None,
        help="Surgeguard's forecaster sizes the pool, as its config `forecast.size_warm_pool` does in AWS "
        "(no AWS policy can); by default every policy has the same static pool",
    )
    return parser


_POOL_FLAGS = (
    "warm_pool_max_prepared",
    "warm_pool_min_size",
    "warm_pool_reuse_on_scale_in",
    "warm_pool_stopped_cost",
    "warm_start_pending_minutes",
    "warm_start_warming_minutes",
    "warm_pool_sized",
)


def bench_warm_pool(args: argparse.Namespace) -> WarmPoolParams | None:
    """The pool every policy gets: AWS's defaults (MaxGroupPreparedCapacity unset, MinSize 0, Stopped)
    with ReuseOnScaleIn on, the AWS CLI guide's example 4, which is cheaper for every policy on every
    shared trace at the same drops (README). Raises ValueError for a pool flag without --warm-pool."""
    given = [name for name in _POOL_FLAGS if getattr(args, name) is not None]
    if not args.warm_pool:
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} needs --warm-pool")
        return None
    pool = _POOL_DEFAULTS

    def given_or(value: Any, default: Any) -> Any:
        return default if value is None else value

    return WarmPoolParams(
        WarmPoolConfig(
            min_size=given_or(args.warm_pool_min_size, pool.config.min_size),
            max_group_prepared_capacity=args.warm_pool_max_prepared,
            reuse_on_scale_in=given_or(args.warm_pool_reuse_on_scale_in, pool.config.reuse_on_scale_in),
        ),
        stopped_cost_fraction=given_or(args.warm_pool_stopped_cost, pool.stopped_cost_fraction),
        warm_start_pending_minutes=given_or(args.warm_start_pending_minutes, pool.warm_start_pending_minutes),
        warm_start_warming_minutes=given_or(args.warm_start_warming_minutes, pool.warm_start_warming_minutes),
        resizable=bool(args.warm_pool_sized),
    )


class Progress:
    """One self-overwriting stderr line, shown only on a terminal and only for runs over a second."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._started = time.monotonic()
        self._shown = False
        self._enabled = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled or time.monotonic() - self._started < 1.0:
            return
        self._shown = True
        self._stream.write(f"\r{self._label} {100 * done // max(total, 1):3d}%")
        self._stream.flush()

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r" + " " * (len(self._label) + 5) + "\r")
            self._stream.flush()


class _Run(NamedTuple):
    metrics: PolicyMetrics
    forecasts: bool
    mape: float | None
    cost: CostBreakdown | None
    drops: DropBreakdown | None


def _bench_run(
    trace: Trace,
    name: str,
    params: FleetParams,
    sizing: FleetSizing,
    start: datetime,
    events: Sequence[DeclaredEvent],
    seed: int,
    oracle_minutes: int,
    warm_pool: WarmPoolParams | None,
    progress_stream: TextIO | None,
    setting: float | None = None,
    with_cost: bool = False,
    with_drops: bool = False,
) -> _Run:
    """One policy on one trace: its metrics, its forecast error when it forecasts (flag, MAPE), with
    `with_cost` where its instance-hours went when it keeps audit records (Surgeguard's families), and
    with `with_drops` where its drops happened. `setting` moves the knob of the families that
    have one (the others ignore it)."""
    progress = Progress(progress_stream, f"{trace.name} {name}") if progress_stream else None
    policy = (
        SETTING_FAMILIES[name](setting)
        if setting is not None and name in SETTING_FAMILIES
        else POLICIES[name]()
    )
    result = simulate(
        trace,
        policy,
        params=params,
        sizing=sizing,
        start=start,
        events=events,
        seed=seed,
        oracle_minutes=oracle_minutes,
        progress=progress,
        warm_pool=warm_pool,
    )
    if progress is not None:
        progress.close()
    forecasts = hasattr(policy, "forecast_mape") and getattr(policy, "forecasting", True)
    series = result.series
    return _Run(
        result.metrics,
        forecasts,
        getattr(policy, "forecast_mape", None) if forecasts else None,
        policy.explain_cost(series, sizing.capacity_per_instance, oracle_minutes)
        if with_cost and isinstance(policy, SurgeguardPolicy)
        else None,
        explain_drops(
            series.demand,
            series.gap,
            series.serving,
            series.billed,
            series.desired,
            sizing.capacity_per_instance,
            sizing.max_size,
        )
        if with_drops
        else None,
    )


def run_bench(
    traces: Sequence[Trace],
    policy_names: Sequence[str],
    *,
    params: FleetParams = DEFAULT_PARAMS,
    start: datetime = DEFAULT_START,
    events: Sequence[DeclaredEvent] = (),
    seed: int = 0,
    progress_stream: TextIO | None = None,
    warm_pool: WarmPoolParams | None = None,
    jobs: int = 1,
    setting: float | None = None,
    with_cost: bool = False,
    with_drops: bool = False,
) -> list[TraceReport]:
    """Every policy on every trace, same fleet, oracle and warm pool (if any) per trace. With `jobs` > 1
    the runs go to that many worker processes, without progress bars (each run is independent and
    deterministic, so the numbers are the same; a worker knows the policies registered on import)."""
    sizings = [size_fleet(trace, params) for trace in traces]
    oracles = [
        oracle_instance_minutes(t, s.capacity_per_instance) for t, s in zip(traces, sizings, strict=True)
    ]
    tasks = [(index, name) for index in range(len(traces)) for name in policy_names]

    # Progress bars only in one process: workers would write over each other.
    stream = progress_stream if jobs <= 1 else None
    calls = [
        (
            traces[i],
            name,
            params,
            sizings[i],
            start,
            tuple(events),
            seed,
            oracles[i],
            warm_pool,
            stream,
            setting,
            with_cost,
            with_drops,
        )
        for i, name in tasks
    ]
    runs = run_each(_bench_run, calls, jobs)
    reports = []
    for index, trace in enumerate(traces):
        results: dict[str, PolicyMetrics] = {}
        mapes: dict[str, float | None] = {}
        costs: dict[str, CostBreakdown] = {}
        drops: dict[str, DropBreakdown] = {}
        for (task_index, name), run in zip(tasks, runs, strict=True):
            if task_index == index:
                results[name] = run.metrics
                if run.forecasts:
                    mapes[name] = run.mape
                if run.cost is not None:
                    costs[name] = run.cost
                if run.drops is not None:
                    drops[name] = run.drops
        reports.append(
            TraceReport(
                trace.name, trace.minutes, trace.gap_minutes, sizings[index], results, mapes, costs, drops
            )
        )
    return reports


def _check_setting(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exits through `parser.error` where --setting or --show-config cannot apply."""
    if args.frontier and (args.setting is not None or args.show_config):
        parser.error("--setting and --show-config pick one point; --frontier sweeps the settings itself")
    if args.setting is not None:
        try:
            config_at(args.setting, 2, 10, 1.0)
        except ValueError as err:
            parser.error(f"--setting: {err}")


def show_config(
    traces: Sequence[Trace], params: FleetParams, setting: float | None, events: Sequence[DeclaredEvent]
) -> str:
    """For each trace, the YAML of the config `surgeguard` runs on it at `setting` (default: the
    default setting): the group block a team deploys to run at that point of the frontier."""
    import yaml  # only this flag writes YAML

    at = DEFAULT_SETTING if setting is None else setting
    parts = []
    for trace in traces:
        sizing = size_fleet(trace, params)
        config = config_at(at, sizing.min_size, sizing.max_size, sizing.capacity_per_instance, events)
        data = config.model_dump(mode="json", by_alias=True, exclude_unset=True)
        parts.append(
            f"# {trace.name}: surgeguard at headroom setting {at:g}. The group of the simulation: put your "
            "group's name,\n# min, max and load balancer in, and requests_per_instance from a load test "
            f"(here the trace's c,\n# {sizing.capacity_per_instance:g} requests a minute per instance).\n"
            + yaml.safe_dump(data, sort_keys=False)
        )
    return "\n".join(parts)


def _runs_a_surgeguard_family(args: argparse.Namespace) -> bool:
    """Whether the policies asked for (all, without --policy) include a family `--setting` moves."""
    return bool(SETTING_FAMILIES.keys() & (set(args.policy) or set(POLICIES)))


def _check_explain(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--explain-cost and --explain-drops where there is no bench table's run for them to explain."""
    for flag, on in (("--explain-cost", args.explain_cost), ("--explain-drops", args.explain_drops)):
        if on and (args.frontier or args.warm_pool):
            parser.error(
                f"{flag} explains the bench tables' runs on the default fleet: not with --frontier or "
                "--warm-pool"
            )
        if on and args.show_config:
            parser.error(f"{flag} explains a run, and --show-config runs nothing")
    if args.explain_cost and not _runs_a_surgeguard_family(args):
        parser.error("--explain-cost explains surgeguard's runs, and --policy runs neither surgeguard family")


def unwritable_file(path: Path | None) -> str:
    """Why a file cannot be written at `path`, or '' when it can (or none is asked for): checked before
    a run, so that its output is not lost at the end of it."""
    if path is None:
        return ""
    if path.is_dir():
        return "is a folder; name the file to write"
    if not (path.parent.is_dir() and os.access(path.parent, os.W_OK)):
        return "its folder does not exist or cannot be written"
    return ""


def _check_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Flags that would be accepted and ignored, or would fail only after the whole run, fail now."""
    if args.compare not in POLICIES:
        parser.error(f"--compare {args.compare}: unknown policy; known: {', '.join(POLICIES)}")
    if args.frontier and (args.policy or args.compare != CHALLENGER):
        parser.error("--frontier sweeps every family: --policy and --compare do not apply to it")
    for flag, given in (("--json", args.json is not None), ("--warm-pool", args.warm_pool)):
        # Accepted and ignored until 2026-12-02: no JSON was written, and the config printed had no pool.
        if args.show_config and given:
            parser.error(f"--show-config prints a config and runs nothing: {flag} does not apply to it")
    for flag, path in (("--json", args.json), ("--png", args.png)):
        problem = unwritable_file(path)
        if problem:
            parser.error(f"{flag} {path}: {problem}")
    _check_explain(parser, args)
    if args.png is not None and not args.frontier:
        parser.error("--png draws the frontier: use it with --frontier")
    if args.png is not None:
        from matplotlib.figure import Figure  # only --png draws

        formats = Figure().canvas.get_supported_filetypes()
        if args.png.suffix.lstrip(".").lower() not in formats:
            parser.error(f"--png {args.png}: name a file ending in one of .{', .'.join(sorted(formats))}")
    if args.setting is not None and not args.frontier and not _runs_a_surgeguard_family(args):
        parser.error("--setting moves surgeguard and surgeguard-reactive, and --policy runs neither")


def check_surgeguard_fits(
    trace: Trace, params: FleetParams, settings: Sequence[float] = (DEFAULT_SETTING,)
) -> None:
    """ValueError, naming the trace, where Surgeguard's config cannot describe the group the trace sizes
    (requests_per_instance past 1e9, a requests target below CloudWatch's smallest value): its bounds
    are AWS's, so a trace beyond them is refused before any run, not in the first surgeguard run."""
    sizing = size_fleet(trace, params)
    for setting in settings:
        try:
            config_at(setting, sizing.min_size, sizing.max_size, sizing.capacity_per_instance)
        except ValueError as err:
            raise ValueError(
                f"trace {trace.name!r} sizes a group beyond what Surgeguard's config takes (c = "
                f"{sizing.capacity_per_instance:g} requests a minute per instance, {sizing.min_size}.."
                f"{sizing.max_size:,} instances, from its demand and --capacity-divisor, --max-factor): {err}"
            ) from None


def replay_end(start: datetime, trace: Trace) -> datetime:
    """The wall-clock time the replay of `trace` from `start` ends; ValueError past the calendar's end."""
    try:
        return start + timedelta(minutes=trace.minutes)
    except OverflowError:
        raise ValueError(
            f"--start {start.isoformat()}: {trace.name}'s replay would end past the calendar's end"
        ) from None


def _warn_events_outside(traces: Sequence[Trace], start: datetime, events: Sequence[DeclaredEvent]) -> None:
    """An event no minute of a trace's replay holds is given to no policy: say so, not silently."""
    for event in events:
        end = event.start + timedelta(minutes=event.duration_minutes)
        for trace in traces:
            last = replay_end(start, trace)
            if end <= start or event.start >= last:
                print(
                    f"surgeguard bench: warning: the event at {event.start.isoformat()} lies outside "
                    f"{trace.name}'s replay ({start.isoformat()} to {last.isoformat()}): no policy sees "
                    "it; --start sets the wall-clock time of the trace's first row",
                    file=sys.stderr,
                )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `surgeguard bench`; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [name for name in args.policy if name not in POLICIES]
    if unknown:
        parser.error(f"unknown policy {', '.join(unknown)}; known: {', '.join(POLICIES)}")
    policy_names = list(dict.fromkeys(args.policy)) or list(POLICIES)
    _check_flags(parser, args)
    try:
        params = FleetParams(
            pending_minutes=args.pending_minutes,
            warming_minutes=args.warming_minutes,
            min_size=args.min_size,
            max_factor=args.max_factor,
            capacity_divisor=args.capacity_divisor,
            initial_utilization=args.initial_utilization,
            scheduled_action_delay_minutes=args.scheduled_action_delay,
        )
        warm_pool = bench_warm_pool(args)
    except ValueError as err:
        parser.error(str(err))
    try:
        traces = [load_trace(path) for path in args.traces]
        for trace in traces:
            size_fleet(trace, params)  # fail before running anything on a trace without demand
            replay_end(args.start, trace)
    except (TraceFormatError, ValueError, OverflowError) as err:
        print(f"surgeguard bench: error: {err}", file=sys.stderr)
        return 2
    _check_setting(parser, args)
    if args.frontier or args.show_config or _runs_a_surgeguard_family(args):
        settings = HEADROOM_SETTINGS if args.frontier else (args.setting or DEFAULT_SETTING,)
        try:
            for trace in traces:
                check_surgeguard_fits(trace, params, settings)
        except ValueError as err:
            print(f"surgeguard bench: error: {err}", file=sys.stderr)
            return 2
    if args.show_config:
        sys.stdout.write(show_config(traces, params, args.setting, args.event))
        return 0
    _warn_events_outside(traces, args.start, args.event)
    if args.frontier:
        if warm_pool is not None:
            parser.error(
                "--warm-pool applies to the bench tables; the frontier is judged on the default fleet"
            )
        from gameday.frontier import frontier_main

        return frontier_main(
            traces,
            params=params,
            start=args.start,
            events=args.event,
            seed=args.seed,
            json_path=args.json,
            png_path=args.png,
            write=sys.stdout.write,
            jobs=args.jobs,
        )
    started = time.perf_counter()
    reports = run_bench(
        traces,
        policy_names,
        params=params,
        start=args.start,
        events=args.event,
        seed=args.seed,
        progress_stream=sys.stderr,
        warm_pool=warm_pool,
        jobs=args.jobs,
        setting=args.setting,
        with_cost=args.explain_cost,
        with_drops=args.explain_drops,
    )
    elapsed = time.perf_counter() - started
    if args.setting is not None and {"surgeguard", "surgeguard-reactive"} & set(policy_names):
        sys.stdout.write(
            f"surgeguard and surgeguard-reactive at headroom setting {args.setting:g} (the default is "
            f"{DEFAULT_SETTING:g}; BENCHMARK.md judges its goals at the default, these verdicts are this "
            "setting's)\n"
        )
    sys.stdout.write(format_report(reports, params, challenger=args.compare, warm_pool=warm_pool))
    simulated = sum(trace.minutes for trace in traces) * len(policy_names)
    sys.stdout.write(
        f"\n{len(policy_names)} policies on {len(traces)} trace(s), {simulated:,} simulated minutes: "
        f"{elapsed:.1f} s wall time\n"
    )
    if args.json is not None:
        numbers = report_json(reports, params, warm_pool=warm_pool)
        numbers["surgeguard_setting"] = DEFAULT_SETTING if args.setting is None else args.setting
        args.json.write_text(json.dumps(numbers, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
