"""Alarm notifications in the exact shape AWS delivers them (SNS -> Lambda, classic alarm JSON).

The template mirrors aws/aws-lambda-go's `cloudwatch-alarm-sns-payload-single-metric.json` (a copy is in
tests/events): only the alarm's own fields change, so the handler parses what it would in AWS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def _aws_time(when: datetime) -> str:
    # CloudWatch writes "2015-06-03T17:43:27.123+0000".
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def sns_alarm_event(
    *,
    alarm_name: str,
    new_state: str,
    old_state: str,
    when: datetime,
    message_id: str,
    metric_name: str,
    namespace: str,
    dimensions: dict[str, str],
    threshold: float,
    value: float | None,
    evaluation_periods: int,
    comparison: str,
    region: str = "us-east-1",
    account: str = "123456789012",
    topic_arn: str = "arn:aws:sns:us-east-1:123456789012:surgeguard-signals",
) -> dict[str, Any]:
    stamp = when.astimezone(UTC).strftime("%d/%m/%y %H:%M:%S")
    shown = "" if value is None else f" [{value!r} ({stamp})]"
    message = {
        "AlarmName": alarm_name,
        "AlarmDescription": f"Surgeguard signal alarm {alarm_name}",
        "AWSAccountId": account,
        "NewStateValue": new_state,
        "NewStateReason": f"Threshold Crossed: datapoints{shown} crossed the threshold ({threshold!r}).",
        "StateChangeTime": _aws_time(when),
        "Region": region,
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm_name}",
        "OldStateValue": old_state,
        "Trigger": {
            "MetricName": metric_name,
            "Namespace": namespace,
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": None,
            "Dimensions": [{"value": v, "name": k} for k, v in dimensions.items()],
            "Period": 60,
            "EvaluationPeriods": evaluation_periods,
            "ComparisonOperator": comparison,
            "Threshold": threshold,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{message_id[:8]}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": f'ALARM: "{alarm_name}" in {region}',
                    "Message": json.dumps(message),
                    "Timestamp": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "EXAMPLE",
                    "UnsubscribeUrl": "EXAMPLE",
                    "MessageAttributes": {},
                },
            }
        ]
    }
