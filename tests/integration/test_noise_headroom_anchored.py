"""The noise headroom anchored to AWS (docs/benchmark-history.md, "Noise headroom anchored to AWS"),
through the real handlers
under moto: the forecaster replays target tracking on the group's RequestCount, measures the group's own
minutes from its metrics, writes the day's multiple into the FORECAST item, and the alarm path runs the
noise headroom at that multiple while the item is in effect."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pydantic import ValidationError

from surgeguard import keys
from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.cloudwatch import CloudWatchSignals
from surgeguard.adapters.errors import AwsCallError
from surgeguard.config import ScalerConfig
from surgeguard.domain.anchors import MULTIPLIERS, AnchorVerdict
from surgeguard.domain.forecast import ForecastState
from surgeguard.service import RetryableFailureError

from .alarm_events import SNS, alarm_event
from .support import CONFIG, T0, alarm_for, configure_web, desired, put_request_counts, set_desired
from .test_forecast import forecast_item
from .test_forecast import run as forecast_run

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]
HISTORY_DAYS = 4
NOISE = {"sigmas": 3, "window_minutes": 60, "anchored": True}


def _configure(**fields: Any) -> None:
    configure_web(
        noise_headroom=fields.pop("noise_headroom", NOISE),
        forecast={"mode": "forecast_only", "history_days": HISTORY_DAYS, "horizon_hours": 1},
        **fields,
    )


def run(when: datetime = T0) -> None:
    forecast_run(scheduled_time=when.strftime("%Y-%m-%dT%H:%M:%SZ"), remaining_millis=600_000)


def _group_metrics(points: Iterable[tuple[datetime, float]]) -> None:
    """web's GroupInServiceInstances and GroupTotalInstances (a group that collects its metrics)."""
    data = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "AutoScalingGroupName", "Value": "web"}],
            "Timestamp": when,
            "Value": value,
        }
        for when, value in points
        for name in ("GroupInServiceInstances", "GroupTotalInstances")
    ]
    cloudwatch = boto3.client("cloudwatch")
    for start in range(0, len(data), 1000):
        cloudwatch.put_metric_data(Namespace="AWS/AutoScaling", MetricData=data[start : start + 1000])


def _lean_history(with_group_metrics: bool = True) -> None:
    """Four days up to T0 of about 8,000 requests a minute, served by 8 instances of 1,000 each: the
    group drops the noisy minutes above 8,000, which target tracking at 50 % (16 instances) would not."""
    rng = random.Random(9)
    minutes = [T0 - timedelta(minutes=HISTORY_DAYS * 1440 - i) for i in range(HISTORY_DAYS * 1440)]
    put_request_counts((when, max(0.0, rng.gauss(7600.0, 400.0))) for when in minutes)
    if with_group_metrics:
        _group_metrics((when, 8.0) for when in minutes)


def _failing(operation: str, code: str) -> Callable[..., None]:
    """A stand-in for an adapter call that fails as AWS would, after the SDK's retries."""

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AwsCallError(operation, code, "injected by the test")

    return fail


def _anchor_item(
    judged_hours_ago: float,
    multiplier: float,
    *,
    issued_minutes_ago: int = 10,
    target_pct: float = 50.0,
    at_anchor_target: bool = False,
) -> None:
    """web's FORECAST item, in place of any before it (the store keeps a newer one: a hand write here)."""
    boto3.client("dynamodb").delete_item(TableName=os.environ["TABLE_NAME"], Key=_forecast_key())
    issued = T0 - timedelta(minutes=issued_minutes_ago)
    judged = T0 - timedelta(hours=judged_hours_ago)
    verdict = AnchorVerdict(
        judged,
        4,
        multiplier,
        0.5,
        0.1,
        40_000.0,
        60_000.0,
        ((judged, multiplier),),
        target_pct=target_pct,
        at_anchor_target=at_anchor_target,
    )
    AuditStore(os.environ["TABLE_NAME"]).save_forecast(
        "web",
        ForecastState(
            "forecast_only", issued, issued + timedelta(hours=1), 15, (4,) * 4, 0.9, 1.2, None, anchor=verdict
        ),
        credible_until=T0,
    )


def _forecast_key() -> dict[str, Any]:
    return {keys.PARTITION_KEY: {"S": keys.group_pk("web")}, keys.SORT_KEY: {"S": keys.FORECAST_SORT_KEY}}


@pytest.mark.usefixtures("config_file", "alarms")
def test_the_forecaster_judges_the_group_against_target_tracking_on_its_own_minutes(audit: Audit) -> None:
    # GIVEN web anchored, four days of its requests and of its own 8 instances serving them
    _configure()
    _lean_history()
    # WHEN the forecaster runs
    run()
    (record,) = audit("web")
    # THEN its record has the choice: the group dropped more than target tracking and held half of it,
    # and no multiple of the noise headroom is predicted to drop as little (target tracking drops none)
    anchor = record["forecast"]["anchor"]
    assert record["outcome"] != "failed" and anchor["days"] == HISTORY_DAYS
    assert anchor["own_dropped_pct"] > anchor["anchor_dropped_pct"]
    assert anchor["own_instance_hours"] < anchor["anchor_instance_hours"]
    # 8 instances x 4 days, as the group's metrics say
    assert anchor["own_instance_hours"] == pytest.approx(8 * 24 * HISTORY_DAYS, rel=0.01)
    assert anchor["multiplier"] == 1.0 and "no multiple is predicted to beat it" in record["reason"]
    # AND the item holds it
    item = forecast_item()
    assert item is not None and item["anchor"]["M"]["judged_at"]["S"] == T0.isoformat()
    # AND the next hour's run keeps the choice and its time: judged daily
    run(T0 + timedelta(hours=1))
    item = forecast_item()
    assert item is not None and item["anchor"]["M"]["judged_at"]["S"] == T0.isoformat()
    assert item["issued_at"]["S"] == (T0 + timedelta(hours=1)).isoformat()


@pytest.mark.usefixtures("config_file", "alarms")
def test_without_the_groups_metrics_nothing_is_anchored_and_the_forecast_is_still_written(
    audit: Audit,
) -> None:
    # GIVEN web anchored, its requests, but no group metrics (metrics collection off)
    _configure()
    _lean_history(with_group_metrics=False)
    run()
    (record,) = audit("web")
    assert record["outcome"] != "failed" and "anchor" not in record["forecast"]
    assert "not anchored yet" in record["reason"] and "metrics collection must be on" in record["reason"]
    item = forecast_item()
    assert item is not None and "anchor" not in item


@pytest.mark.usefixtures("config_file", "alarms")
def test_an_unreadable_fleet_history_keeps_a_recent_choice_and_lets_an_old_one_lapse(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN web anchored at 2x a day and a half ago, and its group metrics throttled
    _configure()
    _lean_history(with_group_metrics=False)
    _anchor_item(judged_hours_ago=36, multiplier=2.0)

    monkeypatch.setattr(CloudWatchSignals, "fleet_history", _failing("GetMetricData", "Throttling"))
    # WHEN the forecaster runs
    run()
    # THEN the forecast is written, the 2x stands (the next run tries again), and the reason says so
    record = audit("web")[-1]
    assert record["outcome"] != "failed" and "not anchored this run" in record["reason"]
    assert "the 2x of" in record["reason"]
    item = forecast_item()
    assert item is not None and item["anchor"]["M"]["multiplier"] == {"N": "2.0"}
    # AND a choice judged four days ago lapses to the configured headroom, its history kept: the days
    # it ran at 2x are read at 2x by the next judgement
    _anchor_item(judged_hours_ago=96, multiplier=2.0, issued_minutes_ago=70)
    run(T0 + timedelta(minutes=5))
    assert "lapsed to 1x" in audit("web")[-1]["reason"]
    lapsed = AuditStore(os.environ["TABLE_NAME"]).load_forecast("web")
    assert lapsed is not None and lapsed.anchor is not None and lapsed.anchor.multiplier == 1.0
    assert [m for _, m in lapsed.anchor.history] == [2.0, 1.0]
    # AND a later run that still cannot read the metrics adds nothing to the history
    run(T0 + timedelta(minutes=10))
    again = AuditStore(os.environ["TABLE_NAME"]).load_forecast("web")
    assert again is not None and again.anchor is not None and len(again.anchor.history) == 2


def _scale_in(invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], minute: int) -> dict[str, Any]:
    """web at 10 instances, CPU at 10 %, RequestCount swinging 2,000-2,400 a minute over the last hour;
    its scale-in alarm fires at T0 + `minute`: the decision's audit record."""
    now = T0 + timedelta(minutes=minute)
    put_request_counts((now - timedelta(minutes=60 - i), 2000.0 if i % 2 else 2400.0) for i in range(60))
    for back in range(1, 4):
        cpu_metric(10.0, now - timedelta(minutes=back))
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "in"), now, metric="CPUUtilization"))
    return audit("web")[-1]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_decision_runs_the_noise_headroom_at_the_anchored_multiple_while_the_item_is_in_effect(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN web anchored at 2x, in an item in effect
    _configure()
    _anchor_item(judged_hours_ago=2, multiplier=2.0)
    set_desired("web", 10)
    record = _scale_in(invoke, audit, cpu_metric, 1)
    # THEN the noise floor holds the mean + 6 spreads: 2,200 + 6 x 419 = 4,716 a minute, 5 instances
    noise = record["noise"]
    assert noise["sigmas"] == 6 and noise["anchored"] == 2.0
    assert noise["mean"] == pytest.approx(2200, abs=10) and noise["spread"] == pytest.approx(419.3, abs=1)
    assert noise["capacity"] == 5
    # AND in an item whose hour ended (the forecaster stopped writing), the configured 3 spreads:
    # 2,200 + 3 x 419 = 3,458 a minute, 4 instances
    _anchor_item(judged_hours_ago=2, multiplier=2.0, issued_minutes_ago=200)
    set_desired("web", 10)
    record = _scale_in(invoke, audit, cpu_metric, 200)
    assert record["noise"]["sigmas"] == 3 and "anchored" not in record["noise"]
    assert record["noise"]["capacity"] == 4
    # AND anchored at 0.5x (headroom given back where step scaling is beaten too), half the spreads:
    # 2,200 + 1.5 x 419 = 2,829 a minute, 3 instances
    _anchor_item(judged_hours_ago=2, multiplier=0.5, issued_minutes_ago=-295)
    set_desired("web", 10)
    record = _scale_in(invoke, audit, cpu_metric, 300)
    assert record["noise"]["sigmas"] == 1.5 and record["noise"]["anchored"] == 0.5
    assert record["noise"]["capacity"] == 3


@pytest.mark.usefixtures("config_file", "alarms")
@pytest.mark.parametrize(
    "damage",
    [
        {"multiplier": {"N": "7"}},  # no multiple the check chooses: a hand edit must not hold the max
        {"multiplier": {"N": "0.25"}},  # nor below its leanest: a hand edit must not strip the headroom
        {"own_dropped_pct": {"S": "nan"}},  # how a non-finite float is stored
        {"judged_at": {"S": "2026-11-20T10:00:00"}},  # no zone
        {"history": {"L": [{"L": [{"S": "2026-11-20T10:00:00+00:00"}, {"N": "5"}]}]}},
        {"history": {"S": "yesterday"}},
        {"target_pct": {"N": "500"}},  # no config names it
        {"at_anchor_target": {"BOOL": True}},  # at 2x: only 1x is sent to the anchors' target
        {  # out of time order: the latest choice would be misread
            "history": {
                "L": [
                    {"L": [{"S": "2026-11-20T10:00:00+00:00"}, {"N": "3.0"}]},
                    {"L": [{"S": "2026-11-19T10:00:00+00:00"}, {"N": "1.0"}]},
                ]
            }
        },
    ],
)
def test_a_damaged_choice_leaves_the_configured_headroom_and_fails_no_decision(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], damage: dict[str, Any]
) -> None:
    _configure()
    _anchor_item(judged_hours_ago=2, multiplier=2.0)
    item = forecast_item()
    assert item is not None
    item["anchor"]["M"].update(damage)
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE_NAME"], Item=item)
    set_desired("web", 10)
    record = _scale_in(invoke, audit, cpu_metric, 1)
    assert record["outcome"] != "failed" and "malformed" in record["forecast_item"]
    assert record["noise"]["sigmas"] == 3 and "anchored" not in record["noise"]


def _scale_out(invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], minute: int) -> dict[str, Any]:
    """web at 4 instances, CPU at 60 % for 3 minutes; its scale-out alarm fires at T0 + `minute`: the
    decision's audit record."""
    now = T0 + timedelta(minutes=minute)
    set_desired("web", 4)
    for back in range(1, 4):
        cpu_metric(60.0, now - timedelta(minutes=back))
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "out"), now, metric="CPUUtilization"))
    return audit("web")[-1]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_group_sent_to_the_anchors_target_aims_its_signals_there_while_the_item_is_in_effect(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN web, whose requests target is 80 % of what an instance serves (1,000 of 1,250), sent by the
    # forecaster to target tracking's own 50 % (it lost on drops alone, with hours to spare)
    _configure(requests_per_instance=1250)
    _anchor_item(judged_hours_ago=2, multiplier=1.0, at_anchor_target=True)
    record = _scale_out(invoke, audit, cpu_metric, 1)
    # THEN its signals aim at 50 / 80 of their targets: CPU at 31.25 %, so 4 x 60 / 31.25 = 7.7, 8
    assert record["anchor_target"]["target_share"] == pytest.approx(0.625)
    assert "target tracking's own target" in record["anchor_target"]["why"]
    assert record["outcome"] == "applied" and desired() == 8
    # AND in an item whose hour ended (the forecaster stopped writing), the configured 50 %: 4.8, 5
    _anchor_item(judged_hours_ago=2, multiplier=1.0, at_anchor_target=True, issued_minutes_ago=200)
    record = _scale_out(invoke, audit, cpu_metric, 200)
    assert "anchor_target" not in record and desired() == 5


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_group_whose_own_target_is_the_anchors_keeps_it(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN web's requests target at 50 % of what an instance serves (1,000 of 2,000), sent there
    _configure(requests_per_instance=2000)
    _anchor_item(judged_hours_ago=2, multiplier=1.0, at_anchor_target=True)
    record = _scale_out(invoke, audit, cpu_metric, 1)
    # THEN it is already there: the configured 50 % CPU, 4.8, 5
    assert "anchor_target" not in record and desired() == 5


@pytest.mark.usefixtures("config_file")
def test_the_item_keeps_whether_the_group_went_to_the_anchors_target_and_one_written_before_did_not() -> None:
    judged = T0 - timedelta(hours=3)
    verdict = AnchorVerdict(
        judged, 4, 1.0, 0.5, 0.1, 40_000.0, 60_000.0, ((judged, 1.0),), at_anchor_target=True
    )
    assert _saved_and_loaded(verdict) == verdict
    before = _loaded_without("at_anchor_target")
    assert before is not None and not before.at_anchor_target


def _saved_and_loaded(verdict: AnchorVerdict) -> AnchorVerdict | None:
    """The choice as the decision reads it back from a FORECAST item the forecaster saved with it."""
    state = ForecastState(
        "forecast_only", T0, T0 + timedelta(hours=1), 15, (4,) * 4, 0.9, 1.2, None, anchor=verdict
    )
    store = AuditStore(os.environ["TABLE_NAME"])
    store.save_forecast("web", state, credible_until=T0)
    loaded = store.load_forecast("web")
    return None if loaded is None else loaded.anchor


def _loaded_without(field_name: str) -> AnchorVerdict | None:
    """The saved choice read back once `field_name` is gone from the item (one written before it was)."""
    item = forecast_item()
    assert item is not None
    del item["anchor"]["M"][field_name]
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE_NAME"], Item=item)
    loaded = AuditStore(os.environ["TABLE_NAME"]).load_forecast("web")
    return None if loaded is None else loaded.anchor


@pytest.mark.usefixtures("config_file")
def test_the_item_keeps_the_choice_and_its_history() -> None:
    judged = T0 - timedelta(hours=3)
    verdict = AnchorVerdict(
        judged, 4, 1.5, 0.5, 0.1, 40_000.0, 60_000.0, ((judged - timedelta(days=1), 3.0), (judged, 1.5))
    )
    assert _saved_and_loaded(verdict) == verdict
    assert set(MULTIPLIERS) >= {m for _, m in verdict.history}


@pytest.mark.usefixtures("config_file")
def test_the_item_keeps_the_target_judged_at_and_one_written_before_it_reads_50() -> None:
    judged = T0 - timedelta(hours=3)
    verdict = AnchorVerdict(judged, 4, 1.5, 0.5, 0.1, 40_000.0, 60_000.0, ((judged, 1.5),), target_pct=40.0)
    loaded = _saved_and_loaded(verdict)
    assert loaded is not None and loaded.target_pct == 40.0
    # AND an item written before the target was configurable was judged at AWS's recommended 50 %
    before = _loaded_without("target_pct")
    assert before is not None and before.target_pct == 50.0


@pytest.mark.usefixtures("config_file")
@pytest.mark.parametrize("step_anchored", [True, False])
def test_the_item_keeps_whether_a_lean_choice_beat_step_scaling_and_one_written_before_did(
    step_anchored: bool,
) -> None:
    judged = T0 - timedelta(hours=3)
    verdict = AnchorVerdict(
        judged, 4, 0.625, 0.5, 0.1, 40_000.0, 60_000.0, ((judged, 0.625),), step_anchored=step_anchored
    )
    assert _saved_and_loaded(verdict) == verdict
    # AND an item written before the milestone's fallback chose a lean multiple only against step scaling
    before = _loaded_without("step_anchored")
    assert before is not None and before.step_anchored


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_choice_judged_at_another_target_is_judged_again_at_the_configured_one(audit: Audit) -> None:
    # GIVEN a choice judged two hours ago against target tracking at 50 %, and web now anchored at 40 %
    _configure(noise_headroom={**NOISE, "anchor_target": 40})
    _lean_history()
    _anchor_item(judged_hours_ago=2, multiplier=2.0)
    # WHEN the forecaster runs
    run()
    # THEN it judges now, at 40 %, and says so
    record = audit("web")[-1]
    anchor = record["forecast"]["anchor"]
    assert anchor["judged_at"] == T0.isoformat() and anchor["anchor_target_pct"] == 40.0
    assert "target tracking at 40 %" in record["reason"]
    # AND the next hour keeps that choice
    run(T0 + timedelta(hours=1))
    assert audit("web")[-1]["forecast"]["anchor"]["judged_at"] == T0.isoformat()


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_choice_judged_at_a_target_of_57_is_kept_its_day(audit: Audit) -> None:
    # GIVEN web anchored at 57 %, a target whose share (0.57) times 100 is not 57 in floating point
    _configure(noise_headroom={**NOISE, "anchor_target": 57})
    _lean_history()
    run()
    judged = audit("web")[-1]["forecast"]["anchor"]
    assert judged["judged_at"] == T0.isoformat() and judged["anchor_target_pct"] == 57
    # WHEN the forecaster runs an hour later
    run(T0 + timedelta(hours=1))
    # THEN it keeps that choice (it once read the 56.99999999999999 it had stored as another target than
    # the config's 57, and judged again every run)
    assert audit("web")[-1]["forecast"]["anchor"]["judged_at"] == T0.isoformat()


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_choice_stored_at_a_target_a_hair_off_the_configured_one_is_kept(audit: Audit) -> None:
    # GIVEN a choice judged two hours ago at 56.99999999999999 %, as the forecaster wrote web's 57 before
    _configure(noise_headroom={**NOISE, "anchor_target": 57})
    _lean_history()
    _anchor_item(judged_hours_ago=2, multiplier=2.0, target_pct=100.0 * (57 / 100.0))
    # WHEN the forecaster runs
    run()
    # THEN that is the configured target: the choice keeps its day
    anchor = audit("web")[-1]["forecast"]["anchor"]
    assert anchor["judged_at"] == (T0 - timedelta(hours=2)).isoformat() and anchor["multiplier"] == 2.0


def test_anchoring_needs_the_noise_headroom_on_and_a_forecaster() -> None:
    web = CONFIG["groups"][0]
    with pytest.raises(ValidationError, match="noise_headroom.anchored"):
        ScalerConfig.model_validate({**CONFIG, "groups": [{**web, "noise_headroom": NOISE}]})
    with pytest.raises(ValidationError, match="noise_headroom.anchored"):
        ScalerConfig.model_validate(
            {
                **CONFIG,
                "groups": [
                    {**web, "noise_headroom": {**NOISE, "sigmas": 0}, "forecast": {"mode": "forecast_only"}}
                ],
            }
        )
    with pytest.raises(ValidationError, match="history_days"):
        ScalerConfig.model_validate(
            {
                **CONFIG,
                "groups": [
                    {**web, "noise_headroom": NOISE, "forecast": {"mode": "forecast_only", "history_days": 2}}
                ],
            }
        )
    anchored = ScalerConfig.model_validate(
        {**CONFIG, "groups": [{**web, "noise_headroom": NOISE, "forecast": {"mode": "forecast_only"}}]}
    )
    assert anchored.groups[0].anchors_noise_headroom()


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_judgement_that_cannot_be_made_costs_no_forecast(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN web anchored, with no launch time at all (lead 0), and a judgement that raises
    _configure(launch_seconds=0, warmup_seconds=0)
    _lean_history()
    run()
    assert audit("web")[-1]["outcome"] != "failed"  # a lead of 0 replays at 1 minute
    import surgeguard.forecast_service as service

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(service, "judge_against_anchors", broken)
    run(T0 + timedelta(days=1))
    record = audit("web")[-1]
    # THEN the forecast is written, and the reason says what became of the anchor
    assert record["outcome"] != "failed" and "judgement failed" in record["reason"]
    item = forecast_item()
    assert item is not None and item["issued_at"]["S"] == (T0 + timedelta(days=1)).isoformat()


@pytest.mark.usefixtures("config_file", "alarms")
def test_while_the_noise_headroom_stands_down_nothing_is_anchored_and_1x_is_recorded(audit: Audit) -> None:
    # GIVEN web judged and anchored, eight days of a random walk (its noise headroom does not pay) and
    # of the group's own 10 instances
    from .test_noise_headroom_judged import HISTORY_DAYS as JUDGED_DAYS
    from .test_noise_headroom_judged import NOISE as JUDGED_NOISE
    from .test_noise_headroom_judged import _random_walk_history

    configure_web(
        noise_headroom={**JUDGED_NOISE, "anchored": True},
        forecast={"mode": "forecast_only", "history_days": JUDGED_DAYS, "horizon_hours": 1},
    )
    _random_walk_history()
    _group_metrics((T0 - timedelta(minutes=JUDGED_DAYS * 1440 - i), 10.0) for i in range(JUDGED_DAYS * 1440))
    run()
    record = audit("web")[-1]
    assert record["forecast"]["headroom"]["noise_pays"] is False
    # THEN the anchor records 1x, and says why
    assert record["forecast"]["anchor"]["multiplier"] == 1.0 and "stands down" in record["reason"]
    state = AuditStore(os.environ["TABLE_NAME"]).load_forecast("web")
    assert state is not None and state.anchor is not None and state.anchor.stood_down
    assert state.anchor.history[-1] == (T0, 1.0)


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_choice_kept_from_before_records_1x_once_the_noise_headroom_stands_down(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN web judged and anchored with no launch time at all (a lead of 0: the noise judge replays at
    # 1 minute), eight days of a random walk, a 2x chosen 25 hours ago, and its group metrics throttled
    from .test_noise_headroom_judged import HISTORY_DAYS as JUDGED_DAYS
    from .test_noise_headroom_judged import NOISE as JUDGED_NOISE
    from .test_noise_headroom_judged import _random_walk_history

    configure_web(
        noise_headroom={**JUDGED_NOISE, "anchored": True},
        forecast={"mode": "forecast_only", "history_days": JUDGED_DAYS, "horizon_hours": 1},
        launch_seconds=0,
        warmup_seconds=0,
    )
    _random_walk_history()
    _anchor_item(judged_hours_ago=25, multiplier=2.0)

    monkeypatch.setattr(CloudWatchSignals, "fleet_history", _failing("GetMetricData", "Throttling"))
    # WHEN the forecaster judges the noise headroom not to pay, and cannot renew the anchor
    run()
    record = audit("web")[-1]
    assert record["outcome"] != "failed" and record["forecast"]["headroom"]["noise_pays"] is False
    # THEN the 2x kept from before records 1x from now: the noise headroom stands down, nothing is
    # multiplied, and the next judgement reads these days at 1x
    state = AuditStore(os.environ["TABLE_NAME"]).load_forecast("web")
    assert state is not None and state.anchor is not None
    assert state.anchor.multiplier == 1.0 and state.anchor.stood_down
    assert [m for _, m in state.anchor.history] == [2.0, 1.0] and state.anchor.history[-1][0] == T0
    assert "not anchored this run" in record["reason"] and "stands down" in record["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_an_unreadable_last_item_fails_an_anchored_run_and_keeps_the_choice(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN web anchored at 2x two hours ago, and its FORECAST item unreadable this run (throttled)
    _configure()
    _lean_history()
    _anchor_item(judged_hours_ago=2, multiplier=2.0)

    monkeypatch.setattr(
        AuditStore, "load_forecast", _failing("GetItem", "ProvisionedThroughputExceededException")
    )
    # WHEN the forecaster runs, THEN it fails, audited, for Lambda to retry, rather than write over the
    # choice and its history
    with pytest.raises(RetryableFailureError):
        run()
    assert audit("web")[-1]["outcome"] == "failed"
    item = forecast_item()
    assert item is not None and item["anchor"]["M"]["multiplier"] == {"N": "2.0"}


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_choice_stamped_after_the_clock_is_dropped_not_written_out_of_order(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 2x stamped two hours after the forecaster's clock, and the group's metrics throttled
    _configure()
    _lean_history(with_group_metrics=False)
    _anchor_item(judged_hours_ago=-2, multiplier=2.0)

    monkeypatch.setattr(CloudWatchSignals, "fleet_history", _failing("GetMetricData", "Throttling"))
    run()
    record = audit("web")[-1]
    assert record["outcome"] != "failed" and "after this run, is dropped" in record["reason"]
    # THEN the item it writes reads back, with no choice in it
    state = AuditStore(os.environ["TABLE_NAME"]).load_forecast("web")
    assert state is not None and state.anchor is None


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_choice_recorded_while_the_headroom_stood_down_is_judged_again_once_it_pays(audit: Audit) -> None:
    # GIVEN a stood-down 1x judged two hours ago, and web no longer judging its noise headroom
    _configure()
    _lean_history()
    judged = T0 - timedelta(hours=2)
    stood_down = AnchorVerdict(
        judged, 4, 1.0, 0.5, 0.1, 40_000.0, 60_000.0, ((judged, 1.0),), stood_down=True
    )
    boto3.client("dynamodb").delete_item(TableName=os.environ["TABLE_NAME"], Key=_forecast_key())
    AuditStore(os.environ["TABLE_NAME"]).save_forecast(
        "web",
        ForecastState(
            "forecast_only",
            judged,
            judged + timedelta(hours=3),
            15,
            (4,) * 4,
            0.9,
            1.2,
            None,
            anchor=stood_down,
        ),
        credible_until=T0,
    )
    run()
    # THEN it is judged now, not carried with a sentence about a stand-down that no longer holds
    record = audit("web")[-1]
    assert (
        record["forecast"]["anchor"]["judged_at"] == T0.isoformat() and "stands down" not in record["reason"]
    )


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_minute_without_a_count_is_a_quiet_minute_for_the_replayed_anchors(audit: Audit) -> None:
    # GIVEN four days of busy days (8,000 a minute) and quiet nights (20 a minute) where ALB published
    # no count for every tenth minute (no requests), and the group's 8 instances all along
    _configure()
    minutes = [T0 - timedelta(minutes=HISTORY_DAYS * 1440 - i) for i in range(HISTORY_DAYS * 1440)]
    put_request_counts(
        (when, 8000.0 if 8 <= when.hour < 20 else 20.0)
        for i, when in enumerate(minutes)
        if 8 <= when.hour < 20 or i % 10
    )
    _group_metrics((when, 8.0) for when in minutes)
    run()
    anchor = audit("web")[-1]["forecast"]["anchor"]
    # THEN target tracking scales in at night, as CPU goes on through minutes without requests: the
    # anchors hold 16 instances by day and far fewer by night, not 16 all night
    assert anchor["anchor_instance_hours"] < 0.75 * 16 * 24 * HISTORY_DAYS


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_last_item_no_retry_can_read_does_not_stop_the_forecast(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN web anchored, and its FORECAST item unreadable in a way a retry cannot cure (denied)
    _configure()
    _lean_history()
    _anchor_item(judged_hours_ago=2, multiplier=2.0)

    monkeypatch.setattr(AuditStore, "load_forecast", _failing("GetItem", "AccessDeniedException"))
    # WHEN the forecaster runs, THEN it writes its forecast and judges the anchor afresh
    run()
    record = audit("web")[-1]
    assert record["outcome"] != "failed" and record["forecast"]["anchor"]["judged_at"] == T0.isoformat()


class _Failing:
    """A DynamoDB client whose every call fails with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_item(self, **kwargs: Any) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ReadTimeoutError(endpoint_url="https://dynamodb"), True),  # no AWS response: botocore retries it
        (EndpointConnectionError(endpoint_url="https://dynamodb"), True),
        (
            ClientError({"Error": {"Code": "Weird"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetItem"),
            True,
        ),
        (ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "GetItem"), True),
        (
            ClientError(
                {"Error": {"Code": "AccessDeniedException"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                "GetItem",
            ),
            False,
        ),
    ],
)
def test_a_failed_call_says_whether_a_retry_could_cure_it(error: Exception, transient: bool) -> None:
    # A network timeout reading an anchored group's last item must fail the run for a retry, as a
    # throttle does, not write over the choice (its code is the exception's name, in no AWS list).
    store = AuditStore("table", api=_Failing(error))
    with pytest.raises(AwsCallError) as raised:
        store.load_forecast("web")
    assert raised.value.transient is transient
