"""`surgeguard report`: after the sale, what happened and what it cost, from the audit table and CloudWatch.

Per group, over an event's window (first phase minus an hour to 65 minutes after the restore, the
lateness a restore is still acted on) or `--from/--to`:
the timeline of applied, rejected and failed decisions with their reasons; a capacity-against-demand
PNG; peak capacity; instance-hours (desired capacity, minute by minute, as the audit trail sets it);
minutes where a signal was over its target (its own CloudWatch metric); each pre-warm and whether it
landed on time; and the what-if: the window's real demand (ALB RequestCount) replayed through every
policy of the benchmark (`gameday.baselines.POLICIES`) on the benchmark's fleet model, side by side.
Markdown and the PNG go to `--out`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surgeguard_cli import output

if TYPE_CHECKING:  # the config's pydantic models take half a second to build: not for --help
    from surgeguard.config import GroupConfig, ScalerConfig

DEFAULT_CONFIG = "surgeguard.yaml"
DEFAULT_STACK = "Surgeguard"
EVENT_MARGIN = timedelta(hours=1)
MARKDOWN_NAME = "report.md"
SHOWN_TIMELINE = 40  # applied decisions listed in the text; the Markdown lists them all
# How far back the desired capacity at a window's start is looked for, passing over records that say
# none (forecaster runs): a month of quarter-hourly runs, 30 pages at most.
BEFORE_WINDOW_RECORDS = 3000

EXAMPLES = """examples:
  surgeguard report --event black-friday-doorbuster --out reports/bf-2026
  surgeguard report --from 2026-11-27T04:00Z --to 2026-11-27T16:00Z --group shop-web
  surgeguard report --event black-friday-doorbuster --json > bf.json

exit codes: 0 written, 2 bad arguments or config, 3 AWS unreadable (stack, table, metrics)"""


@dataclass(frozen=True)
class Decision:
    at: datetime
    outcome: str
    previous: int | None
    new: int | None
    reason: str
    source: str  # the alarm, the sale phase, or the re-evaluation


@dataclass(frozen=True)
class Prewarm:
    event: str
    scheduled: str
    at: datetime
    outcome: str
    target: int | None  # the event's target (`event_target`): what the doors need
    doors: datetime | None
    ready_by: datetime | None  # at + launch + warm-up
    on_time: bool | None
    # Capacity units in service at the doors (`_in_service`, when the group collects its metrics): then
    # "on time" is what really ran, not the launch + warm-up estimate.
    in_service_at_doors: int | None = None
    # The desired capacity the pre-warm left. A pre-warm that raised MaxSize is `applied` even when
    # desired then never moved (Launch suspended, the kill switch set after the raise).
    desired_after: int | None = None
    skip_cause: str | None = None  # the record's, for a skipped pre-warm
    held_back_by: str | None = None  # what kept an applied pre-warm's desired under its target
    # The same firing's other attempts (a failed try, a redelivery skipped as a duplicate), oldest first.
    other_attempts: tuple[str, ...] = ()
    # Why what served at the doors is unknown though the group's metrics say something (a weighted group
    # that collects GroupInServiceInstances only): judged by launch + warm-up instead.
    in_service_unknown: str | None = None


@dataclass
class GroupReport:
    group: str
    start: datetime
    end: datetime
    records: int
    outcomes: dict[str, int]  # of the decisions, forecaster runs apart
    decisions: list[Decision]  # applied, oldest first
    problems: list[Decision]  # rejected and failed (forecaster runs included)
    # Per minute of the window; None where no audit record (in the window or before it) says.
    desired: list[int | None]
    demand: list[float | None]  # requests per minute (None: no datapoint)
    peak_capacity: int | None  # None: unknown
    instance_hours: float | None
    minutes_over_target: dict[str, int]  # per signal
    prewarms: list[Prewarm]
    whatif: dict[str, dict[str, Any]] = field(default_factory=dict)  # policy -> metrics
    whatif_fleet: dict[str, Any] = field(default_factory=dict)
    whatif_events: int = 0
    requests_target: float | None = None  # requests per instance per minute, when the group has it
    png: str | None = None
    # The forecaster's runs: recorded `applied` with no desired capacity (the floor is a later
    # decision's), so neither decisions nor counted with them.
    forecasts: list[Decision] = field(default_factory=list)
    forecast_outcomes: dict[str, int] = field(default_factory=dict)
    # Records that cannot be read (hand-edited, or written by a bug): each its sort key and what is wrong,
    # counted in `records` and in nothing else.
    damaged: list[str] = field(default_factory=list)
    # Set when the window has not ended yet: every figure is counted up to this moment (None: closed).
    open_at: datetime | None = None
    # Why nothing was read from CloudWatch (its data for the window is gone), or None: read.
    metrics_gone: str | None = None


def _source(record: Mapping[str, Any]) -> str:
    trigger = record.get("trigger") or {}
    if trigger.get("phase"):
        return f"{trigger.get('event', '?')}/{trigger['phase']}"
    return str(trigger.get("alarm") or trigger.get("source") or "?")


def _decision(record: Mapping[str, Any]) -> Decision:
    return Decision(
        at=output.utc_time(record["at"]),
        outcome=str(record["outcome"]),
        previous=record.get("previous_desired"),
        new=record.get("new_desired"),
        reason=str(record.get("reason") or record.get("error") or ""),
        source=_source(record),
    )


def is_forecaster_run(record: Mapping[str, Any]) -> bool:
    return (record.get("trigger") or {}).get("source") == "forecaster"


# The fields `status` and `report` count with: a record whose whole number is a string ("four", a hand
# edit in the console) once crashed both, and `report` called it AWS being unreadable.
_WHOLE_NUMBERS = ("previous_desired", "new_desired", "event_target")


def audit_damage(record: Mapping[str, Any]) -> str | None:
    """Why an audit record cannot be read as one (hand-edited, or written by a bug), or None: sound.
    A damaged record is shown as such and left out of every count made from records."""
    at = record.get("at")
    if not isinstance(at, str):
        return "no `at` time" if at is None else f"`at` is {str(at)[:40]!r}, not a time"
    try:
        output.utc_time(at)
    except ValueError:
        return f"`at` {at[:40]!r} is not an ISO 8601 time within UTC's range"
    if not isinstance(record.get("outcome"), str):
        return "no `outcome`" if record.get("outcome") is None else "`outcome` is not a string"
    for name in _WHOLE_NUMBERS:
        value = record.get(name)
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        # Below 0 too: no group holds -4 instances, and a -4 was once counted into instance-hours.
        if value is not None and (isinstance(value, bool) or not whole or value < 0):
            return f"`{name}` is {str(value)[:40]!r}, not a whole number of 0 or more"
    for name in ("trigger", "inputs"):
        if record.get(name) is not None and not isinstance(record[name], dict):
            return f"`{name}` is not a map"
    return None


def damaged_label(record: Mapping[str, Any], damage: str) -> str:
    """A damaged record named by its sort key (the one field a query always returns)."""
    from surgeguard import keys

    return f"{record.get(keys.SORT_KEY, '?')}: {damage}"


def desired_after(record: Mapping[str, Any]) -> int | None:
    """The desired capacity a record left the group at: the new one of a change made (or of none
    needed), else the one it found (a skip, a dry-run's would-be change, a failure); None for a record
    without either (a forecaster run, a rejection)."""
    if record.get("outcome") in ("applied", "unchanged") and record.get("new_desired") is not None:
        return int(record["new_desired"])
    previous = record.get("previous_desired")
    return None if previous is None else int(previous)


def desired_series(
    records: Sequence[Mapping[str, Any]], start: datetime, minutes: int, before: int | None = None
) -> list[int | None]:
    """Desired capacity per minute as the audit trail sets it: from the first record's previous desired
    (what the group held then), else from `before` (what the latest record before the window left, which
    may be weeks old); from each record's minute on, what it saw the group at, then what an applied one
    set. None until some record says."""
    said = [r for r in records if r.get("previous_desired") is not None or _applied_desired(r) is not None]
    known = [r for r in records if r.get("previous_desired") is not None]
    level = int(known[0]["previous_desired"]) if known else before
    series: list[int | None] = []
    index = 0
    for minute in range(minutes):
        edge = start + timedelta(minutes=minute + 1)
        while index < len(said) and output.utc_time(said[index]["at"]) < edge:
            record = said[index]
            if record.get("previous_desired") is not None:
                level = int(record["previous_desired"])  # seen: a hand change or a scheduled action since
            applied = _applied_desired(record)
            if applied is not None:
                level = applied
            index += 1
        series.append(level)
    return series


def _applied_desired(record: Mapping[str, Any]) -> int | None:
    if record.get("outcome") == "applied" and record.get("new_desired") is not None:
        return int(record["new_desired"])
    return None


def desired_before(aws: Any, table: str, group: str, start: datetime) -> int | None:
    """What the latest audit record before `start` left the group's desired capacity at, or None."""
    from itertools import islice

    for record in islice(aws.audit_records_newest_first(table, group, before=start), BEFORE_WINDOW_RECORDS):
        if audit_damage(record) is not None or is_forecaster_run(record):
            continue
        if (level := desired_after(record)) is not None:
            return level
    return None


def _in_service(aws: Any, group: str, when: datetime, period: int = 60) -> tuple[int | None, str | None]:
    """The capacity in service (Minimum) in the minute `when` starts, in capacity units as the pre-warm's
    target counts them, and None; or None and why it is unknown. From GroupInServiceCapacity (a weighted
    group's instance is its WeightedCapacity units), else GroupInServiceInstances for a group that weighs
    nothing only: 8 instances of weight 2 were once held against a target of 15 units and called late.
    (None, None) when the group does not collect its metrics (enable-metrics-collection) or the data is
    gone. `period`: the finest CloudWatch keeps at `when`'s age (`period_for_age`); over 60 s, the least
    in service in the period `when` falls in (read at 60 s past 15 days, CloudWatch answered nothing, and
    a pre-warm 12 of 15 at the doors was judged by launch + warm-up alone: on time)."""
    capacity = _minimum(aws, group, "GroupInServiceCapacity", when, period)
    if capacity is not None:
        return capacity, None
    instances = _minimum(aws, group, "GroupInServiceInstances", when, period)
    if instances is None:
        return None, None
    weighs = _weighs(aws, group)
    if weighs is False:
        return instances, None
    how = (
        "weighs its instances"
        if weighs
        else "no longer exists, so whether it weighs its instances is unknown"
    )
    return None, (
        f"{instances} instances in service at the doors, but the group {how} and GroupInServiceCapacity "
        "has no data there: the units serving are unknown"
    )


def _minimum(aws: Any, group: str, metric: str, when: datetime, period: int) -> int | None:
    # Older data is answered in whole periods from the epoch: the one `when` falls in.
    start = datetime.fromtimestamp(when.timestamp() // period * period, UTC)
    points = aws.metric_series(
        "AWS/AutoScaling",
        metric,
        {"AutoScalingGroupName": group},
        "Minimum",
        start,
        start + timedelta(seconds=period),
        period,
    )
    return int(min(points.values())) if points else None


def _weighs(aws: Any, group: str) -> bool | None:
    """Whether the group counts an instance as anything but one capacity unit (a WeightedCapacity other
    than 1 on a mixed-instances override or an instance), or None: no such group any more."""
    from surgeguard_cli.aws import capacity_units

    asg = aws.group(group)
    if asg is None:
        return None
    overrides = asg.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("Overrides", [])
    return any(capacity_units(item) != 1 for item in [*overrides, *asg.get("Instances", [])])


def _held_back_by(record: Mapping[str, Any]) -> str | None:
    """What kept a pre-warm that raised MaxSize from moving desired (the record keeps no skip cause
    then: its outcome is the raise's): the kill switch, dry-run, or a suspended process."""
    inputs = record.get("inputs") or {}
    if inputs.get("pause") not in (None, "none"):
        return f"paused: {inputs['pause']}"
    if inputs.get("dry_run"):
        return "dry-run"
    suspended = re.search(r"(\w+) is suspended on the group", str(record.get("reason") or ""))
    return f"{suspended.group(1)} suspended" if suspended else None


_LANDED = ("applied", "unchanged")


def _attempt(record: Mapping[str, Any]) -> str:
    cause = record.get("skip_cause") or record.get("error")
    return f"{output.utc_time(record['at']):%H:%M:%S} {record['outcome']}" + (f" ({cause})" if cause else "")


def _prewarms(
    group: GroupConfig, records: Sequence[Mapping[str, Any]], aws: Any = None, now: datetime | None = None
) -> list[Prewarm]:
    """Each pre-warm against its event's target: on time only when it set desired to that target and
    that many were serving at the doors (measured, or launch + warm-up after the pre-warm). One pre-warm
    is one firing (event and scheduled time): Lambda's retries and Scheduler's redeliveries of it are its
    attempts, judged by the last that landed (a failed try, then the retry's apply, then a redelivery's
    `skipped: duplicate` is one pre-warm, on time; each once read as a pre-warm of its own)."""
    firings: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        trigger = record.get("trigger") or {}
        if trigger.get("phase") == "prewarm":
            firing = (str(trigger.get("event")), str(trigger.get("scheduled_time", "")))
            firings.setdefault(firing, []).append(record)
    found = []
    for (event, scheduled), attempts in firings.items():
        landed = [r for r in attempts if r["outcome"] in _LANDED]
        record = landed[-1] if landed else attempts[-1]
        others = tuple(_attempt(r) for r in attempts if r is not record)
        found.append(_prewarm(group, event, scheduled, record, others, aws, now))
    return found


def _prewarm(
    group: GroupConfig,
    event_name: str,
    scheduled: str,
    record: Mapping[str, Any],
    others: tuple[str, ...],
    aws: Any,
    now: datetime | None = None,
) -> Prewarm:
    from surgeguard.domain.sales import plan_event

    event = group.event(event_name)
    at = output.utc_time(record["at"])
    doors = plan_event(group, event).start if event else None
    ready = at + timedelta(seconds=group.launch_seconds + group.warmup_seconds)
    landed = record["outcome"] in _LANDED
    target = None if record.get("event_target") is None else int(record["event_target"])
    left_at = desired_after(record)
    reached = landed and target is not None and left_at is not None and left_at >= target
    period = None if doors is None else _period_at(doors, now)
    serving, unknown = (
        _in_service(aws, group.name, doors, period)
        if aws is not None and doors is not None and period is not None
        else (None, None)
    )
    on_time: bool | None = None  # unknown: an event no longer in the config, or no target recorded
    if doors is not None and not landed:
        on_time = False
    elif doors is not None and target is not None:
        on_time = reached and (serving >= target if serving is not None else ready <= doors)
    return Prewarm(
        event=event_name,
        scheduled=scheduled,
        at=at,
        outcome=str(record["outcome"]),
        target=target,
        doors=doors,
        ready_by=ready,
        on_time=on_time,
        in_service_at_doors=serving,
        desired_after=left_at,
        skip_cause=record.get("skip_cause"),
        held_back_by=_held_back_by(record) if landed and not reached else None,
        other_attempts=others,
        in_service_unknown=unknown,
    )


def _period_at(when: datetime, now: datetime | None) -> int | None:
    """The finest period CloudWatch keeps for `when` (60 s when `now` is not given: data of today), or
    None: older than it keeps."""
    from surgeguard_cli.aws import period_for_age

    try:
        return 60 if now is None else period_for_age(min(when, now), now)
    except ValueError:
        return None


def _minutes(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 60)


def _per_minute(
    points: Mapping[datetime, float], start: datetime, minutes: int, period: int
) -> list[float | None]:
    values: list[float | None] = [None] * minutes
    for when, value in points.items():
        index = int((when - start).total_seconds() // 60)
        for k in range(index, min(minutes, index + period // 60)):
            if k >= 0:
                values[k] = value / (period // 60)  # a 5-minute Sum spread over its minutes
    return values


def _signal_minutes_over(
    aws: Any, group: GroupConfig, start: datetime, end: datetime, period: int
) -> dict[str, int]:
    from surgeguard.config import BASIC_MONITORING_PERIOD
    from surgeguard.signals import signal_metric

    over: dict[str, int] = {}
    if end <= start:  # a window not begun yet: CloudWatch refuses an empty range
        return over
    for signal in group.signals:
        metric = signal_metric(group, signal)
        if metric.is_math or signal.kind == "response_time":
            continue  # math (the backlog per instance) and latency thresholds: see their alarms instead
        (stat,) = metric.stats
        # Each datapoint stands for its own period: read at 60 s, basic monitoring's CPU still comes
        # one datapoint per 5 minutes (the average of those 5), so it is read, and counted, as such.
        each = max(period, BASIC_MONITORING_PERIOD if group.basic_ec2_cpu(signal) else 60)
        points = aws.metric_series(
            stat.namespace, stat.metric_name, dict(stat.dimensions), stat.statistic, start, end, each
        )
        # Targets are per minute; a Sum over a coarser period (older data) is brought back to one.
        per_minute = each // 60 if stat.statistic == "Sum" else 1
        over[signal.id] = sum(
            max(0, _minutes(max(when, start), min(when + timedelta(seconds=each), end)))
            for when, value in points.items()
            if value / per_minute > signal.target
        )
    return over


def _demand(aws: Any, group: GroupConfig, start: datetime, end: datetime, period: int) -> list[float | None]:
    from surgeguard.config import RequestsPerTargetSignal

    signal = next((s for s in group.signals if isinstance(s, RequestsPerTargetSignal)), None)
    minutes = _minutes(start, end)
    if signal is None or minutes == 0:  # a window not begun yet: CloudWatch refuses an empty range
        return [None] * minutes
    points = aws.request_counts(signal, start, end, period)
    return _per_minute(points, start, minutes, period)


def declared(group: GroupConfig, start: datetime, end: datetime) -> list[Any]:
    """The group's multiplier events that overlap the window, as the benchmark declares events (an
    absolute peak has no multiplier to give it), so the simulated Surgeguard pre-warms as the real one."""
    from gameday.engine import DeclaredEvent
    from surgeguard.domain.sales import plan_event

    found = []
    for event in group.events:
        plan = plan_event(group, event)
        if event.peak_multiplier is None or plan.end <= start or plan.start >= end:
            continue
        minutes = int((plan.end - plan.start).total_seconds() // 60)
        found.append(DeclaredEvent(plan.start, minutes, event.peak_multiplier))
    return found


def whatif(
    demand: Sequence[float | None], start: datetime, name: str, events: Sequence[Any] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The window's demand through every benchmark policy (their public entry points), on the
    benchmark's fleet model, with the group's declared events; (policy -> metrics, the fleet used)."""
    from gameday import surgeguard_policy  # noqa: F401  (registers the `surgeguard` policy)
    from gameday.baselines import POLICIES
    from gameday.engine import oracle_instance_minutes, simulate
    from gameday.fleet import DEFAULT_PARAMS, size_fleet
    from gameday.moto_path import redirect_logger
    from gameday.traces import Trace

    trace = Trace.from_demand(name, [0.0 if v is None else v for v in demand])
    sizing = size_fleet(trace, DEFAULT_PARAMS)
    oracle = oracle_instance_minutes(trace, sizing.capacity_per_instance)
    results: dict[str, Any] = {}
    with open(os.devnull, "w") as quiet, redirect_logger("surgeguard", quiet):  # the handler's own log lines
        for policy, factory in POLICIES.items():
            result = simulate(
                trace, factory(), sizing=sizing, start=start, events=events, oracle_minutes=oracle
            )
            results[policy] = result.metrics.as_dict()
    return results, asdict(sizing)


def build_group_report(
    aws: Any,
    table: str,
    group: GroupConfig,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    replay: bool = True,
) -> GroupReport:
    from surgeguard_cli.aws import period_for_age

    read = aws.audit_records(table, group.name, start, end)
    damage = [(record, audit_damage(record)) for record in read]
    records = [record for record, why in damage if why is None]
    runs = [r for r in records if is_forecaster_run(r)]
    decided = [r for r in records if not is_forecaster_run(r)]
    # A window still open (an event's runs 65 minutes past its restore, and a report is wanted at once)
    # is counted up to now: minutes still to come have no capacity, cost or demand yet. Carried to the
    # window's end they once doubled the instance-hours, and the what-if replayed them as no demand.
    counted_to = min(end, max(start, now))
    minutes = _minutes(start, counted_to)
    try:
        period: int | None = period_for_age(start, now)
        gone = None
    except ValueError as error:  # older than CloudWatch keeps: the audit trail is still all there
        period, gone = None, str(error)
    desired = desired_series(decided, start, minutes, desired_before(aws, table, group.name, start))
    # Never 0 for a capacity no record tells, nor for no minute counted (a window not begun): unknown.
    known = None if None in desired or not desired else [int(n) for n in desired if n is not None]
    demand: list[float | None] = (
        [None] * minutes if period is None else _demand(aws, group, start, counted_to, period)
    )
    report = GroupReport(
        group=group.name,
        start=start,
        end=end,
        records=len(read),
        outcomes=dict(Counter(str(r["outcome"]) for r in decided).most_common()),
        decisions=[_decision(r) for r in decided if r["outcome"] == "applied"],
        problems=[_decision(r) for r in records if r["outcome"] in ("rejected", "failed")],
        desired=desired,
        demand=demand,
        peak_capacity=None if known is None else max(known),
        instance_hours=None if known is None else sum(known) / 60,
        minutes_over_target={}
        if period is None
        else _signal_minutes_over(aws, group, start, counted_to, period),
        prewarms=_prewarms(group, decided, None if period is None else aws, now),
        requests_target=group.requests_target(),
        forecasts=[_decision(r) for r in runs],
        forecast_outcomes=dict(Counter(str(r["outcome"]) for r in runs).most_common()),
        damaged=[damaged_label(record, why) for record, why in damage if why is not None],
        open_at=now if counted_to < end else None,
        metrics_gone=gone,
    )
    if replay and any(v for v in demand):
        report.whatif, report.whatif_fleet = whatif(
            demand, start, f"{group.name} {start:%Y-%m-%d %H:%M}", declared(group, start, counted_to)
        )
        report.whatif_events = len(declared(group, start, counted_to))
    return report


# --------------------------------------------------------------------------- text


def _hm(when: datetime | None) -> str:
    return "-" if when is None else f"{when:%Y-%m-%d %H:%M} UTC"


def _counts(outcomes: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in outcomes.items())


def _prewarm_line(p: Prewarm) -> str:
    verdict = _prewarm_verdict(p)
    return verdict + (f" (other attempts: {', '.join(p.other_attempts)})" if p.other_attempts else "")


def _prewarm_verdict(p: Prewarm) -> str:
    ran = f"- {p.event}: ran {_hm(p.at)} (scheduled {p.scheduled}), {p.outcome}, target {p.target}; "
    if p.doors is None:
        return ran + "unknown event"
    if p.outcome not in ("applied", "unchanged"):
        return (
            ran
            + f"{p.outcome} ({p.skip_cause or 'see its record'}): no pre-warm for the doors {_hm(p.doors)}"
        )
    if p.target is None:
        return ran + f"its record has no event target: doors {_hm(p.doors)}, on time unknown"
    if p.desired_after is None or p.desired_after < p.target:
        why = f" ({p.held_back_by})" if p.held_back_by else ""
        return ran + (
            f"desired left at {p.desired_after} of the target {p.target}{why}: NOT READY for the doors "
            f"{_hm(p.doors)}"
            + ("" if p.in_service_at_doors is None else f" ({p.in_service_at_doors} in service there)")
        )
    verdict = "on time" if p.on_time else "LATE"
    if p.in_service_at_doors is not None:
        return ran + f"{p.in_service_at_doors} in service at the doors {_hm(p.doors)}: {verdict}"
    estimate = "launch + warm-up" + (f"; {p.in_service_unknown}" if p.in_service_unknown else "")
    return ran + f"serving by {_hm(p.ready_by)} ({estimate}), doors {_hm(p.doors)}: {verdict}"


def _still_open(report: GroupReport) -> str:
    if report.open_at is None:
        return ""
    if report.open_at <= report.start:
        return f", not begun at {_hm(report.open_at)}: nothing to count yet"
    return f", still open: counted up to {_hm(report.open_at)}"


# What opens or closes a link or an image, or opens raw HTML, in Markdown, and the backslashes just before
# it (which would otherwise escape the escape). Not `>`: every "4 -> 8" would show a backslash.
_INLINE = re.compile(r"(\\*)([\[\]<])")


def _inline(text: object) -> str:
    """Text from the audit table (a reason, an alarm's name, an outcome) as Markdown shows it, written:
    `![](url)` once loaded an image from anywhere in report.md's viewer, `[text](url)` linked to
    somewhere its words did not say, and `<img>` was raw HTML."""
    return _INLINE.sub(lambda found: found.group(1) * 2 + "\\" + found.group(2), str(text))


def _one_line(text: str) -> str:
    """A list item of text from the audit table as one line, its control characters escaped: a reason
    holding a newline once began Markdown of its own in the report (a heading, a forged what-if
    table), and its ESC sequences reached the terminal the report is printed on."""
    return " ".join(output.plain(text).split())


def markdown(report: GroupReport, shown: int | None = None) -> str:
    """The report as Markdown (also what the terminal shows, `shown` applied decisions at most)."""
    unknown = (
        "unknown (no audit record in the window or before it says the desired capacity)"
        if report.desired
        else "unknown (no whole minute of the window to count yet)"
    )
    runs = (
        f"; {len(report.forecasts)} forecaster runs: {_counts(report.forecast_outcomes)}"
        if report.forecasts
        else ""
    )
    lines = [
        f"# Surgeguard report: {report.group}",
        "",
        # One line too: it counts by outcome as the items hold them, a hand edit's newline included.
        _one_line(
            f"Window {_hm(report.start)} to {_hm(report.end)}"
            + _still_open(report)
            + f" ({len(report.desired)} minutes); "
            f"{report.records} audit records"
            + (f": {_inline(_counts(report.outcomes))}" if report.outcomes else "")
            + runs
            + (f"; {len(report.damaged)} damaged, left out (listed below)" if report.damaged else "")
        ),
        "",
        "- peak capacity: "
        + (unknown if report.peak_capacity is None else f"{report.peak_capacity} instances"),
        "- instance-hours: "
        + (
            unknown
            if report.instance_hours is None
            else f"{report.instance_hours:.1f} (desired capacity minute by minute, from the audit trail)"
        ),
    ]
    if report.metrics_gone:
        lines.append(
            f"- CloudWatch not read: {report.metrics_gone}; no demand, minutes over target, in-service "
            "count at the doors or what-if (the audit trail is reported whole)"
        )
    offered = [v for v in report.demand if v is not None]
    if offered:
        lines.append(f"- demand: peak {max(offered):,.0f} requests/min, {sum(offered):,.0f} requests in all")
    for signal, minutes in report.minutes_over_target.items():
        lines.append(f"- minutes over target, {signal}: {minutes}")
    lines.append(f"- rejected or failed: {len(report.problems)}")
    if report.png:
        lines += ["", f"![capacity against demand]({Path(report.png).name})"]
    elif None in report.desired:
        lines += ["", "No capacity-against-demand picture: the desired capacity is unknown."]
    lines += ["", "## Pre-warms", ""]
    if not report.prewarms:
        lines.append("none in this window")
    lines += [_one_line(_inline(_prewarm_line(p))) for p in report.prewarms]  # its brackets are data only
    lines += ["", "## Timeline (applied decisions)", ""]
    listed = report.decisions if shown is None else report.decisions[:shown]
    lines += [
        _one_line(f"- {d.at:%H:%M} {d.previous} -> {d.new} {_inline(d.reason)} [{_inline(d.source)}]")
        for d in listed
    ]
    if len(listed) < len(report.decisions):
        lines.append(f"- ... {len(report.decisions) - len(listed)} more in {MARKDOWN_NAME}")
    if report.forecasts:
        # The latest last, as the timeline: each run's floor holds until the next one replaces it.
        runs_listed = report.forecasts if shown is None else report.forecasts[-shown:]
        lines += ["", "## Forecaster runs (floors for later decisions, no capacity change of their own)", ""]
        if len(runs_listed) < len(report.forecasts):
            lines.append(f"- ... {len(report.forecasts) - len(runs_listed)} earlier in {MARKDOWN_NAME}")
        lines += [_one_line(f"- {f.at:%H:%M} {_inline(f.outcome)}: {_inline(f.reason)}") for f in runs_listed]
    if report.problems:
        lines += ["", "## Rejected and failed", ""]
        lines += [
            _one_line(f"- {d.at:%H:%M} {_inline(d.outcome)}: {_inline(d.reason)} [{_inline(d.source)}]")
            for d in report.problems
        ]
    if report.damaged:
        lines += ["", "## Damaged audit items (left out of every count above)", ""]
        lines += [_one_line(f"- {_inline(label)}") for label in report.damaged]
    if report.whatif:
        fleet = report.whatif_fleet
        lines += [
            "",
            "## What-if: this window's demand through the benchmark's policies",
            "",
            f"Benchmark fleet model (not your instances): c = {fleet['capacity_per_instance']:,.0f} "
            f"requests/min per instance, group {fleet['min_size']}..{fleet['max_size']}, starts at "
            f"{fleet['initial_size']}; declared events given to every policy: {report.whatif_events}"
            + (
                "."
                if any("predictive" in policy for policy in report.whatif)
                else "; AWS's predictive scaling is not among the benchmark's policies."
            ),
            "",
            "| policy | dropped_pct | overload_minutes | instance_hours | cost_vs_oracle | actions |",
            "|---|---|---|---|---|---|",
        ]
        for policy, m in report.whatif.items():
            lines.append(
                f"| {policy} | {m['dropped_pct']:.3f} | {m['overload_minutes']} | "
                f"{m['instance_hours']:.1f} | {m['cost_vs_oracle']:.3f} | {m['actions']} |"
            )
    return "\n".join(lines) + "\n"


def as_json(report: GroupReport) -> dict[str, Any]:
    data = asdict(report)
    data.pop("desired")
    data.pop("demand")
    data["series"] = {"desired": report.desired, "demand": report.demand}
    return data


def plot(report: GroupReport, path: Path) -> Path | None:
    """The capacity-against-demand PNG; None (no picture) where the desired capacity is unknown: a
    line drawn at 0 would say the group ran nothing."""
    from gameday.plot import plot_capacity_against_demand

    if None in report.desired or not report.desired:  # unknown, or a window not begun yet
        return None
    return plot_capacity_against_demand(
        path,
        start=report.start,
        demand=report.demand,
        desired=[int(n) for n in report.desired if n is not None],
        applied=[(d.at, d.new) for d in report.decisions if d.new is not None],
        per_instance=report.requests_target,
        title=f"{report.group}: capacity against demand, {_hm(report.start)} to {_hm(report.end)}",
    )


# --------------------------------------------------------------------------- command


def window(config: ScalerConfig, event_name: str) -> tuple[datetime, datetime, list[GroupConfig]]:
    """An event's window: an hour before its first phase (in any group) to its restore's last accepted
    moment (65 minutes after it)."""
    from surgeguard.domain.sales import plan_event
    from surgeguard.schedule_service import PHASE_MAX_AGE

    groups = [g for g in config.groups if g.event(event_name)]
    if not groups:
        raise ValueError(f"no event named {event_name!r} in the config")
    plans = [plan_event(g, g.event(event_name)) for g in groups]  # type: ignore[arg-type]
    start = min(p.first_phase for p in plans) - EVENT_MARGIN
    # The restore is audited when it runs (at or after its planned time), and a retried or late one is
    # still acted on until PHASE_MAX_AGE after it: the window keeps it.
    end = max(p.restore for p in plans) + PHASE_MAX_AGE
    return start.replace(second=0, microsecond=0), end, groups


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgeguard report",
        description="After a sale: timeline, capacity against demand (PNG), peak capacity, instance-hours, "
        "minutes over target, rejections and failures, pre-warms on time, and the same demand through the "
        "benchmark's policies. Markdown + PNG in --out. Needs AWS credentials.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--event",
        metavar="NAME",
        help="the event's window: its first phase - 1 h to its restore + 65 min (a late restore's limit)",
    )
    when.add_argument(
        "--from",
        dest="start",
        type=output.utc_time,
        metavar="ISO",
        help="window start (with --to); ISO 8601, without an offset: UTC",
    )
    parser.add_argument(
        "--to",
        dest="end",
        type=output.utc_time,
        metavar="ISO",
        help="window end; ISO 8601, without an offset: UTC",
    )
    parser.add_argument(
        "--group", action="append", default=[], metavar="NAME", help="only this group (repeatable)"
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    parser.add_argument(
        "--stack", default=DEFAULT_STACK, help=f"deployed stack name (default {DEFAULT_STACK})"
    )
    parser.add_argument("--table", help="the audit table's name, instead of reading it from the stack")
    parser.add_argument(
        "--out", type=Path, default=Path("surgeguard-report"), help="directory for Markdown + PNG"
    )
    parser.add_argument(
        "--no-what-if", action="store_true", help="skip replaying the demand through the policies"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON (files are still written)"
    )
    return parser


def main(argv: Sequence[str], aws: Any = None, now: datetime | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    from surgeguard.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return output.USAGE
    try:
        if args.event:
            start, end, groups = window(config, args.event)
        else:
            if args.end is None or args.end <= args.start:
                raise ValueError("--from needs a later --to")
            start, end, groups = args.start, args.end, list(config.groups)
        if args.group:
            unknown = [g for g in args.group if config.group(g) is None]
            if unknown:
                raise ValueError(f"no group {', '.join(unknown)} in the config")
            # A report of nothing, exit 0, reads as "nothing happened": say which name matched nothing.
            without = [g for g in args.group if g not in {group.name for group in groups}]
            if without:
                having = ", ".join(g.name for g in groups)
                raise ValueError(
                    f"group {', '.join(without)} has no event {args.event!r} (the groups with it: {having})"
                )
            groups = [g for g in groups if g.name in args.group]
    except ValueError as error:
        print(f"surgeguard report: {error}", file=sys.stderr)
        return output.USAGE
    from surgeguard_cli.aws import Aws, AwsError

    aws = aws or Aws()
    now = now or datetime.now(UTC)
    try:
        table = args.table or aws.stack(args.stack).table
        reports = []
        with output.spinner("reading the audit table and CloudWatch"):
            for group in groups:
                reports.append(
                    build_group_report(aws, table, group, start, end, now=now, replay=not args.no_what_if)
                )
    except AwsError as error:  # data errors are the audit items' own, shown as damaged
        print(f"surgeguard report: cannot read AWS: {error}", file=sys.stderr)
        return output.AWS
    args.out.mkdir(parents=True, exist_ok=True)
    texts = []
    for report in reports:
        suffix = "" if len(reports) == 1 else f"-{report.group}"
        picture = plot(report, args.out / f"report{suffix}.png")
        report.png = None if picture is None else str(picture)
        text = markdown(report)
        (args.out / f"report{suffix}.md").write_text(text, encoding="utf-8")
        texts.append(markdown(report, shown=SHOWN_TIMELINE))
    if args.json:
        output.print_json({"reports": [as_json(r) for r in reports]})
    else:
        sys.stdout.write("\n".join(texts))
        print(f"\nwritten to {args.out}/")
    return output.OK
