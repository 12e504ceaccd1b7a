"""Small frozen value types the decision reads and returns; no I/O."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar


class Outcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    REJECTED = "rejected"
    FAILED = "failed"


def attempt_finished(record: Mapping[str, Any]) -> bool:
    """Whether the audit record an attempt wrote under its own record key says that attempt finished its
    work: any outcome but `failed`, or a skip because another attempt was at work (an attempt that met
    its own claim, an SDK retry, once wrote `in_progress` under its own key and did no work)."""
    return record.get("outcome") != Outcome.FAILED.value and record.get("skip_cause") != "in_progress"


class ScalingAction(StrEnum):
    SCALE_OUT = "scale_out"
    SCALE_IN = "scale_in"
    NO_CHANGE = "no_change"


class Pause(StrEnum):
    """Kill switch, per group or global: stop everything or one direction only."""

    NONE = "none"
    ALL = "all"
    OUT = "out"
    IN = "in"

    def blocks(self, action: ScalingAction) -> bool:
        if self is Pause.ALL:
            return action is not ScalingAction.NO_CHANGE
        if self is Pause.OUT:
            return action is ScalingAction.SCALE_OUT
        if self is Pause.IN:
            return action is ScalingAction.SCALE_IN
        return False

    @staticmethod
    def combine(*pauses: Pause) -> Pause:
        kinds = {p for p in pauses if p is not Pause.NONE}
        if not kinds:
            return Pause.NONE
        if Pause.ALL in kinds or kinds == {Pause.OUT, Pause.IN}:
            return Pause.ALL
        return kinds.pop()


@dataclass(frozen=True)
class AsgSize:
    min: int
    desired: int
    max: int


@dataclass(frozen=True)
class GroupSnapshot:
    """What DescribeAutoScalingGroups says now."""

    name: str
    size: AsgSize
    in_service: int
    pending: int
    # Processes suspended on the group (SuspendedProcesses): with Launch suspended a higher desired
    # launches nothing, with Terminate suspended a lower one terminates nothing (AWS accepts both).
    suspended: frozenset[str] = frozenset()
    # In-service capacity protected from scale-in (ProtectedFromScaleIn): desired below it is accepted,
    # but those instances keep running.
    protected: int = 0


@dataclass(frozen=True)
class Launch:
    at: datetime
    count: int


@dataclass(frozen=True)
class Recommendation:
    at: datetime
    desired: int
    # What the load alone asked (the signals, without the floors; None: no signal had a datapoint). A
    # burst anticipated but not come holds scale-in at this only: its floor was never the load's.
    load: int | None = None


@dataclass(frozen=True)
class ScalerMemory:
    """The per-group state item: what earlier decisions left for later ones.

    `version` guards it: a decision is applied only if the item still has the version it read,
    so two Lambdas deciding at once cannot both apply.
    """

    version: int = 0
    last_scale_out_at: datetime | None = None
    last_scale_in_at: datetime | None = None
    last_trigger_at: datetime | None = None
    launches: tuple[Launch, ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    # The desired capacity the latest capacity-changing decision committed, and when: a decision that
    # reads it before that decision's SetDesiredCapacity lands decides from it, not from the lagging
    # group, and a decider whose apply landed late puts it back (no capacity moved backwards).
    committed_desired: int | None = None
    committed_at: datetime | None = None
    # Where that commit started from, and the trigger that made it (None: a capacity another writer set,
    # taken as the truth): a group showing `committed_from` later may be a change of ours that never
    # landed rather than someone else's.
    committed_from: int | None = None
    committed_by: str | None = None
    # The trigger the latest decision answered: its own retry is neither stale nor rate limited.
    last_trigger_id: str | None = None
    # The audit notes (JSON, opaque here) of another writer's change that a trigger's decision adopted,
    # and that trigger: once saved, the item no longer shows the change, so if its attempt dies before
    # its record is stashed or written, its retry names the change from these.
    outside_noticed_by: str | None = None
    outside_notes_json: str | None = None

    def forget_after(self, limit: datetime) -> ScalerMemory:
        """Drop what claims to have happened after `limit` (a forged or skewed future time): a
        poisoned state item must not make every later trigger look stale."""
        # Runs on every trigger and almost never finds anything: skip rebuilding an equal copy.
        if not self._claims_after(limit):
            return self

        def sane(when: datetime | None) -> datetime | None:
            return when if when is None or when <= limit else None

        return replace(
            self,
            last_scale_out_at=sane(self.last_scale_out_at),
            last_scale_in_at=sane(self.last_scale_in_at),
            last_trigger_at=sane(self.last_trigger_at),
            launches=tuple(x for x in self.launches if x.at <= limit),
            recommendations=tuple(x for x in self.recommendations if x.at <= limit),
            committed_at=sane(self.committed_at),
        )

    def _claims_after(self, limit: datetime) -> bool:
        times = (self.last_scale_out_at, self.last_scale_in_at, self.last_trigger_at, self.committed_at)
        return any(when is not None and when > limit for when in times) or any(
            map(operator.gt, map(_AT, (*self.launches, *self.recommendations)), itertools.repeat(limit))
        )

    def floors_forgotten_since(self, since: datetime | None) -> ScalerMemory:
        """The recommendations from `since` on as what the load asked (dropped where no signal had a
        datapoint): what a floor asked that was let go no longer holds a scale-in, now or later. None:
        nothing is forgotten."""
        if since is None:
            return self
        kept: list[Recommendation] = []
        for r in self.recommendations:
            if r.at < since:
                kept.append(r)
            elif r.load is not None:
                kept.append(Recommendation(r.at, r.load, r.load))
        return replace(self, recommendations=tuple(kept))

    def launched_since(self, since: datetime) -> int:
        return sum(launch.count for launch in self.launches if launch.at > since)

    def pruned(self, now: datetime, keep: timedelta, keep_launches: timedelta | None = None) -> ScalerMemory:
        """Without what is older than `keep` (launches: `keep_launches`, when given). A group decided
        every 10 s with a day-long stabilization would keep 8,640 recommendations, more than the state
        item's 400 KB holds: past `RECOMMENDATIONS_PER_MINUTE_FROM` they are kept per minute, the
        highest of each, which is all the stabilization reads (a window then starts within a minute)."""
        recommendations = _after(self.recommendations, now - keep)
        if len(recommendations) > RECOMMENDATIONS_PER_MINUTE_FROM:
            recommendations = _per_minute(recommendations)
        return replace(
            self,
            launches=_after(self.launches, now - (keep if keep_launches is None else keep_launches)),
            recommendations=recommendations,
        )


# Every decision prunes and checks up to two hours of entries (one a minute): at C speed.
_AT = operator.attrgetter("at")
_Timed = TypeVar("_Timed", Launch, Recommendation)


# A day of minutes: more recommendations than this are kept per minute.
RECOMMENDATIONS_PER_MINUTE_FROM = 1440


def _per_minute(entries: tuple[Recommendation, ...]) -> tuple[Recommendation, ...]:
    """One recommendation per minute: at the minute's latest time, its highest desired and load (no
    load: none of its decisions had a datapoint)."""
    merged: list[Recommendation] = []
    for entry in entries:
        last = merged[-1] if merged else None
        if last is not None and last.at.replace(second=0, microsecond=0) == entry.at.replace(
            second=0, microsecond=0
        ):
            loads = [x for x in (last.load, entry.load) if x is not None]
            merged[-1] = Recommendation(
                max(last.at, entry.at), max(last.desired, entry.desired), max(loads) if loads else None
            )
        else:
            merged.append(entry)
    return tuple(merged)


def _after(entries: tuple[_Timed, ...], horizon: datetime) -> tuple[_Timed, ...]:
    """The entries later than `horizon`, in their order."""
    return tuple(itertools.compress(entries, map(operator.gt, map(_AT, entries), itertools.repeat(horizon))))


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def flat_dict(value: Any) -> dict[str, Any]:
    """`dataclasses.asdict` of a dataclass whose fields are plain values (str, numbers, None), without
    its recursion and per-field deep copy: audit records build one per reading, candidate and clamp of
    every trigger, and that copying was a fifth of a simulated month's run time."""
    kind = type(value)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    return {name: getattr(value, name) for name in names}


@dataclass(frozen=True)
class Reading:
    """The latest value of one configured signal (None: no datapoint in the window)."""

    signal_id: str
    kind: str
    value: float | None
    target: float
    # The value is unknown because the read failed (CloudWatch did not answer this signal's query), not
    # because no datapoint exists: the signal abstains, and holds any scale-in, as it might have.
    unanswered: bool = False
    # When the datapoint's period began, where it is longer than the scale-out period (None: taken as
    # that period just ended). EC2's basic monitoring datapoint may have begun 10 minutes back: instances
    # that began serving since did not produce it, and must not multiply it.
    period_start: datetime | None = None


@dataclass(frozen=True)
class Floor:
    """A lower bound from outside the reactive loop (a declared sale, a forecast)."""

    name: str
    capacity: int


@dataclass(frozen=True)
class EventState:
    """What the pre-warm of a sale event decided (one item per group and event in the audit table)."""

    event: str
    target: int
    why: str
    set_at: datetime
    original_max: int | None = None  # the group's MaxSize before a temporary max replaced it
    # The desired capacity when the event's first phase ran: a multiplier without demand history
    # multiplies this, never the capacity an earlier phase already raised.
    base_capacity: int | None = None
    # When its restore put MaxSize back (None: not yet, or skipped: paused, dry-run): a restore done
    # and a MaxSize raised since (by a person) is no raise of this sale's.
    restored_at: datetime | None = None
    # The MaxSize this edition holds: its temporary max, wherever it has an original to put back (0: it
    # holds none, or ran dry; None: the item predates the field). A raise of this sale's still in place
    # reads it, whatever the config says the sale raises to since.
    raised_to: int | None = None
    # When its restore was skipped under the kill switch (None: it was not): `surgeguard resume` does that
    # restore then, once; the restore skipped again under a pause set since says a later time.
    restore_paused_at: datetime | None = None


@dataclass(frozen=True)
class Controls:
    pause: Pause = Pause.NONE
    dry_run: bool = False


@dataclass(frozen=True)
class Candidate:
    """One rule's proposal, kept whether or not it won, so every decision can be explained."""

    rule: str
    value: float | None
    target: float | None
    base: int
    needed: int
    note: str = ""


@dataclass(frozen=True)
class Clamp:
    limit: str
    before: int
    after: int


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    action: ScalingAction
    previous: int
    desired: int
    reason: str
    winning_rule: str | None = None
    candidates: tuple[Candidate, ...] = ()
    clamps: tuple[Clamp, ...] = ()
    skip_cause: str | None = None
    memory: ScalerMemory = field(default_factory=ScalerMemory)

    @property
    def changes_capacity(self) -> bool:
        return self.outcome is Outcome.APPLIED and self.desired != self.previous


@dataclass(frozen=True)
class Claim:
    """A lease on a trigger: ours until `lease_until` (epoch seconds), identified by `token`.

    `pending` is the audit record of an attempt that changed capacity but may not have written it
    (stashed before SetDesiredCapacity): the attempt that takes the lease over finishes its audit.
    """

    trigger_id: str
    token: str
    lease_until: int
    pending: tuple[dict[str, Any], ...] = ()
    # The record keys of every attempt before this one under the claim, oldest first: each may have
    # written some groups' records before it died or failed.
    earlier_records: tuple[dict[str, str], ...] = ()
    # What attempts before this one told people of their records (a digest of each message's record
    # key and kind), kept only where some of it could not be told: the retry tells the rest, and not
    # these again. Digests, not keys: a re-evaluation's 50 long group names would crowd out its stash.
    told: tuple[str, ...] = ()
