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
