"""Real-shaped events for Surgeguard's own alarms: a sample from tests/events with only the alarm's
name, ARN, account, region, state, time, ids and the metrics it evaluates changed (the metrics the
test config's signal really reads, unless `metric` names another)."""

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
REGION = "us-east-1"
SIGNALS_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:surgeguard-signals"


def load_sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def aws_time(at: datetime) -> str:
    """The alarm's own spelling: 2015-06-03T17:43:27.123+0000."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def alarm_arn(alarm: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm}"


def _metrics_of(alarm: str) -> list[tuple[str, str, dict[str, str]]] | None:
    """(namespace, name, dimensions) of what `alarm` evaluates in the test config; None: a composite."""
    from surgeguard.config import parse_config
    from surgeguard.signals import signal_metric

    from .support import CONFIG, PREFIX

    config = parse_config(CONFIG)
    spec = {s.name: s for s in config.alarms(PREFIX)}.get(alarm)
    if spec is None:
        return [("AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": "not-ours"})]
    group = config.group(spec.group)
    assert group is not None
    signal = group.signal(spec.rule)
    if signal is None:
        return None
    return [(s.namespace, s.metric_name, dict(s.dimensions)) for s in signal_metric(group, signal).stats]


def _readdress_sns_trigger(trigger: dict[str, Any], metrics: list[tuple[str, str, dict[str, str]]]) -> None:
    namespace, name, dimensions = metrics[0]
    trigger.update(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"value": v, "name": k} for k, v in dimensions.items()],
    )


def _configuration(metrics: list[tuple[str, str, dict[str, str]]] | None) -> dict[str, Any] | None:
    if metrics is None:
        return None
    entries: list[dict[str, Any]] = [
        {
            "id": f"m{i}",
            "metricStat": {
                "metric": {"namespace": namespace, "name": name, "dimensions": dimensions},
                "period": 60,
                "stat": "Average",
            },
            "returnData": len(metrics) == 1,
        }
        for i, (namespace, name, dimensions) in enumerate(metrics, start=1)
    ]
    if len(metrics) > 1:
        entries.insert(0, {"id": "e1", "expression": "m1 / IF(m2 < 1, 1, m2)", "returnData": True})
    return {"description": "Surgeguard signal alarm", "metrics": entries}


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
    metrics = _metrics_of(alarm)
    if metrics is not None and metric is not None:
        metrics = [(metrics[0][0], metric, metrics[0][2]), *metrics[1:]]
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
        if metrics is not None:
            _readdress_sns_trigger(message["Trigger"], metrics)
        else:
            message.pop("Trigger", None)
        sns.update(
            MessageId=event_id,
            TopicArn=SIGNALS_TOPIC,
            Message=json.dumps(message),
            Timestamp=when.replace("+0000", "Z"),
        )
        event["Records"][0]["EventSubscriptionArn"] = f"{SIGNALS_TOPIC}:{event_id[:8]}"
        return event
    if "detail" in event:
        event.update(
            id=event_id,
            time=at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            account=ACCOUNT,
            region=REGION,
            resources=[alarm_arn(alarm)],
        )
        detail = event["detail"]
    else:  # the alarm invokes the Lambda directly; its id is the alarm ARN and state time
        event.update(alarmArn=alarm_arn(alarm), time=when, accountId=ACCOUNT, region=REGION)
        detail = event["alarmData"]
    detail["alarmName"] = alarm
    detail["state"].update(value=state, timestamp=when)
    configuration = _configuration(metrics)
    if configuration is not None:
        detail["configuration"] = configuration
    elif isinstance(detail.get("configuration"), dict):
        detail["configuration"].pop("metrics", None)
    return event


def trigger_id(event: dict[str, Any]) -> str:
    """The id Surgeguard dedupes on, as the parser derives it."""
    if "Records" in event:
        return str(event["Records"][0]["Sns"]["MessageId"])
    if "detail" in event:
        return str(event["id"])
    return f"{event['alarmArn']}@{event['alarmData']['state']['timestamp']}"
