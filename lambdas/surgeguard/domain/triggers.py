"""Parse the three shapes an alarm really arrives in into one AlarmTrigger; bad input says exactly why.

Shapes (samples in tests/events): SNS carrying the classic alarm JSON; EventBridge "CloudWatch Alarm
State Change"; and the payload an alarm sends when it invokes a Lambda directly (`alarmData`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
# "... 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater ..."
_REASON_DATAPOINT = re.compile(r"\[\s*(-?[0-9.eE+-]+)\s*\(")


class BadInputError(ValueError):
    """The event cannot be acted on; the message says why. Never retried: a retry would fail the same."""


@dataclass(frozen=True)
class AlarmTrigger:
    trigger_id: str  # SNS MessageId, EventBridge id, or alarm ARN + state time for direct invocations
    source: str  # "sns" | "eventbridge" | "alarm-action"
    alarm_name: str
    state: str
    previous_state: str | None
    timestamp: datetime  # the alarm's own state-change time: "now" for the decision
    reason: str
    value: float | None  # the datapoint that crossed, when the event carries one
    metric_name: str | None  # the single metric behind the alarm, when the event names it


def parse_time(raw: Any, field: str) -> datetime:
    if not isinstance(raw, str) or not raw:
        raise BadInputError(f"{field} is missing or not a string")
    text = raw.strip()
    # AWS writes both "2015-06-03T17:43:27.123+0000" and "...Z"; fromisoformat wants "+00:00".
    text = re.sub(r"Z$", "+00:00", text)
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadInputError(f"{field} {raw!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise BadInputError(f"{where} has no {key!r}")
    return mapping[key]


def _state(raw: Any, field: str) -> str:
    if raw not in ALARM_STATES:
        raise BadInputError(f"{field} {raw!r} is not one of {', '.join(ALARM_STATES)}")
    return str(raw)


def _finite(value: Any, field: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{field} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise BadInputError(f"{field} {value!r} is not a finite number")
    return number


def _value_from_reason_data(raw: Any) -> float | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    points = data.get("recentDatapoints") if isinstance(data, dict) else None
    if isinstance(points, list) and points:
        return _finite(points[-1], "reasonData.recentDatapoints")
    return None


def _single_metric(configuration: Any) -> str | None:
    metrics = configuration.get("metrics") if isinstance(configuration, dict) else None
    if isinstance(metrics, list) and len(metrics) == 1:
        stat = metrics[0].get("metricStat", {}) if isinstance(metrics[0], dict) else {}
        name = stat.get("metric", {}).get("name") if isinstance(stat, dict) else None
        return name if isinstance(name, str) else None
    return None


def _from_sns_record(record: dict[str, Any]) -> AlarmTrigger:
    sns = _require(record, "Sns", "SNS record")
    message_id = _require(sns, "MessageId", "Sns")
    raw = _require(sns, "Message", "Sns")
    try:
        message = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        raise BadInputError(
            f"SNS message {message_id} is not a CloudWatch alarm notification (not JSON): {str(raw)[:80]!r}"
        ) from None
    if not isinstance(message, dict) or "AlarmName" not in message:
        raise BadInputError(f"SNS message {message_id} is JSON but has no AlarmName")
    reason = str(message.get("NewStateReason", ""))
    match = _REASON_DATAPOINT.search(reason)
    trigger = message.get("Trigger")
    metric_name = trigger.get("MetricName") if isinstance(trigger, dict) else None
    return AlarmTrigger(
        trigger_id=str(message_id),
        source="sns",
        alarm_name=str(message["AlarmName"]),
        state=_state(message.get("NewStateValue"), "NewStateValue"),
        previous_state=message.get("OldStateValue"),
        timestamp=parse_time(message.get("StateChangeTime"), "StateChangeTime"),
        reason=reason,
        value=_finite(match.group(1), "NewStateReason datapoint") if match else None,
        metric_name=metric_name if isinstance(metric_name, str) else None,
    )


def _from_alarm_detail(detail: Any, trigger_id: str, source: str, fallback_time: Any) -> AlarmTrigger:
    name = _require(detail, "alarmName", "alarm detail")
    state = _require(detail, "state", "alarm detail")
    previous = detail.get("previousState") or {}
    timestamp = state.get("timestamp", fallback_time) if isinstance(state, dict) else fallback_time
    return AlarmTrigger(
        trigger_id=trigger_id,
        source=source,
        alarm_name=str(name),
        state=_state(_require(state, "value", "alarm state"), "state.value"),
        previous_state=previous.get("value"),
        timestamp=parse_time(timestamp, "state.timestamp"),
        reason=str(state.get("reason", "")),
        value=_value_from_reason_data(state.get("reasonData")),
        metric_name=_single_metric(detail.get("configuration")),
    )


def parse_alarm_event(event: Any) -> list[AlarmTrigger]:
    """Every alarm trigger in a Lambda event, whichever of the three shapes it came in."""
    if not isinstance(event, dict):
        raise BadInputError(f"event is a {type(event).__name__}, not a JSON object")
    if isinstance(event.get("Records"), list):
        records = event["Records"]
        if not records:
            raise BadInputError("SNS event has no records")
        for record in records:
            if not isinstance(record, dict) or record.get("EventSource") != "aws:sns":
                raise BadInputError("event record is not from SNS (EventSource != aws:sns)")
        return [_from_sns_record(record) for record in records]
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        event_id = _require(event, "id", "EventBridge event")
        return [_from_alarm_detail(event.get("detail"), str(event_id), "eventbridge", event.get("time"))]
    if event.get("source") == "aws.cloudwatch" and "alarmData" in event:
        data = event["alarmData"]
        arn = event.get("alarmArn", "")
        state_time = data.get("state", {}).get("timestamp") if isinstance(data, dict) else None
        return [_from_alarm_detail(data, f"{arn}@{state_time}", "alarm-action", event.get("time"))]
    kind = event.get("detail-type") or event.get("source") or "unknown"
    raise BadInputError(f"not an alarm event: unrecognised shape ({kind!r})")
