"""Parse the three shapes an alarm really arrives in into one AlarmTrigger; bad input says exactly why.

Shapes (samples in tests/events): SNS carrying the classic alarm JSON; EventBridge "CloudWatch Alarm
State Change"; and the payload an alarm sends when it invokes a Lambda directly (`alarmData`).

Every field is hostile until checked: a wrong type, an absurd number, JSON nested past the
interpreter's recursion limit or a lone surrogate becomes a BadInputError (or a sanitized string),
never an exception of another kind. What the parser cannot know (is the time plausible, is this
alarm ours, does the metric match the group) is checked by the service against config and clock.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
# "... 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater ..." Read from after
# "datapoints" only: a composite alarm's reason quotes its child's ARN, and a group named "shop[eu (blue)"
# in it was read as the datapoint "eu", and the alarm rejected.
_REASON_DATAPOINT = re.compile(r"datapoints\s*\[\s*([^\s(\[\]]{1,40})\s*\(")
# arn:aws:cloudwatch:us-east-1:123456789012:alarm:NAME (the name may itself contain ':' or '/').
_ALARM_ARN = re.compile(r"arn:(aws|aws-cn|aws-us-gov):cloudwatch:([a-z0-9-]+):(\d{12}):alarm:(.+)", re.S)
TEXT_LIMIT = 256
# An alarm's ARN holds its name (up to 255 characters) after some 60 of partition, region and account:
# cut to TEXT_LIMIT, a long-named alarm no longer matched its own name, and was rejected as forged.
ARN_LIMIT = 512
# A delivery id is at most an ARN and a time (a direct alarm action's `alarmArn@timestamp`).
ID_LIMIT = ARN_LIMIT + 64
ID_BYTES = 1536
REASON_LIMIT = 1024
# CloudWatch alarms hold at most 10 metrics (PutMetricAlarm `Metrics`); more is not an alarm of ours.
MAX_ALARM_METRICS = 10
# Values a datapoint may carry into the audit trail; beyond it is not load, and not storable either.
VALUE_LIMIT = 1e12


class BadInputError(ValueError):
    """The event cannot be acted on; the message says why. Never retried: a retry would fail the same."""


def safe_text(value: str, limit: int = TEXT_LIMIT) -> str:
    """A string that can be logged and stored: lone surrogates escaped, at most `limit` characters."""
    text = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def loads(raw: Any, what: str) -> Any:
    """json.loads that turns every failure (deep nesting included) into a BadInputError."""
    if not isinstance(raw, str):
        raise BadInputError(f"{what} is a {type(raw).__name__}, not a JSON string")
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadInputError(f"{what} is JSON nested too deeply to be an alarm") from None
    except ValueError:
        raise BadInputError(f"{what} is not JSON: {safe_text(raw, 80)!r}") from None


@dataclass(frozen=True)
class MetricRef:
    """One metric an alarm evaluates, as the event describes it."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]  # sorted


@dataclass(frozen=True)
class AlarmTrigger:
    trigger_id: str  # SNS MessageId, EventBridge id, or alarm ARN + state time for direct invocations
    source: str  # "sns" | "eventbridge" | "alarm-action"
    alarm_name: str
    state: str
    previous_state: str | None
    timestamp: datetime  # the alarm's own state-change time
    reason: str
    value: float | None  # the datapoint the message quotes: audit only, never acted on
    metrics: tuple[MetricRef, ...] | None  # what the event says the alarm evaluates (None: not said)
    alarm_arn: str | None = None
    account: str | None = None  # the account the event says it comes from
    region: str | None = None  # the region the event says it comes from (a code, when given)
    topic_arn: str | None = None  # SNS only: the topic that delivered it


PLAUSIBLE_YEARS = (1970, 9000)


def parse_time(raw: Any, field: str, *, zone_required: bool = False) -> datetime:
    if not isinstance(raw, str) or not raw or len(raw) > 64:
        raise BadInputError(f"{field} is missing or not a time string")
    text = raw.strip()
    # AWS writes both "2015-06-03T17:43:27.123+0000" and "...Z"; fromisoformat wants "+00:00".
    text = re.sub(r"Z$", "+00:00", text)
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadInputError(f"{field} {safe_text(raw, 64)!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None and zone_required:
        raise BadInputError(f"{field} {safe_text(raw, 64)!r} has no time zone (expected ...Z)")
    # Near datetime's ends a time cannot be moved to UTC, or by the minutes it is later compared within.
    if not PLAUSIBLE_YEARS[0] <= parsed.year <= PLAUSIBLE_YEARS[1]:
        raise BadInputError(f"{field} {safe_text(raw, 64)!r} is not a time any trigger carries")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise BadInputError(f"{where} has no {key!r}")
    return mapping[key]


def _text(value: Any, field: str, limit: int = TEXT_LIMIT) -> str:
    if not isinstance(value, str) or not value:
        raise BadInputError(f"{field} is not a non-empty string (got {type(value).__name__})")
    return safe_text(value, limit)


def _optional_text(value: Any, field: str, limit: int = TEXT_LIMIT) -> str | None:
    return None if value is None else _text(value, field, limit)


def _state(raw: Any, field: str) -> str:
    if not isinstance(raw, str) or raw not in ALARM_STATES:
        shown = safe_text(raw, 40) if isinstance(raw, str) else type(raw).__name__
        raise BadInputError(f"{field} {shown!r} is not one of {', '.join(ALARM_STATES)}")
    return raw


def _previous_state(raw: Any, field: str) -> str | None:
    return None if raw is None else _state(raw, field)


def datapoint(value: Any, field: str) -> float | None:
    """A quoted datapoint for the audit trail: a finite number within +-VALUE_LIMIT, else rejected."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInputError(f"{field} is a {type(value).__name__}, not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise BadInputError(f"{field} {safe_text(str(value), 40)!r} is not a number") from None
    if not math.isfinite(number) or abs(number) > VALUE_LIMIT:
        raise BadInputError(f"{field} {safe_text(str(value), 40)!r} is not a finite number within 1e12")
    return number


def _dimensions(raw: Any, where: str, *, key_name: str, key_value: str) -> tuple[tuple[str, str], ...]:
    """Dimensions as a list of {name, value} (SNS) or as a {name: value} object (EventBridge)."""
    pairs: list[tuple[Any, Any]]
    if raw is None:
        return ()
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for item in raw:
            if not isinstance(item, dict):
                raise BadInputError(f"{where} has a dimension that is not an object")
            lowered = {str(k).lower(): v for k, v in item.items()}
            pairs.append((lowered.get(key_name), lowered.get(key_value)))
    else:
        raise BadInputError(f"{where} are a {type(raw).__name__}, not a list or object")
    if len(pairs) > 30:  # CloudWatch allows 30 dimensions per metric
        raise BadInputError(f"{where} has {len(pairs)} dimensions (CloudWatch allows 30)")
    return tuple(sorted((_text(k, f"{where} name"), _text(v, f"{where} value", 1024)) for k, v in pairs))


def _metric_ref(namespace: Any, name: Any, dimensions: Any, where: str, **names: str) -> MetricRef:
    return MetricRef(
        _text(namespace, f"{where} namespace"),
        _text(name, f"{where} name"),
        _dimensions(dimensions, f"{where} dimensions", **names),
    )


def _metrics_list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list):
        raise BadInputError(f"{where} is a {type(raw).__name__}, not a list")
    if not 1 <= len(raw) <= MAX_ALARM_METRICS:
        raise BadInputError(f"{where} has {len(raw)} entries (an alarm has 1 to {MAX_ALARM_METRICS})")
    return raw


def _sns_metrics(trigger: Any) -> tuple[MetricRef, ...] | None:
    """The classic notification's `Trigger`: one metric, or `Metrics` for a metric-math alarm."""
    if trigger is None:
        return None
    if not isinstance(trigger, dict):
        raise BadInputError(f"Trigger is a {type(trigger).__name__}, not an object")
    if "Threshold" in trigger and trigger["Threshold"] is None:
        raise BadInputError("Trigger.Threshold is null, not a number")
    datapoint(trigger.get("Threshold"), "Trigger.Threshold")
    for field in ("Period", "EvaluationPeriods"):
        value = trigger.get(field)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 86_400
        ):
            raise BadInputError(
                f"Trigger.{field} {safe_text(str(value), 40)!r} is not a positive whole number"
            )
    if "Metrics" not in trigger:
        dimensions = trigger.get("Dimensions")
        namespace, name = trigger.get("Namespace"), trigger.get("MetricName")
        return (_metric_ref(namespace, name, dimensions, "Trigger", key_name="name", key_value="value"),)
    return _metric_queries(trigger["Metrics"], "Trigger.Metrics", _SNS_SPELLING)


def _configuration_metrics(configuration: Any) -> tuple[MetricRef, ...] | None:
    """EventBridge / alarm-action `configuration.metrics`; None for a composite (it has none)."""
    if configuration is None:
        return None
    if not isinstance(configuration, dict):
        raise BadInputError(f"configuration is a {type(configuration).__name__}, not an object")
    if "metrics" not in configuration:
        return None
    return _metric_queries(configuration["metrics"], "configuration.metrics", _EVENTBRIDGE_SPELLING)


@dataclass(frozen=True)
class _Spelling:
    """How one delivery shape spells a metric-data query (the classic SNS JSON capitalizes)."""

    stat: str
    metric: str
    namespace: str
    name: str
    dimensions: str
    expression: str


_SNS_SPELLING = _Spelling("MetricStat", "Metric", "Namespace", "MetricName", "Dimensions", "Expression")
_EVENTBRIDGE_SPELLING = _Spelling("metricStat", "metric", "namespace", "name", "dimensions", "expression")


def _metric_queries(raw: Any, where: str, spelling: _Spelling) -> tuple[MetricRef, ...]:
    """The metrics a metric-math alarm's queries read (expressions are checked, and read nothing)."""
    refs = []
    for index, entry in enumerate(_metrics_list(raw, where)):
        at = f"{where}[{index}]"
        if not isinstance(entry, dict):
            raise BadInputError(f"{at} is not an object")
        if spelling.stat not in entry:
            _text(entry.get(spelling.expression), f"{at}.{spelling.expression}", 1024)
            continue
        metric = _require(entry[spelling.stat], spelling.metric, f"{at}.{spelling.stat}")
        if not isinstance(metric, dict):
            raise BadInputError(f"{at}.{spelling.stat}.{spelling.metric} is not an object")
        refs.append(
            _metric_ref(
                metric.get(spelling.namespace),
                metric.get(spelling.name),
                metric.get(spelling.dimensions),
                at,
                key_name="name",
                key_value="value",
            )
        )
    return tuple(refs)


def _value_from_reason_data(raw: Any) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        data = loads(raw, "state.reasonData")
    except BadInputError:
        return None  # the quoted datapoint is for the audit trail only: without it nothing is lost
    points = data.get("recentDatapoints") if isinstance(data, dict) else None
    if isinstance(points, list) and points:
        return datapoint(points[-1], "reasonData.recentDatapoints")
    return None


def _from_sns_record(record: dict[str, Any]) -> AlarmTrigger:
    sns = _require(record, "Sns", "SNS record")
    message_id = _text(_require(sns, "MessageId", "Sns"), "Sns.MessageId")
    message = loads(_require(sns, "Message", "Sns"), f"SNS message {message_id}")
    if not isinstance(message, dict) or "AlarmName" not in message:
        raise BadInputError(f"SNS message {message_id} is not a CloudWatch alarm notification (no AlarmName)")
    reason = message.get("NewStateReason", "")
    reason = safe_text(reason, REASON_LIMIT) if isinstance(reason, str) else ""
    # A composite alarm's reason is its child's ARN and transition: it quotes no datapoint of its own.
    match = None if reason.startswith("arn:") else _REASON_DATAPOINT.search(reason)
    return AlarmTrigger(
        trigger_id=message_id,
        source="sns",
        alarm_name=_text(message["AlarmName"], "AlarmName"),
        state=_state(message.get("NewStateValue"), "NewStateValue"),
        previous_state=_previous_state(message.get("OldStateValue"), "OldStateValue"),
        timestamp=parse_time(message.get("StateChangeTime"), "StateChangeTime"),
        reason=reason,
        value=datapoint(match.group(1), "NewStateReason datapoint") if match else None,
        metrics=_sns_metrics(message.get("Trigger")),
        alarm_arn=_optional_text(message.get("AlarmArn"), "AlarmArn", ARN_LIMIT),
        account=_optional_text(message.get("AWSAccountId"), "AWSAccountId"),
        topic_arn=_optional_text(sns.get("TopicArn"), "Sns.TopicArn"),
    )


def _from_alarm_detail(
    detail: Any,
    trigger_id: str,
    source: str,
    *,
    alarm_arn: str | None,
    account: Any,
    region: Any,
    fallback_time: Any,
) -> AlarmTrigger:
    name = _require(detail, "alarmName", "alarm detail")
    state = _require(detail, "state", "alarm detail")
    if not isinstance(state, dict):
        raise BadInputError(f"alarm state is a {type(state).__name__}, not an object")
    previous = detail.get("previousState")
    if previous is not None and not isinstance(previous, dict):
        raise BadInputError(f"previousState is a {type(previous).__name__}, not an object")
    reason = state.get("reason", "")
    return AlarmTrigger(
        trigger_id=trigger_id,
        source=source,
        alarm_name=_text(name, "alarmName"),
        state=_state(_require(state, "value", "alarm state"), "state.value"),
        previous_state=_previous_state((previous or {}).get("value"), "previousState.value"),
        timestamp=parse_time(state.get("timestamp", fallback_time), "state.timestamp"),
        reason=safe_text(reason, REASON_LIMIT) if isinstance(reason, str) else "",
        value=_value_from_reason_data(state.get("reasonData")),
        metrics=_configuration_metrics(detail.get("configuration")),
        alarm_arn=alarm_arn,
        account=_optional_text(account, "account"),
        region=_optional_text(region, "region"),
    )


def source_id(event: Any) -> str | None:
    """The id the delivery carries (SNS MessageId, EventBridge id, alarm ARN@time, Scheduler
    execution id), read without trusting anything else, so even a rejected event can be traced."""
    if not isinstance(event, dict):
        return None
    raw: Any = None
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        sns = records[0].get("Sns")
        raw = sns.get("MessageId") if isinstance(sns, dict) else None
    elif "execution_id" in event:
        raw = event.get("execution_id")
    elif "alarmData" in event:
        data = event.get("alarmData")
        state = data.get("state") if isinstance(data, dict) else None
        stamp = state.get("timestamp") if isinstance(state, dict) else None
        arn = event.get("alarmArn")
        if isinstance(arn, str) and isinstance(stamp, str):
            raw = f"{arn}@{stamp}"
    else:  # an EventBridge envelope, whatever its detail-type
        raw = event.get("id")
    if not isinstance(raw, str) or not raw:
        return None
    text = safe_text(raw, ID_LIMIT)
    # It keys the trigger's claim (a partition key: at most 2,048 bytes); real ids are far under.
    while len(text.encode("utf-8")) > ID_BYTES:
        text = text[: len(text) * ID_BYTES // len(text.encode("utf-8"))]
    return text


def parse_alarm_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, alarm name) of a CloudWatch alarm ARN, or None when it is not one."""
    match = _ALARM_ARN.fullmatch(arn)
    return (match[2], match[3], match[4]) if match else None


def parse_alarm_event(event: Any) -> AlarmTrigger:
    """The one alarm trigger in a Lambda event, whichever of the three shapes it came in."""
    if not isinstance(event, dict):
        raise BadInputError(f"event is a {type(event).__name__}, not a JSON object")
    if "Records" in event:
        records = event["Records"]
        # SNS invokes Lambda with exactly one record per call.
        if not isinstance(records, list) or len(records) != 1:
            count = len(records) if isinstance(records, list) else type(records).__name__
            raise BadInputError(f"SNS event must carry exactly one record, got {count}")
        record = records[0]
        if not isinstance(record, dict) or record.get("EventSource") != "aws:sns":
            raise BadInputError("event record is not from SNS (EventSource != aws:sns)")
        return _from_sns_record(record)
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        if event.get("source") != "aws.cloudwatch":
            raise BadInputError(
                f"alarm state change from source {safe_text(str(event.get('source')), 64)!r}, "
                "not aws.cloudwatch"
            )
        event_id = _text(_require(event, "id", "EventBridge event"), "id")
        detail = event.get("detail")
        name = detail.get("alarmName") if isinstance(detail, dict) else None
        if not isinstance(name, str) or not name:
            raise BadInputError("EventBridge alarm event's detail has no alarmName (a non-empty string)")
        resources = event.get("resources")
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            raise BadInputError("EventBridge event has no list of resources (the alarm's ARN)")
        named = [
            r for r in resources if isinstance(name, str) and (parse_alarm_arn(r) or ("", "", ""))[2] == name
        ]
        if len(resources) != 1 or not named:
            raise BadInputError(
                f"EventBridge resources {[safe_text(r, 128) for r in resources[:3]]} do not name alarm "
                f"{safe_text(str(name), 128)!r} (exactly one alarm ARN expected)"
            )
        for field in ("account", "region"):
            if not isinstance(event.get(field), str) or not event.get(field):
                raise BadInputError(f"EventBridge alarm event has no {field} (EventBridge always sends one)")
        return _from_alarm_detail(
            detail,
            event_id,
            "eventbridge",
            alarm_arn=named[0],
            account=event.get("account"),
            region=event.get("region"),
            fallback_time=event.get("time"),
        )
    if event.get("source") == "aws.cloudwatch" and "alarmData" in event:
        trigger_id = source_id(event)
        if trigger_id is None:
            raise BadInputError("alarm action has no alarmArn and alarmData.state.timestamp (strings)")
        arn = event.get("alarmArn")
        return _from_alarm_detail(
            event["alarmData"],
            trigger_id,
            "alarm-action",
            alarm_arn=arn if isinstance(arn, str) else None,
            account=event.get("accountId"),
            region=event.get("region"),
            fallback_time=event.get("time"),
        )
    kind = event.get("detail-type") or event.get("source") or "unknown"
    raise BadInputError(f"not an alarm event: unrecognised shape ({safe_text(str(kind), 64)!r})")
