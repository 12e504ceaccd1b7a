"""`surgeguard preflight`: before the sale, everything known to sink one, checked against the account.

Per group and upcoming event: the vCPU quota, MaxSize and the temporary max, free addresses, the launch
template and its image against the planned peak; detailed monitoring, metrics collection, other scalers
on the group. Then the sum: the vCPUs all groups add at once in each sale window against the quota (one
per account and region), and the addresses they add in each shared subnet. For the stack: its alarms,
email subscriptions, each event's schedules at the planned times, the kill switch, the Lambdas' recent
errors and throttles, the failure queues.

Each check says PASS, WARN (a finding to weigh), FAIL (a finding that sinks the sale) or UNCHECKED (the
check could not run: what it would have found is unknown) and what to do. Any FAIL exits 1
(`output.FOUND`); else any UNCHECKED exits 4 (`output.UNCHECKED`): a check that could not run is no pass.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from surgeguard_cli import output

if TYPE_CHECKING:  # the config's pydantic models take half a second to build: not for --help
    from surgeguard.config import GroupConfig, SaleEvent, ScalerConfig

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
UNCHECKED = "UNCHECKED"  # the check could not run (a read denied, a fact not there to check against)
STATUSES = (PASS, WARN, FAIL, UNCHECKED)
DEFAULT_CONFIG = "surgeguard.yaml"
DEFAULT_STACK = "Surgeguard"
QUOTA_WARN_FRACTION = 0.9  # a peak that takes more than 90% of the quota leaves nothing for anyone else
ADDRESS_HEADROOM = 1.1  # instances replaced during the sale need addresses too
LAMBDA_LOOKBACK = timedelta(hours=24)
# The group metric the queue-backlog signal divides by (surgeguard.signals).
BACKLOG_METRIC = "GroupInServiceInstances"

EXAMPLES = """examples:
  surgeguard preflight                                  every group, every upcoming event
  surgeguard preflight --event black-friday-doorbuster  one event
  surgeguard preflight --json | jq '.checks[] | select(.status != "PASS")'

exit codes: 0 all PASS or WARN, 1 some check FAILed, 2 bad arguments or config, 3 AWS unreadable,
  4 some check could not run (UNCHECKED) and none FAILed: what it would have found is unknown"""


@dataclass(frozen=True)
class Check:
    status: str  # PASS, WARN, FAIL, UNCHECKED
    check: str  # a stable id: vcpu-quota, max-size, ...
    scope: str  # the group, group/event, or the stack
    detail: str  # what was found
    fix: str = ""  # what to do (empty on PASS)


@dataclass(frozen=True)
class Peak:
    """The capacity an event is planned to need (or the config max for a group without events)."""

    instances: int
    why: str


# --------------------------------------------------------------------------- pure rules


def planned_peak(group: GroupConfig, event: SaleEvent | None, normal_rpm: float | None, desired: int) -> Peak:
    """Instances the peak needs, unclamped (a peak above the max is what the max-size check is for).
    The arithmetic of `surgeguard.domain.sales.target_capacity`, before its clamp."""
    if event is None:
        return Peak(group.max, f"config max {group.max} (no event declared)")
    per_instance = group.requests_target()
    if event.peak_requests_per_minute is not None and per_instance is not None:
        needed = math.ceil(event.peak_requests_per_minute / per_instance - 1e-9)
        why = f"absolute peak {event.peak_requests_per_minute:g} requests/min / {per_instance:g} per instance"
    elif normal_rpm is not None and per_instance is not None:
        assert event.peak_multiplier is not None
        needed = math.ceil(normal_rpm * event.peak_multiplier / per_instance - 1e-9)
        why = (
            f"{event.peak_multiplier:g} x last week's {normal_rpm:,.0f} requests/min "
            f"/ {per_instance:g} per instance"
        )
    else:
        assert event.peak_multiplier is not None
        needed = math.ceil(desired * event.peak_multiplier - 1e-9)
        why = f"{event.peak_multiplier:g} x desired capacity {desired} (no request history to go by)"
    return Peak(max(needed, group.min), f"{max(needed, group.min)} instances: {why}")


@dataclass(frozen=True)
class Addition:
    """What a peak adds to a group: capacity units (what desired and the peak count) and the instances and
    vCPUs they take. A weighted group's instance is its WeightedCapacity units, not one."""

    units: int
    instances: int
    vcpus: int | None  # None: the instance types' vCPUs are unknown


def addition(peak: Peak, running_units: int, weights: dict[str, int], vcpus: dict[str, int]) -> Addition:
    """The units the peak adds beyond those running, as instances of the group's types (type -> its
    weight): whichever type Auto Scaling launches, the most instances (the lightest) and the most vCPUs
    it could take. Units were once added to instance counts, and multiplied by vCPUs as instances."""
    units = max(0, peak.instances - running_units)
    launches = {kind: math.ceil(units / weight) for kind, weight in weights.items()}
    known = [launches[kind] * vcpus[kind] for kind in launches if kind in vcpus]
    return Addition(units, max(launches.values(), default=units), max(known) if known else None)


def vcpu_check(
    scope: str,
    peak: Peak,
    adds: Addition,
    used: int,
    quota: float | None,
    family_ok: bool,
    quota_error: str | None = None,
) -> Check:
    name = "vcpu-quota"
    if adds.vcpus is None:
        return Check(
            UNCHECKED, name, scope, "the group's instance types are unknown", "check the launch template"
        )
    if not family_ok:
        return Check(
            UNCHECKED,
            name,
            scope,
            "instance types outside the standard families (A, C, D, H, I, M, R, T, Z): L-1216C47A does not "
            "count them",
            "check the quota of that family in Service Quotas",
        )
    if quota is None:
        return Check(
            UNCHECKED,
            name,
            scope,
            f"the vCPU quota could not be read{': ' + quota_error if quota_error else ''}",
            "open Service Quotas, EC2, L-1216C47A, and compare it with the peak",
        )
    total = used + adds.vcpus
    units = f" for {adds.units} capacity units" if adds.units != adds.instances else ""
    detail = (
        f"{used} vCPUs running + {adds.vcpus} to add ({adds.instances} instance(s){units}) "
        f"= {total} of quota {quota:g}; peak {peak.why}"
    )
    return quota_verdict(name, scope, detail, total, quota)


def quota_verdict(name: str, scope: str, detail: str, total: int, quota: float, fix: str = "") -> Check:
    """`total` vCPUs against L-1216C47A: over it fails, over 90 % of it warns (one group's peak or a sale
    window's groups at once; `fix` adds what else to do)."""
    if total > quota:
        return Check(
            FAIL,
            name,
            scope,
            detail,
            f"request a quota increase to at least {math.ceil(total / QUOTA_WARN_FRACTION)} vCPUs "
            f"(Service Quotas, EC2, L-1216C47A) well before the sale{fix}",
        )
    if total > QUOTA_WARN_FRACTION * quota:
        return Check(WARN, name, scope, detail, "little headroom left: consider a quota increase")
    return Check(PASS, name, scope, detail)


def max_size_check(
    scope: str, group: GroupConfig, event: SaleEvent | None, peak: Peak, max_size: int
) -> Check:
    name = "max-size"
    if event is not None and event.temporary_max is not None:
        # The pre-warm raises MaxSize to it (the config requires temporary_max >= max).
        ceiling, what = event.temporary_max, "temporary_max"
    else:
        ceiling, what = min(group.max, max_size), f"min(config max {group.max}, group MaxSize {max_size})"
    detail = f"peak {peak.instances} vs {what} {ceiling}"
    if peak.instances > ceiling:
        fix = (
            f"raise temporary_max to at least {peak.instances} in the event"
            if event is not None
            else f"raise MaxSize (and max) to at least {peak.instances}"
        )
        if event is not None and event.temporary_max is None and max_size < group.max:
            fix = f"the group's MaxSize is {max_size}: raise it, or set temporary_max >= {peak.instances}"
        return Check(FAIL, name, scope, detail, fix)
    return Check(PASS, name, scope, detail)


def address_check(scope: str, adds: Addition, free: dict[str, int], gone: Sequence[str] = ()) -> Check:
    """`gone`: subnets the group names that no longer exist (Auto Scaling's launches there fail)."""
    name = "subnet-addresses"
    adding = adds.instances
    available = sum(free.values())
    detail = f"{available} free addresses in {len(free)} subnet(s) for {adding} instances to add"
    if gone:
        return Check(
            FAIL,
            name,
            scope,
            f"the group names subnet(s) that do not exist: {', '.join(gone)} (launches there fail); "
            + detail,
            "remove them from the group's subnets (VPCZoneIdentifier), or add existing ones",
        )
    if not free:
        return Check(
            UNCHECKED,
            name,
            scope,
            "the group names no subnets (EC2-Classic or default VPC): no free addresses to count",
            "check the addresses where the group launches",
        )
    return address_verdict(
        name, scope, detail, adding, available, "add subnets to the group or free addresses in them"
    )


def address_verdict(name: str, scope: str, detail: str, adding: int, available: int, fix: str) -> Check:
    """`adding` instances against `available` free addresses: short fails (`fix` says what to do), short of
    the headroom that replacements mid-sale need warns."""
    if available < adding:
        return Check(FAIL, name, scope, detail, fix)
    if available < adding * ADDRESS_HEADROOM:
        return Check(
            WARN, name, scope, detail, "instances replaced mid-sale need addresses too: add a subnet"
        )
    return Check(PASS, name, scope, detail)


@dataclass(frozen=True)
class Demand:
    """What one group's planned peak adds, and while: the aggregate checks add these up."""

    group: str
    event: str | None  # None: no upcoming sale, checked at its config max (not part of a window)
    start: datetime | None  # the sale's first phase (ramp or pre-warm) ...
    end: datetime | None  # ... to its restore: the added capacity stands between the two
    instances: int
    vcpus: int | None  # None: instance types unknown or outside L-1216C47A
    subnets: tuple[str, ...]


TOP_CONTRIBUTORS = 5
Timed = tuple[datetime, datetime, Demand]  # a sale's demand with its first phase and restore


def sale_windows(demands: Sequence[Demand]) -> list[list[Timed]]:
    """The sales' demands grouped into windows: a window holds every demand whose first-phase-to-restore
    span overlaps another's in it (transitively); demands in different windows never stand together."""
    timed = sorted(
        ((d.start, d.end, d) for d in demands if d.start is not None and d.end is not None),
        key=lambda t: t[0],
    )
    windows: list[list[Timed]] = []
    until = None
    for start, end, demand in timed:
        if until is None or start >= until:
            windows.append([])
            until = end
        windows[-1].append((start, end, demand))
        until = max(until, end)
    return windows


def peak_at_once(
    window: Sequence[Timed], amount: Callable[[Demand], float]
) -> tuple[datetime, dict[str, float]]:
    """The moment in the window when the most is added at once, and what each group adds then. A group
    counts once at a moment (the largest of its sales standing then: their floors do not add up)."""
    best: tuple[float, datetime, dict[str, float]] | None = None
    for moment in sorted({start for start, _, _ in window}):
        by_group: dict[str, float] = {}
        for start, end, d in window:
            if start <= moment < end:
                by_group[d.group] = max(by_group.get(d.group, 0), amount(d))
        total = sum(by_group.values())
        if best is None or total > best[0]:
            best = (total, moment, by_group)
    assert best is not None
    return best[1], best[2]


def _window_label(window: Sequence[Timed]) -> str:
    events = sorted({d.event for _, _, d in window if d.event is not None})
    return ", ".join(events[:3]) + (f" and {len(events) - 3} more" if len(events) > 3 else "")


def _contributors(by_group: dict[str, float], unit: str) -> str:
    ranked = sorted(((n, g) for g, n in by_group.items() if n), key=lambda item: (-item[0], item[1]))
    named = ", ".join(f"{g} {n:.3g} {unit}" for n, g in ranked[:TOP_CONTRIBUTORS])
    return named + (f" and {len(ranked) - TOP_CONTRIBUTORS} more" if len(ranked) > TOP_CONTRIBUTORS else "")


def _span(window: Sequence[Timed], moment: datetime) -> str:
    start = min(start for start, _, _ in window)
    end = max(end for _, end, _ in window)
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC (most at once from {moment:%Y-%m-%d %H:%M})"


def vcpu_total_checks(demands: Sequence[Demand], used: int, quota: float | None) -> list[Check]:
    """L-1216C47A is one quota per account and region: every group's pre-warm in a sale window draws on
    it at once. One check per window where two groups or more add vCPUs together (a group alone is its
    own vcpu-quota line)."""
    if quota is None:
        return []  # each group's line already says the quota could not be read
    checks = []
    for window in sale_windows(demands):
        moment, by_group = peak_at_once(window, lambda d: d.vcpus or 0)
        adding = {g: n for g, n in by_group.items() if n}
        if len(adding) < 2:
            continue
        uncounted = sorted({d.group for _, _, d in window if d.vcpus is None})
        added = round(sum(adding.values()))
        total = used + added
        detail = (
            f"sale window {_span(window, moment)}: {used} vCPUs running + {added} added by "
            f"{len(adding)} groups at once = {total} of quota {quota:g}; "
            f"most: {_contributors(adding, 'vCPUs')}"
        )
        if uncounted:
            detail += f"; not counted (instance types unknown or outside the quota): {', '.join(uncounted)}"
        fix = ", or stagger the sales' pre-warms"
        checks.append(quota_verdict("vcpu-quota-total", _window_label(window), detail, total, quota, fix))
    return checks


def _share_in(subnet: str) -> Callable[[Demand], float]:
    """The addresses a group's addition takes in `subnet`: spread evenly over its subnets (Auto Scaling
    balances the group's Availability Zones); the window's sum is rounded up."""

    def share(demand: Demand) -> float:
        return demand.instances / len(demand.subnets) if subnet in demand.subnets else 0.0

    return share


def address_total_checks(demands: Sequence[Demand], free: dict[str, int]) -> list[Check]:
    """Free addresses are per subnet, and groups share subnets: per sale window and subnet, what all the
    groups placed in it add at once. One check per subnet two groups or more add to together."""
    checks = []
    for window in sale_windows(demands):
        label = _window_label(window)
        for subnet in sorted({s for _, _, d in window for s in d.subnets}):
            if subnet not in free:
                continue
            moment, by_group = peak_at_once(window, _share_in(subnet))
            adding = {g: n for g, n in by_group.items() if n}
            if len(adding) < 2:
                continue
            total = math.ceil(sum(adding.values()) - 1e-9)
            detail = (
                f"sale window {_span(window, moment)}: {total} instances added in {subnet} by "
                f"{len(adding)} groups at once vs {free[subnet]} free addresses (each group's addition "
                f"spread evenly over its subnets); most: {_contributors(adding, 'addresses')}"
            )
            fix = "add subnets to the groups, move some groups to other subnets, or free addresses"
            scope = f"{subnet} ({label})"
            checks.append(address_verdict("subnet-addresses-total", scope, detail, total, free[subnet], fix))
    return checks


def _utc(expression: str, zone: str | None) -> datetime | None:
    if not expression.startswith("at(") or not expression.endswith(")"):
        return None
    wall = datetime.fromisoformat(expression[3:-1])
    return wall.replace(tzinfo=ZoneInfo(zone or "UTC")).astimezone(UTC)


def schedule_checks(
    group: GroupConfig, event: SaleEvent, schedules: Sequence[dict[str, Any]] | None, now: datetime
) -> list[Check]:
    """Each of the event's phases still to come has its schedule, firing at the plan's time."""
    from surgeguard.domain.sales import plan_event

    scope = f"{group.name}/{event.name}"
    pending = {p: t for p, t in plan_event(group, event).phase_times().items() if t > now}
    if not pending:
        return [Check(PASS, "schedules", scope, "every phase is past")]
    if schedules is None:
        return [
            Check(
                FAIL,
                "schedules",
                scope,
                "the stack has no sale schedule group",
                "redeploy the stack with this config (cdk deploy)",
            )
        ]
    found: dict[str, datetime | None] = {}
    states: dict[str, str] = {}
    for schedule in schedules:
        try:
            payload = json.loads(schedule.get("Target", {}).get("Input") or "{}")
        except json.JSONDecodeError:
            continue
        # Another schedule in the group (a hand-made one) may send a list or a string: not a phase's.
        if not isinstance(payload, dict):
            continue
        if payload.get("group") == group.name and payload.get("event") == event.name:
            found[payload.get("phase", "?")] = _utc(
                schedule.get("ScheduleExpression", ""), schedule.get("ScheduleExpressionTimezone")
            )
            # GetSchedule's State (ENABLED when not given): a DISABLED schedule never fires.
            states[payload.get("phase", "?")] = str(schedule.get("State") or "ENABLED")
    problems = []
    for phase, when in sorted(pending.items(), key=lambda item: item[1]):
        if phase not in found:
            problems.append(f"{phase} ({when:%Y-%m-%d %H:%M} UTC) has no schedule")
        elif states[phase] != "ENABLED":
            problems.append(f"{phase} ({when:%Y-%m-%d %H:%M} UTC) is {states[phase]}: it will not fire")
        elif found[phase] != when:
            got = found[phase]
            problems.append(
                f"{phase} fires at {got:%Y-%m-%d %H:%M} UTC, the plan says {when:%Y-%m-%d %H:%M} UTC"
                if got
                else f"{phase} has no at() expression"
            )
    if problems:
        return [Check(FAIL, "schedules", scope, "; ".join(problems), "redeploy the stack with this config")]
    return [Check(PASS, "schedules", scope, f"{len(pending)} phase(s) scheduled at the planned times")]


# --------------------------------------------------------------------------- reading the account


@dataclass(frozen=True)
class Target:
    group: GroupConfig
    event: SaleEvent | None


def targets(config: ScalerConfig, event_name: str | None, now: datetime) -> list[Target]:
    from surgeguard.domain.sales import plan_event

    found = []
    for group in config.groups:
        upcoming = [e for e in group.events if plan_event(group, e).restore > now]
        if event_name is not None:
            found += [Target(group, e) for e in group.events if e.name == event_name]
        elif upcoming:
            found += [Target(group, e) for e in upcoming]
        else:
            found.append(Target(group, None))
    return found


def _instance_types(template: dict[str, Any] | None, group: dict[str, Any]) -> dict[str, int]:
    """The group's instance types, each with its capacity units (a mixed-instances override's
    WeightedCapacity; 1 unweighted)."""
    from surgeguard_cli.aws import capacity_units

    overrides = group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("Overrides", [])
    types = {o["InstanceType"]: capacity_units(o) for o in overrides if o.get("InstanceType")}
    if not types and template and template.get("InstanceType"):
        types = {template["InstanceType"]: 1}
    return types


def group_checks(aws: Any, target: Target, now: datetime, account: dict[str, Any]) -> list[Check]:

    group, event = target.group, target.event
    scope = f"{group.name}/{event.name}" if event else group.name
    asg = aws.group(group.name)
    if asg is None:
        return [
            Check(FAIL, "group", group.name, "no such Auto Scaling group", "check the name in the config")
        ]
    from surgeguard_cli.aws import capacity_units

    running = sum(capacity_units(i) for i in asg.get("Instances", []))  # units, as the peak counts
    normal = None
    if event is not None and event.peak_multiplier is not None:
        normal = _normal_rpm(aws, group, event)
    peak = planned_peak(group, event, normal, int(asg["DesiredCapacity"]))
    template, label = aws.launch_template_data(asg)
    types = _instance_types(template, asg)
    vcpus = aws.vcpus(types) if types else {}
    adds = addition(peak, running, types, vcpus)
    if "quota" not in account:
        account["quota"] = aws.vcpu_quota()
        account["used"] = aws.running_standard_vcpus()
    from surgeguard.domain.sales import plan_event
    from surgeguard_cli.aws import is_standard

    family_ok = all(is_standard(t) for t in types)
    free = _free(aws, asg)
    account.setdefault("free", {}).update(free)
    plan = plan_event(group, event) if event is not None else None
    account.setdefault("demands", []).append(
        Demand(
            group=group.name,
            event=event.name if event is not None else None,
            start=plan.first_phase if plan is not None else None,
            end=plan.restore if plan is not None else None,
            instances=adds.instances,
            vcpus=adds.vcpus if family_ok else None,
            subnets=tuple(free),
        )
    )
    checks = [
        vcpu_check(
            scope,
            peak,
            adds,
            account["used"],
            account["quota"],
            family_ok,
            getattr(aws, "last_quota_error", None),
        ),
        max_size_check(scope, group, event, peak, int(asg["MaxSize"])),
        address_check(scope, adds, free, [s for s in _subnets(asg) if s not in free]),
    ]
    if target is not account.setdefault("first", {}).setdefault(group.name, target):
        return checks  # the group's own checks once, the peak-dependent ones per event
    checks.append(_template_check(aws, group.name, template, label))
    checks.append(_monitoring_check(aws, group, template, asg))
    checks.append(_collection_check(group, asg))
    checks.append(target_group_check(group, asg))
    checks += _other_scalers(aws, group.name)
    return checks


def _normal_rpm(aws: Any, group: GroupConfig, event: SaleEvent) -> float | None:
    from surgeguard.alarm_shape import NORMAL_WINDOW_MINUTES, mean_requests_per_minute, normal_window
    from surgeguard.config import RequestsPerTargetSignal
    from surgeguard.domain.sales import normal_demand_time

    signal = next((s for s in group.signals if isinstance(s, RequestsPerTargetSignal)), None)
    if signal is None:
        return None
    start, end = normal_window(normal_demand_time(event))  # what the pre-warm reads
    points = aws.metric_series(
        signal.namespace,
        "RequestCount",
        {"LoadBalancer": signal.load_balancer, "TargetGroup": signal.target_group},
        "Sum",
        start,
        end,
        60,
    )
    return mean_requests_per_minute(list(points.values()), NORMAL_WINDOW_MINUTES)


def _subnets(asg: dict[str, Any]) -> list[str]:
    return [s.strip() for s in str(asg.get("VPCZoneIdentifier") or "").split(",") if s.strip()]


def _free(aws: Any, asg: dict[str, Any]) -> dict[str, int]:
    """Free addresses per subnet of the group's that exists."""
    subnets = _subnets(asg)
    return aws.free_addresses(subnets) if subnets else {}


def _template_check(aws: Any, group: str, template: dict[str, Any] | None, label: str) -> Check:
    if template is None:
        return Check(
            FAIL, "launch-template", group, f"{label} not found", "point the group at an existing template"
        )
    image = template.get("ImageId")
    if image and image.startswith(SSM_IMAGE):
        return _ssm_image_check(aws, group, label, image)
    if image and not aws.image_exists(image):
        return Check(
            FAIL, "launch-template", group, f"{label}: image {image} does not exist", "use an existing AMI"
        )
    return Check(PASS, "launch-template", group, f"{label}, image {image or '(from SSM)'}")


SSM_IMAGE = "resolve:ssm:"  # a launch template's ImageId that names an SSM parameter holding the AMI ID


def _ssm_image_check(aws: Any, group: str, label: str, image: str) -> Check:
    """A `resolve:ssm:` image that ResolveAlias left unresolved: the parameter read, then its AMI."""
    from surgeguard_cli.aws import AwsError

    parameter = image.removeprefix(SSM_IMAGE)
    try:
        resolved = aws.image_parameter(parameter)
    except AwsError as error:
        return Check(
            UNCHECKED,
            "launch-template",
            group,
            f"{label}: image {image} could not be resolved: {error}",
            "allow ssm:GetParameter on that parameter, or check it in the SSM console",
        )
    if resolved is None:
        return Check(
            FAIL,
            "launch-template",
            group,
            f"{label}: image parameter {parameter} does not exist",
            "create the parameter, or point the template at an existing one",
        )
    if not aws.image_exists(resolved):
        return Check(
            FAIL,
            "launch-template",
            group,
            f"{label}: image {resolved} (from {image}) does not exist",
            "point the parameter at an existing AMI",
        )
    return Check(PASS, "launch-template", group, f"{label}, image {resolved} (from {image})")


def _monitoring_check(
    aws: Any, group: GroupConfig, template: dict[str, Any] | None, asg: dict[str, Any]
) -> Check:
    from surgeguard.config import CpuSignal

    ec2_cpu = [s.id for s in group.signals if isinstance(s, CpuSignal) and s.namespace == "AWS/EC2"]
    if not ec2_cpu:
        return Check(PASS, "detailed-monitoring", group.name, "no signal reads EC2's own metrics")
    enabled = bool((template or {}).get("Monitoring", {}).get("Enabled"))
    ids = [i["InstanceId"] for i in asg.get("Instances", [])]
    basic = [i for i, state in aws.instance_monitoring(ids).items() if state != "enabled"] if ids else []
    if enabled and not basic:
        return Check(
            PASS, "detailed-monitoring", group.name, "launch template and instances: detailed (1-minute)"
        )
    found = []
    if not enabled:
        found.append("the launch template launches with basic monitoring")
    if basic:
        found.append(f"{len(basic)} running instance(s) on basic monitoring")
    return Check(
        FAIL,
        "detailed-monitoring",
        group.name,
        "; ".join(found) + f": CPU signal(s) {ec2_cpu} see 5-minute data, a 60-second alarm never fills",
        "set Monitoring.Enabled=true in the launch template (new version, made default) and "
        "`aws ec2 monitor-instances` for the running ones",
    )


def _collection_check(group: GroupConfig, asg: dict[str, Any]) -> Check:
    from surgeguard.config import QueueBacklogSignal

    enabled = {m.get("Metric") for m in asg.get("EnabledMetrics", [])}
    needs = [s.id for s in group.signals if isinstance(s, QueueBacklogSignal)]
    if needs and BACKLOG_METRIC not in enabled:
        return Check(
            FAIL,
            "metrics-collection",
            group.name,
            f"signal(s) {needs} divide by {BACKLOG_METRIC}, which the group does not collect: "
            "their alarms never fire",
            _ENABLE_COLLECTION.format(group=group.name),
        )
    # The anchored noise headroom measures the group's own minutes from these two (README, "Noise
    # headroom anchored to AWS"): without them it is never anchored, and runs as configured.
    anchor_missing = sorted(ANCHOR_METRICS - enabled) if group.anchors_noise_headroom() else []
    if anchor_missing:
        return Check(
            WARN,
            "metrics-collection",
            group.name,
            f"noise_headroom.anchored reads {', '.join(anchor_missing)}, which the group does not collect: "
            "the noise headroom is never anchored and runs as configured",
            _ENABLE_COLLECTION.format(group=group.name),
        )
    if not needs and not group.anchors_noise_headroom():
        return Check(PASS, "metrics-collection", group.name, "no signal needs the group's metrics")
    return Check(PASS, "metrics-collection", group.name, "the group's metrics are collected")


_ENABLE_COLLECTION = (
    "aws autoscaling enable-metrics-collection --auto-scaling-group-name {group} --granularity 1Minute"
)
ANCHOR_METRICS = frozenset({BACKLOG_METRIC, "GroupTotalInstances"})


def target_group_check(group: GroupConfig, asg: dict[str, Any]) -> Check:
    """Each ALB signal's target group must be one the group is attached to.

    A requests or latency alarm reads a quiet ALB (no datapoints) as zero demand, so that a night
    without traffic scales in. The same rule makes a target group the group does not serve (a typo,
    a stale ID after the ALB was rebuilt) look like a night forever: the group would be scaled in to
    its minimum. Only a check against the group itself tells the two apart.
    """
    from surgeguard.config import RequestsPerTargetSignal, ResponseTimeSignal

    # TargetGroupARNs hold arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID; the
    # CloudWatch dimension is the resource part after the fifth colon. A group attached with
    # AttachTrafficSources (AWS's recommended call) lists it under TrafficSources, type elbv2.
    arns = [
        *asg.get("TargetGroupARNs", []),
        *(
            s["Identifier"]
            for s in asg.get("TrafficSources", [])
            if s.get("Type") == "elbv2" and "Identifier" in s
        ),
    ]
    attached = {arn.split(":", 5)[-1] for arn in arns if ":targetgroup/" in arn}
    readers = [s for s in group.signals if isinstance(s, RequestsPerTargetSignal | ResponseTimeSignal)]
    if not readers:
        return Check(PASS, "target-groups", group.name, "no signal reads an ALB target group")
    stray = sorted({s.target_group for s in readers} - attached)
    if not stray:
        return Check(PASS, "target-groups", group.name, f"{len(readers)} ALB signal(s) read attached groups")
    return Check(
        FAIL,
        "target-groups",
        group.name,
        f"signal(s) read {', '.join(stray)}, which the group is not attached to "
        f"(attached: {', '.join(sorted(attached)) or 'none'}); a target group without datapoints reads "
        "as zero demand, so the group would be scaled in to its minimum",
        "fix target_group in the config to the TargetGroup dimension of a group it serves "
        "(aws autoscaling describe-traffic-sources)",
    )


def _other_scalers(aws: Any, group: str) -> list[Check]:
    policies = aws.scaling_policies(group)
    actions = aws.scheduled_actions(group)
    pool = aws.warm_pool(group)
    checks = [
        Check(
            FAIL,
            "scaling-policies",
            group,
            f"{len(policies)} scaling policy(ies): {', '.join(p['PolicyName'] for p in policies)}; "
            "they change desired capacity behind Surgeguard",
            "delete them (aws autoscaling delete-policy) or leave the group out of Surgeguard",
        )
        if policies
        else Check(PASS, "scaling-policies", group, "none")
    ]
    checks.append(
        Check(
            WARN,
            "scheduled-actions",
            group,
            f"{len(actions)} scheduled action(s): {', '.join(a['ScheduledActionName'] for a in actions)}",
            "declare sales as events instead; a scheduled action resets capacity behind Surgeguard",
        )
        if actions
        else Check(PASS, "scheduled-actions", group, "none")
    )
    checks.append(
        Check(
            WARN,
            "warm-pool",
            group,
            f"warm pool (min size {pool.get('MinSize', 0)}, state {pool.get('PoolState', '?')})",
            "warmup_seconds and launch_seconds assume cold launches: measure them with the pool",
        )
        if pool
        else Check(PASS, "warm-pool", group, "none")
    )
    return checks


def stack_checks(
    aws: Any, stack: Any, config: ScalerConfig, selected: Sequence[Target], now: datetime
) -> list[Check]:
    scope = stack.name
    checks: list[Check] = []
    alarms = {a["AlarmName"]: a for a in aws.alarms(stack.alarm_prefix)}
    expected = [spec.name for spec in config.alarms(stack.alarm_prefix)]
    missing = [name for name in expected if name not in alarms]
    blind = [name for name in expected if alarms.get(name, {}).get("StateValue") == "INSUFFICIENT_DATA"]
    if missing:
        checks.append(
            Check(
                FAIL,
                "alarms",
                scope,
                f"{len(missing)} of {len(expected)} missing: {', '.join(missing)}",
                "redeploy",
            )
        )
    elif blind:
        checks.append(
            Check(
                WARN,
                "alarms",
                scope,
                f"{len(blind)} in INSUFFICIENT_DATA: {', '.join(blind)}",
                "their metric has no data: check the dimensions, the monitoring, or traffic at this hour",
            )
        )
    else:
        checks.append(Check(PASS, "alarms", scope, f"{len(expected)} present, none in INSUFFICIENT_DATA"))

    checks += _subscription_checks(aws, stack, config)
    schedules = aws.schedules(stack.schedule_group) if stack.schedule_group else None
    for target in selected:
        if target.event is not None:
            checks += schedule_checks(target.group, target.event, schedules, now)
    checks.append(_kill_switch(aws, stack.table, sorted({t.group.name for t in selected})))
    checks += _stranded_checks(aws, stack.table, config)
    checks += _lambda_health(aws, stack.functions, now)
    checks += _queues(aws, stack.queues)
    return checks


def _unconfirmed(aws: Any, topic_arn: str, emails: Sequence[str]) -> tuple[list[str], list[str]]:
    """Of `emails`, those with no email subscription to the topic, and those not confirmed."""
    from surgeguard_cli.aws import PENDING_CONFIRMATION

    subscribed = {
        s["Endpoint"]: s["SubscriptionArn"]
        for s in aws.subscriptions(topic_arn)
        if s.get("Protocol") == "email"
    }
    absent = [e for e in emails if e not in subscribed]
    return absent, [e for e in emails if subscribed.get(e) == PENDING_CONFIRMATION]


def _subscription_checks(aws: Any, stack: Any, config: ScalerConfig) -> list[Check]:
    """Every address confirmed on the notifications topic; and an address only in groups'
    notify_emails also on the group watch topic, where the stack's watch alarms reach it
    (infra/constructs/topics.py): confirmed on one topic only, it hears half of what it should."""
    emails = _emails(config)
    if not emails or not stack.notify_topic_arn:
        return []
    scope = stack.name
    group_only = sorted({e for g in config.groups for e in g.notify_emails} - set(config.notify_emails))
    topics = [("", stack.notify_topic_arn, emails, "they will hear nothing during the sale")]
    if group_only and stack.watch_topic_arn:
        topics.append(
            (" on the group watch topic", stack.watch_topic_arn, group_only, "no watch alarm reaches them")
        )
    found, resend = [], []
    for where, topic_arn, wanted, consequence in topics:
        absent, pending = _unconfirmed(aws, topic_arn, wanted)
        missing = [f"not subscribed{where}: {', '.join(absent)}"] if absent else []
        missing += [f"not confirmed{where}: {', '.join(pending)}"] if pending else []
        if missing:
            found.append("; ".join(missing) + f": {consequence}")
            resend.append(
                f"aws sns subscribe --topic-arn {topic_arn} --protocol email --notification-endpoint ADDRESS"
            )
    if found:
        return [
            Check(
                FAIL,
                "subscriptions",
                scope,
                "; ".join(found),
                f"each person clicks the link in AWS's confirmation mail (resend: {'; '.join(resend)})",
            )
        ]
    if group_only and not stack.watch_topic_arn:
        return [
            Check(
                UNCHECKED,
                "subscriptions",
                scope,
                f"{len(emails)} email subscription(s) confirmed on the notifications topic; the watch "
                f"alarms' topic for {', '.join(group_only)} cannot be checked: the stack has no "
                "GroupWatchTopicArn output",
                "redeploy the stack with this version (it exports that output), then run preflight again",
            )
        ]
    return [Check(PASS, "subscriptions", scope, f"{len(emails)} email subscription(s) confirmed")]


def _kill_switch(aws: Any, table: str, groups: Sequence[str]) -> Check:
    """The kill switch as the Lambda reads it: a control item holding a value the CLI never writes, or
    no value at all, is a full pause (audit_store.control_reading fails closed)."""
    paused = []
    for group in [None, *groups]:
        switch = aws.pause(table, group)
        if switch is None or switch.reading == "none":
            continue
        how = f"by {switch.set_by or '?'}"
        if switch.written is None:
            how += ", no pause value: the Lambda reads a full pause"
        elif not switch.as_written:
            how += f", {switch.written!r}: the Lambda reads {switch.reading}"
        paused.append(f"{group or 'all groups'}: {switch.reading} ({how})")
    if paused:
        return Check(
            WARN,
            "kill-switch",
            table,
            "paused: " + "; ".join(paused),
            "surgeguard resume --table TABLE --all (or --group NAME) before the sale, unless meant",
        )
    return Check(PASS, "kill-switch", table, "not paused")


def _stranded_checks(aws: Any, table: str, config: ScalerConfig) -> list[Check]:
    """A sale removed from the config after its pre-warm raised MaxSize: its restore went with the
    deploy and nothing puts MaxSize back (README, Failure modes). Said before the next sale, with the
    command that does it. Only groups with saved sale items are asked for their MaxSize."""
    from surgeguard_cli.status import stranded_sales

    checks: list[Check] = []
    for group in config.groups:
        states, _ = aws.event_states(table, group.name)
        removed = [state for state in states if group.event(state.event) is None]
        if not removed:
            continue
        asg = aws.group(group.name)
        if asg is None:
            continue  # the group checks say it is missing
        stranded = stranded_sales(group, removed, int(asg["MaxSize"]))
        if not stranded:
            continue
        # The lowest: a removed sale that raised over another's raise saved that raise as its original.
        back = min(state.original_max or 0 for state in stranded)
        checks.append(
            Check(
                WARN,
                "stranded-max",
                group.name,
                f"MaxSize {asg['MaxSize']} raised by "
                + ", ".join(f"{s.event} (MaxSize {s.original_max} before it)" for s in stranded)
                + ", since removed from the config: nothing restores it",
                f"once no sale of the config is on: aws autoscaling update-auto-scaling-group "
                f"--auto-scaling-group-name {group.name} --max-size {max(back, group.max)}",
            )
        )
    return checks


def _lambda_health(aws: Any, functions: Sequence[str], now: datetime) -> list[Check]:
    checks = []
    for function in functions:
        dims = {"FunctionName": function}
        errors = aws.metric_sum("AWS/Lambda", "Errors", dims, now - LAMBDA_LOOKBACK, now)
        throttles = aws.metric_sum("AWS/Lambda", "Throttles", dims, now - LAMBDA_LOOKBACK, now)
        detail = f"last 24 h: {errors:g} errors, {throttles:g} throttles"
        if throttles:
            checks.append(
                Check(
                    FAIL,
                    "lambda-health",
                    function,
                    detail,
                    "throttled invocations drop scaling events: raise the account's concurrency or the "
                    "function's reserved concurrency",
                )
            )
        elif errors:
            checks.append(
                Check(
                    WARN, "lambda-health", function, detail, "read its log group and the audit's failed items"
                )
            )
        else:
            checks.append(Check(PASS, "lambda-health", function, detail))
    return checks


def _queues(aws: Any, queues: Sequence[str]) -> list[Check]:
    checks = []
    for url in queues:
        depth = aws.queue_depth(url)
        name = url.rsplit("/", 1)[-1]
        if depth:
            checks.append(
                Check(
                    FAIL,
                    "failure-queue",
                    name,
                    f"{depth} failed trigger(s) waiting",
                    "read them (aws sqs receive-message), fix the cause, then purge the queue",
                )
            )
        else:
            checks.append(Check(PASS, "failure-queue", name, "empty"))
    return checks


def _emails(config: ScalerConfig) -> list[str]:
    return sorted({*config.notify_emails, *(e for g in config.groups for e in g.notify_emails)})


# --------------------------------------------------------------------------- command


def run_preflight(
    aws: Any, config: ScalerConfig, stack: Any, now: datetime, event_name: str | None = None
) -> list[Check]:
    selected = targets(config, event_name, now)
    account: dict[str, Any] = {}
    checks: list[Check] = []
    for target in selected:
        checks += group_checks(aws, target, now, account)
    # The sums the per-group lines cannot see: groups whose sales stand at once share the account's
    # quota and their subnets' addresses.
    demands = account.get("demands", [])
    if "quota" in account:
        checks += vcpu_total_checks(demands, account["used"], account["quota"])
    checks += address_total_checks(demands, account.get("free", {}))
    checks += stack_checks(aws, stack, config, selected, now)
    return checks


def render(checks: Sequence[Check]) -> Any:
    rows = [(c.status, c.check, c.scope, c.detail, c.fix) for c in checks]
    return output.table(None, ["status", "check", "scope", "found", "to do"], rows)


def summary(checks: Sequence[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in STATUSES}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgeguard preflight",
        description="Check the account against the config before a sale: quotas, limits, addresses, "
        "monitoring, other scalers, alarms, subscriptions, schedules, kill switch, Lambda health, "
        "failure queues. Needs AWS credentials.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    parser.add_argument(
        "--stack", default=DEFAULT_STACK, help=f"deployed stack name (default {DEFAULT_STACK})"
    )
    parser.add_argument("--event", metavar="NAME", help="check this event only (default: every upcoming one)")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    return parser


def main(argv: Sequence[str], aws: Any = None, now: datetime | None = None) -> int:
    args = build_parser().parse_args(list(argv))
    from surgeguard.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return output.USAGE
    if args.event and not any(g.event(args.event) for g in config.groups):
        print(f"surgeguard preflight: no event named {args.event!r} in {args.config}", file=sys.stderr)
        return output.USAGE
    from surgeguard_cli.aws import Aws, AwsError

    aws = aws or Aws()
    now = now or datetime.now(UTC)
    try:
        with output.spinner("reading the account"):
            stack = aws.stack(args.stack)
            checks = run_preflight(aws, config, stack, now, args.event)
    except AwsError as error:
        print(f"surgeguard preflight: cannot read AWS: {error}", file=sys.stderr)
        return output.AWS
    counts = summary(checks)
    if args.json:
        output.print_json({"checks": [asdict(c) for c in checks], "summary": counts})
    else:
        out = output.console()
        out.print(render(checks))
        out.print(", ".join(f"{counts[status]} {status}" for status in STATUSES))
    if counts[FAIL]:
        return output.FOUND
    return output.UNCHECKED if counts[UNCHECKED] else output.OK
