"""The forecaster sizes the group's warm pool (opt-in `forecast.size_warm_pool`), under moto.

PutWarmPool and DescribeWarmPool as the EC2 Auto Scaling API reference documents them:
MaxGroupPreparedCapacity -1 means unset (the group's MaxSize); moto stores and returns the configuration
as AWS does. The run's one audit record carries what was set and why.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.adapters.cloudwatch import CloudWatchSignals
from surgeguard.adapters.errors import AwsCallError
from surgeguard.config import ScalerConfig

from .support import audit_write_throttled_once, configure_web
from .test_forecast import HISTORY_DAYS, T0, _history, run


def _configure(**forecast: Any) -> None:
    configure_web(
        forecast={
            "mode": "floor",
            "history_days": HISTORY_DAYS,
            "horizon_hours": 1,
            "percentile": 0.9,
            **forecast,
        }
    )


Audit = Callable[[str], list[dict[str, Any]]]


def _run(audit: Audit, minutes_after: int = 0) -> dict[str, Any]:
    """One forecaster run `minutes_after` T0 (the history's end), and its audit record: runs are
    claimed by their scheduled time, so a second run needs a time of its own."""
    execution = str(uuid.uuid4())
    when = (T0 + timedelta(minutes=minutes_after)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(run(execution_id=execution, scheduled_time=when)["records"]) == 1
    (record,) = [r for r in audit("web") if r["trigger"]["execution_id"] == execution]
    return record


def _pool() -> dict[str, Any] | None:
    found = boto3.client("autoscaling").describe_warm_pool(AutoScalingGroupName="web")
    config: dict[str, Any] | None = found.get("WarmPoolConfiguration")
    return config


@pytest.fixture
def sizing(config_file: ScalerConfig, alarms: list[str]) -> None:
    _configure(size_warm_pool=True)
    _history()


def test_a_pool_put_in_forecast_only_mode_is_an_applied_record(
    config_file: ScalerConfig, alarms: list[str], audit: Audit
) -> None:
    # GIVEN the seasonal floor only recorded, no bursts, and the pool sized by the forecaster
    _configure(mode="forecast_only", anticipate_bursts=False, size_warm_pool=True)
    _history()
    # WHEN the run puts the pool (it launches instances to stop)
    record = _run(audit)
    # THEN the record says something acted (it once said skipped: "nothing acts on it")
    assert _pool() is not None and record["warm_pool"]["applied"] is True
    assert record["outcome"] == "applied" and record.get("skip_cause") is None
    assert "nothing acts on it" not in record["reason"]
    # ... and a run that keeps the pool as it is acted on nothing
    again = _run(audit, minutes_after=1)
    assert again["outcome"] == "skipped" and again["skip_cause"] == "forecast_only"


@pytest.mark.usefixtures("sizing")
def test_the_forecaster_creates_a_pool_for_the_week_peak_and_keeps_it(audit: Audit) -> None:
    # The history's busiest minute is 8000 requests/min at 1000 per instance: 8 prepared instances; the
    # forecast's floors for the next hour (demand near 6000) ask no more.
    record = _run(audit)
    assert record["outcome"] == "applied"
    assert record["warm_pool"]["applied"] is True
    assert record["warm_pool"]["max_group_prepared_capacity"] == 8
    assert "last week's peak 8" in record["reason"]
    assert _pool() == {
        "MaxGroupPreparedCapacity": 8,
        "MinSize": 0,
        "PoolState": "Stopped",
        "InstanceReusePolicy": {"ReuseOnScaleIn": True},
    }
    again = _run(audit, minutes_after=1)
    assert again["warm_pool"] == {"summary": "warm pool kept (MaxGroupPreparedCapacity 8)", "applied": False}


@pytest.mark.usefixtures("sizing")
def test_an_existing_pool_keeps_its_state_and_min_size_and_shrinks_only_by_half(audit: Audit) -> None:
    autoscaling = boto3.client("autoscaling")
    autoscaling.put_warm_pool(
        AutoScalingGroupName="web", MaxGroupPreparedCapacity=-1, MinSize=1, PoolState="Hibernated"
    )
    # Unset = the group's max, 20: 8 is under half of it, so the pool shrinks to 8.
    record = _run(audit)
    assert record["warm_pool"]["max_group_prepared_capacity"] == 8
    pool = _pool()
    assert pool is not None
    assert (pool["MaxGroupPreparedCapacity"], pool["MinSize"], pool["PoolState"]) == (8, 1, "Hibernated")
    autoscaling.put_warm_pool(AutoScalingGroupName="web", MaxGroupPreparedCapacity=12)
    record = _run(audit, minutes_after=1)
    assert record["warm_pool"]["applied"] is False  # 8 is not under half of 12: kept
    assert _pool()["MaxGroupPreparedCapacity"] == 12  # type: ignore[index]


@pytest.mark.usefixtures("sizing")
def test_a_failed_put_is_in_the_record_and_the_forecast_still_written(
    monkeypatch: pytest.MonkeyPatch, audit: Audit
) -> None:
    # AWS refuses a warm pool on a group with a mixed instances policy (user guide, "Warm pools ...
    # limitations"): the forecast stands, the record says why the pool is not sized.
    def refuse(self: AutoScalingFleet, name: str, pool: Any) -> None:
        raise AwsCallError(
            "PutWarmPool",
            "ValidationError",
            "You can't add a warm pool to a group with a mixed instances policy",
        )

    monkeypatch.setattr(AutoScalingFleet, "put_warm_pool", refuse)
    record = _run(audit)
    assert record["outcome"] == "applied" and record["forecast"]["floor"] >= 6
    assert record["warm_pool"]["applied"] is False
    assert "mixed instances policy" in record["warm_pool"]["error"]
    assert _pool() is None


def _answer_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """PutWarmPool lands, then its answer is lost (a read timeout after the write took effect)."""
    put = AutoScalingFleet.put_warm_pool

    def lands_then_times_out(self: AutoScalingFleet, name: str, pool: Any) -> None:
        put(self, name, pool)
        raise AwsCallError("PutWarmPool", "ReadTimeoutError", "Read timeout on endpoint URL")

    monkeypatch.setattr(AutoScalingFleet, "put_warm_pool", lands_then_times_out)


@pytest.mark.usefixtures("sizing")
def test_a_put_whose_answer_was_lost_is_read_back_before_it_is_recorded(
    monkeypatch: pytest.MonkeyPatch, audit: Audit
) -> None:
    # Audited "not sized" while the pool was set, a record once told the opposite of what AWS held.
    _answer_lost(monkeypatch)
    record = _run(audit)
    assert _pool()["MaxGroupPreparedCapacity"] == 8  # type: ignore[index]
    note = record["warm_pool"]
    assert (note["applied"], note["max_group_prepared_capacity"]) == (True, 8)
    assert "answer was lost; DescribeWarmPool shows it in place" in note["summary"]
    assert "ReadTimeoutError" in note["error"]


@pytest.mark.usefixtures("sizing")
def test_a_lost_answer_that_cannot_be_read_back_is_recorded_as_unknown(
    monkeypatch: pytest.MonkeyPatch, audit: Audit
) -> None:
    _answer_lost(monkeypatch)
    describe = AutoScalingFleet.warm_pool
    calls: list[str] = []

    def then_unreadable(self: AutoScalingFleet, name: str) -> Any:
        calls.append(name)
        if len(calls) > 1:  # the read back, after the put
            raise AwsCallError("DescribeWarmPool", "Throttling", "Rate exceeded")
        return describe(self, name)

    monkeypatch.setattr(AutoScalingFleet, "warm_pool", then_unreadable)
    record = _run(audit)
    assert record["outcome"] == "applied"  # the forecast stands whatever the pool
    note = record["warm_pool"]
    assert note["applied"] is None and note["max_group_prepared_capacity"] == 8
    assert note["summary"].startswith("warm pool may not be sized: PutWarmPool failed")
    assert "reading it back failed too" in note["summary"] and "Rate exceeded" in note["summary"]


def test_a_pool_put_whose_record_could_not_be_written_is_audited_by_the_retry(
    config_file: ScalerConfig, alarms: list[str], audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surgeguard.service import RetryableFailureError

    # GIVEN the seasonal floor only recorded, and a run that puts the pool (it launches instances to
    # stop) whose audit write is throttled
    _configure(mode="forecast_only", anticipate_bursts=False, size_warm_pool=True)
    _history()
    audit_write_throttled_once(monkeypatch)
    when = T0.strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(RetryableFailureError):
        run(execution_id=str(uuid.uuid4()), scheduled_time=when)
    assert _pool() is not None and audit("web") == []
    # WHEN Lambda retries it
    run(execution_id=str(uuid.uuid4()), scheduled_time=when)
    # THEN the run's one record says the pool was set (it once said "skipped: forecast_only, nothing
    # acts on it; warm pool kept": the put that launched instances audited nowhere)
    (record,) = audit("web")
    assert record["outcome"] == "applied" and record["warm_pool"]["applied"] is True, record["reason"]
    assert record["warm_pool"]["max_group_prepared_capacity"] == 8
    assert "set by this run's earlier attempt" in record["warm_pool"]["summary"]


@pytest.mark.usefixtures("sizing")
def test_a_group_being_deleted_leaves_the_pool_and_the_forecast_stands(audit: Audit) -> None:
    from surgeguard.adapters import clients

    def deleting(parsed: dict[str, Any], **_: Any) -> None:
        for group in parsed.get("AutoScalingGroups", []):
            group["Status"] = "Delete in progress"

    hook = "after-call.auto-scaling.DescribeAutoScalingGroups"
    clients.client("autoscaling").meta.events.register(hook, deleting)
    try:
        record = _run(audit)
    finally:
        clients.client("autoscaling").meta.events.unregister(hook, deleting)
    # The floor written is audited as such (the group read for the pool once escaped the sizing and
    # the run's record said only "skipped: group_deleting")
    assert record["outcome"] == "applied" and record["forecast"]["floor"] >= 6, record["reason"]
    assert record["warm_pool"]["applied"] is False and "is being deleted" in record["warm_pool"]["summary"]
    assert _pool() is None


def test_off_by_default_the_forecaster_never_touches_a_pool(
    config_file: ScalerConfig, alarms: list[str], audit: Audit
) -> None:
    _configure()
    _history()
    record = _run(audit)
    assert record["outcome"] == "applied" and "warm_pool" not in record
    assert _pool() is None


def _sizing_for_a_sale(**peak: float) -> None:
    """Pool sizing on, and a sale at 13:00 UTC, an hour after the run: its pre-warm falls inside the
    forecast's one-hour horizon."""
    sale = {"name": "flash", "start": "2026-11-20T13:00:00", "end": "2026-11-20T14:00:00", "timezone": "UTC"}
    configure_web(
        forecast={"mode": "floor", "history_days": HISTORY_DAYS, "horizon_hours": 1, "size_warm_pool": True},
        events=[{**sale, **peak}],
    )
    _history()


def test_a_sale_near_prepares_its_target(config_file: ScalerConfig, alarms: list[str], audit: Audit) -> None:
    # Doors at 13:00 UTC, an hour after the run: its pre-warm (launch + warm-up + margins before the
    # doors) falls inside the forecast's one-hour horizon, so the pool is sized for the sale's target
    # (15000 requests/min at 1000 per instance) rather than for the week's peak of 8.
    _sizing_for_a_sale(peak_requests_per_minute=15000)
    record = _run(audit)
    assert record["warm_pool"]["max_group_prepared_capacity"] == 15
    assert "event flash 15" in record["reason"]
    assert _pool()["MaxGroupPreparedCapacity"] == 15  # type: ignore[index]


def test_a_sale_whose_normal_load_cannot_be_read_leaves_the_pool_and_the_forecast_stands(
    monkeypatch: pytest.MonkeyPatch, config_file: ScalerConfig, alarms: list[str], audit: Audit
) -> None:
    # A sale declared as a multiple of the normal load needs that load read (GetMetricData). Its read
    # failing once failed the whole run after the forecast was written, against the docstring: the
    # pool is a refinement, and a `failed` record pages a human for it.
    _sizing_for_a_sale(peak_multiplier=3)

    def unreadable(self: Any, group: Any, around: Any) -> float | None:
        raise AwsCallError("GetMetricData", "Throttling", "Rate exceeded")

    monkeypatch.setattr(CloudWatchSignals, "normal_requests_per_minute", unreadable)
    record = _run(audit)
    assert record["outcome"] == "applied" and record["forecast"]["floor"] >= 6
    assert record["warm_pool"]["applied"] is False
    summary = record["warm_pool"]["summary"]
    assert summary == "warm pool not sized: GetMetricData failed: Throttling: Rate exceeded"
    assert _pool() is None


@pytest.mark.parametrize(("minutes_before", "value"), [(30, math.inf), (HISTORY_DAYS * 1440, math.nan)])
@pytest.mark.usefixtures("sizing")
def test_a_nan_or_inf_minute_of_history_sizes_the_pool_from_the_known_minutes(
    monkeypatch: pytest.MonkeyPatch,
    audit: Audit,
    capsys: pytest.CaptureFixture[str],
    minutes_before: int,
    value: float,
) -> None:
    # GIVEN one minute of RequestCount read as inf (30 minutes ago) or NaN (the oldest minute)
    read = CloudWatchSignals.request_history

    def one_damaged(
        self: CloudWatchSignals, group: Any, start: datetime, end: datetime
    ) -> list[float | None]:
        minutes = read(self, group, start, end)
        minutes[-minutes_before] = value
        return minutes

    monkeypatch.setattr(CloudWatchSignals, "request_history", one_damaged)
    # WHEN the forecaster runs
    record = _run(audit)
    # THEN the minute is a gap, as in the fit: the week's peak of the known minutes sizes the pool (that
    # peak went to math.ceil: the run wrote its floor, then failed, and Lambda retried it in vain)
    assert record["outcome"] == "applied" and record["forecast"]["floor"] >= 6
    assert record["warm_pool"]["applied"] is True and record["warm_pool"]["max_group_prepared_capacity"] == 8
    assert _pool()["MaxGroupPreparedCapacity"] == 8  # type: ignore[index]
    # ... and the written forecast is counted (the staleness alarm's datapoint)
    assert '"ForecastWritten": 1' in capsys.readouterr().out


def test_a_sale_whose_normal_load_no_capacity_fits_leaves_the_pool_and_the_forecast_stands(
    monkeypatch: pytest.MonkeyPatch, config_file: ScalerConfig, alarms: list[str], audit: Audit
) -> None:
    # GIVEN a sale near whose normal load reads as inf: no target capacity can be computed from it
    _sizing_for_a_sale(peak_multiplier=3)
    monkeypatch.setattr(CloudWatchSignals, "normal_requests_per_minute", lambda self, group, around: math.inf)
    # WHEN the forecaster runs
    record = _run(audit)
    # THEN the written floor stands in an applied record, the pool is left, and the record says why (the
    # error once failed the run after its floor was written)
    assert record["outcome"] == "applied" and record["forecast"]["floor"] >= 6
    assert record["warm_pool"]["applied"] is False
    assert record["warm_pool"]["summary"].startswith("warm pool not sized: OverflowError")
    assert _pool() is None


@pytest.mark.parametrize("stopped_by", ["dry_run", "pause", "launch_suspended"])
def test_a_dry_run_or_paused_group_gets_no_warm_pool(
    config_file: ScalerConfig, alarms: list[str], audit: Audit, stopped_by: str
) -> None:
    # PutWarmPool (a pool launches instances) once ignored both: dry-run calls no Auto Scaling API, and the
    # kill switch is read before every Auto Scaling call. With Launch suspended AWS accepts the put and
    # prepares nothing (Launch adds instances to a warm pool too): it once read "warm pool set"
    from datetime import UTC, datetime

    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.domain.model import Pause

    from .support import TABLE

    configure_web(
        dry_run=stopped_by == "dry_run",
        forecast={"mode": "floor", "history_days": HISTORY_DAYS, "horizon_hours": 1, "size_warm_pool": True},
    )
    if stopped_by == "pause":
        AuditStore(TABLE).set_pause("web", Pause.ALL, "oncall@example.com", datetime.now(UTC))
    if stopped_by == "launch_suspended":
        boto3.client("autoscaling").suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    _history()
    record = _run(audit)
    assert _pool() is None, record["warm_pool"]
    assert "warm pool not sized; would set" in record["warm_pool"]["summary"]
    if stopped_by == "launch_suspended":
        assert record["warm_pool"]["summary"].startswith(
            "Launch is suspended on the group (SuspendedProcesses)"
        )


def test_an_unset_pool_is_judged_at_the_groups_maxsize_and_prepared_for_a_near_sale(
    config_file: ScalerConfig, alarms: list[str], audit: Audit
) -> None:
    # GIVEN web's MaxSize 20 (the config's max), its pool unset (-1: AWS prepares for MaxSize, 20), and a
    # sale an hour out whose target is 30 (temporary max 40)
    sale = {
        "name": "flash",
        "start": "2026-11-20T13:00:00",
        "end": "2026-11-20T14:00:00",
        "timezone": "UTC",
        "peak_requests_per_minute": 30000,
        "temporary_max": 40,
    }
    configure_web(
        forecast={
            "mode": "floor",
            "history_days": HISTORY_DAYS,
            "horizon_hours": 1,
            "anticipate_bursts": False,
            "size_warm_pool": True,
        },
        events=[sale],
    )
    boto3.client("autoscaling").put_warm_pool(AutoScalingGroupName="web", MaxGroupPreparedCapacity=-1)
    _history()
    # WHEN the forecaster runs
    record = _run(audit)
    # THEN the pool is put for the sale's 30 (judged at the sale's target, the unset pool passed for
    # one preparing 30 and was "kept")
    assert record["warm_pool"]["applied"] is True, record["warm_pool"]
    assert (_pool() or {})["MaxGroupPreparedCapacity"] == 30
