"""The scheduled path: a sale event's three phases (pre-warm, release, restore), one audit item each.

EventBridge Scheduler invokes the schedule Lambda with
`{"group", "event", "phase", "scheduled_time", "execution_id", "schedule_arn"}`. The same claims, audit
records and notifications as the reactive path (service.py); "now" is the scheduled time, so a late
firing does what the plan says for that time.

CloudFormation cannot set ActionAfterCompletion on AWS::Scheduler::Schedule, so a phase handled
(applied, unchanged or skipped) deletes the one-time schedule that fired it, named by `schedule_arn`
(optional: older payloads and the simulators carry none, and nothing is deleted). A failed phase keeps
its schedule for the retries; a rejected payload deletes nothing. A deletion that fails never fails the
phase: the audit record says `schedule_deleted` and, if it did not happen, `delete_error`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from surgeguard.adapters.errors import AwsCallError, DuplicateTriggerError, GroupNotFoundError
from surgeguard.config import GroupConfig, SaleEvent
from surgeguard.domain.model import EventState, Outcome
from surgeguard.domain.sales import (
    RAMP_PREFIX,
    RELEASE_FACTOR,
    RELEASE_STEP,
    EventPlan,
    plan_event,
    target_capacity,
)
from surgeguard.domain.triggers import BadInputError
from surgeguard.service import (
    Adapters,
    Context,
    RetryableFailureError,
    _inputs,
    _notify,
    _record,
    decide_and_apply,
    new_delivery_id,
    reject_unparsed,
    validate_readings,
)

logger = logging.getLogger("surgeguard")

# Normal demand: the same time a week earlier (same weekday, same hour).
NORMAL_LOOKBACK = timedelta(days=7)
# EventBridge Scheduler's at() has minute resolution: a phase time with seconds fires up to a minute early.
EARLY_TOLERANCE = timedelta(minutes=1)
_FIELDS = ("group", "event", "phase", "scheduled_time", "execution_id")
# <aws.scheduler.schedule-arn>: arn:<partition>:scheduler:<region>:<account>:schedule/<group>/<name>
_SCHEDULE_ARN = re.compile(r"arn:[a-z-]+:scheduler:[a-z0-9-]+:\d{12}:schedule/([^/]+)/([^/]+)")
_DONE = frozenset({Outcome.APPLIED.value, Outcome.UNCHANGED.value, Outcome.SKIPPED.value})


@dataclass(frozen=True)
class PhaseTrigger:
    group: GroupConfig
    event: SaleEvent
    phase: str
    scheduled_time: datetime
    execution_id: str
    schedule_arn: str | None = None

    @property
    def trigger_id(self) -> str:
        return f"schedule#{self.execution_id}"

    def audit(self) -> dict[str, Any]:
        audit = {
            "id": self.trigger_id,
            "source": "scheduler",
            "event": self.event.name,
            "phase": self.phase,
            "scheduled_time": self.scheduled_time.isoformat(),
            "execution_id": self.execution_id,
        }
        if self.schedule_arn is not None:
            audit["schedule_arn"] = self.schedule_arn
        return audit


def parse_schedule_event(event: Any, ctx: Context) -> PhaseTrigger:
    """The Scheduler's JSON Input -> a phase of a configured event; BadInputError says what is wrong."""
    if isinstance(event, dict) and "detail" in event and "group" not in event:
        raise BadInputError(
            "EventBridge Scheduler's default payload (detail "
            f"{event.get('detail')!r}) names no group: the schedule's Input must be "
            '{"group", "event", "phase", "scheduled_time", "execution_id"}'
        )
    if not isinstance(event, dict):
        raise BadInputError(f"schedule payload is not a JSON object: {type(event).__name__}")
    missing = [f for f in _FIELDS if not isinstance(event.get(f), str) or not event.get(f)]
    if missing:
        raise BadInputError(f"schedule payload lacks {missing} (strings): got keys {sorted(event)}")
    group = ctx.config.group(event["group"])
    if group is None:
        raise BadInputError(f"schedule names group {event['group']!r}, which is not in the config")
    sale = group.event(event["event"])
    if sale is None:
        raise BadInputError(f"schedule names event {event['event']!r}, not declared for group {group.name}")
    phases = list(plan_event(group, sale).phase_times())
    if event["phase"] not in phases:
        raise BadInputError(f"schedule phase {event['phase']!r} is not one of {sale.name}'s {phases}")
    try:
        when = datetime.fromisoformat(event["scheduled_time"].replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"scheduled_time {event['scheduled_time']!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise BadInputError(f"scheduled_time {event['scheduled_time']!r} has no time zone (expected ...Z)")
    # Optional, and never a reason to reject the phase: a bad one only means nothing is deleted.
    arn = event.get("schedule_arn")
    return PhaseTrigger(
        group,
        sale,
        event["phase"],
        when.astimezone(UTC),
        event["execution_id"],
        schedule_arn=None if arn is None else str(arn),
    )


def handle_schedule_event(
    event: Any, adapters: Adapters, ctx: Context, request_id: str = "local"
) -> dict[str, Any]:
    """Handle one scheduled phase; returns the one audit record written."""
    delivery_id = new_delivery_id(request_id)
    try:
        trigger = parse_schedule_event(event, ctx)
    except BadInputError as error:
        return reject_unparsed(event, error, adapters, ctx, delivery_id, "schedule")
    plan = plan_event(trigger.group, trigger.event)
    phase_time = plan.phase_times()[trigger.phase]
    now = trigger.scheduled_time
    if phase_time - EARLY_TOLERANCE <= now < phase_time:
        now = phase_time
    group = trigger.group.name
    claimed = False
    try:
        adapters.store.claim(trigger.trigger_id, int(now.timestamp()))
        claimed = True
        if trigger.phase == "prewarm" or trigger.phase.startswith(RAMP_PREFIX):
            record = _prewarm(trigger, plan, adapters, ctx, delivery_id, now)
        elif trigger.phase == "release":
            record = _release(trigger, plan, adapters, ctx, delivery_id, now)
        else:
            record = _restore(trigger, adapters, ctx, delivery_id, now)
    except DuplicateTriggerError:
        record = _record(
            ctx,
            delivery_id,
            now,
            Outcome.SKIPPED,
            group=group,
            reason=f"duplicate execution {trigger.execution_id} of {trigger.event.name} {trigger.phase}: "
            "already handled, nothing changed",
            skip_cause="duplicate",
        )
    except (AwsCallError, GroupNotFoundError, BadInputError) as error:
        failed = isinstance(error, AwsCallError)
        logger.error("%s %s for %s: %s", trigger.phase, "failed" if failed else "rejected", group, error)
        record = _record(
            ctx,
            delivery_id,
            now,
            Outcome.FAILED if failed else Outcome.REJECTED,
            group=group,
            reason=str(error),
            error=str(error) if failed else None,
        )
        if failed and claimed:
            with contextlib.suppress(AwsCallError):
                adapters.store.release(trigger.trigger_id)
    record["trigger"] = trigger.audit()
    if record["outcome"] in _DONE:
        record.update(_delete_schedule(trigger, adapters))
    adapters.store.write_audit(record)
    _notify(adapters, record)
    if record["outcome"] == Outcome.FAILED.value:
        # Audited; raising lets Scheduler's retry policy (and its dead-letter queue) keep the phase.
        raise RetryableFailureError(record["error"])
    return record


def _delete_schedule(trigger: PhaseTrigger, adapters: Adapters) -> dict[str, Any]:
    """Delete the one-time schedule that fired this handled phase; what happened, for the audit record.

    Nothing (no fields) when the payload names no schedule or these adapters cannot delete one.
    """
    if trigger.schedule_arn is None or adapters.schedules is None:
        return {}
    match = _SCHEDULE_ARN.fullmatch(trigger.schedule_arn)
    if match is None:
        error = f"schedule_arn {trigger.schedule_arn!r} is not a schedule ARN (...:schedule/GROUP/NAME)"
        logger.warning("not deleting the schedule of %s %s: %s", trigger.event.name, trigger.phase, error)
        return {"schedule_deleted": False, "delete_error": error}
    try:
        adapters.schedules.delete_schedule(match[1], match[2])
    except AwsCallError as error:
        if error.code != "ResourceNotFoundException":
            logger.warning("could not delete schedule %s: %s", trigger.schedule_arn, error)
            return {"schedule_deleted": False, "delete_error": str(error)}
        # Already gone (an earlier delivery of this phase deleted it): as good as deleted.
    return {"schedule_deleted": True}


def _prewarm(
    trigger: PhaseTrigger, plan: EventPlan, adapters: Adapters, ctx: Context, delivery_id: str, now: datetime
) -> dict[str, Any]:
    group, sale = trigger.group, trigger.event
    snapshot = adapters.fleet.describe(group.name)
    normal = None
    if sale.peak_requests_per_minute is None and group.requests_target() is not None:
        normal = adapters.signals.normal_requests_per_minute(group, plan.start - NORMAL_LOOKBACK)
    target, why = target_capacity(group, sale, normal, snapshot.size.desired)
    previous = {s.event: s for s in adapters.store.load_events(group.name)}.get(sale.name)
    original_max = previous.original_max if previous is not None else None
    raised = ""
    if sale.temporary_max is not None and sale.temporary_max > snapshot.size.max:
        if not ctx.config.is_dry_run(group):
            adapters.fleet.set_max_size(group.name, sale.temporary_max)
        original_max = original_max or snapshot.size.max
        raised = f"; MaxSize {snapshot.size.max} -> {sale.temporary_max} until {plan.restore.isoformat()}"
    adapters.store.save_event(group.name, EventState(sale.name, target, why, now, original_max))
    readings = adapters.signals.read(group, now)
    try:
        validate_readings(readings)
    except BadInputError as error:
        # A broken metric must not stop a pre-warm: the floor alone decides.
        logger.warning("pre-warm of %s ignores the signals: %s", sale.name, error)
        readings = [r.__class__(r.signal_id, r.kind, None, r.target) for r in readings]
    applied = decide_and_apply(group, adapters, ctx, now, readings, not_stale=True)
    decision = applied.decision
    stage = (
        "pre-warm"
        if trigger.phase == "prewarm"
        else f"ramp stage {trigger.phase} ({plan.fraction_at(now):.0%} of the target)"
    )
    reason = (
        f"{stage} for {sale.name} (doors open {plan.start.isoformat()}): target {target} from {why}"
        f"{raised}; {decision.reason}"
    )
    outcome = decision.outcome
    skip_cause = "concurrent" if applied.concurrent else None
    if applied.concurrent:
        outcome = Outcome.SKIPPED
        reason += "; another decision saved first: the floor applies at the next decision"
    elif raised and outcome is Outcome.UNCHANGED:
        outcome = Outcome.APPLIED
    record = _record(
        ctx,
        delivery_id,
        now,
        outcome,
        group=group.name,
        reason=reason,
        decision=decision,
        inputs=_inputs(readings, applied.snapshot, applied.controls),
        skip_cause=skip_cause,
    )
    record["outcome"] = outcome.value
    record["event_target"] = target
    if normal is not None:
        record["normal_requests_per_minute"] = normal
    return record


def _release(
    trigger: PhaseTrigger, plan: EventPlan, adapters: Adapters, ctx: Context, delivery_id: str, now: datetime
) -> dict[str, Any]:
    state = {s.event: s for s in adapters.store.load_events(trigger.group.name)}.get(trigger.event.name)
    if state is None:
        reason = f"release of {trigger.event.name}: no pre-warm was recorded, no floor to release"
    else:
        reason = (
            f"release of {trigger.event.name}: scale-in unfrozen; the floor of {state.target} now steps down "
            f"{round((1 - RELEASE_FACTOR) * 100)}% every {int(RELEASE_STEP.total_seconds() // 60)} minutes "
            "(the reactive path applies it, never below what the load needs)"
        )
    return _record(ctx, delivery_id, now, Outcome.UNCHANGED, group=trigger.group.name, reason=reason)


def _restore(
    trigger: PhaseTrigger, adapters: Adapters, ctx: Context, delivery_id: str, now: datetime
) -> dict[str, Any]:
    group = trigger.group
    state = {s.event: s for s in adapters.store.load_events(group.name)}.get(trigger.event.name)
    if state is None or state.original_max is None:
        return _record(
            ctx,
            delivery_id,
            now,
            Outcome.UNCHANGED,
            group=group.name,
            reason=f"restore of {trigger.event.name}: no temporary max was applied, nothing to restore",
        )
    snapshot = adapters.fleet.describe(group.name)
    desired = min(snapshot.size.desired, state.original_max)
    if ctx.config.is_dry_run(group):
        return _record(
            ctx,
            delivery_id,
            now,
            Outcome.SKIPPED,
            group=group.name,
            reason=f"dry-run: would restore MaxSize {snapshot.size.max} -> {state.original_max}",
            skip_cause="dry_run",
        )
    adapters.fleet.set_max_size(group.name, state.original_max, desired)
    record = _record(
        ctx,
        delivery_id,
        now,
        Outcome.APPLIED,
        group=group.name,
        reason=f"restore after {trigger.event.name}: MaxSize {snapshot.size.max} -> {state.original_max}, "
        f"desired {snapshot.size.desired} -> {desired}",
    )
    record.update(previous_desired=snapshot.size.desired, new_desired=desired)
    return record
