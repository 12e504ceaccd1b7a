"""EC2's basic monitoring (the config's default): one CPUUtilization datapoint per 5 minutes, stamped when
its period began and published after the period ends, so the latest one may have begun 10 minutes
before a decision. The read takes it at its own period, and the decision counts behind it only the
instances that served since it began."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from .alarm_events import SNS, alarm_event
from .support import CONFIG, T0, alarm_for, desired, reevaluation, set_alarm_state, set_desired


@pytest.fixture
def basic_web(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared test config with web on basic monitoring (the config is read per test).
    web = {**copy.deepcopy(CONFIG["groups"][0]), "monitoring": "basic"}
    monkeypatch.setitem(CONFIG, "groups", [web, *CONFIG["groups"][1:]])


@pytest.mark.parametrize("minute", [7, 9])
def test_cpu_five_minutes_old_still_vetoes_a_requests_scale_in(
    basic_web: None,
    config_file: Any,
    alarms: Any,
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    clock: Any,
    minute: int,
) -> None:
    # GIVEN 4 instances at 90 % CPU (the 12:00 datapoint; 12:05's is not published before about 12:10)
    # and few requests per target, the requests scale-in alarm in ALARM
    set_desired("web", 4)
    cpu_metric(90.0, T0)
    for m in range(minute + 1):
        requests_metric(200.0, T0 + timedelta(minutes=m))
    set_alarm_state(alarm_for("web", "requests_per_target", "in"), "ALARM")
    # WHEN the re-evaluation decides at 12:07 or 12:09
    clock.pin(T0 + timedelta(minutes=minute, seconds=1))
    invoke(reevaluation(minute))
    # THEN CPU is read (its 5-minute datapoint, begun at 12:00) and vetoes the scale-in: it once fell out
    # of a 60 s x 8 window, abstained, and the requests signal alone scaled 4 -> 2 at 90 % CPU
    record = audit("web")[-1]
    cpu = next(r for r in record["inputs"]["readings"] if r["signal_id"] == "cpu")
    assert (cpu["value"], cpu["period_start"]) == (90.0, T0.isoformat())
    assert desired() >= 4, record["reason"]


def test_a_five_minute_datapoint_is_not_scaled_for_twice(
    basic_web: None,
    config_file: Any,
    alarms: Any,
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    clock: Any,
) -> None:
    # GIVEN the 12:00 datapoint: 2 instances at 95 % CPU, the only one until 12:05's is published
    cpu_metric(95.0, T0)
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    clock.pin(T0 + timedelta(minutes=5, seconds=31))
    invoke(
        alarm_event(
            SNS, alarm_for("web", "cpu"), T0 + timedelta(minutes=5, seconds=30), metric="CPUUtilization"
        )
    )
    assert desired() == 4  # 2 x 95 / 50, rounded up
    # WHEN the re-evaluations decide again on that same datapoint (warm-up 50 s: the 2 new ones serve)
    for minute in (6, 7, 8):
        clock.pin(T0 + timedelta(minutes=minute, seconds=1))
        invoke(reevaluation(minute))
    # THEN the two launched after it began are not counted behind it: 4 holds (it once went 4 -> 8)
    assert desired() == 4, [r["reason"] for r in audit("web")]
    last = audit("web")[-1]
    cpu = next(c for c in last["candidates"] if c["rule"] == "cpu")
    assert (cpu["base"], cpu["needed"]) == (2, 4)


def test_a_per_minute_signal_beside_it_keeps_its_own_window(
    basic_web: None,
    config_file: Any,
    alarms: Any,
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    clock: Any,
) -> None:
    # GIVEN the last requests at 12:00 (3000 per target) and the fleet idle since (12:30's CPU 5 %)
    set_desired("web", 4)
    requests_metric(3000.0, T0)
    cpu_metric(5.0, T0 + timedelta(minutes=30))
    set_alarm_state(alarm_for("web", "cpu", "in"), "ALARM")
    # WHEN the CPU scale-in alarm fires at 12:36
    clock.pin(T0 + timedelta(minutes=36, seconds=1))
    invoke(
        alarm_event(SNS, alarm_for("web", "cpu", "in"), T0 + timedelta(minutes=36), metric="CPUUtilization")
    )
    # THEN the requests signal reads no requests (its own window is 8 minutes), not 12:00's 3000 as now:
    # inside the basic CPU's 40-minute window it once did, and the scale-in alarm scaled 4 -> 8
    record = audit("web")[-1]
    readings = {r["signal_id"]: r["value"] for r in record["inputs"]["readings"]}
    assert readings == {"cpu": 5.0, "requests_per_target": 0.0}
    assert desired() < 4, record["reason"]
