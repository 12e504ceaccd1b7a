"""Real-shaped events for Surgeguard's own alarms: a sample from tests/events with only the alarm's
name, state, time and ids changed (and, for the SNS shape, the metric its `Trigger` names)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"

SNS = "sns-cw-alarm-message-single-metric.aws-lambda-go.json"
EVENTBRIDGE = "eventbridge-cw-alarm-state-change-single-metric.awsdocs.json"
EVENTBRIDGE_MATH = "eventbridge-cw-alarm-state-change-metric-math.awsdocs.json"
EVENTBRIDGE_ANOMALY = "eventbridge-cw-alarm-state-change-anomaly-detection.awsdocs.json"
EVENTBRIDGE_COMPOSITE = "eventbridge-cw-alarm-state-change-composite-suppressor.awsdocs.json"
ACTION = "cw-alarm-lambda-action-single-metric.powertools.json"
ACTION_COMPOSITE = "cw-alarm-lambda-action-composite.powertools.json"
GENERIC_SNS = "sns-event-generic.powertools.json"

ALARM_SAMPLES = (
    SNS,
    EVENTBRIDGE,
    EVENTBRIDGE_MATH,
    EVENTBRIDGE_ANOMALY,
    EVENTBRIDGE_COMPOSITE,
    ACTION,
    ACTION_COMPOSITE,
)
COMPOSITE_SAMPLES = (EVENTBRIDGE_COMPOSITE, ACTION_COMPOSITE)
ACCOUNT = "123456789012"


def load_sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def aws_time(at: datetime) -> str:
    """The alarm's own spelling: 2015-06-03T17:43:27.123+0000."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def alarm_arn(alarm: str) -> str:
    return f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{alarm}"


def alarm_event(
    sample: str,
    alarm: str,
    at: datetime,
    *,
    state: str = "ALARM",
    event_id: str | None = None,
    metric: str | None = None,
) -> dict[str, Any]:
    """The sample `sample`, re-addressed to `alarm` in `state` at `at` with a fresh id.

    `metric` (SNS only) replaces `Trigger.MetricName`; the sample's own (NetworkOut) is kept otherwise,
    so callers choose between the metric Surgeguard reads and an unexpected one.
    """
    event = load_sample(sample)
    event_id = event_id or str(uuid.uuid4())
    when = aws_time(at)
    if "Records" in event:
        sns = event["Records"][0]["Sns"]
        message = json.loads(sns["Message"])
        message.update(
            AlarmName=alarm,
            AlarmArn=alarm_arn(alarm),
            NewStateValue=state,
            StateChangeTime=when,
            Region="US East (N. Virginia)",
            AWSAccountId=ACCOUNT,
        )
        if metric is not None:
            message["Trigger"]["MetricName"] = metric
        sns.update(MessageId=event_id, Message=json.dumps(message), Timestamp=when.replace("+0000", "Z"))
    elif "detail" in event:
        event.update(id=event_id, time=at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        event["resources"] = [alarm_arn(alarm)]
        event["detail"]["alarmName"] = alarm
        event["detail"]["state"].update(value=state, timestamp=when)
    else:  # the alarm invokes the Lambda directly; its id is the alarm ARN and state time
        event.update(alarmArn=alarm_arn(alarm), time=when)
        event["alarmData"]["alarmName"] = alarm
        event["alarmData"]["state"].update(value=state, timestamp=when)
    return event


def trigger_id(event: dict[str, Any]) -> str:
    """The id Surgeguard dedupes on, as the parser derives it."""
    if "Records" in event:
        return str(event["Records"][0]["Sns"]["MessageId"])
    if "detail" in event:
        return str(event["id"])
    return f"{event['alarmArn']}@{event['alarmData']['state']['timestamp']}"
