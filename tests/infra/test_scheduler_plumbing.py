"""What every EventBridge Scheduler schedule here shares (scheduler_plumbing): CloudFormation creates it
only once its role may invoke the Lambda.

A schedule's role gets lambda:InvokeFunction and sqs:SendMessage (its dead-letter queue) from the role's
default policy, a resource of its own. Nothing else orders the schedule after that policy, so on a first
deploy CloudFormation would create them in parallel and the rate(1 minute) re-evaluation (or a phase
due minutes later) could fire before the role may invoke: a failed Invoke, dead-lettered into the
failure queue whose watch alarm pages. (REAL-AWS row 25(c).)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from synth_support import STACK_NAME, Synth


@pytest.fixture(params=["synth", "sales_synth", "forecast_synth"])
def flat_synth(request: pytest.FixtureRequest) -> Synth:
    synth: Synth = request.getfixturevalue(request.param)
    return synth


def _policies_of(resources: dict[str, dict[str, Any]], role_id: str) -> set[str]:
    return {
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    }


def _depends_on(resource: dict[str, Any]) -> set[str]:
    depends = resource.get("DependsOn", [])
    return {depends} if isinstance(depends, str) else set(depends)


def test_every_schedule_waits_for_the_policy_that_lets_its_role_invoke(flat_synth: Synth) -> None:
    schedules = flat_synth.of_type("AWS::Scheduler::Schedule")
    # the per-minute re-evaluation always; the sale phases and forecasts where configured
    assert schedules
    for logical_id, schedule in schedules.items():
        role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
        policies = _policies_of(flat_synth.resources, role_id)
        statements = [
            s for p in policies for s in flat_synth.resources[p]["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert {"lambda:InvokeFunction", "sqs:SendMessage"} <= {
            a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }, logical_id
        # every policy of the role, not only some: any of them may hold the invoke grant
        assert policies <= _depends_on(schedule), (logical_id, policies, schedule.get("DependsOn"))


def _scheduler_roles(resources: dict[str, dict[str, Any]]) -> set[str]:
    return {
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        and any(
            s["Principal"].get("Service") == "scheduler.amazonaws.com"
            for s in r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    }


def test_nested_schedules_wait_for_their_roles_policies_through_their_nested_stack(
    nested_synth: Synth,
) -> None:
    # In nested stacks a schedule cannot name the parent's policy in its DependsOn: the nested stack
    # resource that holds it does (CDK lifts the dependency), so the whole stack waits for the policy.
    # A nested stack is passed a scheduler role's ARN only for its schedules to use it.
    nested_schedules = [
        r
        for path in nested_synth.outdir.glob("*.nested.template.json")
        for r in json.loads(path.read_text())["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    ]
    assert nested_schedules and all("Ref" in s["Properties"]["Target"]["RoleArn"] for s in nested_schedules)
    parent = nested_synth.resources
    roles = _scheduler_roles(parent)
    checked = 0
    for logical_id, stack in parent.items():
        if stack["Type"] != "AWS::CloudFormation::Stack":
            continue
        for value in stack["Properties"].get("Parameters", {}).values():
            role_id = value.get("Fn::GetAtt", [None])[0] if isinstance(value, dict) else None
            if role_id not in roles:
                continue
            want = _policies_of(parent, role_id)
            assert want and want <= _depends_on(stack), (logical_id, want, stack.get("DependsOn"))
            checked += 1
    assert checked, f"no nested stack of {STACK_NAME} is passed a scheduler role"
