"""The per-minute re-evaluation: one `rate(1 minute)` schedule per stack invoking the reactive (alarm)
Lambda with the handler's exact Input JSON, so a breach whose alarm re-arm failed is still acted on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from synth_support import ACCOUNT, Synth

from infra.constructs import reactive_function, reevaluation

REEVALUATE_INPUT = {
    "action": "reevaluate",
    "scheduled_time": "<aws.scheduler.scheduled-time>",
    "execution_id": "<aws.scheduler.execution-id>",
}


@pytest.fixture(params=["synth", "sales_synth", "forecast_synth"])
def any_synth(request: pytest.FixtureRequest) -> Synth:
    synth: Synth = request.getfixturevalue(request.param)
    return synth


def _reevaluations(synth: Synth) -> list[tuple[str, dict[str, Any]]]:
    return [
        (k, v)
        for k, v in synth.of_type("AWS::Scheduler::Schedule").items()
        if json.loads(v["Properties"]["Target"]["Input"]).get("action") == "reevaluate"
    ]


def _statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_one_schedule_per_stack_invokes_the_reactive_lambda_every_minute_with_the_exact_input(
    any_synth: Synth,
) -> None:
    synth = any_synth
    function_id, _ = synth.function(reactive_function.HANDLER)
    ((_, schedule),) = _reevaluations(synth)  # one for the whole stack, not one per group
    Template.from_json(synth.template).has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": Match.object_like(
                {
                    "Arn": {"Fn::GetAtt": [function_id, "Arn"]},
                    "Input": json.dumps(REEVALUATE_INPUT, separators=(",", ":")),
                    # a re-evaluation a minute late is superseded by the next one
                    "RetryPolicy": {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 2},
                }
            ),
        },
    )
    assert json.loads(schedule["Properties"]["Target"]["Input"]) == REEVALUATE_INPUT
    assert "Name" not in schedule["Properties"]
    assert (reevaluation.RETRY_ATTEMPTS, reevaluation.MAX_EVENT_AGE.to_seconds()) == (2, 60)


def test_it_dead_letters_and_lives_in_a_schedule_group_of_its_own(sales_synth: Synth) -> None:
    ((_, schedule),) = _reevaluations(sales_synth)
    props = schedule["Properties"]
    # not in the sale schedules' group, whose schedules the sale Lambda may delete
    sale_groups = {
        s["Properties"]["GroupName"]
        for s in sales_synth.of_type("AWS::Scheduler::Schedule").values()
        if "event" in json.loads(s["Properties"]["Target"]["Input"])
    }
    assert sale_groups and props["GroupName"] not in sale_groups
    ((group_id, _),) = [
        (k, v)
        for k, v in sales_synth.of_type("AWS::Scheduler::ScheduleGroup").items()
        if v["Properties"]["Name"] == props["GroupName"]
    ]
    assert group_id in schedule["DependsOn"]
    queue_id = props["Target"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert sales_synth.resources[queue_id]["Properties"]["SqsManagedSseEnabled"] is True
    # its scheduler role trusts only that group's schedules and may only invoke and dead-letter
    role_id = props["Target"]["RoleArn"]["Fn::GetAtt"][0]
    (trust,) = sales_synth.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": [group_id, "Arn"]}},
    }
    actions = sorted(a for s in _statements(sales_synth, role_id) for a in _as_list(s["Action"]))
    assert actions == ["lambda:InvokeFunction", "sqs:SendMessage"]


def test_only_the_reactive_lambda_may_describe_alarms(any_synth: Synth) -> None:
    # DescribeAlarms returns composite alarms only to a permission scoped to "*" (API reference).
    synth = any_synth
    _, reactive = synth.function(reactive_function.HANDLER)
    role_id = reactive["Properties"]["Role"]["Fn::GetAtt"][0]
    describers = [
        (policy["Properties"]["Roles"], statement)
        for policy in synth.of_type("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "cloudwatch:DescribeAlarms" in _as_list(statement["Action"])
    ]
    assert describers == [
        (
            [{"Ref": role_id}],
            {
                "Sid": "ReadAlarmStates",
                "Effect": "Allow",
                "Action": "cloudwatch:DescribeAlarms",
                "Resource": "*",
            },
        )
    ]
