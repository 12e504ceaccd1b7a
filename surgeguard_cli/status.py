"""`surgeguard status`: the one screen during a sale.

Per group: desired, in service, pending and warming instances; each signal's latest value against its
target; the active event's floor, the scale-in freeze and the temporary max; the kill switch; the
group's alarms in ALARM; the last decisions with their reasons. `--watch` redraws it in place.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from surgeguard_cli import output

if TYPE_CHECKING:  # the config's pydantic models take half a second to build: not for --help
    from surgeguard.config import GroupConfig, ScalerConfig
    from surgeguard.domain.model import EventState

DEFAULT_CONFIG = "surgeguard.yaml"
DEFAULT_STACK = "Surgeguard"
LAST_DECISIONS = 5
# How far back the latest forecaster run is looked for past the last decisions: about two days of a
# group deciding every minute; a forecaster that stopped longer ago has its own watch alarm.
LATEST_RECORDS_READ = 3000
_PENDING = ("Pending", "Pending:Wait", "Pending:Proceed", "Warmed:Pending")

EXAMPLES = """examples:
  surgeguard status                       every group once
  surgeguard status --group shop-web --watch
  surgeguard status --json | jq '.groups[] | {group, desired, in_service}'

exit codes: 0 shown, 1 a group is missing, 2 bad arguments or config, 3 AWS unreadable (a signal's
metrics included: shown as "unreadable")"""


@dataclass
class GroupStatus:
    group: str
    found: bool
    desired: int | None = None
    min_size: int | None = None
    max_size: int | None = None
    in_service: int = 0
    pending: int = 0
    warming: int = 0
    signals: list[dict[str, Any]] = field(default_factory=list)  # id, value, target
    event: str | None = None  # the event whose phases are under way
    floor: int | None = None
    scale_in_frozen: bool = False
    temporary_max: int | None = None
    # Event items the Lambda cannot read (hand-edited): left out of its floors, their targets unknown.
    damaged_events: list[str] = field(default_factory=list)
    damage: str | None = None
    # Sales no longer in the config whose pre-warm raised MaxSize: nothing restores it (README, Failure
    # modes); what to put back, by hand.
    stranded_max: list[str] = field(default_factory=list)
    pause: str = "none"  # the kill switch as the Lambda reads it: global and group combined
    alarms: list[str] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)  # the latest first, forecaster runs apart
    # The forecaster's latest run (it records `applied` with no desired capacity: the floor it sets
    # is for later decisions), or None: none among the latest records read.
    forecast: dict[str, Any] | None = None


def stranded_sales(group: GroupConfig, states: Sequence[EventState], max_size: int) -> list[EventState]:
    """The saved sales no longer in the config whose pre-warm raised MaxSize: their restore went with
    the deploy, and nothing puts it back (README, Failure modes). Only while MaxSize is still above what
    it was and above the config's max, and not restored: the item stays after its restore (the audit
    keeps it), and an event removed once restored strands nothing."""
    return [
        state
        for state in states
        if group.event(state.event) is None
        and state.original_max is not None
        and state.restored_at is None  # restored, then removed: a raise since is another sale's
        and max_size > max(state.original_max, group.max)
    ]


def _event_state(aws: Any, table: str, group: GroupConfig, now: datetime, max_size: int) -> dict[str, Any]:
    """The group's sale events at `now` as the Lambda's decisions see them (`event_limits` on the saved
    event items): a floor, the scale-in freeze and a temporary max only once an event's first phase
    saved its item; a damaged item's event still freezes and bounds, its target (so its floor) unknown."""
    from surgeguard.domain.sales import plan_event, this_editions
    from surgeguard.service import event_limits

    states, damage = aws.event_states(table, group.name)
    stranded = [
        f"{state.event} (MaxSize {state.original_max} before it)"
        for state in stranded_sales(group, states, max_size)
    ]
    if not group.events:
        return {"stranded_max": stranded} if stranded else {}
    states = this_editions(group, states)  # as the Lambda reads them: last year's item is not this sale's
    unreadable = damage.names if damage is not None else ()
    limits = event_limits(group, states, now, unreadable)
    held = {f.name for f in limits.floors}
    plans = {event.name: plan_event(group, event) for event in group.events}
    under_way = [
        name for name, plan in plans.items() if name in held or plan.first_phase <= now < plan.restore
    ]
    if not under_way and damage is None:
        return {"stranded_max": stranded} if stranded else {}
    return {
        "stranded_max": stranded,
        "event": ", ".join(under_way) or None,
        "floor": max((f.capacity for f in limits.floors), default=None),
        "scale_in_frozen": limits.freeze_scale_in is not None,
        "temporary_max": limits.max_size,
        "damaged_events": list(unreadable),
        "damage": damage.detail if damage is not None else None,
    }


def _signals(group: GroupConfig, now: datetime) -> list[dict[str, Any]]:
    from surgeguard.adapters.cloudwatch import CloudWatchSignals
    from surgeguard.adapters.errors import AwsCallError

    try:
        readings = CloudWatchSignals().read(group, now)
    except AwsCallError as error:
        return [
            {"id": s.id, "value": None, "target": s.target, "error": str(error), "unreadable": error.code}
            for s in group.signals
        ]
    return [
        {"id": r.signal_id, "value": r.value, "target": r.target}
        # A query CloudWatch did not answer (its StatusCode Forbidden or InternalError) is unknown too.
        | ({"unreadable": "query not answered"} if r.unanswered else {})
        for r in readings
    ]


def unreadable_signals(statuses: Sequence[GroupStatus]) -> list[str]:
    """`group/signal: why` for each signal that could not be read: shown so, never as "no data"."""
    return [
        f"{s.group}/{sig['id']}: {sig['unreadable']}"
        for s in statuses
        for sig in s.signals
        if sig.get("unreadable")
    ]


def group_status(
    aws: Any,
    stack: Any,
    group: GroupConfig,
    now: datetime,
    alarms: Sequence[dict[str, Any]],
    signals: Any = None,
    owners: Mapping[str, str] | None = None,
) -> GroupStatus:
    """`owners` maps each alarm name the config implies to its group (`alarm_owners`); without it, the
    group's own alarm names are derived from the group alone."""
    from surgeguard.domain.model import Pause

    asg = aws.group(group.name)
    if asg is None:
        return GroupStatus(group.name, found=False)
    from surgeguard_cli.aws import capacity_units

    instances = asg.get("Instances", [])
    # In the units desired counts (a weighted group's instance is WeightedCapacity units), never a count
    # of instances: 4 instances of weight 2 at desired 8 once read as half the group in service.
    units = {i["InstanceId"]: capacity_units(i) for i in instances}
    serving = [i["InstanceId"] for i in instances if i.get("LifecycleState") == "InService"]
    launched = aws.launch_times(serving) if serving else {}
    young = now - timedelta(seconds=group.launch_seconds + group.warmup_seconds)
    switches = [aws.pause(stack.table, None), aws.pause(stack.table, group.name)]
    pause = Pause.combine(*(Pause(s.reading) for s in switches if s is not None))
    owners = owners if owners is not None else alarm_owners(stack.alarm_prefix, [group])
    status = GroupStatus(
        group=group.name,
        found=True,
        desired=int(asg["DesiredCapacity"]),
        min_size=int(asg["MinSize"]),
        max_size=int(asg["MaxSize"]),
        in_service=sum(units[i] for i in serving),
        pending=sum(units[i["InstanceId"]] for i in instances if i.get("LifecycleState") in _PENDING),
        # One EC2 does not describe yet (eventual consistency) was launched a moment ago: warming too.
        warming=sum(units[i] for i in serving if i not in launched or launched[i] > young),
        signals=(signals or _signals)(group, now),
        pause=pause.value,
        alarms=sorted(
            a["AlarmName"]
            for a in alarms
            if owners.get(a["AlarmName"]) == group.name and a.get("StateValue") == "ALARM"
        ),
    )
    status.decisions, status.forecast = _latest(aws, stack.table, group)
    for key, value in _event_state(aws, stack.table, group, now, status.max_size or 0).items():
        setattr(status, key, value)
    return status


def _shown(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        # In UTC, as the column says: an `at` written with another offset was once shown as written.
        "at": output.utc_time(record["at"]).isoformat(),
        "outcome": record["outcome"],
        "previous": record.get("previous_desired"),
        "new": record.get("new_desired"),
        "reason": record.get("reason") or record.get("error") or "",
    }


def _damaged(record: Mapping[str, Any], damage: str) -> dict[str, Any]:
    """A damaged record's row: shown where it falls, with the time its sort key holds."""
    from surgeguard import keys
    from surgeguard_cli.report import damaged_label

    sort_key = str(record.get(keys.SORT_KEY, ""))
    return {
        "at": sort_key.removeprefix(keys.AUDIT_SORT_PREFIX).split("#")[0],
        "outcome": "damaged",
        "previous": None,
        "new": None,
        "reason": f"audit item {damaged_label(record, damage)}",
    }


def _latest(aws: Any, table: str, group: GroupConfig) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The group's last decisions, the latest first, and its forecaster's latest run: read back from the
    latest record until both are found. Forecaster runs once crowded real decisions out of the last 5."""
    from itertools import islice

    from surgeguard_cli.report import audit_damage, is_forecaster_run

    decisions: list[tuple[datetime | None, dict[str, Any]]] = []
    forecast: tuple[datetime, dict[str, Any]] | None = None
    wants_forecast = group.forecast is not None
    for record in islice(aws.audit_records_newest_first(table, group.name), LATEST_RECORDS_READ):
        damage = audit_damage(record)
        if damage is not None:
            if len(decisions) < LAST_DECISIONS:
                decisions.append((None, _damaged(record, damage)))
        elif is_forecaster_run(record):
            at = output.utc_time(record["at"])
            if forecast is None or at > forecast[0]:
                forecast = (at, _shown(record))
        elif len(decisions) < LAST_DECISIONS:
            decisions.append((output.utc_time(record["at"]), _shown(record)))
        if len(decisions) == LAST_DECISIONS and (forecast is not None or not wants_forecast):
            break
    return _latest_first(decisions), forecast[1] if forecast is not None else None


def _latest_first(rows: Sequence[tuple[datetime | None, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows by their instants, the latest first. The table sorts by its key, which holds `at` as
    written: a hand edit's 10:45+05:30 (05:15 UTC) sorted after 05:20 UTC. A damaged row, whose time
    cannot be read (None), stays right after the row read before it (sorted() keeps ties in order)."""
    timed: list[tuple[datetime, dict[str, Any]]] = []
    last_known = datetime.max.replace(tzinfo=UTC)  # a damaged row read first stays first
    for at, row in rows:
        last_known = at if at is not None else last_known
        timed.append((last_known, row))
    return [row for _, row in sorted(timed, key=lambda pair: pair[0], reverse=True)]


def alarm_owners(prefix: str, groups: Sequence[GroupConfig]) -> dict[str, str]:
    """Alarm name -> group, through the config's own naming (`ScalerConfig.alarms`, as the Lambda and
    preflight map them), never by parsing the name: a long group name's alarms are named
    `<group cut>~<hash>`, and group `web`'s prefix `web/` also starts `web/api`'s alarms."""
    from surgeguard.config import ScalerConfig

    # alarms() reads only the groups; the config's other fields do not name alarms.
    config = ScalerConfig.model_construct(groups=list(groups))
    return {spec.name: spec.group for spec in config.alarms(prefix)}


def collect(
    aws: Any, stack: Any, config: ScalerConfig, groups: Sequence[str], now: datetime, signals: Any = None
) -> list[GroupStatus]:
    alarms = aws.alarms(stack.alarm_prefix)
    owners = {spec.name: spec.group for spec in config.alarms(stack.alarm_prefix)}
    chosen = [g for g in config.groups if not groups or g.name in groups]
    return [group_status(aws, stack, g, now, alarms, signals, owners) for g in chosen]


def _value(signal: Mapping[str, Any]) -> str:
    if signal.get("unreadable"):
        return f"unreadable: {signal['unreadable']}"
    return "no data" if signal["value"] is None else f"{signal['value']:,.1f}"


def render(statuses: Sequence[GroupStatus], now: datetime) -> Any:
    from rich.console import Group

    parts: list[Any] = []
    rows: list[tuple[Any, ...]] = []
    for s in statuses:
        if not s.found:
            rows.append((s.group, "MISSING", "", "", "", "", "", "", ""))
            continue
        event = s.event or ""
        if s.event:
            event += f" floor {s.floor}" if s.floor is not None else ""
            event += ", scale-in frozen" if s.scale_in_frozen else ""
            event += f", max {s.temporary_max}" if s.temporary_max else ""
        if s.damaged_events:  # the Lambda leaves the item out: no floor from it
            damaged = f"item of {', '.join(s.damaged_events)} damaged: target unknown"
            event = f"{event}, {damaged}" if event else damaged
        if s.stranded_max:  # a sale removed from the config after its pre-warm raised MaxSize
            stranded = f"removed sale raised MaxSize, restore by hand: {', '.join(s.stranded_max)}"
            event = f"{event}, {stranded}" if event else stranded
        event = event or "-"
        rows.append(
            (
                s.group,
                s.desired,
                s.in_service,
                s.pending,
                s.warming,
                f"{s.min_size}..{s.max_size}",
                event,
                s.pause,
                ", ".join(a.rsplit("/", 2)[-2] + "/" + a.rsplit("/", 1)[-1] for a in s.alarms) or "-",
            )
        )
    parts.append(
        output.table(
            f"surgeguard status, {now:%Y-%m-%d %H:%M:%S} UTC",
            ["group", "desired", "in service", "pending", "warming", "bounds", "event", "pause", "in ALARM"],
            rows,
        )
    )
    signal_rows = [
        (s.group, sig["id"], _value(sig), f"{sig['target']:g}", _over(sig))
        for s in statuses
        for sig in s.signals
    ]
    if signal_rows:
        parts.append(
            output.table("signals", ["group", "signal", "value", "target", "vs target"], signal_rows)
        )
    decision_rows = [
        (s.group, d["at"][5:19].replace("T", " "), d["outcome"], d["previous"], d["new"], d["reason"])
        for s in statuses
        for d in s.decisions
    ]
    if decision_rows:
        parts.append(
            output.table(
                f"last {LAST_DECISIONS} decisions per group",
                ["group", "at (UTC)", "outcome", "previous", "new", "reason"],
                decision_rows,
            )
        )
    forecast_rows = [
        (s.group, s.forecast["at"][5:19].replace("T", " "), s.forecast["outcome"], s.forecast["reason"])
        for s in statuses
        if s.forecast is not None
    ]
    if forecast_rows:
        parts.append(
            output.table(
                "latest forecaster run per group (a floor for later decisions)",
                ["group", "at (UTC)", "outcome", "reason"],
                forecast_rows,
            )
        )
    return Group(*parts)


def _stale(screen: Any, shown_at: datetime, error: Exception, interval: float) -> Any:
    """The last screen read, under a line saying that the latest redraw could not read AWS."""
    from rich.console import Group
    from rich.text import Text

    return Group(
        screen,
        Text(
            output.plain(
                f"the redraw at {datetime.now(UTC):%H:%M:%S} UTC could not read AWS ({error}): this screen "
                f"is from {shown_at:%H:%M:%S} UTC; trying again in {interval:g} s"
            )
        ),
    )


def _over(signal: dict[str, Any]) -> str:
    if signal.get("value") is None:
        return "-"
    return f"{100 * signal['value'] / signal['target']:.0f}%"


def _interval(text: str) -> float:
    """--interval: seconds, finite and above 0. A negative or NaN one crashed `--watch` in time.sleep
    with a traceback; 0 redrew without pause, every redraw reading Auto Scaling, whose request rate the
    Lambda's own scaling calls share."""
    import math

    seconds = float(text)
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgeguard status",
        description="Each group's size, signals against targets, event floor/freeze/temporary max, pause, "
        "alarms in ALARM and last decisions. Needs AWS credentials.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--group", action="append", default=[], metavar="NAME", help="only this group (repeatable)"
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    parser.add_argument(
        "--stack", default=DEFAULT_STACK, help=f"deployed stack name (default {DEFAULT_STACK})"
    )
    parser.add_argument("--watch", action="store_true", help="redraw in place until Ctrl-C")
    parser.add_argument(
        "--interval", type=_interval, default=10.0, help="seconds between redraws (default 10)"
    )
    parser.add_argument("--json", action="store_true", help="print the status as JSON (once)")
    return parser


def main(argv: Sequence[str], aws: Any = None, now: datetime | None = None, signals: Any = None) -> int:
    args = build_parser().parse_args(list(argv))
    from surgeguard.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return output.USAGE
    unknown = [g for g in args.group if config.group(g) is None]
    if unknown:
        print(f"surgeguard status: no group {', '.join(unknown)} in {args.config}", file=sys.stderr)
        return output.USAGE
    from surgeguard_cli.aws import Aws, AwsError

    aws = aws or Aws()

    def read() -> tuple[list[GroupStatus], datetime]:
        moment = now or datetime.now(UTC)
        return collect(aws, stack, config, args.group, moment, signals), moment

    try:
        stack = aws.stack(args.stack)
        statuses, moment = read()
        if args.json:
            output.print_json({"at": moment, "groups": [asdict(s) for s in statuses]})
        elif args.watch:
            from rich.live import Live

            failed: AwsError | None = None
            with Live(render(statuses, moment), console=output.console(), screen=False) as live:
                try:
                    while True:
                        time.sleep(args.interval)
                        try:
                            statuses, moment = read()
                            failed = None
                            live.update(render(statuses, moment))
                        except AwsError as error:
                            # One throttled redraw once ended the watch as the doors opened, when Auto
                            # Scaling throttles the whole account: the last screen stays, saying so.
                            failed = error
                            live.update(_stale(render(statuses, moment), moment, error, args.interval))
                except KeyboardInterrupt:
                    pass
            if failed is not None:
                raise failed
        else:
            output.console().print(render(statuses, moment))
    except AwsError as error:
        print(f"surgeguard status: cannot read AWS: {error}", file=sys.stderr)
        return output.AWS
    unreadable = unreadable_signals(statuses)
    if unreadable:
        # Shown, but not all of it: a denied GetMetricData once read "no data" and exited 0.
        print(f"surgeguard status: cannot read AWS: signals {'; '.join(unreadable)}", file=sys.stderr)
        return output.AWS
    return output.OK if all(s.found for s in statuses) else output.FOUND
