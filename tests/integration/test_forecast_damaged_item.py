"""A FORECAST item no forecaster writes (hand-edited in the console, or written by another tool) through
the real handlers under moto: a time without a zone or at datetime's ends, a step of no minutes or of
more than a day. Read as damaged, it holds up
no decision, not the re-evaluation's other groups, and the next forecaster run overwrites it."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest

from .alarm_events import SNS, alarm_event
from .support import T0, alarm_for, configure_web, reevaluation, set_alarm_state
from .test_forecast import (
    BURST_MINUTE,
    _configure_bursts,
    _history,
    _history_with_bursts,
    forecast_item,
    run,
)

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]


def _damage(**fields: dict[str, Any]) -> None:
    item = forecast_item()
    assert item is not None
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE_NAME"], Item={**item, **fields})


def _web_scale_out(invoke: Invoke, audit: Audit, minute: int) -> dict[str, Any]:
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "out"), T0 + timedelta(minutes=minute)))
    return audit("web")[-1]


@pytest.mark.parametrize("field", ["issued_at", "valid_until"])
@pytest.mark.usefixtures("config_file", "alarms")
def test_a_forecast_time_without_a_zone_is_a_damaged_item_that_holds_up_no_decision(
    field: str, invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], make_asg: Callable[..., str]
) -> None:
    # GIVEN web's burst learned at 12:30, then the item's time written without its zone (the same instant)
    make_asg("api")
    _configure_bursts()
    _history_with_bursts(recent_minutes=BURST_MINUTE)
    run()
    item = forecast_item()
    assert item is not None
    naive = item[field]["S"].removesuffix("+00:00")
    assert naive != item[field]["S"]
    _damage(**{field: {"S": naive}})
    # AND api, in the same re-evaluation shard, with its scale-out alarm in ALARM
    set_alarm_state(alarm_for("api", "cpu", "out"), "ALARM")
    cpu_metric(90.0, T0 + timedelta(minutes=BURST_MINUTE - 4), group="api")
    # WHEN the re-evaluation runs in web's burst window: the shard is decided, web's burst unknown
    records = invoke(reevaluation(BURST_MINUTE - 3))["records"]
    assert [r["group"] for r in records] == ["api"] and records[0]["outcome"] != "failed", records
    # WHEN web's scale-out alarm fires: decided, the item named as ignored
    decided = _web_scale_out(invoke, audit, BURST_MINUTE - 2)
    assert decided["outcome"] != "failed", decided["reason"]
    assert "no time zone" in decided["forecast_item"] and field in decided["forecast_item"]
    # AND the next forecaster run overwrites it
    (record,) = run(scheduled_time=(T0 + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))["records"]
    assert record["outcome"] == "applied", record["reason"]
    rewritten = forecast_item()
    assert rewritten is not None and rewritten["issued_at"]["S"] == (T0 + timedelta(minutes=5)).isoformat()


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_headroom_verdict_judged_at_a_time_without_a_zone_does_not_block_every_forecaster_run(
    invoke: Invoke, audit: Audit
) -> None:
    # GIVEN a FORECAST item whose noise-headroom verdict says when it was judged without a zone
    configure_web(
        noise_headroom={
            "sigmas": 3,
            "window_minutes": 60,
            "max_share_of_mean": 1.25,
            "target_share_if_unpaid": 0.8,
        },
        forecast={"mode": "floor", "history_days": 3, "horizon_hours": 1, "percentile": 0.9},
    )
    _history()
    assert run()["records"][0]["outcome"] == "applied"
    judged = (T0 - timedelta(hours=2)).replace(tzinfo=None).isoformat()
    verdict = {
        "judged_at": {"S": judged},
        "minutes": {"N": "10080"},
        "noise_dropped_pct": {"N": "1.0"},
        "target_dropped_pct": {"N": "0.5"},
        "target_share": {"N": "0.8"},
    }
    _damage(headroom={"M": verdict})
    # WHEN web's scale-out alarm fires: decided, the item named as ignored
    decided = _web_scale_out(invoke, audit, 3)
    assert decided["outcome"] != "failed", decided["reason"]
    assert "headroom.judged_at" in decided["forecast_item"] and "no time zone" in decided["forecast_item"]
    # WHEN the forecaster runs again: it judges afresh (here: under a week, not judged) and overwrites it
    later = T0 + timedelta(minutes=5)
    (record,) = run(scheduled_time=later.strftime("%Y-%m-%dT%H:%M:%SZ"))["records"]
    assert record["outcome"] == "applied", record["reason"]
    rewritten = forecast_item()
    assert rewritten is not None and rewritten["issued_at"]["S"] == later.isoformat()
    assert "headroom" not in rewritten


@pytest.mark.parametrize("step", ["0", "-15", "1441", "99999999999999999999"])
@pytest.mark.usefixtures("config_file", "alarms")
def test_a_forecast_step_outside_a_minute_to_a_day_is_a_damaged_item_that_holds_up_no_decision(
    step: str, invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN web's floor written, then its step turned to no minutes, or to more than a day
    configure_web(forecast={"mode": "floor", "history_days": 3, "horizon_hours": 1, "percentile": 0.9})
    _history()
    assert run()["records"][0]["outcome"] == "applied"
    _damage(step_minutes={"N": step})
    # WHEN web's scale-out alarm fires: decided, the item named as ignored (not a division by zero, nor
    # a timedelta of 1e20 minutes overflowing)
    cpu_metric(60.0, T0 + timedelta(minutes=4))
    decided = _web_scale_out(invoke, audit, 5)
    assert decided["outcome"] != "failed", decided["reason"]
    assert "step_minutes" in decided["forecast_item"] and "malformed" in decided["forecast_item"]
    assert "floor:forecast" not in {c["rule"] for c in decided["candidates"]}


@pytest.mark.parametrize(
    ("field", "moment"),
    [("issued_at", "0001-01-01T00:00:00+00:00"), ("valid_until", "9999-12-31T23:59:00+00:00")],
)
@pytest.mark.usefixtures("config_file", "alarms")
def test_a_forecast_time_in_no_year_a_forecaster_writes_is_a_damaged_item_that_holds_up_no_decision(
    field: str, moment: str, invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN web's floor written, then one of its times put at datetime's ends (zoned: it passed as a time)
    configure_web(forecast={"mode": "floor", "history_days": 3, "horizon_hours": 1, "percentile": 0.9})
    _history()
    assert run()["records"][0]["outcome"] == "applied"
    _damage(**{field: {"S": moment}})
    # WHEN web's scale-out alarm fires: decided, the item named as ignored (`issued_at - step` overflowed
    # at year 1, failing every decision of the group while the item stayed)
    cpu_metric(60.0, T0 + timedelta(minutes=4))
    decided = _web_scale_out(invoke, audit, 5)
    assert decided["outcome"] != "failed", decided["reason"]
    assert (
        field in decided["forecast_item"] and "not a time any forecaster writes" in decided["forecast_item"]
    )
    assert "floor:forecast" not in {c["rule"] for c in decided["candidates"]}
    # AND the next forecaster run overwrites it
    later = T0 + timedelta(minutes=5)
    (record,) = run(scheduled_time=later.strftime("%Y-%m-%dT%H:%M:%SZ"))["records"]
    assert record["outcome"] == "applied", record["reason"]
    rewritten = forecast_item()
    assert rewritten is not None and rewritten["issued_at"]["S"] == later.isoformat()
