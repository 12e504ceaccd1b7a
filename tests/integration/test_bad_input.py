"""Bad input is rejected and audited with its reason; nothing scales and the handler does not raise
(a raise would make Lambda retry an event that can only fail the same way)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from surgeguard import keys

from .alarm_events import GENERIC_SNS, SNS, alarm_event, load_sample
from .support import LambdaContext, alarm_for, at, desired

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]


def malformed_json() -> dict[str, Any]:
    event = alarm_event(SNS, alarm_for("web", "cpu"), at(40), metric="CPUUtilization")
    event["Records"][0]["Sns"]["Message"] = event["Records"][0]["Sns"]["Message"][:-20]
    return event


# (event, group the item is filed under, reason fragment)
EVENT_LEVEL = {
    "malformed-json": (
        malformed_json,
        keys.UNKNOWN_GROUP,
        "is not JSON",
    ),
    "generic-sns": (lambda: load_sample(GENERIC_SNS), keys.UNKNOWN_GROUP, "is not JSON: 'Hello from SNS!'"),
    "scheduled-event": (
        lambda: load_sample("eventbridge-scheduled-event-rule.awsdocs.json"),
        keys.UNKNOWN_GROUP,
        "not an alarm event: unrecognised shape ('Scheduled Event')",
    ),
    "asg-launch-event": (
        lambda: load_sample("eventbridge-asg-launch-successful.aws-lambda-go.json"),
        keys.UNKNOWN_GROUP,
        "unrecognised shape ('EC2 Instance Launch Successful')",
    ),
}
TRIGGER_LEVEL = {
    "unknown-alarm": (
        lambda: alarm_event(SNS, "sg/checkout/cpu/out", at(40), metric="CPUUtilization"),
        keys.UNKNOWN_GROUP,
        "alarm 'sg/checkout/cpu/out' is not one of Surgeguard's (unknown group)",
    ),
    "other-prefix": (
        lambda: alarm_event(SNS, "other/web/cpu/out", at(40), metric="CPUUtilization"),
        keys.UNKNOWN_GROUP,
        "is not one of Surgeguard's",
    ),
    "insufficient-data": (
        lambda: alarm_event(
            SNS, alarm_for("web", "cpu"), at(40), state="INSUFFICIENT_DATA", metric="CPUUtilization"
        ),
        "web",
        "has INSUFFICIENT_DATA: no signal to act on",
    ),
    "unexpected-metric": (
        # the sample's own metric name (NetworkOut), on our CPU alarm's name
        lambda: alarm_event(SNS, alarm_for("web", "cpu"), at(40), metric="NetworkOut"),
        "web",
        "reports AWS/EC2/NetworkOut{AutoScalingGroupName=web}, but signal cpu of group web reads "
        "AWS/EC2/CPUUtilization{AutoScalingGroupName=web}: unexpected metric",
    ),
}


@pytest.mark.parametrize("case", sorted({**EVENT_LEVEL, **TRIGGER_LEVEL}))
def test_bad_input_is_rejected_and_audited_without_raising(
    case: str,
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
) -> None:
    # GIVEN a group whose CPU would scale it, and an event that must not be acted on
    cpu_metric(80.0)
    make_event, filed_under, fragment = {**EVENT_LEVEL, **TRIGGER_LEVEL}[case]
    # WHEN the handler receives it
    result = invoke(make_event())  # no raise: a Lambda retry would fail the same way
    # THEN one rejected item records why, and nothing else happened
    assert result["records"][0]["outcome"] == "rejected"
    (item,) = audit(filed_under)
    assert item["outcome"] == "rejected"
    assert fragment in item["reason"]
    assert item["group"] == (None if filed_under == keys.UNKNOWN_GROUP else filed_under)
    if case in TRIGGER_LEVEL:
        assert item["trigger"]["alarm"]
    assert desired("web") == 2
    assert notifications.read() == []


@pytest.mark.parametrize("case", ["malformed-json", "unknown-alarm"], ids=["event-level", "trigger-level"])
def test_rejected_items_carry_the_lambda_request_id(
    case: str, invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN a Lambda request id in the AWS format (a UUID, dashes included)
    make_event, filed_under, _ = {**EVENT_LEVEL, **TRIGGER_LEVEL}[case]
    context = LambdaContext()
    # WHEN a bad event is rejected
    invoke(make_event(), context)
    # THEN its audit item names the request that handled it, whole, to find its logs
    (item,) = audit(filed_under)
    assert item["request_id"] == context.aws_request_id


def test_an_absurd_metric_value_is_rejected(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # GIVEN a broken CPU metric: 1e9 percent
    cpu_metric(1e9)
    # WHEN the scale-out alarm arrives
    result = invoke(alarm_event(SNS, alarm_for("web", "cpu"), at(40), metric="CPUUtilization"))
    # THEN the group is not scaled on it, and the reason names the signal and the value
    assert result["records"][0]["outcome"] == "rejected"
    (item,) = audit("web")
    assert item["outcome"] == "rejected"
    assert (
        "signal cpu reads 1000000000.0, outside [0, 100]: refusing to scale on a broken metric"
        in item["reason"]
    )
    assert desired("web") == 2


def test_a_negative_metric_value_is_rejected(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    cpu_metric(-5.0)
    invoke(alarm_event(SNS, alarm_for("web", "cpu"), at(40), metric="CPUUtilization"))
    (item,) = audit("web")
    assert (item["outcome"], desired("web")) == ("rejected", 2)
