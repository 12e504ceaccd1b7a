"""One ALARM transition, then a climb that never lets up: re-arming keeps the scaler in the loop.

CloudWatch notifies on state CHANGE only. moto evaluates no alarm, so the test plays CloudWatch: each
minute it publishes the datapoint and, when the metric breaches while the alarm is not in ALARM, moves
the alarm to ALARM and delivers the SNS notification. Without the handler's re-arm (SetAlarmState OK),
the alarm would stay in ALARM after the first minute and nothing more would arrive.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import boto3

from .alarm_events import SNS, alarm_event
from .support import alarm_for, alarm_state, at, desired, set_alarm_state

THRESHOLD = 50.0


def test_a_sustained_climb_keeps_raising_capacity(
    invoke: Callable[..., dict[str, Any]],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
) -> None:
    # GIVEN the real scale-out alarm on the group's CPU, threshold 50, and a group of 2
    name = alarm_for("web", "cpu")
    (alarm,) = boto3.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (THRESHOLD, "GreaterThanThreshold")
    assert alarm_state(name) != "ALARM"
    history = [desired()]
    notifications = 0
    # WHEN CPU climbs 55, 60, ... 100 over ten minutes
    for minute in range(10):
        cpu = 55.0 + 5 * minute
        cpu_metric(cpu, at(60 * minute))
        if cpu > THRESHOLD and alarm_state(name) != "ALARM":  # CloudWatch: notify on change only
            set_alarm_state(name, "ALARM")
            event = alarm_event(
                SNS, name, at(60 * minute + 30), event_id=str(uuid.uuid4()), metric="CPUUtilization"
            )
            invoke(event)
            notifications += 1
            # THEN each decision re-arms the alarm, so the next breaching minute notifies again
            assert alarm_state(name) == "OK", f"minute {minute}: alarm left in ALARM"
        history.append(desired())
    # THEN every minute was heard, and capacity kept rising with the load
    rises = sum(1 for before, after in zip(history, history[1:], strict=False) if after > before)
    assert notifications == 10
    assert rises >= 3, history
    assert history == sorted(history)
    assert history[-1] == 20  # the config max, reached while CPU still climbs
    # AND every delivery left exactly one audit item, none of them failed
    items = audit("web")
    assert len(items) == 10
    assert {i["outcome"] for i in items} <= {"applied", "unchanged"}
