"""Every shape an alarm arrives in drives the real handler, scales the moto group and audits once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .alarm_events import (
    ALARM_SAMPLES,
    COMPOSITE_SAMPLES,
    SNS,
    alarm_event,
    trigger_id,
)
from .support import (
    API_TARGET_GROUP,
    LambdaContext,
    alarm_for,
    alarm_state,
    at,
    desired,
    set_alarm_state,
)

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]


@pytest.fixture
def api_group(
    make_asg: Callable[..., str], cpu_metric: Callable[..., None], requests_metric: Callable[..., None]
) -> str:
    # The composite group: both members above target (CPU 80/50 -> 4, requests 1500/1000 -> 3)
    make_asg("api")
    cpu_metric(80.0, group="api")
    requests_metric(1500.0, target_group=API_TARGET_GROUP)
    return "api"


@pytest.mark.parametrize("sample", ALARM_SAMPLES)
def test_every_alarm_shape_scales_the_group_proportionally(
    sample: str,
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    request: pytest.FixtureRequest,
) -> None:
    # GIVEN a group of 2 at CPU 80 against a target of 50 (composite shapes: the "api" group, where
    # CPU and requests are both above target), its alarm in ALARM as CloudWatch would have it
    if sample in COMPOSITE_SAMPLES:
        group = request.getfixturevalue("api_group")
        name, rule, value = alarm_for("api", "busy"), "busy", None
    else:
        group = "web"
        cpu_metric(80.0)
        name, rule, value = alarm_for("web", "cpu"), "cpu", 80.0
    composite = sample in COMPOSITE_SAMPLES
    if not composite:  # moto has no composite alarms to hold a state
        set_alarm_state(name, "ALARM")
    event = alarm_event(sample, name, at(40), metric="CPUUtilization" if sample == SNS else None)
    context = LambdaContext()
    # WHEN the real Lambda handler receives the event
    result = invoke(event, context)
    # THEN the group is scaled to ceil(2 * 80 / 50) = 4
    assert desired(group) == 4
    assert result == {
        "records": [{"group": group, "outcome": "applied", "reason": result["records"][0]["reason"]}]
    }
    # AND exactly one audit item explains it
    (item,) = audit(group)
    assert item["outcome"] == "applied"
    assert item["action"] == "scale_out"
    assert (item["previous_desired"], item["new_desired"]) == (2, 4)
    assert item["group"] == group
    assert item["request_id"] == context.aws_request_id
    assert item["trigger"]["alarm"] == name
    assert item["trigger"]["state"] == "ALARM"
    assert item["trigger"]["id"] == trigger_id(event)
    assert item["trigger"]["timestamp"] == at(40).isoformat()
    assert item["at"] == "2026-11-20T12:00:40.000+00:00"
    assert item["inputs"]["group"] == {"min": 1, "desired": 2, "max": 20, "in_service": 2, "pending": 0}
    assert item["inputs"]["readings"][0] == {"signal_id": "cpu", "kind": "cpu", "value": 80.0, "target": 50}
    assert item["inputs"]["pause"] == "none" and item["inputs"]["dry_run"] is False
    assert item["winning_rule"] == rule
    assert {c["rule"]: c["needed"] for c in item["candidates"]}["cpu"] == 4
    assert item["clamps"] == []
    assert item["reason"].startswith("scale out 2 -> 4: ")
    if value is not None:
        assert item["inputs"]["readings"][0]["value"] == value
    # AND the delivery's own id is on the record
    assert item["source_id"] == trigger_id(event)
    # AND the alarm is left alone (no SetAlarmState): a breach that lasts is heard by the
    # per-minute re-evaluation, which reads the alarm's state
    if not composite:
        assert alarm_state(name) == "ALARM"
    # AND people are told
    assert notifications.read() == [
        {"Subject": f"Surgeguard applied: {group} 2 -> 4", "Message": item["reason"]}
    ]


def test_audit_items_carry_the_ttl_attribute(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN a 30-day audit retention in the config
    cpu_metric(80.0)
    # WHEN a trigger is handled
    invoke(alarm_event(SNS, alarm_for("web", "cpu"), at(40), metric="CPUUtilization"))
    # THEN its audit item expires 30 days after the trigger (DynamoDB TTL, epoch seconds)
    (item,) = audit("web")
    assert item["expires_at"] == int(at(40).timestamp()) + 30 * 86_400


def test_the_events_own_datapoint_is_never_acted_on(invoke: Invoke, audit: Audit, notifications: Any) -> None:
    # GIVEN no CPU datapoint in CloudWatch, but an EventBridge alarm carrying 99.5 in its reasonData
    # (anyone able to publish a message could write any number there)
    event = alarm_event(
        "eventbridge-cw-alarm-state-change-single-metric.awsdocs.json", alarm_for("web", "cpu"), at(40)
    )
    # WHEN it is handled
    invoke(event)
    # THEN nothing scales on it: only the metric store's data counts; the quoted value is kept for the audit
    # (the web group's quiet ALB reads as zero requests, which never scales out)
    (item,) = audit("web")
    assert item["outcome"] == "unchanged"
    assert item["inputs"]["readings"][0]["value"] is None
    assert item["trigger"]["value"] == pytest.approx(99.50160229693434)
    assert desired("web") == 2


def test_an_alarm_back_to_ok_is_audited_and_changes_nothing(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN high CPU, but an alarm whose new state is OK
    cpu_metric(80.0)
    # WHEN the OK transition arrives
    invoke(alarm_event(SNS, alarm_for("web", "cpu"), at(40), state="OK", metric="CPUUtilization"))
    # THEN nothing changes, one skipped item says why, and nobody is paged
    (item,) = audit("web")
    assert (item["outcome"], item["skip_cause"]) == ("skipped", "alarm_ok")
    assert desired("web") == 2
    assert notifications.read() == []


def test_a_hold_decision_is_audited_without_a_notification(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN CPU exactly at target
    cpu_metric(50.0)
    # WHEN the scale-out alarm arrives anyway (CloudWatch saw a higher datapoint)
    invoke(alarm_event(SNS, alarm_for("web", "cpu"), at(40), metric="CPUUtilization"))
    # THEN the group holds, the item says unchanged, nobody is paged
    (item,) = audit("web")
    assert (item["outcome"], item["new_desired"]) == ("unchanged", 2)
    assert item["reason"].startswith("hold at 2: ")
    assert notifications.read() == []
