"""The reactive path's shell: parse, load, decide, apply, audit, notify; one audit record per trigger.

Handlers and the game-day simulator both call `handle_alarm_event`; only the adapters passed in differ
(boto3 against AWS or moto, or the simulator's in-memory fleet).
"""

from __future__ import annotations

import contextlib
import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from surgeguard.adapters.errors import (
    AwsCallError,
    ConcurrentUpdateError,
    DuplicateTriggerError,
    GroupNotFoundError,
)
from surgeguard.config import AlarmSpec, Direction, GroupConfig, ScalerConfig
from surgeguard.domain.decision import DecisionInput, decide
from surgeguard.domain.forecast import ForecastState
from surgeguard.domain.model import (
    Controls,
    Decision,
    EventState,
    Floor,
    GroupSnapshot,
    Outcome,
    Pause,
    Reading,
    ScalerMemory,
)
from surgeguard.domain.sales import floor_at, plan_event
from surgeguard.domain.triggers import AlarmTrigger, BadInputError, parse_alarm_event
from surgeguard.signals import signal_metric

logger = logging.getLogger("surgeguard")

# A reading outside these bounds is a broken metric, not load: reject rather than scale on it.
_SANE_MAX = {"cpu": 100.0, "response_time": 3600.0}
_ABSURD = 1e12
# Two decisions raced; re-read and decide again this many times before giving up.
_CONFLICT_RETRIES = 1


class Fleet(Protocol):
    def describe(self, name: str) -> GroupSnapshot: ...
    def set_desired_capacity(self, name: str, desired: int) -> None: ...
    def set_max_size(self, name: str, max_size: int, desired: int | None = None) -> None: ...


class Signals(Protocol):
    def read(self, group: GroupConfig, now: datetime) -> list[Reading]: ...
    def rearm(self, alarm_name: str) -> None: ...
    def normal_requests_per_minute(self, group: GroupConfig, around: datetime) -> float | None: ...
    def request_history(self, group: GroupConfig, start: datetime, end: datetime) -> list[float | None]: ...


class Store(Protocol):
    def claim(self, trigger_id: str, now_epoch: int) -> None: ...
    def release(self, trigger_id: str) -> None: ...
    def load_memory(self, group: str) -> ScalerMemory: ...
    def save_memory(self, group: str, memory: ScalerMemory, read_version: int) -> None: ...
    def load_pause(self, group: str) -> Pause: ...
    def write_audit(self, record: dict[str, Any]) -> None: ...
    def save_event(self, group: str, state: EventState) -> None: ...
    def load_events(self, group: str) -> list[EventState]: ...
    def save_forecast(self, group: str, state: ForecastState) -> None: ...
    def load_forecast(self, group: str) -> ForecastState | None: ...


class Notifier(Protocol):
    def publish(self, group: str, subject: str, message: str) -> None: ...


class Schedules(Protocol):
    def delete_schedule(self, group_name: str, name: str) -> None: ...


@dataclass(frozen=True)
class Adapters:
    fleet: Fleet
    signals: Signals
    store: Store
    notifier: Notifier | None
    # Only the schedule Lambda has one: a sale phase deletes its own one-time schedule when handled.
    schedules: Schedules | None = None


@dataclass(frozen=True)
class Context:
    config: ScalerConfig
    alarm_prefix: str
    audit_retention_days: int
    floors: Sequence[Floor] = ()
    alarms: dict[str, AlarmSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once per container: the Lambda maps alarm names back to group/rule/direction.
        object.__setattr__(self, "alarms", {s.name: s for s in self.config.alarms(self.alarm_prefix)})


class RetryableFailureError(RuntimeError):
    """Raised after auditing a failure that a Lambda retry may fix (throttling, a timeout)."""


def validate_readings(readings: Sequence[Reading]) -> None:
    for reading in readings:
        if reading.value is None:
            continue
        ceiling = _SANE_MAX.get(reading.kind, _ABSURD)
        if not math.isfinite(reading.value) or reading.value < 0 or reading.value > ceiling:
            raise BadInputError(
                f"signal {reading.signal_id} reads {reading.value!r}, outside [0, {ceiling:g}]: "
                "refusing to scale on a broken metric"
            )


def _check_metric(trigger: AlarmTrigger, spec: AlarmSpec, group: GroupConfig) -> None:
    signal = group.signal(spec.rule)
    if signal is None or trigger.metric_name is None:
        return
    expected = {s.metric_name for s in signal_metric(group, signal).stats}
    if trigger.metric_name not in expected:
        raise BadInputError(
            f"alarm {trigger.alarm_name} reports metric {trigger.metric_name}, but signal "
            f"{spec.rule} reads {sorted(expected)}: unexpected metric"
        )


def _record(
    ctx: Context,
    delivery_id: str,
    now: datetime,
    outcome: Outcome,
    *,
    group: str | None = None,
    trigger: AlarmTrigger | None = None,
    reason: str,
    decision: Decision | None = None,
    inputs: dict[str, Any] | None = None,
    error: str | None = None,
    skip_cause: str | None = None,
) -> dict[str, Any]:
    at = now.astimezone(UTC).isoformat(timespec="milliseconds")
    record: dict[str, Any] = {
        "group": group,
        "at": at,
        "delivery_id": delivery_id,
        "request_id": delivery_id.split("#", 1)[0],
        "outcome": outcome.value,
        "reason": reason,
        "expires_at": int(now.timestamp()) + ctx.audit_retention_days * 86_400,
    }
    if trigger is not None:
        record["trigger"] = {
            "id": trigger.trigger_id,
            "source": trigger.source,
            "alarm": trigger.alarm_name,
            "state": trigger.state,
            "previous_state": trigger.previous_state,
            "timestamp": trigger.timestamp.isoformat(),
            "value": trigger.value,
        }
    if inputs is not None:
        record["inputs"] = inputs
    if decision is not None:
        record.update(
            action=decision.action.value,
            previous_desired=decision.previous,
            new_desired=decision.desired,
            winning_rule=decision.winning_rule,
            candidates=[asdict(c) for c in decision.candidates],
            clamps=[asdict(c) for c in decision.clamps],
        )
        skip_cause = skip_cause or decision.skip_cause
    if skip_cause:
        record["skip_cause"] = skip_cause
    if error:
        record["error"] = error
    return record


def new_delivery_id(request_id: str) -> str:
    """One id per delivery: the Lambda request id (audit items name it) plus a random suffix."""
    return f"{request_id}#{uuid.uuid4().hex[:8]}"


def reject_unparsed(
    event: Any, error: BadInputError, adapters: Adapters, ctx: Context, delivery_id: str, what: str
) -> dict[str, Any]:
    """The one audit record of an event that could not be parsed, filed under its group if it names one."""
    logger.error("rejected %s: %s", what, error)
    named = event.get("group") if isinstance(event, dict) else None
    group = named if isinstance(named, str) and ctx.config.group(named) else None
    record = _record(ctx, delivery_id, datetime.now(UTC), Outcome.REJECTED, group=group, reason=str(error))
    adapters.store.write_audit(record)
    return record


def handle_alarm_event(
    event: Any, adapters: Adapters, ctx: Context, request_id: str = "local"
) -> list[dict[str, Any]]:
    """Handle one Lambda event; returns the audit records written (exactly one per trigger)."""
    delivery_id = new_delivery_id(request_id)
    try:
        triggers = parse_alarm_event(event)
    except BadInputError as error:
        return [reject_unparsed(event, error, adapters, ctx, delivery_id, "event")]
    records = []
    failures = []
    for index, trigger in enumerate(triggers):
        record = _handle_trigger(trigger, adapters, ctx, f"{delivery_id}-{index}")
        records.append(record)
        if record["outcome"] == Outcome.FAILED.value:
            failures.append(record["error"])
    if failures:
        # The failure is audited; raising lets Lambda retry, then the on-failure destination keeps it.
        raise RetryableFailureError("; ".join(failures))
    return records


def _handle_trigger(
    trigger: AlarmTrigger, adapters: Adapters, ctx: Context, delivery_id: str
) -> dict[str, Any]:
    now = trigger.timestamp
    spec = ctx.alarms.get(trigger.alarm_name)
    group = ctx.config.group(spec.group) if spec else None

    def reject(reason: str, group_name: str | None = None) -> dict[str, Any]:
        logger.error("rejected trigger %s: %s", trigger.trigger_id, reason)
        record = _record(
            ctx, delivery_id, now, Outcome.REJECTED, group=group_name, trigger=trigger, reason=reason
        )
        adapters.store.write_audit(record)
        return record

    def skip(group_name: str, reason: str, cause: str) -> dict[str, Any]:
        record = _record(
            ctx,
            delivery_id,
            now,
            Outcome.SKIPPED,
            group=group_name,
            trigger=trigger,
            reason=reason,
            skip_cause=cause,
        )
        adapters.store.write_audit(record)
        return record

    if spec is None or group is None:
        return reject(f"alarm {trigger.alarm_name!r} is not one of Surgeguard's (unknown group)")
    if trigger.state == "INSUFFICIENT_DATA":
        return reject(f"alarm {trigger.alarm_name} has INSUFFICIENT_DATA: no signal to act on", group.name)
    try:
        _check_metric(trigger, spec, group)
    except BadInputError as error:
        return reject(str(error), group.name)
    if trigger.state == "OK":
        return skip(group.name, "alarm returned to OK: the breach is over, nothing to do", "alarm_ok")

    claimed = False
    try:
        adapters.store.claim(trigger.trigger_id, int(now.timestamp()))
        claimed = True
        record = _decide_and_apply(trigger, spec, group, adapters, ctx, delivery_id)
    except DuplicateTriggerError:
        return skip(
            group.name,
            f"duplicate delivery of {trigger.trigger_id}: already handled, nothing changed",
            "duplicate",
        )
    except BadInputError as error:
        return reject(str(error), group.name)
    except (AwsCallError, GroupNotFoundError) as error:
        outcome = Outcome.REJECTED if isinstance(error, GroupNotFoundError) else Outcome.FAILED
        logger.error("%s for %s: %s", outcome.value, group.name, error)
        record = _record(
            ctx,
            delivery_id,
            now,
            outcome,
            group=group.name,
            trigger=trigger,
            reason=str(error),
            error=str(error) if outcome is Outcome.FAILED else None,
        )
        if outcome is Outcome.FAILED and claimed:
            # Free the claim so Lambda's retry of this delivery is not taken for a duplicate.
            with contextlib.suppress(AwsCallError):
                adapters.store.release(trigger.trigger_id)
        adapters.store.write_audit(record)
        _notify(adapters, record)
        return record
    adapters.store.write_audit(record)
    _notify(adapters, record)
    return record


def _decide_and_apply(
    trigger: AlarmTrigger,
    spec: AlarmSpec,
    group: GroupConfig,
    adapters: Adapters,
    ctx: Context,
    delivery_id: str,
) -> dict[str, Any]:
    now = trigger.timestamp
    readings = adapters.signals.read(group, now)
    if trigger.value is not None and spec.rule in {r.signal_id for r in readings}:
        # The event's own datapoint stands in when GetMetricData has nothing newer for that signal.
        readings = [
            Reading(r.signal_id, r.kind, trigger.value, r.target)
            if r.signal_id == spec.rule and r.value is None
            else r
            for r in readings
        ]
    validate_readings(readings)
    applied = decide_and_apply(
        group,
        adapters,
        ctx,
        now,
        readings,
        direction=spec.direction,
        breached=frozenset({spec.rule}) if spec.composite_of else frozenset(),
    )
    decision, snapshot, controls = applied.decision, applied.snapshot, applied.controls
    if applied.concurrent:
        return _record(
            ctx,
            delivery_id,
            now,
            Outcome.SKIPPED,
            group=group.name,
            trigger=trigger,
            reason="another decision for this group saved first, twice: its decision stands",
            decision=decision,
            skip_cause="concurrent",
            inputs=_inputs(readings, snapshot, controls),
        )
    rearm_error = None
    if trigger.state == "ALARM":
        # Re-armed even while paused: the breach keeps being heard (audited as paused), so a resume
        # acts within one period. A composite follows its children, so they are re-armed too.
        for name in (trigger.alarm_name, *spec.composite_of):
            try:
                adapters.signals.rearm(name)
            except AwsCallError as error:
                rearm_error = str(error)
                logger.warning("could not re-arm %s: %s", name, error)
    record = _record(
        ctx,
        delivery_id,
        now,
        decision.outcome,
        group=group.name,
        trigger=trigger,
        reason=decision.reason,
        decision=decision,
        inputs=_inputs(readings, snapshot, controls),
    )
    if rearm_error:
        record["rearm_error"] = rearm_error
    logger.info("%s %s: %s", decision.outcome.value, group.name, decision.reason)
    return record


@dataclass(frozen=True)
class EventLimits:
    """What the group's declared sale events impose at one time: floors, a freeze, a raised max."""

    floors: tuple[Floor, ...] = ()
    freeze_scale_in: str | None = None
    max_size: int | None = None  # a temporary max in effect (pre-warm until restore)


def event_limits(group: GroupConfig, states: Sequence[EventState], now: datetime) -> EventLimits:
    """Floors (`floor:<event>` candidates), the scale-in freeze and any temporary max at `now`."""
    floors: list[Floor] = []
    frozen: list[str] = []
    raised: list[int] = []
    for state in states:
        event = group.event(state.event)
        if event is None:
            continue  # an event removed from the config since its pre-warm: no longer held
        plan = plan_event(group, event)
        floor = floor_at(plan, state.target, now)
        if floor is not None:
            floors.append(Floor(event.name, floor))
        if plan.active(now):
            frozen.append(
                f"sale event {event.name} (pre-warm {plan.prewarm.isoformat()} until "
                f"{plan.release.isoformat()})"
            )
        if event.temporary_max is not None and plan.prewarm <= now < plan.restore:
            raised.append(event.temporary_max)
    return EventLimits(tuple(floors), "; ".join(frozen) or None, max(raised) if raised else None)


def forecast_floor(group: GroupConfig, adapters: Adapters, now: datetime) -> tuple[Floor, ...]:
    """The forecaster's floor in effect now (`floor:forecast`), in floor mode only: forecast-only
    records what it would do and never acts."""
    if group.forecast is None or group.forecast.mode != "floor":
        return ()
    state = adapters.store.load_forecast(group.name)
    if state is None or state.mode != "floor":
        return ()
    floor = state.floor_at(now)
    return (Floor("forecast", floor),) if floor else ()


@dataclass(frozen=True)
class Applied:
    decision: Decision
    snapshot: GroupSnapshot
    controls: Controls
    concurrent: bool  # two conflicting saves: nothing applied, the other decision stands


def decide_and_apply(
    group: GroupConfig,
    adapters: Adapters,
    ctx: Context,
    now: datetime,
    readings: Sequence[Reading],
    *,
    direction: Direction | None = None,
    breached: frozenset[str] = frozenset(),
    not_stale: bool = False,
) -> Applied:
    """Decide (with the group's event floors), save the state item, then SetDesiredCapacity.

    `not_stale`: a scheduled phase that fires after a newer alarm decides at that newer time rather
    than being skipped as stale (its plan is time-based, so a late firing still applies).
    """
    controls = Controls(pause=adapters.store.load_pause(group.name), dry_run=ctx.config.is_dry_run(group))
    states = adapters.store.load_events(group.name) if group.events else []
    forecast = forecast_floor(group, adapters, now)
    decision: Decision | None = None
    snapshot: GroupSnapshot | None = None
    for attempt in range(_CONFLICT_RETRIES + 1):
        snapshot = adapters.fleet.describe(group.name)
        memory = adapters.store.load_memory(group.name)
        at = now
        if not_stale and memory.last_trigger_at is not None and memory.last_trigger_at > now:
            at = memory.last_trigger_at
        limits = event_limits(group, states, at)
        policy = group
        if limits.max_size is not None and limits.max_size > group.max:
            # The temporary max is Surgeguard's bound too while it is in effect.
            policy = group.model_copy(update={"max": limits.max_size})
        decision = decide(
            DecisionInput(
                group=snapshot,
                memory=memory,
                readings=readings,
                policy=policy,
                now=at,
                trigger_direction=direction,
                breached_rules=breached,
                controls=controls,
                floors=(*ctx.floors, *limits.floors, *forecast),
                freeze_scale_in=limits.freeze_scale_in,
            )
        )
        try:
            adapters.store.save_memory(group.name, decision.memory, memory.version)
            break
        except ConcurrentUpdateError:
            logger.warning("concurrent decision for %s (attempt %d): re-reading", group.name, attempt + 1)
    else:
        assert decision is not None and snapshot is not None
        return Applied(decision, snapshot, controls, concurrent=True)
    assert decision is not None and snapshot is not None
    if decision.changes_capacity:
        try:
            adapters.fleet.set_desired_capacity(group.name, decision.desired)
        except AwsCallError:
            # The state saved above records a launch that did not happen: put the state we read
            # back, so the retry decides from the truth (best effort: a newer decision may win).
            with contextlib.suppress(ConcurrentUpdateError, AwsCallError):
                adapters.store.save_memory(group.name, memory, memory.version + 1)
            raise
    return Applied(decision, snapshot, controls, concurrent=False)


def _inputs(
    readings: Sequence[Reading], snapshot: GroupSnapshot | None, controls: Controls
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "readings": [asdict(r) for r in readings],
        "pause": controls.pause.value,
        "dry_run": controls.dry_run,
    }
    if snapshot is not None:
        inputs["group"] = {
            "min": snapshot.size.min,
            "desired": snapshot.size.desired,
            "max": snapshot.size.max,
            "in_service": snapshot.in_service,
            "pending": snapshot.pending,
        }
    return inputs


def _notify(adapters: Adapters, record: dict[str, Any]) -> None:
    if adapters.notifier is None or record["outcome"] not in (Outcome.APPLIED.value, Outcome.FAILED.value):
        return
    subject = f"Surgeguard {record['outcome']}: {record['group']}"
    if record["outcome"] == Outcome.APPLIED.value:
        subject += f" {record['previous_desired']} -> {record['new_desired']}"
    try:
        adapters.notifier.publish(record["group"], subject, record["reason"])
    except AwsCallError as error:
        # People not hearing about a change must not undo or fail the change itself.
        logger.warning("notification failed: %s", error)
