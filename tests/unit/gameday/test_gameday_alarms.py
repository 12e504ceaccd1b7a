"""The CloudWatch-like alarm: M of N, notifications on state change only, gaps, SetAlarmState."""

from __future__ import annotations

import math

import pytest

from gameday.alarms import AlarmState, AlarmTransition, Comparison, MetricAlarm


def feed(
    alarm: MetricAlarm, values: list[float | None], first_minute: int = 1
) -> list[AlarmTransition | None]:
    return [alarm.evaluate(value, minute) for minute, value in enumerate(values, start=first_minute)]


def states(transitions: list[AlarmTransition | None]) -> list[str | None]:
    return [None if t is None else t.new_state.value for t in transitions]


def test_needs_n_datapoints_then_notifies_only_on_change() -> None:
    alarm = MetricAlarm("high", "CPUUtilization", 50.0, Comparison.GREATER_THAN, 3)
    assert alarm.state is AlarmState.INSUFFICIENT_DATA
    got = states(feed(alarm, [60, 60, 60, 60, 60, 40, 60, 60, 60]))
    assert got == [None, None, "ALARM", None, None, "OK", None, None, "ALARM"]


def test_transition_carries_old_and_new_state() -> None:
    alarm = MetricAlarm("high", "CPUUtilization", 50.0, Comparison.GREATER_THAN, 1)
    transition = alarm.evaluate(70.0, 12)
    assert transition is not None
    assert (transition.alarm_name, transition.minute) == ("high", 12)
    assert (transition.old_state, transition.new_state) == (AlarmState.INSUFFICIENT_DATA, AlarmState.ALARM)


def test_m_of_n() -> None:
    alarm = MetricAlarm("m-of-n", "CPUUtilization", 50.0, Comparison.GREATER_THAN, 3, datapoints_to_alarm=2)
    got = states(feed(alarm, [60, 40, 40, 60, 40, 60, 40, 40]))
    # windows: -, -, (60 40 40) 1, (40 40 60) 1, (40 60 40) 1, (60 40 60) 2, (40 60 40) 1, (60 40 40) 1
    assert got == [None, None, "OK", None, None, "ALARM", "OK", None]


@pytest.mark.parametrize(
    ("comparison", "value", "breaches"),
    [
        (Comparison.GREATER_THAN, 60.0, False),
        (Comparison.GREATER_THAN_OR_EQUAL, 60.0, True),
        (Comparison.LESS_THAN, 60.0, False),
        (Comparison.LESS_THAN_OR_EQUAL, 60.0, True),
        (Comparison.LESS_THAN, 59.9, True),
    ],
)
def test_comparisons(comparison: Comparison, value: float, breaches: bool) -> None:
    assert MetricAlarm("a", "m", 60.0, comparison, 1).is_breaching(value) is breaches


def test_gap_loses_history_and_needs_n_fresh_datapoints() -> None:
    alarm = MetricAlarm("low", "CPUUtilization", 45.0, Comparison.LESS_THAN, 3)
    assert states(feed(alarm, [10, 10, 10])) == [None, None, "ALARM"]
    assert states(feed(alarm, [None, math.nan], first_minute=4)) == ["INSUFFICIENT_DATA", None]
    assert states(feed(alarm, [10, 10, 10], first_minute=6)) == [None, None, "ALARM"]


def test_set_state_rearms_a_notification() -> None:
    alarm = MetricAlarm("high", "CPUUtilization", 50.0, Comparison.GREATER_THAN, 3)
    assert states(feed(alarm, [60, 60, 60, 60])) == [None, None, "ALARM", None]
    forced = alarm.set_state(AlarmState.OK, 5, "re-arm")
    assert forced is not None and forced.new_state is AlarmState.OK
    assert alarm.state is AlarmState.OK
    again = alarm.evaluate(60.0, 6)
    assert again is not None and (again.old_state, again.new_state) == (AlarmState.OK, AlarmState.ALARM)
    assert alarm.evaluate(60.0, 7) is None


def test_set_state_to_the_current_state_is_silent() -> None:
    alarm = MetricAlarm("high", "CPUUtilization", 50.0, Comparison.GREATER_THAN, 1)
    alarm.evaluate(10.0, 1)
    assert alarm.set_state(AlarmState.OK, 2) is None


def test_rearm_while_no_longer_breaching_settles_without_alarm() -> None:
    alarm = MetricAlarm("high", "CPUUtilization", 50.0, Comparison.GREATER_THAN, 1)
    alarm.evaluate(60.0, 1)
    alarm.set_state(AlarmState.OK, 2)
    assert alarm.evaluate(40.0, 2) is None
    assert alarm.state is AlarmState.OK


def test_invalid_m_of_n_is_rejected() -> None:
    with pytest.raises(ValueError):
        MetricAlarm("a", "m", 1.0, Comparison.GREATER_THAN, 3, datapoints_to_alarm=4)
