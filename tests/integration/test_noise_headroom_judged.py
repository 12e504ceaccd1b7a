"""The noise headroom, judged (docs/benchmark-history.md, "Noise headroom, judged"), through the real
handlers under moto:
the forecaster replays the last week of RequestCount, writes its verdict into the FORECAST item, and
the alarm path stands the noise headroom down, at the lower target, while that item is in effect."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.errors import AwsCallError
from surgeguard.config import ScalerConfig
from surgeguard.domain.forecast import ForecastState
from surgeguard.domain.headroom import HeadroomVerdict

from .alarm_events import SNS, alarm_event
from .support import (
    CONFIG,
    T0,
    alarm_for,
    configure_web,
    desired,
    put_request_counts,
    set_desired,
)
from .test_forecast import forecast_item
from .test_forecast import run as forecast_run

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]
HISTORY_DAYS = 8
SHARE = 0.8
NOISE = {"sigmas": 3, "window_minutes": 60, "max_share_of_mean": 1.25, "target_share_if_unpaid": SHARE}


def _configure(**fields: Any) -> None:
    configure_web(
        noise_headroom=NOISE,
        forecast={"mode": "forecast_only", "history_days": HISTORY_DAYS, "horizon_hours": 1},
        **fields,
    )


# A two-hour sale three days before T0 (UTC wall clock): its minutes are the sale's, not the noise's.
PAST_SALE = {
    "name": "flash-sale",
    "start": (T0 - timedelta(days=3)).replace(tzinfo=None).isoformat(),
    "end": (T0 - timedelta(days=3, hours=-2)).replace(tzinfo=None).isoformat(),
    "timezone": "UTC",
    "peak_multiplier": 3,
}


def run(when: datetime = T0) -> None:
    """One forecaster run. Eight days of history take moto tens of seconds to serve on a busy machine:
    the test gives the invocation time to spare (the deadline guard has its own tests)."""
    forecast_run(scheduled_time=when.strftime("%Y-%m-%dT%H:%M:%SZ"), remaining_millis=600_000)


def _random_walk_history() -> None:
    """Eight days of 5-minute counts up to T0 whose log is a random walk held near 8,000 a minute
    (AAPL's tweets, scaled to web's 1,000 per instance): the last count is the best guess of the next."""
    rng = random.Random(7)
    center = math.log(8000.0)
    level, minutes = center, []
    for _ in range(HISTORY_DAYS * 1440 // 5):
        level += rng.gauss(0, 0.45) - 0.05 * (level - center)
        minutes.extend([math.exp(level)] * 5)
    put_request_counts((T0 - timedelta(minutes=len(minutes) - i), v) for i, v in enumerate(minutes))


def _scale_out(invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], minute: int) -> dict[str, Any]:
    """web's CPU at 60 % the minute before, then its scale-out alarm: the decision's audit record."""
    cpu_metric(60.0, T0 + timedelta(minutes=minute - 1))
    when = T0 + timedelta(minutes=minute)
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "out"), when, metric="CPUUtilization"))
    return audit("web")[-1]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_random_walk_stands_the_noise_headroom_down_and_the_target_carries_the_headroom(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN web judged daily, eight days of a random walk in its RequestCount, and a sale in them
    _configure(events=[PAST_SALE])
    _random_walk_history()
    # WHEN the forecaster runs
    run()
    (judged,) = audit("web")
    # THEN its verdict is in the record and the item: the noise headroom does not pay
    verdict = judged["forecast"]["headroom"]
    assert verdict["noise_pays"] is False, verdict
    assert verdict["noise_dropped_pct"] > verdict["target_dropped_pct"] and verdict["minutes"] >= 7 * 1440
    assert "stands down" in judged["reason"] and f"aim at {SHARE:g} of their targets" in judged["reason"]
    # The sale's minutes, from its pre-warm until its max is restored, are left out of the replay.
    left_out = int(judged["reason"].split("the replay left out ")[1].split(" minutes")[0])
    assert 120 < left_out < 24 * 60 and verdict["minutes"] <= HISTORY_DAYS * 1440 - left_out
    item = forecast_item()
    assert item is not None and item["headroom"]["M"]["judged_at"]["S"] == T0.isoformat()
    # WHEN web's CPU reads 60 % on 10 instances and its scale-out alarm fires
    set_desired("web", 10)
    record = _scale_out(invoke, audit, cpu_metric, 5)
    # THEN the CPU signal sizes at 0.8 x its 50 % target: 10 x 60 / 40 = 15 (at 50 % it would be 12)
    candidates = {c["rule"]: c["needed"] for c in record["candidates"]}
    assert candidates["cpu"] == 15
    assert record["noise"]["target_share"] == SHARE and "does not pay" in record["noise"]["stood_down"]
    assert "floor:noise" not in candidates and desired() == 15
    # AND the next hour's run (the same history, an hour on) keeps the verdict and its time: judged daily
    run(T0 + timedelta(hours=1))
    item = forecast_item()
    assert item is not None and item["headroom"]["M"]["judged_at"]["S"] == T0.isoformat()
    assert item["issued_at"]["S"] == (T0 + timedelta(hours=1)).isoformat()
    # AND a last item that cannot be read is judged afresh, and the run still writes its forecast
    readable = AuditStore.load_forecast
    monkeypatch.setattr(AuditStore, "load_forecast", _throttled)
    run(T0 + timedelta(hours=2))
    monkeypatch.setattr(AuditStore, "load_forecast", readable)
    item = forecast_item()
    assert (
        item is not None and item["headroom"]["M"]["judged_at"]["S"] == (T0 + timedelta(hours=2)).isoformat()
    )
    assert audit("web")[-1]["outcome"] != "failed"


def _throttled(self: AuditStore, group: str) -> None:
    raise AwsCallError("GetItem", "ThrottlingException", "Rate exceeded")


def _unpaid_item(issued_minutes_ago: int) -> None:
    issued = T0 - timedelta(minutes=issued_minutes_ago)
    verdict = HeadroomVerdict(issued, 7 * 1440, 6.9, 6.3, 0.76)
    AuditStore(os.environ["TABLE_NAME"]).save_forecast(
        "web",
        ForecastState("forecast_only", issued, issued + timedelta(hours=1), 15, (4,) * 4, 0.9, 1.2, None),
        credible_until=T0,
    )
    store = AuditStore(os.environ["TABLE_NAME"])
    state = store.load_forecast("web")
    assert state is not None and state.headroom is None  # an item from before judging has no verdict
    store.save_forecast("web", ForecastState(**{**state.__dict__, "headroom": verdict}), credible_until=T0)
    loaded = store.load_forecast("web")
    assert loaded is not None and loaded.headroom == verdict


@pytest.mark.usefixtures("config_file", "alarms")
def test_an_expired_verdict_leaves_the_configured_noise_headroom_on(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN a verdict that the noise headroom does not pay, in an item whose hour ended (the
    # forecaster stopped writing): the configured headroom is the safe reading
    _configure()
    _unpaid_item(issued_minutes_ago=90)
    set_desired("web", 10)
    record = _scale_out(invoke, audit, cpu_metric, 1)
    assert "stood_down" not in record.get("noise", {})
    assert {c["rule"]: c["needed"] for c in record["candidates"]}["cpu"] == 12  # at the 50 % target
    # AND the same verdict in an item in effect stands it down
    _unpaid_item(issued_minutes_ago=10)
    record = _scale_out(invoke, audit, cpu_metric, 2)
    assert "does not pay" in record["noise"]["stood_down"]
    # 10 serving (the two launched are not yet in service) x 60 % / 40 %
    assert {c["rule"]: c["needed"] for c in record["candidates"]}["cpu"] == 15


def test_judging_needs_the_noise_headroom_on_and_a_forecaster() -> None:
    web = CONFIG["groups"][0]
    with pytest.raises(ValidationError, match="target_share_if_unpaid"):
        ScalerConfig.model_validate({**CONFIG, "groups": [{**web, "noise_headroom": NOISE}]})
    with pytest.raises(ValidationError, match="target_share_if_unpaid"):
        ScalerConfig.model_validate(
            {
                **CONFIG,
                "groups": [
                    {**web, "noise_headroom": {**NOISE, "sigmas": 0}, "forecast": {"mode": "forecast_only"}}
                ],
            }
        )
    with pytest.raises(ValidationError):
        ScalerConfig.model_validate(
            {
                **CONFIG,
                "groups": [
                    {
                        **web,
                        "noise_headroom": {**NOISE, "target_share_if_unpaid": 0.3},
                        "forecast": {"mode": "forecast_only"},
                    }
                ],
            }
        )


@pytest.mark.usefixtures("config_file", "alarms")
@pytest.mark.parametrize(
    "damage",
    [
        {"noise_dropped_pct": {"S": "nan"}},  # how a non-finite float is stored
        {"target_share": {"N": "-1"}},
        {"judged_at": {"S": "yesterday"}},
        {"minutes": {"S": "a week"}},
    ],
)
def test_a_damaged_verdict_leaves_the_noise_headroom_on_and_fails_no_decision(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], damage: dict[str, Any]
) -> None:
    _configure()
    _unpaid_item(issued_minutes_ago=10)
    table = boto3.client("dynamodb")
    item = forecast_item()
    assert item is not None
    item["headroom"]["M"].update(damage)
    table.put_item(TableName=os.environ["TABLE_NAME"], Item=item)
    set_desired("web", 10)
    record = _scale_out(invoke, audit, cpu_metric, 1)
    assert record["outcome"] == "applied" and "malformed" in record["forecast_item"]
    assert "stood_down" not in record.get("noise", {})
    assert {c["rule"]: c["needed"] for c in record["candidates"]}["cpu"] == 12  # at the 50 % target
