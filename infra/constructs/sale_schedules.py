"""Sale events: one EventBridge Scheduler one-time schedule per group x event x phase, and the Lambda
they invoke (`surgeguard.handlers.schedule`).

Each phase time comes from `plan_event(...).phase_times()` (UTC) and is written back as the event's
own wall-clock time in the event's zone, e.g. `at(2026-11-26T23:38:00)` in America/New_York, so the
console shows what the config says. A wall time that occurs twice (the hour repeated when daylight
saving ends) cannot say which of the two is meant, so such a phase is written in UTC instead.

Phases already past at synth time (planned at or before `now`) are skipped (with a warning on stderr).
A template synthesized earlier and deployed later (a pipeline, `--app cdk.out`) can still hold phases
whose time has passed, and AWS documents no behaviour for a one-time schedule created with a past at()
time; StartDate and EndDate are ignored for one-time schedules, so no template property can bound it.
Worse, a phase that has fired deleted its own schedule (below), so a deploy that updates it fails with
ResourceNotFound and rolls back. So: each schedule carries its planned time and the time after which
the Lambda no longer acts on it (Metadata `Surgeguard`); `surgeguard plan --assembly cdk.out` fails on
any phase planned at or before `now`, the same rule synth applies, nested stacks included (a pipeline
check before `cdk deploy --app cdk.out`: synthesize again); and the Lambda treats a firing more than
PHASE_MAX_AGE late the same way whatever Scheduler does with it: `skipped: stale_phase`, announced,
schedule deleted (schedule_service).

CloudFormation has no `ActionAfterCompletion` for AWS::Scheduler::Schedule, so the Lambda deletes
the schedule that fired it once the phase is handled (its ARN is in the Input as `schedule_arn`). A
failed phase keeps it: Lambda retries the same event twice (about 1, then 2 minutes later), and a
retry that succeeds deletes it; after that the event goes to the function's on-failure queue within
minutes (no hour of Scheduler retries: those only cover delivery). A fired one-time schedule never
fires again either way. The next deploy finds it gone, and no longer has it (past). A phase moved to
another time (a sale re-dated, its next edition under the same name) gets another construct id, since
the id holds the planned time: a new schedule, never an update of one that fired and is gone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aws_cdk import Acknowledgment, ArnFormat, CfnResource, Duration, Stack, TimeZone, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.nag import resource_finding
from infra.constructs.scaler_function import ScalerFunction
from infra.constructs.scaling_grants import (
    IAM5,
    grant_bounded_resize,
    grant_group_actions,
    grant_read_groups_and_metrics,
    publish_to_encrypted_topic,
)
from infra.constructs.scheduler_plumbing import SchedulerPlumbing
from surgeguard.config import GroupConfig, ManagedTag, ScalerConfig
from surgeguard.domain.sales import plan_event
from surgeguard.schedule_service import PHASE_MAX_AGE
from surgeguard_cli.phase_metadata import METADATA_KEY, stale_in_template

HANDLER = "surgeguard.handlers.schedule.lambda_handler"
SCALING_ACTIONS = ("autoscaling:SetDesiredCapacity",)
# A failed phase: Lambda's two async retries, then the on-failure queue. A pre-warm is still worth
# doing up to about an hour late (the event's floor holds until the release), so it may wait that long.
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(1)


def max_size_bound(group: GroupConfig) -> int | None:
    """The largest MaxSize the sale Lambda may set on `group`: its largest temporary max; None where no
    event of it raises one, since then the Lambda never sets its MaxSize. A raise sets a temporary max;
    a restore puts back the MaxSize the group had before the raise, which was below the temporary max
    (or the raise would not have happened), or another sale's temporary max still on."""
    raised = [e.temporary_max for e in group.events if e.temporary_max is not None]
    return max(raised) if raised else None


@dataclass(frozen=True)
class PhaseSchedule:
    """One scheduled phase: when it fires (UTC) and how its `at()` expression is written."""

    group: str
    event: str
    phase: str
    when: datetime  # UTC
    timezone: str  # the zone the expression is written in: the event's, or UTC when ambiguous
    local: datetime  # naive wall-clock time in `timezone`

    @property
    def expression(self) -> str:
        return f"at({self.local:%Y-%m-%dT%H:%M:%S})"

    @property
    def stale_after(self) -> datetime:
        """After this the Lambda no longer acts on the phase (`skipped: stale_phase`)."""
        return self.when + PHASE_MAX_AGE

    def metadata(self) -> dict[str, str]:
        return {
            "group": self.group,
            "event": self.event,
            "phase": self.phase,
            "planned_utc": f"{self.when.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            "stale_after_utc": f"{self.stale_after.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
        }

    def input(self) -> dict[str, str]:
        """The schedule handler's contract; Scheduler fills in the three context attributes."""
        return {
            "group": self.group,
            "event": self.event,
            "phase": self.phase,
            "scheduled_time": scheduler.ContextAttribute.scheduled_time,
            "execution_id": scheduler.ContextAttribute.execution_id,
            # so the handled phase can delete its own schedule (no ActionAfterCompletion in CFN)
            "schedule_arn": scheduler.ContextAttribute.schedule_arn,
        }


def wall_time(when: datetime, zone: str) -> tuple[datetime, str]:
    """`when` (aware) as naive wall-clock time in `zone`; in UTC if that wall time occurs twice."""
    local = when.astimezone(ZoneInfo(zone))
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return when.astimezone(UTC).replace(tzinfo=None, microsecond=0), "UTC"
    return local.replace(tzinfo=None, microsecond=0), zone


def stale_phases(template: dict[str, Any], now: datetime) -> list[str]:
    """The sale phases in a synthesized template that a deploy at `now` creates too late: planned at or
    before `now`, exactly those `sale_phases(config, now)` calls past (`group/event phase planned ...`),
    from each schedule's Metadata; empty when the template was synthesized at `now` or later.
    One template only: `surgeguard_cli.phase_metadata.stale_in_assembly` reads nested stacks too."""
    return [str(phase) for phase in stale_in_template(template, now)]


def sale_phases(config: ScalerConfig, now: datetime) -> tuple[list[PhaseSchedule], list[PhaseSchedule]]:
    """Every group x event x phase, split into (still to come, already past) at `now`. A phase planned
    at `now` is past; the pipeline check (`stale_phases`) flags exactly what this calls past."""
    pending: list[PhaseSchedule] = []
    past: list[PhaseSchedule] = []
    for group in config.groups:
        for event in group.events:
            for phase, when in plan_event(group, event).phase_times().items():
                local, zone = wall_time(when, event.timezone)
                schedule = PhaseSchedule(group.name, event.name, phase, when, zone, local)
                (pending if when > now else past).append(schedule)
    return pending, past


class SaleSchedules(Construct):
    """The scheduled-phase Lambda (shared defaults), its grants, and one schedule per pending phase."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ScalerConfig,
        now: datetime,
        code: lambda_.Code,
        table: dynamodb.ITable,
        notify_topic: sns.ITopic,
        alarm_prefix: str,
        group_scope: Callable[[str], Construct] | None = None,
    ) -> None:
        """`group_scope` places a group's schedules (a nested stack's scope); default: here."""
        super().__init__(scope, construct_id)
        self._group_scope = group_scope or self._own_scope
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (e.g. datetime.now(UTC))")
        self.handler = ScalerFunction(
            self,
            "Handler",
            code=code,
            handler=HANDLER,
            description="Surgeguard: pre-warms, releases and restores groups for scheduled sale events",
            table=table,
            notify_topic=notify_topic,
            alarm_prefix=alarm_prefix,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
        )
        self.function = self.handler.function
        event_groups = [group for group in config.groups if group.events]
        self._grant_scaling(event_groups, config.managed_tag)

        self.plumbing = SchedulerPlumbing(
            self,
            function=self.function,
            invokes="sale schedules invoke the scheduled-phase Lambda",
            holds="sale phases Scheduler could not deliver to the Lambda",
        )
        self.group = self.plumbing.group
        self.role = self.plumbing.role
        self.dead_letter_queue = self.plumbing.dead_letter_queue
        self._grant_delete_own_schedules()

        pending, past = sale_phases(config, now)
        for skipped in past:
            print(
                f"surgeguard: warning: not scheduling {skipped.group}/{skipped.event} {skipped.phase}: "
                f"{skipped.when:%Y-%m-%d %H:%M:%S} UTC is already past",
                file=sys.stderr,
            )
        self.phases = pending
        self.schedules = self._schedules(pending)

    def _own_scope(self, group_name: str) -> Construct:
        """A group's schedules here, under its name; a group named as one of this construct's own parts
        (`Handler`, `Group`, `SchedulerRole`, ...) gets its own id beside them, one that no group placed
        before it holds either (a group may be named `group-Handler` too)."""
        construct_id = group_name
        while self.node.try_find_child(construct_id) is not None:
            construct_id = f"group-{construct_id}"
        return Construct(self, construct_id)

    def _schedules(self, phases: Sequence[PhaseSchedule]) -> dict[tuple[str, str, str], scheduler.Schedule]:
        scopes: dict[str, Construct] = {}
        schedules = {}
        for phase in phases:
            group_scope = scopes.get(phase.group) or scopes.setdefault(
                phase.group, self._group_scope(phase.group)
            )
            schedule = self.plumbing.schedule(
                group_scope,
                # The planned time in the id: a phase moved (a sale re-dated, its next edition under the
                # same name) is a new schedule. Under one id it was an update of the schedule that fired
                # and deleted itself, which fails (NotFound) and rolls the whole deploy back.
                f"{phase.event}-{phase.phase}-{phase.when.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                description=(
                    f"Surgeguard sale {phase.event}: {phase.phase} {phase.group} at "
                    f"{phase.when.astimezone(UTC):%Y-%m-%d %H:%M} UTC (not acted on after "
                    f"{phase.stale_after.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
                ),
                # jsii takes aware datetimes only and renders the UTC fields; hand it the wall
                # time labelled UTC so `at()` shows the wall time, in the zone given beside it.
                expression=scheduler.ScheduleExpression.at(
                    phase.local.replace(tzinfo=UTC), TimeZone.of(phase.timezone)
                ),
                payload=phase.input(),
            )
            cfn = schedule.node.default_child
            assert isinstance(cfn, CfnResource)
            cfn.add_metadata(METADATA_KEY, phase.metadata())
            schedules[(phase.group, phase.event, phase.phase)] = schedule
        return schedules

    def _grant_delete_own_schedules(self) -> None:
        """scheduler:DeleteSchedule on this stack's schedule group only: a handled phase deletes the
        one-time schedule that fired it. Nothing else from Scheduler."""
        schedules = Stack.of(self).format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"{self.group.schedule_group_name}/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.handler.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DeleteOwnSaleSchedules", actions=["scheduler:DeleteSchedule"], resources=[schedules]
            )
        )
        Validations.of(self.handler.role).acknowledge(
            Acknowledgment(
                id=resource_finding(self, IAM5, schedules),
                reason=(
                    "Only the schedules of this stack's own schedule group, whose names CloudFormation "
                    "generates: a sale phase, once handled, deletes the one-time schedule that fired it."
                ),
            )
        )

    def _grant_scaling(self, event_groups: Sequence[GroupConfig], tag: ManagedTag) -> None:
        """SetDesiredCapacity (pre-warm, ramp, restore) and, only where some event raises a temporary
        max, a bounded UpdateAutoScalingGroup (raise MaxSize to it, restore it) on tagged groups: see
        scaling_grants. The IAM bound is the largest temporary max; each group's own comes from the
        config the Lambda applies. (Until 2026-12-06 every sale stack had UpdateAutoScalingGroup, up to
        the largest `max` of any event group, though without a temporary max it is never called.)"""
        role = self.handler.role
        acknowledgments = grant_group_actions(
            self, role, sid="ScaleTaggedGroupsForSales", actions=SCALING_ACTIONS, tag=tag
        )
        bounds = [bound for bound in map(max_size_bound, event_groups) if bound is not None]
        if bounds:
            acknowledgments += grant_bounded_resize(
                self, role, sid="ResizeTaggedGroupsForSales", tag=tag, max_size=max(bounds)
            )
        acknowledgments += grant_read_groups_and_metrics(role)
        acknowledgments.append(publish_to_encrypted_topic())
        Validations.of(role).acknowledge(*acknowledgments)
