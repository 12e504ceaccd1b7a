"""A burst anticipation that goes on across a forecaster run, through the real handlers under moto: the
new FORECAST item keeps the run of due minutes that began under the last one, so a burst that does not
come is let go lead + 2 minutes after its anticipation began (README), not that long after the run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from .support import T0, put_request_counts, reevaluation
from .test_forecast import BURST_MINUTE, LEVEL, _configure_bursts, forecast_item, run

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]
DAYS = 3
# web's lead is 3 minutes: the burst at 12:30 is due from 12:26, and judged come or not from 12:31.
DUE_FROM = BURST_MINUTE - 4
SECOND_RUN = BURST_MINUTE - 2


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_burst_due_across_a_forecaster_run_is_let_go_lead_plus_two_minutes_into_its_anticipation(
    invoke: Invoke, audit: Audit
) -> None:
    # GIVEN three days on which demand tripled at 12:30 for six minutes, and today it stays at its level
    _configure_bursts(history_days=DAYS)
    put_request_counts(
        (
            T0 + timedelta(minutes=i),
            3 * LEVEL if i < 0 and BURST_MINUTE <= i % 1440 < BURST_MINUTE + 6 else LEVEL,
        )
        for i in range(-DAYS * 1440, BURST_MINUTE + 10)
    )
    # AND the 12:00 run's item anticipating it from 12:26, then another run at 12:28, mid-anticipation
    run()
    invoke(reevaluation(DUE_FROM))
    assert audit("web")[-1]["burst"]["capacity"] == 9
    (record,) = run(scheduled_time=(T0 + timedelta(minutes=SECOND_RUN)).strftime("%Y-%m-%dT%H:%M:%SZ"))[
        "records"
    ]
    assert record["outcome"] == "applied", record["reason"]
    item = forecast_item()
    assert item is not None and item["issued_at"]["S"] == (T0 + timedelta(minutes=SECOND_RUN)).isoformat()
    # (the 12:28 item says the anticipation began two minutes before it; its record, what is due ahead)
    due = [int(pair["L"][0]["N"]) for pair in item["bursts"]["L"]]
    assert due[:3] == [DUE_FROM - SECOND_RUN, DUE_FROM - SECOND_RUN + 1, 0]
    assert audit("web")[-1]["forecast"]["bursts"][0][0] == 0
    # WHEN the re-evaluation runs at 12:31, five minutes into the anticipation, and the burst has not come
    invoke(reevaluation(BURST_MINUTE + 1))
    decided = audit("web")[-1]
    # THEN its floor is let go, the anticipation dated from 12:26 (not from the 12:28 run)
    assert "has not come" in decided["burst"].get("no_show", ""), decided["burst"]
    assert (T0 + timedelta(minutes=DUE_FROM)).isoformat() in decided["burst"]["no_show"]
    assert "floor:burst" not in {c["rule"] for c in decided["candidates"]}


@pytest.mark.usefixtures("config_file", "alarms")
@pytest.mark.parametrize("late", [False, True])
def test_a_late_alarm_before_a_burst_is_due_leaves_no_floor_to_outlive_its_no_show(
    invoke: Any, audit: Any, cpu_metric: Callable[..., None], clock: Any, late: bool
) -> None:
    from .alarm_events import SNS, alarm_event
    from .support import alarm_for, configure_web, desired, set_desired
    from .test_forecast import HISTORY_DAYS, _history_with_bursts, _quiet_cpu_and_scale_in_alarm

    # GIVEN a learned burst due from 12:26 that never comes, web at 9 and CPU at 30 %
    configure_web(
        requests_per_instance=2000,
        forecast={
            "mode": "forecast_only",
            "history_days": HISTORY_DAYS,
            "horizon_hours": 1,
            "anticipate_bursts": True,
        },
        scale_in={"datapoints_to_alarm": 3, "evaluation_periods": 3, "stabilization_seconds": 600},
    )
    _history_with_bursts(recent_minutes=BURST_MINUTE + 10)
    set_desired("web", 9)
    run()
    for minute in range(BURST_MINUTE - 8, BURST_MINUTE - 2):
        cpu_metric(30.0, T0 + timedelta(minutes=minute))
    # WHEN a CPU alarm stamped before the burst is due (12:25) is delivered once it is (12:27), or one
    # stamped and delivered at 12:27
    stamp = T0 + timedelta(minutes=BURST_MINUTE - (5 if late else 3))
    clock.pin(T0 + timedelta(minutes=BURST_MINUTE - 3))
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "out"), stamp, metric="CPUUtilization"))
    clock.pinned = None
    # ... and the burst has not come by the next re-evaluations, the scale-in alarm in ALARM
    _quiet_cpu_and_scale_in_alarm(cpu_metric, range(BURST_MINUTE - 1, BURST_MINUTE + 2))
    invoke(reevaluation(BURST_MINUTE + 2))
    # THEN both scale in alike (a burst floor read at 12:27 but stamped 12:25 outlived the no-show,
    # which lets go of what was asked from 12:26 on: the late one held 9)
    assert desired() < 9, audit("web")[-1]["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
@pytest.mark.parametrize("stamp_minute", [BURST_MINUTE - 1, BURST_MINUTE - 3.5])
def test_a_late_scale_in_alarm_stamped_before_a_forecaster_run_reads_the_burst_it_carried(
    invoke: Any, audit: Any, cpu_metric: Callable[..., None], clock: Any, stamp_minute: float
) -> None:
    from .alarm_events import SNS, alarm_event
    from .support import alarm_for, desired, set_desired
    from .test_forecast import _quiet_cpu_and_scale_in_alarm

    # GIVEN a burst due from 12:26, the item of 12:00 replaced by a run at 12:28 that carries the due
    # minutes before it, web at 12 and CPU quiet
    second_run = BURST_MINUTE - 2
    _configure_bursts(history_days=3)
    put_request_counts(
        (
            T0 + timedelta(minutes=i),
            3 * LEVEL if i < 0 and BURST_MINUTE <= i % 1440 < BURST_MINUTE + 6 else LEVEL,
        )
        for i in range(-3 * 1440, BURST_MINUTE + 10)
    )
    run()
    run(scheduled_time=(T0 + timedelta(minutes=second_run)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    set_desired("web", 12)
    _quiet_cpu_and_scale_in_alarm(cpu_metric, range(second_run - 4, second_run + 1))
    # WHEN a scale-in alarm stamped at 12:29, or at 12:26:30 (before the run), is handled at 12:29
    clock.pin(T0 + timedelta(minutes=second_run + 1))
    stamp = T0 + timedelta(minutes=stamp_minute)
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "in"), stamp, metric="CPUUtilization"))
    # THEN both hold the burst's floor, 9 (the earlier stamp lay outside the new item's minute before
    # its run, and scaled in to 6 just before the burst)
    assert desired() == 9
