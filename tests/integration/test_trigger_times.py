"""The time an alarm claims against the Lambda's own clock: a late delivery decides on the datapoints
there are now, not on those of its state change, and a time ahead of the clock (within the skew
allowed) is no time to remember a decision at."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from .alarm_events import SNS, alarm_event
from .support import T0, alarm_for, desired, reevaluation, set_alarm_state, set_desired


def test_a_scale_in_alarm_delivered_ten_minutes_late_reads_the_load_of_now(
    config_file: Any,
    alarms: Any,
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    clock: Any,
) -> None:
    # GIVEN CPU 10 % at 12:00-12:01 (the scale-in alarm's state change at 12:00:30), 48 % since 12:02
    set_desired("web", 8)
    for minute in range(11):
        cpu_metric(10.0 if minute < 2 else 48.0, T0 + timedelta(minutes=minute))
    # WHEN its notification is delivered at 12:10:40 (a retry; no decision in between)
    clock.pin(T0 + timedelta(minutes=10, seconds=40))
    invoke(
        alarm_event(SNS, alarm_for("web", "cpu", "in"), T0 + timedelta(seconds=30), metric="CPUUtilization")
    )
    # THEN it decides on 48 %, and keeps 8 (it once read 10 % and scaled 8 -> 4: about 96 % CPU)
    (record,) = audit("web")
    cpu = next(r for r in record["inputs"]["readings"] if r["signal_id"] == "cpu")
    assert cpu["value"] == 48.0
    assert desired() == 8, record["reason"]


def test_an_alarm_time_ahead_of_the_clock_leaves_no_real_trigger_stale(
    config_file: Any,
    alarms: Any,
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    clock: Any,
) -> None:
    # GIVEN a scale-in alarm stamped 12:04:30 handled at 12:00:10 (a clock 4 minutes apart: within the skew)
    set_desired("web", 8)
    cpu_metric(10.0, T0 - timedelta(minutes=1))
    set_alarm_state(alarm_for("web", "cpu", "in"), "ALARM")
    clock.pin(T0 + timedelta(seconds=10))
    invoke(
        alarm_event(
            SNS, alarm_for("web", "cpu", "in"), T0 + timedelta(minutes=4, seconds=30), metric="CPUUtilization"
        )
    )
    # WHEN a surge follows: the scale-out alarm at 12:01:30, then the re-evaluations
    set_alarm_state(alarm_for("web", "cpu", "in"), "OK")
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    for minute in range(1, 5):
        cpu_metric(95.0, T0 + timedelta(minutes=minute))
    clock.pin(T0 + timedelta(minutes=1, seconds=31))
    invoke(
        alarm_event(
            SNS, alarm_for("web", "cpu"), T0 + timedelta(minutes=1, seconds=30), metric="CPUUtilization"
        )
    )
    # THEN the surge is decided at once (every trigger until 12:04:30 was once skipped as stale)
    surge = audit("web")[-1]
    assert surge["outcome"] == "applied" and surge["new_desired"] > 4, surge
    for minute in (2, 3):
        clock.pin(T0 + timedelta(minutes=minute, seconds=1))
        invoke(reevaluation(minute))
    assert all(r.get("skip_cause") != "stale" for r in audit("web")), [
        r.get("skip_cause") for r in audit("web")
    ]


def test_a_reevaluation_time_ahead_of_the_clock_leaves_no_real_trigger_stale(
    config_file: Any,
    alarms: Any,
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    clock: Any,
) -> None:
    # GIVEN a re-evaluation stamped 12:04:30 handled at 12:00:10 (within the skew), CPU at 60 %
    set_desired("web", 2)
    for minute in range(-2, 1):
        cpu_metric(60.0, T0 + timedelta(minutes=minute))
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    clock.pin(T0 + timedelta(seconds=10))
    early = reevaluation(4)
    early["scheduled_time"] = (T0 + timedelta(minutes=4, seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    invoke(early)
    # WHEN a surge follows: the scale-out alarm at 12:01:30, then the real re-evaluations
    for minute in range(1, 5):
        cpu_metric(95.0, T0 + timedelta(minutes=minute))
    clock.pin(T0 + timedelta(minutes=1, seconds=31))
    invoke(
        alarm_event(
            SNS, alarm_for("web", "cpu"), T0 + timedelta(minutes=1, seconds=30), metric="CPUUtilization"
        )
    )
    for minute in (2, 3):
        clock.pin(T0 + timedelta(minutes=minute, seconds=1))
        invoke(reevaluation(minute))
    # THEN none is stale (each real trigger until 12:04:30 was once skipped so, under 95 % CPU), and
    # the early one's record still names the time it claimed
    assert all(r.get("skip_cause") != "stale" for r in audit("web")), [
        (r["outcome"], r.get("skip_cause")) for r in audit("web")
    ]
    assert audit("web")[0]["trigger"]["scheduled_time"].startswith("2026-11-20T12:04:30")
