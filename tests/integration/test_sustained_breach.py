"""One ALARM transition, then a climb that never lets up: the per-minute re-evaluation keeps the
scaler in the loop.

CloudWatch notifies on state CHANGE only. moto evaluates no alarm, so the test plays CloudWatch: each
minute it publishes the datapoint and, when the metric breaches while the alarm is not in ALARM, moves
the alarm to ALARM and delivers the SNS notification. The alarm then stays in ALARM (the Lambda does
not re-arm it: AWS documents SetAlarmState as a testing aid, and the alarm would bounce back within
seconds); the stack's `rate(1 minute)` schedule, played here too, re-evaluates every group with an
alarm in ALARM.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3

from .alarm_events import SNS, alarm_event
from .support import T0, alarm_for, alarm_state, at, desired, set_alarm_state

THRESHOLD = 50.0


def reevaluation(minute: int) -> dict[str, str]:
    when = T0 + timedelta(minutes=minute)
    return {
        "action": "reevaluate",
        "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "execution_id": str(uuid.uuid4()),
    }


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
    notifications = invocations = 0
    # WHEN CPU climbs 55, 60, ... 100 over ten minutes
    for minute in range(10):
        cpu = 55.0 + 5 * minute
        cpu_metric(cpu, at(60 * minute))
        if minute:  # the schedule fires at the top of every minute
            invoke(reevaluation(minute))
            invocations += 1
        if cpu > THRESHOLD and alarm_state(name) != "ALARM":  # CloudWatch: notify on change only
            set_alarm_state(name, "ALARM")
            event = alarm_event(
                SNS, name, at(60 * minute + 30), event_id=str(uuid.uuid4()), metric="CPUUtilization"
            )
            invoke(event)
            notifications += 1
            invocations += 1
        history.append(desired())
    # THEN one notification started it, the re-evaluation heard every later minute, and capacity kept
    # rising with the load
    assert notifications == 1
    assert alarm_state(name) == "ALARM"
    rises = sum(1 for before, after in zip(history, history[1:], strict=False) if after > before)
    assert rises >= 3, history
    assert history == sorted(history)
    assert history[-1] == 20  # the config max, reached while CPU still climbs
    # AND every invocation left exactly one audit item, none of them failed: about one per minute
    items = audit("web")
    assert len(items) == invocations == 10
    # (the re-evaluation 30 s after the alarm's own decision is within its period: one decision per
    # group per period, so it is skipped as rate limited)
    outcomes = [(i["outcome"], i.get("skip_cause")) for i in items]
    assert set(outcomes) <= {("applied", None), ("unchanged", None), ("skipped", "rate_limited")}, outcomes
    assert outcomes.count(("skipped", "rate_limited")) == 1
