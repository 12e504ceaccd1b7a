"""A CloudWatch-like metric alarm: M of N datapoints, state changes only, history lost in gaps."""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable
from dataclasses import dataclass


class AlarmState(enum.StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class Comparison(enum.StrEnum):
    """CloudWatch ComparisonOperator values."""

    GREATER_THAN = "GreaterThanThreshold"
    GREATER_THAN_OR_EQUAL = "GreaterThanOrEqualToThreshold"
    LESS_THAN = "LessThanThreshold"
    LESS_THAN_OR_EQUAL = "LessThanOrEqualToThreshold"


_COMPARE: dict[Comparison, Callable[[float, float], bool]] = {
    Comparison.GREATER_THAN: operator.gt,
    Comparison.GREATER_THAN_OR_EQUAL: operator.ge,
    Comparison.LESS_THAN: operator.lt,
    Comparison.LESS_THAN_OR_EQUAL: operator.le,
}


@dataclass(frozen=True)
class AlarmTransition:
    """What CloudWatch sends to the alarm's actions (SNS/EventBridge) when the state changes."""

    alarm_name: str
    minute: int
    old_state: AlarmState
    new_state: AlarmState
    reason: str


class MetricAlarm:
    """CloudWatch metric alarm with DatapointsToAlarm (M) out of EvaluationPeriods (N), 1-minute period.

    Like CloudWatch it notifies only when its state changes. A missing datapoint (a data gap)
    empties the history: the alarm goes to INSUFFICIENT_DATA and needs N fresh datapoints.
    `set_state` behaves like SetAlarmState: the forced state lasts until the next evaluation,
    which recomputes the state from the datapoints (and notifies again if it differs).
    """

    __slots__ = (
        "name",
        "metric",
        "threshold",
        "comparison",
        "evaluation_periods",
        "datapoints_to_alarm",
        "state",
        "_breaches",
        "_seen",
        "_next_slot",
        "_breaching",
        "_compare",
    )

    def __init__(
        self,
        name: str,
        metric: str,
        threshold: float,
        comparison: Comparison,
        evaluation_periods: int,
        datapoints_to_alarm: int | None = None,
    ) -> None:
        to_alarm = evaluation_periods if datapoints_to_alarm is None else datapoints_to_alarm
        if evaluation_periods < 1 or not 1 <= to_alarm <= evaluation_periods:
            raise ValueError("need 1 <= datapoints_to_alarm <= evaluation_periods")
        self.name = name
        self.metric = metric
        self.threshold = threshold
        self.comparison = comparison
        self.evaluation_periods = evaluation_periods
        self.datapoints_to_alarm = to_alarm
        self.state = AlarmState.INSUFFICIENT_DATA
        # Ring buffer of the last N breach flags: O(1) per datapoint for any N.
        self._breaches = [False] * evaluation_periods
        self._seen = 0
        self._next_slot = 0
        self._breaching = 0
        self._compare = _COMPARE[comparison]

    @property
    def in_alarm(self) -> bool:
        return self.state is AlarmState.ALARM

    def is_breaching(self, value: float) -> bool:
        return self._compare(value, self.threshold)

    def evaluate(self, value: float | None, minute: int) -> AlarmTransition | None:
        """Add the datapoint of the period just ended (None = missing) and return the transition, if any."""
        if value is None or value != value:  # None or NaN: CloudWatch received nothing
            return self._lose_history(minute)
        breach = self._compare(value, self.threshold)
        breaches = self._breaches
        slot = self._next_slot
        periods = self.evaluation_periods
        if self._seen == periods:
            breaching = self._breaching - breaches[slot] + breach
        else:
            self._seen += 1
            breaching = self._breaching + breach
        breaches[slot] = breach
        self._breaching = breaching
        self._next_slot = slot + 1 if slot + 1 < periods else 0
        if self._seen < periods:
            state = AlarmState.INSUFFICIENT_DATA
        elif breaching >= self.datapoints_to_alarm:
            state = AlarmState.ALARM
        else:
            state = AlarmState.OK
        if state is self.state:  # the common case: no allocation, no notification
            return None
        return self._move_to(state, minute, f"{breaching} of the last {self._seen} datapoints breach")

    def set_state(
        self, state: AlarmState, minute: int, reason: str = "SetAlarmState"
    ) -> AlarmTransition | None:
        """SetAlarmState: force a state until the next evaluation (used to re-arm a notification)."""
        return self._move_to(state, minute, reason)

    def _lose_history(self, minute: int) -> AlarmTransition | None:
        self._seen = 0
        self._next_slot = 0
        self._breaching = 0
        return self._move_to(AlarmState.INSUFFICIENT_DATA, minute, "no datapoint")

    def _move_to(self, state: AlarmState, minute: int, reason: str) -> AlarmTransition | None:
        old = self.state
        if state is old:
            return None
        self.state = state
        return AlarmTransition(self.name, minute, old, state, reason)
