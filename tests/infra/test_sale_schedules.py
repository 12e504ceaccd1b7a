"""Sale events -> one EventBridge Scheduler `at()` schedule per group x event x phase, in the event's
own time zone, invoking the scheduled-phase Lambda with the handler's exact input.

The config is built here (synth_support.sales_config): one event on the night US daylight saving
ends (2026-11-01, the hour 01:00-02:00 happens twice in New York) and one whose doors open just
after Berlin springs forward (2027-03-28, 02:00 CET -> 03:00 CEST).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from synth_support import (
    ACCOUNT,
    FORECAST_NOW,
    REGION,
    ROOT,
    SALES_NOW,
    STACK_NAME,
    Synth,
    cdk_context,
    forecast_config,
    sales_config,
    synthesize,
)

from infra.constructs import reactive_function, sale_schedules
from infra.constructs.sale_schedules import max_size_bound, sale_phases, stale_phases
from infra.constructs.scheduler_plumbing import MAX_EVENT_AGE, RETRY_ATTEMPTS
from surgeguard.config import BUNDLED_CONFIG_FILE, ScalerConfig, config_json, parse_config
from surgeguard.domain.sales import PHASES, plan_event
from surgeguard_cli.phase_metadata import stale_in_assembly

NY, BERLIN = "America/New_York", "Europe/Berlin"
# (group, event, phase) -> (at() expression, its time zone, the UTC instant it means)
EXPECTED = {
    # The ramp stage fires its own lead (13 min) ahead of the demand it expects, 60 min before the doors.
    ("web", "black-friday", "ramp-1"): ("at(2026-11-26T22:47:00)", NY, "2026-11-27T03:47:00"),
    ("web", "black-friday", "prewarm"): ("at(2026-11-26T23:47:00)", NY, "2026-11-27T04:47:00"),
    ("web", "black-friday", "release"): ("at(2026-11-27T02:30:00)", NY, "2026-11-27T07:30:00"),
    ("web", "black-friday", "restore"): ("at(2026-11-27T03:30:00)", NY, "2026-11-27T08:30:00"),
    # 01:17 EDT and 01:20 EST: both wall times occur twice that night, so they are written in UTC
    # (01:20 in New York would be read as 01:20 EDT, an hour early, before the doors even open).
    ("web", "night-owl", "prewarm"): ("at(2026-11-01T05:17:00)", "UTC", "2026-11-01T05:17:00"),
    ("web", "night-owl", "release"): ("at(2026-11-01T06:20:00)", "UTC", "2026-11-01T06:20:00"),
    ("web", "night-owl", "restore"): ("at(2026-11-01T02:20:00)", NY, "2026-11-01T07:20:00"),
    # 14 minutes before 03:10 CEST is 01:56 CET, not 02:56 (a wall time that does not exist).
    ("api", "spring-sale", "prewarm"): ("at(2027-03-28T01:56:00)", BERLIN, "2027-03-28T00:56:00"),
    ("api", "spring-sale", "release"): ("at(2027-03-28T05:00:00)", BERLIN, "2027-03-28T03:00:00"),
    ("api", "spring-sale", "restore"): ("at(2027-03-28T06:00:00)", BERLIN, "2027-03-28T04:00:00"),
}
PAST_AT_SALES_NOW = {("web", "night-owl", "prewarm")}


def _schedules(synth: Synth) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The sale phases' schedules (the stack's other schedules invoke other Lambdas)."""
    function_id, _ = synth.function(sale_schedules.HANDLER)
    schedules = {}
    for schedule in synth.of_type("AWS::Scheduler::Schedule").values():
        props = schedule["Properties"]
        if props["Target"]["Arn"] != {"Fn::GetAtt": [function_id, "Arn"]}:
            continue
        payload = json.loads(props["Target"]["Input"])
        schedules[(payload["group"], payload["event"], payload["phase"])] = props
    return schedules


def _sale_group(synth: Synth) -> tuple[str, dict[str, Any]]:
    """The schedule group the sale phases live in: (logical id, resource)."""
    (name,) = {props["GroupName"] for props in _schedules(synth).values()}
    ((group_id, group),) = [
        (k, v)
        for k, v in synth.of_type("AWS::Scheduler::ScheduleGroup").items()
        if v["Properties"]["Name"] == name
    ]
    return group_id, group


def _statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _group_arn(name: str) -> str:
    return f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/{name}"


def test_every_phase_is_written_in_the_events_zone_unless_that_wall_time_is_ambiguous() -> None:
    # GIVEN the config WHEN nothing is past yet THEN every phase of plan_event has its expression
    pending, past = sale_phases(sales_config(), datetime(2026, 1, 1, tzinfo=UTC))
    assert not past
    got = {
        (p.group, p.event, p.phase): (p.expression, p.timezone, f"{p.when:%Y-%m-%dT%H:%M:%S}")
        for p in pending
    }
    assert got == EXPECTED
    # and the times are plan_event's, phase for phase
    config = sales_config()
    for group in config.groups:
        for event in group.events:
            times = plan_event(group, event).phase_times()
            ramp = tuple(f"ramp-{i}" for i in range(1, len(event.ramp) + 1))
            assert tuple(times) == ramp + PHASES
            for phase, when in times.items():
                assert EXPECTED[(group.name, event.name, phase)][2] == f"{when:%Y-%m-%dT%H:%M:%S}"


def test_template_has_one_at_schedule_per_pending_phase_pinned_exactly(sales_synth: Synth) -> None:
    schedules = _schedules(sales_synth)
    # besides the phases, only the stack's one per-minute re-evaluation schedule
    assert len(sales_synth.of_type("AWS::Scheduler::Schedule")) == len(schedules) + 1
    want = {key: value for key, value in EXPECTED.items() if key not in PAST_AT_SALES_NOW}
    got = {
        key: (props["ScheduleExpression"], props["ScheduleExpressionTimezone"], want.get(key, ("",) * 3)[2])
        for key, props in schedules.items()
    }
    assert got == want
    group_id, group = _sale_group(sales_synth)
    function_id, _ = sales_synth.function(sale_schedules.HANDLER)
    for schedule in sales_synth.of_type("AWS::Scheduler::Schedule").values():
        props = schedule["Properties"]
        if props["Target"]["Arn"] != {"Fn::GetAtt": [function_id, "Arn"]}:
            continue
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["State"] == "ENABLED"
        # in the stack's own group (name generated by CDK), created after it
        assert props["GroupName"] == group["Properties"]["Name"]
        assert group_id in schedule["DependsOn"]
        assert "Name" not in props  # CloudFormation names each schedule


def test_phases_already_past_are_skipped_with_a_warning(sales_synth: Synth) -> None:
    pending, past = sale_phases(sales_config(), SALES_NOW)
    assert {(p.group, p.event, p.phase) for p in past} == PAST_AT_SALES_NOW
    assert len(pending) == len(EXPECTED) - 1
    assert ("web", "night-owl", "prewarm") not in _schedules(sales_synth)
    assert (
        "surgeguard: warning: not scheduling web/night-owl prewarm: 2026-11-01 05:17:00 UTC is already past"
        in sales_synth.stderr
    )


def test_schedules_invoke_the_sale_lambda_with_the_handlers_exact_input(sales_synth: Synth) -> None:
    function_id, _ = sales_synth.function(sale_schedules.HANDLER)
    for (group, event, phase), props in _schedules(sales_synth).items():
        assert json.loads(props["Target"]["Input"]) == {
            "group": group,
            "event": event,
            "phase": phase,
            "scheduled_time": "<aws.scheduler.scheduled-time>",
            "execution_id": "<aws.scheduler.execution-id>",
            "schedule_arn": "<aws.scheduler.schedule-arn>",
        }
        assert props["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}


def test_schedules_retry_then_dead_letter_into_an_encrypted_tls_only_queue(sales_synth: Synth) -> None:
    schedules = list(_schedules(sales_synth).values())
    (queue_arn,) = {json.dumps(p["Target"]["DeadLetterConfig"]["Arn"]) for p in schedules}
    queue_id = json.loads(queue_arn)["Fn::GetAtt"][0]
    queue = sales_synth.resources[queue_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    (policy,) = [
        p
        for p in sales_synth.of_type("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )
    for props in schedules:
        assert props["Target"]["RetryPolicy"] == {
            "MaximumRetryAttempts": RETRY_ATTEMPTS,
            "MaximumEventAgeInSeconds": MAX_EVENT_AGE.to_seconds(),
        }
    assert (RETRY_ATTEMPTS, MAX_EVENT_AGE.to_seconds()) == (3, 3600)


def test_scheduler_role_trusts_only_this_group_and_may_only_invoke_and_dead_letter(
    sales_synth: Synth,
) -> None:
    function_id, _ = sales_synth.function(sale_schedules.HANDLER)
    (role_arn,) = {json.dumps(p["Target"]["RoleArn"]) for p in _schedules(sales_synth).values()}
    role_id = json.loads(role_arn)["Fn::GetAtt"][0]
    group_id, _ = _sale_group(sales_synth)
    (trust,) = sales_synth.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": [group_id, "Arn"]}},
    }
    statements = _statements(sales_synth, role_id)
    actions = sorted(a for s in statements for a in _as_list(s["Action"]))
    assert actions == ["lambda:InvokeFunction", "sqs:SendMessage"]
    (invoke,) = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert invoke["Resource"] == [
        {"Fn::GetAtt": [function_id, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [function_id, "Arn"]}, ":*"]]},
    ]
    group = sales_synth.resources[group_id]
    assert group["DeletionPolicy"] == "Delete"  # no schedules outlive the stack


def test_sale_lambda_shares_the_defaults_with_its_own_log_group_and_dead_letter_queue(
    sales_synth: Synth,
) -> None:
    sale_id, sale = sales_synth.function(sale_schedules.HANDLER)
    reactive_id, reactive = sales_synth.function(reactive_function.HANDLER)
    same = ("Runtime", "Architectures", "MemorySize", "Timeout", "Layers", "Code", "Environment")
    for prop in same:
        assert sale["Properties"][prop] == reactive["Properties"][prop], prop
    assert sale["Properties"]["Environment"]["Variables"]["CONFIG_FILE"] == BUNDLED_CONFIG_FILE
    assert (
        sale["Properties"]["LoggingConfig"]["LogGroup"] != reactive["Properties"]["LoggingConfig"]["LogGroup"]
    )
    assert sale["Properties"]["Role"] != reactive["Properties"]["Role"]
    configs = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
        for c in sales_synth.of_type("AWS::Lambda::EventInvokeConfig").values()
    }
    assert set(configs) == {sale_id, reactive_id}
    on_failure = configs[sale_id]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert (
        on_failure != configs[reactive_id]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    )
    assert sales_synth.resources[on_failure]["Properties"]["SqsManagedSseEnabled"] is True


def test_sale_lambda_may_change_only_tagged_groups_and_reads_on_star(sales_synth: Synth) -> None:
    _, sale = sales_synth.function(sale_schedules.HANDLER)
    role_id = sale["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = {s.get("Sid"): s for s in _statements(sales_synth, role_id)}
    scale = statements["ScaleTaggedGroupsForSales"]
    assert _as_list(scale["Action"]) == ["autoscaling:SetDesiredCapacity"]
    assert scale["Resource"] == _group_arn("*")
    assert scale["Condition"] == {"StringEquals": {"autoscaling:ResourceTag/surgeguard:managed": "true"}}
    read = statements["ReadGroupsAndMetrics"]
    assert sorted(_as_list(read["Action"])) == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeScalingActivities",
        "cloudwatch:GetMetricData",
    ]
    assert read["Resource"] == "*"
    # UpdateAutoScalingGroup nowhere else: not on the reactive role, never on "*", never unbounded
    updates = [
        (policy["Properties"]["Roles"], statement)
        for policy in sales_synth.of_type("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "autoscaling:UpdateAutoScalingGroup" in _as_list(statement["Action"])
    ]
    assert updates and all(roles == [{"Ref": role_id}] for roles, _ in updates)
    assert all("*" not in _as_list(s["Resource"]) and s.get("Condition") for _, s in updates)


def test_update_auto_scaling_group_is_bounded_on_tagged_groups_and_never_sets_min_size(
    sales_synth: Synth,
) -> None:
    # GIVEN web (max 10, black-friday temporary_max 40, night-owl none) and api (max 6, no temporary max)
    _, sale = sales_synth.function(sale_schedules.HANDLER)
    role_id = sale["Properties"]["Role"]["Fn::GetAtt"][0]
    updates = [
        s
        for s in _statements(sales_synth, role_id)
        if "autoscaling:UpdateAutoScalingGroup" in _as_list(s["Action"])
    ]
    # THEN one statement: tagged groups only, MaxSize must be set and at most the largest bound any
    # event needs (40), MinSize never (the per-group bound is the config's, applied by the Lambda)
    Template.from_json(sales_synth.template).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": role_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "ResizeTaggedGroupsForSales",
                            "Effect": "Allow",
                            "Action": "autoscaling:UpdateAutoScalingGroup",
                            "Resource": _group_arn("*"),
                            "Condition": {
                                "StringEquals": {"autoscaling:ResourceTag/surgeguard:managed": "true"},
                                "NumericLessThanEquals": {"autoscaling:MaxSize": "40"},
                                "Null": {"autoscaling:MinSize": "true"},
                            },
                        }
                    ]
                )
            },
        },
    )
    assert len(updates) == 1
    assert {g.name: max_size_bound(g) for g in sales_config().groups} == {"web": 40, "api": None}


def _sale_updates(synth: Synth) -> list[dict[str, Any]]:
    """The sale role's statements that allow UpdateAutoScalingGroup."""
    _, sale = synth.function(sale_schedules.HANDLER)
    role_id = sale["Properties"]["Role"]["Fn::GetAtt"][0]
    update = "autoscaling:UpdateAutoScalingGroup"
    return [s for s in _statements(synth, role_id) if update in _as_list(s["Action"])]


def test_no_update_auto_scaling_group_where_no_event_raises_a_temporary_max(nested_synth: Synth) -> None:
    # GIVEN the forecast config: one sale event (web's black-friday), no temporary_max anywhere
    assert any(g.events for g in forecast_config().groups)
    assert all(e.temporary_max is None for g in forecast_config().groups for e in g.events)
    # THEN the sale Lambda cannot call UpdateAutoScalingGroup at all: only a temporary max makes it
    # call it (the raise, and its restore); it was granted up to MaxSize 10 on every tagged group
    assert nested_synth.validation_error is None
    assert _sale_updates(nested_synth) == []


@pytest.fixture(scope="module")
def bound_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """web (max 10) raises its max to 20 for one sale; big (max 50) has a sale with no temporary max."""
    cpu = [{"kind": "cpu", "target": 50}]
    sale = {
        "start": "2026-11-27T00:00:00",
        "end": "2026-11-27T02:00:00",
        "timezone": NY,
        "peak_multiplier": 2,
    }
    config = parse_config(
        {
            "groups": [
                {
                    "name": "web",
                    "min": 2,
                    "max": 10,
                    "signals": cpu,
                    "events": [{**sale, "name": "black-friday", "temporary_max": 20}],
                },
                {"name": "big", "min": 2, "max": 50, "signals": cpu, "events": [{**sale, "name": "doors"}]},
            ]
        },
        source="tests/infra temporary max bound",
    )
    outdir = tmp_path_factory.mktemp("bound-synth")
    result = synthesize(outdir, config=config, now=SALES_NOW)
    template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
    return Synth(outdir, template, result["validation_error"], result["seconds"], result.get("stderr", ""))


def test_update_auto_scaling_group_is_bounded_by_the_largest_temporary_max_not_a_groups_max(
    bound_synth: Synth,
) -> None:
    # GIVEN web's temporary max 20, and big (max 50) whose sale raises nothing
    # THEN MaxSize at most 20: every MaxSize the Lambda sets is a temporary max or one it put back from
    # under one; big's max (50) once widened the bound, though nothing ever sets big's MaxSize
    assert bound_synth.validation_error is None
    (update,) = _sale_updates(bound_synth)
    assert update["Condition"]["NumericLessThanEquals"] == {"autoscaling:MaxSize": "20"}


def test_sale_lambda_async_config_is_explicit_two_retries_within_an_hour(sales_synth: Synth) -> None:
    # A failing phase gets Lambda's two async retries, then the on-failure queue; a pre-warm is still
    # useful up to about an hour late.
    sale_id, _ = sales_synth.function(sale_schedules.HANDLER)
    Template.from_json(sales_synth.template).has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": sale_id},
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 3600,
            "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
        },
    )
    assert (sale_schedules.RETRY_ATTEMPTS, sale_schedules.MAX_EVENT_AGE.to_seconds()) == (2, 3600)


def test_sale_lambda_may_delete_only_the_schedules_of_the_stacks_own_group(sales_synth: Synth) -> None:
    # A handled phase deletes the one-time schedule that fired it (CloudFormation cannot set
    # ActionAfterCompletion); nothing else from Scheduler, and only in this stack's schedule group.
    _, sale = sales_synth.function(sale_schedules.HANDLER)
    role_id = sale["Properties"]["Role"]["Fn::GetAtt"][0]
    _, group = _sale_group(sales_synth)
    statements = _statements(sales_synth, role_id)
    scheduler_actions = [a for s in statements for a in _as_list(s["Action"]) if a.startswith("scheduler:")]
    assert scheduler_actions == ["scheduler:DeleteSchedule"]
    (delete,) = [s for s in statements if s.get("Sid") == "DeleteOwnSaleSchedules"]
    assert delete["Effect"] == "Allow"
    assert delete["Action"] == "scheduler:DeleteSchedule"
    # (this synth pins the environment; the env-agnostic one in the cdk-nag test below passes too)
    name = group["Properties"]["Name"]
    assert delete["Resource"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{name}/*"
    # no other role may delete schedules
    deleters = [
        policy["Properties"]["Roles"]
        for policy in sales_synth.of_type("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "scheduler:DeleteSchedule" in _as_list(statement["Action"])
    ]
    assert deleters == [[{"Ref": role_id}]]


def test_no_sale_resources_without_events(synth: Synth, config: ScalerConfig) -> None:
    has_events = any(group.events for group in config.groups)
    assert ("SaleScheduleGroupName" in synth.template["Outputs"]) == has_events
    handlers = [f["Properties"]["Handler"] for f in synth.of_type("AWS::Lambda::Function").values()]
    assert (sale_schedules.HANDLER in handlers) == has_events


def test_app_synthesizes_sale_schedules_environment_agnostic_with_cdk_nag(tmp_path: Path) -> None:
    # GIVEN the sales config as a file WHEN app.py runs as the CLI runs it (now = the real time)
    config_file = tmp_path / "sales.yaml"
    config_file.write_text(config_json(sales_config()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_")}
    env.update(
        CDK_CONTEXT_JSON=json.dumps({**cdk_context(), "config": str(config_file)}),
        CDK_OUTDIR=str(tmp_path / "cdk.out"),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
    )
    before = len(sale_phases(sales_config(), datetime.now(UTC))[0])
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    after = len(sale_phases(sales_config(), datetime.now(UTC))[0])
    # THEN it passes cdk-nag and schedules exactly the phases still to come
    assert result.returncode == 0, result.stderr[-4000:]
    template = json.loads((tmp_path / "cdk.out" / "Surgeguard.template.json").read_text())
    count = sum(r["Type"] == "AWS::Scheduler::Schedule" for r in template["Resources"].values())
    assert after <= count - 1 <= before  # and the per-minute re-evaluation
    assert "not scheduling web/night-owl prewarm" in result.stderr  # past for good


# --- A template deployed after its phases ------------------------------------------------------------
# AWS documents no behaviour for a one-time schedule created with an at() time already past, and nothing
# in the template can bound it: "EventBridge Scheduler ignores StartDate for one-time schedules" / "...
# ignores EndDate for one-time schedules" (Scheduler API reference, GetSchedule StartDate and EndDate),
# and CloudFormation's AWS::Scheduler::Schedule has no ActionAfterCompletion (its registry schema, as
# cfn-lint 1.58 ships it, lists none). So each phase says in the template when it stops being acted on,
# and a pipeline can ask before deploying a stored cloud assembly.


def _phase_resources(synth: Synth) -> dict[tuple[str, str, str], dict[str, Any]]:
    function_id, _ = synth.function(sale_schedules.HANDLER)
    found = {}
    for resource in synth.of_type("AWS::Scheduler::Schedule").values():
        if resource["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}:
            payload = json.loads(resource["Properties"]["Target"]["Input"])
            found[(payload["group"], payload["event"], payload["phase"])] = resource
    return found


def test_each_phase_says_when_it_is_planned_and_when_it_stops_being_acted_on(sales_synth: Synth) -> None:
    resources = _phase_resources(sales_synth)
    assert set(resources) == set(EXPECTED) - PAST_AT_SALES_NOW
    for key, resource in resources.items():
        planned = EXPECTED[key][2]
        meta = resource["Metadata"]["Surgeguard"]
        assert meta["planned_utc"] == f"{planned}Z"
        # the schedule handler's window: 65 minutes (Lambda's two retries within its one-hour event age)
        stale = datetime.fromisoformat(planned).replace(tzinfo=UTC) + timedelta(minutes=65)
        assert meta["stale_after_utc"] == f"{stale:%Y-%m-%dT%H:%M:%SZ}"
        assert (meta["group"], meta["event"], meta["phase"]) == key
        description = resource["Properties"]["Description"]
        assert f"at {planned[:16].replace('T', ' ')} UTC" in description
        assert f"not acted on after {stale:%Y-%m-%d %H:%M} UTC" in description
    assert timedelta(minutes=65) == sale_schedules.PHASE_MAX_AGE


def test_a_stored_assembly_is_checked_for_late_phases_in_its_nested_stacks_too(nested_synth: Synth) -> None:
    # With per-group resources in nested stacks, the sale schedules are in the nested templates: the
    # parent's alone names none of them, however late the deploy. (Black Friday's restore, 02:00 New
    # York plus the hold, stops being acted on well before noon UTC the day after.)
    late = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert nested_synth.template["Resources"] and stale_phases(nested_synth.template, late) == []
    stale = stale_in_assembly(nested_synth.outdir, late)
    phases = plan_event(*_black_friday(forecast_config())).phase_times()
    assert [(p.group, p.event, p.phase) for p in stale] == sorted(
        ("web", "black-friday", phase) for phase in phases
    )
    assert stale_in_assembly(nested_synth.outdir, FORECAST_NOW) == []


def _black_friday(config: ScalerConfig) -> tuple[Any, Any]:
    group = config.group("web")
    assert group is not None and group.events
    return group, group.events[0]


def test_the_pipeline_check_flags_every_phase_due_at_or_before_the_deploy(sales_synth: Synth) -> None:
    # Not only those past stale_after (planned + 65 min): a phase whose time has come may be refused
    # as a past at() time, and one that has fired deleted its own schedule, so a deploy updating it
    # fails with ResourceNotFound and rolls back (REAL-AWS rows 5 and 19(a)).
    template = sales_synth.template
    # deployed right after synth: nothing due
    assert stale_phases(template, SALES_NOW) == []
    ramp = datetime(2026, 11, 27, 3, 47, tzinfo=UTC)  # Black Friday's ramp stage
    before = stale_phases(template, ramp - timedelta(minutes=1))
    assert before == [
        "web/night-owl release planned 2026-11-01T06:20:00Z",
        "web/night-owl restore planned 2026-11-01T07:20:00Z",
    ]
    # at its planned time, and 5 minutes on (fired, its schedule deleted), long before it goes stale
    for now in (ramp, ramp + timedelta(minutes=5)):
        assert stale_phases(template, now) == sorted(
            [*before, "web/black-friday ramp-1 planned 2026-11-27T03:47:00Z"]
        )


def test_the_pipeline_check_flags_exactly_what_a_synth_at_deploy_time_would_leave_out(
    sales_synth: Synth,
) -> None:
    # The check and synth agree: a phase is past (not scheduled) when its time is at or before `now`,
    # so the check flags exactly the schedules a fresh synth at deploy time would no longer hold.
    template = sales_synth.template
    in_template = {(p.group, p.event, p.phase) for p in sale_phases(sales_config(), SALES_NOW)[0]}
    times = sorted({p.when for p in sale_phases(sales_config(), SALES_NOW)[0]})
    for now in sorted({SALES_NOW, *times, *(t - timedelta(seconds=1) for t in times)}):
        _, past = sale_phases(sales_config(), now)
        left_out = {(p.group, p.event, p.phase) for p in past} & in_template
        flagged = stale_phases(template, now)
        assert len(flagged) == len(left_out), now
        assert all(any(f"{g}/{e} {ph} planned" in f for f in flagged) for g, e, ph in left_out), now


# --- A sale re-dated, or its next edition under the same name ----------------------------------------
# A phase that fired deleted its own schedule; a deploy that updates that resource fails (Scheduler's
# CloudFormation handler: "Resource of type 'AWS::Scheduler::Schedule' ... was not found", NotFound) and
# rolls back. A removed resource whose schedule is gone is no such failure: the deploy of a sale's phases
# once past relies on it.


def _phase_logical_ids(start: str, end: str, now: datetime) -> dict[str, str]:
    """Phase -> the logical id of its schedule, for one sale `doorbuster` on one group."""
    from aws_cdk import App, Environment

    from infra.application import build

    config = parse_config(
        {
            "groups": [
                {
                    "name": "web",
                    "min": 2,
                    "max": 10,
                    "signals": [{"kind": "cpu", "target": 50}],
                    "events": [
                        {
                            "name": "doorbuster",
                            "start": start,
                            "end": end,
                            "timezone": NY,
                            "peak_multiplier": 4,
                            "temporary_max": 40,
                        }
                    ],
                }
            ]
        },
        source="test config",
    )
    (stack,) = build(
        App(context=cdk_context()), config, env=Environment(account=ACCOUNT, region=REGION), now=now
    )
    resources = Template.from_stack(stack).find_resources("AWS::Scheduler::Schedule")
    return {
        json.loads(props["Properties"]["Target"]["Input"])["phase"]: logical_id
        for logical_id, props in resources.items()
        if "Surgeguard" in props.get("Metadata", {})
    }


def test_a_phase_moved_to_another_time_is_a_new_schedule_not_an_update_of_the_one_that_fired() -> None:
    # GIVEN this year's doorbuster deployed, its phases fired (each schedule deleted itself)
    this_year = _phase_logical_ids(
        "2026-11-27T00:00:00", "2026-11-27T02:00:00", datetime(2026, 11, 1, tzinfo=UTC)
    )
    # WHEN next year's edition (same name) or a re-dated one is deployed before anything else was
    next_year = _phase_logical_ids(
        "2027-11-26T00:00:00", "2027-11-26T02:00:00", datetime(2026, 12, 1, tzinfo=UTC)
    )
    postponed = _phase_logical_ids(
        "2026-11-27T01:00:00", "2026-11-27T03:00:00", datetime(2026, 11, 1, tzinfo=UTC)
    )
    # THEN each phase is a resource of its own, created, not the fired one updated (and failing)
    assert set(this_year) == set(next_year) == set(postponed) == {"prewarm", "release", "restore"}
    assert not set(this_year.values()) & set(next_year.values())
    assert not set(this_year.values()) & set(postponed.values())
    # AND a phase whose time did not change keeps its resource (a later end moves release and restore)
    longer = _phase_logical_ids(
        "2026-11-27T00:00:00", "2026-11-27T03:00:00", datetime(2026, 11, 1, tzinfo=UTC)
    )
    assert longer["prewarm"] == this_year["prewarm"]
    assert longer["release"] != this_year["release"]
    assert longer["restore"] != this_year["restore"]
