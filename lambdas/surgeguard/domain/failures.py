"""A group's standing failure: when people hear that its decisions keep failing, and that they stopped.

The per-minute re-evaluation is a new trigger each minute, so a fault that lasts (a damaged item, an
unreadable answer, an IAM gap) fails every minute. Each failure is audited; people are told when the
failure starts, when its cause changes, when it has stood for `FAILURE_REMINDER` since they last heard,
and once when the group is decided again. No I/O here: the shell reads and saves the memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

# An hour: long enough that a fault standing through a sale's peak is one e-mail an hour rather than
# sixty, short enough that a fault nobody acted on is not forgotten in the inbox (and inside the
# on-call habit of an hourly look). A cause that changes is told at once whatever this says.
FAILURE_REMINDER = timedelta(hours=1)

# AwsCallError's text: "<Operation> failed: <Code>: <message>". The operation and the code are the cause;
# the message carries request ids and values that differ each time.
_AWS_CALL = re.compile(r"^(?P<cause>\w+ failed: [\w.]+):")
# Anything else (a damaged item, an unexpected exception): its text, with numbers and long hex ids
# (request ids, versions, times) masked, so the same fault reads as the same cause each minute.
_VARYING = re.compile(r"\b[0-9a-f]*\d[0-9a-f]{7,}\b|\d+(?:\.\d+)?")
_CAUSE_LENGTH = 200
# Skips that are no decision of the group: another attempt's work, or a group being deleted.
_NOT_DECIDED = frozenset({"duplicate", "in_progress", "group_deleting", "quiet"})


def failure_cause(error: str) -> str:
    """What a failure's error text says went wrong, without what differs from one attempt to the next."""
    matched = _AWS_CALL.match(error)
    if matched is not None:
        return matched["cause"]
    return _VARYING.sub("#", error)[:_CAUSE_LENGTH]


@dataclass(frozen=True)
class StandingFailure:
    """A failure of the group's decisions that people were told of, and that has not ended since."""

    cause: str
    since: datetime  # its first failed attempt
    told_at: datetime  # when people last heard of it
    last_failed_at: datetime
    failures: int  # failed attempts counted since `since` (a lost count only undercounts)


@dataclass(frozen=True)
class FailureMemory:
    """The group's FAILING item: `version` 0 where there is none yet, None where it cannot be read as
    Surgeguard writes it (replaced whole); `standing` None where the group is not failing."""

    version: int | None = 0
    standing: StandingFailure | None = None


class News(StrEnum):
    """Why a failure is told: it started, its cause changed, or it still stands past the reminder."""

    STARTED = "started"
    CHANGED = "changed"
    REMINDER = "reminder"


def failure_news(standing: StandingFailure | None, cause: str, now: datetime) -> News | None:
    """Whether a failure with `cause` at `now` is news to people (None: they know it)."""
    if standing is None:
        return News.STARTED
    if standing.cause != cause:
        return News.CHANGED
    if now - standing.told_at >= FAILURE_REMINDER:
        return News.REMINDER
    return None


def after_failure(
    standing: StandingFailure | None, cause: str, now: datetime, *, told: bool
) -> StandingFailure:
    """The standing failure once one more attempt failed with `cause` at `now` (`told`: people heard)."""
    if standing is None:
        return StandingFailure(cause, now, now, now, 1)
    return StandingFailure(
        cause if told else standing.cause,
        standing.since,
        now if told else standing.told_at,
        now,
        standing.failures + 1,
    )


def failure_message(reason: str, news: News, standing: StandingFailure | None, cause: str) -> str:
    """What people are told of a failure that is news: its reason, and how it stands."""
    if news is News.STARTED or standing is None:
        return (
            f"{reason}\n\nWhile the group's decisions keep failing this way, Surgeguard audits each failed "
            f"attempt and tells you again only if the cause changes, every {_minutes(FAILURE_REMINDER)} "
            "minutes while it stands, and once when the group is decided again."
        )
    attempts = f"{standing.failures + 1} failed attempts since {standing.since.isoformat()}"
    if news is News.CHANGED:
        return f"{reason}\n\nThe failure changed cause (it was: {standing.cause}); {attempts}."
    return f"{reason}\n\nStill failing: {attempts} (last told {standing.told_at.isoformat()})."


def shows_recovery(record: Mapping[str, Any]) -> bool:
    """Whether an audit record is a decision of its group that did not fail: the group is decided again."""
    outcome = record.get("outcome")
    if not record.get("group") or outcome in ("failed", "rejected"):
        return False
    return outcome != "skipped" or record.get("skip_cause") not in _NOT_DECIDED


def recovery_message(group: str, standing: StandingFailure, now: datetime, record: Mapping[str, Any]) -> str:
    """What people are told when a group that was failing is decided again."""
    after, failing = _minutes(now - standing.since), _minutes(standing.last_failed_at - standing.since)
    return (
        f"Auto Scaling group {group}: Surgeguard decides it again (at {now.isoformat()}: "
        f"{record.get('outcome')}: {record.get('reason')}). Recovered after {after} minutes: "
        f"{standing.failures} failed attempts over {failing} minutes, from {standing.since.isoformat()} "
        f"to {standing.last_failed_at.isoformat()} (last cause: {standing.cause})."
    )


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
