"""A breach that lasts costs a bounded number of Lambda invocations (issue 7: no SetAlarmState loop)."""

from __future__ import annotations

import pytest

from gameday.demo import main
from gameday.sustained_breach import BREACH_MINUTES, sustained_breach


def test_a_30_minute_breach_is_heard_every_minute_and_at_most_twice_a_minute() -> None:
    breach = sustained_breach()
    assert len(breach.per_minute) == BREACH_MINUTES == 30
    # At least once a minute: the re-evaluation hears a breach the alarm no longer notifies.
    # At most twice: the transition's deliveries plus the re-evaluation, never a re-arm loop.
    assert all(1 <= calls <= 2 for calls in breach.per_minute), breach.per_minute
    assert breach.total <= BREACH_MINUTES + 2
    assert breach.alarm_deliveries + breach.reevaluations == breach.total
    # One group: each call leaves exactly one audit item, and the breach was acted on.
    assert sum(breach.outcomes.values()) == breach.total
    assert breach.outcomes.get("applied", 0) >= 1


def test_gameday_sustained_breach_prints_only_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sustained-breach"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("sustained breach (30 min): Lambda invocations per minute min 1 / median ")
