"""Noise headroom through the real alarm handler under moto: a scale-in keeps what the last 15 minutes'
RequestCount noise calls for (`floor:noise`), and a quiet group still steps in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from surgeguard.config import ScalerConfig

from .alarm_events import SNS, alarm_event
from .support import (
    CONFIG,
    T0,
    alarm_for,
    configure_web,
    desired,
    put_request_counts,
    set_desired,
    write_config,
)

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]
NOW = T0 + timedelta(minutes=15)


def request_counts(values: list[float]) -> None:
    """ALB RequestCount for web's target group, one per minute, ending the minute before NOW."""
    start = NOW - timedelta(minutes=len(values))
    put_request_counts((start + timedelta(minutes=i), value) for i, value in enumerate(values))


@pytest.fixture(autouse=True)
def noise_headroom(config_file: ScalerConfig) -> None:
    """web asks for noise headroom at 3 sigmas (off by default)."""
    configure_web(noise_headroom={"sigmas": 3})


def scale_in(invoke: Invoke, cpu_metric: Callable[..., None]) -> None:
    for minute in range(12, 15):  # three quiet CPU minutes: the scale-in alarm's 3 of 3
        cpu_metric(10.0, T0 + timedelta(minutes=minute))
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "in"), NOW, metric="CPUUtilization"))


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_scale_in_holds_the_capacity_the_noise_calls_for(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN web at 10 instances, CPU at 10 %, and RequestCount swinging 2,000-4,000 a minute
    set_desired("web", 10)
    request_counts([2000.0, 4000.0] * 7 + [2000.0])
    # WHEN its scale-in alarm fires
    scale_in(invoke, cpu_metric)
    # THEN the CPU alone would step in (10 -> 5), but mean 2,933 + 3 x spread 2,097 at 1,000 a minute
    # per instance (web's requests target: it names no requests_per_instance) needs 10: held at 10
    (record,) = audit("web")
    candidates = {c["rule"]: c["needed"] for c in record["candidates"]}
    assert candidates["cpu"] < 10 and candidates["floor:noise"] == 10
    assert record["outcome"] == "unchanged" and record["winning_rule"] == "floor:noise"
    assert record["noise"]["capacity"] == 10 and record["noise"]["spread"] == pytest.approx(2096.7, abs=0.1)
    assert desired() == 10


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_quiet_group_steps_in_and_the_floor_never_raises(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN steady RequestCount (no noise): the floor is what the mean needs, 3 instances
    set_desired("web", 10)
    request_counts([3000.0] * 15)
    scale_in(invoke, cpu_metric)
    (record,) = audit("web")
    assert record["noise"]["capacity"] == 3 and record["noise"]["spread"] == 0
    assert record["outcome"] == "applied" and desired() == 5  # one step of at most 50 %


def test_without_request_counts_the_noise_is_unknown_and_the_signals_decide(
    config_file: ScalerConfig,
    alarms: list[str],
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
) -> None:
    set_desired("web", 10)
    scale_in(invoke, cpu_metric)
    (record,) = audit("web")
    assert "fewer than half" in record["noise"]["unavailable"]
    assert "floor:noise" not in {c["rule"] for c in record["candidates"]}
    assert record["outcome"] == "applied" and desired() == 5


@pytest.mark.usefixtures("alarms")
def test_off_by_default(invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]) -> None:
    write_config(CONFIG)
    set_desired("web", 10)
    request_counts([2000.0, 4000.0] * 7 + [2000.0])
    scale_in(invoke, cpu_metric)
    (record,) = audit("web")
    assert "noise" not in record and desired() == 5


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_scale_out_within_the_noise_band_asks_only_for_the_noise_headroom(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
) -> None:
    # GIVEN web at 4 instances asking for 1 sigma of noise headroom, and for spikes within 3 sigmas
    # of the mean to be met by it; RequestCount swings 2,000-4,000 a minute, the latest 8,000
    # (2,000 per target against 1,000: the requests ask for 8)
    configure_web(noise_headroom={"sigmas": 1, "band_sigmas": 3})
    set_desired("web", 4)
    request_counts([4000.0, 2000.0] * 7 + [8000.0])
    # WHEN CPU reads 95 % against 50 % and the scale-out alarm fires
    for minute in range(12, 15):
        cpu_metric(95.0, T0 + timedelta(minutes=minute))
        requests_metric(2000.0, T0 + timedelta(minutes=minute))
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "out"), NOW, metric="CPUUtilization"))
    # THEN CPU and the requests ask for 8, but 8,000 is within mean 3,333 + 3 x 2,097: noise, met by the
    # mean plus 1 spread at 1,000 a minute per instance, 6
    (record,) = audit("web")
    cpu_candidate = next(c for c in record["candidates"] if c["rule"] == "cpu")
    assert cpu_candidate["needed"] == 6 and "within noise: 6" in cpu_candidate["note"]
    assert record["noise"]["band"] == {"latest": 8000.0, "upper": pytest.approx(9623.4, abs=1), "capacity": 6}
    assert record["outcome"] == "applied" and desired() == 6


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_late_alarm_reads_the_noise_window_at_its_readings_time_not_its_stamp(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    clock: Any,
) -> None:
    # GIVEN web at 4, RequestCount swinging 2,000-4,000 until NOW, then a real surge of 20,000 a minute
    configure_web(noise_headroom={"sigmas": 1, "band_sigmas": 3})
    set_desired("web", 4)
    request_counts([4000.0, 2000.0] * 7 + [4000.0])
    put_request_counts((NOW + timedelta(minutes=i), 20000.0) for i in range(3))
    for minute in range(12, 18):
        cpu_metric(95.0, T0 + timedelta(minutes=minute))
    for minute in range(15, 18):
        requests_metric(5000.0, T0 + timedelta(minutes=minute))
    # WHEN the scale-out alarm stamped NOW is delivered 3 minutes late
    clock.pin(NOW + timedelta(minutes=3))
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "out"), NOW, metric="CPUUtilization"))
    # THEN the surge, 20,000 against the window up to the readings, is above the band: the requests
    # ask for 20, uncapped, and web doubles (read up to the stamp, the band of the noisy minutes held
    # every signal at 6)
    (record,) = audit("web")
    assert "band" not in record["noise"] and record["noise"]["mean"] > 4000
    needs = {c["rule"]: (c["needed"], c.get("note", "")) for c in record["candidates"]}
    assert needs["requests_per_target"][0] == 20 and "within noise" not in needs["requests_per_target"][1]
    assert desired() == 8
