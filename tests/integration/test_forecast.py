"""The forecaster through its real handler under moto: history from put_metric_data (ALB RequestCount),
the FORECAST item, and the reactive path showing (or, forecast-only, never acting on) `floor:forecast`."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from surgeguard import keys
from surgeguard.config import ForecastConfig, ScalerConfig
from surgeguard.domain.forecast import BurstLearning
from surgeguard.forecast_service import _describe_bursts
from surgeguard.handlers import forecast

from .alarm_events import SNS, alarm_event
from .support import (
    T0,
    LambdaContext,
    alarm_for,
    configure_web,
    desired,
    put_request_counts,
    reevaluation,
    set_alarm_state,
    set_desired,
)

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]
HISTORY_DAYS = 3


def _configure(mode: str) -> None:
    configure_web(
        forecast={"mode": mode, "history_days": HISTORY_DAYS, "horizon_hours": 1, "percentile": 0.9}
    )


def _history() -> None:
    """`HISTORY_DAYS` of per-minute RequestCount up to T0: a daily wave around 6000 requests/min."""
    minutes = HISTORY_DAYS * 1440
    put_request_counts(
        (T0 - timedelta(minutes=minutes - i), 6000 + 2000 * math.sin(2 * math.pi * i / 1440))
        for i in range(minutes)
    )


def run(execution_id: str | None = None, remaining_millis: int = 60_000, **overrides: Any) -> dict[str, Any]:
    payload = {
        "group": "web",
        "scheduled_time": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "execution_id": execution_id or str(uuid.uuid4()),
    }
    return forecast.lambda_handler(
        {**payload, **overrides},
        LambdaContext(function_name="surgeguard-forecast", remaining_millis=remaining_millis),
    )


def forecast_item() -> dict[str, Any] | None:
    return (
        boto3.client("dynamodb")
        .get_item(
            TableName=os.environ["TABLE_NAME"],
            Key={
                keys.PARTITION_KEY: {"S": keys.group_pk("web")},
                keys.SORT_KEY: {"S": keys.FORECAST_SORT_KEY},
            },
        )
        .get("Item")
    )


def alarm(invoke: Invoke, when: datetime) -> None:
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "out"), when, metric="CPUUtilization"))


@pytest.fixture
def floor_mode(config_file: ScalerConfig, alarms: list[str]) -> None:
    _configure("floor")
    _history()


@pytest.fixture
def forecast_only(config_file: ScalerConfig, alarms: list[str]) -> None:
    _configure("forecast_only")
    _history()


@pytest.mark.usefixtures("floor_mode")
def test_the_forecaster_writes_the_floor_and_the_alarm_path_takes_it(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit
) -> None:
    result = run()
    assert result["records"][0]["outcome"] == "applied"
    item = forecast_item()
    assert item is not None
    # Demand near 6000 requests/min at T0 (the wave's start) over a 1000-per-instance target.
    floor = int(item["floor"]["N"])
    assert 6 <= floor <= 12
    assert datetime.fromisoformat(item["valid_until"]["S"]) == T0 + timedelta(hours=1)
    (record,) = audit("web")
    assert record["trigger"]["source"] == "forecaster"
    assert record["forecast"]["floor"] == floor and record["forecast"]["mode"] == "floor"
    assert record["forecast"]["mape"] < 0.05
    cpu_metric(60.0, T0 + timedelta(minutes=4))
    alarm(invoke, T0 + timedelta(minutes=5))
    last = audit("web")[-1]
    candidates = {c["rule"]: c["needed"] for c in last["candidates"]}
    assert candidates["floor:forecast"] >= 6
    assert desired() >= candidates["floor:forecast"]
    assert last["winning_rule"] == "floor:forecast"


@pytest.mark.usefixtures("forecast_only")
def test_forecast_only_records_the_would_be_floor_and_never_acts(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit
) -> None:
    before = desired()
    result = run()
    assert result["records"][0]["outcome"] == "skipped"
    (record,) = audit("web")
    assert record["skip_cause"] == "forecast_only" and record["forecast"]["floor"] >= 6
    assert "would set" in record["reason"]
    cpu_metric(60.0, T0 + timedelta(minutes=4))
    alarm(invoke, T0 + timedelta(minutes=5))
    last = audit("web")[-1]
    assert "floor:forecast" not in {c["rule"] for c in last["candidates"]}
    assert desired() < record["forecast"]["floor"] or before >= record["forecast"]["floor"]


@pytest.mark.usefixtures("floor_mode")
def test_a_duplicate_execution_is_skipped_and_bad_payloads_rejected(audit: Audit) -> None:
    run(execution_id="exec-1")
    assert run(execution_id="exec-1")["records"][0]["outcome"] == "skipped"
    # Scheduler delivers a run again under a new execution id (one per attempt, REAL-AWS 19b): the same
    # firing, claimed by group and scheduled time, not written and recorded twice.
    written = forecast_item()
    assert run(execution_id="exec-2")["records"][0]["outcome"] == "skipped"
    assert forecast_item() == written
    # The records share the scheduled time, so their order in the table is the request ids' order.
    records = sorted((r["outcome"], r.get("skip_cause")) for r in audit("web"))
    assert records == [("applied", None), ("skipped", "duplicate"), ("skipped", "duplicate")]
    assert run(group="nope")["records"][0]["outcome"] == "rejected"
    assert run(scheduled_time="yesterday")["records"][0]["outcome"] == "rejected"
    assert run(scheduled_time="9999-12-31T23:59:59-01:00")["records"][0]["outcome"] == "rejected"
    assert forecast.lambda_handler([], LambdaContext())["records"][0]["outcome"] == "rejected"


def test_without_history_no_floor_is_written(
    config_file: ScalerConfig, alarms: list[str], audit: Audit
) -> None:
    _configure("floor")
    assert run()["records"][0]["outcome"] == "skipped"
    assert audit("web")[-1]["skip_cause"] == "no_history"
    assert forecast_item() is None


def test_a_two_day_history_is_refused_by_the_config() -> None:
    # Read over 2 days, the fit's 2 days of known 5-minute buckets leave no room for a gap: RequestCount
    # published a few minutes late, or a quiet 5 minutes (no datapoint), skipped every run as no_history.
    with pytest.raises(ValidationError, match="history_days"):
        ForecastConfig.model_validate({"history_days": 2})


@pytest.mark.usefixtures("config_file", "alarms")
def test_the_shortest_history_forecasts_with_the_last_minutes_not_yet_published(audit: Audit) -> None:
    # GIVEN the shortest history, its last 3 minutes not yet published when the run reads
    _configure("floor")
    put_request_counts(
        (T0 - timedelta(minutes=HISTORY_DAYS * 1440 - i), 6000 + 2000 * math.sin(2 * math.pi * i / 1440))
        for i in range(HISTORY_DAYS * 1440 - 3)
    )
    # WHEN the forecaster runs: THEN a floor is written
    assert run()["records"][0]["outcome"] == "applied", audit("web")[-1]["reason"]
    assert forecast_item() is not None


# --- bursts: a rise that recurs at the same minute of the day ------------------------------------
BURST_MINUTE = 30  # after T0's time of day, on each of the days before
LEVEL = 6000.0


def _history_with_bursts(recent_minutes: int) -> None:
    """Flat RequestCount with a 6-minute 3x burst at T0's time of day + 30 min on both past days, and
    `recent_minutes` of flat level after T0 (what the re-evaluation reads the level from)."""
    minutes = HISTORY_DAYS * 1440
    values = []
    for i in range(-minutes, recent_minutes):
        past_burst = i < 0 and BURST_MINUTE <= i % 1440 < BURST_MINUTE + 6
        values.append((T0 + timedelta(minutes=i), 3 * LEVEL if past_burst else LEVEL))
    put_request_counts(values)


def _configure_bursts(anticipate: bool = True, history_days: int = HISTORY_DAYS) -> None:
    configure_web(
        requests_per_instance=2000,
        forecast={
            "mode": "forecast_only",
            "history_days": history_days,
            "horizon_hours": 1,
            "anticipate_bursts": anticipate,
        },
    )


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_learned_burst_has_capacity_in_place_a_lead_time_ahead(
    invoke: Invoke, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two days on which demand tripled at 12:30 for six minutes, and a forecast-only floor
    _configure_bursts()
    _history_with_bursts(recent_minutes=BURST_MINUTE)
    # WHEN the forecaster runs at 12:00
    result = run()
    # THEN it writes the burst minutes (the floor itself stays forecast-only) and says when they are
    (record,) = result["records"]
    assert record["outcome"] == "applied", record["reason"]
    assert "bursts anticipated at 12:" in record["reason"] and "would set" in record["reason"]
    item = forecast_item()
    assert item is not None
    due = {int(pair["L"][0]["N"]): float(pair["L"][1]["N"]) for pair in item["bursts"]["L"]}
    # web's lead is launch 120 s + warm-up 50 s -> 3 minutes: from 4 minutes before 12:30 (one of
    # slack) the minutes ahead hold the burst; from 12:37 the burst is over.
    assert due[BURST_MINUTE - 3] == pytest.approx(3.0)
    assert BURST_MINUTE - 10 not in due and BURST_MINUTE + 7 not in due
    (stored,) = audit("web")
    assert stored["forecast"]["bursts"] == [[m, r] for m, r in sorted(due.items())]
    before = desired()

    # WHEN the per-minute re-evaluation runs before the burst window, nothing is in ALARM or due
    (quiet,) = invoke(reevaluation(10))["records"]
    assert quiet["outcome"] == "skipped" and "no learned burst is due" in quiet["reason"]
    assert desired() == before

    # WHEN it runs three minutes before 12:30, with demand still at its level
    from surgeguard.adapters.audit_store import AuditStore

    reads: list[str] = []
    real_load = AuditStore.load_forecast

    def counted(self: Any, group: str) -> Any:
        reads.append(group)
        return real_load(self, group)

    monkeypatch.setattr(AuditStore, "load_forecast", counted)
    invoke(reevaluation(BURST_MINUTE - 3))
    # (the item that says a burst is due is the one the decision sizes it from: read once per group)
    assert reads.count("web") == 1, reads
    decided = audit("web")[-1]
    # THEN it decides web with `floor:burst` = 6000/min x 3 / 2000 per instance = 9 instances
    assert decided["outcome"] == "applied", decided["reason"]
    assert decided["trigger"]["burst_due"] == pytest.approx(3.0)
    assert decided["trigger"]["in_alarm"] == []
    candidates = {c["rule"]: c["needed"] for c in decided["candidates"]}
    assert candidates["floor:burst"] == 9
    assert decided["winning_rule"] == "floor:burst"
    assert decided["burst"]["level"] == pytest.approx(LEVEL) and decided["burst"]["capacity"] == 9
    assert desired() == 9


def _quiet_cpu_and_scale_in_alarm(cpu_metric: Callable[..., None], minutes: range) -> None:
    """web's CPU at 10 % over `minutes` after T0, and its scale-in alarm in ALARM (what 3 quiet
    minutes do): the capacity idles."""
    for minute in minutes:
        cpu_metric(10.0, T0 + timedelta(minutes=minute))
    set_alarm_state(alarm_for("web", "cpu", "in"), "ALARM")


@pytest.mark.usefixtures("config_file", "alarms")
def test_the_scale_in_alarm_still_steps_in_while_a_burst_is_due_down_to_its_floor(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN the burst learned at 12:30 (9 instances from 12:26), web at 12 instances, CPU quiet and the
    # scale-in alarm in ALARM
    _configure_bursts()
    _history_with_bursts(recent_minutes=BURST_MINUTE)
    run()
    set_desired("web", 12)
    _quiet_cpu_and_scale_in_alarm(cpu_metric, range(BURST_MINUTE - 6, BURST_MINUTE - 3))
    # WHEN the re-evaluation runs at 12:27, a burst due and the scale-in alarm in ALARM
    invoke(reevaluation(BURST_MINUTE - 3))
    decided = audit("web")[-1]
    # THEN it is the scale-in alarm's own decision, bounded by the burst's floor: 12 -> 9, not held at 12
    # as a scale-out would be (a due burst raises capacity; it does not veto the scale-in's alarm)
    assert decided["outcome"] == "applied", decided["reason"]
    assert decided["winning_rule"] == "floor:burst" and decided["burst"]["capacity"] == 9
    assert desired() == 9


@pytest.mark.usefixtures("config_file", "alarms")
def test_an_anticipated_burst_that_does_not_come_is_let_go(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN the burst learned at 12:30, anticipated from 12:26 with 9 instances
    _configure_bursts()
    _history_with_bursts(recent_minutes=BURST_MINUTE + 10)  # this time demand stays at its level
    run()
    invoke(reevaluation(BURST_MINUTE - 4))
    assert audit("web")[-1]["winning_rule"] == "floor:burst" and desired() == 9
    # WHEN the re-evaluation runs at 12:30, four minutes in: too soon to tell (web's lead is 3 minutes,
    # so the burst's first minute shows five minutes in)
    invoke(reevaluation(BURST_MINUTE))
    kept = audit("web")[-1]
    assert "no_show" not in kept["burst"] and kept["burst"]["capacity"] == 9
    # WHEN it runs at 12:32 with the scale-in alarm in ALARM, and the burst has not come
    _quiet_cpu_and_scale_in_alarm(cpu_metric, range(BURST_MINUTE - 1, BURST_MINUTE + 2))
    invoke(reevaluation(BURST_MINUTE + 2))
    decided = audit("web")[-1]
    # THEN the burst's floor is let go, saying why, and nothing it asked holds the scale-in, which steps
    # in as far as its step allows (50 %: 9 -> 4)
    assert "has not come" in decided["burst"]["no_show"], decided["burst"]
    assert "floor:burst" not in {c["rule"] for c in decided["candidates"]}
    assert decided["outcome"] == "applied", decided["reason"]
    assert desired() == 4


@pytest.mark.usefixtures("config_file", "alarms")
def test_an_anticipated_burst_that_came_keeps_its_floor(invoke: Invoke, audit: Audit) -> None:
    # GIVEN the burst learned at 12:30, and today it comes: 3x from 12:30
    _configure_bursts()
    _history_with_bursts(recent_minutes=BURST_MINUTE)
    put_request_counts((T0 + timedelta(minutes=m), 3 * LEVEL) for m in range(BURST_MINUTE, BURST_MINUTE + 2))
    run()
    invoke(reevaluation(BURST_MINUTE - 4))
    # WHEN the re-evaluation runs at 12:32, six minutes into its anticipation
    invoke(reevaluation(BURST_MINUTE + 2))
    decided = audit("web")[-1]
    # THEN the floor holds: the level of the last ten minutes, two of them the burst's (8,400), times the
    # rise learned for this minute of a burst (18,000 / 8,400): 18,000 a minute at 2,000 an instance is
    # 9 instances (10, as the item keeps the rise to four places: 2.1429)
    assert "no_show" not in decided["burst"], decided["burst"]
    assert decided["burst"]["level"] == pytest.approx(8400) and decided["burst"]["rise"] == pytest.approx(
        2.1429
    )
    assert decided["winning_rule"] == "floor:burst" and decided["burst"]["capacity"] == 10
    assert desired() == 10


HOURLY_MINUTE = 32  # past the hour


HOURLY_DAYS = 3  # two to learn the rule from, and the last day to confirm it on


def _history_with_hourly_bursts(recent_minutes: int) -> None:
    """Flat RequestCount with a 5-minute 3x burst at :32 in two of every five hours (never at the same
    hour of the day on two days running: the minute-of-the-day rule learns nothing), and `recent_minutes`
    of flat level after T0."""
    values = []
    for i in range(-HOURLY_DAYS * 1440, recent_minutes):
        hour, minute = divmod(i, 60)
        burst = i < 0 and hour % 5 in (0, 2) and HOURLY_MINUTE <= minute < HOURLY_MINUTE + 5
        values.append((T0 + timedelta(minutes=i), 3 * LEVEL if burst else LEVEL))
    put_request_counts(values)


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_burst_at_the_same_minute_of_many_hours_is_met_every_hour(invoke: Invoke, audit: Audit) -> None:
    # GIVEN three days on which demand tripled at :32 past the hour in two of every five hours
    _configure_bursts(history_days=HOURLY_DAYS)
    _history_with_hourly_bursts(recent_minutes=HOURLY_MINUTE)
    # WHEN the forecaster runs at 12:00
    (record,) = run()["records"]
    # THEN the minute-of-the-hour rule has the burst due a lead ahead of 12:32 (web's lead: 3 minutes)
    assert record["outcome"] == "applied", record["reason"]
    assert "bursts anticipated at 12:2" in record["reason"]
    (stored,) = audit("web")
    due = dict(stored["forecast"]["bursts"])
    assert due[HOURLY_MINUTE - 3] == pytest.approx(3.0) and HOURLY_MINUTE - 10 not in due
    assert stored["forecast"]["hourly_burst_lift"] > 2  # learned without the last day, confirmed on it
    assert "burst_share" in stored["forecast"]  # the daily rule's base rate, beside its lift
    # AND the re-evaluation three minutes before 12:32 puts 6000/min x 3 / 2000 = 9 instances in place
    invoke(reevaluation(HOURLY_MINUTE - 3))
    decided = audit("web")[-1]
    assert decided["winning_rule"] == "floor:burst" and decided["burst"]["capacity"] == 9
    assert desired() == 9


@pytest.mark.usefixtures("config_file", "alarms")
def test_bursts_switched_off_are_neither_written_nor_acted_on(invoke: Invoke) -> None:
    _configure_bursts(anticipate=False)
    _history_with_bursts(recent_minutes=BURST_MINUTE)
    (record,) = run()["records"]
    assert record["outcome"] == "skipped" and "burst" not in record["reason"]
    item = forecast_item()
    assert item is not None and item["bursts"]["L"] == []
    before = desired()
    (quiet,) = invoke(reevaluation(BURST_MINUTE - 3))["records"]
    assert quiet["outcome"] == "skipped" and quiet["group"] is None
    assert desired() == before


@pytest.mark.usefixtures("config_file", "alarms")
def test_an_unreadable_or_malformed_forecast_item_holds_up_no_decision(
    invoke: Invoke, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a learned burst due at 12:27, then the FORECAST item turned unreadable
    _configure_bursts()
    _history_with_bursts(recent_minutes=BURST_MINUTE)
    run()
    item = forecast_item()
    assert item is not None
    item["bursts"] = {"L": [{"L": [{"N": "27"}]}]}  # a pair without its rise
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE_NAME"], Item=item)
    before = desired()
    # WHEN the re-evaluation runs in the burst window: no burst is known, nothing fails
    (record,) = invoke(reevaluation(BURST_MINUTE - 3))["records"]
    assert record["outcome"] == "skipped" and desired() == before
    # WHEN web's scale-out alarm fires: decided, with the item named as ignored
    from .support import alarm_for

    invoke(alarm_event(SNS, alarm_for("web", "cpu", "out"), T0 + timedelta(minutes=BURST_MINUTE - 2)))
    decided = audit("web")[-1]
    assert decided["outcome"] != "failed", decided["reason"]
    assert "malformed" in decided["forecast_item"]
    # AND a DynamoDB that cannot be read leaves the re-evaluation to the alarms, not failed
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.adapters.errors import AwsCallError

    def unreadable(self: Any, group: str) -> None:
        raise AwsCallError("GetItem", "ThrottlingException", "Rate exceeded")

    monkeypatch.setattr(AuditStore, "load_forecast", unreadable)
    (record,) = invoke(reevaluation(BURST_MINUTE))["records"]
    assert record["outcome"] == "skipped"


@pytest.mark.usefixtures("floor_mode")
def test_a_late_run_never_overwrites_a_newer_forecast(clock: Any, audit: Audit) -> None:
    # The 12:00 run fails and its retry (Lambda's, or the Scheduler's with back-off) comes at 12:07,
    # after the 12:05 run has written its forecast. The item once went back to 12:00's: floors and
    # bursts from older history, valid five minutes less.
    newer = T0 + timedelta(minutes=5)
    put_request_counts((T0 + timedelta(minutes=i), 6000.0) for i in range(5))
    clock.pin(newer)
    (first,) = run(scheduled_time=newer.strftime("%Y-%m-%dT%H:%M:%SZ"))["records"]
    assert first["outcome"] == "applied", first["reason"]
    written = forecast_item()
    assert written is not None and written["issued_at"]["S"] == newer.isoformat()
    clock.pin(T0 + timedelta(minutes=7))
    assert len(run()["records"]) == 1
    assert forecast_item() == written
    records = {r["trigger"]["scheduled_time"]: r for r in audit("web")}
    assert {when: r["outcome"] for when, r in records.items()} == {
        newer.isoformat(): "applied",
        T0.isoformat(): "skipped",
    }
    late = records[T0.isoformat()]
    assert late["skip_cause"] == "superseded"
    assert f"a newer forecast, issued {newer.isoformat()}, is in place" in late["reason"]


@pytest.mark.usefixtures("floor_mode")
def test_a_damaged_forecast_item_from_the_future_does_not_block_every_run(clock: Any, audit: Audit) -> None:
    # An issue time no run can have written (a year ahead) must not freeze the floors forever.
    assert run()["records"][0]["outcome"] == "applied"
    table = boto3.client("dynamodb")
    item = forecast_item()
    assert item is not None
    # A year ahead; no time at all; and a text that sorts as a newer time but is none. Each is met by the
    # next minute's run (a run of the same minute is a duplicate, claimed by its scheduled time).
    damages = ((T0 + timedelta(days=365)).isoformat(), "not a time", f"{T0.date()}T12:05 damaged")
    put_request_counts((T0 + timedelta(minutes=i), 6000.0) for i in range(len(damages) + 1))
    for minutes, damaged in enumerate(damages, start=1):
        table.put_item(TableName=os.environ["TABLE_NAME"], Item={**item, "issued_at": {"S": damaged}})
        when = T0 + timedelta(minutes=minutes)
        clock.pin(when)
        (got,) = run(scheduled_time=when.strftime("%Y-%m-%dT%H:%M:%SZ"))["records"]
        assert got["outcome"] == "applied", (damaged, got["reason"])
        written = forecast_item()
        assert written is not None and written["issued_at"]["S"] == when.isoformat()


@pytest.mark.parametrize(
    ("stored", "outcome"),
    [
        # 07:30 UTC: older than the 12:01 run, though its text sorts after the run's
        (f"{T0.date()}T12:30:00+05:00", "applied"),
        # 12:05 UTC: newer than the run, and credible
        (f"{T0.date()}T12:50:00+00:45", "skipped"),
        # 12:05 UTC again, its text sorting before the run's (it was overwritten by the text condition)
        (f"{T0.date()}T07:05:00-05:00", "skipped"),
        # ... and in UTC with a space for the T, as str(datetime) writes it (a space sorts before T)
        (f"{T0.date()} 12:05:00+00:00", "skipped"),
    ],
)
@pytest.mark.usefixtures("floor_mode")
def test_a_stored_issue_time_with_another_offset_than_utc_is_compared_as_the_time_it_names(
    stored: str, outcome: str, clock: Any
) -> None:
    # GIVEN the item's issue time written with a +05:00 offset (by hand: a forecaster writes UTC)
    assert run()["records"][0]["outcome"] == "applied"
    item = forecast_item()
    assert item is not None
    boto3.client("dynamodb").put_item(
        TableName=os.environ["TABLE_NAME"], Item={**item, "issued_at": {"S": stored}}
    )
    # WHEN the next minute's run writes
    when = T0 + timedelta(minutes=1)
    put_request_counts([(T0, 6000.0)])
    clock.pin(when)
    (got,) = run(scheduled_time=when.strftime("%Y-%m-%dT%H:%M:%SZ"))["records"]
    # THEN an older time is overwritten (compared as text, it once skipped every run as `superseded`,
    # nothing written, until the runs' own text passed 12:30), and a newer one kept
    assert got["outcome"] == outcome, got["reason"]
    written = forecast_item()
    assert written is not None
    assert written["issued_at"]["S"] == (when.isoformat() if outcome == "applied" else stored)


@pytest.mark.usefixtures("floor_mode")
def test_an_offset_issue_time_replaced_by_a_newer_forecast_meanwhile_is_not_overwritten(
    clock: Any, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an item issued 07:30 UTC written as 12:30+05:00, and the 12:03 run writing its forecast
    # between the 12:01 run's read of that item and its overwrite
    from surgeguard.adapters.audit_store import AuditStore

    assert run()["records"][0]["outcome"] == "applied"
    item = forecast_item()
    assert item is not None
    table = boto3.client("dynamodb")
    table.put_item(
        TableName=os.environ["TABLE_NAME"], Item={**item, "issued_at": {"S": f"{T0.date()}T12:30:00+05:00"}}
    )
    newer = {**item, "issued_at": {"S": (T0 + timedelta(minutes=3)).isoformat()}}
    call = AuditStore._table_call

    def newer_written_after_the_read(self: AuditStore, operation: str, **kwargs: Any) -> Any:
        answer = call(self, operation, **kwargs)
        if operation == "GetItem" and kwargs["Key"][keys.SORT_KEY]["S"] == keys.FORECAST_SORT_KEY:
            table.put_item(TableName=os.environ["TABLE_NAME"], Item=newer)
        return answer

    # WHEN the 12:01 run writes
    when = T0 + timedelta(minutes=1)
    put_request_counts([(T0, 6000.0)])
    clock.pin(when)
    monkeypatch.setattr(AuditStore, "_table_call", newer_written_after_the_read)
    assert len(run(scheduled_time=when.strftime("%Y-%m-%dT%H:%M:%SZ"))["records"]) == 1
    # THEN the newer forecast stands: the overwrite held only while the text it read was there
    got = audit("web")[-1]
    assert got["outcome"] == "skipped" and got["skip_cause"] == "superseded", got["reason"]
    assert forecast_item() == newer


@pytest.mark.parametrize(
    ("sale_in_history", "early_release"),
    [(False, None), (True, None), (True, 15)],
    ids=["no-sale", "sale-a-week-ago", "sale-released-15-minutes-after-its-doors"],
)
@pytest.mark.usefixtures("config_file", "alarms")
def test_a_declared_sale_a_week_ago_does_not_raise_the_floor_a_week_later(
    sale_in_history: bool, early_release: int | None
) -> None:
    # Its minutes are the sale's, met by its own floor: fitted, they once set 15 where 6 was the need
    # (and a sale whose floor is released minutes after the doors is still on until its end)
    sale: dict[str, Any] = {
        "name": "black-friday",
        "start": (T0 - timedelta(days=7)).replace(tzinfo=None).isoformat(),
        "end": (T0 - timedelta(days=7, hours=-2)).replace(tzinfo=None).isoformat(),
        "timezone": "UTC",
        "peak_multiplier": 4,
    }
    if early_release is not None:
        sale["release_after_doors_minutes"] = early_release
    configure_web(
        events=[sale], forecast={"mode": "floor", "history_days": 8, "horizon_hours": 2, "percentile": 0.9}
    )
    put_request_counts(
        (
            T0 + timedelta(minutes=i),
            24000.0 if sale_in_history and -7 * 1440 <= i < -7 * 1440 + 120 else 6000.0,
        )
        for i in range(-8 * 1440, 0)
    )
    (record,) = run(remaining_millis=600_000)["records"]
    item = forecast_item()
    assert item is not None, record["reason"]
    assert [int(s["N"]) for s in item["steps"]["L"]] == [6] * 8, record["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_sale_in_a_two_day_history_still_leaves_a_forecast_without_the_sale_in_it() -> None:
    # Without the sale's minutes a 2-day history (here: a group 2 days old, read over 3) fell under the
    # fit's 2 days: nothing was written for days after each sale. The minimum is counted on what was
    # read now; the fit still leaves the sale out (a fallback that fitted it copied yesterday's 24,000 a
    # minute into today's floor: 24, not 6).
    sale = {
        "name": "flash",
        "start": (T0 - timedelta(days=1)).replace(tzinfo=None).isoformat(),
        "end": (T0 - timedelta(days=1, hours=-2)).replace(tzinfo=None).isoformat(),
        "timezone": "UTC",
        "peak_multiplier": 2,
    }
    configure_web(
        events=[sale], forecast={"mode": "floor", "history_days": 3, "horizon_hours": 1, "percentile": 0.9}
    )
    sale_minutes = range(-1440, -1440 + 120)
    put_request_counts(
        (T0 + timedelta(minutes=i), 24000.0 if i in sale_minutes else 6000.0) for i in range(-2 * 1440, 0)
    )
    (record,) = run(remaining_millis=600_000)["records"]
    item = forecast_item()
    assert item is not None, record["reason"]
    assert max(int(step["N"]) for step in item["steps"]["L"]) <= 6, record["reason"]


def test_the_record_says_which_backtest_set_the_daily_rule_aside() -> None:
    # GIVEN the daily rule set aside, once for its lift and once for how common its bursts were
    low_lift = BurstLearning((1.0,), 0.9, True, 0.12)
    common = BurstLearning((1.0,), 1.3, True, 0.291)
    # THEN the reason names the figure that did it
    assert "a burst came 0.90x as often as on any minute (under 1.2x: noise)" in _describe_bursts(
        (), T0, low_lift
    )
    said = _describe_bursts((), T0, common)
    assert "on the last day with a burst, 29 % of the minutes burst (over 25 %" in said
    assert "as often as on any minute" not in said
