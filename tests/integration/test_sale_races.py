"""Sale phases that run at the same time: a restore against another sale's pre-warm, the kill switch set
during a pre-warm. Each interleaving is forced by patching one adapter method to run the other in the
middle of it (the Auto Scaling API has no conditional write to close the window)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest

from surgeguard import keys
from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.adapters.errors import AwsCallError
from surgeguard.config import parse_config
from surgeguard.domain.model import EventState, Pause
from surgeguard.domain.sales import EventPlan, plan_event
from surgeguard.service import RetryableFailureError

from .support import T0, configure_web, desired, put_request_counts
from .test_sale_events import EVENT, PREWARM, RESTORE, declare, fire, max_size, phase

Audit = Callable[[str], list[dict[str, Any]]]


def _noon_sale(doors: str) -> EventPlan:
    """web with the doorbuster (MaxSize 30, restored 10:30 New York) and a noon sale (MaxSize 25, an
    hour long) whose doors open at `doors` (local), week-old demand for both (target 24): noon's plan."""
    noon = {**EVENT, "name": "noon", "start": f"2026-11-20T{doors}:00", "end": "2026-11-20T11:50:00"}
    noon["temporary_max"] = 25
    web = parse_config(configure_web(launch_seconds=130, events=[EVENT, noon])).groups[0]
    plan = plan_event(web, web.events[1])
    for opens in (T0, plan.start):
        put_request_counts((opens - timedelta(days=7, minutes=minute), 6000.0) for minute in range(-7, 8))
    return plan


def _at(clock: Any, event: str, phase_name: str, when: Any, fired: Any = None) -> dict[str, Any]:
    clock.pin(fired or when)
    (record,) = fire(phase(phase_name, when, event=event))["records"]
    return record


def _original_max(event: str) -> int | None:
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["TABLE_NAME"],
        Key={
            keys.PARTITION_KEY: {"S": keys.group_pk("web")},
            keys.SORT_KEY: {"S": f"{keys.EVENT_SORT_PREFIX}{event}"},
        },
    )["Item"]
    return int(item["original_max"]["N"]) if "original_max" in item else None


def _last(audit: Audit, event: str, phase_name: str) -> dict[str, Any]:
    return [
        r for r in audit("web") if (r["trigger"].get("event"), r["trigger"]["phase"]) == (event, phase_name)
    ][-1]


def _pause(at: Any) -> None:
    """An operator's `surgeguard pause` of every group."""
    AuditStore(os.environ["TABLE_NAME"], boto3.client("dynamodb")).set_pause(None, Pause.ALL, "oncall", at)


def _restore_inside_noons_save(clock: Any, monkeypatch: pytest.MonkeyPatch, noon_fired: Any) -> list[str]:
    """The doorbuster's restore runs after noon's pre-warm read the group and the event items, before
    its event item is written."""
    real_save = AuditStore.save_event
    ran: list[str] = []

    def save_event(self: AuditStore, group: str, state: EventState) -> None:
        if state.event == "noon" and not ran:
            restore = _at(clock, "doorbuster", "restore", RESTORE)
            ran.append(f"{restore['outcome']}: {restore['reason']}")
            clock.pin(noon_fired)
        real_save(self, group, state)

    monkeypatch.setattr(AuditStore, "save_event", save_event)
    return ran


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_restore_between_the_next_sales_read_and_its_save_leaves_it_its_max(
    clock: Any, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the doorbuster's raise (30) in place, and noon's pre-warm (10:29) just before its restore
    plan = _noon_sale("10:39")
    assert PREWARM < plan.prewarm < RESTORE < plan.restore
    _at(clock, "doorbuster", "prewarm", PREWARM)
    fired = RESTORE - timedelta(seconds=2)
    ran = _restore_inside_noons_save(clock, monkeypatch, fired)
    # WHEN the doorbuster's restore (not knowing noon) cuts MaxSize to 20 between noon's read and save
    record = _at(clock, "noon", "prewarm", plan.prewarm, fired)
    # THEN noon raises it again after saving and holds its floor (it once ran its sale at 20 / 20)
    assert ran == ["applied: restore after doorbuster: MaxSize 30 -> 20, desired 24 -> 20"]
    assert (max_size(), desired()) == (25, 24), record["reason"]
    assert record["outcome"] == "applied"
    assert "read again after this sale's event item was saved: 20" in record["reason"]
    assert _last(audit, "noon", "prewarm")["new_max"] == 25
    # AND noon's own restore, the last, puts the group's original back
    assert _original_max("noon") == 20
    assert _at(clock, "noon", "restore", plan.restore)["outcome"] == "applied"
    assert max_size() == 20


@pytest.mark.parametrize("launch", ["running", "suspended"])
@pytest.mark.usefixtures("config_file", "alarms")
def test_the_next_sales_whole_prewarm_inside_a_restore_keeps_its_max_and_capacity(
    launch: str, clock: Any, audit: Audit, notifications: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the doorbuster's raise in place and the group at 24
    plan = _noon_sale("10:39")
    _at(clock, "doorbuster", "prewarm", PREWARM)
    notifications.read()
    real_set = AutoScalingFleet.set_max_size
    noon: list[dict[str, Any]] = []

    def set_max_size(
        self: AutoScalingFleet, name: str, size: int, desired_capacity: int | None = None
    ) -> None:
        if not noon:
            # noon's whole pre-warm runs after the restore read the event items and the group
            noon.append(_at(clock, "noon", "prewarm", plan.prewarm, RESTORE - timedelta(seconds=2)))
            if launch == "suspended":
                boto3.client("autoscaling").suspend_processes(
                    AutoScalingGroupName="web", ScalingProcesses=["Launch"]
                )
            clock.pin(RESTORE)
        real_set(self, name, size, desired_capacity)

    monkeypatch.setattr(AutoScalingFleet, "set_max_size", set_max_size)
    # WHEN the doorbuster's restore then cuts MaxSize and desired to 20
    restore = _at(clock, "doorbuster", "restore", RESTORE)
    # THEN it finds noon on when it reads the event items again, and puts its max and capacity back
    assert noon[0]["outcome"] == "unchanged", noon[0]["reason"]  # 30 / 24 when it ran: nothing to do
    if launch == "suspended":
        # ... its max only, with Launch suspended since: AWS would take desired 24 and launch nothing
        # (it once said "desired 20 -> 24 put back" of a group left at 20 instances)
        assert (max_size(), desired()) == (25, 20), restore["reason"]
        assert restore["reason"].endswith(
            "its max kept after all, MaxSize 20 -> 25; desired 20 not put back to 24: Launch is suspended "
            "on the group (SuspendedProcesses), so it launches nothing until it is resumed (aws "
            "autoscaling resume-processes --scaling-processes Launch)"
        )
        assert _last(audit, "doorbuster", "restore")["new_desired"] == 20
        return
    assert (max_size(), desired()) == (25, 24), restore["reason"]
    assert "then noon found on" in restore["reason"]
    assert "MaxSize 20 -> 25, desired 20 -> 24 put back" in restore["reason"]
    audited = _last(audit, "doorbuster", "restore")
    assert (audited["outcome"], audited["new_max"], audited["new_desired"]) == ("applied", 25, 24)
    assert any("noon found on" in n["Message"] for n in notifications.read())
    # AND noon's restore, the last, puts the group's original back
    _at(clock, "noon", "restore", plan.restore)
    assert max_size() == 20


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_restore_that_finds_the_next_sale_on_after_a_pause_leaves_its_max_to_people(
    clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _noon_sale("10:39")
    _at(clock, "doorbuster", "prewarm", PREWARM)
    real_set = AutoScalingFleet.set_max_size
    calls: list[int] = []

    def set_max_size(
        self: AutoScalingFleet, name: str, size: int, desired_capacity: int | None = None
    ) -> None:
        if not calls:
            _at(clock, "noon", "prewarm", plan.prewarm, RESTORE - timedelta(seconds=2))
            _pause(RESTORE)
            clock.pin(RESTORE)
        calls.append(size)
        real_set(self, name, size, desired_capacity)

    monkeypatch.setattr(AutoScalingFleet, "set_max_size", set_max_size)
    restore = _at(clock, "doorbuster", "restore", RESTORE)
    # The kill switch stops the put-back as it stops any raise; the record says what to put back
    assert calls == [20] and max_size() == 20
    assert "noon found on" in restore["reason"] and "put it back to 25 by hand" in restore["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_prewarm_at_the_restores_time_with_that_restore_in_flight_saves_the_groups_original(
    clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN noon's pre-warm planned at the doorbuster's restore time (10:30): by the clock that sale's
    # raise is over, but MaxSize is still its 30
    plan = _noon_sale("10:40")
    assert plan.prewarm == RESTORE
    _at(clock, "doorbuster", "prewarm", PREWARM)
    ran = _restore_inside_noons_save(clock, monkeypatch, RESTORE + timedelta(seconds=1))
    # WHEN that restore lands between noon's read and its save
    record = _at(clock, "noon", "prewarm", plan.prewarm, RESTORE + timedelta(seconds=1))
    # THEN noon has its max, and saved 20 (the group's own), not nothing (25 under the 30 it read),
    # for its restore to put back: the last restore once left MaxSize at 25 for good
    assert ran == ["applied: restore after doorbuster: MaxSize 30 -> 20, desired 24 -> 20"]
    assert (max_size(), desired()) == (25, 24), record["reason"]
    assert _original_max("noon") == 20
    _at(clock, "noon", "restore", plan.restore)
    assert max_size() == 20


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_restore_running_late_after_the_next_sales_prewarm_is_not_taken_for_the_original(
    clock: Any,
) -> None:
    # GIVEN noon's pre-warm at 10:30 and the doorbuster's restore, due then, landing a minute later
    plan = _noon_sale("10:40")
    _at(clock, "doorbuster", "prewarm", PREWARM)
    assert _at(clock, "noon", "prewarm", plan.prewarm)["outcome"] == "unchanged"  # 25 under 30, 24 held
    _at(clock, "doorbuster", "restore", RESTORE, RESTORE + timedelta(minutes=1))
    assert (max_size(), desired()) == (25, 24)
    # THEN noon's restore puts the group's own 20 back
    assert _original_max("noon") == 20
    _at(clock, "noon", "restore", plan.restore)
    assert max_size() == 20


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_pause_set_during_a_prewarm_stops_its_max_raise(
    clock: Any, audit: Audit, notifications: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the kill switch set after the pre-warm's first read of it, before its raise
    declare(EVENT)
    real_save = AuditStore.save_event

    def save_event(self: AuditStore, group: str, state: EventState) -> None:
        _pause(PREWARM)
        real_save(self, group, state)

    monkeypatch.setattr(AuditStore, "save_event", save_event)
    clock.pin(PREWARM)
    fire(phase("prewarm", PREWARM))
    # THEN read again before the raise, it stops it (MaxSize was once raised 20 -> 30, audited `skipped`)
    assert (max_size(), desired()) == (20, 2)
    (record,) = audit("web")
    assert (record["outcome"], record["skip_cause"]) == ("skipped", "paused"), record["reason"]
    assert "no MaxSize raise" in record["reason"]
    assert notifications.read() == []


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_pause_set_as_the_max_is_raised_is_audited_as_the_raise_it_let_through(
    clock: Any, audit: Audit, notifications: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the kill switch set after the pre-warm read it again, as its MaxSize raise goes out
    declare(EVENT)
    real_set = AutoScalingFleet.set_max_size

    def set_max_size(
        self: AutoScalingFleet, name: str, size: int, desired_capacity: int | None = None
    ) -> None:
        _pause(PREWARM)
        real_set(self, name, size, desired_capacity)

    monkeypatch.setattr(AutoScalingFleet, "set_max_size", set_max_size)
    clock.pin(PREWARM)
    fire(phase("prewarm", PREWARM))
    # THEN the raise made is audited `applied` and told (it was `skipped: paused`, told to nobody); the
    # floor is not applied
    assert (max_size(), desired()) == (30, 2)
    (record,) = audit("web")
    assert record["outcome"] == "applied" and "skip_cause" not in record, record
    assert "MaxSize 20 -> 30" in record["reason"] and "raise stands" in record["reason"]
    assert record["new_max"] == 30
    (told,) = notifications.read()
    assert "MaxSize 20 -> 30" in told["Message"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_sale_after_a_restore_that_landed_does_not_take_its_original_and_cut_a_max_set_since(
    clock: Any,
) -> None:
    # GIVEN the doorbuster's pre-warm (MaxSize 20 -> 30) and its restore (30 -> 20), both landed
    plan = _noon_sale("11:00")  # noon's pre-warm at 10:50 New York: the doorbuster's restore + 20 min
    _at(clock, "doorbuster", "prewarm", PREWARM)
    _at(clock, "doorbuster", "restore", RESTORE)
    assert max_size() == 20
    # AND a person then raises MaxSize to 40 (desired 30) for the evening
    boto3.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", MaxSize=40, DesiredCapacity=30
    )
    # WHEN noon's pre-warm runs (its temporary max 25 is under 40: nothing to raise) and then its restore
    assert plan.prewarm - RESTORE == timedelta(minutes=20)
    _at(clock, "noon", "prewarm", plan.prewarm)
    assert max_size() == 40
    before = desired()
    restore = _at(clock, "noon", "restore", plan.restore)
    # THEN noon kept no MaxSize to put back, so its restore leaves the person's 40 (taking the landed
    # restore for one in flight, it once saved the doorbuster's 20 and cut 40 -> 20 and desired with it)
    assert _original_max("noon") is None
    assert (max_size(), desired()) == (40, before), restore["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_restore_skipped_under_the_kill_switch_is_not_taken_for_one_that_landed(clock: Any) -> None:
    # GIVEN the doorbuster raised MaxSize 20 -> 30, and its restore was skipped under the kill switch
    plan = _noon_sale("11:00")  # noon's pre-warm at the doorbuster's restore + 20 minutes
    _at(clock, "doorbuster", "prewarm", PREWARM)
    _pause(RESTORE)
    skipped = _at(clock, "doorbuster", "restore", RESTORE)
    assert skipped["outcome"] == "skipped" and max_size() == 30
    AuditStore(os.environ["TABLE_NAME"], boto3.client("dynamodb")).set_pause(
        None, Pause.NONE, "oncall", RESTORE
    )
    # WHEN noon's pre-warm runs (MaxSize 30 still the doorbuster's raise) and then its restore
    _at(clock, "noon", "prewarm", plan.prewarm)
    _at(clock, "noon", "restore", plan.restore)
    # THEN the group's original, 20, is what noon kept and put back (a restore's claim done was once
    # taken for a restore landed: noon kept nothing, and MaxSize stayed 30 for good)
    assert _original_max("noon") == 20
    assert max_size() == 20


def _a_restore_failing_after_it_landed(clock: Any, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    real_set, real_save = AutoScalingFleet.set_max_size, AuditStore.save_event

    def set_max_size(self: Any, name: str, size: int, desired_capacity: int | None = None) -> None:
        real_set(self, name, size, desired_capacity)
        raise AwsCallError("UpdateAutoScalingGroup", "ReadTimeoutError", "Read timeout on endpoint URL")

    def save_event(self: AuditStore, group: str, state: EventState) -> None:
        if state.restored_at is not None:
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        real_save(self, group, state)

    clock.pin(RESTORE)
    with monkeypatch.context() as patch:
        if how == "answer_lost":
            patch.setattr(AutoScalingFleet, "set_max_size", set_max_size)
        else:
            patch.setattr(AuditStore, "save_event", save_event)
        with pytest.raises(RetryableFailureError):
            fire(phase("restore", RESTORE, execution_id="exec-r", event="doorbuster"))
    assert max_size() == 20  # the restore landed
    # Lambda's retry of the same event: audited from the stash
    retried = fire(phase("restore", RESTORE, execution_id="exec-r", event="doorbuster"))
    assert retried["records"][0]["outcome"] == "applied"


@pytest.mark.parametrize("how", ["answer_lost", "restored_at_write_failed"])
@pytest.mark.usefixtures("config_file", "alarms")
def test_a_restore_recovered_from_its_stash_is_not_taken_for_one_in_flight(
    clock: Any, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # GIVEN the doorbuster's pre-warm (20 -> 30) and its restore (30 -> 20), landed, audited by a retry
    plan = _noon_sale("11:00")  # noon's pre-warm: the doorbuster's restore + 20 minutes
    _at(clock, "doorbuster", "prewarm", PREWARM)
    _a_restore_failing_after_it_landed(clock, monkeypatch, how)
    # AND a person then raises MaxSize to 40 (desired 30) for the evening
    boto3.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", MaxSize=40, DesiredCapacity=30
    )
    assert plan.prewarm - RESTORE == timedelta(minutes=20)
    # WHEN noon's pre-warm (25 under 40: nothing to raise) and its restore run
    _at(clock, "noon", "prewarm", plan.prewarm)
    before = desired()
    restore = _at(clock, "noon", "restore", plan.restore)
    # THEN noon kept no original and leaves the person's 40 (as when the restore's first attempt succeeds:
    # test_a_sale_after_a_restore_that_landed_does_not_take_its_original_and_cut_a_max_set_since)
    assert _original_max("noon") is None
    assert (max_size(), desired()) == (40, before), restore["reason"]


@pytest.mark.parametrize("terminate", ["running", "suspended"])
@pytest.mark.usefixtures("config_file", "alarms")
def test_a_scale_in_landing_inside_a_restore_is_not_raised_back(
    terminate: str, clock: Any, audit: Audit, invoke: Any, cpu_metric: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .test_sale_events import alarm

    # GIVEN the doorbuster's raise in place and the group at 24, its load long gone
    declare(EVENT)
    _at(clock, "doorbuster", "prewarm", PREWARM)
    cpu_metric(5.0, RESTORE - timedelta(seconds=30))
    real_set = AutoScalingFleet.set_max_size
    ran: list[str] = []

    def set_max_size(
        self: AutoScalingFleet, name: str, size: int, desired_capacity: int | None = None
    ) -> None:
        if not ran:
            ran.append("alarm")
            # a scale-in alarm decides and applies in full after the restore read the group (24)
            clock.pin(RESTORE + timedelta(seconds=3))
            alarm(invoke, "cpu", "in", RESTORE + timedelta(seconds=1))
            ran.append(f"{audit('web')[-1]['outcome']} {desired()}")
            if terminate == "suspended":
                boto3.client("autoscaling").suspend_processes(
                    AutoScalingGroupName="web", ScalingProcesses=["Terminate"]
                )
            clock.pin(RESTORE + timedelta(seconds=4))
        real_set(self, name, size, desired_capacity)

    monkeypatch.setattr(AutoScalingFleet, "set_max_size", set_max_size)
    # WHEN the restore then puts MaxSize back to 20
    restore = _at(clock, "doorbuster", "restore", RESTORE)
    # THEN the newer scale-in stands: the restore, which read 24, once sent desired 20 with MaxSize 20
    # and raised the group back up behind it
    assert ran[1:] == ["applied 12"], ran
    (audited,) = [r for r in audit("web") if r["trigger"].get("phase") == "restore"]
    if terminate == "suspended":
        # AND with Terminate suspended since, 12 is not put back (AWS would accept it and terminate
        # nothing), and the restore says why; it once said "12 put back" of a group left at 20 instances
        assert (max_size(), desired()) == (20, 20), restore["reason"]
        assert restore["reason"].endswith(
            "a decision committed 12 meanwhile: the newer decision's 12 not put back: Terminate is "
            "suspended on the group (SuspendedProcesses), so it terminates nothing until it is resumed "
            "(aws autoscaling resume-processes --scaling-processes Terminate)"
        )
        assert "settled_to" not in audited, audited
        return
    assert (max_size(), desired()) == (20, 12), restore["reason"]
    assert restore["reason"].endswith("a decision committed 12 meanwhile: 12 put back")
    assert audited.get("settled_to") == 12, audited
