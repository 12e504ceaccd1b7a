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


# --- told once, whatever fails ----------------------------------------------------------------------
class _Killed(BaseException):
    """The runtime ending the invocation (a timeout): nothing after it runs, nothing catches it."""


def _applied_then_killed(
    invoke: Callable[..., dict[str, Any]], event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliver `event` once, the invocation ended by the runtime just after its audit write (before its
    Publish)."""
    from surgeguard.adapters.audit_store import AuditStore

    write = AuditStore.write_audit

    def written_then_killed(self: AuditStore, record: dict[str, Any]) -> None:
        write(self, record)
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(AuditStore, "write_audit", written_then_killed)
        with pytest.raises(_Killed):
            invoke(event)


def _cpu_alarm_in_alarm(cpu_metric: Callable[..., None]) -> dict[str, Any]:
    cpu_metric(80.0)
    name = alarm_for("web", "cpu")
    set_alarm_state(name, "ALARM")
    return alarm_event(SNS, name, at(40), metric="CPUUtilization")


def _publish_fails_for(patch: pytest.MonkeyPatch, groups: set[str], code: str) -> None:
    """Publish for `groups` fails with `code` (as after the SDK's own retries); the others go through."""
    from surgeguard.adapters.errors import AwsCallError
    from surgeguard.adapters.notifier import SnsNotifier

    publish = SnsNotifier.publish

    def fails(self: SnsNotifier, group: str, *args: Any) -> None:
        if group in groups:
            raise AwsCallError("Publish", code, "the topic's key could not be used")
        publish(self, group, *args)

    patch.setattr(SnsNotifier, "publish", fails)


def _applied_subjects(notifications: Any) -> list[str]:
    return sorted(n["Subject"] for n in notifications.read())


def test_a_change_whose_publish_failed_is_told_once_by_lambdas_retry(
    invoke: Callable[..., dict[str, Any]],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN web's scale-out applied and audited, and its Publish refused (the topic's KMS key
    # throttled). It was logged and the invocation returned: nobody ever heard of the change.
    from surgeguard.service import RetryableFailureError

    event = _cpu_alarm_in_alarm(cpu_metric)
    with monkeypatch.context() as patch:
        _publish_fails_for(patch, {"web"}, "KMSThrottlingException")
        with pytest.raises(RetryableFailureError, match="KMSThrottlingException"):
            invoke(event)
    assert notifications.read() == []
    # WHEN Lambda retries the event
    invoke(event)
    # THEN people hear of the change once, and it is applied and audited `applied` once
    assert _applied_subjects(notifications) == ["Surgeguard applied: web 2 -> 4"]
    assert [r["outcome"] for r in audit("web")].count("applied") == 1
    # AND a later delivery tells nothing more
    invoke(event)
    assert notifications.read() == []


def test_a_change_audited_just_before_the_runtime_ended_is_told_by_the_retry(
    invoke: Callable[..., dict[str, Any]],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    notifications: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN web's `applied` record written, then the invocation ended by the runtime before its
    # Publish. The retry after the lease found the record and was `skipped: duplicate`: never told.
    from datetime import timedelta

    event = _cpu_alarm_in_alarm(cpu_metric)
    _applied_then_killed(invoke, event, monkeypatch)
    assert notifications.read() == []
    # WHEN the event is delivered again after the dead attempt's lease
    clock.pin(at(40) + timedelta(minutes=3))
    invoke(event)
    # THEN people hear of the change, once
    assert _applied_subjects(notifications) == ["Surgeguard applied: web 2 -> 4"]
    assert [r["outcome"] for r in audit("web")].count("applied") == 1


def test_a_retry_reads_each_record_an_earlier_attempt_wrote_once(
    invoke: Callable[..., dict[str, Any]],
    cpu_metric: Callable[..., None],
    notifications: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN web's `applied` record written, then the invocation ended before its Publish
    from datetime import timedelta

    from surgeguard import keys
    from surgeguard.adapters.audit_store import AuditStore

    event = _cpu_alarm_in_alarm(cpu_metric)
    _applied_then_killed(invoke, event, monkeypatch)
    # WHEN the event is delivered again after the dead attempt's lease, its DynamoDB calls counted
    call = AuditStore._table_call
    audit_reads: list[str] = []

    def counted(self: AuditStore, operation: str, **request: Any) -> Any:
        sort_key = str(request.get("Key", {}).get(keys.SORT_KEY, {}).get("S", ""))
        if operation == "GetItem" and sort_key.startswith(keys.AUDIT_SORT_PREFIX):
            audit_reads.append(sort_key)
        return call(self, operation, **request)

    monkeypatch.setattr(AuditStore, "_table_call", counted)
    clock.pin(at(40) + timedelta(minutes=3))
    invoke(event)
    # THEN the earlier attempt's record is read once: to know it was written and what it says
    # (its GetItem was made twice, once for each)
    assert len(audit_reads) == 1, audit_reads
    assert _applied_subjects(notifications) == ["Surgeguard applied: web 2 -> 4"]


def test_one_groups_publish_failing_in_a_reevaluation_tells_the_others_and_retells_only_it(
    invoke: Callable[..., dict[str, Any]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    notifications: Any,
    make_asg: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN web and api breaching, both scaled out by one re-evaluation, and web's Publish refused
    from surgeguard.service import RetryableFailureError

    event = _web_and_api_breaching(make_asg, cpu_metric, requests_metric)
    with monkeypatch.context() as patch:
        _publish_fails_for(patch, {"web"}, "KMSThrottlingException")
        with pytest.raises(RetryableFailureError, match="KMSThrottlingException"):
            invoke(event)
    # THEN api is told at once
    assert [s.split()[2] for s in _applied_subjects(notifications)] == ["api"]
    # WHEN Lambda retries the run
    invoke(event)
    # THEN web is told, and api not a second time
    assert [s.split()[2] for s in _applied_subjects(notifications)] == ["web"]


def test_a_reevaluations_group_audited_before_another_groups_audit_write_failed_is_told_once(
    invoke: Callable[..., dict[str, Any]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    notifications: Any,
    make_asg: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN web and api scaled out by one re-evaluation, api's record written and web's PutItem
    # throttled: the run raised before telling anyone, and its retry decided web alone, so api's
    # change was never told
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.adapters.errors import AwsCallError
    from surgeguard.service import RetryableFailureError

    write = AuditStore.write_audit

    def web_throttled(self: AuditStore, record: dict[str, Any]) -> None:
        if record.get("group") == "web":
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        write(self, record)

    event = _web_and_api_breaching(make_asg, cpu_metric, requests_metric)
    with monkeypatch.context() as patch:
        patch.setattr(AuditStore, "write_audit", web_throttled)
        with pytest.raises(RetryableFailureError):
            invoke(event)
    # WHEN Lambda retries the run
    invoke(event)
    # THEN each group's change is told once
    assert [s.split()[2] for s in _applied_subjects(notifications)] == ["api", "web"]


def _web_and_api_breaching(make_asg: Any, cpu_metric: Any, requests_metric: Any) -> dict[str, Any]:
    """web and api both over their CPU target with their alarms in ALARM: the re-evaluation event that
    scales both out in one run."""
    from .support import API_TARGET_GROUP, reevaluation

    make_asg("api")
    for group in ("api", "web"):
        cpu_metric(95.0, at(0), group=group)
        set_alarm_state(alarm_for(group, "cpu"), "ALARM")
    requests_metric(3000.0, at(0), target_group=API_TARGET_GROUP)
    event: dict[str, Any] = reevaluation(1)
    return event
