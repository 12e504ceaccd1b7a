"""A group's standing failure (pure): its cause, when it is news, and what its recovery needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from surgeguard.adapters.errors import AwsCallError
from surgeguard.domain.failures import (
    FAILURE_REMINDER,
    News,
    after_failure,
    failure_cause,
    failure_news,
    shows_recovery,
)

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_an_aws_failure_is_its_operation_and_code_whatever_its_message() -> None:
    first = str(AwsCallError("GetMetricData", "InternalFailure", "request 7f3a9c21-11 failed at 12:01"))
    later = str(AwsCallError("GetMetricData", "InternalFailure", "request 0be4d8aa-42 failed at 12:02"))
    assert failure_cause(first) == failure_cause(later) == "GetMetricData failed: InternalFailure"
    throttled = str(AwsCallError("GetMetricData", "Throttling", "Rate exceeded"))
    assert failure_cause(throttled) != failure_cause(first)


def test_other_failures_are_their_text_without_the_numbers_that_vary() -> None:
    one = "state item: version 17 of 2026-11-20T12:01:00 unreadable (deadbeef01234567)"
    two = "state item: version 18 of 2026-11-20T12:02:00 unreadable (0123456789abcdef)"
    assert failure_cause(one) == failure_cause(two)
    assert failure_cause("state item: memory is a JSON list") != failure_cause(one)


def test_a_failure_is_news_when_it_starts_changes_or_stands_past_the_reminder() -> None:
    assert failure_news(None, "a", T) is News.STARTED
    standing = after_failure(None, "a", T, told=True)
    assert failure_news(standing, "a", T + timedelta(minutes=1)) is None
    assert failure_news(standing, "b", T + timedelta(minutes=1)) is News.CHANGED
    assert failure_news(standing, "a", T + FAILURE_REMINDER - timedelta(seconds=1)) is None
    assert failure_news(standing, "a", T + FAILURE_REMINDER) is News.REMINDER


def test_an_untold_failure_is_counted_and_leaves_what_people_heard() -> None:
    standing = after_failure(None, "a", T, told=True)
    held = after_failure(standing, "a", T + timedelta(minutes=1), told=False)
    assert (held.failures, held.told_at, held.since, held.last_failed_at) == (
        2,
        T,
        T,
        T + timedelta(minutes=1),
    )
    changed = after_failure(held, "b", T + timedelta(minutes=2), told=True)
    assert (changed.cause, changed.failures, changed.told_at, changed.since) == (
        "b",
        3,
        T + timedelta(minutes=2),
        T,
    )


def test_only_a_decision_of_the_group_shows_it_recovered() -> None:
    assert shows_recovery({"group": "web", "outcome": "applied"})
    assert shows_recovery({"group": "web", "outcome": "unchanged"})
    assert shows_recovery({"group": "web", "outcome": "skipped", "skip_cause": "rate_limited"})
    assert not shows_recovery({"group": "web", "outcome": "failed"})
    assert not shows_recovery({"group": "web", "outcome": "rejected"})
    assert not shows_recovery({"group": "web", "outcome": "skipped", "skip_cause": "duplicate"})
    assert not shows_recovery({"group": "web", "outcome": "skipped", "skip_cause": "in_progress"})
    assert not shows_recovery({"group": None, "outcome": "skipped", "skip_cause": "quiet"})
