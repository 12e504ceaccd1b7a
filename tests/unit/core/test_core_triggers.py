"""Trigger parsing against every real sample in tests/events, and against what a broken event looks like."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from surgeguard.domain.triggers import BadInputError, parse_alarm_event

from .core_builders import EVENTS_DIR, load_sample

SNS_ALARM = "sns-cw-alarm-message-single-metric.aws-lambda-go.json"
EB_SINGLE = "eventbridge-cw-alarm-state-change-single-metric.awsdocs.json"
ACTION_SINGLE = "cw-alarm-lambda-action-single-metric.powertools.json"

# What each real alarm sample must parse to: (id, source, name, state, previous, timestamp, value, metric)
ALARM_SAMPLES: dict[str, tuple[Any, ...]] = {
    SNS_ALARM: (
        "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "sns",
        "EXAMPLE",
        "ALARM",
        "INSUFFICIENT_DATA",
        datetime(2015, 6, 3, 17, 43, 27, 123000, tzinfo=UTC),
        1234.0,
        "NetworkOut",
    ),
    EB_SINGLE: (
        "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "eventbridge",
        "ServerCpuTooHigh",
        "ALARM",
        "OK",
        datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC),
        99.50160229693434,
        "CPUUtilization",
    ),
    "eventbridge-cw-alarm-state-change-metric-math.awsdocs.json": (
        "2dde0eb1-528b-d2d5-9ca6-6d590caf2329",
        "eventbridge",
        "TotalNetworkTrafficTooHigh",
        "ALARM",
        "INSUFFICIENT_DATA",
        datetime(2019, 10, 2, 17, 20, 48, 554000, tzinfo=UTC),
        45628.0,
        None,  # three metrics: no single metric to check
    ),
    "eventbridge-cw-alarm-state-change-anomaly-detection.awsdocs.json": (
        "daafc9f1-bddd-c6c9-83af-74971fcfc4ef",
        "eventbridge",
        "EC2 CPU Utilization Anomaly",
        "ALARM",
        "OK",
        datetime(2019, 10, 3, 16, 0, 4, 653000, tzinfo=UTC),
        0.0,
        "CPUUtilization",  # one metric plus the ANOMALY_DETECTION_BAND expression
    ),
    "eventbridge-cw-alarm-state-change-composite-suppressor.awsdocs.json": (
        "d3dfc86d-384d-24c8-0345-9f7986db0b80",
        "eventbridge",
        "ServiceAggregatedAlarm",
        "ALARM",
        "OK",
        datetime(2022, 7, 22, 15, 57, 45, 394000, tzinfo=UTC),
        None,  # composites carry no datapoint
        None,
    ),
    ACTION_SINGLE: (
        "arn:aws:cloudwatch:eu-west-1:912397435824:alarm:test_alarm@2024-02-17T11:53:08.431+0000",
        "alarm-action",
        "Test alert",
        "ALARM",
        "OK",
        datetime(2024, 2, 17, 11, 53, 8, 431000, tzinfo=UTC),
        1.0,
        None,  # metric math: e1 = m1/m2
    ),
    "cw-alarm-lambda-action-composite.powertools.json": (
        "arn:aws:cloudwatch:us-east-1:111122223333:alarm:SuppressionDemo.Main@2023-08-04T12:56:46.138+0000",
        "alarm-action",
        "CompositeDemo.Main",
        "ALARM",
        "ALARM",
        datetime(2023, 8, 4, 12, 56, 46, 138000, tzinfo=UTC),
        None,
        None,
    ),
}

NOT_ALARMS = {
    "sns-event-generic.powertools.json": ("is not JSON: 'Hello from SNS!'"),
    "eventbridge-scheduled-event-rule.awsdocs.json": (
        "not an alarm event: unrecognised shape ('Scheduled Event')"
    ),
    "eventbridge-asg-launch-successful.aws-lambda-go.json": (
        "not an alarm event: unrecognised shape ('EC2 Instance Launch Successful')"
    ),
}


def test_every_sample_file_is_covered() -> None:
    on_disk = {p.name for p in EVENTS_DIR.glob("*.json")}
    assert on_disk == set(ALARM_SAMPLES) | set(NOT_ALARMS)


@pytest.mark.parametrize("name", sorted(ALARM_SAMPLES))
def test_alarm_samples_parse_to_one_trigger(name: str) -> None:
    # GIVEN a real alarm event, unmodified
    event = load_sample(name)
    # WHEN parsing it
    trigger = parse_alarm_event(event)
    # THEN it gives one trigger with the alarm's id, name, state, time, datapoint and metric
    trigger_id, source, alarm, state, previous, timestamp, value, metric = ALARM_SAMPLES[name]
    assert (
        trigger.trigger_id,
        trigger.source,
        trigger.alarm_name,
        trigger.state,
        trigger.previous_state,
        trigger.timestamp,
        trigger.value,
    ) == (trigger_id, source, alarm, state, previous, timestamp, value)
    names = [m.name for m in trigger.metrics or ()]
    assert (names[0] if len(names) == 1 else None) == metric
    triggers = [trigger]
    assert triggers[0].reason.startswith(("Threshold", "Thresholds", "arn:aws:cloudwatch"))


@pytest.mark.parametrize("name", sorted(NOT_ALARMS))
def test_samples_that_are_not_alarms_are_rejected_with_a_clear_message(name: str) -> None:
    # GIVEN a real event that is not an alarm
    event = load_sample(name)
    # WHEN parsing it
    # THEN it is rejected, and the message says what it was
    with pytest.raises(BadInputError) as raised:
        parse_alarm_event(event)
    assert NOT_ALARMS[name] in str(raised.value)


# --- broken events: a real sample with one thing wrong --------------------------------------------
def _sns_with(**message_changes: Any) -> dict[str, Any]:
    event = load_sample(SNS_ALARM)
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    for key, value in message_changes.items():
        if value is None:
            message.pop(key)
        else:
            message[key] = value
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


def _raises(event: Any, *fragments: str) -> None:
    with pytest.raises(BadInputError) as raised:
        parse_alarm_event(event)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_malformed_json_in_the_sns_message() -> None:
    event = load_sample(SNS_ALARM)
    event["Records"][0]["Sns"]["Message"] = event["Records"][0]["Sns"]["Message"][:-20]
    _raises(event, "95df01b4-ee98-5cb9-9903-4c221d41eb5e", "not JSON")


def test_json_message_without_an_alarm_name() -> None:
    _raises(_sns_with(AlarmName=None), "is not a CloudWatch alarm notification (no AlarmName)")


@pytest.mark.parametrize("field", ["MessageId", "Message"])
def test_sns_record_missing_a_field(field: str) -> None:
    event = load_sample(SNS_ALARM)
    del event["Records"][0]["Sns"][field]
    _raises(event, f"Sns has no {field!r}")


def test_record_from_another_source() -> None:
    event = load_sample(SNS_ALARM)
    event["Records"][0]["EventSource"] = "aws:sqs"
    _raises(event, "not from SNS")


def test_no_records() -> None:
    event = load_sample(SNS_ALARM)
    event["Records"] = []
    _raises(event, "exactly one record, got 0")


@pytest.mark.parametrize("event", [None, [], "ALARM", 42])
def test_an_event_that_is_not_an_object(event: Any) -> None:
    _raises(event, "not a JSON object")


def test_sns_missing_state_change_time() -> None:
    _raises(_sns_with(StateChangeTime=None), "StateChangeTime is missing")


@pytest.mark.parametrize("state", ["FIRING", "alarm", "", None])
def test_sns_bad_state(state: Any) -> None:
    # (None: the field is missing altogether)
    _raises(_sns_with(NewStateValue=state), "NewStateValue", "is not one of OK, ALARM, INSUFFICIENT_DATA")


@pytest.mark.parametrize("raw", ["yesterday", "2015-13-03T17:43:27.123+0000", "17:43"])
def test_sns_bad_timestamp(raw: str) -> None:
    _raises(_sns_with(StateChangeTime=raw), "StateChangeTime", "is not an ISO 8601 time")


def test_sns_infinite_datapoint_in_the_reason() -> None:
    reason = "Threshold Crossed: 1 out of the last 1 datapoints [1e999 (06/03/15 17:43:27)] was greater"
    _raises(_sns_with(NewStateReason=reason), "not a finite number")


def test_a_composite_alarms_reason_quoting_a_child_named_with_brackets_is_no_datapoint() -> None:
    # A composite alarm's reason quotes its child's ARN, whose name holds the group's: a group named
    # "shop[eu (blue)" was read as the datapoint "eu", and its alarms were rejected (nothing scaled)
    for name in ("shop[eu (blue)", "shop datapoints [eu (blue)"):
        reason = (
            f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:sg/{name}/cpu/out transitioned to ALARM "
            "at Friday 04 August, 2023 12:54:46 UTC"
        )
        trigger = parse_alarm_event(_sns_with(NewStateReason=reason))
        assert trigger.value is None, name


def test_a_metric_alarms_datapoint_is_read_from_after_datapoints() -> None:
    reason = (
        "Threshold Crossed: 2 out of the last 2 datapoints [88.5 (06/03/15 17:43:27), 91.0 (06/03/15 "
        "17:42:27)] was greater than the threshold (80.0)"
    )
    trigger = parse_alarm_event(_sns_with(NewStateReason=reason))
    assert trigger.value == 88.5


def test_sns_with_more_than_one_record_is_rejected() -> None:
    # SNS invokes Lambda with exactly one record: more is not a delivery SNS makes
    event = load_sample(SNS_ALARM)
    second = copy.deepcopy(event["Records"][0])
    second["Sns"]["MessageId"] = "second"
    event["Records"].append(second)
    _raises(event, "exactly one record, got 2")


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_eventbridge_non_finite_datapoint(raw: str) -> None:
    # GIVEN an EventBridge alarm whose reasonData carries NaN (JSON parsers accept it)
    event = load_sample(EB_SINGLE)
    data = event["detail"]["state"]["reasonData"].replace("[99.50160229693434]", f"[{raw}]")
    assert raw in data
    event["detail"]["state"]["reasonData"] = data
    # THEN it is rejected: no decision is made on a non-number
    _raises(event, "reasonData.recentDatapoints", "not a finite number")


def test_eventbridge_non_numeric_datapoint() -> None:
    event = load_sample(EB_SINGLE)
    event["detail"]["state"]["reasonData"] = json.dumps({"recentDatapoints": ["high"]})
    _raises(event, "'high' is not a number")


def test_eventbridge_reason_data_that_is_not_json_only_loses_the_value() -> None:
    event = load_sample(EB_SINGLE)
    event["detail"]["state"]["reasonData"] = "{not json"
    assert parse_alarm_event(event).value is None


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("detail", "alarmName"), "detail has no alarmName"),
        (("detail", "state"), "alarm detail has no 'state'"),
        (("detail", "state", "value"), "alarm state has no 'value'"),
        (("id",), "EventBridge event has no 'id'"),
        (("detail",), "detail has no alarmName"),
    ],
)
def test_eventbridge_missing_fields(path: tuple[str, ...], message: str) -> None:
    event = load_sample(EB_SINGLE)
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    _raises(event, message)


def test_eventbridge_bad_state_and_bad_time() -> None:
    event = load_sample(EB_SINGLE)
    event["detail"]["state"]["value"] = "BROKEN"
    _raises(event, "state.value 'BROKEN' is not one of")
    event = load_sample(EB_SINGLE)
    event["detail"]["state"]["timestamp"] = "02/10/19 17:04"
    _raises(event, "state.timestamp '02/10/19 17:04' is not an ISO 8601 time")


def test_eventbridge_state_time_falls_back_to_the_event_time() -> None:
    event = load_sample(EB_SINGLE)
    del event["detail"]["state"]["timestamp"]
    assert parse_alarm_event(event).timestamp == datetime(2019, 10, 2, 17, 4, 40, tzinfo=UTC)


def test_alarm_action_without_alarm_data_fields() -> None:
    event = load_sample(ACTION_SINGLE)
    event["alarmData"] = "not an object"
    _raises(event, "alarm action has no alarmArn and alarmData.state.timestamp")


@pytest.mark.parametrize(
    "raw", ["2015-06-03T17:43:27.123+0000", "2015-06-03T17:43:27.123Z", "2015-06-03T17:43:27.123+00:00"]
)
def test_every_aws_time_spelling_parses_to_the_same_instant(raw: str) -> None:
    trigger = parse_alarm_event(_sns_with(StateChangeTime=raw))
    assert trigger.timestamp == datetime(2015, 6, 3, 17, 43, 27, 123000, tzinfo=UTC)
