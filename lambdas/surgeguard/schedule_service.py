"""The scheduled path: a sale event's three phases (pre-warm, release, restore), one audit item each.

EventBridge Scheduler invokes the schedule Lambda with
`{"group", "event", "phase", "scheduled_time", "execution_id", "schedule_arn"}`. The same claims, audit
records and notifications as the reactive path (service.py). The payload is checked like an alarm:
its `scheduled_time` must be the plan's time for that phase, and recent by the Lambda's own clock
(Scheduler invokes asynchronously: Lambda retries a failed phase twice, 1 then 2 minutes later, and
keeps it an hour at most). "Now" is the Lambda's clock: a late phase does what the plan says for the
time it really runs, and a pre-warm or ramp stage that runs after its sale ended does nothing.
The kill switch is read before any Auto Scaling call. A multiplier's target never compounds: without
demand history it multiplies the capacity the group had when the event's first phase ran.

A phase that arrives more than PHASE_MAX_AGE after its planned time is stale: audited as
`skipped: stale`, announced, its schedule deleted, nothing changed. AWS documents no behaviour for a
one-time schedule created with an at() time already past (a template synthesized before a phase and
deployed after it): Scheduler may never fire it or fire it at once. Either way the outcome is the same,
no action on a plan that old, and when it does fire, people hear why the pre-warm did not happen.

CloudFormation cannot set ActionAfterCompletion on AWS::Scheduler::Schedule, so a phase handled
(applied, unchanged or skipped) deletes the one-time schedule that fired it, named by `schedule_arn`
(optional: older payloads and the simulators carry none, and nothing is deleted). A failed phase keeps
its schedule for the retries; a rejected payload deletes nothing. A deletion that fails never fails the
phase: the audit record says `schedule_deleted` and, if it did not happen, `delete_error`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from surgeguard.adapters.errors import AwsCallError, DamagedItemError, GroupNotFoundError
from surgeguard.config import GroupConfig, SaleEvent
from surgeguard.domain.model import (
    Controls,
    Decision,
    EventState,
    GroupSnapshot,
    Outcome,
    Pause,
    ScalingAction,
)
from surgeguard.domain.sales import (
    RAMP_PREFIX,
    RELEASE_FACTOR,
    EventPlan,
    floor_at,
    normal_demand_time,
    plan_event,
    target_capacity,
    this_editions,
)
from surgeguard.domain.triggers import BadInputError, parse_time, safe_text
from surgeguard.domain.writers import within_bounds
from surgeguard.service import (
    APPLY_IN_FLIGHT,
    Adapters,
    Applied,
    Claimed,
    Context,
    Invocation,
    Stash,
    _inputs,
    _put_back_stopped,
    _record,
    check_time,
    decide_and_apply,
    guarded,
    readable_events,
    reject_unparsed,
    run_claimed,
    saved_events,
    suspended_says,
    validate_readings,
)

logger = logging.getLogger("surgeguard")

# EventBridge Scheduler's at() has minute resolution: a phase time with seconds fires up to a minute early.
EARLY_TOLERANCE = timedelta(minutes=1)
# `<aws.scheduler.scheduled-time>` is the at() time itself: more than this away from the plan's time
# for that phase, the payload is not one of our schedules.
PLAN_TOLERANCE = timedelta(minutes=2)
# Scheduler invokes asynchronously: a failed phase gets Lambda's two retries (1, then 2 minutes
# later) and the sale function keeps an event up to an hour; older is a replay.
PHASE_MAX_AGE = timedelta(minutes=65)
_REQUIRED = ("group", "event", "phase", "scheduled_time", "execution_id")
_ALLOWED = frozenset((*_REQUIRED, "schedule_arn"))
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
    stale: bool = False  # arrived more than PHASE_MAX_AGE after its planned time
    # A restore `surgeguard resume` catches up: when the one its schedule fired was skipped under the
    # kill switch (the event item's restore_paused_at).
    after_pause: datetime | None = None

    @property
    def trigger_id(self) -> str:
        # Not the execution id: Scheduler makes a new one for each attempt to deliver, so a delivery it
        # retries after one that landed would be another trigger. A phase fires once, at its time.
        when = self.scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        trigger_id = f"schedule#{self.group.name}#{self.event.name}#{self.phase}#{when}"
        if self.after_pause is None:
            return trigger_id
        # One catch-up per skip: two operators resuming at once claim the same trigger; a restore
        # skipped again under a pause set since is a new skip, caught up by the next resume.
        return f"{trigger_id}#after-pause#{self.after_pause.isoformat()}"

    def audit(self) -> dict[str, Any]:
        audit = {
            "id": self.execution_id,
            "source": "scheduler" if self.after_pause is None else "resume",
            "event": self.event.name,
            "phase": self.phase,
            "scheduled_time": self.scheduled_time.isoformat(),
            "execution_id": self.execution_id,
        }
        if self.schedule_arn is not None:
            audit["schedule_arn"] = self.schedule_arn
        if self.after_pause is not None:
            audit["skipped_paused_at"] = self.after_pause.isoformat()
        return audit


def parse_schedule_event(event: Any, ctx: Context) -> PhaseTrigger:
    """The Scheduler's JSON Input -> a phase of a configured event; BadInputError says what is wrong."""
    if isinstance(event, dict) and "detail" in event and "group" not in event:
        raise BadInputError(
            "EventBridge Scheduler's default payload (detail "
            f"{safe_text(str(event.get('detail')), 80)!r}) names no group: the schedule's Input must be "
            '{"group", "event", "phase", "scheduled_time", "execution_id"}'
        )
    if not isinstance(event, dict):
        raise BadInputError(f"schedule payload is not a JSON object: {type(event).__name__}")
    foreign = sorted(safe_text(str(k), 40) for k in event if k not in _ALLOWED)
    if foreign:
        raise BadInputError(
            f"schedule payload has keys {foreign[:8]} no sale phase carries: meant for another handler?"
        )
    missing = [f for f in _REQUIRED if not isinstance(event.get(f), str) or not event.get(f)]
    if missing:
        raise BadInputError(f"schedule payload lacks {missing} (strings): got keys {sorted(event)}")
    group = ctx.config.group(event["group"])
    if group is None:
        raise BadInputError(f"schedule names group {safe_text(event['group'])!r}, which is not in the config")
    sale = group.event(event["event"])
    if sale is None:
        raise BadInputError(
            f"schedule names event {safe_text(event['event'])!r}, not declared for group {group.name}"
        )
    phases = plan_event(group, sale).phase_times()
    if event["phase"] not in phases:
        raise BadInputError(
            f"schedule phase {safe_text(event['phase'])!r} is not one of {sale.name}'s {list(phases)}"
        )
    when = parse_time(event["scheduled_time"], "scheduled_time", zone_required=True)
    planned = phases[event["phase"]]
    if abs(when - planned) > PLAN_TOLERANCE:
        raise BadInputError(
            f"scheduled_time {when.isoformat()} is not when {sale.name}'s {event['phase']} is planned "
            f"({planned.isoformat()}): not one of our schedules"
        )
    # A plan's own phase, only older than we act on: stale (recorded as such), not a forgery.
    stale = when < ctx.clock() - PHASE_MAX_AGE
    if not stale:
        check_time(when, ctx.clock(), "the phase's scheduled time", PHASE_MAX_AGE)
    arn = event.get("schedule_arn")
    return PhaseTrigger(
        group,
        sale,
        event["phase"],
        when,
        safe_text(event["execution_id"]),
        schedule_arn=None if not isinstance(arn, str) else safe_text(arn, 1024),
        stale=stale,
    )


def handle_schedule_event(
    event: Any, adapters: Adapters, ctx: Context, invocation: Invocation | None = None
) -> dict[str, Any]:
    """Handle one scheduled phase; returns the one audit record written."""
    return guarded(_schedule_event, event, adapters, ctx, invocation or Invocation())[0]


def _schedule_event(
    event: Any, adapters: Adapters, ctx: Context, invocation: Invocation, delivery_id: str
) -> list[dict[str, Any]]:
    try:
        trigger = parse_schedule_event(event, ctx)
    except BadInputError as error:
        return [reject_unparsed(event, error, adapters, ctx, delivery_id, "schedule")]
    return _run_phase(trigger, adapters, ctx, invocation, delivery_id)


def _run_phase(
    trigger: PhaseTrigger, adapters: Adapters, ctx: Context, invocation: Invocation, delivery_id: str
) -> list[dict[str, Any]]:
    plan = plan_event(trigger.group, trigger.event)
    phase_time = plan.phase_times()[trigger.phase]
    # "Now" is our own clock: a late firing does what the plan says for the time it really runs.
    now = max(ctx.clock(), phase_time) if ctx.clock() >= phase_time - EARLY_TOLERANCE else ctx.clock()
    audit = trigger.audit()
    group = trigger.group.name

    def base(outcome: Outcome, reason: str, **extra: Any) -> dict[str, Any]:
        return _record(ctx, delivery_id, now, outcome, group=group, trigger=audit, reason=reason, **extra)

    def work(stash: Stash) -> list[dict[str, Any]]:
        if trigger.stale:
            record = _stale(trigger, phase_time, ctx.clock(), base, adapters)
        elif trigger.phase == "prewarm" or trigger.phase.startswith(RAMP_PREFIX):
            record = _prewarm(trigger, plan, adapters, ctx, base, now, stash)
        elif trigger.phase == "release":
            record = _release(trigger, adapters, base)
        else:
            record = _restore(trigger, adapters, ctx, base, stash, now)
        if record["outcome"] in _DONE:
            record.update(_delete_schedule(trigger, adapters))
        return [record]

    def marked_restored(record: dict[str, Any]) -> None:
        _mark_restored(trigger, adapters, now)

    claimed = Claimed(
        trigger.trigger_id,
        group,
        audit,
        now,
        work,
        f"execution {trigger.execution_id} of {trigger.event.name} {trigger.phase}",
        on_duplicate=lambda: _delete_schedule(trigger, adapters),
        on_recovered=(lambda record: _mark_restored(trigger, adapters, now))
        if trigger.phase == "restore"
        else None,
        # people hear of a stale phase: a pre-warm they counted on did not happen
        notify=frozenset({Outcome.APPLIED, Outcome.FAILED, *((Outcome.SKIPPED,) if trigger.stale else ())}),
    )
    return run_claimed(claimed, adapters, ctx, invocation, delivery_id)


def _stale(
    trigger: PhaseTrigger, planned: datetime, clock: datetime, base: Any, adapters: Adapters
) -> dict[str, Any]:
    sale = trigger.event.name
    late = (
        f"{trigger.phase} of {sale} was planned for {planned.isoformat()} and arrived at "
        f"{clock.isoformat()}, more than {PHASE_MAX_AGE} late (a template synthesized before that time "
        f"and deployed after it, or a replay): not acted on, no MaxSize or capacity change"
    )
    if trigger.phase == "restore":
        # Not acted on either: by now another sale may need the raised max. People are told what to
        # put back, best effort (a read that fails only leaves the numbers out).
        what = "MaxSize stays as the pre-warm left it: put it back by hand once no other sale needs it"
        try:
            state = _saved_event(trigger.group, adapters, sale)
            if state is not None and state.original_max is not None:
                now_max = adapters.fleet.describe(trigger.group.name).size.max
                what = (
                    f"MaxSize stays {now_max}: put it back to {state.original_max} by hand once no other "
                    "sale needs it"
                )
        except (AwsCallError, GroupNotFoundError, DamagedItemError) as error:
            logger.warning("stale restore of %s: could not read what to put back: %s", sale, error)
        reason = f"{late}. {what}"
    else:
        reason = (
            f"{late}. Capacity follows the alarms alone; if {sale} is still ahead or running, "
            "pre-warm by hand"
        )
    record: dict[str, Any] = base(Outcome.SKIPPED, reason, skip_cause="stale_phase")
    record["planned_time"] = planned.isoformat()
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


def _saved_events(group: GroupConfig, adapters: Adapters, name: str) -> dict[str, EventState]:
    """The group's saved event states by event. Another event's damaged item is no concern of this
    phase (it is left out); event `name`'s own raises DamagedItemError: the phase fails, audited and
    retried, changing nothing, since what to raise or put back is no longer known."""
    states, damage = saved_events(group, adapters)
    if damage is not None and name in damage.names:
        raise damage
    return {state.event: state for state in states}


def _saved_event(group: GroupConfig, adapters: Adapters, name: str) -> EventState | None:
    """Event `name`'s saved state (None: none saved yet); see `_saved_events`."""
    return _saved_events(group, adapters, name).get(name)


def _stranded_original_max(group: GroupConfig, adapters: Adapters, name: str, max_read: int) -> int | None:
    """The MaxSize an earlier edition of sale `name` raised and never put back (the sale moved after its
    pre-warm: the redeploy deleted the restore's schedule), while MaxSize still reads above it: this
    edition's restore puts it back. Read at an edition's first phase only, since the earlier edition's
    item is left out of this edition's states; without it the raised max read now was saved as the one
    to put back, and it stayed raised for good."""
    states, _ = readable_events(group, adapters)
    if any(state.event == name for state in this_editions(group, states)):
        return None
    earlier = next((state for state in states if state.event == name), None)
    if earlier is None or earlier.original_max is None or earlier.restored_at is not None:
        return None
    # Only a raise still in place: MaxSize at what that edition held it at (saved: the move may change
    # the sale's temporary max too). An edition run in dry-run saved its original but raised nothing,
    # and a MaxSize a person set since (40 on purpose) was "put back" to 20, desired 35 cut with it.
    # An item written before `raised_to` was kept is judged by the sale's temporary max as configured
    # now (one that held none says 0).
    raised_to = earlier.raised_to
    if raised_to is None:
        sale = group.event(name)
        raised_to = None if sale is None else sale.temporary_max
    if raised_to is None or max_read != raised_to or max_read <= earlier.original_max:
        return None
    return earlier.original_max


@dataclass(frozen=True)
class _Raised:
    event: SaleEvent
    original_max: int  # what that sale's restore puts back


def _others_raised(
    group: GroupConfig,
    states: dict[str, EventState],
    name: str,
    now: datetime,
    max_read: int | None = None,
) -> list[_Raised]:
    """The group's other sales whose first phase saved a MaxSize to put back and whose restore is still
    to come at `now`: back-to-back sales (which `surgeguard plan` calls an error) must not undo each
    other's max.

    `max_read` (a pre-warm's read of MaxSize): a sale whose restore time has passed counts too while
    that restore may still be running or retried (PHASE_MAX_AGE), MaxSize is still above what it puts
    back, and its item says it was not restored: the restore has not landed yet (or was skipped:
    paused), so its original is the group's, not the max read. A restore that landed and a MaxSize
    raised since (by a person) does not count: this sale would cut that max at its own restore."""
    raised = []
    for event in group.events:
        state = states.get(event.name)
        if event.name == name or state is None or state.original_max is None:
            continue
        plan = plan_event(group, event)
        if plan.raised_max(now) is not None or (
            max_read is not None
            and state.restored_at is None
            and plan.first_phase <= now < plan.restore + PHASE_MAX_AGE
            and max_read > state.original_max
        ):
            raised.append(_Raised(event, state.original_max))
    return raised


def _base_capacity(
    group: GroupConfig, states: dict[str, EventState], name: str, now: datetime, desired: int
) -> tuple[int, str]:
    """What a multiplier without demand history multiplies, and how the record says it: the capacity
    kept from the event's first phase, or at its first phase the `desired` read now, unless another
    sale's floor still holds the group above the capacity it ran before that sale: that one."""
    previous = states.get(name)
    if previous is not None and previous.base_capacity is not None:
        since = previous.set_at.isoformat()
        return (
            previous.base_capacity,
            f"the group's capacity when this event's first phase ran, kept from {since}",
        )
    # Nor what another sale's floor still holds the group up at: a second sale an hour after the first
    # multiplied the first's stepping-down floor (4 x 16 for a group that runs 4).
    before_other = _capacity_before_another_sale(group, states, name, now, desired)
    if before_other is None:
        return desired, "the group's desired capacity when this event's first phase ran, now"
    other, capacity = before_other
    return capacity, (
        f"the group's capacity before {other}, whose floor held it at {desired} when this event's first "
        "phase ran, now"
    )


def _capacity_before_another_sale(
    group: GroupConfig, states: dict[str, EventState], name: str, now: datetime, desired: int
) -> tuple[str, int] | None:
    """The other sale (its name) whose floor may still hold the group above its normal capacity at
    `now`, from its first phase until its restore or its floor's last step, and the capacity the group
    ran before it (its event item's base_capacity), where that is below `desired`: the lowest of them."""
    before = []
    for event in group.events:
        state = states.get(event.name)
        if event.name == name or state is None or state.base_capacity is None:
            continue
        plan = plan_event(group, event)
        holding = now < plan.restore or floor_at(plan, state.target, now) is not None
        if plan.first_phase <= now and holding and state.base_capacity < desired:
            before.append((state.base_capacity, event.name))
    if not before:
        return None
    capacity, other = min(before)
    return other, capacity


def _raise_max(group: str, adapters: Adapters, to: int) -> Pause | None:
    """Raise MaxSize to `to`, the kill switch read again just before: the pause that stopped it, if any."""
    pause = adapters.store.load_pause(group)
    if pause.blocks(ScalingAction.SCALE_OUT):
        return pause
    adapters.fleet.set_max_size(group, to)
    return None


def _prewarm(
    trigger: PhaseTrigger,
    plan: EventPlan,
    adapters: Adapters,
    ctx: Context,
    base: Any,
    now: datetime,
    stash: Stash,
) -> dict[str, Any]:
    group, sale = trigger.group, trigger.event
    share = plan.fraction_at(max(now, plan.phase_times()[trigger.phase]))
    stage = (
        "pre-warm"
        if trigger.phase == "prewarm"
        else f"ramp stage {trigger.phase} ({share:.0%} of the target)"
    )
    if now >= plan.end:
        return base(
            Outcome.SKIPPED,
            f"{stage} for {sale.name} ran at {now.isoformat()}, after the sale ended "
            f"({plan.end.isoformat()}): too late to help, nothing done",
            skip_cause="late",
        )
    # The kill switch first: a paused group gets no MaxSize raise, no floor and no capacity change.
    pause = adapters.store.load_pause(group.name)
    if pause.blocks(ScalingAction.SCALE_OUT):
        return base(
            Outcome.SKIPPED,
            f"paused ({pause.value}): {stage} for {sale.name} not done (no MaxSize raise, no floor, no "
            "capacity change)",
            skip_cause="paused",
        )
    snapshot = adapters.fleet.describe(group.name)
    states = _saved_events(group, adapters, sale.name)
    previous = states.get(sale.name)
    normal = None
    if sale.peak_requests_per_minute is None and group.requests_target() is not None:
        normal = adapters.signals.normal_requests_per_minute(group, normal_demand_time(sale))
    # Without demand history a multiplier multiplies the capacity the group had when this event's
    # first phase ran (kept with the event), never what an earlier phase already raised. (`is None`, not
    # falsy: a group parked at 0 saved 0, and a pre-warm multiplied what the ramp stage had raised.)
    base_capacity, ran = _base_capacity(group, states, sale.name, now, snapshot.size.desired)
    target, why = target_capacity(group, sale, normal, base_capacity)
    if normal is None and sale.peak_requests_per_minute is None:
        why += f" (no request history from a week before: {ran})"
    original_max = (
        previous.original_max
        if previous is not None
        else _stranded_original_max(group, adapters, sale.name, snapshot.size.max)
    )
    raises_max = sale.temporary_max is not None and sale.temporary_max > snapshot.size.max
    # Over another sale's raised max, the original is what that sale will put back: kept as this sale's
    # too, raised or not, so that sale's restore keeps this one's max while it is on, and this one's
    # restore puts the original back (one under the other's max raised nothing, and was forgotten).
    # A restore of another sale due now but not landed yet (MaxSize still above its original) counts:
    # its original, not the max read, is the one to put back when this sale ends.
    others = [
        other.original_max for other in _others_raised(group, states, sale.name, now, snapshot.size.max)
    ]
    # (`is None`, not falsy: a group parked at MaxSize 0 saved 0, and a later ramp stage took the max it
    # had raised for the original.)
    if sale.temporary_max is not None and others:
        original_max = min(others) if original_max is None else original_max
    elif raises_max:
        original_max = snapshot.size.max if original_max is None else original_max
    # Saved before the raise: a raise that lands with its answer lost (or the function killed after it)
    # leaves the retry a MaxSize already raised, from which it could no longer tell the original.
    # Saved before the second read of MaxSize that decides the raise too (`_raise_for_sale`): another
    # sale's restore that read the event items before this one was saved did not know this sale is on
    # and may cut MaxSize after our first read; it reads them again after its update, so it sees this
    # item then, or its cut came before our second read.
    dry_run = ctx.config.is_dry_run(group)
    # What this edition holds MaxSize at: its temporary max, wherever it has an original to put back
    # (raised now, or under another sale's raise it keeps: set from the first MaxSize read alone, a
    # sale under another's max, or raised at the second read, kept none, and a move left it raised).
    # 0: holds none (a dry run saves an original it never raised), told apart from an item written
    # before the field, which has none.
    raised_before = None if previous is None else previous.raised_to
    holds = sale.temporary_max is not None and original_max is not None and not dry_run
    raised_to = sale.temporary_max if holds else (0 if raised_before is None else raised_before)
    saved = EventState(sale.name, target, why, now, original_max, base_capacity, raised_to=raised_to)
    adapters.store.save_event(group.name, saved)
    until = plan.restore.isoformat()
    raised = _MaxRaised(original_max=original_max)
    if sale.temporary_max is not None and not dry_run:
        before_raise = _raise_stasher(
            stash,
            base,
            f"{stage} for {sale.name} (doors open {plan.start.isoformat()}): target {target} from {why}",
            snapshot.size.desired,
            floor_at(plan, target, max(now, plan.phase_times()[trigger.phase])) or 0,
            {"new_max": sale.temporary_max, "event_target": target},
        )
        raised = _raise_for_sale(
            group.name, sale.temporary_max, adapters, saved, snapshot.size.max, until, before_raise
        )
    if raised.stopped is not None and not raised.made:
        put_back = "" if raised.original_max is None else f", MaxSize {raised.original_max} to put back"
        return base(
            Outcome.SKIPPED,
            f"paused ({raised.stopped.value}) during the {stage} for {sale.name}: the kill switch, read "
            "again before the MaxSize raise, stopped it (no MaxSize raise, no floor, no capacity change); "
            f"its event item was saved just before (target {target}{put_back})",
            skip_cause="paused",
        )
    told = raised.told(sale.temporary_max, None if dry_run else snapshot.size.max)
    if dry_run and raises_max:
        told = f"; dry-run: would raise MaxSize {snapshot.size.max} -> {sale.temporary_max} until {until}"
    readings = adapters.signals.read(group, now)
    try:
        validate_readings(readings)
    except BadInputError as error:
        # A broken metric must not stop a pre-warm: the floor alone decides.
        logger.warning("pre-warm of %s ignores the signals: %s", sale.name, error)
        readings = [r.__class__(r.signal_id, r.kind, None, r.target) for r in readings]
    head = f"{stage} for {sale.name} (doors open {plan.start.isoformat()}): target {target} from {why}{told}"
    # The pre-warm's own fields, on the record it writes and on the ones it stashes: a retry that audits
    # a stashed record (its audit write failed) tells the MaxSize raise too.
    fields = {
        **({"new_max": sale.temporary_max} if raised.made else {}),
        "event_target": target,
        **({"normal_requests_per_minute": normal} if normal is not None else {}),
    }
    stashed: list[dict[str, Any]] = []

    def stash_change(
        decision: Decision, snap: GroupSnapshot, controls: Controls, notes: dict[str, Any]
    ) -> None:
        # A raise made is `applied` whatever the decision did (`_prewarm_outcome`).
        record = base(
            Outcome.APPLIED if raised.made else decision.outcome,
            f"{head}; {decision.reason}",
            decision=decision,
            inputs=_inputs(readings, snap, controls),
        )
        stash(record | notes | fields)
        stashed.append(record)

    applied = decide_and_apply(
        group,
        adapters,
        ctx,
        now,
        readings,
        not_stale=True,
        trigger_id=trigger.trigger_id,
        # A phase delivered while the clock reads up to a few minutes before it (a payload accepted
        # within the clock's skew) is decided at the clock, but on its own plan: at the clock alone it
        # had no floor or freeze yet, and a pre-warm scaled the group in.
        plan_from=plan.phase_times()[trigger.phase],
        stash=stash_change,
    )
    decision = applied.decision
    reason = f"{head}; {decision.reason}"
    outcome, skip_cause, reason = _prewarm_outcome(applied, raised, reason, dry_run and raises_max)
    record = base(
        outcome,
        reason,
        decision=decision,
        inputs=_inputs(readings, applied.snapshot, applied.controls),
        skip_cause=skip_cause,
    )
    record.update(applied.notes)
    record["outcome"] = outcome.value
    if outcome is Outcome.APPLIED:
        record.pop("skip_cause", None)  # the decision's (paused, concurrent), of a raise that was made
    record.update(fields)
    if raised.made and not stashed:
        # A raise is a change of its own: stashed as a capacity change is, so that where the audit write
        # fails the retry audits it `applied` from the stash. Released instead, the retry found MaxSize
        # raised, raised nothing and audited the pre-warm `unchanged`: the raise never audited, nor told.
        # Its desired as the group showed it (this decision changed none).
        stash({**record, "new_desired": decision.previous})
    return record


@dataclass(frozen=True)
class _MaxRaised:
    """What a pre-warm's MaxSize raise came to."""

    made: tuple[str, ...] = ()  # each raise made, as the record tells it
    stopped: Pause | None = None  # the kill switch, set since the phase began, that stopped a raise
    original_max: int | None = None  # what this sale's restore puts back, as saved

    def told(self, temporary_max: int | None, read_max: int | None = None) -> str:
        """The raise, for the record's reason ("" when none was made or stopped, and MaxSize, `read_max`,
        was not found raised already: by an earlier phase of the sale, another sale, or an earlier
        attempt whose answer was lost, which a retry's record once did not say at all)."""
        told = f"; {', then '.join(self.made)}" if self.made else ""
        if self.stopped is not None and self.made:
            told += (
                f"; paused ({self.stopped.value}) before MaxSize could be raised again: it stays lower, "
                f"raise it to {temporary_max} by hand once resumed"
            )
        raised_before = (
            read_max is not None and self.original_max is not None and read_max > self.original_max
        )
        if not self.made and self.stopped is None and temporary_max is not None and raised_before:
            told += f"; MaxSize already {read_max} ({self.original_max} to put back at the restore)"
        return told


def _raise_stasher(
    stash: Stash, base: Any, head: str, desired: int, floor: int, fields: dict[str, Any]
) -> Callable[[int], None]:
    """What a pre-warm does before each MaxSize raise (to `fields["new_max"]`), `desired` read before it.

    A raise that lands with its answer lost leaves the retry a MaxSize already raised: it raised nothing
    and audited the pre-warm `unchanged`, and people had heard only of the failed attempt. Where the raise
    is the pre-warm's whole change (desired already at the phase's `floor`) it is stashed first, so that
    retry audits it `applied` and tells it. Where the floor moves desired too, nothing is stashed: the
    retry decides again and applies the floor, as it must."""

    def before_raise(from_max: int) -> None:
        if desired < floor:
            return
        reason = (
            f"{head}; MaxSize {from_max} -> {fields['new_max']}; desired {desired} already at or above "
            f"the floor of {floor}"
        )
        stash(base(Outcome.APPLIED, reason) | {"previous_desired": desired, "new_desired": desired, **fields})

    return before_raise


def _raise_for_sale(
    group: str,
    temporary_max: int,
    adapters: Adapters,
    saved: EventState,
    read_max: int,
    until: str,
    before_raise: Callable[[int], None],
) -> _MaxRaised:
    """Raise MaxSize to a sale's `temporary_max` once its event item (`saved`) is saved: if the first
    read (`read_max`) is below it, and again if MaxSize, read again now, is (another sale's restore
    that read the event items before ours was saved cut it since the first read). The kill switch is
    read again before each raise. An original still unknown (no raise was due at the first read) is
    the MaxSize read again, saved before that raise. `before_raise(from_max)` runs before each raise."""
    made = []
    if temporary_max > read_max:
        before_raise(read_max)
        stopped = _raise_max(group, adapters, temporary_max)
        if stopped is not None:
            return _MaxRaised((), stopped, saved.original_max)
        made.append(f"MaxSize {read_max} -> {temporary_max} until {until}")
    now_max = adapters.fleet.describe(group).size.max
    original = saved.original_max
    stopped = None
    if now_max < temporary_max:
        if original is None:
            original = now_max
            adapters.store.save_event(group, replace(saved, original_max=original, raised_to=temporary_max))
        before_raise(now_max)
        stopped = _raise_max(group, adapters, temporary_max)
        if stopped is None:
            made.append(
                f"MaxSize read again after this sale's event item was saved: {now_max} (lowered since the "
                f"first read, by another sale's restore that did not know this one yet), raised {now_max} -> "
                f"{temporary_max} until {until}"
            )
    return _MaxRaised(tuple(made), stopped, original)


def _prewarm_outcome(
    applied: Applied, raised: _MaxRaised, reason: str, would_raise: bool
) -> tuple[Outcome, str | None, str]:
    """A pre-warm's outcome, skip cause and reason from its decision (`applied`) and its MaxSize raise.

    A raise made is a change of its own whatever the decision then did (a kill switch set since, another
    decision saved first): `applied`, and told. In dry-run (`would_raise`) a raise is not made."""
    outcome = applied.decision.outcome
    skip_cause = "concurrent" if applied.concurrent else None
    if applied.concurrent:
        outcome = Outcome.SKIPPED
        reason += "; another decision saved first: the floor applies at the next decision"
    if raised.made and outcome is not Outcome.APPLIED:
        if applied.decision.skip_cause == "paused":
            reason += (
                "; the kill switch was set after MaxSize was raised: the raise stands (put MaxSize back "
                "by hand if it must not), no floor applied"
            )
        return Outcome.APPLIED, None, reason
    if would_raise and outcome is Outcome.UNCHANGED:
        return Outcome.SKIPPED, "dry_run", reason
    return outcome, skip_cause, reason


def _release(trigger: PhaseTrigger, adapters: Adapters, base: Any) -> dict[str, Any]:
    state = _saved_event(trigger.group, adapters, trigger.event.name)
    if state is None:
        reason = f"release of {trigger.event.name}: no pre-warm was recorded, no floor to release"
    else:
        # An event released early (release_after_doors_minutes) steps down faster: say the plan's step.
        minutes = int(plan_event(trigger.group, trigger.event).release_step.total_seconds() // 60)
        every = "every minute" if minutes == 1 else f"every {minutes} minutes"
        reason = (
            f"release of {trigger.event.name}: scale-in unfrozen; the floor of {state.target} now steps down "
            f"{round((1 - RELEASE_FACTOR) * 100)}% {every} "
            "(the reactive path applies it, never below what the load needs)"
        )
    return base(Outcome.UNCHANGED, reason)


def _restore(
    trigger: PhaseTrigger, adapters: Adapters, ctx: Context, base: Any, stash: Stash, now: datetime
) -> dict[str, Any]:
    group = trigger.group
    states = _saved_events(group, adapters, trigger.event.name)
    state = states.get(trigger.event.name)
    if state is None or state.original_max is None:
        return base(
            Outcome.UNCHANGED,
            f"restore of {trigger.event.name}: no temporary max was applied, nothing to restore",
        )
    pause = adapters.store.load_pause(group.name)
    # A restore only takes capacity away (MaxSize, and desired down to it): a full pause or a scale-in
    # freeze stops it, a scale-out pause does not (skipped under one, the sale's max stayed for good).
    if pause.blocks(ScalingAction.SCALE_IN):
        # Noted on the event item, so that `surgeguard resume` finds it and does it then: nothing retried
        # it, and the sale's max stayed raised for good once resumed.
        adapters.store.save_event(group.name, replace(state, restore_paused_at=now))
        return base(
            Outcome.SKIPPED,
            f"paused ({pause.value}): restore of {trigger.event.name} not done; MaxSize stays raised "
            f"until `surgeguard resume` of this group puts it back to {state.original_max} (or put it back "
            "by hand)",
            skip_cause="paused",
        )
    read_at = ctx.clock()
    snapshot = adapters.fleet.describe(group.name)
    caught_up = (
        ""
        if trigger.after_pause is None
        else f" (skipped under the kill switch at {trigger.after_pause.isoformat()}, caught up at the resume)"
    )
    if trigger.after_pause is not None:
        left = _changed_since_the_skip(trigger, state, snapshot.size.max)
        if left is not None:
            _mark_restored(trigger, adapters, now, state)
            return base(Outcome.UNCHANGED, left)
    # Another sale still on keeps its raised max; its own restore puts the original back.
    on = _others_raised(group, states, trigger.event.name, now)
    new_max = max([state.original_max, *(other.event.temporary_max or 0 for other in on)])
    kept = (
        ""
        if new_max == state.original_max
        else f" (not {state.original_max}: {', '.join(o.event.name for o in on)} still on, its max kept)"
    )
    if snapshot.size.min > new_max:
        # AWS refuses a MaxSize under MinSize (ValidationError): a min raised during the sale, put back
        # under, failed every retry and left the temporary max in place for good.
        kept += f" (not {new_max}: MinSize {snapshot.size.min} is above it, and MaxSize cannot go under it)"
        new_max = snapshot.size.min
    if ctx.config.is_dry_run(group):
        return base(
            Outcome.SKIPPED,
            f"dry-run: would restore MaxSize {snapshot.size.max} -> {new_max}{kept}",
            skip_cause="dry_run",
        )
    # Desired is sent only when it must come down to the new max: sent as read, it would put back a
    # decision that scaled out since the read (another Lambda, outside the state item's version).
    lowered = snapshot.size.desired if snapshot.size.desired <= new_max else new_max
    if new_max == snapshot.size.max and lowered == snapshot.size.desired:
        # Put back already (by a person, or a restore whose record a retry audited): no call, nobody
        # told of a change that is none; marked restored all the same, so no later sale takes this
        # sale's original for one still to put back.
        _mark_restored(trigger, adapters, now, state)
        return base(
            Outcome.UNCHANGED,
            f"restore after {trigger.event.name}{caught_up}: MaxSize already {new_max}{kept}, desired "
            f"{snapshot.size.desired} inside it: nothing to put back",
        )
    change = (
        f"desired {snapshot.size.desired} -> {lowered}{_left_running(snapshot, lowered)}"
        if lowered != snapshot.size.desired
        else "desired kept"
    )
    record = base(
        Outcome.APPLIED,
        f"restore after {trigger.event.name}{caught_up}: MaxSize {snapshot.size.max} -> {new_max}{kept}, "
        + change,
    )
    record.update(previous_desired=snapshot.size.desired, new_desired=lowered, new_max=new_max)
    stash(record)
    adapters.fleet.set_max_size(group.name, new_max, None if lowered == snapshot.size.desired else lowered)
    _mark_restored(trigger, adapters, now, state)
    late = _kept_for_late_sales(trigger, adapters, now, new_max, snapshot.size.desired, lowered)
    if not late and lowered != snapshot.size.desired:
        late = _newer_scale_in_put_back(group.name, adapters, read_at, lowered)
    record["reason"] += late.pop("reason", "")
    record.update(late)
    return record


def _changed_since_the_skip(trigger: PhaseTrigger, state: EventState, max_read: int) -> str | None:
    """Why a restore caught up after the pause leaves MaxSize as it is (None: it is still the sale's
    raise, to put back). Read hours later, a MaxSize other than the one the sale held is someone's
    change since the skip (put back by hand, as its record said, then set on purpose), or another
    sale's raise: put back now, it was cut."""
    held = state.raised_to if state.raised_to is not None else trigger.event.temporary_max
    if held == max_read:
        return None
    when = "" if trigger.after_pause is None else f" at {trigger.after_pause.isoformat()}"
    return (
        f"restore of {trigger.event.name}, skipped under the kill switch{when}, caught up after the "
        f"resume: MaxSize {max_read} is not the {held} the sale held it at (changed since, by hand or by "
        "another sale): left as it is"
    )


def catch_up_restores(
    group: GroupConfig,
    adapters: Adapters,
    ctx: Context,
    resumed_by: str,
    invocation: Invocation | None = None,
) -> list[dict[str, Any]]:
    """After `surgeguard resume`: each restore of `group` its schedule fired under the kill switch
    (skipped, noted on its event item) and not done since, done now through the restore's own path,
    one audit record each (trigger source `resume`). Nothing while the group is still paused against
    scale-in. Done once: the restore marks its event item restored, and two resumes at once claim the
    same trigger. A RetryableFailureError (audited `failed`, the claim freed) is for the caller to say:
    the next resume tries again."""
    if adapters.store.load_pause(group.name).blocks(ScalingAction.SCALE_IN):
        return []
    states, _ = saved_events(group, adapters)
    records: list[dict[str, Any]] = []
    for state in states:
        sale = group.event(state.event)
        if sale is None or state.restore_paused_at is None or state.restored_at is not None:
            continue
        trigger = PhaseTrigger(
            group,
            sale,
            "restore",
            plan_event(group, sale).restore,
            safe_text(f"resume by {resumed_by}"),
            after_pause=state.restore_paused_at,
        )

        def run(
            event: Any,
            adapters: Adapters,
            ctx: Context,
            invocation: Invocation,
            delivery_id: str,
            trigger: PhaseTrigger = trigger,
        ) -> list[dict[str, Any]]:
            return _run_phase(trigger, adapters, ctx, invocation, delivery_id)

        # `guarded`'s event names the group, so that an internal error is filed under it.
        event = {"group": group.name, "event": sale.name, "phase": "restore"}
        records += guarded(run, event, adapters, ctx, invocation or Invocation("surgeguard-resume"))
    return records


def _left_running(snapshot: GroupSnapshot, lowered: int) -> str:
    """What a restore's lower desired leaves running, as the group shows it: AWS accepts the lower
    desired capacity and terminates nothing while Terminate is suspended, nor instances protected from
    scale-in; said as done, a group still at 24 read 'desired 24 -> 20'."""
    if "Terminate" in snapshot.suspended:
        return (
            " (Terminate is suspended on the group (SuspendedProcesses): nothing terminates until it is "
            "resumed)"
        )
    if snapshot.protected > lowered:
        return f" ({snapshot.protected} in service are protected from scale-in: they keep running)"
    return ""


def _newer_scale_in_put_back(
    group: str, adapters: Adapters, read_at: datetime, lowered: int
) -> dict[str, Any]:
    """After a restore that lowered desired to `lowered` with its MaxSize: a decision that committed less
    while the update was on its way (Auto Scaling has no conditional write) had its scale-in raised
    back to `lowered`; it is put back, unless Terminate is suspended or the kill switch is on, as a
    decider's settle does. A commit below what the restore read is one the group did not show yet: in
    flight (within an attempt's lease of the read) or made since."""
    try:
        latest = adapters.store.load_memory(group)
        committed, at = latest.committed_desired, latest.committed_at
        if committed is None or at is None or committed >= lowered or at < read_at - APPLY_IN_FLIGHT:
            return {}
        current = adapters.fleet.describe(group)
        stopped = _put_back_stopped(committed, lowered, current, adapters)
        if stopped is not None:
            return {"reason": f"; a decision committed {committed} meanwhile: {stopped}"}
        committed = within_bounds(committed, current)
        if current.size.desired != lowered or committed >= lowered:
            return {}
        adapters.fleet.set_desired_capacity(group, committed)
    except (AwsCallError, DamagedItemError, GroupNotFoundError) as error:
        logger.warning("restore of %s: could not check for a newer decision: %s", group, error)
        return {
            "reason": f"; not known whether a decision committed less meanwhile: {safe_text(str(error), 300)}"
        }
    return {
        "settled_to": committed,
        "reason": f"; a decision committed {committed} meanwhile: {committed} put back",
    }


def _mark_restored(
    trigger: PhaseTrigger, adapters: Adapters, now: datetime, state: EventState | None = None
) -> None:
    """The sale's event item marked restored once its MaxSize is back (by this attempt, or by an earlier
    one whose record is audited from its stash): a pre-warm of another sale after it then never takes
    this sale's original for one still to put back (a MaxSize raised since by a person would be cut at
    that sale's restore). A write that fails raises: the claim's retry marks it from the stash."""
    if state is None:
        state = _saved_events(trigger.group, adapters, trigger.event.name).get(trigger.event.name)
    if state is not None and state.restored_at is None:
        adapters.store.save_event(trigger.group.name, replace(state, restored_at=now))


def _kept_for_late_sales(
    trigger: PhaseTrigger, adapters: Adapters, now: datetime, new_max: int, read_desired: int, lowered: int
) -> dict[str, Any]:
    """After a restore's update: the event items read again, and the max of a sale still on that needs
    more than `new_max` put back; the record's fields that say so (`reason`: what to add to its
    reason; none when nothing was needed).

    There is no conditional write in the Auto Scaling API: another sale's pre-warm that saved its
    event item after this restore first read them, and read MaxSize before this update, would run its
    whole sale under the cut. Its pre-warm reads MaxSize again after saving its item, so one of the two
    sees the other: this read (its item saved before it) or its read (our update before it)."""
    group, name = trigger.group, trigger.event.name
    record: dict[str, Any] = {}
    try:
        on = _others_raised(group, _saved_events(group, adapters, name), name, now)
    except (AwsCallError, DamagedItemError) as error:
        logger.warning("restore of %s: could not read the event items again: %s", name, error)
        record["reason"] = (
            "; could not read the event items again after the update to check that no sale still on "
            f"needs a higher MaxSize ({safe_text(str(error), 300)}): check `surgeguard status`"
        )
        return record
    needed = max([new_max, *(other.event.temporary_max or 0 for other in on)])
    if needed <= new_max:
        return record
    names = ", ".join(o.event.name for o in on if (o.event.temporary_max or 0) > new_max)
    later = f"; then {names} found on (its pre-warm saved its event item after this restore read them)"
    try:
        pause = adapters.store.load_pause(group.name)
        if pause is not Pause.NONE:
            record["reason"] = (
                f"{later}, but paused ({pause.value}) since: MaxSize left at {new_max}, put it back to "
                f"{needed} by hand"
            )
            return record
        current = adapters.fleet.describe(group.name)
        # Desired is put back only if it is still what this restore set: what it had read, within `needed`;
        # and not while Launch is suspended (AWS would take it and launch nothing), said instead.
        back = (
            min(read_desired, needed) if lowered < read_desired and current.size.desired == lowered else None
        )
        held = (
            ""
            if back is None or "Launch" not in current.suspended
            else f"; desired {lowered} not put back to {back}: {suspended_says('Launch')}"
        )
        back = None if held else back
        adapters.fleet.set_max_size(group.name, needed, back)
    except (AwsCallError, GroupNotFoundError) as error:
        logger.warning("restore of %s: could not put the max of %s back: %s", name, names, error)
        record["reason"] = (
            f"{later}, but its max could not be put back ({safe_text(str(error), 300)}): MaxSize may be "
            f"left at {new_max}, put it back to {needed} by hand"
        )
        return record
    record.update(new_max=needed, new_desired=current.size.desired if back is None else back)
    record["reason"] = (
        f"{later}: its max kept after all, MaxSize {new_max} -> {needed}"
        f"{'' if back is None else f', desired {lowered} -> {back} put back'}{held}"
    )
    return record
