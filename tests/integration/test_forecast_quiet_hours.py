"""Hours in which no request flows, through the real forecaster and alarm handler under moto: the ALB
publishes no RequestCount then, so the history has gaps there, every day. The forecast floor for those
hours is none, not the level of the hours beside them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from .alarm_events import SNS, alarm_event
from .support import T0, alarm_for, configure_web, desired, put_request_counts, set_desired
from .test_forecast import forecast_item, run

EVENING = T0 + timedelta(hours=11)  # 23:00 UTC
DAYS = 3


def _scheduled(when: Any) -> str:
    return str(when.strftime("%Y-%m-%dT%H:%M:%SZ"))


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_night_without_requests_is_not_held_at_the_evening_floor(
    invoke: Callable[..., dict[str, Any]], audit: Callable[[str], list[dict[str, Any]]], cpu_metric: Any
) -> None:
    # GIVEN a shop whose nights (00:00-05:59 UTC) see no request, and 6000 a minute otherwise
    configure_web(
        forecast={
            "mode": "floor",
            "history_days": DAYS,
            "horizon_hours": 3,
            "percentile": 0.9,
            "anticipate_bursts": False,
        }
    )
    minutes = (EVENING - timedelta(minutes=DAYS * 1440 - i) for i in range(DAYS * 1440))
    put_request_counts((when, 6000.0) for when in minutes if when.hour >= 6)
    # WHEN the forecaster runs at 23:00: the evening's floor until midnight, none after
    (evening,) = run(scheduled_time=_scheduled(EVENING))["records"]
    assert evening["outcome"] == "applied", evening["reason"]
    assert audit("web")[-1]["forecast"]["steps"] == [6] * 4 + [0] * 8
    # AND at midnight, with nothing ahead in its horizon: it writes that (no floor), rather than
    # leaving the 23:00 item in effect
    midnight = EVENING + timedelta(hours=1)
    (night,) = run(scheduled_time=_scheduled(midnight))["records"]
    assert night["outcome"] == "applied", night["reason"]
    assert audit("web")[-1]["forecast"]["steps"] == [0] * 12
    item = forecast_item()
    assert item is not None and item["issued_at"]["S"] == midnight.isoformat()
    # WHEN web idles at 10 instances at 01:30 and its scale-in alarm fires: no forecast floor holds it
    at = EVENING + timedelta(hours=2, minutes=30)
    set_desired("web", 10)
    for minute in range(5, 0, -1):
        cpu_metric(2.0, at - timedelta(minutes=minute))
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "in"), at, state="ALARM", metric="CPUUtilization"))
    decided = audit("web")[-1]
    assert decided["outcome"] == "applied", decided["reason"]
    assert {c["rule"]: c["needed"] for c in decided["candidates"]}.get("floor:forecast", 0) == 0
    assert desired() < 10
