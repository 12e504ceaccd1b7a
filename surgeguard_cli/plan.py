"""`surgeguard plan`: what the declared sale events will do, and when, before anything is deployed.

For each group's events: the pre-warm, doors, end, release and restore times in UTC and in the event's
own zone, the lead time broken down, the target when it can be known now, and what looks wrong:
overlapping events, wall times that do not exist or occur twice on a daylight-saving change day, a
target above the (temporary) max, too many schedules for one group, events already past.
The times are `surgeguard.domain.sales.plan_event`'s, the ones the stack schedules. No AWS call, unless
`--learn-launch-times` reads each group's recent launches (DescribeScalingActivities) to check the
configured `launch_seconds` against reality, or `--check-groups` reads each group's scaling policies
and scheduled actions (other writers that would fight Surgeguard).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from surgeguard.config import ConfigError, GroupConfig, SaleEvent, ScalerConfig, load_config
from surgeguard.domain.sales import RAMP_PREFIX, EventPlan, LeadTime, plan_event, target_capacity
from surgeguard_cli import output
from surgeguard_cli.phase_metadata import StalePhase, stale_in_assembly

DEFAULT_CONFIG = "surgeguard.yaml"

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    group: str
    event: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.group}/{self.event}" if self.event else self.group
        return f"{self.level}: {where}: {self.message}"


@dataclass(frozen=True)
class EventReport:
    event: SaleEvent
    plan: EventPlan
    target: str  # the number and how, or when it will be computed
    findings: list[Finding] = field(default_factory=list)

    def times(self) -> dict[str, datetime]:
        """Every moment worth showing, in order, UTC (a release soon after the doors comes before the
        end: `release_after_doors_minutes`)."""
        moments = {
            **{phase: when for phase, when in self.plan.phase_times().items() if phase.startswith("ramp-")},
            "pre-warm": self.plan.prewarm,
            "doors": self.plan.start,
            "end": self.plan.end,
            "release": self.plan.release,
            "restore": self.plan.restore,
        }
        return dict(sorted(moments.items(), key=lambda moment: moment[1]))


@dataclass(frozen=True)
class GroupReport:
    group: GroupConfig
    events: list[EventReport]
    findings: list[Finding]  # about the group as a whole (overlaps, schedule count)


@dataclass(frozen=True)
class PlanReport:
    now: datetime
    groups: list[GroupReport]
    # About a stored cloud assembly's schedules for groups or events this config does not declare.
    assembly_findings: list[Finding] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        found = []
        for group in self.groups:
            for event in group.events:
                found.extend(event.findings)
            found.extend(group.findings)
        return found + self.assembly_findings

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]


def _minutes(delta: timedelta) -> str:
    total = int(delta.total_seconds() // 60)
    seconds = int(delta.total_seconds()) % 60
    text = f"{total}m"
    return f"{text}{seconds}s" if seconds else text


def lead_breakdown(lead: LeadTime) -> str:
    return (
        f"{_minutes(lead.total)} = launch {_minutes(lead.launch)} + warm-up {_minutes(lead.warmup)} "
        f"+ scheduler lateness {_minutes(lead.scheduler_lateness)} + margin {_minutes(lead.margin)}"
    )


def wall_clock_problem(wall: datetime, zone: str) -> tuple[str, str] | None:
    """(level, why) when naive `wall` does not exist (error) or occurs twice (warning) in `zone`."""
    tz = ZoneInfo(zone)
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
        # fold=0 reads a skipped time with the offset before the change: say what it lands on.
        lands = first.astimezone(UTC).astimezone(tz)
        return ERROR, (
            f"{wall:%Y-%m-%d %H:%M} does not exist in {zone} (the clocks skip it that night); "
            f"it would be read as {lands:%H:%M %Z}: give a time that exists"
        )
    return WARNING, (
        f"{wall:%Y-%m-%d %H:%M} occurs twice in {zone} (the clocks go back that night); "
        f"the first one is meant ({first:%H:%M %Z} = {first.astimezone(UTC):%H:%M} UTC), not "
        f"{second:%H:%M %Z} ({second.astimezone(UTC):%H:%M} UTC)"
    )


def _dst_findings(group: GroupConfig, event: SaleEvent, plan: EventPlan) -> list[Finding]:
    found = []
    for label, wall in (("start", event.start), ("end", event.end)):
        problem = wall_clock_problem(wall, event.timezone)
        if problem:
            found.append(Finding(problem[0], group.name, event.name, f"{label} {problem[1]}"))
    tz = ZoneInfo(event.timezone)
    prewarm = plan.prewarm.astimezone(tz)
    if prewarm.replace(fold=1 - prewarm.fold).utcoffset() != prewarm.utcoffset():
        found.append(
            Finding(
                WARNING,
                group.name,
                event.name,
                f"pre-warm at {prewarm:%Y-%m-%d %H:%M} local occurs twice in {event.timezone} that night "
                f"(this one is {prewarm:%Z}); its schedule is written in UTC "
                f"({plan.prewarm:%Y-%m-%dT%H:%M}) so it fires once, at the right one",
            )
        )
    start = plan.start.astimezone(tz)
    if prewarm.utcoffset() != start.utcoffset():
        wall_gap = start.replace(tzinfo=None) - prewarm.replace(tzinfo=None)
        found.append(
            Finding(
                WARNING,
                group.name,
                event.name,
                f"daylight saving changes between pre-warm ({prewarm:%H:%M %Z}) and doors "
                f"({start:%H:%M %Z}): the clocks show {_minutes(wall_gap)} between them, the real lead "
                f"is {_minutes(plan.lead.total)} (the schedule uses the real one)",
            )
        )
    return found


def _target(group: GroupConfig, event: SaleEvent) -> tuple[str, list[Finding]]:
    ceiling = event.temporary_max or group.max
    ceiling_name = f"temporary_max {ceiling}" if event.temporary_max else f"max {ceiling}"
    per_instance = group.requests_target()
    if event.peak_requests_per_minute is not None:
        if per_instance is None:
            return "unknown", [
                Finding(
                    ERROR,
                    group.name,
                    event.name,
                    "an absolute peak (peak_requests_per_minute) needs a requests_per_target signal",
                )
            ]
        target, why = target_capacity(group, event, None, group.min)
        needed = math.ceil(event.peak_requests_per_minute / per_instance - 1e-9)
        if needed > ceiling:
            return f"{target} (clamped: {why})", [
                Finding(
                    ERROR,
                    group.name,
                    event.name,
                    f"the peak needs {needed} instances, above {ceiling_name}: raise temporary_max",
                )
            ]
        return f"{target} ({why})", []
    assert event.peak_multiplier is not None
    # The event's first phase computes the target (a ramp stage floors a share of it) and keeps the
    # capacity it multiplies, so that the pre-warm multiplies the same one.
    first = f"{RAMP_PREFIX}1" if event.ramp else "pre-warm"
    capacity = f"{event.peak_multiplier:g} x the group's desired capacity when {first} runs"
    if per_instance is not None:
        demand = (
            f"{event.peak_multiplier:g} x requests/min at that time last week / {per_instance:g} per instance"
        )
        text = f"computed at {first} from last week's demand ({demand}; without that history, {capacity})"
    else:
        text = f"computed at {first} ({capacity})"
    text += f", within [{group.min}, {ceiling}]"
    at_least = math.ceil(group.min * event.peak_multiplier - 1e-9)
    if at_least > ceiling:
        return text, [
            Finding(
                WARNING,
                group.name,
                event.name,
                f"even from min {group.min}, {event.peak_multiplier:g}x is {at_least} instances, above "
                f"{ceiling_name}: the target will be clamped",
            )
        ]
    return text, []


def _past_findings(group: GroupConfig, event: SaleEvent, plan: EventPlan, now: datetime) -> list[Finding]:
    if plan.restore <= now:
        return [Finding(WARNING, group.name, event.name, "already past: nothing will be scheduled")]
    past = [phase for phase, when in plan.phase_times().items() if when <= now]
    if past:
        return [
            Finding(
                WARNING,
                group.name,
                event.name,
                f"{', '.join(past)} already past: only the later phases will be scheduled",
            )
        ]
    return []


def _overlaps(group: GroupConfig, reports: Sequence[EventReport]) -> list[Finding]:
    """Events whose scheduled windows (first phase to restore) overlap: one's release and restore fire
    while the other is on. A ramp stage is a pre-warm of its share (it raises MaxSize and sets a floor),
    so a window starts at the first ramp stage. A restore of a temporary max while the other event is on
    cuts MaxSize mid-event: an error. A restore of an event that raised no max puts nothing back."""
    found = []
    ordered = sorted(reports, key=lambda r: r.plan.first_phase)
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second.plan.first_phase >= first.plan.restore:
                continue
            # first's restore comes while second is on, or second's (inside first's window) while first is
            restoring = first if first.plan.restore <= second.plan.restore else second
            raised = restoring.event.temporary_max is not None
            level = ERROR if raised else WARNING
            consequence = (
                f"{restoring.event.name}'s restore at {restoring.plan.restore:%Y-%m-%d %H:%M} UTC would put "
                "MaxSize back during the other"
                if raised
                else "their floors and releases interleave"
            )
            found.append(
                Finding(
                    level,
                    group.name,
                    None,
                    f"events {first.event.name} and {second.event.name} overlap (first phase to restore): "
                    f"{consequence}; merge them or move one",
                )
            )
    return found


def _launch_finding(group: GroupConfig, learned: int | None) -> list[Finding]:
    if learned is None or learned <= group.launch_seconds:
        return []
    return [
        Finding(
            WARNING,
            group.name,
            None,
            f"launch history: 90% of recent launches took up to {learned}s, more than launch_seconds "
            f"{group.launch_seconds}s, so pre-warms would land {learned - group.launch_seconds}s late; "
            f"set launch_seconds: {learned}",
        )
    ]


@dataclass(frozen=True)
class OtherScalers:
    """What else scales a group: its scaling policies and scheduled actions, by name."""

    policies: tuple[str, ...] = ()
    scheduled_actions: tuple[str, ...] = ()
    # False: no group of that name in the account and region, so nothing above was really read (both
    # calls answer an empty list for a group that does not exist).
    group_exists: bool = True


def _other_scaler_findings(group: GroupConfig, found: OtherScalers | None) -> list[Finding]:
    if found is None:
        return []
    if not found.group_exists:
        return [
            Finding(
                ERROR,
                group.name,
                None,
                f"no Auto Scaling group {group.name} in this account and region: its scaling policies and "
                "scheduled actions could not be checked (check the name, the region and the profile)",
            )
        ]
    findings = []
    if found.policies:
        findings.append(
            Finding(
                ERROR,
                group.name,
                None,
                f"scaling policies attached ({', '.join(found.policies)}): they change desired capacity "
                "behind Surgeguard's back; delete them (aws autoscaling delete-policy) before deploying",
            )
        )
    if found.scheduled_actions:
        findings.append(
            Finding(
                WARNING,
                group.name,
                None,
                f"scheduled actions on the group ({', '.join(found.scheduled_actions)}): each resets "
                "capacity when it runs; declare sales as events instead",
            )
        )
    return findings


def build_plan(
    config: ScalerConfig,
    now: datetime,
    learned_launch: Mapping[str, int | None] | None = None,
    other_scalers: Mapping[str, OtherScalers] | None = None,
    stale: Sequence[StalePhase] = (),
) -> PlanReport:
    """`learned_launch`: per group, the p90 launch time learned from its history (None: none known).
    `other_scalers`: per group, the scaling policies and scheduled actions found on it (None: not read).
    `stale`: the phases a stored cloud assembly holds whose time is at or before `now` (`--assembly`)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    unclaimed = {(phase.group, phase.event, phase.phase): phase for phase in stale}
    groups = []
    for group in config.groups:
        reports = []
        for event in group.events:
            plan = plan_event(group, event)
            target, findings = _target(group, event)
            findings = _dst_findings(group, event, plan) + findings + _past_findings(group, event, plan, now)
            findings += [
                _stale_finding(unclaimed.pop(key))
                for key in sorted(unclaimed)
                if key[:2] == (group.name, event.name)
            ]
            reports.append(EventReport(event, plan, target, findings))
        group_findings = _overlaps(group, reports) + _other_scaler_findings(
            group, (other_scalers or {}).get(group.name)
        )
        if reports:
            group_findings += _launch_finding(group, (learned_launch or {}).get(group.name))
        groups.append(GroupReport(group, reports, group_findings))
    leftover = [_stale_finding(unclaimed[key], declared=False) for key in sorted(unclaimed)]
    return PlanReport(now.astimezone(UTC), groups, leftover)


def _stale_finding(phase: StalePhase, declared: bool = True) -> Finding:
    """A schedule a stored cloud assembly holds for a phase whose time is at or before the deploy: the
    deploy may fail (a past at() refused, or an update to a schedule that fired and deleted itself), and
    past stale_after the Lambda would skip the phase anyway, so the assembly must be synthesized again
    (synth leaves out the phases already past)."""
    what = "" if declared else " (not declared in this config)"
    stale = f" (not acted on after {phase.stale_after_utc})" if phase.stale else ""
    return Finding(
        ERROR,
        phase.group,
        phase.event,
        f"the cloud assembly holds the {phase.phase} schedule{what}, planned {phase.planned_utc}{stale}, "
        "which is not in the future: creating it may be refused (a past at() time), and once it has "
        "fired it has deleted itself, so updating it fails (ResourceNotFound) and rolls the deploy back; "
        "synthesize again (cdk synth), which leaves out the phases already past, and deploy that assembly",
    )


def render(report: PlanReport, source: str) -> str:
    lines = [f"surgeguard plan: {source}, now {report.now:%Y-%m-%d %H:%M} UTC", ""]
    for group_report in report.groups:
        group = group_report.group
        if not group_report.events:
            lines += [f"{group.name}: no events", ""]
            continue
        lines.append(f"{group.name}: {len(group_report.events)} event(s), min {group.min}, max {group.max}")
        for event_report in group_report.events:
            event, plan = event_report.event, event_report.plan
            peak = (
                f"peak {event.peak_multiplier:g}x normal"
                if event.peak_multiplier is not None
                else f"peak {event.peak_requests_per_minute:g} requests/min"
            )
            extra = f", temporary max {event.temporary_max}" if event.temporary_max else ""
            lines.append(f"  {event.name} ({event.timezone}; {peak}{extra})")
            tz = ZoneInfo(event.timezone)
            for label, when in event_report.times().items():
                local = when.astimezone(tz)
                lines.append(f"    {label:<9} {when:%Y-%m-%d %H:%M} UTC   {local:%a %Y-%m-%d %H:%M %Z}")
            lines.append(f"    lead      {lead_breakdown(plan.lead)}")
            lines.append(f"    target    {event_report.target}")
            lines.extend(f"    {finding.level}: {finding.message}" for finding in event_report.findings)
        lines.extend(f"  {finding.level}: {finding.message}" for finding in group_report.findings)
        lines.append("")
    if report.assembly_findings:
        lines.extend(str(finding) for finding in report.assembly_findings)
        lines.append("")
    errors, warnings = len(report.errors), len(report.warnings)
    lines.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(lines)


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    return output.utc_time(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgeguard plan",
        description="When each declared sale event pre-warms, releases and restores; what looks wrong.",
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    parser.add_argument("--now", help="ISO 8601 time to plan at (default: now; without offset: UTC)")
    parser.add_argument(
        "--learn-launch-times",
        action="store_true",
        help="read each group's recent launches from AWS and check launch_seconds against them",
    )
    parser.add_argument(
        "--check-groups",
        action="store_true",
        help="read each group's scaling policies and scheduled actions from AWS and flag them",
    )
    parser.add_argument(
        "--assembly",
        metavar="DIR",
        help="a synthesized cloud assembly (cdk.out) about to be deployed: flag (as errors) the sale-phase "
        "schedules whose time is at or before --now, nested stacks included",
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


EXAMPLES = """examples:
  surgeguard plan                                   the repository's surgeguard.yaml, now
  surgeguard plan --config prod.yaml --now 2026-11-20T09:00-05:00
  surgeguard plan --check-groups --learn-launch-times   also read the groups from AWS
  surgeguard plan --json | jq '.findings'
  surgeguard plan --assembly cdk.out --now 2026-11-27T03:00Z   before `cdk deploy --app cdk.out`

exit codes: 0 no errors (warnings allowed), 1 errors found, 2 bad arguments or config, 3 AWS unreadable"""


def other_scalers(config: ScalerConfig) -> dict[str, OtherScalers]:
    """Each group's scaling policies and scheduled actions (AWS credentials needed)."""
    from surgeguard_cli.aws import Aws

    aws = Aws()
    found = {}
    for group in config.groups:
        if aws.group(group.name) is None:
            # A misspelt name, or the wrong region, once read as a group with nothing else on it.
            found[group.name] = OtherScalers(group_exists=False)
            continue
        found[group.name] = OtherScalers(
            tuple(p["PolicyName"] for p in aws.scaling_policies(group.name)),
            tuple(a["ScheduledActionName"] for a in aws.scheduled_actions(group.name)),
        )
    return found


def plan_json(report: PlanReport) -> dict[str, object]:
    return {
        "now": report.now.isoformat(),
        "groups": [
            {
                "group": g.group.name,
                "events": [
                    {
                        "event": e.event.name,
                        "times": {label: when.isoformat() for label, when in e.times().items()},
                        "lead_seconds": e.plan.lead.total.total_seconds(),
                        "target": e.target,
                        "findings": [asdict(f) for f in e.findings],
                    }
                    for e in g.events
                ],
                "findings": [asdict(f) for f in g.findings],
            }
            for g in report.groups
        ],
        "findings": [asdict(f) for f in report.findings],
        "errors": len(report.errors),
        "warnings": len(report.warnings),
    }


def learn_launch_times(config: ScalerConfig) -> dict[str, int | None]:
    """p90 launch time per group with events, from DescribeScalingActivities (AWS credentials needed).
    A history that cannot be read is AWS unreadable (exit code 3): taken as no history, a denied call
    once exited 0, a plan said checked against launch times nobody read."""
    from surgeguard.adapters.autoscaling import AutoScalingFleet
    from surgeguard.adapters.errors import AwsCallError
    from surgeguard.domain.sales import learned_launch_seconds
    from surgeguard_cli.aws import cli_error

    fleet = AutoScalingFleet()
    learned: dict[str, int | None] = {}
    for group in config.groups:
        if not group.events:
            continue
        try:
            learned[group.name] = learned_launch_seconds(fleet.launch_durations(group.name))
        except AwsCallError as error:
            raise cli_error(error, f"{group.name}'s launch history") from None
    return learned


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        now = _parse_now(args.now)
    except ValueError:
        print(f"surgeguard plan: --now {args.now!r} is not an ISO 8601 time", file=sys.stderr)
        return output.USAGE
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return output.USAGE
    from botocore.exceptions import BotoCoreError

    from surgeguard_cli.aws import AwsError

    try:
        learned = learn_launch_times(config) if args.learn_launch_times else None
        scalers = other_scalers(config) if args.check_groups else None
    except AwsError as error:
        print(f"surgeguard plan: cannot read AWS: {error}", file=sys.stderr)
        return output.AWS
    except BotoCoreError as error:
        # The Lambda adapter that reads the launch history makes its client outside its call's error
        # handling: no region, a profile that is not there. Exit 1 would say "errors in the plan".
        print(
            f"surgeguard plan: cannot read AWS: DescribeScalingActivities: {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return output.AWS
    try:
        stale = stale_in_assembly(Path(args.assembly), now) if args.assembly else []
    except ValueError as error:
        print(f"surgeguard plan: --assembly: {error}", file=sys.stderr)
        return output.USAGE
    report = build_plan(config, now, learned, scalers, stale)
    if args.json:
        output.print_json(plan_json(report))
    else:
        print(render(report, args.config))
    return output.FOUND if report.errors else output.OK
