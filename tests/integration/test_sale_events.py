"""Declared sale events through the real handlers under moto: the scheduled phases (pre-warm,
release, restore) and the reactive path holding the event's floor and freeze."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from surgeguard import keys
from surgeguard.adapters import clients
from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.adapters.errors import AwsCallError, DamagedItemError
from surgeguard.config import ScalerConfig
from surgeguard.domain.model import Pause, ScalerMemory
from surgeguard.handlers import schedule
from surgeguard.service import RetryableFailureError

from .alarm_events import SNS, alarm_event
from .support import (
    T0,
    LambdaContext,
    alarm_for,
    configure_web,
    desired,
    put_request_counts,
    set_desired,
)

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]

# Doors open at T0 (07:00 New York = 12:00 UTC) for two hours; lead 130 + 50 + 120 + 300 s = 10 min.
PREWARM = T0 - timedelta(minutes=10)
RELEASE = T0 + timedelta(hours=2, minutes=30)
RESTORE = RELEASE + timedelta(hours=1)
EVENT = {
    "name": "doorbuster",
    "start": "2026-11-20T07:00:00",
    "end": "2026-11-20T09:00:00",
    "timezone": "America/New_York",
    "peak_multiplier": 4,
    "temporary_max": 30,
    "hold_after_minutes": 30,
}


@pytest.fixture
def sale(config_file: ScalerConfig, alarms: list[str]) -> None:
    """The test config with the doorbuster declared for group web (before the first invocation)."""
    declare(EVENT)


def declare(event: dict[str, Any], *, history: bool = True) -> None:
    configure_web(launch_seconds=130, events=[event])
    if not history:
        return
    # Normal demand a week earlier around the doors opening: 6000 requests/min -> 4x / 1000 = 24.
    put_request_counts((T0 - timedelta(days=7, minutes=minute), 6000.0) for minute in range(-7, 8))


def phase(name: str, when: datetime, execution_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    payload = {
        "group": "web",
        "event": "doorbuster",
        "phase": name,
        "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "execution_id": execution_id or str(uuid.uuid4()),
    }
    return {**payload, **overrides}


def fire(event: Any) -> dict[str, Any]:
    return schedule.lambda_handler(event, LambdaContext(function_name="surgeguard-schedule"))


def max_size(group: str = "web") -> int:
    described = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return int(described["AutoScalingGroups"][0]["MaxSize"])


_SET_MAX_SIZE = AutoScalingFleet.set_max_size


def max_size_set_answer_lost(
    fleet: AutoScalingFleet, name: str, size: int, desired_capacity: int | None = None
) -> None:
    """AutoScalingFleet.set_max_size whose UpdateAutoScalingGroup lands and whose answer is lost."""
    _SET_MAX_SIZE(fleet, name, size, desired_capacity)
    raise AwsCallError("UpdateAutoScalingGroup", "ReadTimeoutError", "Read timeout on endpoint URL")


def event_item(group: str = "web") -> dict[str, Any] | None:
    item = (
        boto3.client("dynamodb")
        .get_item(
            TableName=os.environ["TABLE_NAME"],
            Key={
                keys.PARTITION_KEY: {"S": keys.group_pk(group)},
                keys.SORT_KEY: {"S": f"{keys.EVENT_SORT_PREFIX}doorbuster"},
            },
        )
        .get("Item")
    )
    return item


def alarm(invoke: Invoke, rule: str, direction: str, when: datetime) -> None:
    metric = "CPUUtilization" if rule == "cpu" else "RequestCountPerTarget"
    invoke(alarm_event(SNS, alarm_for("web", rule, direction), when, metric=metric))


@pytest.mark.usefixtures("sale")
def test_prewarm_raises_max_saves_the_event_and_applies_the_floor(audit: Audit) -> None:
    result = fire(phase("prewarm", PREWARM))
    assert result["records"][0]["outcome"] == "applied"
    assert (desired(), max_size()) == (24, 30)
    item = event_item()
    assert item is not None
    assert (item["target"]["N"], item["original_max"]["N"]) == ("24", "20")
    assert "4 x normal 6000 requests/min" in item["why"]["S"]
    (record,) = audit("web")
    assert record["trigger"]["phase"] == "prewarm"
    assert record["winning_rule"] == "floor:doorbuster"
    assert any(c["rule"] == "floor:doorbuster" for c in record["candidates"])


@pytest.mark.usefixtures("sale")
def test_a_prewarm_delivered_while_the_clock_reads_a_few_minutes_before_it_still_prewarms(
    audit: Audit, clock: Any
) -> None:
    # GIVEN the Lambda's clock 3 minutes behind the pre-warm's time (within the skew a payload is
    # accepted in)
    clock.pin(PREWARM - timedelta(minutes=3))
    # WHEN the pre-warm is delivered
    result = fire(phase("prewarm", PREWARM))
    # THEN it is decided on its own plan: the floor holds the target (decided at the clock alone, the
    # plan had no floor or freeze yet, and the pre-warm scaled the group in, 2 -> 1)
    assert result["records"][0]["outcome"] == "applied"
    assert (desired(), max_size()) == (24, 30)
    assert audit("web")[-1]["winning_rule"] == "floor:doorbuster"


@pytest.mark.usefixtures("sale")
def test_a_duplicate_execution_changes_nothing(audit: Audit) -> None:
    fire(phase("prewarm", PREWARM, execution_id="exec-1"))
    set_desired("web", 3)
    result = fire(phase("prewarm", PREWARM, execution_id="exec-1"))
    assert result["records"][0]["outcome"] == "skipped"
    assert desired() == 3
    assert [i.get("skip_cause") for i in audit("web")].count("duplicate") == 1


@pytest.mark.usefixtures("sale")
def test_a_late_prewarm_after_a_newer_alarm_still_applies(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit
) -> None:
    cpu_metric(60.0, PREWARM + timedelta(minutes=4))
    alarm(invoke, "cpu", "out", PREWARM + timedelta(minutes=5))
    result = fire(phase("prewarm", PREWARM))  # fired late: its own time is older than that alarm
    assert result["records"][0]["outcome"] == "applied"
    assert desired() == 24


@pytest.mark.usefixtures("sale")
def test_bad_payloads_are_rejected_and_audited_without_raising(audit: Audit) -> None:
    default = {
        "version": "0",
        "id": "x",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "detail": "{}",
    }
    for payload, fragment in (
        (default, "names no group"),
        (phase("warmup", PREWARM), "phase 'warmup'"),
        (phase("prewarm", PREWARM, event="nope"), "event 'nope'"),
        (phase("prewarm", PREWARM, scheduled_time="yesterday"), "not an ISO 8601"),
        # ISO 8601 times past datetime's ends in UTC: they once failed (an internal error, notified)
        (phase("prewarm", PREWARM, scheduled_time="9999-12-31T23:59:59-01:00"), "not a time any trigger"),
        (phase("prewarm", PREWARM, scheduled_time="0001-01-01T00:00:00+01:00"), "not a time any trigger"),
    ):
        result = fire(payload)
        assert result["records"][0]["outcome"] == "rejected"
        assert fragment in result["records"][0]["reason"]
    assert desired() == 2
    assert len(audit("web")) == 5
    assert len(audit(keys.UNKNOWN_GROUP)) == 1


@pytest.mark.usefixtures("sale")
def test_the_floor_holds_capacity_up_during_the_event(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit
) -> None:
    fire(phase("prewarm", PREWARM))
    set_desired("web", 10)  # someone lowered it by hand
    cpu_metric(60.0, T0 + timedelta(minutes=19))
    alarm(invoke, "cpu", "out", T0 + timedelta(minutes=20))
    assert desired() == 24
    assert audit("web")[-1]["winning_rule"] == "floor:doorbuster"


@pytest.mark.usefixtures("sale")
def test_scale_in_is_frozen_during_the_event(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit
) -> None:
    fire(phase("prewarm", PREWARM))
    set_desired("web", 28)  # the surge needed more than the floor; now the load falls
    cpu_metric(5.0, T0 + timedelta(minutes=29))
    alarm(invoke, "cpu", "in", T0 + timedelta(minutes=30))
    assert desired() == 28
    last = audit("web")[-1]
    assert last["outcome"] == "unchanged"
    assert "scale-in frozen: sale event doorbuster" in last["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_an_early_release_says_the_floor_steps_down_every_minute() -> None:
    # Without its temporary max: restored an hour after a release 15 minutes after the doors, it would
    # be put back before this 2-hour sale ends (the config refuses that)
    declare({**{k: v for k, v in EVENT.items() if k != "temporary_max"}, "release_after_doors_minutes": 15})
    fire(phase("prewarm", PREWARM))
    result = fire(phase("release", T0 + timedelta(minutes=15)))
    assert result["records"][0]["outcome"] == "unchanged"
    assert "steps down 10% every minute " in result["records"][0]["reason"]


@pytest.mark.usefixtures("sale")
def test_after_release_the_floor_steps_down_never_below_the_load(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit
) -> None:
    fire(phase("prewarm", PREWARM))
    result = fire(phase("release", RELEASE))
    assert result["records"][0]["outcome"] == "unchanged"
    assert "steps down 10% every 5 minutes" in result["records"][0]["reason"]
    # 12 minutes after the release: the third step, floor(24 x 0.9^3) = 17; the load needs 5.
    cpu_metric(10.0, RELEASE + timedelta(minutes=11))
    alarm(invoke, "cpu", "in", RELEASE + timedelta(minutes=12))
    assert desired() == 17
    assert audit("web")[-1]["winning_rule"] == "floor:doorbuster"
    # 18 minutes after: the floor is floor(24 x 0.9^4) = 15, but the load needs 17 x 45 / 50 -> 16.
    cpu_metric(45.0, RELEASE + timedelta(minutes=17))
    alarm(invoke, "cpu", "in", RELEASE + timedelta(minutes=18))
    assert desired() == 16
    last = audit("web")[-1]
    assert last["winning_rule"] == "cpu"
    assert {c["rule"]: c["needed"] for c in last["candidates"]}["floor:doorbuster"] == 15


@pytest.mark.usefixtures("sale")
def test_restore_puts_the_max_back_and_desired_inside_it(audit: Audit) -> None:
    fire(phase("prewarm", PREWARM))
    result = fire(phase("restore", RESTORE))
    assert result["records"][0]["outcome"] == "applied"
    assert (max_size(), desired()) == (20, 20)
    assert event_item() is not None  # the audit keeps it
    assert [i["trigger"]["phase"] for i in audit("web")] == ["prewarm", "restore"]


@pytest.fixture
def ramped_sale(config_file: ScalerConfig, alarms: list[str]) -> None:
    """The doorbuster with early access: a quarter of the peak an hour before the doors."""
    declare({**EVENT, "ramp": [{"minutes_before_start": 60, "fraction": 0.25}]})


@pytest.mark.usefixtures("ramped_sale")
def test_a_ramp_stage_raises_the_floor_to_its_share_then_the_prewarm_to_the_target(audit: Audit) -> None:
    # GIVEN a group of 2, and the doorbuster (target 24) ramping to 25% an hour before the doors
    set_desired("web", 2)
    stage = T0 - timedelta(minutes=60 + 10)
    # WHEN the ramp stage fires
    result = fire(phase("ramp-1", stage))
    # THEN the floor is a quarter of the target, and scale-in is frozen from now
    assert result["records"][0]["outcome"] == "applied"
    assert desired() == 6
    assert "ramp stage ramp-1 (25% of the target)" in audit("web")[-1]["reason"]
    # AND the pre-warm then brings the whole target
    fire(phase("prewarm", PREWARM))
    assert desired() == 24
    # AND an unknown phase for this event is rejected with the phases it has
    rejected = fire(phase("ramp-2", stage))
    assert rejected["records"][0]["outcome"] == "rejected"
    assert "['ramp-1', 'prewarm', 'release', 'restore']" in rejected["records"][0]["reason"]


@pytest.mark.usefixtures("ramped_sale")
def test_a_parked_groups_max_of_0_is_what_its_restore_puts_back() -> None:
    # GIVEN web parked at MaxSize 0 (min 0, desired 0): the ramp stage raises it to 30, saving 0
    boto3.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", MinSize=0, MaxSize=0, DesiredCapacity=0
    )
    fire(phase("ramp-1", T0 - timedelta(minutes=70)))
    assert max_size() == 30
    # WHEN someone cuts MaxSize to 10 before the pre-warm, which raises it again, then the restore runs
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=10)
    fire(phase("prewarm", PREWARM))
    assert max_size() == 30
    fire(phase("restore", RESTORE))
    # THEN MaxSize is back at 0: the pre-warm once took the saved 0 for none, saved the 10 it read as
    # the original, and the restore left the group at 10
    assert max_size() == 0


# --- a handled phase deletes its own one-time schedule --------------------------------------------
SCHEDULE_GROUP = "Surgeguard-Sales-Group-TEST"


@pytest.fixture
def schedules(moto: None) -> Callable[[str], str]:
    """Create a one-time schedule in the stack's (test) group, as the stack would; returns its ARN."""
    api = boto3.client("scheduler")
    api.create_schedule_group(Name=SCHEDULE_GROUP)

    def create(name: str) -> str:
        api.create_schedule(
            Name=name,
            GroupName=SCHEDULE_GROUP,
            ScheduleExpression="at(2026-11-20T06:50:00)",
            ScheduleExpressionTimezone="America/New_York",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": "arn:aws:lambda:us-east-1:123456789012:function:surgeguard-schedule",
                "RoleArn": "arn:aws:iam::123456789012:role/surgeguard-scheduler",
                "Input": json.dumps({"group": "web", "event": "doorbuster", "phase": name.split("-")[-1]}),
            },
        )
        return str(api.get_schedule(Name=name, GroupName=SCHEDULE_GROUP)["Arn"])

    return create


def schedule_exists(name: str) -> bool:
    try:
        boto3.client("scheduler").get_schedule(Name=name, GroupName=SCHEDULE_GROUP)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    return True


class FailingClient:
    """A moto client, except that one operation always fails with `code`."""

    def __init__(self, real: Any, operation: str, code: str) -> None:
        self._real, self._operation, self._code = real, operation, code

    def __getattr__(self, name: str) -> Any:
        if name == self._operation:
            raise ClientError({"Error": {"Code": self._code, "Message": "no"}}, name)
        return getattr(self._real, name)


def failing(monkeypatch: pytest.MonkeyPatch, service: str, operation: str, code: str) -> None:
    # A throttled Auto Scaling call is tried again in rounds while the invocation has time: no pauses here.
    monkeypatch.setattr(clients, "PATIENT_MAX_PAUSE", 0.0)
    real = clients.client
    monkeypatch.setattr(
        clients,
        "client",
        lambda name: FailingClient(real(name), operation, code) if name == service else real(name),
    )


@pytest.mark.usefixtures("sale")
def test_a_handled_phase_deletes_the_schedule_that_fired_it(
    audit: Audit, schedules: Callable[[str], str]
) -> None:
    # GIVEN the doorbuster's pre-warm and release schedules in the stack's group
    prewarm_arn = schedules("doorbuster-prewarm")
    schedules("doorbuster-release")
    assert prewarm_arn.endswith(f":schedule/{SCHEDULE_GROUP}/doorbuster-prewarm")
    # WHEN the pre-warm fires with its ARN (Scheduler's <aws.scheduler.schedule-arn>)
    result = fire(phase("prewarm", PREWARM, schedule_arn=prewarm_arn))
    # THEN the phase is applied, its schedule is gone, and the other one is left alone
    assert result["records"][0]["outcome"] == "applied"
    assert desired() == 24
    assert not schedule_exists("doorbuster-prewarm")
    assert schedule_exists("doorbuster-release")
    (record,) = audit("web")
    assert record["schedule_deleted"] is True
    assert "delete_error" not in record
    assert record["trigger"]["schedule_arn"] == prewarm_arn


@pytest.mark.usefixtures("sale")
def test_an_unchanged_phase_deletes_its_schedule_and_one_already_gone_is_fine(
    audit: Audit, schedules: Callable[[str], str]
) -> None:
    arn = schedules("doorbuster-release")
    first = fire(phase("release", RELEASE, execution_id="exec-1", schedule_arn=arn))
    assert first["records"][0]["outcome"] == "unchanged"
    assert not schedule_exists("doorbuster-release")
    # a second delivery of the same execution: a duplicate, and its schedule already deleted
    again = fire(phase("release", RELEASE, execution_id="exec-1", schedule_arn=arn))
    assert again["records"][0]["outcome"] == "skipped"
    # (both at the same scheduled time: the audit's order between them is the delivery id's)
    assert sorted((r["outcome"], r["schedule_deleted"], "delete_error" in r) for r in audit("web")) == [
        ("skipped", True, False),
        ("unchanged", True, False),
    ]


@pytest.mark.usefixtures("sale")
def test_a_failed_phase_keeps_its_schedule_for_the_retries(
    audit: Audit, schedules: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN raising the MaxSize fails (after the SDK's retries)
    arn = schedules("doorbuster-prewarm")
    failing(monkeypatch, "autoscaling", "update_auto_scaling_group", "Throttling")
    # WHEN the pre-warm fires THEN it fails (raised for the retry) and its schedule stays
    with pytest.raises(RetryableFailureError, match="UpdateAutoScalingGroup failed: Throttling"):
        fire(phase("prewarm", PREWARM, schedule_arn=arn))
    assert schedule_exists("doorbuster-prewarm")
    (record,) = audit("web")
    assert record["outcome"] == "failed"
    assert "schedule_deleted" not in record


@pytest.mark.usefixtures("sale")
def test_a_deletion_that_fails_does_not_fail_the_phase(
    audit: Audit, schedules: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = schedules("doorbuster-prewarm")
    failing(monkeypatch, "scheduler", "delete_schedule", "AccessDeniedException")
    result = fire(phase("prewarm", PREWARM, schedule_arn=arn))
    assert result["records"][0]["outcome"] == "applied"
    assert desired() == 24
    assert schedule_exists("doorbuster-prewarm")
    (record,) = audit("web")
    assert record["schedule_deleted"] is False
    assert record["delete_error"] == "DeleteSchedule failed: AccessDeniedException: no"


@pytest.mark.usefixtures("sale")
def test_rejected_payloads_and_payloads_without_a_schedule_arn_delete_nothing(
    audit: Audit, schedules: Callable[[str], str]
) -> None:
    arn = schedules("doorbuster-prewarm")
    rejected = fire(phase("prewarm", PREWARM, event="nope", schedule_arn=arn))
    assert rejected["records"][0]["outcome"] == "rejected"
    assert schedule_exists("doorbuster-prewarm")
    # older payloads (and the simulators) carry no schedule_arn: the phase runs, nothing is deleted
    handled = fire(phase("prewarm", PREWARM))
    assert handled["records"][0]["outcome"] == "applied"
    assert schedule_exists("doorbuster-prewarm")
    # a schedule_arn Scheduler did not fill in: the phase runs, the record says why nothing was deleted
    fire(phase("release", RELEASE, schedule_arn="<aws.scheduler.schedule-arn>"))
    assert schedule_exists("doorbuster-prewarm")
    records = {r["outcome"]: r for r in audit("web")}
    assert sorted(records) == ["applied", "rejected", "unchanged"]
    assert "schedule_deleted" not in records["rejected"]
    assert "schedule_deleted" not in records["applied"]
    assert records["unchanged"]["schedule_deleted"] is False
    assert "is not a schedule ARN" in records["unchanged"]["delete_error"]


@pytest.mark.usefixtures("sale")
def test_a_raised_max_whose_answer_was_lost_is_still_restored(
    monkeypatch: pytest.MonkeyPatch, audit: Audit
) -> None:
    # The pre-warm's UpdateAutoScalingGroup (MaxSize 20 -> 30) lands and its answer is lost, so the
    # event item is never saved. The retry found MaxSize already 30, so it saved no original max, and
    # the restore said "no temporary max was applied": the group kept MaxSize 30 for good.
    with monkeypatch.context() as patch:
        patch.setattr(AutoScalingFleet, "set_max_size", max_size_set_answer_lost)
        with pytest.raises(RetryableFailureError):
            fire(phase("prewarm", PREWARM, execution_id="exec-1"))
    assert max_size() == 30
    retried = fire(phase("prewarm", PREWARM, execution_id="exec-1"))  # Lambda's retry: the same event
    assert retried["records"][0]["outcome"] == "applied"
    # AND its record says MaxSize was found raised, and what the restore puts back (it once said nothing
    # of MaxSize: the raise was told only by the failed attempt's error)
    assert "MaxSize already 30 (20 to put back at the restore)" in retried["records"][0]["reason"]
    item = event_item()
    assert item is not None and item["original_max"]["N"] == "20"
    assert fire(phase("restore", RESTORE))["records"][0]["outcome"] == "applied"
    assert max_size() == 20


def _damage(sort_key: str, attribute: str, value: dict[str, str]) -> None:
    """Hand-edit one attribute of web's item (the console, a script): what no Surgeguard writes."""
    table = boto3.client("dynamodb")
    key = {keys.PARTITION_KEY: {"S": keys.group_pk("web")}, keys.SORT_KEY: {"S": sort_key}}
    item = table.get_item(TableName=os.environ["TABLE_NAME"], Key=key)["Item"]
    table.put_item(TableName=os.environ["TABLE_NAME"], Item={**item, attribute: value})


@pytest.mark.usefixtures("sale")
@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("target", {"N": "24.5"}),
        # a hand edit with no zone once raised TypeError in every decision of the group mid-sale
        ("set_at", {"S": "2026-11-20T11:50:00"}),
        ("restored_at", {"S": "2026-11-20T11:50:00"}),
    ],
    ids=["fractional-target", "set-at-without-zone", "restored-at-without-zone"],
)
def test_a_damaged_event_item_stops_no_decision_and_the_sale_still_freezes_scale_in(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit, attribute: str, value: dict[str, Any]
) -> None:
    # A target no Surgeguard writes (24.5) once failed every decision of the group with an internal
    # error, scale-out included, for as long as the item stayed.
    fire(phase("prewarm", PREWARM))
    _damage(f"{keys.EVENT_SORT_PREFIX}doorbuster", attribute, value)
    set_desired("web", 28)
    cpu_metric(5.0, T0 + timedelta(minutes=29))
    alarm(invoke, "cpu", "in", T0 + timedelta(minutes=30))
    frozen = audit("web")[-1]
    assert frozen["outcome"] == "unchanged" and desired() == 28, frozen["reason"]
    assert "scale-in frozen: sale event doorbuster" in frozen["reason"]
    assert frozen["event_items"].startswith("malformed, ignored: doorbuster")
    assert not any(c["rule"] == "floor:doorbuster" for c in frozen["candidates"])  # its target is unknown
    cpu_metric(95.0, T0 + timedelta(minutes=31))
    alarm(invoke, "cpu", "out", T0 + timedelta(minutes=32))
    assert audit("web")[-1]["outcome"] == "applied" and desired() > 28


@pytest.mark.usefixtures("sale")
def test_a_damaged_state_item_is_started_afresh_and_rewritten(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit
) -> None:
    fire(phase("prewarm", PREWARM))
    _damage(keys.STATE_SORT_KEY, "memory", {"S": '{"launches": [{"at": "yesterday"'})
    cpu_metric(95.0, T0 + timedelta(minutes=4))
    alarm(invoke, "cpu", "out", T0 + timedelta(minutes=5))
    decided = audit("web")[-1]
    assert decided["outcome"] == "applied", decided["reason"]
    assert decided["state_item"].startswith("malformed, started afresh:")
    cpu_metric(95.0, T0 + timedelta(minutes=9))
    alarm(invoke, "cpu", "out", T0 + timedelta(minutes=10))
    assert "state_item" not in audit("web")[-1]  # the decision's save put a readable item back


@pytest.mark.usefixtures("sale", "stack_iam")
@pytest.mark.parametrize(
    "version",
    [{"N": "0"}, {"N": "-1"}, {"N": "2.5"}, {"S": "7"}, {"NULL": True}],
    ids=["zero", "negative", "fraction", "string", "null"],
)
def test_a_state_item_with_a_damaged_version_is_renumbered_and_every_decision_still_lands(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit, version: dict[str, Any]
) -> None:
    # A version no Surgeguard writes (only whole numbers from 1 up) once stopped every decision of
    # the group: a version of 0 or below made each conditional save conflict (`concurrent`, nothing
    # applied), and one that is not a whole number failed every decision, retried and notified.
    early = T0 - timedelta(hours=3)  # hours before the sale's pre-warm: the alarms alone decide
    set_desired("web", 2)
    cpu_metric(95.0, early)
    alarm(invoke, "cpu", "out", early + timedelta(minutes=1))
    assert audit("web")[-1]["outcome"] == "applied"
    _damage(keys.STATE_SORT_KEY, "version", version)
    for minutes in (11, 21):
        before = desired()
        cpu_metric(95.0, early + timedelta(minutes=minutes - 1))
        alarm(invoke, "cpu", "out", early + timedelta(minutes=minutes))
        decided = audit("web")[-1]
        assert decided["outcome"] == "applied" and desired() > before, decided["reason"]
        if minutes == 11:
            assert decided["state_item"].startswith("malformed, started afresh:"), decided
        else:
            assert "state_item" not in decided  # the save put a readable item back


@pytest.mark.usefixtures("sale", "stack_iam")
def test_two_deciders_that_read_one_damaged_version_renumber_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = AuditStore(os.environ["TABLE_NAME"])
    store.save_memory("web", ScalerMemory(), 0)
    _damage(keys.STATE_SORT_KEY, "version", {"N": "0"})
    renumber = AuditStore._renumber_state

    def overtaken(self: AuditStore, key: dict[str, Any], damaged: Any) -> bool:
        # Between this decider's read and its renumbering, the other renumbers the item and saves
        monkeypatch.setattr(AuditStore, "_renumber_state", renumber)
        with pytest.raises(DamagedItemError) as other:
            store.load_memory("web")
        assert other.value.version == 1
        store.save_memory("web", ScalerMemory(last_trigger_id="theirs"), 1)
        return renumber(self, key, damaged)

    monkeypatch.setattr(AuditStore, "_renumber_state", overtaken)
    # THEN this one does not renumber it again over the other's save: it reads that save
    theirs = store.load_memory("web")
    assert (theirs.version, theirs.last_trigger_id) == (2, "theirs")


@pytest.mark.usefixtures("config_file", "alarms")
def test_another_events_damaged_item_does_not_stop_this_ones_phases(audit: Audit) -> None:
    earlier = {**EVENT, "name": "earlybird", "start": "2026-11-19T07:00:00", "end": "2026-11-19T09:00:00"}
    configure_web(launch_seconds=130, events=[earlier, EVENT])
    put_request_counts((T0 - timedelta(days=7, minutes=minute), 6000.0) for minute in range(-7, 8))
    boto3.client("dynamodb").put_item(
        TableName=os.environ["TABLE_NAME"],
        Item={
            keys.PARTITION_KEY: {"S": keys.group_pk("web")},
            keys.SORT_KEY: {"S": f"{keys.EVENT_SORT_PREFIX}earlybird"},
            "event": {"S": "earlybird"},
            "target": {"N": "12.5"},  # no Surgeguard writes that
        },
    )
    assert fire(phase("prewarm", PREWARM))["records"][0]["outcome"] == "applied"
    assert (desired(), max_size()) == (24, 30)
    assert fire(phase("restore", RESTORE))["records"][0]["outcome"] == "applied"
    assert max_size() == 20


@pytest.mark.usefixtures("sale")
def test_a_phase_whose_own_event_item_is_damaged_fails_loudly_and_changes_nothing(audit: Audit) -> None:
    fire(phase("prewarm", PREWARM))
    _damage(f"{keys.EVENT_SORT_PREFIX}doorbuster", "original_max", {"N": "20.5"})
    with pytest.raises(RetryableFailureError):
        fire(phase("restore", RESTORE))
    (failed,) = [r for r in audit("web") if r["trigger"].get("phase") == "restore"]
    assert failed["outcome"] == "failed"
    assert "doorbuster" in failed["reason"] and "original_max '20.5'" in failed["reason"]
    assert max_size() == 30  # what to put back is unknown: left for a person, who hears of it


@pytest.mark.usefixtures("config_file", "alarms")
def test_back_to_back_sales_keep_each_others_max(audit: Audit, clock: Any) -> None:
    # The doorbuster (07:00-09:00 New York, MaxSize 30, restored at 10:30) and a second sale whose
    # pre-warm (09:50) comes before that restore, raising MaxSize to 40. The doorbuster's restore once
    # put MaxSize back to 20 in the middle of the second sale, and the second sale, having taken the
    # doorbuster's 30 for the original, restored 30 for good. `surgeguard plan` calls the overlap an
    # error, but nothing stopped it being deployed.
    from surgeguard.config import parse_config
    from surgeguard.domain.sales import plan_event

    noon = {
        **EVENT,
        "name": "noon",
        "start": "2026-11-20T10:00:00",
        "end": "2026-11-20T11:00:00",
        "temporary_max": 40,
    }
    web = parse_config(configure_web(launch_seconds=130, events=[EVENT, noon])).groups[0]
    put_request_counts((T0 - timedelta(days=7, minutes=minute), 6000.0) for minute in range(-7, 8))
    plan = plan_event(web, web.events[1])
    assert PREWARM < plan.prewarm < RESTORE < plan.restore  # the windows overlap

    def at(name: str, phase_name: str, when: datetime) -> str:
        clock.pin(when)
        (record,) = fire(phase(phase_name, when, event=name))["records"]
        return str(record["outcome"])

    assert at("doorbuster", "prewarm", PREWARM) == "applied" and max_size() == 30
    assert at("noon", "prewarm", plan.prewarm) == "applied" and max_size() == 40
    at("doorbuster", "restore", RESTORE)
    assert max_size() == 40  # the noon sale is on: its max stays
    at("noon", "restore", plan.restore)
    assert max_size() == 20  # the group's own MaxSize from before either sale


def _two_sales(noon: dict[str, Any]) -> Any:
    """web with the doorbuster and `noon` declared (and a week-old history for both): noon's plan."""
    from surgeguard.config import parse_config
    from surgeguard.domain.sales import plan_event

    web = parse_config(configure_web(launch_seconds=130, events=[EVENT, noon])).groups[0]
    for doors in (T0, T0 + timedelta(hours=3)):
        put_request_counts((doors - timedelta(days=7, minutes=minute), 6000.0) for minute in range(-7, 8))
    return plan_event(web, web.events[1])


def _fire_at(clock: Any, event: str, phase_name: str, when: datetime) -> dict[str, Any]:
    clock.pin(when)
    (record,) = fire(phase(phase_name, when, event=event))["records"]
    return record


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_second_sale_under_the_firsts_raised_max_keeps_its_max_and_restores_the_original(
    clock: Any,
) -> None:
    # GIVEN a second sale whose temporary max (25) is under the doorbuster's raised 30: its pre-warm
    # raises nothing. It once saved no MaxSize to put back, so the doorbuster's restore did not know it
    # was on and cut MaxSize (and desired) to 20 in its middle.
    noon = {**EVENT, "name": "noon", "start": "2026-11-20T10:00:00", "end": "2026-11-20T11:00:00"}
    noon["temporary_max"] = 25
    plan = _two_sales(noon)
    assert PREWARM < plan.prewarm < RESTORE < plan.restore
    assert _fire_at(clock, "doorbuster", "prewarm", PREWARM)["outcome"] == "applied" and max_size() == 30
    assert "target 24 " in _fire_at(clock, "noon", "prewarm", plan.prewarm)["reason"]
    # WHEN the doorbuster is restored while the noon sale is on
    restore = _fire_at(clock, "doorbuster", "restore", RESTORE)
    # THEN the noon sale keeps its max and its capacity
    assert (max_size(), desired()) == (25, 24), restore["reason"]
    # AND its own restore puts the group's original back
    assert _fire_at(clock, "noon", "restore", plan.restore)["outcome"] == "applied"
    assert max_size() == 20


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_sale_on_whose_event_item_is_on_a_later_query_page_keeps_its_max(
    clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a Query that answers one item a page (DynamoDB answers at most 1 MB a page: shrunk here)
    query = AuditStore._table_call

    def one_item_a_page(self: AuditStore, operation: str, **kwargs: Any) -> Any:
        if operation == "Query" and "Limit" not in kwargs:
            kwargs["Limit"] = 1
        return query(self, operation, **kwargs)

    monkeypatch.setattr(AuditStore, "_table_call", one_item_a_page)
    # AND the noon sale on under the doorbuster's raised max (its item after the doorbuster's)
    noon = {**EVENT, "name": "noon", "start": "2026-11-20T10:00:00", "end": "2026-11-20T11:00:00"}
    noon["temporary_max"] = 25
    plan = _two_sales(noon)
    _fire_at(clock, "doorbuster", "prewarm", PREWARM)
    _fire_at(clock, "noon", "prewarm", plan.prewarm)
    # WHEN the doorbuster is restored while the noon sale is on
    restore = _fire_at(clock, "doorbuster", "restore", RESTORE)
    # THEN the noon sale keeps its max and capacity: the event items were read from the first page only,
    # so the restore did not know noon was on and cut MaxSize and desired to 20 in its middle
    assert (max_size(), desired()) == (25, 24), restore["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_ramp_stage_raises_the_max_and_the_floor_is_held_under_it(audit: Audit) -> None:
    # A ramp stage raises MaxSize as a pre-warm does; the temporary max was counted from the pre-warm
    # only, so 90 % of the target (22) was cut to the group's configured max of 20 under a raised 30.
    declare({**EVENT, "ramp": [{"minutes_before_start": 30, "fraction": 0.9}]})
    set_desired("web", 2)
    record = fire(phase("ramp-1", T0 - timedelta(minutes=30 + 10)))["records"][0]
    assert record["outcome"] == "applied", record["reason"]
    assert (max_size(), desired()) == (30, 22), record["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_another_sales_restore_keeps_the_max_its_ramp_stage_raised(clock: Any) -> None:
    # The noon sale's early access (a ramp stage at 09:50 New York) raises MaxSize to 40 before the
    # doorbuster's restore (10:30); its pre-warm comes after it. The restore once cut MaxSize to 20.
    noon = {**EVENT, "name": "noon", "start": "2026-11-20T11:00:00", "end": "2026-11-20T12:00:00"}
    noon.update(temporary_max=40, ramp=[{"minutes_before_start": 60, "fraction": 0.5}])
    plan = _two_sales(noon)
    ramp = plan.phase_times()["ramp-1"]
    assert ramp < RESTORE < plan.prewarm
    assert _fire_at(clock, "doorbuster", "prewarm", PREWARM)["outcome"] == "applied"
    assert _fire_at(clock, "noon", "ramp-1", ramp)["outcome"] == "applied" and max_size() == 40
    restore = _fire_at(clock, "doorbuster", "restore", RESTORE)
    assert max_size() == 40, restore["reason"]


@pytest.mark.usefixtures("sale")
def test_a_restore_does_not_put_back_a_scale_out_made_since_it_read_the_group(
    invoke: Invoke, cpu_metric: Callable[..., None], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the sale long over and the group at 10, inside the MaxSize of 20 the restore puts back
    fire(phase("prewarm", PREWARM))
    set_desired("web", 10)
    restore_max = AutoScalingFleet.set_max_size
    scaled: list[int] = []

    def alarm_first(
        self: AutoScalingFleet, name: str, size: int, desired_capacity: int | None = None
    ) -> None:
        # Another Lambda: a breach scales the group out between the restore's read and its update
        clock.pin(RESTORE + timedelta(seconds=20))
        cpu_metric(95.0, RESTORE - timedelta(minutes=1))
        alarm(invoke, "cpu", "out", RESTORE + timedelta(seconds=10))
        scaled.append(desired())
        clock.pin(RESTORE + timedelta(seconds=5))
        restore_max(self, name, size, desired_capacity)

    monkeypatch.setattr(AutoScalingFleet, "set_max_size", alarm_first)
    clock.pin(RESTORE + timedelta(seconds=5))
    # WHEN the restore updates the group
    record = fire(phase("restore", RESTORE))["records"][0]
    # THEN MaxSize is back and the scale-out stands (the restore sent desired as it had read it: 10)
    assert record["outcome"] == "applied" and max_size() == 20
    assert scaled[0] > 10 and desired() == scaled[0], record["reason"]
    assert "desired kept" in record["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_peak_multiplier_multiplies_last_weeks_demand_at_the_same_local_time_across_a_clock_change(
    audit: Audit,
) -> None:
    # GIVEN a sale at 10:00 New York on the Saturday after the clocks fell back (15:00 UTC), and last
    # Saturday 6000 requests/min at 10:00 local (14:00 UTC) but 1000 at 11:00 local (15:00 UTC)
    from surgeguard.config import parse_config
    from surgeguard.domain.sales import plan_event

    sale = {**EVENT, "start": "2026-11-07T10:00:00", "end": "2026-11-07T12:00:00"}
    web = parse_config(configure_web(launch_seconds=130, events=[sale])).groups[0]
    ten_local = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)
    put_request_counts((ten_local + timedelta(minutes=minute), 6000.0) for minute in range(-7, 8))
    put_request_counts((ten_local + timedelta(hours=1, minutes=minute), 1000.0) for minute in range(-7, 8))
    # WHEN it pre-warms
    record = fire(phase("prewarm", plan_event(web, web.events[0]).prewarm))["records"][0]
    # THEN it multiplies 10:00 local, not a week before in UTC (11:00 local, a sixth of the target)
    assert "4 x normal 6000 requests/min" in record["reason"], record["reason"]
    assert desired() == 24


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_dry_run_prewarm_that_would_raise_the_max_says_so_and_is_not_applied(audit: Audit) -> None:
    # GIVEN dry-run, and the group already at its configured max: only the MaxSize raise would change
    configure_web(launch_seconds=130, dry_run=True, events=[EVENT])
    put_request_counts((T0 - timedelta(days=7, minutes=minute), 6000.0) for minute in range(-7, 8))
    set_desired("web", 20)
    # WHEN the pre-warm fires
    fire(phase("prewarm", PREWARM))
    # THEN nothing changed, and the record says what would have (it once said `applied` "MaxSize 20 ->
    # 30", and told people of a change never made)
    assert (max_size(), desired()) == (20, 20)
    (record,) = audit("web")
    assert (record["outcome"], record["skip_cause"]) == ("skipped", "dry_run"), record["reason"]
    assert "dry-run: would raise MaxSize 20 -> 30" in record["reason"]


WEEK = timedelta(days=7)
NEXT_WEEK = {**EVENT, "start": "2026-11-27T07:00:00", "end": "2026-11-27T09:00:00"}


def _redeployed(**fields: Any) -> None:
    """A deploy of the edited config: new Lambda containers read it."""
    from surgeguard.handlers import alarm as alarm_handler

    configure_web(**fields)
    alarm_handler._wiring.cache_clear()


def _last_weeks_sale_run() -> None:
    declare(EVENT)
    fire(phase("prewarm", PREWARM))
    fire(phase("restore", RESTORE))
    assert max_size() == 20


@pytest.mark.usefixtures("config_file", "alarms")
@pytest.mark.parametrize("temporary_max", [60, None])
def test_a_sales_next_edition_restores_its_own_original_max(temporary_max: int | None) -> None:
    # GIVEN last week's doorbuster over (its item says MaxSize 20 was the original), MaxSize since raised
    # to 40 for good, and the sale re-dated a week on (with a temporary max of 60, or none)
    _last_weeks_sale_run()
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=40)
    _redeployed(launch_seconds=130, max=40, events=[{**NEXT_WEEK, "temporary_max": temporary_max}])
    fire(phase("prewarm", PREWARM + WEEK))
    set_desired("web", 35)
    # WHEN this edition is restored
    record = fire(phase("restore", RESTORE + WEEK))["records"][0]
    # THEN the group's own 40 is back (last week's item once put 20 back, and cut desired 35 -> 20)
    assert (max_size(), desired()) == (40, 35), record["reason"]


MOVE = timedelta(hours=3)


def _moved_and_restored(**changed: Any) -> dict[str, Any]:
    """The doorbuster moved 3 hours on by a redeploy (its old restore's schedule goes with it, so that
    restore never runs), with `changed` fields, then its pre-warm and restore: the restore's record."""
    moved = {**EVENT, "start": "2026-11-20T10:00:00", "end": "2026-11-20T12:00:00", **changed}
    _redeployed(launch_seconds=130, events=[moved])
    fire(phase("prewarm", PREWARM + MOVE))
    return fire(phase("restore", RESTORE + MOVE))["records"][0]


@pytest.mark.usefixtures("config_file", "alarms")
@pytest.mark.parametrize("temporary_max", [30, 40, 25])
def test_a_sale_moved_after_its_prewarm_still_puts_the_original_max_back(temporary_max: int) -> None:
    # GIVEN the doorbuster pre-warmed (MaxSize 20 -> 30), then moved 3 hours on before its restore, its
    # temporary max kept or changed (40, 25) in the same deploy: the redeploy deletes the old restore's
    # schedule, so it never runs
    declare(EVENT)
    fire(phase("prewarm", PREWARM))
    assert max_size() == 30
    # WHEN the moved sale pre-warms (MaxSize still 30: nothing to raise) and is restored
    record = _moved_and_restored(temporary_max=temporary_max)
    # THEN the original 20 is back (the moved edition saved no max to put back: 30 stayed for good,
    # and the restore said "unchanged")
    assert max_size() == 20, record["reason"]
    assert record["outcome"] == "applied"


@pytest.mark.usefixtures("config_file", "alarms")
@pytest.mark.parametrize(("set_max", "temporary_max", "desired_then"), [(40, 60, 35), (30, 30, 28)])
def test_an_edition_that_raised_nothing_leaves_no_max_for_the_next_to_put_back(
    set_max: int, temporary_max: int, desired_then: int
) -> None:
    # GIVEN last week's doorbuster run in dry-run (its item saved MaxSize 20 to put back, but nothing was
    # raised or restored), then MaxSize set for good by a person (40, or the sale's own 30), dry-run
    # turned off and the sale re-dated a week on
    configure_web(launch_seconds=130, dry_run=True, events=[EVENT])
    put_request_counts((T0 - timedelta(days=7, minutes=m), 6000.0) for m in range(-7, 8))
    fire(phase("prewarm", PREWARM))
    fire(phase("restore", RESTORE))
    assert max_size() == 20
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=set_max)
    _redeployed(launch_seconds=130, max=set_max, events=[{**NEXT_WEEK, "temporary_max": temporary_max}])
    # WHEN this week's edition pre-warms and is restored
    fire(phase("prewarm", PREWARM + WEEK))
    set_desired("web", desired_then)
    record = fire(phase("restore", RESTORE + WEEK))["records"][0]
    # THEN the person's max is back, desired kept: last week's 20 was once put back, desired cut with it
    # (by a first fix; and, for the sale's own 30, by the second, reading the dry run as an old item)
    assert (max_size(), desired()) == (set_max, desired_then), record["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_paused_prewarm_sets_no_floor_from_last_weeks_edition(
    invoke: Invoke, cpu_metric: Callable[..., None], audit: Audit
) -> None:
    # GIVEN last week's doorbuster over, and this week's pre-warm skipped under the kill switch
    _last_weeks_sale_run()
    _redeployed(launch_seconds=130, events=[NEXT_WEEK])
    store = AuditStore(os.environ["TABLE_NAME"])
    store.set_pause("web", Pause.ALL, "oncall@example.com", datetime.now(UTC))
    assert fire(phase("prewarm", PREWARM + WEEK))["records"][0]["outcome"] == "skipped"
    store.set_pause("web", Pause.NONE, "oncall@example.com", datetime.now(UTC))
    # WHEN an alarm decides during the sale
    set_desired("web", 5)
    cpu_metric(52.0, T0 + WEEK + timedelta(minutes=19))
    alarm(invoke, "cpu", "out", T0 + WEEK + timedelta(minutes=20))
    # THEN no floor comes from last week's target of 24 (it once took the group 5 -> 20)
    assert audit("web")[-1]["winning_rule"] != "floor:doorbuster", audit("web")[-1]["reason"]


def test_the_normal_demand_counts_a_minute_without_requests_as_none_served(
    config_file: ScalerConfig, alarms: list[str], audit: Audit
) -> None:
    # GIVEN a quiet week-earlier window: 3 of its 15 minutes saw 6000 requests, the other 12 none (the ALB
    # publishes RequestCount only for minutes with requests, so they have no datapoint)
    declare(EVENT, history=False)
    week_before = T0 - timedelta(days=7)
    put_request_counts((week_before + timedelta(minutes=minute), 6000.0) for minute in (-7, 0, 7))
    # WHEN the pre-warm fires
    fire(phase("prewarm", PREWARM))
    # THEN it sizes on the window's mean, 1200 a minute: 4 x 1200 / 1000 per instance = 5 (averaged over
    # the three busy minutes only, it read 6000 and pre-warmed 24)
    assert desired() == 5
    (record,) = [r for r in audit("web") if r["outcome"] == "applied"]
    assert "1200" in json.dumps(record), record["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_moved_sale_that_held_the_max_under_anothers_raise_still_puts_it_back(clock: Any) -> None:
    # GIVEN noon (temporary max 25) pre-warmed under the doorbuster's 30, raising nothing itself; the
    # doorbuster's restore then left MaxSize at noon's 25, and noon is moved before its restore
    noon = {
        **EVENT,
        "name": "noon",
        "start": "2026-11-20T10:00:00",
        "end": "2026-11-20T11:00:00",
        "temporary_max": 25,
    }
    plan = _two_sales(noon)
    _fire_at(clock, "doorbuster", "prewarm", PREWARM)
    _fire_at(clock, "noon", "prewarm", plan.prewarm)
    _fire_at(clock, "doorbuster", "restore", RESTORE)
    assert max_size() == 25
    _redeployed(
        launch_seconds=130,
        events=[EVENT, {**noon, "start": "2026-11-20T13:00:00", "end": "2026-11-20T14:00:00"}],
    )
    # WHEN the moved noon pre-warms and is restored
    _fire_at(clock, "noon", "prewarm", plan.prewarm + MOVE)
    record = _fire_at(clock, "noon", "restore", plan.restore + MOVE)
    # THEN the original 20 is back (noon's item kept no max it held, and 25 stayed for good)
    assert max_size() == 20, record["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_sale_prewarmed_by_the_code_before_raised_to_and_moved_still_puts_the_max_back() -> None:
    # GIVEN the doorbuster pre-warmed (20 -> 30) by code that kept no raised_to, then moved
    declare(EVENT)
    fire(phase("prewarm", PREWARM))
    item = event_item()
    assert item is not None and max_size() == 30
    item.pop("raised_to", None)
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE_NAME"], Item=item)
    # WHEN the sale, moved, pre-warms and is restored
    record = _moved_and_restored()
    # THEN 20 is back: such an item is judged by the sale's temporary max as configured
    assert max_size() == 20, record["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_a_moved_sale_raised_at_the_second_read_still_puts_the_max_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surgeguard.adapters.autoscaling import AutoScalingFleet

    # GIVEN MaxSize 35 at the pre-warm's first read (over the sale's 30), cut to 20 right after it by
    # another sale's restore: the raise to 30 is made at the second read
    declare(EVENT)
    autoscaling = boto3.client("autoscaling")
    autoscaling.update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=35)
    real = AutoScalingFleet.describe
    reads: list[int] = []

    def describe(self: Any, name: str) -> Any:
        snapshot = real(self, name)
        reads.append(1)
        if len(reads) == 1:
            autoscaling.update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=20)
        return snapshot

    monkeypatch.setattr(AutoScalingFleet, "describe", describe)
    fire(phase("prewarm", PREWARM))
    monkeypatch.setattr(AutoScalingFleet, "describe", real)
    assert max_size() == 30
    # WHEN the sale, moved, pre-warms and is restored
    record = _moved_and_restored()
    # THEN 20 is back
    assert max_size() == 20, record["reason"]


def _max_under_min_refused(model: Any, params: dict[str, Any], **_: Any) -> None:
    """UpdateAutoScalingGroup as AWS answers it (moto accepts it): a MaxSize under the group's MinSize
    is a ValidationError ("Max bound, 20, must be greater than or equal to min bound, 22")."""
    if model.name != "UpdateAutoScalingGroup" or "MaxSize" not in params:
        return
    group = boto3.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[params["AutoScalingGroupName"]]
    )["AutoScalingGroups"][0]
    low = params.get("MinSize", group["MinSize"])
    if params["MaxSize"] < low:
        message = f"Max bound, {params['MaxSize']}, must be greater than or equal to min bound, {low}"
        error = {"Error": {"Code": "ValidationError", "Message": message}}
        raise ClientError(error, "UpdateAutoScalingGroup")  # type: ignore[arg-type]


@pytest.mark.usefixtures("sale")
def test_a_restore_under_a_min_raised_during_the_sale_puts_max_back_at_that_min(audit: Audit) -> None:
    # GIVEN the pre-warm raised MaxSize 20 -> 30, and the team then held at least 22 for the sale
    fire(phase("prewarm", PREWARM))
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MinSize=22)
    events, hook = clients.client("autoscaling").meta.events, "before-parameter-build.auto-scaling"
    events.register(f"{hook}.UpdateAutoScalingGroup", _max_under_min_refused)
    try:
        # WHEN the restore runs while MinSize is still 22
        (record,) = fire(phase("restore", RESTORE))["records"]
    finally:
        events.unregister(f"{hook}.UpdateAutoScalingGroup", _max_under_min_refused)
    # THEN MaxSize comes down as far as AWS lets it, to the min, and the record says why: the original
    # 20 under it was refused on every retry and MaxSize stayed at 30 for good
    assert (record["outcome"], max_size(), desired()) == ("applied", 22, 22)
    assert "MinSize 22" in record["reason"]


@pytest.mark.usefixtures("config_file", "alarms")
def test_without_history_a_second_sale_multiplies_the_capacity_before_the_first_not_its_floor(
    clock: Any, audit: Audit
) -> None:
    # GIVEN two 4x sales an hour apart (the doorbuster ends at 09:00, noon opens at 10:00) on web with no
    # request history, running 4 instances before either
    from surgeguard.config import parse_config
    from surgeguard.domain.sales import plan_event

    noon = {**EVENT, "name": "noon", "start": "2026-11-20T10:00:00", "end": "2026-11-20T11:00:00"}
    noon["temporary_max"] = 40
    web = parse_config(configure_web(launch_seconds=130, events=[EVENT, noon])).groups[0]
    plan = plan_event(web, web.events[1])
    set_desired("web", 4)
    assert "target 16 " in _fire_at(clock, "doorbuster", "prewarm", PREWARM)["reason"]
    assert desired() == 16
    # WHEN noon's pre-warm runs, the doorbuster's stepping-down floor still holding web at 16
    record = _fire_at(clock, "noon", "prewarm", plan.prewarm)
    # THEN noon targets 4 x the 4 web ran before the doorbuster, as it would have alone: it once took
    # 4 x 16 = 64 (40, its temporary max), paying for 24 instances no demand asked for
    assert "target 16 from 4 x normal capacity 4 " in record["reason"], record["reason"]
    (saved,) = [r for r in audit("web") if r["trigger"].get("event") == "noon"]
    assert saved["event_target"] == 16
    assert desired() == 16
