"""The reactive path's shell: parse, check, claim, decide, apply, audit, notify; one audit record per trigger.

Handlers and the game-day simulator both call `handle_alarm_event`; only the adapters passed in differ
(boto3 against AWS or moto, or the simulator's in-memory fleet).

Trust rules every path here keeps (README "Failure modes"):
- every field of an event is checked before anything acts on it: its identity (account, region, the
  alarm's ARN), its metric and dimensions against the group's signal, its time against our own clock;
- a trigger is claimed with a lease that cannot outlive its attempt, and completed only once its
  audit record is written; a capacity change's record is stashed with the claim before it is applied;
- an apply can be late, never backwards: the decider re-reads the group's committed decision after
  SetDesiredCapacity and puts the newest one back;
- any exception becomes an audit record carrying the delivery's own id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from surgeguard import keys
from surgeguard.adapters.errors import (
    AwsCallError,
    ConcurrentUpdateError,
    DamagedItemError,
    DuplicateTriggerError,
    GroupDeletingError,
    GroupNotFoundError,
)
from surgeguard.alarm_shape import GROUP_IN_SERVICE, needs_group_metrics
from surgeguard.config import (
    NOISE_MAX_SHARE_OF_MEAN_MAX,
    NOISE_SIGMAS_MAX,
    AlarmSpec,
    Direction,
    GroupConfig,
    ScalerConfig,
)
from surgeguard.domain.anchors import AnchorVerdict
from surgeguard.domain.decision import SUSPENDED_BLOCKS, DecisionInput, decide
from surgeguard.domain.failures import (
    FailureMemory,
    StandingFailure,
    after_failure,
    failure_cause,
    failure_message,
    failure_news,
    recovery_message,
    shows_recovery,
)
from surgeguard.domain.forecast import (
    BurstSettings,
    ForecastState,
    burst_came,
    burst_capacity,
    burst_judgeable,
    recent_level,
)
from surgeguard.domain.headroom import HeadroomVerdict, noise_band, noise_floor
from surgeguard.domain.model import (
    Claim,
    Controls,
    Decision,
    EventState,
    Floor,
    GroupSnapshot,
    Outcome,
    Pause,
    Reading,
    ScalerMemory,
    ScalingAction,
    attempt_finished,
    flat_dict,
)
from surgeguard.domain.sales import floor_at, plan_event, this_editions
from surgeguard.domain.triggers import (
    AlarmTrigger,
    BadInputError,
    MetricRef,
    parse_alarm_arn,
    parse_alarm_event,
    parse_time,
    safe_text,
    source_id,
)
from surgeguard.domain.writers import Activity, OutsideChange, attribute, outside_change, within_bounds
from surgeguard.signals import signal_metric

logger = logging.getLogger("surgeguard")

# A reading outside these bounds is a broken metric, not load: reject rather than scale on it.
_SANE_MAX = {"cpu": 100.0, "response_time": 3600.0}
_ABSURD = 1e12
# Two decisions raced; re-read and decide again this many times before giving up.
_CONFLICT_RETRIES = 4
# Event times are judged against our own clock. An alarm's state change is delivered within seconds;
# Lambda keeps retrying an async event up to 15 minutes (its MaximumEventAgeInSeconds here), so older
# is a replay. Clocks disagree by far less than the skew allowed ahead.
ALARM_MAX_AGE = timedelta(minutes=20)
FUTURE_SKEW = timedelta(minutes=5)
# The per-minute re-evaluation: a late one is superseded by the next.
REEVALUATE_MAX_AGE = timedelta(minutes=5)
# A committed decision younger than this whose capacity the group does not show yet is taken as the
# group's desired capacity (its SetDesiredCapacity may still be in flight).
APPLY_GRACE = timedelta(minutes=2)
CLAIMS_KEPT = timedelta(seconds=keys.CLAIM_TTL_SECONDS)
# After applying, re-read the committed decision at most this many times to put the newest back.
_SETTLE_ROUNDS = 3
# Without a Lambda context (simulators, tests): a lease as long as the scaler Lambdas' timeout + margin.
DEFAULT_LEASE_SECONDS = 70
# A committed decision younger than this may still be on its way in through its own attempt: no attempt
# outlives its lease.
APPLY_IN_FLIGHT = timedelta(seconds=DEFAULT_LEASE_SECONDS)
LEASE_MARGIN_SECONDS = 10
REEVALUATE_ACTION = "reevaluate"
# A `rejected` record's reject_cause where the configured group is not found (told: see `_vanished`).
GROUP_NOT_FOUND = "group_not_found"


def utc_now() -> datetime:
    """The Lambda's own clock; tests and the game day replace it (Context.clock reads it late)."""
    return datetime.now(UTC)


def _clock() -> datetime:
    return utc_now()


class Fleet(Protocol):
    def describe(self, name: str) -> GroupSnapshot: ...
    def set_desired_capacity(self, name: str, desired: int) -> None: ...
    def set_max_size(self, name: str, max_size: int, desired: int | None = None) -> None: ...
    def scaling_activities(self, name: str, since: datetime) -> list[Activity]: ...


@runtime_checkable
class GroupMetrics(Protocol):
    """A fleet that can tell which group metrics are collected (the real Auto Scaling adapter)."""

    def enabled_metrics(self, name: str) -> frozenset[str]: ...


class Signals(Protocol):
    def read(
        self, group: GroupConfig, now: datetime, direction: Direction | None = None
    ) -> list[Reading]: ...
    def alarms_in_alarm(self, prefix: str) -> list[str]: ...
    def normal_requests_per_minute(self, group: GroupConfig, around: datetime) -> float | None: ...
    def request_history(self, group: GroupConfig, start: datetime, end: datetime) -> list[float | None]: ...
    def fleet_history(
        self, group: GroupConfig, start: datetime, end: datetime
    ) -> tuple[list[float | None], list[float | None]]: ...


class Store(Protocol):
    def claim(
        self, trigger_id: str, now_epoch: int, lease_seconds: int, record_key: dict[str, str]
    ) -> Claim: ...
    def stash_pending(self, claim: Claim, record: dict[str, Any]) -> None: ...
    def complete(self, claim: Claim) -> None: ...
    def yield_lease(self, claim: Claim) -> None: ...
    def release(self, claim: Claim) -> None: ...
    def trigger_done(self, trigger_id: str) -> bool: ...
    def release_unconfirmed(self, trigger_id: str, record_key: dict[str, str]) -> None: ...
    def load_memory(self, group: str) -> ScalerMemory: ...
    def save_memory(self, group: str, memory: ScalerMemory, read_version: int) -> None: ...
    def load_pause(self, group: str) -> Pause: ...
    def write_audit(self, record: dict[str, Any]) -> None: ...
    def audit_written(self, record: Mapping[str, Any]) -> bool: ...
    def audit_record(self, key: Mapping[str, Any]) -> dict[str, Any] | None: ...
    def keep_told(self, claim: Claim, told: Sequence[str]) -> None: ...
    def failure_told(self, trigger_id: str, group: str | None) -> bool: ...
    def keep_failure_told(self, trigger_id: str, group: str | None, now_epoch: int) -> None: ...
    def load_failing(self, group: str) -> FailureMemory: ...
    def save_failing(
        self, group: str, standing: StandingFailure | None, read: FailureMemory, expires_epoch: int
    ) -> None: ...
    def save_event(self, group: str, state: EventState) -> None: ...
    def load_events(self, group: str) -> list[EventState]: ...
    def save_forecast(
        self, group: str, state: ForecastState, *, credible_until: datetime
    ) -> datetime | None: ...
    def load_forecast(self, group: str) -> ForecastState | None: ...


class Notifier(Protocol):
    def publish(self, group: str, subject: str, message: str, subject_tail: str = "") -> None: ...


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
    clock: Callable[[], datetime] = _clock
    alarms: dict[str, AlarmSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once per container: the Lambda maps alarm names back to group/rule/direction.
        object.__setattr__(self, "alarms", {s.name: s for s in self.config.alarms(self.alarm_prefix)})


@dataclass(frozen=True)
class Invocation:
    """What one Lambda invocation knows of itself: its request id, how long it may run, where it runs."""

    request_id: str = "local"
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    region: str | None = None  # None (simulators): identity is not checked
    account: str | None = None

    @classmethod
    def of(cls, context: Any) -> Invocation:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining() / 1000 if callable(remaining) else None
        parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
        region, account = (parts[3], parts[4]) if len(parts) >= 7 and parts[2] == "lambda" else (None, None)
        return cls(
            request_id=str(getattr(context, "aws_request_id", "local")),
            lease_seconds=DEFAULT_LEASE_SECONDS if seconds is None else int(seconds) + LEASE_MARGIN_SECONDS,
            region=region or None,
            account=account or None,
        )

    @property
    def seconds_left(self) -> float:
        return self.lease_seconds - LEASE_MARGIN_SECONDS


class RetryableFailureError(RuntimeError):
    """Raised after auditing a failure that a Lambda retry may fix (throttling, a timeout)."""


def validate_readings(readings: Sequence[Reading]) -> None:
    for reading in readings:
        if reading.value is None:
            continue
        ceiling = _SANE_MAX.get(reading.kind, _ABSURD)
        if reading.value != reading.value or not (0 <= reading.value <= ceiling):
            raise BadInputError(
                f"signal {reading.signal_id} reads {reading.value!r}, outside [0, {ceiling:g}]: "
                "refusing to scale on a broken metric"
            )


def check_time(when: datetime, now: datetime, what: str, max_age: timedelta) -> None:
    """`when` must lie in [now - max_age, now + FUTURE_SKEW] of our own clock."""
    if when > now + FUTURE_SKEW:
        raise BadInputError(
            f"{what} {when.isoformat()} is more than {FUTURE_SKEW} ahead of this Lambda's clock "
            f"({now.isoformat()}): refusing a time from the future"
        )
    if when < now - max_age:
        raise BadInputError(
            f"{what} {when.isoformat()} is more than {max_age} behind this Lambda's clock "
            f"({now.isoformat()}): a replay, not a current event"
        )


def _describe_metrics(refs: Sequence[MetricRef]) -> str:
    return "; ".join(
        f"{r.namespace}/{r.name}{{{', '.join(f'{k}={v}' for k, v in r.dimensions)}}}" for r in refs
    )


def _check_metrics(trigger: AlarmTrigger, spec: AlarmSpec, group: GroupConfig) -> None:
    """The event's metrics must be exactly the ones the alarm's signal reads for this group."""
    signal = group.signal(spec.rule)
    if signal is None:  # a composite alarm: it evaluates alarms, not metrics
        if trigger.metrics:
            raise BadInputError(f"composite alarm {trigger.alarm_name} arrived describing metrics")
        return
    if trigger.metrics is None:
        raise BadInputError(f"alarm {trigger.alarm_name}'s event does not say which metric it evaluates")
    expected = {
        MetricRef(s.namespace, s.metric_name, tuple(sorted(s.dimensions)))
        for s in signal_metric(group, signal).stats
    }
    if set(trigger.metrics) != expected or len(trigger.metrics) != len(expected):
        raise BadInputError(
            f"alarm {trigger.alarm_name} reports {_describe_metrics(trigger.metrics)}, but signal "
            f"{spec.rule} of group {group.name} reads {_describe_metrics(sorted(expected, key=str))}: "
            "unexpected metric"
        )


def _check_identity(trigger: AlarmTrigger, invocation: Invocation) -> None:
    """The alarm's ARN names this alarm, in this Lambda's account and region; so does the envelope."""
    if trigger.alarm_arn is None:
        raise BadInputError(f"the event names no alarm ARN for {trigger.alarm_name}")
    parsed = parse_alarm_arn(trigger.alarm_arn)
    if parsed is None:
        raise BadInputError(f"{safe_text(trigger.alarm_arn)!r} is not a CloudWatch alarm ARN")
    region, account, name = parsed
    if name != trigger.alarm_name:
        raise BadInputError(f"alarm ARN names {safe_text(name)!r}, the event names {trigger.alarm_name!r}")
    claims = [("account", trigger.account, account), ("region", trigger.region, region)]
    if trigger.topic_arn is not None:
        parts = trigger.topic_arn.split(":")
        if len(parts) != 6 or parts[2] != "sns":
            raise BadInputError(f"Sns.TopicArn {trigger.topic_arn!r} is not an SNS topic ARN")
        claims += [("topic account", parts[4], account), ("topic region", parts[3], region)]
    for what, said, arn_value in claims:
        if said is not None and said != arn_value:
            raise BadInputError(f"event {what} {said!r} differs from the alarm ARN's {arn_value!r}")
    for what, ours, theirs in (
        ("account", invocation.account, account),
        ("region", invocation.region, region),
    ):
        if ours is not None and theirs != ours:
            raise BadInputError(f"alarm {trigger.alarm_name} is in {what} {theirs}, not this Lambda's {ours}")


def _record(
    ctx: Context,
    delivery_id: str,
    now: datetime,
    outcome: Outcome,
    *,
    group: str | None = None,
    trigger: dict[str, Any] | None = None,
    reason: str,
    decision: Decision | None = None,
    inputs: dict[str, Any] | None = None,
    error: str | None = None,
    skip_cause: str | None = None,
    reject_cause: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    at = now.astimezone(UTC).isoformat(timespec="milliseconds")
    record: dict[str, Any] = {
        "group": group,
        "at": at,
        "delivery_id": delivery_id,
        "request_id": delivery_id.split("#", 1)[0],
        "source_id": source if source is not None else (trigger or {}).get("id"),
        "outcome": outcome.value,
        "reason": reason,
        "expires_at": int(now.timestamp()) + ctx.audit_retention_days * 86_400,
    }
    if trigger is not None:
        record["trigger"] = trigger
    if inputs is not None:
        record["inputs"] = inputs
    if decision is not None:
        record.update(
            action=decision.action.value,
            previous_desired=decision.previous,
            new_desired=decision.desired,
            winning_rule=decision.winning_rule,
            candidates=[flat_dict(c) for c in decision.candidates],
            clamps=[flat_dict(c) for c in decision.clamps],
        )
        skip_cause = skip_cause or decision.skip_cause
    if skip_cause:
        record["skip_cause"] = skip_cause
    if reject_cause:
        record["reject_cause"] = reject_cause
    if error:
        record["error"] = error
    return record


def _alarm_audit(trigger: AlarmTrigger) -> dict[str, Any]:
    return {
        "id": trigger.trigger_id,
        "source": trigger.source,
        "alarm": trigger.alarm_name,
        "alarm_arn": trigger.alarm_arn,
        "state": trigger.state,
        "previous_state": trigger.previous_state,
        "timestamp": trigger.timestamp.isoformat(),
        "value": trigger.value,
    }


def new_delivery_id(request_id: str) -> str:
    """One id per delivery: the Lambda request id (audit items name it) plus a random suffix."""
    # Four random bytes, as uuid4's first eight hex digits were, without building a UUID per trigger.
    return f"{safe_text(request_id, 64)}#{os.urandom(4).hex()}"


def reject_unparsed(
    event: Any, error: BadInputError, adapters: Adapters, ctx: Context, delivery_id: str, what: str
) -> dict[str, Any]:
    """The one audit record of an event that could not be parsed, filed under its group if it names one."""
    logger.error("rejected %s: %s", what, error)
    named = event.get("group") if isinstance(event, dict) else None
    group = named if isinstance(named, str) and ctx.config.group(named) else None
    record = _record(
        ctx,
        delivery_id,
        ctx.clock(),
        Outcome.REJECTED,
        group=group,
        reason=str(error),
        source=source_id(event),
    )
    _write_or_retry(adapters, record)
    return record


def guarded(
    handle: Callable[[Any, Adapters, Context, Invocation, str], list[dict[str, Any]]],
    event: Any,
    adapters: Adapters,
    ctx: Context,
    invocation: Invocation,
) -> list[dict[str, Any]]:
    """The boundary of every handler: whatever goes wrong inside becomes an audit record with the
    delivery's id. Only RetryableFailureError (already audited) leaves, so Lambda retries it."""
    delivery_id = new_delivery_id(invocation.request_id)
    try:
        return handle(event, adapters, ctx, invocation, delivery_id)
    except RetryableFailureError:
        raise
    except Exception as error:  # the boundary: nothing escapes unaudited
        logger.exception("unexpected error handling an event")
        message = safe_text(f"{type(error).__name__}: {error}", 1024)
        record = _record(
            ctx,
            delivery_id,
            ctx.clock(),
            Outcome.FAILED,
            group=_group_named_by(event, ctx),
            reason=f"internal error, nothing more was done: {message}",
            error=message,
            source=source_id(event),
        )
        try:
            adapters.store.write_audit(record)
        except Exception as audit_error:
            # Landed with its answer lost, it is this delivery's one record: raised, Lambda's retry
            # wrote a second.
            if not (isinstance(audit_error, AwsCallError) and _written_after_all(adapters, record)):
                logger.exception("the failure's own audit record could not be written")
                raise RetryableFailureError(f"{message}; audit write failed: {audit_error}") from error
        _notify(adapters, record)
        return [record]


def _group_named_by(event: Any, ctx: Context) -> str | None:
    """The configured group an event is for, where it can be told: a schedule's or forecaster run's
    `group`, or an alarm's (by its name), so its failure is filed where `status` and `report` read."""
    named = event.get("group") if isinstance(event, dict) else None
    if named is None:
        try:
            spec = ctx.alarms.get(parse_alarm_event(event).alarm_name)
        except Exception:  # at the boundary, an event that cannot be read names no group
            spec = None
        named = None if spec is None else spec.group
    return named if isinstance(named, str) and ctx.config.group(named) else None


# --- a claimed trigger's life: claim, work, audit, complete --------------------------------------
Stash = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Claimed:
    """What a path supplies to `run_claimed`: its trigger's identity, audit fields and work."""

    trigger_id: str
    group: str | None
    trigger: dict[str, Any]
    now: datetime
    # The work: applies what it decides, calling `stash` with each capacity change's record first;
    # returns the audit records (one per group decided).
    work: Callable[[Stash], list[dict[str, Any]]]
    describe: str  # how duplicate messages name the trigger
    notify: frozenset[Outcome] = frozenset({Outcome.APPLIED, Outcome.FAILED})  # what people hear of
    # Audit fields a completed trigger's duplicate adds (a sale phase deletes its schedule once more).
    on_duplicate: Callable[[], dict[str, Any]] | None = None
    # A delivery that finds another attempt holding the lease raises, so Lambda retries it after the
    # lease (a crashed attempt must not lose the trigger); not for what the next run supersedes.
    retry_in_progress: bool = True
    # For a trigger of several groups: the work for every group but those given, whose earlier
    # attempt's change is audited from its stash (None: one group, decided again as a whole).
    work_except: Callable[[Stash, frozenset[str]], list[dict[str, Any]]] | None = None
    # What the work would have done after a change of its own that an earlier attempt made and did not
    # live to follow up (its record is audited from the stash, the work is not run again).
    on_recovered: Callable[[dict[str, Any]], None] | None = None
    # For a trigger of several groups: every group it may write a record for. An earlier attempt's
    # records are looked for under each, since its claim names none of them.
    record_groups: frozenset[str] = frozenset()
    # The work again after an earlier attempt stashed what no capacity check settles (the forecaster's
    # PutWarmPool), given those stashed records, so that its record can name what that attempt did
    # (None: `work`, as if nothing were stashed).
    redo: Callable[[Stash, tuple[dict[str, Any], ...]], list[dict[str, Any]]] | None = None
    # Whether its groups' failures are told through their failure memory (the FAILING item): told when
    # they start, change cause or stand past FAILURE_REMINDER, and their end once. The alarm Lambda's
    # alarms and re-evaluations decide the same thing for a group (its capacity, from its signals) and
    # fail the same ways, so they share the memory: an alarm failing a minute after the re-evaluation
    # told the same failure tells nothing new. A sale phase or forecaster run is a one-off job of its
    # own whose failure is always news, told once per trigger.
    remembers_failures: bool = False


class GroupChangeFailedError(Exception):
    """One group's work failed after its change was stashed (it may have landed), inside a trigger that
    concerns several groups: `base` builds that group's audit record, `cause` is what failed."""

    def __init__(self, base: Callable[..., dict[str, Any]], cause: Exception) -> None:
        super().__init__(str(cause))
        self.base = base
        self.cause = cause


def run_claimed(
    claimed: Claimed, adapters: Adapters, ctx: Context, invocation: Invocation, delivery_id: str
) -> list[dict[str, Any]]:
    """Claim (lease), work, audit, then complete the claim; one audit record per trigger and group.

    - A failure before any capacity change releases the claim and raises RetryableFailureError after
      its `failed` record, so Lambda's retry redoes the work.
    - A capacity change's record is stashed with the claim before it is applied. If the apply or
      the audit write then fails, the lease is ended but the stash kept: the retry writes the record
      of a change that landed (instead of deciding again), and decides again for one that did not.
    - A redelivery while another attempt holds the lease: a duplicate if that attempt already wrote
      its record; otherwise audited and raised, so Lambda retries it after the lease runs out.
    """

    def base(outcome: Outcome, reason: str, **extra: Any) -> dict[str, Any]:
        return _record(
            ctx,
            delivery_id,
            claimed.now,
            outcome,
            group=claimed.group,
            trigger=claimed.trigger,
            reason=reason,
            **extra,
        )

    clock = ctx.clock()
    book = (
        _FailureBook(clock, int(clock.timestamp()) + ctx.audit_retention_days * 86_400)
        if claimed.remembers_failures
        else None
    )
    record_key = {
        "group": claimed.group or "",
        "at": base(Outcome.SKIPPED, "")["at"],
        "delivery_id": delivery_id,
    }
    try:
        claim = adapters.store.claim(
            claimed.trigger_id, int(clock.timestamp()), invocation.lease_seconds, record_key
        )
    except DuplicateTriggerError as taken:
        return [_taken(claimed, taken, base, adapters)]
    except AwsCallError as error:
        # The claim may have been written though its answer was lost: free it if it is ours.
        try:
            adapters.store.release_unconfirmed(claimed.trigger_id, record_key)
        except AwsCallError as release_error:
            logger.warning("could not free an unconfirmed claim: %s", release_error)
        return [_failed(base, adapters, error, claimed, clock, book, claim=None, stashed=False)]

    stashed: list[dict[str, Any]] = []

    def stash(record: dict[str, Any]) -> None:
        adapters.store.stash_pending(claim, record)
        stashed.append(record)

    try:
        written_before, whole = _written_before(claimed, claim, adapters)
        if whole:
            # An attempt before us wrote its record, then died (or could not tell people) before
            # completing the claim.
            records = []
        else:
            audited = frozenset(key["group"] for key, _ in written_before)
            records = _recovered_or_redone(claimed, claim, adapters, delivery_id, stash, audited)
        # Written, those records may not have been told: the attempt died between its audit write
        # and its Publish, or a Publish failed (once the retry found the record and said nothing).
        untold_before = _untold(claimed, claim, written_before)
    except Exception as error:
        # Whatever went wrong (an odd SDK exception, a bug of ours) after a change may have landed, the
        # lease ends with its stash kept, so Lambda's retry writes the `applied` record of what landed.
        keep = bool(stashed) or bool(claim.pending)
        failed_base, cause = (
            (error.base, error.cause) if isinstance(error, GroupChangeFailedError) else (base, error)
        )
        return [_failed(failed_base, adapters, cause, claimed, clock, book, claim=claim, stashed=keep)]
    if not records:
        duplicate = base(
            Outcome.SKIPPED,
            f"duplicate delivery of {claimed.describe}: already audited",
            skip_cause="duplicate",
        )
        if untold_before:
            duplicate["telling_for_earlier_attempt"] = [telling.subject for telling in untold_before]
        records = [duplicate]
    written = False
    for record in records:
        try:
            adapters.store.write_audit(record)
            written = True
        except AwsCallError as error:
            if _written_after_all(adapters, record):
                written = True
                continue
            logger.error("audit write failed for %s: %s; record %s", claimed.trigger_id, error, record)
            # Where a record went out, the claim is kept (its record key with it), so the retry finds
            # the groups already audited and decides only the rest: released, the retry once decided
            # a re-evaluation's written groups again under the same trigger.
            _end_lease(adapters, claim, keep=written or bool(stashed) or bool(claim.pending))
            raise RetryableFailureError(f"audit write failed: {error}") from error
    # Told before the claim completes: an attempt that dies or fails to publish in between leaves it
    # open, and the retry tells what was not told.
    _tell_or_keep(adapters, claim, untold_before, records, claimed.notify, book)
    try:
        adapters.store.complete(claim)
    except AwsCallError as error:
        # Audited already: a redelivery finds this attempt's record written and says so.
        logger.warning("could not complete the claim on %s: %s", claimed.trigger_id, error)
    return records


# A record an earlier attempt wrote: the key it was looked up by (its group "" for a trigger of no one
# group, as the claim names it), and the record as written.
_Written = tuple[dict[str, Any], dict[str, Any]]


def _written_before(claimed: Claimed, claim: Claim, adapters: Adapters) -> tuple[list[_Written], bool]:
    """The records attempts before us wrote under the claim and finished their work with, each read
    once (the retry's tellings come from these too), and whether that is the whole trigger's (its own
    record key) rather than some groups' of a trigger of several."""

    def finished(key: dict[str, Any]) -> _Written | None:
        record = adapters.store.audit_record(key)
        return None if record is None or not attempt_finished(record) else (key, record)

    whole = [found for key in claim.earlier_records if (found := finished(dict(key))) is not None]
    if whole:
        return whole, True
    some = [
        found
        for group in sorted(claimed.record_groups)
        for key in claim.earlier_records
        if (found := finished({**key, "group": group})) is not None
    ]
    return some, False


def _untold(claimed: Claimed, claim: Claim, written: Sequence[_Written]) -> list[_Telling]:
    """What of the records attempts before us wrote people have not been told, as far as the claim
    knows (an attempt that died after its Publish may have told it: told twice, never not at all)."""
    untold: list[_Telling] = []
    for _, record in written:
        if "outcome" not in record:
            continue
        untold += [t for t in _tellings(record, claimed.notify) if t.key not in claim.told]
    return untold


def _tell_or_keep(
    adapters: Adapters,
    claim: Claim,
    untold_before: Sequence[_Telling],
    records: Sequence[dict[str, Any]],
    notify: frozenset[Outcome],
    book: _FailureBook | None = None,
) -> None:
    """Tell people what earlier attempts could not, and of `records`; where some of it could not be
    told, keep the claim open, noting what was told, and raise so that Lambda's retry tells the rest
    (logged and dropped, the change was never heard of). Without a notifier (the simulator) there is
    nobody to tell, and no message is built on its hot path.

    With a `book` (the alarm Lambda), a group's failure people already know of is not told again, and
    a group decided again after failing is told so once (`_remember`)."""
    if adapters.notifier is None:
        return
    tellings = list(untold_before)
    known: list[str] = []  # failures people know of: noted as told, so no retry tells them
    remembered: list[_Remembered] = []
    for record in records:
        outcome = _outcome_telling(record, notify)
        if book is not None and _vanished(record):
            outcome = _vanished_telling(record)
        entry = None if book is None else _remember(adapters, record, outcome, book)
        if entry is not None:
            remembered.append(entry)
            if not entry.recovery:
                if outcome is not None and entry.telling is None:
                    known.append(outcome.key)
                outcome = entry.telling
        tellings += [t for t in (outcome, _other_writer_telling(record)) if t is not None]
    failed = _tell(adapters, tellings)
    not_told = [telling for telling, _ in failed]
    for entry in remembered:
        if entry.recovery and entry.telling is not None:
            # Told apart, and never raised for: one that cannot go out stays in the memory, and the
            # group's next decision tells it.
            _keep_failing(adapters, entry, book, went_out=not _tell(adapters, [entry.telling]))
        else:
            _keep_failing(adapters, entry, book, went_out=entry.telling not in (None, *not_told))
    if not failed:
        return
    try:
        adapters.store.keep_told(claim, [t.key for t in tellings if t not in not_told] + known)
    except AwsCallError as error:
        # The retry then tells every record of the trigger again: twice rather than never.
        logger.warning("could not note what was told on %s: %s", claim.trigger_id, error)
    _end_lease(adapters, claim, keep=True)
    subjects = "; ".join(f"{telling.subject}: {error}" for telling, error in failed)
    raise RetryableFailureError(f"audited, but people could not be told ({subjects})")


def _taken(
    claimed: Claimed, taken: DuplicateTriggerError, base: Callable[..., dict[str, Any]], adapters: Adapters
) -> dict[str, Any]:
    """The record of a delivery whose trigger another attempt claimed: a duplicate if that attempt
    completed it or wrote its record; else it is in progress (or died): audited, raised to retry."""
    holder = taken.holder_record
    if taken.in_progress_until is None or (holder is not None and adapters.store.audit_written(holder)):
        by = "" if holder is None else f" (delivery {holder.get('delivery_id')})"
        record = base(
            Outcome.SKIPPED,
            f"duplicate delivery of {claimed.describe}: already handled{by}, nothing changed",
            skip_cause="duplicate",
        )
        if claimed.on_duplicate is not None:
            record.update(claimed.on_duplicate())
        _write_or_retry(adapters, record)
        return record
    until = datetime.fromtimestamp(taken.in_progress_until, UTC).isoformat()
    then = (
        "Lambda retries this delivery, which takes over if that attempt died"
        if claimed.retry_in_progress
        else "the next run supersedes it"
    )
    record = base(
        Outcome.SKIPPED,
        f"{claimed.describe} is being handled by another attempt (lease until {until}): "
        f"nothing changed; {then}",
        skip_cause="in_progress",
    )
    _write_or_retry(adapters, record)
    if claimed.retry_in_progress:
        raise RetryableFailureError(record["reason"])
    return record


def _write_or_retry(adapters: Adapters, record: dict[str, Any]) -> None:
    """Write a delivery's record, or raise for Lambda's retry: left to the boundary, an unwritten
    record became an "internal error" and no retry came (for an `in_progress` one, the retry that
    takes over from a dead attempt; for a `failed` one, the retry that audits what landed; for one
    written without a claim, the retry that writes it). A write that landed with its answer lost is
    written: the boundary once added a `failed` record beside it."""
    try:
        adapters.store.write_audit(record)
    except AwsCallError as error:
        if _written_after_all(adapters, record):
            return
        raise RetryableFailureError(
            f"{record['reason']}; its audit record could not be written ({error})"
        ) from error


def _written_after_all(adapters: Adapters, record: dict[str, Any]) -> bool:
    """Whether a write that reported failure landed anyway (its answer lost on the way back)."""
    try:
        return adapters.store.audit_written(record)
    except AwsCallError:
        return False


def _end_lease(adapters: Adapters, claim: Claim, *, keep: bool) -> None:
    """After a failure: keep the stashed records for the retry (end the lease now), or free the claim.
    A claim taken over from earlier attempts is kept whatever this one did: freed, it lost their record
    keys, and the retry decided again the groups they had audited."""
    try:
        if keep or claim.earlier_records:
            adapters.store.yield_lease(claim)
        else:
            adapters.store.release(claim)
    except AwsCallError as error:
        # The lease then runs out on its own: the retry after it takes over.
        logger.warning("could not end the lease on %s: %s", claim.trigger_id, error)


def _rejected_for_good(error: Exception) -> bool:
    """Only bad input (or a group that is not there) is rejected for good; anything else failed, and is
    retried (a damaged item may be repaired, an odd error may pass)."""
    return isinstance(error, GroupNotFoundError | BadInputError)


def _failure_record(error: Exception, base: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The audit record of work that raised `error`: `rejected` for good (`_rejected_for_good`), else
    `failed`. An error of no expected kind (an SDK exception of an odd shape, a bug of ours) is named by
    its type and logged with its traceback (called from an `except` block)."""
    expected = isinstance(error, AwsCallError | DamagedItemError | GroupNotFoundError | BadInputError)
    if not expected:
        logger.exception("unexpected error")
    message = safe_text(str(error) if expected else f"{type(error).__name__}: {error}", 1024)
    if isinstance(error, GroupDeletingError):
        return base(Outcome.SKIPPED, message, skip_cause="group_deleting")
    if isinstance(error, GroupNotFoundError):
        return base(Outcome.REJECTED, message, reject_cause=GROUP_NOT_FOUND)
    if _rejected_for_good(error):
        return base(Outcome.REJECTED, message)
    return base(Outcome.FAILED, message, error=message)


def _failed(
    base: Callable[..., dict[str, Any]],
    adapters: Adapters,
    error: Exception,
    claimed: Claimed,
    clock: datetime,
    book: _FailureBook | None,
    *,
    claim: Claim | None,
    stashed: bool,
) -> dict[str, Any]:
    retryable = not _rejected_for_good(error)
    logger.error("%s: %s", "failed" if retryable else "rejected", error)
    record = _failure_record(error, base)
    if claim is not None and retryable:
        _end_lease(adapters, claim, keep=stashed)
    try:
        # Unwritten, this record must not end the trigger: Lambda's retry writes it, or audits the
        # change it finds landed (the lease ended with the stash kept). Left to the boundary, it once
        # became an "internal error, nothing more was done" filed under no group, and no retry came.
        _write_or_retry(adapters, record)
    except RetryableFailureError:
        if claim is not None and not retryable:
            _end_lease(adapters, claim, keep=False)  # the retry rejects it again, and writes that
        raise
    if claim is not None and not retryable:
        try:
            adapters.store.complete(claim)  # bad input: a retry would be rejected the same way
        except AwsCallError as complete_error:
            logger.warning("could not complete the claim: %s", complete_error)
    if retryable and record["outcome"] == Outcome.FAILED.value:
        _tell_failure_once(adapters, record, claimed, clock, book)
    elif _vanished(record):
        # Without a `book` (a sale phase, which fires once and is not retried when rejected) it is told
        # each time: no flood to hold back, and a pre-warm that scales nobody is news before the sale.
        _tell_remembered(adapters, record, _vanished_telling(record), book)
    else:
        _notify(adapters, record, claimed.notify)
    if retryable:
        raise RetryableFailureError(record["reason"])
    return record


def _tell_failure_once(
    adapters: Adapters, record: dict[str, Any], claimed: Claimed, clock: datetime, book: _FailureBook | None
) -> None:
    """Tell people a trigger failed, once across Lambda's attempts at it: each retry that fails again
    writes its own `failed` record, but people heard of the trigger's failure from the first (each
    attempt once told them again: three e-mails for one trigger). Noted after the Publish: an attempt that
    dies in between, or a note that cannot be read or written, tells it again, twice rather than never;
    a Publish that fails is left to the next attempt. A retry that succeeds tells its own change.
    With a `book` (the alarm Lambda), a failure the group's memory says people know of (another
    trigger's, a minute ago) is not told either."""
    telling: _Telling | None = _outcome_telling(record, claimed.notify)
    if adapters.notifier is None or telling is None:
        return
    group = record.get("group")
    try:
        if adapters.store.failure_told(claimed.trigger_id, group):
            logger.info("%s: people were told of its failure by an earlier attempt", claimed.trigger_id)
            return
    except AwsCallError as error:
        logger.warning("could not read whether %s's failure was told: %s", claimed.trigger_id, error)
    if not _tell_remembered(adapters, record, telling, book):
        return
    try:
        adapters.store.keep_failure_told(claimed.trigger_id, group, int(clock.timestamp()))
    except AwsCallError as error:
        logger.warning("could not note that %s's failure was told: %s", claimed.trigger_id, error)


def _tell_remembered(
    adapters: Adapters, record: Mapping[str, Any], telling: _Telling, book: _FailureBook | None
) -> bool:
    """Tell people of a failure `record`, unless its group's failure memory (with a `book`) says they
    know of it; whether a message went out."""
    entry = None if book is None else _remember(adapters, record, telling, book)
    told = telling if entry is None else entry.telling
    went_out = told is not None and not _tell(adapters, [told])
    if entry is not None:
        _keep_failing(adapters, entry, book, went_out=went_out)
    return went_out


def _recovered_or_redone(
    claimed: Claimed,
    claim: Claim,
    adapters: Adapters,
    delivery_id: str,
    stash: Stash,
    audited: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """The work, or, after an earlier attempt that stashed capacity changes and failed or died, the
    audit of what of it landed and the work again for the rest: a trigger of one group decides afresh
    if its change never landed (the state item remembers the trigger, so that is not stale); one of
    several groups (a re-evaluation) decides every group but those whose change is audited here, so a
    group whose change landed keeps its `applied` record while another's failed apply is decided again.
    `audited`: groups whose record the earlier attempt wrote (it died, or its claim's completion
    failed, after): not decided again under the same trigger."""
    if not claim.pending:
        if audited and claimed.work_except is not None:
            return claimed.work_except(stash, audited)
        return claimed.work(stash)
    recovered = _recovered(claim, adapters, delivery_id)
    if claimed.on_recovered is not None:
        for record in recovered.records:
            claimed.on_recovered(record)
    if claimed.work_except is not None:
        return recovered.records + claimed.work_except(stash, recovered.settled | audited)
    if not recovered.unsettled:
        return recovered.records
    return claimed.work(stash) if claimed.redo is None else claimed.redo(stash, claim.pending)


def _newest_per_group(pending: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last stashed change of each group (an entry naming none is kept, and read as unsettled).
    Attempts stash in turn: a retry that decided again after a change that never landed stashes its
    own. Judging the older too, its "never landed" once threw away the newer change that had (the
    trigger decided a third time, the landed 8 never audited), and two alike made two records."""
    newest: dict[str, dict[str, Any]] = {}
    unnamed: list[dict[str, Any]] = []
    for entry in pending:
        group = entry.get("group")
        if isinstance(group, str):
            newest.pop(group, None)
            newest[group] = entry
        else:
            unnamed.append(entry)
    return [*unnamed, *newest.values()]


@dataclass(frozen=True)
class _Recovery:
    records: list[dict[str, Any]]  # for the stashed changes that landed, not yet audited
    settled: frozenset[str]  # groups whose stashed change is audited: written before, or recovered now
    unsettled: bool  # a stashed change never landed (or its record cannot be read)


def _recovered(claim: Claim, adapters: Adapters, delivery_id: str) -> _Recovery:
    """Finish the audit of an earlier attempt that stashed capacity changes and then failed or died.

    Each stashed record already written is left alone; one whose change the group shows is written
    now (under this delivery, naming the first); one that never landed is left to be decided again.
    """
    records = []
    settled: set[str] = set()
    unsettled = False
    for pending in _newest_per_group(claim.pending):
        group, wanted = pending.get("group"), pending.get("new_desired")
        if not isinstance(group, str) or not isinstance(wanted, int):
            unsettled = True
            continue
        if adapters.store.audit_written(pending):
            settled.add(group)  # only the claim's completion failed last time
            continue
        size = adapters.fleet.describe(group).size
        moved_on = _built_upon(group, wanted, claim.trigger_id, adapters) if size.desired != wanted else None
        if (size.desired != wanted and moved_on is None) or size.max != pending.get("new_max", size.max):
            logger.warning("stashed change %s of %s never landed: deciding again", wanted, group)
            unsettled = True
            continue
        placed_by = (
            _put_in_place_by_another(group, pending, claim.trigger_id, adapters) if moved_on is None else None
        )
        if placed_by is not None:
            records.append(_placed_by_another(pending, delivery_id, placed_by))
            settled.add(group)
            continue
        record = dict(pending)
        verb = "applied" if pending.get("outcome") == Outcome.APPLIED.value else "decided"
        record.update(
            delivery_id=delivery_id,
            request_id=delivery_id.split("#", 1)[0],
            recovered_from=pending.get("delivery_id"),
            reason=f"{pending.get('reason')} ({verb} by delivery {pending.get('delivery_id')}, whose audit "
            "write did not happen; audited by this retry)",
        )
        if moved_on is not None:
            record["reason"] += f"; since then {moved_on}"
        else:
            put_back = _settled_after_recovery(group, wanted, claim.trigger_id, adapters)
            record.update(put_back)
            # Where the group was left, in the reason people are told, as the attempt's own settle says
            # it: a put-back named in a field alone read "2 -> 4" after the newer "4 -> 8".
            said = _settle_said(put_back)
            if said is not None:
                record["reason"] += f"; {said}"
        records.append(record)
        settled.add(group)
    return _Recovery(records, frozenset(settled), unsettled)


def _placed_by_another(pending: Mapping[str, Any], delivery_id: str, placed_by: str) -> dict[str, Any]:
    """The retry's record of a stashed change another decision put in place and audited: no second
    `applied` for one SetDesiredCapacity."""
    record = {
        key: pending[key]
        for key in ("group", "at", "source_id", "expires_at", "trigger", "inputs")
        if key in pending
    }
    record.update(
        delivery_id=delivery_id,
        request_id=delivery_id.split("#", 1)[0],
        outcome=Outcome.SKIPPED.value,
        skip_cause="duplicate",
        recovered_from=pending.get("delivery_id"),
        reason=f"the change {pending.get('previous_desired')} -> {pending.get('new_desired')} decided by "
        f"delivery {pending.get('delivery_id')} (whose apply failed) was put in place by {placed_by}, "
        "which audited it: nothing more to do",
    )
    return record


def _built_upon(group: str, wanted: int, trigger_id: str, adapters: Adapters) -> str | None:
    """How a newer decision moved on from a stashed change the group no longer shows, where the state
    item says it started from that change (its commit's `committed_from`): the change was in place,
    then superseded, not lost. None: nothing says so (it never landed, or cannot be told)."""
    try:
        latest = adapters.store.load_memory(group)
    except (AwsCallError, DamagedItemError):
        return None
    newest, by = latest.committed_desired, latest.committed_by
    # Only a decision of ours says so: an adopted outside change keeps the commit it replaced as its
    # start, landed or not (a commit that never landed is adopted so too).
    if newest is None or by is None or by == trigger_id or latest.committed_from != wanted:
        return None
    return f"a newer decision ({by}) started from its {wanted} and set {newest}"


def _settled_after_recovery(group: str, landed: int, trigger_id: str, adapters: Adapters) -> dict[str, Any]:
    """What `_settle` would have done after a change whose attempt failed before it could: a newer
    decision that committed while that SetDesiredCapacity was in flight, overtaken by it landing late,
    is put back (a late apply never leaves capacity behind a newer decision), unless a process it needs
    is suspended or the kill switch came on since: a retry is a new run, and reads both before its Auto
    Scaling call like any other (one once set the newer 7 under a full pause)."""
    try:
        latest = adapters.store.load_memory(group)
        newest = latest.committed_desired
        if newest is None or newest == landed or latest.committed_by == trigger_id:
            return {}
        stopped = _put_back_stopped(newest, landed, adapters.fleet.describe(group), adapters)
        if stopped is not None:
            return {"settle_skipped": stopped}
        logger.warning(
            "%s: a newer decision committed %s; ours (%s) landed after it: putting it back",
            group,
            newest,
            landed,
        )
        adapters.fleet.set_desired_capacity(group, newest)
        return {"settled_to": newest}
    except (AwsCallError, DamagedItemError, GroupNotFoundError) as error:
        return {"settle_error": str(error)}


# --- the alarm Lambda -----------------------------------------------------------------------------
def handle_alarm_event(
    event: Any, adapters: Adapters, ctx: Context, invocation: Invocation | None = None
) -> list[dict[str, Any]]:
    """Handle one Lambda event (an alarm, or the per-minute re-evaluation); returns the audit records
    written: exactly one per alarm trigger, one per group a re-evaluation decides."""
    return guarded(_alarm_event, event, adapters, ctx, invocation or Invocation())


def _alarm_event(
    event: Any, adapters: Adapters, ctx: Context, invocation: Invocation, delivery_id: str
) -> list[dict[str, Any]]:
    if isinstance(event, dict) and "action" in event:
        return _reevaluate(event, adapters, ctx, invocation, delivery_id)
    try:
        trigger = parse_alarm_event(event)
    except BadInputError as error:
        return [reject_unparsed(event, error, adapters, ctx, delivery_id, "event")]
    return [_handle_trigger(trigger, adapters, ctx, invocation, delivery_id)]


def _handle_trigger(
    trigger: AlarmTrigger, adapters: Adapters, ctx: Context, invocation: Invocation, delivery_id: str
) -> dict[str, Any]:
    clock = ctx.clock()
    spec = ctx.alarms.get(trigger.alarm_name)
    group = ctx.config.group(spec.group) if spec else None
    audit = _alarm_audit(trigger)
    # A trigger whose time is implausible is recorded at our own time, never at the time it claims; one
    # ahead of our clock (within the skew allowed) at our clock: decided and remembered at a time to
    # come, it would make every real trigger until then look older than the last one, and stale.
    now = min(trigger.timestamp, clock) if clock - ALARM_MAX_AGE <= trigger.timestamp else clock

    def settle(outcome: Outcome, reason: str, group_name: str | None, **extra: Any) -> dict[str, Any]:
        if outcome is Outcome.REJECTED:
            logger.error("rejected trigger %s: %s", trigger.trigger_id, reason)
        record = _record(
            ctx, delivery_id, now, outcome, group=group_name, trigger=audit, reason=reason, **extra
        )
        _write_or_retry(adapters, record)
        return record

    if spec is None or group is None:
        return settle(
            Outcome.REJECTED, f"alarm {trigger.alarm_name!r} is not one of Surgeguard's (unknown group)", None
        )
    try:
        _check_identity(trigger, invocation)
        _check_metrics(trigger, spec, group)
        check_time(trigger.timestamp, clock, "the alarm's state change time", ALARM_MAX_AGE)
    except BadInputError as error:
        return settle(Outcome.REJECTED, str(error), group.name)
    if trigger.state == "INSUFFICIENT_DATA":
        return settle(
            Outcome.REJECTED,
            f"alarm {trigger.alarm_name} has INSUFFICIENT_DATA: no signal to act on",
            group.name,
        )
    if trigger.state == "OK":
        return settle(
            Outcome.SKIPPED,
            "alarm returned to OK: the breach is over, nothing to do",
            group.name,
            skip_cause="alarm_ok",
        )
    uncollected = _group_metrics_missing(group, spec, adapters)
    if uncollected is not None:
        return settle(Outcome.SKIPPED, uncollected, group.name, skip_cause="metrics_collection")

    def work(stash: Stash) -> list[dict[str, Any]]:
        record = _decide_group(
            group,
            adapters,
            ctx,
            now,
            trigger_id=trigger.trigger_id,
            direction=spec.direction,
            breached=frozenset({spec.rule}) if spec.composite_of else frozenset(),
            stash=stash,
            base=lambda outcome, reason, **extra: _record(
                ctx, delivery_id, now, outcome, group=group.name, trigger=audit, reason=reason, **extra
            ),
        )
        return [record]

    claimed = Claimed(
        trigger.trigger_id, group.name, audit, now, work, f"{trigger.trigger_id}", remembers_failures=True
    )
    (record,) = run_claimed(claimed, adapters, ctx, invocation, delivery_id)
    return record


def _group_metrics_missing(group: GroupConfig, spec: AlarmSpec, adapters: Adapters) -> str | None:
    """Why an alarm on a queue backlog cannot be trusted: the group does not collect
    GroupInServiceInstances, the backlog's divisor (the stack never changes the group, so the team
    enables it). Its scale-in alarm treats missing data as breaching, so it is this skip that says so,
    within minutes of the deploy. A check that cannot run never blocks scaling."""
    members = next((c.all_of for c in group.composites if c.id == spec.rule), [spec.rule])
    signals = [s for s in (group.signal(rule) for rule in members) if s is not None]
    fleet = adapters.fleet
    if not any(needs_group_metrics(s) for s in signals) or not isinstance(fleet, GroupMetrics):
        return None
    try:
        enabled = fleet.enabled_metrics(group.name)
    except (AwsCallError, GroupNotFoundError) as error:
        logger.warning("could not check %s's metrics collection: %s", group.name, error)
        return None
    if GROUP_IN_SERVICE in enabled:
        return None
    return (
        f"alarm {spec.name} divides a queue backlog by {GROUP_IN_SERVICE}, which group {group.name} does not "
        f"collect: nothing done. Enable it: aws autoscaling enable-metrics-collection "
        f"--auto-scaling-group-name {group.name} --granularity 1Minute --metrics {GROUP_IN_SERVICE}"
    )


def _decide_group(
    group: GroupConfig,
    adapters: Adapters,
    ctx: Context,
    now: datetime,
    *,
    trigger_id: str,
    direction: Direction | None,
    breached: frozenset[str],
    stash: Stash,
    base: Callable[..., dict[str, Any]],
    forecast_item: ForecastState | None = None,
) -> dict[str, Any]:
    """Read the signals, decide (one decision per alarm period) and apply: the alarm path's work.
    `forecast_item`: the group's FORECAST item, when the caller has just read it."""
    # The freshest datapoints, whatever time the trigger is decided at: an alarm delivered late (a
    # Lambda retry, a throttled queue) must not act on the load of its state change, long gone.
    # At the periods of the alarm decided: a scale-in sized on the last 10 s of a 60 s scale-in alarm's
    # minute took a passing dip for the load it evaluated.
    readings = adapters.signals.read(group, max(now, ctx.clock()), direction)
    validate_readings(readings)
    applied = decide_and_apply(
        group,
        adapters,
        ctx,
        now,
        readings,
        trigger_id=trigger_id,
        direction=direction,
        breached=breached,
        min_interval=timedelta(seconds=group.scale_out.period_seconds),
        forecast_item=forecast_item,
        stash=lambda decision, snapshot, controls, notes: stash(
            base(
                decision.outcome,
                decision.reason,
                decision=decision,
                inputs=_inputs(readings, snapshot, controls),
            )
            | notes
        ),
    )
    decision = applied.decision
    inputs = _inputs(readings, applied.snapshot, applied.controls)
    if applied.concurrent:
        return base(
            Outcome.SKIPPED,
            "other decisions for this group kept saving first: theirs stand; the alarm stays in ALARM "
            "and the per-minute re-evaluation decides again",
            decision=decision,
            skip_cause="concurrent",
            inputs=inputs,
        )
    record = base(decision.outcome, decision.reason, decision=decision, inputs=inputs)
    record.update(applied.notes)
    # Said in the reason, which is what people are told: after a newer decision's "4 -> 8", this
    # one's "2 -> 4" alone read as the group at 8, though the kill switch had left it at 4.
    settled = _settle_said(applied.notes)
    if settled is not None:
        record["reason"] += f"; {settled}"
    logger.info("%s %s: %s", decision.outcome.value, group.name, decision.reason)
    return record


def _reevaluate(
    event: dict[str, Any], adapters: Adapters, ctx: Context, invocation: Invocation, delivery_id: str
) -> list[dict[str, Any]]:
    """The per-minute safety net: every group with an alarm in ALARM is decided again with fresh data.

    Alarms notify on state change only, so a breach that lasts is heard here, once a minute per group
    (not through SetAlarmState re-arms, which AWS documents as a testing aid and which bounce back
    within seconds). One record per group decided; one `quiet` record when none is in ALARM.
    """
    clock = ctx.clock()
    try:
        scheduled, execution_id, shard = _parse_reevaluate(event, ctx.config, clock)
    except BadInputError as error:
        return [reject_unparsed(event, error, adapters, ctx, delivery_id, "re-evaluation")]
    # Decided at our clock where it claims a time to come (within the skew allowed), as an alarm is:
    # remembered at 12:04:30 while the clock read 12:00:10, it made every real trigger until then stale.
    now = min(scheduled, clock)
    audit: dict[str, Any] = {
        "id": execution_id,
        "source": "reevaluate",
        "scheduled_time": scheduled.isoformat(),
    }
    mine = ctx.config.reevaluation_shard(shard)
    if ctx.config.reevaluation_shards > 1:
        audit["shard"] = shard

    stashed: list[dict[str, Any]] = []

    def keep(stash: Stash) -> Stash:
        def counted(record: dict[str, Any]) -> None:
            stash(record)
            stashed.append(record)

        return counted

    def work(stash: Stash, settled: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        by_group: dict[str, list[AlarmSpec]] = {}
        for name in adapters.signals.alarms_in_alarm(ctx.alarm_prefix):
            spec = ctx.alarms.get(name)
            if spec is not None and spec.group in mine:
                by_group.setdefault(spec.group, []).append(spec)
        records = []
        bursting = _bursting_groups(mine, adapters, ctx, now)
        for group_name in sorted((set(by_group) | set(bursting)) - settled):
            group = ctx.config.group(group_name)
            assert group is not None
            # A backlog alarm in ALARM only for want of GroupInServiceInstances says nothing about
            # load (its own trigger was recorded as skipped: metrics_collection, with the fix).
            specs = [
                s for s in by_group.get(group_name, []) if _group_metrics_missing(group, s, adapters) is None
            ]
            if not specs and group_name not in bursting:
                continue
            trigger: dict[str, Any] = {**audit, "in_alarm": sorted(s.name for s in specs)}
            if group_name in bursting:
                trigger["burst_due"] = bursting[group_name].burst_at(now)

            def base(
                outcome: Outcome,
                reason: str,
                _group: str = group_name,
                _trigger: dict[str, Any] = trigger,
                **extra: Any,
            ) -> dict[str, Any]:
                return _record(
                    ctx, delivery_id, now, outcome, group=_group, trigger=_trigger, reason=reason, **extra
                )

            # A due burst only ever raises capacity: scale-in waits for its own alarm. While that alarm
            # is in ALARM, the decision is the one it would make (the burst's floor bounds it).
            outward = any(s.direction is Direction.OUT for s in specs) or (
                group_name in bursting and not any(s.direction is Direction.IN for s in specs)
            )
            stashed_before = len(stashed)
            try:
                record = _decide_group(
                    group,
                    adapters,
                    ctx,
                    now,
                    trigger_id=f"reevaluate#{execution_id}",
                    direction=Direction.OUT if outward else Direction.IN,
                    breached=frozenset(s.rule for s in specs if s.composite_of),
                    stash=keep(stash),
                    base=base,
                    forecast_item=bursting.get(group_name),
                )
            except Exception as error:  # a bulkhead: one group's failure, whatever it is, is its own
                if len(stashed) > stashed_before:
                    # A change may have landed: the run ends so the retry finds its stashed record; the
                    # failure is this group's (the shard's other groups wait for the next minute's run).
                    raise GroupChangeFailedError(base, error) from error
                # One group's failure is its own record; the others are decided, and the next
                # re-evaluation, a minute later, tries this group again.
                record = _failure_record(error, base)
            records.append(record)
        # A retry whose groups were all audited from its stash adds nothing more.
        return records if records or settled else [_quiet(ctx, delivery_id, now, audit)]

    claimed = Claimed(
        f"reevaluate#{execution_id}",
        None,
        audit,
        now,
        work,
        f"re-evaluation {execution_id}",
        retry_in_progress=False,  # the next one, a minute later, decides again
        work_except=work,
        record_groups=frozenset(mine),
        remembers_failures=True,
    )
    return run_claimed(claimed, adapters, ctx, invocation, delivery_id)


def _quiet(ctx: Context, delivery_id: str, now: datetime, audit: dict[str, Any]) -> dict[str, Any]:
    """The one record of a re-evaluation with no group to decide."""
    shard = f" for the groups of shard {audit['shard']}" if "shard" in audit else ""
    return _record(
        ctx,
        delivery_id,
        now,
        Outcome.SKIPPED,
        trigger=audit,
        reason=f"re-evaluation: no alarm of this stack is in ALARM and no learned burst is due{shard}",
        skip_cause="quiet",
    )


def _bursting_groups(
    mine: Collection[str], adapters: Adapters, ctx: Context, now: datetime
) -> dict[str, ForecastState]:
    """The groups of this shard for which the forecaster learned a burst due now: name -> the FORECAST
    item that says so (the decision reuses it rather than reading it again). One GetItem per group that
    anticipates bursts (ConsistentRead): cheap beside a decision."""
    due: dict[str, ForecastState] = {}
    for name in sorted(mine):
        group = ctx.config.group(name)
        if group is None or not group.anticipates_bursts():
            continue
        try:
            state = adapters.store.load_forecast(name)
        except (AwsCallError, LookupError, TypeError, ValueError) as error:
            # Unreadable or malformed: no burst known for this group this minute. The alarms still
            # decide it, and the other groups are not held up by one item.
            logger.warning("%s: could not read the forecast item: %s", name, error)
            continue
        if state is not None and state.burst_at(now) > 1.0:
            due[name] = state
    return due


def _parse_reevaluate(
    event: dict[str, Any], config: ScalerConfig, clock: datetime
) -> tuple[datetime, str, int]:
    """The scheduled time, the execution id and the shard (0 for a stack with one re-evaluation)."""
    expected = {"action", "scheduled_time", "execution_id"}
    shards = config.reevaluation_shards
    keys = set(event)
    if keys not in (expected, expected | {"shard"}) or event.get("action") != REEVALUATE_ACTION:
        raise BadInputError(
            f"not a re-evaluation: expected exactly {sorted(expected)} (and 'shard') with action "
            f"{REEVALUATE_ACTION!r}, got keys {sorted(safe_text(str(k), 40) for k in event)[:12]}"
        )
    shard = event.get("shard", 0)
    if "shard" not in event and shards > 1:
        raise BadInputError(f"re-evaluation without a shard, but this stack runs {shards}")
    if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard < shards:
        raise BadInputError(
            f"re-evaluation shard {safe_text(repr(shard), 40)} is not one of this stack's 0..{shards - 1}"
        )
    execution_id = event["execution_id"]
    if not isinstance(execution_id, str) or not execution_id:
        raise BadInputError("re-evaluation execution_id is not a non-empty string")
    when = parse_time(event["scheduled_time"], "scheduled_time")
    check_time(when, clock, "the re-evaluation's scheduled time", REEVALUATE_MAX_AGE)
    return when, safe_text(execution_id), shard


@dataclass(frozen=True)
class EventLimits:
    """What the group's declared sale events impose at one time: floors, a freeze, a raised max."""

    floors: tuple[Floor, ...] = ()
    freeze_scale_in: str | None = None
    max_size: int | None = None  # a temporary max in effect (pre-warm until restore)


def event_limits(
    group: GroupConfig, states: Sequence[EventState], now: datetime, unreadable: Collection[str] = ()
) -> EventLimits:
    """Floors (`floor:<event>` candidates), the scale-in freeze and any temporary max at `now`.
    `unreadable`: events whose saved item is damaged: their plan still freezes scale-in and bounds
    capacity by their temporary max, but their target, and so their floor, is unknown."""
    floors: list[Floor] = []
    frozen: list[str] = []
    raised: list[int] = []
    targets: list[tuple[str, int | None]] = [(s.event, s.target) for s in states]
    targets += [(name, None) for name in unreadable]
    for name, target in targets:
        event = group.event(name)
        if event is None:
            continue  # an event removed from the config since its pre-warm: no longer held
        plan = plan_event(group, event)
        floor = None if target is None else floor_at(plan, target, now)
        if floor is not None:
            floors.append(Floor(event.name, floor))
        if plan.active(now):
            frozen.append(
                f"sale event {event.name} (pre-warm {plan.prewarm.isoformat()} until "
                f"{plan.release.isoformat()})"
            )
        if (temporary_max := plan.raised_max(now)) is not None:
            raised.append(temporary_max)
    return EventLimits(tuple(floors), "; ".join(frozen) or None, max(raised) if raised else None)


def _headroom(
    group: GroupConfig,
    adapters: Adapters,
    now: datetime,
    direction: Direction | None,
    item: ForecastState | None,
    readings: Sequence[Reading],
) -> tuple[NoiseLimits, Sequence[Reading]]:
    """The noise headroom's limits and the readings to decide on: as configured, or, where the
    forecaster judged the noise headroom not to pay, none and the signals at the lower target."""
    unpaid = unpaid_noise_headroom(group, item, now)
    share = group.noise_headroom.target_share_if_unpaid
    if unpaid is None or share is None:
        limits = noise_limits(group, adapters, now, direction, anchored_multiplier(group, item, now))
        verdict = _anchor_in_effect(group, item, now)
        lowered = None if verdict is None else anchor_target_share(group, verdict)
        if verdict is None or lowered is None:
            return limits, readings
        notes = {**limits.notes, "anchor_target": {"target_share": lowered, "why": verdict.describe()}}
        return replace(limits, notes=notes), [
            replace(reading, target=reading.target * lowered) for reading in readings
        ]
    stood_down = NoiseLimits(notes={"noise": {"stood_down": unpaid.describe(), "target_share": share}})
    return stood_down, [replace(reading, target=reading.target * share) for reading in readings]


def _load_memory(group: str, adapters: Adapters, notes: dict[str, Any]) -> ScalerMemory:
    """The group's state item; a damaged one, noted in `notes`, as no memory under its version."""
    try:
        return adapters.store.load_memory(group)
    except DamagedItemError as error:
        if error.version is None:
            raise
        # A state item no Surgeguard wrote must not stop every decision of the group: this one starts
        # from no memory (no commit, launches or recommendations) and its save replaces the item.
        logger.warning("%s: damaged state item, started afresh: %s", group, error)
        notes["state_item"] = safe_text(f"malformed, started afresh: {error.detail}", 512)
        return ScalerMemory(version=error.version)


def readable_events(
    group: GroupConfig, adapters: Adapters
) -> tuple[list[EventState], DamagedItemError | None]:
    """The group's saved sale event items that can be read, of any edition, and the damage to the others
    (None: none): one hand-edited item must not stop every decision of the group, nor another event's
    phases."""
    try:
        return adapters.store.load_events(group.name), None
    except DamagedItemError as error:
        logger.warning("%s: damaged event items ignored: %s", group.name, error)
        return [state for state in error.readable if isinstance(state, EventState)], error


def saved_events(group: GroupConfig, adapters: Adapters) -> tuple[list[EventState], DamagedItemError | None]:
    """`readable_events` of their sales' current editions: last year's item must not pass for this
    year's."""
    states, damage = readable_events(group, adapters)
    return this_editions(group, states), damage


def _event_states(
    group: GroupConfig, adapters: Adapters
) -> tuple[list[EventState], tuple[str, ...], dict[str, Any]]:
    """The group's readable saved sale events, the names of those whose item is damaged, and the audit
    note of the damage."""
    if not group.events:
        return [], (), {}
    states, damage = saved_events(group, adapters)
    if damage is None:
        return states, (), {}
    return states, damage.names, {"event_items": safe_text(f"malformed, ignored: {damage.detail}", 512)}


def _forecast_item(
    group: GroupConfig, adapters: Adapters, state: ForecastState | None
) -> tuple[ForecastState | None, dict[str, Any]]:
    """The group's FORECAST item (`state`: when the caller has just read it; None: read it here), and
    the audit note of a malformed one."""
    if group.forecast is None:
        return None, {}
    try:
        return (state if state is not None else adapters.store.load_forecast(group.name)), {}
    except (LookupError, TypeError, ValueError) as error:
        # A malformed item must not stop every decision of the group until the next forecast run.
        logger.warning("%s: malformed forecast item ignored: %s", group.name, error)
        return None, {"forecast_item": safe_text(f"malformed, ignored: {error}", 512)}


def _anchor_in_effect(group: GroupConfig, state: ForecastState | None, now: datetime) -> AnchorVerdict | None:
    """The forecaster's choice against AWS's anchors, while its item is in effect (a forecaster that
    stopped writing leaves the configured headroom and target); None otherwise."""
    if state is None or state.anchor is None or not group.anchors_noise_headroom():
        return None
    if not state.issued_at <= now < state.valid_until:
        return None
    return state.anchor


def anchored_multiplier(group: GroupConfig, state: ForecastState | None, now: datetime) -> float:
    """The multiple of the configured noise headroom the forecaster chose against AWS's anchors, while
    its item is in effect; 1.0 otherwise."""
    verdict = _anchor_in_effect(group, state, now)
    return 1.0 if verdict is None else verdict.multiplier


# The lowest share of its target a group's signals are taken to by the anchors' target: a config that
# names an anchor target far below its own (10 % against 90 %) must not take a group to 9x its capacity.
AT_ANCHOR_TARGET_MIN_SHARE = 0.5


def anchor_target_share(group: GroupConfig, verdict: AnchorVerdict) -> float | None:
    """The share of their targets the signals aim at where the forecaster's choice in effect sent them to
    target tracking's own (`AnchorVerdict.at_anchor_target`): the anchor's target over the group's, at
    least `AT_ANCHOR_TARGET_MIN_SHARE`. None where it did not, or where the group's target is no higher
    than the anchor's."""
    if not verdict.at_anchor_target or verdict.stood_down:
        return None
    per_instance, per_target = group.full_load_requests(), group.requests_target()
    if per_instance is None or per_target is None or per_instance <= 0:
        return None
    share = (verdict.target_pct / 100.0) / min(1.0, per_target / per_instance)
    return max(AT_ANCHOR_TARGET_MIN_SHARE, share) if share < 1.0 else None


def unpaid_noise_headroom(
    group: GroupConfig, state: ForecastState | None, now: datetime
) -> HeadroomVerdict | None:
    """The forecaster's verdict when it found the noise headroom not to pay, while its item is in effect
    (a forecaster that stopped writing leaves the configured headroom on); None otherwise."""
    if state is None or state.headroom is None or not group.judges_noise_headroom():
        return None
    if state.headroom.noise_pays or not state.issued_at <= now < state.valid_until:
        return None
    return state.headroom


@dataclass(frozen=True)
class ForecastFloors:
    floors: tuple[Floor, ...] = ()
    notes: dict[str, Any] = field(default_factory=dict)  # the audit note of a burst due now
    # A burst anticipated from this time has not come: its floor is let go (`DecisionInput`).
    unmet_burst_since: datetime | None = None


def forecast_floors(
    group: GroupConfig, adapters: Adapters, now: datetime, state: ForecastState | None
) -> ForecastFloors:
    """The forecaster's floors in effect now.

    `floor:forecast`, the seasonal floor, in floor mode only (forecast-only records what it would do
    and never acts). `floor:burst`, while a burst the forecaster learned is due: the level of the last
    minutes times the learned rise, at what an instance serves in a burst. The level is read now
    (GetMetricData), since a burst is measured against the minutes right before it. Once the burst
    should have shown (`burst_no_show_after`) and has not, it is let go. `state`: the group's FORECAST
    item (None: it has none).
    """
    if group.forecast is None or state is None:
        return ForecastFloors()
    floors: list[Floor] = []
    if group.forecast.mode == "floor" and state.mode == "floor":
        floor = state.floor_at(now)
        if floor:
            floors.append(Floor("forecast", floor))
    rise = state.burst_at(now) if group.anticipates_bursts() else 1.0
    if rise <= 1.0:
        return ForecastFloors(tuple(floors))
    per_instance = group.full_load_requests()
    assert per_instance is not None, "config: a forecast needs a requests_per_target signal"
    settings = BurstSettings(lead_minutes=group.lead_minutes())
    note: dict[str, Any] = {"rise": rise, "requests_per_instance": per_instance}
    began = state.burst_run_start(now)
    run_minutes = 0 if began is None else int((now - began) / timedelta(minutes=1))
    # Once the burst should have shown, one read covers the anticipation and the level before it too.
    judged = burst_judgeable(run_minutes, settings)
    recent, unreadable = _recent_requests(
        group, adapters, now, settings.level_minutes + (run_minutes if judged else 0)
    )
    if judged and began and not unreadable and burst_came(recent, run_minutes, rise, settings) is False:
        # Held through its window, a burst that comes in a fraction of the hours costs its capacity in
        # every other hour too; one that comes late still meets the signals, and its floor again.
        note["no_show"] = (
            f"anticipated since {began.isoformat()}, it has not come (demand stayed under "
            f"{1 + settings.no_show_share * (rise - 1):.3g}x its level before): its floor is let go"
        )
        return ForecastFloors(tuple(floors), {"burst": note}, unmet_burst_since=began)
    level = None if unreadable else recent_level(recent, settings.level_minutes)
    if level is None:
        note["unavailable"] = unreadable or _too_few_minutes(settings.level_minutes)
        return ForecastFloors(tuple(floors), {"burst": note})
    capacity = burst_capacity(level, rise, per_instance)
    note.update(level=round(level, 3), capacity=capacity)
    if capacity:
        floors.append(Floor("burst", capacity))
    return ForecastFloors(tuple(floors), {"burst": note})


def _recent_requests(
    group: GroupConfig, adapters: Adapters, now: datetime, minutes: int
) -> tuple[list[float | None], str | None]:
    """The group's RequestCount for the last `minutes`, or why it cannot be read. The floors built on it
    are refinements: without them the signals' own decision goes ahead."""
    try:
        return adapters.signals.request_history(group, now - timedelta(minutes=minutes), now), None
    except AwsCallError as error:
        return [], safe_text(f"could not read the recent RequestCount: {error}", 512)


def _too_few_minutes(minutes: int) -> str:
    return f"fewer than half of the last {minutes} minutes have RequestCount"


@dataclass(frozen=True)
class NoiseLimits:
    held: Floor | None = None  # `floor:noise`, for a scale-in decision: capacity it keeps
    band: int | None = None  # while the latest minute is noise: what a signal may ask at most
    notes: dict[str, Any] = field(default_factory=dict)


def noise_limits(
    group: GroupConfig,
    adapters: Adapters,
    now: datetime,
    direction: Direction | None,
    multiplier: float = 1.0,
) -> NoiseLimits:
    """What the demand's own noise asks of a decision (README, "Noise headroom"), from one read of the
    recent RequestCount. A scale-in keeps capacity for the recent mean plus the configured sigmas of
    its minute-to-minute spread at full load (`floor:noise`, capped at the group's desired by the
    caller: it holds, never raises). While the latest minute lies within the band, the signals ask no
    more than that headroom (or the mean at the target): a noise spike is over before instances
    launched for it serve. An unreadable history leaves the decision to the signals. `multiplier`: of
    the headroom's sigmas and cap, as anchored (`anchored_multiplier`)."""
    settings = group.noise_headroom
    sigmas = min(NOISE_SIGMAS_MAX, settings.sigmas * multiplier)
    cap = settings.max_share_of_mean
    cap = None if cap is None else min(NOISE_MAX_SHARE_OF_MEAN_MAX, cap * multiplier)
    holds = direction is Direction.IN and group.keeps_noise_headroom()
    if not (holds or group.caps_noise_spikes()):
        return NoiseLimits()
    per_instance, per_target = group.full_load_requests(), group.requests_target()
    assert per_instance is not None and per_target is not None, "noise headroom needs requests_per_target"
    recent, unreadable = _recent_requests(group, adapters, now, settings.window_minutes)
    floor = None if unreadable else noise_floor(recent, sigmas, per_instance, settings.window_minutes, cap)
    if floor is None:
        return NoiseLimits(
            notes={"noise": {"unavailable": unreadable or _too_few_minutes(settings.window_minutes)}}
        )
    note: dict[str, Any] = {
        "mean": round(floor.mean, 3),
        "spread": round(floor.spread, 3),
        "sigmas": sigmas,
        "requests_per_instance": per_instance,
        "capacity": floor.capacity,
    }
    if multiplier != 1.0:
        note["anchored"] = multiplier
    band = noise_band(recent, floor, settings.band_sigmas, per_target) if group.caps_noise_spikes() else None
    if band is not None:
        note["band"] = {
            "latest": round(band.latest, 3),
            "upper": round(band.upper, 3),
            "capacity": band.capacity,
        }
    held = Floor("noise", floor.capacity) if holds and floor.capacity else None
    return NoiseLimits(held, None if band is None else band.capacity, {"noise": note})


@dataclass(frozen=True)
class Applied:
    decision: Decision
    snapshot: GroupSnapshot
    controls: Controls
    concurrent: bool  # conflicting saves every time: nothing applied, the other decisions stand
    notes: dict[str, Any] = field(default_factory=dict)  # audit fields: reasserted, settled, errors


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
    min_interval: timedelta | None = None,
    trigger_id: str | None = None,
    stash: Callable[[Decision, GroupSnapshot, Controls, dict[str, Any]], None] | None = None,
    forecast_item: ForecastState | None = None,
    plan_from: datetime | None = None,
) -> Applied:
    """Decide (with the group's event floors), save the state item, stash the record, apply, settle.

    `not_stale`: a scheduled phase that fires after a newer alarm decides at that newer time rather
    than being skipped as stale (its plan is time-based, so a late firing still applies).
    `stash`: called with a capacity change before it is applied (the claim keeps its audit record), and
    with a decision that adopted another writer's change once it is saved: the state item then no longer
    shows the change, so a retry after a failed audit write must find the record that names it.
    `forecast_item`: the group's FORECAST item, when the caller has just read it (None: read it here).
    `plan_from`: a sale phase's time: its event floors and freeze hold from then, though the Lambda's
    clock may read a little earlier.
    Raises AwsCallError only when nothing was applied.
    """
    controls = Controls(pause=adapters.store.load_pause(group.name), dry_run=ctx.config.is_dry_run(group))
    states, unreadable, event_notes = _event_states(group, adapters)
    item, notes = _forecast_item(group, adapters, forecast_item)
    notes.update(event_notes)
    forecast = forecast_floors(group, adapters, now, item)
    notes.update(forecast.notes)
    # The noise window at the readings' time: a late alarm (stamped at its state change) decides on the
    # freshest datapoints, and a window ending at its stamp capped a surge since at the band of the
    # minutes before it (and held the floor of a load gone 16 minutes). The forecaster's floors stay at
    # the stamp, the decision's time: a burst floor read later but stamped earlier outlived its no-show.
    noise, readings = _headroom(group, adapters, max(now, ctx.clock()), direction, item, readings)
    notes.update(noise.notes)
    horizon = ctx.clock() + FUTURE_SKEW
    decision: Decision | None = None
    snapshot: GroupSnapshot | None = None
    outside: dict[str, Any] = {}
    for attempt in range(_CONFLICT_RETRIES + 1):
        actual = adapters.fleet.describe(group.name)
        loaded = _load_memory(group.name, adapters, notes)
        memory = loaded.forget_after(horizon)
        if memory != loaded:
            notes["ignored_future_state"] = f"state times after {horizon.isoformat()} were ignored"
        change = outside_change(actual, memory, ctx.clock(), APPLY_GRACE)
        if (
            change is not None
            and change.within_grace
            and change.after < change.before
            and not _commit_done(group.name, memory, adapters)
        ):
            # Our own earlier value may still be landing: the commit stands, as before. Only a value
            # below the commit: one above it is taken (an ambiguity may cost capacity, never take it
            # away; the commit's 4 once put a person's 7 back down to 5).
            change = None
        outside, memory = _noticed_outside(group.name, change, memory, adapters, trigger_id)
        snapshot = _with_committed(actual, memory, ctx.clock())
        at = now
        if not_stale and memory.last_trigger_at is not None and memory.last_trigger_at > now:
            at = memory.last_trigger_at
        limits = event_limits(group, states, at if plan_from is None else max(at, plan_from), unreadable)
        # Noise headroom is held, never raised: a scale-in keeps what the noise needs of what is there.
        held = (
            () if noise.held is None else (Floor("noise", min(noise.held.capacity, snapshot.size.desired)),)
        )
        floors = (*ctx.floors, *limits.floors, *forecast.floors, *held)
        policy = group
        if limits.max_size is not None and limits.max_size > group.max:
            # The temporary max is Surgeguard's bound too while it is in effect.
            policy = group.model_copy(update={"max": limits.max_size})
        decided_from = DecisionInput(
            group=snapshot,
            memory=memory,
            readings=readings,
            policy=policy,
            now=at,
            trigger_direction=direction,
            breached_rules=breached,
            controls=controls,
            floors=floors,
            noise_band=noise.band,
            freeze_scale_in=limits.freeze_scale_in,
            min_interval=None if not_stale else min_interval,
            trigger_id=trigger_id,
            unmet_burst_since=forecast.unmet_burst_since,
        )
        decision = _noticing(decide(decided_from), trigger_id, outside)
        try:
            if decision.changes_capacity:
                # When it was committed by the wall clock (the trigger's own time may be older):
                # what later deciders judge "still in flight" by; and when its instances launch, what
                # their warm-up and the scale-in stabilization count from (a trigger delivered
                # minutes late once ended both that much early).
                decision = replace(decision, memory=_launched_now(decision.memory, at, ctx.clock()))
            adapters.store.save_memory(group.name, decision.memory, loaded.version)
            break
        except ConcurrentUpdateError:
            logger.warning("concurrent decision for %s (attempt %d): re-reading", group.name, attempt + 1)
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    else:
        assert decision is not None and snapshot is not None
        return Applied(decision, snapshot, controls, concurrent=True, notes=notes)
    assert decision is not None and snapshot is not None
    notes.update(outside)
    notes.update(_committed_not_visible(snapshot, actual))
    target = _target(decision, snapshot, actual)
    holds_committed = decision.outcome is not Outcome.APPLIED and snapshot is not actual
    if holds_committed and _in_flight(memory, trigger_id, ctx.clock()):
        target = actual.size.desired  # its own attempt is still applying it: leave that to it
    if target != actual.size.desired:
        decision, controls, withdrawn = _to_apply(
            group.name,
            adapters,
            decision,
            decided_from,
            actual,
            target,
            controls,
            trigger_id,
            outside,
            loaded.version + 1,
        )
        notes.update(withdrawn)
        if decision.outcome is not Outcome.APPLIED:
            return Applied(decision, snapshot, controls, concurrent=False, notes=notes)
        if stash is not None:
            stash(decision, snapshot, controls, notes)
        # No roll-back of the state if this fails: the state holds the decision and its trigger, so
        # the trigger's retry (or the next decision, within APPLY_GRACE) puts it in place.
        adapters.fleet.set_desired_capacity(group.name, target)
        if holds_committed:
            notes.update(_take_over_commit(group.name, adapters, trigger_id, target, loaded.version + 1))
        notes.update(_settle(group.name, adapters, target, loaded.version + 1))
    elif outside and stash is not None:
        _stash_adopted(stash, decision, snapshot, controls, notes)
    return Applied(decision, snapshot, controls, concurrent=False, notes=notes)


def _to_apply(
    group: str,
    adapters: Adapters,
    decided: Decision,
    decided_from: DecisionInput,
    actual: GroupSnapshot,
    target: int,
    controls: Controls,
    trigger_id: str | None,
    outside: dict[str, Any],
    saved_version: int,
) -> tuple[Decision, Controls, dict[str, Any]]:
    """The decision that sets `target` (`decided`, or one putting the committed capacity in place), with
    the controls it was judged by and audit notes; not `applied` where nothing is to be set. The kill
    switch is read again just before the Auto Scaling call, as before a pre-warm's MaxSize raise: read
    only at the decision's start, a switch pulled during the seconds of reads and saves since let the
    SetDesiredCapacity through."""
    decision = _putting_committed_in_place(decided, actual, target, controls)
    if decision.outcome is not Outcome.APPLIED:
        return decision, controls, {}
    pause = adapters.store.load_pause(group)
    if not pause.blocks(decision.action):
        return decision, controls, {}
    controls = replace(controls, pause=pause)
    if decided.outcome is not Outcome.APPLIED:  # another trigger's commit: its state stays as it is
        return _putting_committed_in_place(decided, actual, target, controls), controls, {}
    decision, withdrawn = _withdrawn_under_pause(
        group, adapters, replace(decided_from, controls=controls), trigger_id, outside, saved_version
    )
    return decision, controls, withdrawn


def _withdrawn_under_pause(
    group: str,
    adapters: Adapters,
    decided_from: DecisionInput,
    trigger_id: str | None,
    outside: dict[str, Any],
    saved_version: int,
) -> tuple[Decision, dict[str, Any]]:
    """Our own change that the kill switch (in `decided_from`'s controls), set since the decision read
    it, stopped before its Auto Scaling call: decided again under the switch, and that decision's state
    saved over our commit, so that a commit never applied is neither put in place after a resume nor
    taken for another writer's change. A save since ours is a newer decision's: its state stands."""
    decision = _noticing(decide(decided_from), trigger_id, outside)
    try:
        adapters.store.save_memory(group, decision.memory, saved_version)
    except (AwsCallError, ConcurrentUpdateError) as error:
        logger.warning("%s: could not withdraw the commit the kill switch stopped: %s", group, error)
        return decision, {"withdraw_error": str(error)}
    return decision, {}


def _putting_committed_in_place(
    decision: Decision, actual: GroupSnapshot, target: int, controls: Controls
) -> Decision:
    """A committed decision whose SetDesiredCapacity has not landed and whose attempt is no longer
    applying it (it died, or this is its retry): this decision puts it in place, unless the kill
    switch (or dry-run) came on since it was committed: then no Auto Scaling call (a retry that
    started from the commit, 4 -> 4, once skipped the pause check and set 4 under the kill switch), or
    a process it needs is suspended on the group. A decision that applies its own change is returned as
    it is."""
    if decision.outcome is Outcome.APPLIED:
        return decision
    showing = actual.size.desired
    action = ScalingAction.SCALE_OUT if target > showing else ScalingAction.SCALE_IN
    paused = controls.pause.blocks(action)
    process = SUSPENDED_BLOCKS[action] if SUSPENDED_BLOCKS[action] in actual.suspended else None
    if paused or controls.dry_run or process is not None:
        stopped, cause = (
            (f"paused ({controls.pause.value})", "paused")
            if paused
            else ("dry-run", "dry_run")
            if controls.dry_run
            else (f"{process} is suspended on the group (SuspendedProcesses)", "suspended")
        )
        return replace(
            decision,
            outcome=Outcome.SKIPPED,
            action=action,
            previous=showing,
            desired=showing,
            skip_cause=cause,
            reason=f"{stopped}: would have put the committed {target} in place (the group shows "
            f"{showing}); {decision.reason}",
        )
    return replace(
        decision,
        outcome=Outcome.APPLIED,
        action=action,
        previous=showing,
        desired=target,
        skip_cause=None,
        reason=f"{decision.reason}; the group shows {showing}: putting the committed {target} in place",
    )


def _take_over_commit(
    group: str, adapters: Adapters, trigger_id: str | None, placed: int, saved_version: int
) -> dict[str, Any]:
    """After putting another trigger's commit in place: the state names this trigger as its maker, so
    that trigger's retry, finding the change in the group, does not audit it `applied` a second time
    (its stashed record once was, for a SetDesiredCapacity this one made). Only if nobody wrote the
    state since our save: a newer decision's commit is left as it is."""
    if trigger_id is None:
        return {}
    try:
        latest = adapters.store.load_memory(group)
        if latest.version != saved_version or latest.committed_desired != placed:
            return {}
        adapters.store.save_memory(group, replace(latest, committed_by=trigger_id), saved_version)
        return {}
    except (AwsCallError, ConcurrentUpdateError, DamagedItemError) as error:
        return {"take_over_error": str(error)}


def _put_in_place_by_another(
    group: str, pending: Mapping[str, Any], trigger_id: str, adapters: Adapters
) -> str | None:
    """Which decision put a stashed change in place, when the state says another trigger did (it
    took the commit over, `_take_over_commit`): then that one audited it. None: nothing says so."""
    try:
        latest = adapters.store.load_memory(group)
    except (AwsCallError, DamagedItemError):
        return None
    by = latest.committed_by
    if by is None or by == trigger_id or latest.committed_desired != pending.get("new_desired"):
        return None
    if latest.committed_from != pending.get("previous_desired"):
        return None
    return by


def _launched_now(memory: ScalerMemory, decided_at: datetime, clock: datetime) -> ScalerMemory:
    """`memory` of a capacity change decided at `decided_at` (the trigger's time), with its commit, and
    its launch and scale-out (or its scale-in step) if it made them, at `clock` (when it is applied)."""
    launches = tuple(
        replace(launch, at=clock) if launch.at == decided_at else launch for launch in memory.launches
    )
    scaled_out = clock if memory.last_scale_out_at == decided_at else memory.last_scale_out_at
    scaled_in = clock if memory.last_scale_in_at == decided_at else memory.last_scale_in_at
    return replace(
        memory,
        committed_at=clock,
        launches=launches,
        last_scale_out_at=scaled_out,
        last_scale_in_at=scaled_in,
    )


def _noticed_outside(
    group: str, change: OutsideChange | None, memory: ScalerMemory, adapters: Adapters, trigger_id: str | None
) -> tuple[dict[str, Any], ScalerMemory]:
    """The audit notes of another writer's change, and the memory to decide from. Noticed now: decide
    from the group's real capacity and keep it as the commit (noticed once, by the decision whose save
    wins; a loser re-reads and finds it adopted). Or noticed by this trigger's earlier attempt, which
    saved the adoption and died before its record was stashed or written: the group no longer looks
    changed, so the notes come from the state item."""
    if change is not None:
        outside = _outside_notes(group, change, memory, adapters)
        return outside, change.adopted(memory, landed="commit_not_landed" not in outside)
    if trigger_id is not None and memory.outside_noticed_by == trigger_id and memory.outside_notes_json:
        return json.loads(memory.outside_notes_json), memory
    return {}, memory


def _noticing(decision: Decision, trigger_id: str | None, outside: dict[str, Any]) -> Decision:
    """The decision whose state item keeps the notes of the outside change it adopted, for its own
    trigger's retry; an item that kept an earlier trigger's notes drops them."""
    by, notes = (trigger_id, json.dumps(outside, default=str)) if outside and trigger_id else (None, None)
    memory = decision.memory
    if (memory.outside_noticed_by, memory.outside_notes_json) == (by, notes):
        return decision
    return replace(decision, memory=replace(memory, outside_noticed_by=by, outside_notes_json=notes))


def _committed_not_visible(snapshot: GroupSnapshot, actual: GroupSnapshot) -> dict[str, Any]:
    """The audit note of a decision that started from a commit the group did not show yet."""
    if snapshot is actual:
        return {}
    return {
        "committed_not_visible": (
            f"the group showed desired {actual.size.desired}; a decision committed {snapshot.size.desired} "
            "moments before (its SetDesiredCapacity still in flight), so that is where this one starts"
        )
    }


def _stash_adopted(
    stash: Callable[[Decision, GroupSnapshot, Controls, dict[str, Any]], None],
    decision: Decision,
    snapshot: GroupSnapshot,
    controls: Controls,
    notes: dict[str, Any],
) -> None:
    """Stash the record of a decision that adopted another writer's change (nothing to apply): once
    saved, the state item no longer shows the change, so only this record can name it to a retry."""
    try:
        stash(decision, snapshot, controls, notes)
    except AwsCallError as error:
        # This attempt's own record still names the change; only a retry after a failed audit write
        # as well would lose it.
        logger.warning("could not stash the record naming an outside change: %s", error)


def _outside_notes(
    group: str, change: OutsideChange, memory: ScalerMemory, adapters: Adapters
) -> dict[str, Any]:
    """The audit field naming another writer's change (`other_writer`), or why it is none: a
    scheduled action's (`scheduled_change`), or a commit of ours whose apply never landed
    (`commit_not_landed`). Best-effort lookups (the trigger's claim, the group's scaling activities)
    never fail the decision."""
    when = {
        "before": change.before,
        "after": change.after,
        "committed_at": change.committed_at.isoformat(),
        "noticed_at": change.noticed_at.isoformat(),
    }
    # An unreadable claim reads as not done: the cautious reading, a change of ours that never landed.
    # A commit older than a claim is kept was applied and its attempt over long ago (a commit that never
    # landed is noticed by the next decision, minutes later): its claim gone, the change is another's.
    recent = change.noticed_at - change.committed_at < CLAIMS_KEPT
    if change.reverts_commit and recent and not _commit_done(group, memory, adapters):
        return {
            "commit_not_landed": {
                **when,
                "trigger": memory.committed_by,
                "reason": f"the group still shows {change.after}, its desired capacity before this "
                f"commit of {change.before}, and that trigger never completed: its SetDesiredCapacity "
                "did not land; deciding from the group's real capacity",
            }
        }
    try:
        writer, cause = attribute(change, adapters.fleet.scaling_activities(group, change.committed_at))
    except Exception as error:  # DescribeScalingActivities is a courtesy: moto and IAM may refuse it
        logger.warning("%s: no scaling activities to name the writer: %s", group, error)
        writer, cause = "unknown", None
    field = "scheduled_change" if writer == "scheduled_action" else "other_writer"
    return {field: {**when, "writer": writer, "cause": cause}}


def _commit_done(group: str, memory: ScalerMemory, adapters: Adapters) -> bool:
    """Whether the latest commit's own attempt has finished, so that nothing of ours is still landing:
    an adopted change (no trigger) applies nothing; an unreadable claim is the cautious reading, not
    done."""
    if memory.committed_by is None:
        return True
    try:
        return adapters.store.trigger_done(memory.committed_by)
    except Exception as error:
        logger.warning("%s: could not read claim %s: %s", group, memory.committed_by, error)
        return False


def _in_flight(memory: ScalerMemory, trigger_id: str | None, clock: datetime) -> bool:
    """Whether the committed decision's own attempt may still be applying it: committed by another
    trigger less than an attempt's lease ago (its invocation's time, the Lambda's 60 s timeout, plus a
    margin). A throttled SetDesiredCapacity is tried again for as long as its invocation has time (tens
    of seconds at doors open): taken for abandoned after a fixed 30 s, it was applied twice."""
    at = memory.committed_at
    return at is not None and memory.last_trigger_id != trigger_id and clock - at < APPLY_IN_FLIGHT


def _target(decision: Decision, snapshot: GroupSnapshot, actual: GroupSnapshot) -> int:
    """The desired capacity this decision wants in place: its own when it applies or holds; the
    committed one it started from when it held for a reason that is no veto (no data, the period's
    one decision, a stale trigger); the group's own when the kill switch or dry-run stopped it."""
    if decision.outcome in (Outcome.APPLIED, Outcome.UNCHANGED):
        return decision.desired
    if decision.skip_cause in ("no_data", "rate_limited", "stale"):
        return snapshot.size.desired
    return actual.size.desired


def _with_committed(actual: GroupSnapshot, memory: ScalerMemory, clock: datetime) -> GroupSnapshot:
    """The group as the latest committed decision left it, if that decision is too recent to show, within
    the group's bounds as they are now (a MaxSize lowered since the commit, by a restore or a person,
    holds desired under it: the commit put back above it would be refused by AWS)."""
    committed, at = memory.committed_desired, memory.committed_at
    if committed is not None:
        committed = within_bounds(committed, actual)
    if committed is None or at is None or committed == actual.size.desired or not (clock - APPLY_GRACE <= at):
        return actual
    return replace(actual, size=replace(actual.size, desired=committed))


def suspended_says(process: str) -> str:
    """Why a change of desired capacity that needs `process` ("Launch", "Terminate") is not made."""
    does = "launches" if process == "Launch" else "terminates"
    return (
        f"{process} is suspended on the group (SuspendedProcesses), so it {does} nothing until it is "
        f"resumed (aws autoscaling resume-processes --scaling-processes {process})"
    )


def _put_back_stopped(newest: int, landed: int, current: GroupSnapshot, adapters: Adapters) -> str | None:
    """Why the newer decision's capacity is not put back behind our late apply; None: it may be. A
    put-back is an Auto Scaling call like any other, so it is stopped as a decision's change is: by a
    process it needs suspended on the group, read again (AWS accepts the change and does nothing with
    it; said as done, a put-back under a suspended Launch read as on its way to capacity that never
    came): `current`, the group described just before; or by the kill switch, read again."""
    action = ScalingAction.SCALE_OUT if newest > landed else ScalingAction.SCALE_IN
    process = SUSPENDED_BLOCKS[action]
    if process in current.suspended:
        return f"the newer decision's {newest} not put back: {suspended_says(process)}"
    pause = adapters.store.load_pause(current.name)
    if pause.blocks(action):
        return f"the newer decision's {newest} not put back: paused ({pause.value})"
    return None


def _settle(group: str, adapters: Adapters, applied: int, saved_version: int) -> dict[str, Any]:
    """After our SetDesiredCapacity: if a newer decision committed meanwhile, ours may have landed
    after theirs and moved capacity backwards; put the newest committed capacity back, unless a process
    it needs is suspended or the kill switch came on (`_put_back_stopped`). The record
    says what was put back (`settled_to`: it once said so only after three rounds) or why not."""
    version = saved_version
    settled: dict[str, Any] = {}
    try:
        for _ in range(_SETTLE_ROUNDS):
            latest = adapters.store.load_memory(group)
            newest = latest.committed_desired
            if latest.version == version or newest is None or newest == applied:
                break
            stopped = _put_back_stopped(newest, applied, adapters.fleet.describe(group), adapters)
            if stopped is not None:
                return {**settled, "settle_skipped": stopped}
            logger.warning(
                "%s: a newer decision committed %s after ours (%s): putting it back", group, newest, applied
            )
            adapters.fleet.set_desired_capacity(group, newest)
            applied, version = newest, latest.version
            settled = {"settled_to": applied}
        return settled
    except (AwsCallError, DamagedItemError, GroupNotFoundError) as error:
        return {**settled, "settle_error": str(error)}


def _settle_said(notes: Mapping[str, Any]) -> str | None:
    """Where `_settle` left the group after a newer decision committed while ours was applied."""
    said = []
    if "settled_to" in notes:
        said.append(
            f"a newer decision committed {notes['settled_to']} meanwhile: {notes['settled_to']} put back"
        )
    if "settle_skipped" in notes:
        said.append(str(notes["settle_skipped"]))
    if "settle_error" in notes:
        said.append(f"not known whether a newer decision committed meanwhile: {notes['settle_error']}")
    return "; ".join(said) or None


def _reading(reading: Reading) -> dict[str, Any]:
    fields = flat_dict(reading)
    if not reading.unanswered:
        del fields["unanswered"]  # said only where it is so
    if reading.period_start is None:
        del fields["period_start"]
    else:
        fields["period_start"] = reading.period_start.isoformat()
    return fields


def _inputs(
    readings: Sequence[Reading], snapshot: GroupSnapshot | None, controls: Controls
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "readings": [_reading(r) for r in readings],
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


_WRITERS = {
    "set_desired_capacity": "SetDesiredCapacity (the console, the CLI or another tool)",
    "update_auto_scaling_group": "UpdateAutoScalingGroup (the console, or a deploy setting DesiredCapacity)",
    "scaling_policy": "a scaling policy attached to the group",
    "unknown": "not named (DescribeScalingActivities showed no matching activity)",
}


@dataclass(frozen=True)
class _Telling:
    """One message to people about one audit record: its outcome, or another writer's change it noticed.
    `key` names it (a digest of its record's key and its kind) so an attempt that takes a claim over
    tells only what the attempts before it could not."""

    key: str
    group: str
    subject: str
    message: str
    tail: str = ""


def _telling_key(record: Mapping[str, Any], what: str) -> str:
    named = [str(record.get("group") or ""), str(record.get("at")), str(record.get("delivery_id")), what]
    return hashlib.sha256(json.dumps(named).encode()).hexdigest()[:20]


def _other_writer_telling(record: Mapping[str, Any]) -> _Telling | None:
    """Someone else changed the group: told once, by the decision that noticed it (it wrote the audit
    record and adopted the change, so the next decision does not notice it again)."""
    change = record.get("other_writer")
    if not isinstance(change, dict):
        return None
    group = record.get("group") or "-"
    message = (
        f"Auto Scaling group {group}: desired capacity is {change['after']}, but Surgeguard had left it at "
        f"{change['before']} (committed {change['committed_at']}). Noticed {change['noticed_at']} by the "
        f"next decision, which starts from {change['after']}. Changed by: "
        f"{_WRITERS.get(change['writer'], change['writer'])}."
        + (f" AWS says: {change['cause']}" if change.get("cause") else "")
        + f" That decision: {record['outcome']}: {record['reason']}"
    )
    return _Telling(
        _telling_key(record, "other_writer"),
        group,
        f"Surgeguard: {group}",
        message,
        f" changed outside Surgeguard {change['before']} -> {change['after']}",
    )


def _told_anyway(record: Mapping[str, Any]) -> bool:
    """A change a suspended Auto Scaling process stopped: people suspended it and may have forgotten
    (a pre-warm that launches nothing before a sale). Once per alarm or phase; the per-minute
    re-evaluation that meets it again every minute says so in its records only."""
    trigger = record.get("trigger") or {}
    return record.get("skip_cause") == "suspended" and trigger.get("source") != "reevaluate"


def _outcome_telling(record: Mapping[str, Any], outcomes: frozenset[Outcome]) -> _Telling | None:
    if not (record["outcome"] in {o.value for o in outcomes} or _told_anyway(record)):
        return None
    # A record of a trigger naming no known group has none: said so, never "None".
    subject = f"Surgeguard {record['outcome']}: {record.get('group') or 'no known group'}"
    change = ""
    if record["outcome"] == Outcome.APPLIED.value and "new_desired" in record:
        change = f" {record.get('previous_desired')} -> {record['new_desired']}"
    return _Telling(
        _telling_key(record, "outcome"), record.get("group") or "-", subject, record["reason"], change
    )


def _vanished(record: Mapping[str, Any]) -> bool:
    """A configured group Auto Scaling does not find (deleted, renamed, another account or region).

    Its record stays `rejected` (no retry can find it), yet unlike every other rejection it is told,
    through the group's failure memory like a standing failure: the group's name comes from our own
    configuration, never from the event, so it says Surgeguard lost a group it is meant to scale (a
    renamed group is scaled by nobody), not that someone sent a bad event. Rejections of what an event
    says stay untold: a forged or hostile event must not be able to fill people's inboxes."""
    return record.get("outcome") == Outcome.REJECTED.value and record.get("reject_cause") == GROUP_NOT_FOUND


def _vanished_telling(record: Mapping[str, Any]) -> _Telling:
    group = record.get("group") or "-"
    message = (
        f"{record['reason']}. Group {group} is in Surgeguard's configuration, but Auto Scaling does not "
        "find it (deleted, renamed, or in another account or region): nothing scales it. Each alarm and "
        "re-evaluation for it is audited `rejected` until it is found again or removed from the "
        "configuration (a renamed group must be configured under its new name)."
    )
    return _Telling(_telling_key(record, "outcome"), group, f"Surgeguard rejected: {group}", message)


def _tellings(record: Mapping[str, Any], outcomes: frozenset[Outcome]) -> list[_Telling]:
    return [
        telling
        for telling in (_outcome_telling(record, outcomes), _other_writer_telling(record))
        if telling is not None
    ]


def _tell(adapters: Adapters, tellings: Sequence[_Telling]) -> list[tuple[_Telling, Exception]]:
    """Publish each; returns those that failed, with why. One failing does not keep the others
    (another group's, in a re-evaluation) from being told."""
    failed: list[tuple[_Telling, Exception]] = []
    if adapters.notifier is None:
        return failed
    for telling in tellings:
        try:
            adapters.notifier.publish(telling.group, telling.subject, telling.message, telling.tail)
        except Exception as error:  # an odd SDK exception too: the others are told all the same
            logger.error("could not tell people %r: %s", telling.subject, error)
            failed.append((telling, error))
    return failed


@dataclass(frozen=True)
class _FailureBook:
    """The alarm Lambda's groups' failure memory, as one attempt keeps it: its clock, and until when a
    FAILING item it writes is kept (as long as an audit record: a failure that stood unseen for weeks
    is still ended by a recovery)."""

    now: datetime
    expires_epoch: int


@dataclass(frozen=True)
class _Remembered:
    """One record's part in its group's failure memory: what people are told (None: they know), and
    what the memory becomes once that went out (`told`; None: the group is decided again) or did not
    (`untold`; None: nothing to save)."""

    group: str
    read: FailureMemory
    telling: _Telling | None
    recovery: bool
    told: StandingFailure | None
    untold: StandingFailure | None


def _remember(
    adapters: Adapters, record: Mapping[str, Any], telling: _Telling | None, book: _FailureBook
) -> _Remembered | None:
    """Where the group's failure memory changes what people hear of `record` (its outcome `telling`):
    a failure they know of (same cause, told within FAILURE_REMINDER) is held back and counted; one that
    is news is told, saying how it stands; a decision of a group that was failing adds its recovery.
    None where the memory has nothing to say, or cannot be read: a failure is then told as it is (twice
    rather than never), and a recovery waits for the group's next decision."""
    group = record.get("group")
    failed = record.get("outcome") == Outcome.FAILED.value or _vanished(record)
    if not isinstance(group, str) or (failed and telling is None) or not (failed or shows_recovery(record)):
        return None
    try:
        read = adapters.store.load_failing(group)
    except (AwsCallError, DamagedItemError) as error:
        logger.warning("%s: could not read what people were told of its failures: %s", group, error)
        return None
    standing = read.standing
    if not failed:
        if standing is None:
            return None
        recovered = _Telling(
            _telling_key(record, "recovered"),
            group,
            f"Surgeguard recovered: {group}",
            recovery_message(group, standing, book.now, record),
        )
        return _Remembered(group, read, recovered, True, None, None)
    assert telling is not None
    cause = failure_cause(str(record.get("error") or record.get("reason") or ""))
    news = failure_news(standing, cause, book.now)
    counted = None if standing is None else after_failure(standing, cause, book.now, told=False)
    if news is None:
        logger.info(
            "%s: people know of its failure (%s) since %s", group, cause, standing and standing.told_at
        )
        return _Remembered(group, read, None, False, None, counted)
    told = replace(telling, message=failure_message(telling.message, news, standing, cause))
    return _Remembered(group, read, told, False, after_failure(standing, cause, book.now, told=True), counted)


def _keep_failing(
    adapters: Adapters, entry: _Remembered, book: _FailureBook | None, *, went_out: bool
) -> None:
    """Save what the group's failure memory becomes, best-effort: written after the Publish, so a save
    that fails (or an attempt that dies first) tells again rather than never."""
    if book is None or not (went_out or entry.untold is not None):
        return
    standing = entry.told if went_out else entry.untold
    try:
        adapters.store.save_failing(entry.group, standing, entry.read, book.expires_epoch)
    except (AwsCallError, ConcurrentUpdateError) as error:
        logger.warning("%s: could not keep what people were told of its failures: %s", entry.group, error)


def _notify(
    adapters: Adapters,
    record: dict[str, Any],
    outcomes: frozenset[Outcome] = frozenset({Outcome.APPLIED, Outcome.FAILED}),
) -> None:
    """Tell people of a record no claim carries on to a retry (a failure, raised for the retry that
    then writes and tells its own record; the boundary's): a failed Publish is logged."""
    telling = _outcome_telling(record, outcomes)
    if telling is not None:
        _tell(adapters, [telling])
