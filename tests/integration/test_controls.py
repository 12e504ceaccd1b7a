"""The kill switch and dry-run, through the real handler: decided and audited, never applied."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from surgeguard.adapters.audit_store import AuditStore
from surgeguard.domain.model import Pause

from .alarm_events import SNS, alarm_event
from .support import TABLE, alarm_for, alarm_state, at, desired, set_alarm_state, set_desired

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]

SCALE_OUT = ("out", 80.0, 2)  # alarm direction, CPU, starting desired: needs 4
SCALE_IN = ("in", 10.0, 4)  # needs 1: scale in by at most 50% -> 2


@pytest.mark.parametrize(
    ("pause_group", "pause", "case", "blocked"),
    [
        (None, Pause.ALL, SCALE_OUT, True),
        (None, Pause.ALL, SCALE_IN, True),
        ("web", Pause.OUT, SCALE_OUT, True),
        ("web", Pause.OUT, SCALE_IN, False),
        ("web", Pause.IN, SCALE_IN, True),
        ("web", Pause.IN, SCALE_OUT, False),
        ("api", Pause.ALL, SCALE_OUT, False),  # another group's switch
    ],
    ids=[
        "global-all-out",
        "global-all-in",
        "web-out-out",
        "web-out-in",
        "web-in-in",
        "web-in-out",
        "other-group",
    ],
)
def test_kill_switch(
    pause_group: str | None,
    pause: Pause,
    case: tuple[str, float, int],
    blocked: bool,
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
) -> None:
    direction, cpu, start = case
    # GIVEN a group that current data would scale, and an operator's pause
    set_desired("web", start)
    cpu_metric(cpu)
    AuditStore(TABLE).set_pause(pause_group, pause, "oncall@example.com", datetime.now(UTC))
    name = alarm_for("web", "cpu", direction)
    set_alarm_state(name, "ALARM")
    # WHEN the alarm of that direction arrives
    invoke(alarm_event(SNS, name, at(40), metric="CPUUtilization"))
    # THEN a paused direction is skipped with nothing changed; other directions still act
    (item,) = audit("web")
    if blocked:
        assert (item["outcome"], item["skip_cause"]) == ("skipped", "paused")
        assert desired("web") == start
        assert item["inputs"]["pause"] == (Pause.ALL if pause_group is None else pause).value
        assert item["reason"].startswith(f"paused ({item['inputs']['pause']}): would have scale")
        assert notifications.read() == []
    else:
        assert item["outcome"] == "applied"
        assert desired("web") == (4 if direction == "out" else 2)


def test_dry_run_group_is_decided_and_audited_but_not_changed(
    invoke: Invoke,
    audit: Audit,
    make_asg: Callable[..., str],
    cpu_metric: Callable[..., None],
    notifications: Any,
) -> None:
    # GIVEN the "rehearsal" group, dry-run in the config, at 2 instances and CPU 80/50
    make_asg("rehearsal", max_size=10)
    cpu_metric(80.0, group="rehearsal")
    # WHEN its scale-out alarm arrives
    invoke(alarm_event(SNS, alarm_for("rehearsal", "cpu"), at(40), metric="CPUUtilization"))
    # THEN nothing changes, and the audit says what would have happened
    assert desired("rehearsal") == 2
    (item,) = audit("rehearsal")
    assert (item["outcome"], item["skip_cause"]) == ("skipped", "dry_run")
    assert (item["previous_desired"], item["new_desired"]) == (2, 4)
    assert item["action"] == "scale_out"
    assert item["inputs"]["dry_run"] is True
    assert item["reason"].startswith("dry-run: would have scale out 2 -> 4")
    assert notifications.read() == []


def test_a_paused_breach_is_still_heard_so_resume_acts_within_a_period(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN everything paused, and a breach the scaler would act on
    set_desired("web", 2)
    cpu_metric(80.0)
    store = AuditStore(TABLE)
    store.set_pause(None, Pause.ALL, "oncall@example.com", datetime.now(UTC))
    name = alarm_for("web", "cpu", "out")
    set_alarm_state(name, "ALARM")
    # WHEN its alarm arrives
    invoke(alarm_event(SNS, name, at(40), metric="CPUUtilization"))
    # THEN nothing changes, and the alarm stays in ALARM (it notifies on state change only)
    assert desired("web") == 2
    assert alarm_state(name) == "ALARM"
    # AND once resumed, the next per-minute re-evaluation hears the breach still going on
    store.set_pause(None, Pause.NONE, "oncall@example.com", datetime.now(UTC))
    invoke({"action": "reevaluate", "scheduled_time": "2026-11-20T12:02:00Z", "execution_id": "tick-1"})
    assert desired("web") == 4
    assert [(i["outcome"], i.get("skip_cause")) for i in audit("web")] == [
        ("skipped", "paused"),
        ("applied", None),
    ]


@pytest.mark.parametrize("written", ["true", "ALL", " out ", "", "stop everything"])
def test_a_hand_edited_switch_stops_rather_than_crashes(
    written: str, invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # An operator editing the control item in the console mid-sale: a value the CLI never writes once
    # failed every decision with an internal error. A kill switch that is set at all fails closed.
    import boto3

    from surgeguard import keys

    set_desired("web", 2)
    cpu_metric(80.0)
    boto3.client("dynamodb").put_item(
        TableName=TABLE,
        Item={
            keys.PARTITION_KEY: {"S": keys.CONTROL_PARTITION},
            keys.SORT_KEY: {"S": "web"},
            "pause": {"S": written},
        },
    )
    name = alarm_for("web", "cpu", "out")
    set_alarm_state(name, "ALARM")
    invoke(alarm_event(SNS, name, at(40), metric="CPUUtilization"))
    (record,) = audit("web")
    assert (record["outcome"], record["skip_cause"]) == ("skipped", "paused"), record["reason"]
    assert record["inputs"]["pause"] == ("out" if written == " out " else "all")
    assert desired() == 2


def test_the_kill_switch_set_after_a_commit_stops_its_retry_putting_it_in_place(
    invoke: Callable[..., dict[str, Any]],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from surgeguard.service import RetryableFailureError

    from .support import set_desired_fails_once

    # GIVEN alarm A committed 2 -> 4 and its SetDesiredCapacity failed (audited `failed`, raised)
    set_desired_fails_once(monkeypatch, "InternalFailure", "We encountered an internal error")
    cpu_metric(80.0)
    event = alarm_event(SNS, alarm_for("web", "cpu"), at(40), metric="CPUUtilization")
    clock.pin(at(45))
    with pytest.raises(RetryableFailureError):
        invoke(event)
    assert desired() == 2
    # AND then the operator pulls the kill switch
    AuditStore(TABLE, boto3.client("dynamodb")).set_pause(None, Pause.ALL, "operator", at(70))
    # WHEN Lambda retries A a minute later
    clock.pin(at(107))
    invoke(event)
    # THEN the commit is not put in place: the retry started from it (4 -> 4, no change), and that once
    # skipped the pause check, calling SetDesiredCapacity(4) under the kill switch
    assert desired() == 2
    # (Both records are filed at the trigger's time, in the order of their random delivery ids.)
    (retry,) = [r for r in audit("web") if r["outcome"] != "failed"]
    assert (retry["outcome"], retry.get("skip_cause")) == ("skipped", "paused"), retry["reason"]
    assert "would have put the committed 4 in place" in retry["reason"]


def test_the_kill_switch_set_between_a_decisions_save_and_its_apply_stops_the_apply(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    clock: Any,
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    # GIVEN alarm A deciding 2 -> 4, and the operator pulling the kill switch once A's decision is saved
    # (A read the switch at its start, seconds before: its metrics, forecast and state reads since)
    real_save = AuditStore.save_memory
    pulled: list[bool] = []

    def save_memory(self: AuditStore, group: str, memory: Any, read_version: int) -> None:
        real_save(self, group, memory, read_version)
        if not pulled:
            pulled.append(True)
            AuditStore(TABLE, boto3.client("dynamodb")).set_pause(None, Pause.ALL, "operator", at(44))

    monkeypatch.setattr(AuditStore, "save_memory", save_memory)
    cpu_metric(80.0)
    clock.pin(at(45))
    # WHEN A goes on to its apply
    invoke(alarm_event(SNS, alarm_for("web", "cpu"), at(40), metric="CPUUtilization"))
    # THEN no SetDesiredCapacity goes out after the switch was set: skipped, paused, nothing told
    assert pulled
    assert desired() == 2
    (record,) = audit("web")
    assert (record["outcome"], record.get("skip_cause")) == ("skipped", "paused"), record["reason"]
    assert notifications.read() == []
    # AND after a resume, the next decision starts from the group's 2: the commit never applied is not
    # taken for another writer's change (4 -> 2 "changed outside Surgeguard")
    AuditStore(TABLE, boto3.client("dynamodb")).set_pause(None, Pause.NONE, "operator", at(200))
    clock.pin(at(245))
    invoke(alarm_event(SNS, alarm_for("web", "cpu"), at(240), metric="CPUUtilization"))
    after = [r for r in audit("web") if r is not record and r["delivery_id"] != record["delivery_id"]]
    assert [(r["outcome"], r.get("previous_desired"), r.get("new_desired")) for r in after] == [
        ("applied", 2, 4)
    ]
    assert "other_writer" not in after[0], after[0]["other_writer"]
    assert desired() == 4
