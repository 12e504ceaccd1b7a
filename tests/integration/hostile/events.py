"""Fully valid deliveries for the hostile suites to mutate: the real samples in tests/events,
re-addressed to the test config's alarms and made consistent with the contract (our account and
region, the alarm's ARN naming the alarm, the metric/namespace/dimensions the group's signal reads,
a time from the Lambda's own clock). Plus the sale and forecast payloads and the config that declares
them. Everything an event could legitimately carry is here, so a mutation is the only thing wrong.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3

from surgeguard.config import Direction, parse_config
from surgeguard.signals import alarm_threshold, signal_metric

from ..alarm_events import (
    ACTION,
    ACTION_COMPOSITE,
    EVENTBRIDGE,
    EVENTBRIDGE_COMPOSITE,
    SNS,
    alarm_arn,
    alarm_event,
    aws_time,
    load_sample,
)
from ..support import CONFIG, T0, alarm_for, put_request_counts

ACCOUNT = "123456789012"
REGION = "us-east-1"
OTHER_ACCOUNT = "210987654321"
OTHER_REGION = "eu-west-1"
SIGNALS_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:surgeguard-signals"

SINGLE_METRIC_SHAPES = (SNS, EVENTBRIDGE, ACTION)
COMPOSITE_SHAPES = (EVENTBRIDGE_COMPOSITE, ACTION_COMPOSITE)

# --- the declared sale and forecast (web), as test_sale_events.py / test_forecast.py declare them --
SALE = {
    "name": "doorbuster",
    "start": "2026-11-20T07:00:00",
    "end": "2026-11-20T09:00:00",
    "timezone": "America/New_York",
    "peak_multiplier": 4,
    "temporary_max": 30,
    "hold_after_minutes": 30,
}
# A short sale the next day: its pre-warm fired late enough lands after the sale is over.
FLASH = {
    "name": "flash",
    "start": "2026-11-21T07:00:00",
    "end": "2026-11-21T07:20:00",
    "timezone": "America/New_York",
    "peak_multiplier": 2,
    "temporary_max": 25,
    "hold_after_minutes": 0,
}
# Lead = launch 130 + warm-up 50 + scheduler lateness 120 + margin 300 s = 10 minutes.
LEAD = timedelta(minutes=10)
PREWARM = T0 - LEAD
RELEASE = T0 + timedelta(hours=2, minutes=30)
RESTORE = RELEASE + timedelta(hours=1)
FLASH_START = T0 + timedelta(days=1)
FLASH_PREWARM = FLASH_START - LEAD
FLASH_END = FLASH_START + timedelta(minutes=20)
FORECAST_HISTORY_DAYS = 3


def hostile_config() -> dict[str, Any]:
    """The test config, with web declaring the two sales and a forecast (floor mode)."""
    config = copy.deepcopy(CONFIG)
    config["groups"][0] = {
        **config["groups"][0],
        "launch_seconds": 130,
        "events": [SALE, FLASH],
        "forecast": {
            "mode": "floor",
            "history_days": FORECAST_HISTORY_DAYS,
            "horizon_hours": 1,
            "percentile": 0.9,
        },
    }
    return config


def put_normal_demand() -> None:
    """A week before each sale's doors: 6000 requests/min (4 x 6000 / 1000 = a target of 24)."""
    put_request_counts(
        (doors - timedelta(days=7, minutes=minute), 6000.0)
        for doors in (T0, FLASH_START)
        for minute in range(-7, 8)
    )


def iso_z(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def phase_payload(
    phase: str = "prewarm",
    when: datetime = PREWARM,
    execution_id: str | None = None,
    *,
    event: str = "doorbuster",
    group: str = "web",
    schedule_arn: str | None = None,
) -> dict[str, Any]:
    """What the stack's one-time schedule sends the schedule Lambda (its Input, with the context
    attributes Scheduler fills in)."""
    payload = {
        "group": group,
        "event": event,
        "phase": phase,
        "scheduled_time": iso_z(when),
        "execution_id": execution_id or str(uuid.uuid4()),
    }
    payload["schedule_arn"] = schedule_arn or (
        f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/Surgeguard-Sales-Group-TEST/{event}-{phase}"
    )
    return payload


def forecast_payload(
    when: datetime = T0, execution_id: str | None = None, *, group: str = "web"
) -> dict[str, Any]:
    return {"group": group, "scheduled_time": iso_z(when), "execution_id": execution_id or str(uuid.uuid4())}


# --- alarms ----------------------------------------------------------------------------------------
def signal_ref(group: str, rule: str) -> tuple[str, str, dict[str, str], str]:
    """(namespace, metric name, dimensions, statistic) the group's signal `rule` reads."""
    config = parse_config(CONFIG)
    group_config = config.group(group)
    assert group_config is not None, group
    signal = group_config.signal(rule)
    assert signal is not None, (group, rule)
    (stat,) = signal_metric(group_config, signal).stats
    return stat.namespace, stat.metric_name, dict(stat.dimensions), stat.statistic


def threshold_of(group: str, rule: str, direction: str = "out") -> float:
    config = parse_config(CONFIG)
    group_config = config.group(group)
    assert group_config is not None
    signal = group_config.signal(rule)
    assert signal is not None
    return alarm_threshold(signal, Direction(direction))


def _reason(value: float, threshold: float, at: datetime, direction: str) -> str:
    relation = "greater than" if direction == "out" else "less than"
    return (
        f"Threshold Crossed: 1 out of the last 1 datapoints [{value!r} ({at:%d/%m/%y %H:%M:%S})] was "
        f"{relation} the threshold ({threshold!r}) (minimum 1 datapoint for OK -> ALARM transition)."
    )


def _reason_data(value: float, threshold: float, at: datetime, statistic: str) -> str:
    start = (at - timedelta(minutes=1)).replace(second=0, microsecond=0)
    return json.dumps(
        {
            "version": "1.0",
            "queryDate": aws_time(at),
            "startDate": aws_time(start),
            "statistic": statistic,
            "period": 60,
            "recentDatapoints": [value],
            "threshold": threshold,
            "evaluatedDatapoints": [{"timestamp": aws_time(start), "sampleCount": 1.0, "value": value}],
        }
    )


def _metric_config(namespace: str, name: str, dimensions: dict[str, str], statistic: str) -> list[Any]:
    return [
        {
            "id": "m1",
            "metricStat": {
                "metric": {"namespace": namespace, "name": name, "dimensions": dict(dimensions)},
                "period": 60,
                "stat": statistic,
            },
            "returnData": True,
        }
    ]


def valid_alarm(
    sample: str,
    at: datetime,
    *,
    group: str = "web",
    rule: str = "cpu",
    direction: str = "out",
    state: str = "ALARM",
    event_id: str | None = None,
    value: float = 80.0,
) -> dict[str, Any]:
    """The sample re-addressed to sg/<group>/<rule>/<direction>, consistent in every field the contract
    checks. `value` is only the message's own (never acted on) datapoint."""
    if sample in COMPOSITE_SHAPES:
        return valid_composite(sample, at, group=group, rule=rule, event_id=event_id)
    name = alarm_for(group, rule, direction)
    namespace, metric, dimensions, statistic = signal_ref(group, rule)
    threshold = threshold_of(group, rule, direction)
    event = alarm_event(sample, name, at, state=state, event_id=event_id, metric=metric)
    previous = "OK" if state == "ALARM" else "ALARM"
    if "Records" in event:
        sns = event["Records"][0]["Sns"]
        message = json.loads(sns["Message"])
        message.update(
            AlarmName=name,
            AlarmArn=alarm_arn(name),
            AWSAccountId=ACCOUNT,
            Region="US East (N. Virginia)",
            NewStateValue=state,
            OldStateValue=previous,
            NewStateReason=_reason(value, threshold, at, direction),
            StateChangeTime=aws_time(at),
        )
        message["Trigger"].update(
            MetricName=metric,
            Namespace=namespace,
            Statistic=statistic.upper(),
            Unit="Percent" if metric == "CPUUtilization" else "Count",
            Dimensions=[{"value": v, "name": k} for k, v in dimensions.items()],
            Period=60,
            EvaluationPeriods=1,
            ComparisonOperator="GreaterThanThreshold" if direction == "out" else "LessThanThreshold",
            Threshold=threshold,
        )
        sns["Message"] = json.dumps(message)
        # A real delivery names the topic it came through (the sample's are "EXAMPLE").
        sns["TopicArn"] = SIGNALS_TOPIC_ARN
        event["Records"][0]["EventSubscriptionArn"] = (
            f"{SIGNALS_TOPIC_ARN}:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"
        )
        return event
    detail = event["detail"] if "detail" in event else event["alarmData"]
    detail["alarmName"] = name
    detail["state"].update(
        value=state,
        reason=_reason(value, threshold, at, direction),
        reasonData=_reason_data(value, threshold, at, statistic),
        timestamp=aws_time(at),
    )
    earlier = at - timedelta(minutes=5)
    detail["previousState"] = {
        "value": previous,
        "reason": _reason(value / 2, threshold, earlier, direction),
        "reasonData": _reason_data(value / 2, threshold, earlier, statistic),
        "timestamp": aws_time(earlier),
    }
    detail["configuration"] = {
        "description": f"Surgeguard {name}",
        "metrics": _metric_config(namespace, metric, dimensions, statistic),
    }
    if "detail" in event:
        event.update(account=ACCOUNT, region=REGION, source="aws.cloudwatch", resources=[alarm_arn(name)])
    else:
        event.update(accountId=ACCOUNT, region=REGION, source="aws.cloudwatch", alarmArn=alarm_arn(name))
    return event


def valid_composite(
    sample: str, at: datetime, *, group: str = "api", rule: str = "busy", event_id: str | None = None
) -> dict[str, Any]:
    """A composite alarm's event (EventBridge or direct action) for sg/<group>/<rule>/out, its rule and
    triggering alarms naming the composite's own children."""
    config = parse_config(CONFIG)
    spec = next(s for s in config.alarms("sg") if s.name == alarm_for(group, rule))
    children = spec.composite_of
    name = spec.name
    event = alarm_event(sample, name, at, event_id=event_id)
    detail = event["detail"] if "detail" in event else event["alarmData"]
    triggering = {
        "triggeringAlarms": [
            {"arn": alarm_arn(child), "state": {"value": "ALARM", "timestamp": aws_time(at)}}
            for child in children
        ]
    }
    detail["state"].update(
        value="ALARM",
        reason=f"{alarm_arn(children[-1])} transitioned to ALARM at {at:%A %d %B, %Y %H:%M:%S} UTC",
        reasonData=json.dumps(triggering),
        timestamp=aws_time(at),
    )
    for key in ("actionsSuppressedBy", "actionsSuppressedReason"):
        detail["state"].pop(key, None)
    detail["previousState"] = {
        "value": "OK",
        "reason": f"{alarm_arn(name)} was created and its alarm rule evaluates to OK",
        "timestamp": aws_time(at - timedelta(minutes=5)),
    }
    detail["configuration"] = {
        "alarmRule": " AND ".join(f'ALARM("{child}")' for child in children),
    }
    if "detail" in event:
        event.update(account=ACCOUNT, region=REGION, source="aws.cloudwatch", resources=[alarm_arn(name)])
    else:
        event.update(accountId=ACCOUNT, region=REGION, source="aws.cloudwatch", alarmArn=alarm_arn(name))
    return event


def sns_message(event: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(event["Records"][0]["Sns"]["Message"]))


def with_sns_message(event: dict[str, Any], message: Any, *, raw: str | None = None) -> dict[str, Any]:
    """The SNS event carrying `message` (JSON-encoded), or exactly the text `raw`."""
    event = copy.deepcopy(event)
    event["Records"][0]["Sns"]["Message"] = raw if raw is not None else json.dumps(message)
    return event


def detail_of(event: dict[str, Any]) -> dict[str, Any]:
    """The alarm detail of an EventBridge event or a direct alarm action (mutable, in place)."""
    found = event["detail"] if "detail" in event else event["alarmData"]
    assert isinstance(found, dict)
    return found


def other_shapes() -> dict[str, dict[str, Any]]:
    """Real payloads that are not alarm events at all (SOURCES.md)."""
    default_scheduler = {
        "version": "0",
        "id": "0f6cbd44-9b7e-4a11-bb7e-8a2f0b0a6c8e",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": ACCOUNT,
        "time": iso_z(T0),
        "region": REGION,
        "resources": [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/surgeguard-web"],
        "detail": "{}",
    }
    return {
        "generic-sns": load_sample("sns-event-generic.powertools.json"),
        "scheduled-rule": load_sample("eventbridge-scheduled-event-rule.awsdocs.json"),
        "asg-launch": load_sample("eventbridge-asg-launch-successful.aws-lambda-go.json"),
        "scheduler-default": default_scheduler,
    }


def deep_json(depth: int, *, kind: str = "list") -> str:
    """JSON text nested `depth` levels deep: [[[...]]] or {"a":{"a":...}}."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def deep_value(depth: int) -> Any:
    """A Python structure nested `depth` levels deep (the Lambda runtime already decoded it)."""
    value: Any = {"Name": "AutoScalingGroupName", "Value": "web"}
    for _ in range(depth):
        value = [value]
    return value


def fresh_alarm(group: str, now: datetime, put_cpu: Callable[..., None]) -> dict[str, Any]:
    """A valid alarm for `group` at `now`, its load in CloudWatch just before: CPU 90 (and, for a group
    whose CPU only acts through a composite, requests at 1.5x target and the composite's own event)."""
    config = parse_config(CONFIG)
    group_config = config.group(group)
    assert group_config is not None, group
    put_cpu(90.0, now - timedelta(seconds=30), group=group)
    if not group_config.composites:
        return valid_alarm(SNS, now, group=group, rule="cpu", event_id=f"fresh-{uuid.uuid4()}")
    for signal in group_config.signals:
        if signal.kind == "requests_per_target":
            namespace, metric, dimensions, _ = signal_ref(group, signal.id)
            boto3.client("cloudwatch").put_metric_data(
                Namespace=namespace,
                MetricData=[
                    {
                        "MetricName": metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                        "Timestamp": now - timedelta(seconds=30),
                        "Value": signal.target * 1.5,
                        "Unit": "Count",
                    }
                ],
            )
    composite = group_config.composites[0].id
    return valid_composite(
        EVENTBRIDGE_COMPOSITE, now, group=group, rule=composite, event_id=f"fresh-{uuid.uuid4()}"
    )
