"""The forecaster: one recurring `rate(N minutes)` schedule per group with a `forecast` section, invoking
one read-only Lambda (metrics in, floors to the table) with the handler's exact Input JSON."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match, Template
from synth_support import ACCOUNT, Synth

from infra.constructs import forecaster, reactive_function, sale_schedules
from infra.constructs.scheduler_plumbing import MAX_EVENT_AGE, RETRY_ATTEMPTS
from surgeguard.config import BUNDLED_CONFIG_FILE


def _forecast_schedules(synth: Synth) -> dict[str, dict[str, Any]]:
    function_id, _ = synth.function(forecaster.HANDLER)
    found = {}
    for schedule in synth.of_type("AWS::Scheduler::Schedule").values():
        props = schedule["Properties"]
        if props["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}:
            found[json.loads(props["Target"]["Input"])["group"]] = props
    return found


def _statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_one_rate_schedule_per_forecasting_group_in_minutes_as_configured(forecast_synth: Synth) -> None:
    schedules = _forecast_schedules(forecast_synth)
    assert {group: props["ScheduleExpression"] for group, props in schedules.items()} == {
        "web": "rate(60 minutes)",  # not `rate(1 hour)`: the config's number, as written
        "api": "rate(15 minutes)",
    }
    for props in schedules.values():
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props.get("ScheduleExpressionTimezone", "UTC") in ("UTC", "Etc/UTC")  # a rate has no zone


def test_schedules_send_the_handlers_exact_input(forecast_synth: Synth) -> None:
    for group, props in _forecast_schedules(forecast_synth).items():
        assert json.loads(props["Target"]["Input"]) == {
            "group": group,
            "scheduled_time": "<aws.scheduler.scheduled-time>",
            "execution_id": "<aws.scheduler.execution-id>",
        }


def test_schedules_retry_then_dead_letter_like_the_sale_schedules(forecast_synth: Synth) -> None:
    schedules = list(_forecast_schedules(forecast_synth).values())
    for props in schedules:
        assert props["Target"]["RetryPolicy"] == {
            "MaximumRetryAttempts": RETRY_ATTEMPTS,
            "MaximumEventAgeInSeconds": MAX_EVENT_AGE.to_seconds(),
        }
    (queue,) = {json.dumps(p["Target"]["DeadLetterConfig"]["Arn"]) for p in schedules}
    queue_id = json.loads(queue)["Fn::GetAtt"][0]
    assert forecast_synth.resources[queue_id]["Properties"]["SqsManagedSseEnabled"] is True
    # its own schedule group and scheduler role, trusted only by that group
    (group_name,) = {p["GroupName"] for p in schedules}
    (role,) = {json.dumps(p["Target"]["RoleArn"]) for p in schedules}
    role_id = json.loads(role)["Fn::GetAtt"][0]
    (group_id,) = [
        k
        for k, v in forecast_synth.of_type("AWS::Scheduler::ScheduleGroup").items()
        if v["Properties"]["Name"] == group_name
    ]
    (trust,) = forecast_synth.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": [group_id, "Arn"]}},
    }
    assert sorted(a for s in _statements(forecast_synth, role_id) for a in _actions(s)) == [
        "lambda:InvokeFunction",
        "sqs:SendMessage",
    ]


def test_the_lambda_has_the_shared_defaults_and_environment(forecast_synth: Synth) -> None:
    _, function = forecast_synth.function(forecaster.HANDLER)
    _, reactive = forecast_synth.function(reactive_function.HANDLER)
    props, shared = function["Properties"], reactive["Properties"]
    for key in ("Runtime", "Architectures", "MemorySize", "Timeout", "Layers", "Code"):
        assert props[key] == shared[key], key
    # the same logging settings, into its own log group
    logging = {k: v for k, v in props["LoggingConfig"].items() if k != "LogGroup"}
    assert logging == {k: v for k, v in shared["LoggingConfig"].items() if k != "LogGroup"}
    env = props["Environment"]["Variables"]
    assert {"TABLE_NAME", "ALARM_PREFIX", "CONFIG_FILE", "NOTIFY_TOPIC_ARN"} <= set(env)
    assert env["CONFIG_FILE"] == BUNDLED_CONFIG_FILE
    assert env["TABLE_NAME"] == shared["Environment"]["Variables"]["TABLE_NAME"]


def test_the_lambda_may_read_metrics_and_the_table_but_never_touch_auto_scaling(
    forecast_synth: Synth,
) -> None:
    _, function = forecast_synth.function(forecaster.HANDLER)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _statements(forecast_synth, role_id)
    actions = {a for s in statements for a in _actions(s)}
    assert not [a for a in actions if a.lower().startswith("autoscaling:")]
    (metrics,) = [s for s in statements if "cloudwatch:GetMetricData" in _actions(s)]
    assert _actions(metrics) == ["cloudwatch:GetMetricData"] and metrics["Resource"] == "*"
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "sns:Publish"} <= actions
    # it reads its forecast item, the kill switch and its claims by key: no code path of it queries
    # (until 2026-12-06 it had the other Lambdas' Query, which reads sale events)
    assert "dynamodb:Query" not in actions


def test_three_functions_when_forecasting_and_sales_and_none_without_a_forecast(
    forecast_synth: Synth, synth: Synth
) -> None:
    handlers = sorted(
        f["Properties"]["Handler"] for f in forecast_synth.of_type("AWS::Lambda::Function").values()
    )
    assert handlers == sorted([reactive_function.HANDLER, sale_schedules.HANDLER, forecaster.HANDLER])
    # the example config has no forecast section: no forecast Lambda, no idle schedule
    assert forecaster.HANDLER not in {
        f["Properties"]["Handler"] for f in synth.of_type("AWS::Lambda::Function").values()
    }
    assert "ForecastFunctionName" in forecast_synth.template["Outputs"]
    assert "ForecastFunctionName" not in synth.template["Outputs"]


def test_the_lambda_async_config_is_explicit_two_retries_within_fifteen_minutes(
    forecast_synth: Synth,
) -> None:
    # A failing run gets Lambda's two async retries, then the on-failure queue; the next run supersedes it.
    function_id, _ = forecast_synth.function(forecaster.HANDLER)
    Template.from_json(forecast_synth.template).has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": function_id},
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 900,
            "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
        },
    )
    assert (forecaster.RETRY_ATTEMPTS, forecaster.MAX_EVENT_AGE.to_seconds()) == (2, 900)
