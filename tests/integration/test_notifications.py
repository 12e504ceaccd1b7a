"""Notifications carry their group, so a group's own people can subscribe to that group alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from .alarm_events import SNS, alarm_event
from .support import alarm_for, at, set_alarm_state


def _queue_subscribed(topic_arn: str, name: str, groups: list[str]) -> str:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps({"group": groups})},
    )
    return url


def _subjects(url: str) -> list[str]:
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"])["Subject"] for m in messages]


def test_a_groups_own_subscribers_hear_only_their_group(
    invoke: Callable[..., dict[str, Any]], cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN one subscriber filtered to `web` and one filtered to `api` (as the stack subscribes
    # a group's notify_emails)
    web_people = _queue_subscribed(notifications.topic_arn, "web-oncall", ["web"])
    api_people = _queue_subscribed(notifications.topic_arn, "api-oncall", ["api"])
    cpu_metric(80.0)
    name = alarm_for("web", "cpu")
    set_alarm_state(name, "ALARM")
    # WHEN web scales out
    invoke(alarm_event(SNS, name, at(40), metric="CPUUtilization"))
    # THEN web's people and the unfiltered list hear it; api's people do not
    assert [s.startswith("Surgeguard applied: web") for s in _subjects(web_people)] == [True]
    assert _subjects(api_people) == []
    assert len(notifications.read()) == 1


class _CapturingSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **request: Any) -> dict[str, Any]:
        self.published.append(request)
        return {"MessageId": "m"}


@pytest.mark.parametrize(
    "subject",
    [
        "Surgeguard applied: shop-" + "x" * 200 + " 4 -> 8",
        "Surgeguard failed: web\nline two",
        "",
        "Surgeguard applied: café-ñandú-東京 4 -> 8",
    ],
    ids=["long group name", "line break", "empty", "non-ASCII group name"],
)
def test_every_subject_is_one_sns_takes(subject: str) -> None:
    # "less than 100 characters", "no line breaks or control characters" (SNS Publish): moto takes what
    # SNS refuses; a subject cut to 100, or a group name with a line break, left the change untold
    from surgeguard.adapters.notifier import SnsNotifier

    sns = _CapturingSns()
    SnsNotifier("arn:aws:sns:us-east-1:123456789012:notify", api=sns).publish("web", subject, "")
    (sent,) = sns.published
    assert 0 < len(sent["Subject"]) < 100
    assert not any(ord(c) < 32 for c in sent["Subject"])
    # SNS takes printable ASCII only in a subject (AWS's own Prometheus receiver replaces any other):
    # a group named in any other script (the config allows it for ALB-only groups) was never told.
    assert sent["Subject"].isascii() and sent["Subject"].isprintable()
    assert sent["Message"]  # SNS refuses an empty message


def test_a_long_group_names_subject_keeps_its_change() -> None:
    # The subject was cut at 99 characters, the "4 -> 8" with it: the change read nowhere but the message
    from surgeguard.adapters.notifier import SnsNotifier

    sns = _CapturingSns()
    long_name = "shop-" + "x" * 200
    SnsNotifier("arn:aws:sns:us-east-1:123456789012:notify", api=sns).publish(
        long_name, f"Surgeguard applied: {long_name}", "reason", " 4 -> 8"
    )
    (sent,) = sns.published
    assert sent["Subject"].startswith("Surgeguard applied: shop-xxx")
    assert sent["Subject"].endswith("... 4 -> 8") and len(sent["Subject"]) == 99


def test_a_record_of_no_known_group_is_told_as_such() -> None:
    # A failed trigger naming no known group was told as "Surgeguard failed: None"
    from types import SimpleNamespace

    from surgeguard.adapters.notifier import SnsNotifier
    from surgeguard.service import _notify

    sns = _CapturingSns()
    notifier = SnsNotifier("arn:aws:sns:us-east-1:123456789012:notify", api=sns)
    _notify(
        SimpleNamespace(notifier=notifier), {"outcome": "failed", "group": None, "reason": "internal error"}
    )  # type: ignore[arg-type]
    (sent,) = sns.published
    assert sent["Subject"] == "Surgeguard failed: no known group"
