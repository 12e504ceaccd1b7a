"""Sale phases obey the alarm path's rules (issue 12): the kill switch before any Auto Scaling call,
targets that never compound, the late-phase rule, times against the Lambda's own clock, and each
handler rejecting a payload meant for another."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.adapters.errors import AwsCallError
from surgeguard.domain.model import Pause
from surgeguard.handlers import forecast
from surgeguard.service import RetryableFailureError

from .support import T0, TABLE, LambdaContext, desired, set_desired
from .test_sale_events import (
    EVENT,
    PREWARM,
    RELEASE,
    RESTORE,
    declare,
    fire,
    max_size,
    max_size_set_answer_lost,
    phase,
    schedule_exists,
)
from .test_sale_events import schedules as schedules_fixture  # noqa: F401  (the fixture, by this name)

Audit = Callable[[str], list[dict[str, Any]]]


@pytest.fixture
def sale(config_file: Any, alarms: list[str]) -> None:
    declare(EVENT)


@pytest.mark.usefixtures("sale")
@pytest.mark.parametrize("pause", [Pause.ALL, Pause.OUT])
def test_a_paused_prewarm_changes_nothing_not_even_max_size(pause: Pause, audit: Audit) -> None:
    # GIVEN the kill switch on (everything, or scale-out only)
    AuditStore(TABLE).set_pause(None, pause, "oncall@example.com", datetime.now(UTC))
    # WHEN the pre-warm fires
    result = fire(phase("prewarm", PREWARM))
    # THEN MaxSize and capacity are untouched, and the audit says so (before: MaxSize 20 -> 40)
    assert (desired(), max_size()) == (2, 20)
    (record,) = audit("web")
    assert (record["outcome"], record["skip_cause"]) == ("skipped", "paused")
    assert "no MaxSize raise" in record["reason"]
    assert result["records"][0]["outcome"] == "skipped"


@pytest.mark.usefixtures("sale")
def test_a_paused_restore_leaves_max_size_raised_and_says_so(audit: Audit) -> None:
    fire(phase("prewarm", PREWARM))
    assert max_size() == 30
    AuditStore(TABLE).set_pause(None, Pause.ALL, "oncall@example.com", datetime.now(UTC))
    fire(phase("restore", RESTORE))
    assert max_size() == 30
    restore = [r for r in audit("web") if r["trigger"]["phase"] == "restore"]
    assert [(r["outcome"], r["skip_cause"]) for r in restore] == [("skipped", "paused")]
    assert "MaxSize stays raised" in restore[0]["reason"]


@pytest.mark.usefixtures("sale")
def test_a_restore_under_a_scale_out_pause_puts_max_size_back(audit: Audit) -> None:
    # A scale-out pause (`pause --direction out`, a cost runaway stopped) stops what adds capacity; a
    # restore only takes the sale's max away. Skipped under it, the temporary max of 30 stayed for good,
    # for any later scale-out to fill once resumed.
    fire(phase("prewarm", PREWARM))
    assert max_size() == 30
    AuditStore(TABLE).set_pause(None, Pause.OUT, "oncall@example.com", datetime.now(UTC))
    fire(phase("restore", RESTORE))
    assert max_size() == 20
    restore = [r for r in audit("web") if r["trigger"]["phase"] == "restore"]
    assert [r["outcome"] for r in restore] == ["applied"]
    assert "MaxSize 30 -> 20" in restore[0]["reason"]


@pytest.mark.usefixtures("sale")
def test_one_phase_delivered_twice_with_new_execution_ids_is_handled_once(audit: Audit) -> None:
    # Scheduler makes a new execution id for each attempt to deliver: a retried delivery after one that
    # landed was once a second trigger, applied and told a second time
    fire(phase("prewarm", PREWARM, execution_id="first"))
    again = fire(phase("prewarm", PREWARM, execution_id="second"))["records"][0]
    assert again["outcome"] == "skipped" and "duplicate" in again["reason"], again
    prewarms = [
        (r["outcome"], r.get("event_target")) for r in audit("web") if r["trigger"].get("phase") == "prewarm"
    ]
    assert sorted(prewarms, key=str) == [("applied", 24), ("skipped", None)]
    assert desired() == 24


def _throttled(self: AutoScalingFleet, name: str, desired: int) -> None:
    raise AwsCallError("SetDesiredCapacity", "Throttling", "Rate exceeded")


def test_without_history_a_multiplier_multiplies_the_first_phases_capacity_never_a_raised_one(
    config_file: Any, alarms: list[str], audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 4x event with a ramp stage (half the peak, an hour before), and no demand history at all
    event = {**EVENT, "ramp": [{"minutes_before_start": 60, "fraction": 0.5}]}
    declare(event, history=False)
    set_desired("web", 4)
    ramp_time = T0 - timedelta(minutes=60) - timedelta(minutes=10)
    # WHEN the ramp stage, then the pre-warm, then the pre-warm again (a new execution) fire
    fire(phase("ramp-1", ramp_time))
    assert desired() == 8  # half of 4 x 4
    with monkeypatch.context() as patch:
        patch.setattr(AutoScalingFleet, "set_desired_capacity", _throttled)
        with pytest.raises(RetryableFailureError):
            fire(phase("prewarm", PREWARM, execution_id="again"))
    fire(phase("prewarm", PREWARM, execution_id="again"))  # Lambda's retry, after the event item was saved
    # THEN every phase targets 4 x the 4 the group had at the first phase: 16, never 4 x 8 = 32 or 40
    targets = [(r["outcome"], r.get("event_target", 0)) for r in audit("web")]
    assert sorted(targets) == [("applied", 16), ("applied", 16), ("failed", 0)]
    assert desired() == 16
    assert all("no request history" in r["reason"] for r in audit("web") if "event_target" in r)


def test_without_history_a_first_phases_capacity_of_0_is_kept_not_taken_for_none(
    config_file: Any, alarms: list[str], audit: Audit
) -> None:
    # GIVEN a 4x event with a ramp stage and no demand history, and web parked at 0 (MinSize 0) when the
    # ramp stage runs: its target is the configured min, 1, which the ramp stage raises web to
    import boto3

    declare({**EVENT, "ramp": [{"minutes_before_start": 60, "fraction": 0.5}]}, history=False)
    boto3.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", MinSize=0, DesiredCapacity=0
    )
    fire(phase("ramp-1", T0 - timedelta(minutes=70)))
    assert desired() == 1
    # WHEN the pre-warm fires
    fire(phase("prewarm", PREWARM))
    # THEN it multiplies the 0 kept from the first phase, as every phase of this event does: the saved 0
    # was once taken for no saved capacity, and the pre-warm multiplied the 1 the ramp stage had raised
    targets = [r.get("event_target") for r in audit("web")]
    assert targets == [1, 1], [r["reason"] for r in audit("web")]
    assert desired() == 1


def test_a_prewarm_after_the_sale_is_over_does_nothing(
    config_file: Any, alarms: list[str], audit: Audit, clock: Any
) -> None:
    # GIVEN a 20-minute flash sale whose pre-warm is delivered (a Lambda retry) after the doors closed,
    # within the hour Lambda keeps a failed event
    declare({**EVENT, "end": "2026-11-20T07:20:00"})
    clock.pin(T0 + timedelta(minutes=30))
    fire(phase("prewarm", PREWARM))
    # THEN nothing changes (before: a group taken from 4 to 16 for a sale that had ended)
    assert (desired(), max_size()) == (2, 20)
    (record,) = audit("web")
    assert (record["outcome"], record["skip_cause"]) == ("skipped", "late")
    assert "after the sale ended" in record["reason"]


# A template synthesized before a phase and deployed after it still holds the phase's one-time schedule
# (synth drops only what is past when it runs). AWS documents no behaviour for an at() time already past
# at creation: EventBridge Scheduler "ignores StartDate/EndDate for one-time schedules" (Scheduler API,
# GetSchedule StartDate/EndDate) and CloudFormation's AWS::Scheduler::Schedule has no
# ActionAfterCompletion (its registry schema, as cfn-lint 1.58 ships it), so no template property can
# bound it. Whether Scheduler then never fires it or fires it at once, the Lambda does the same: nothing,
# said plainly, to the audit and to people.


@pytest.mark.usefixtures("sale")
def test_a_stale_prewarm_is_skipped_announced_and_its_schedule_deleted(
    audit: Audit,
    clock: Any,
    notifications: Any,
    schedules_fixture: Callable[[str], str],  # noqa: F811  (the imported fixture)
) -> None:
    # GIVEN the pre-warm's schedule, created three days after its time (a late deploy) and fired at once
    arn = schedules_fixture("doorbuster-prewarm")
    clock.pin(PREWARM + timedelta(days=3))
    fire(phase("prewarm", PREWARM, execution_id="old", schedule_arn=arn))
    # THEN nothing changes; one record says it is stale, when it was planned, and what to do
    assert (desired(), max_size()) == (2, 20)
    (record,) = audit("web")
    assert (record["outcome"], record["skip_cause"]) == ("skipped", "stale_phase")
    assert record["planned_time"] == PREWARM.isoformat()
    assert "more than 1:05:00 late" in record["reason"] and "pre-warm by hand" in record["reason"]
    assert record["source_id"] == "old"
    # AND the completed one-time schedule is deleted, and people hear of it
    assert record["schedule_deleted"] is True
    assert not schedule_exists("doorbuster-prewarm")
    (told,) = notifications.read()
    assert told["Subject"] == "Surgeguard skipped: web"
    # AND a second delivery of it is a duplicate, not a second notice
    fire(phase("prewarm", PREWARM, execution_id="old", schedule_arn=arn))
    assert notifications.read() == []


@pytest.mark.usefixtures("sale")
def test_a_phase_just_inside_the_window_is_still_acted_on(audit: Audit, clock: Any) -> None:
    # 64 minutes late (a Lambda retry, or a deploy just after the time): the floor is still worth having
    clock.pin(PREWARM + timedelta(minutes=64))
    fire(phase("prewarm", PREWARM))
    (record,) = audit("web")
    assert record["outcome"] == "applied"
    assert desired() == 24


@pytest.mark.usefixtures("sale")
def test_a_phase_from_the_future_is_still_rejected(audit: Audit, clock: Any) -> None:
    clock.pin(PREWARM - timedelta(hours=1))
    fire(phase("prewarm", PREWARM, execution_id="early"))
    (record,) = audit("web")
    assert record["outcome"] == "rejected"
    assert "refusing a time from the future" in record["reason"]
    assert desired() == 2


@pytest.mark.usefixtures("sale")
def test_a_scheduled_time_that_is_not_the_plans_is_rejected(audit: Audit) -> None:
    fire(phase("prewarm", PREWARM + timedelta(minutes=30), execution_id="moved"))
    (record,) = audit("web")
    assert record["outcome"] == "rejected"
    assert "not when doorbuster's prewarm is planned" in record["reason"]
    assert record["source_id"] == "moved"


@pytest.mark.usefixtures("sale")
def test_the_forecaster_rejects_a_sale_payload_and_says_whose_it_is(audit: Audit) -> None:
    payload = phase("prewarm", PREWARM, execution_id="meant-for-sales")
    forecast.lambda_handler(payload, LambdaContext(function_name="surgeguard-forecast"))
    (record,) = audit("web")
    assert record["outcome"] == "rejected"
    assert "meant for another handler" in record["reason"]
    assert record["source_id"] == "meant-for-sales"


RAMPED = {**EVENT, "ramp": [{"minutes_before_start": 60, "fraction": 0.5}]}
# The ramp stage fires its lead (10 minutes) before 60 minutes ahead of the doors.
PHASE_TIMES = {
    "ramp-1": T0 - timedelta(minutes=70),
    "prewarm": PREWARM,
    "release": RELEASE,
    "restore": RESTORE,
}


def test_the_kill_switch_stops_every_phase(config_file: Any, alarms: list[str], audit: Audit) -> None:
    declare(RAMPED)
    AuditStore(TABLE).set_pause(None, Pause.ALL, "oncall@example.com", datetime.now(UTC))
    for name, when in PHASE_TIMES.items():
        fire(phase(name, when, execution_id=f"paused-{name}"))
        # THEN no phase moves capacity or MaxSize while paused
        assert (desired(), max_size()) == (2, 20), name
    outcomes = {r["trigger"]["phase"]: (r["outcome"], r.get("skip_cause")) for r in audit("web")}
    assert outcomes["ramp-1"] == ("skipped", "paused")
    assert outcomes["prewarm"] == ("skipped", "paused")
    # release and restore have nothing to undo: no pre-warm ran
    assert outcomes["release"][0] == outcomes["restore"][0] == "unchanged"


def test_a_replay_of_every_phase_changes_nothing(config_file: Any, alarms: list[str], audit: Audit) -> None:
    declare(RAMPED)
    for name, when in PHASE_TIMES.items():
        payload = phase(name, when, execution_id=f"exec-{name}")
        fire(payload)
        after_first = (desired(), max_size())
        # WHEN Scheduler (or Lambda's retry) delivers the same execution again
        again = fire(payload)
        # THEN it is a duplicate and nothing moves
        assert again["records"][0]["outcome"] == "skipped", name
        assert (desired(), max_size()) == after_first, name
    duplicates = [r for r in audit("web") if r.get("skip_cause") == "duplicate"]
    assert sorted(r["source_id"] for r in duplicates) == sorted(f"exec-{n}" for n in PHASE_TIMES)


@pytest.mark.usefixtures("sale")
def test_a_stale_restore_says_what_maxsize_to_put_back(audit: Audit, clock: Any) -> None:
    # A restore more than 65 minutes late is not acted on (another sale may need the raised max by
    # then); its record once told people to "pre-warm by hand", not what MaxSize to put back.
    fire(phase("prewarm", PREWARM))
    clock.pin(RESTORE + timedelta(days=3))
    fire(phase("restore", RESTORE, execution_id="late"))
    assert max_size() == 30
    record = audit("web")[-1]
    assert (record["outcome"], record["skip_cause"]) == ("skipped", "stale_phase")
    assert "MaxSize stays 30" in record["reason"] and "put it back to 20 by hand" in record["reason"]
    assert "pre-warm by hand" not in record["reason"]


def _applied_audit_write_throttled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first `applied` audit write is throttled (DynamoDB at the doors opening); the rest go through."""
    write = AuditStore.write_audit
    throttled: list[str] = []

    def first_applied_throttled(self: AuditStore, record: dict[str, Any]) -> None:
        if not throttled and record.get("outcome") == "applied":
            throttled.append(record["reason"])
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        write(self, record)

    monkeypatch.setattr(AuditStore, "write_audit", first_applied_throttled)


@pytest.mark.usefixtures("sale")
@pytest.mark.parametrize("start", [24, 2], ids=["raise-only", "raise-and-floor"])
def test_a_prewarms_max_raise_whose_audit_write_failed_is_audited_and_told_by_its_retry(
    start: int, audit: Audit, notifications: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN web at `start` (24: already at the pre-warm's target, so MaxSize 20 -> 30 is its only change)
    set_desired("web", start)
    notifications.read()
    _applied_audit_write_throttled_once(monkeypatch)
    # WHEN the pre-warm raises MaxSize (and applies its floor), and its audit write is throttled
    payload = phase("prewarm", PREWARM, execution_id="exec-1")
    with pytest.raises(RetryableFailureError):
        fire(payload)
    assert (desired(), max_size()) == (24, 30)
    # AND Lambda retries it a minute later
    clock.pin(PREWARM + timedelta(minutes=1))
    fire(payload)
    # THEN the retry audits the raise the first attempt made, `applied`, and people hear of it (the retry
    # once found MaxSize raised, raised nothing, and audited the pre-warm `unchanged`, or audited only
    # the floor's scale-out from its stash: MaxSize 20 -> 30 was never audited nor told)
    (record,) = audit("web")
    assert record["outcome"] == "applied", record["reason"]
    assert record.get("new_max") == 30, record
    assert "MaxSize 20 -> 30" in record["reason"]
    assert record.get("recovered_from"), record
    told = notifications.read()
    assert [t["Subject"].split(":")[0] for t in told] == ["Surgeguard applied"], told
    assert "MaxSize 20 -> 30" in told[0]["Message"]


@pytest.mark.usefixtures("sale")
def test_a_restore_that_finds_maxsize_already_put_back_changes_nothing_and_says_so(
    audit: Audit, notifications: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the pre-warm's raise (20 -> 30), then a person putting MaxSize back to 20 by hand
    import boto3

    fire(phase("prewarm", PREWARM))
    boto3.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", MaxSize=20, DesiredCapacity=20
    )
    notifications.read()
    updates: list[int] = []
    real_set = AutoScalingFleet.set_max_size

    def counted(self: AutoScalingFleet, name: str, size: int, desired_capacity: int | None = None) -> None:
        updates.append(size)
        real_set(self, name, size, desired_capacity)

    monkeypatch.setattr(AutoScalingFleet, "set_max_size", counted)
    # WHEN the restore runs
    fire(phase("restore", RESTORE))
    # THEN it makes no Auto Scaling call and audits `unchanged`, telling nobody (it once sent
    # UpdateAutoScalingGroup for nothing, audited "applied: MaxSize 20 -> 20" and told people so)
    assert updates == []
    assert (max_size(), desired()) == (20, 20)
    restore = [r for r in audit("web") if r["trigger"]["phase"] == "restore"]
    assert [r["outcome"] for r in restore] == ["unchanged"], restore
    assert "MaxSize already 20" in restore[0]["reason"]
    assert notifications.read() == []
    # AND the sale is marked restored all the same: a later sale never takes its original for one to put back
    (state,) = AuditStore(TABLE).load_events("web")
    assert state.restored_at is not None


@pytest.mark.usefixtures("sale")
def test_a_prewarms_max_raise_whose_answer_was_lost_is_audited_applied_by_its_retry(
    audit: Audit, notifications: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN web already at the pre-warm's target, 24: MaxSize 20 -> 30 is the pre-warm's only change
    set_desired("web", 24)
    notifications.read()
    # WHEN the raise lands but its answer is lost, and Lambda retries the same event
    with monkeypatch.context() as patch:
        patch.setattr(AutoScalingFleet, "set_max_size", max_size_set_answer_lost)
        with pytest.raises(RetryableFailureError):
            fire(phase("prewarm", PREWARM, execution_id="exec-1"))
    assert max_size() == 30
    fire(phase("prewarm", PREWARM, execution_id="exec-1"))
    # THEN the retry audits the raise `applied` and people hear that it landed (the retry once found
    # MaxSize raised, raised nothing and audited `unchanged`: people only heard of the failed attempt)
    records = audit("web")
    assert sorted(r["outcome"] for r in records) == ["applied", "failed"], [r["reason"] for r in records]
    (applied,) = (r for r in records if r["outcome"] == "applied")
    assert applied.get("new_max") == 30 and applied.get("recovered_from"), applied
    assert "MaxSize 20 -> 30" in applied["reason"]
    told = sorted(t["Subject"].split(":")[0] for t in notifications.read())
    assert told == ["Surgeguard applied", "Surgeguard failed"], told


def _resume(*flags: str) -> int:
    from surgeguard_cli import main as cli

    config = Path(os.environ["LAMBDA_TASK_ROOT"]) / os.environ["CONFIG_FILE"]
    return cli.main(["resume", "--table", TABLE, *flags, "--config", str(config)])


def _caught_up(audit: Audit) -> list[dict[str, Any]]:
    return [r for r in audit("web") if r["trigger"].get("source") == "resume"]


@pytest.mark.usefixtures("sale")
@pytest.mark.parametrize("flags", [("--all",), ("--group", "web")])
def test_resume_puts_back_the_max_of_a_restore_skipped_under_the_pause_once(
    flags: tuple[str, ...], audit: Audit, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a sale's restore skipped under the kill switch (everything, or the group's scale-in frozen)
    fire(phase("prewarm", PREWARM))
    AuditStore(TABLE).set_pause(
        None if flags == ("--all",) else "web", Pause.ALL, "oncall", datetime.now(UTC)
    )
    fire(phase("restore", RESTORE))
    assert (desired(), max_size()) == (24, 30)
    # WHEN the group is resumed two hours later (the restore's schedule is long gone)
    clock.pin(RESTORE + timedelta(hours=2))
    assert _resume(*flags) == 0
    # THEN the sale's max is put back (desired down to it), through the restore's own path, audited once
    # and said on the terminal: it once stayed at 30 for good
    assert (desired(), max_size()) == (20, 20)
    (caught,) = _caught_up(audit)
    assert (caught["outcome"], caught["trigger"]["phase"], caught["new_max"]) == ("applied", "restore", 20)
    assert "MaxSize 30 -> 20" in caught["reason"]
    assert "doorbuster" in capsys.readouterr().err
    # AND a later resume (another pause since, over) does it no second time: a MaxSize a person raised
    # since stays
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=35)
    assert _resume(*flags) == 0
    assert max_size() == 35
    assert len(_caught_up(audit)) == 1


@pytest.mark.usefixtures("sale")
def test_resume_leaves_a_max_size_changed_by_hand_after_a_restore_skipped_under_the_pause(
    audit: Audit, clock: Any
) -> None:
    # GIVEN a restore skipped under the pause, and MaxSize set to 25 by hand since (on purpose)
    fire(phase("prewarm", PREWARM))
    AuditStore(TABLE).set_pause(None, Pause.ALL, "oncall", datetime.now(UTC))
    fire(phase("restore", RESTORE))
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=25)
    # WHEN resumed
    clock.pin(RESTORE + timedelta(hours=2))
    assert _resume("--all") == 0
    # THEN that MaxSize is no raise of the sale's: left, and the catch-up says why
    assert max_size() == 25
    (caught,) = _caught_up(audit)
    assert caught["outcome"] == "unchanged"
    assert "MaxSize 25" in caught["reason"] and "left as it is" in caught["reason"]


def _max_size_throttled(
    fleet: AutoScalingFleet, name: str, size: int, desired_capacity: int | None = None
) -> None:
    raise AwsCallError("UpdateAutoScalingGroup", "Throttling", "Rate exceeded")


@pytest.mark.usefixtures("sale")
def test_a_restore_caught_up_at_resume_that_fails_exits_3_and_the_next_resume_does_it(
    audit: Audit, clock: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fire(phase("prewarm", PREWARM))
    AuditStore(TABLE).set_pause(None, Pause.ALL, "oncall", datetime.now(UTC))
    fire(phase("restore", RESTORE))
    clock.pin(RESTORE + timedelta(hours=2))
    # WHEN the resume's restore is throttled
    with monkeypatch.context() as patch:
        patch.setattr(AutoScalingFleet, "set_max_size", _max_size_throttled)
        assert _resume("--all") == 3
    # THEN it is audited failed and said, MaxSize left; the next resume does it
    assert "tries again" in capsys.readouterr().err
    assert max_size() == 30
    assert [r["outcome"] for r in _caught_up(audit)] == ["failed"]
    assert _resume("--all") == 0
    assert max_size() == 20
    assert sorted(r["outcome"] for r in _caught_up(audit)) == ["applied", "failed"]
