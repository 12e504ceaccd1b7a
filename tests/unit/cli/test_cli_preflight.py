"""`surgeguard preflight` against a moto account set up right, then wrong in one known way at a time.

The issue's done-when: quota below the peak, MaxSize too low, basic monitoring, a stray scaling
policy, a missing schedule, an unconfirmed subscription are each flagged, and nothing else is; a
right world passes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import cli_world as world
import pytest
import yaml
from moto import mock_aws

from surgeguard.domain.sales import plan_event
from surgeguard_cli import main as cli
from surgeguard_cli import output
from surgeguard_cli.aws import Aws
from surgeguard_cli.preflight import (
    FAIL,
    PASS,
    UNCHECKED,
    WARN,
    Addition,
    Peak,
    addition,
    planned_peak,
    run_preflight,
    vcpu_check,
)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _failed(built: world.World) -> set[tuple[str, str]]:
    checks = run_preflight(built.aws, built.config, built.stack, world.NOW)
    assert not [c for c in checks if c.status == WARN], checks
    return {(c.check, c.scope) for c in checks if c.status == FAIL}


SCOPE = f"{world.GROUP}/{world.EVENT}"


@pytest.mark.usefixtures("aws")
def test_a_right_world_passes_every_check() -> None:
    checks = run_preflight(*_args(world.build()))
    assert [c for c in checks if c.status != PASS] == []
    # Every check of the issue ran.
    assert {c.check for c in checks} == {
        "vcpu-quota",
        "max-size",
        "subnet-addresses",
        "launch-template",
        "detailed-monitoring",
        "metrics-collection",
        "target-groups",
        "scaling-policies",
        "scheduled-actions",
        "warm-pool",
        "alarms",
        "subscriptions",
        "schedules",
        "kill-switch",
        "lambda-health",
        "failure-queue",
    }


def _args(built: world.World) -> tuple[Any, ...]:
    return built.aws, built.config, built.stack, world.NOW


@pytest.mark.parametrize(
    ("wrong", "flagged"),
    [
        ({"quota": 16.0}, {("vcpu-quota", SCOPE)}),
        ({"max_size": 10}, {("max-size", SCOPE)}),
        ({"detailed_monitoring": False}, {("detailed-monitoring", world.GROUP)}),
        ({"stray_policy": True}, {("scaling-policies", world.GROUP)}),
        ({"missing_phase": "prewarm"}, {("schedules", SCOPE)}),
        ({"unconfirmed": True}, {("subscriptions", world.STACK)}),
        ({"stray_target_group": True}, {("target-groups", world.GROUP)}),
    ],
    ids=[
        "quota-below-peak",
        "maxsize-too-low",
        "basic-monitoring",
        "stray-policy",
        "missing-schedule",
        "unconfirmed",
        "stray-target-group",
    ],
)
@pytest.mark.usefixtures("aws")
def test_each_known_mistake_is_flagged_and_nothing_else(
    wrong: dict[str, Any], flagged: set[tuple[str, str]]
) -> None:
    assert _failed(world.build(**wrong)) == flagged


@pytest.mark.usefixtures("aws")
def test_all_mistakes_at_once_are_all_flagged() -> None:
    built = world.build(
        quota=16.0,
        max_size=10,
        detailed_monitoring=False,
        stray_policy=True,
        missing_phase="release",
        unconfirmed=True,
    )
    assert {check for check, _ in _failed(built)} == {
        "vcpu-quota",
        "max-size",
        "detailed-monitoring",
        "scaling-policies",
        "schedules",
        "subscriptions",
    }


@pytest.mark.usefixtures("aws")
def test_what_to_do_is_said_for_each_failure() -> None:
    built = world.build(quota=16.0, missing_phase="prewarm")
    checks = {c.check: c for c in run_preflight(*_args(built)) if c.status == FAIL}
    # 8 running + (15 - 4) x 2 = 30 vCPUs against 16.
    assert "8 vCPUs running + 22 to add (11 instance(s)) = 30 of quota 16" in checks["vcpu-quota"].detail
    assert "L-1216C47A" in checks["vcpu-quota"].fix
    assert "prewarm" in checks["schedules"].detail and "has no schedule" in checks["schedules"].detail


def _launches_from(image: str) -> None:
    """The group's launch template gets a new default version whose ImageId is `image`."""
    ec2 = boto3.client("ec2")
    ec2.create_launch_template_version(
        LaunchTemplateName="shop-web-lt", SourceVersion="1", LaunchTemplateData={"ImageId": image}
    )
    ec2.modify_launch_template(LaunchTemplateName="shop-web-lt", DefaultVersion="2")


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    ("parameter", "status", "said"),
    [
        ("/shop/ami", PASS, "(from resolve:ssm:/shop/ami)"),
        ("/shop/ami:1", PASS, "(from resolve:ssm:/shop/ami:1)"),
        ("/shop/gone", FAIL, "image parameter /shop/gone does not exist"),
        ("/shop/stale", FAIL, "image ami-00000000000000000 (from resolve:ssm:/shop/stale) does not exist"),
    ],
)
def test_a_launch_template_whose_image_is_an_ssm_parameter_is_checked_through_it(
    parameter: str, status: str, said: str
) -> None:
    # `resolve:ssm:` is answered as written unless ResolveAlias is set (moto ignores it and always does,
    # hence the GetParameter after it). It was once looked up as an image, and a good template FAILed.
    built = world.build()
    image = boto3.client("ec2").describe_images(Owners=["self"])["Images"][0]["ImageId"]
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/shop/ami", Value=image, Type="String")
    ssm.put_parameter(Name="/shop/stale", Value="ami-00000000000000000", Type="String")
    _launches_from(f"resolve:ssm:{parameter}")
    checks = {c.check: c for c in run_preflight(*_args(built))}
    assert checks["launch-template"].status == status
    assert said in checks["launch-template"].detail


@pytest.mark.usefixtures("aws")
def test_a_disabled_schedule_of_a_phase_to_come_fails() -> None:
    # Disabled in the console (to hold a sale back, or by mistake), it is still there at the planned
    # time, and preflight once passed it: the pre-warm would never fire.
    built = world.build()
    scheduler = boto3.client("scheduler")
    found = scheduler.get_schedule(Name=f"{world.EVENT}-prewarm", GroupName="surgeguard-sales")
    kept = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow")
    scheduler.update_schedule(**{k: found[k] for k in kept}, Target=found["Target"], State="DISABLED")
    checks = [c for c in run_preflight(*_args(built)) if c.check == "schedules"]
    assert [c.status for c in checks] == [FAIL]
    assert "prewarm (2026-12-04 04:47 UTC) is DISABLED: it will not fire" in checks[0].detail


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("sent", ['["warm", "up"]', '"hello"', "42", "null"])
def test_a_schedule_in_the_group_whose_input_is_no_json_object_is_not_a_phase(sent: str) -> None:
    # Once an AttributeError (`list` has no `get`) that took the whole preflight down.
    built = world.build()
    boto3.client("scheduler").create_schedule(
        Name="hand-made",
        GroupName="surgeguard-sales",
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:x", "RoleArn": "arn:x", "Input": sent},
    )
    checks = [c for c in run_preflight(*_args(built)) if c.check == "schedules"]
    assert [c.status for c in checks] == [PASS]


@pytest.mark.usefixtures("aws")
def test_pause_failure_queue_and_throttles_are_flagged() -> None:
    built = world.build()
    boto3.client("dynamodb").put_item(
        TableName=built.stack.table,
        Item={"pk": {"S": "CONTROL"}, "sk": {"S": "*"}, "pause": {"S": "all"}, "set_by": {"S": "ana"}},
    )
    boto3.client("sqs").send_message(QueueUrl=built.stack.queues[0], MessageBody="{}")
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Throttles",
                "Dimensions": [{"Name": "FunctionName", "Value": "Surgeguard-Reactive"}],
                "Timestamp": world.NOW.replace(hour=10),
                "Value": 3,
            }
        ],
    )
    checks = {(c.check, c.status) for c in run_preflight(*_args(built)) if c.status != PASS}
    assert checks == {("kill-switch", WARN), ("failure-queue", FAIL), ("lambda-health", FAIL)}


@pytest.mark.parametrize(
    ("pause", "says"),
    [
        ({}, "no pause value: the Lambda reads a full pause"),  # created in the console, value forgotten
        ({"pause": {"S": "true"}}, "'true': the Lambda reads all"),
        ({"pause": {"S": ""}}, "'': the Lambda reads all"),
        ({"pause": {"S": " OUT "}}, "' OUT ': the Lambda reads out"),
    ],
)
@pytest.mark.usefixtures("aws")
def test_a_hand_edited_kill_switch_is_flagged_as_the_lambda_reads_it(
    pause: dict[str, Any], says: str
) -> None:
    built = world.build()
    boto3.client("dynamodb").put_item(
        TableName=built.stack.table,
        Item={"pk": {"S": "CONTROL"}, "sk": {"S": world.GROUP}, "set_by": {"S": "ana"}, **pause},
    )
    (check,) = [c for c in run_preflight(*_args(built)) if c.check == "kill-switch"]
    assert check.status == WARN
    assert check.detail.startswith(f"paused: {world.GROUP}: ") and says in check.detail


@pytest.mark.parametrize(("max_size", "stranded"), [(30, True), (20, False)], ids=["raised", "restored"])
@pytest.mark.usefixtures("aws")
def test_a_removed_sale_whose_raised_max_nothing_restores_is_said_before_the_next_sale(
    max_size: int, stranded: bool
) -> None:
    # GIVEN a flash sale's item (its pre-warm raised MaxSize 20 -> 30), the sale since removed from the
    # config: its restore went with the deploy. Only `status` named it, to whoever looked there.
    built = world.build()
    boto3.client("dynamodb").put_item(TableName=built.stack.table, Item=world.sale_item("flash", 20))
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=world.GROUP, MaxSize=max_size)
    found = [c for c in run_preflight(*_args(built)) if c.check == "stranded-max"]
    if not stranded:
        assert found == []  # restored since: nothing to say
        return
    (check,) = found
    assert check.status == WARN and check.scope == world.GROUP
    assert "flash (MaxSize 20 before it)" in check.detail and "nothing restores it" in check.detail
    assert check.fix.endswith(f"--auto-scaling-group-name {world.GROUP} --max-size 20")


def _stranded(built: world.World, config: Any = None) -> list[Any]:
    checks = run_preflight(built.aws, config or built.config, built.stack, world.NOW)
    return [c for c in checks if c.check == "stranded-max"]


@pytest.mark.usefixtures("aws")
def test_a_removed_sale_restored_before_it_was_removed_is_not_stranded() -> None:
    # flash was restored, then removed; the configured doorbuster's pre-warm raised MaxSize 20 -> 30 since.
    # It was once said stranded, with a command that would have undone doorbuster's raise.
    from surgeguard.config import parse_config

    data = world.config_data()
    data["groups"][0]["events"][0]["temporary_max"] = 30
    built = world.build()
    flash = world.sale_item("flash", 20, restored=True, days_ago=20)
    for item in (flash, world.sale_item(world.EVENT, 20, days_ago=20)):
        boto3.client("dynamodb").put_item(TableName=built.stack.table, Item=item)
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=world.GROUP, MaxSize=30)
    assert _stranded(built, parse_config(data)) == []


@pytest.mark.usefixtures("aws")
def test_stranded_sales_one_over_the_other_are_put_back_to_the_first_original() -> None:
    # flash1 raised 20 -> 30; flash2 then saved 30 as its original and raised to 40; both removed. The
    # command once said 30, and after it another WARN said 20.
    built = world.build()
    for item in (world.sale_item("flash1", 20), world.sale_item("flash2", 30)):
        boto3.client("dynamodb").put_item(TableName=built.stack.table, Item=item)
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=world.GROUP, MaxSize=40)
    (check,) = _stranded(built)
    assert check.fix.endswith("--max-size 20")


@pytest.mark.usefixtures("aws")
def test_a_stranded_sale_of_a_parked_group_is_said_as_status_says_it() -> None:
    # original_max 0 (a group parked at MaxSize 0): preflight once took it for no raise at all
    built = world.build()
    boto3.client("dynamodb").put_item(TableName=built.stack.table, Item=world.sale_item("flash", 0))
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=world.GROUP, MaxSize=30)
    (check,) = _stranded(built)
    assert "flash (MaxSize 0 before it)" in check.detail


@pytest.mark.usefixtures("aws")
def test_cli_exits_1_on_a_failure_and_json_says_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = world.build(max_size=10)
    path = tmp_path / "surgeguard.yaml"
    path.write_text(yaml.safe_dump(world.config_data()))
    from surgeguard_cli import preflight

    monkeypatch.setattr(built.aws, "stack", lambda name: built.stack)
    code = preflight.main(["--config", str(path), "--json"], aws=built.aws, now=world.NOW)
    data = json.loads(capsys.readouterr().out)
    assert code == output.FOUND
    assert [(c["check"], c["status"]) for c in data["checks"] if c["status"] != PASS] == [("max-size", FAIL)]
    assert data["summary"]["FAIL"] == 1

    code = preflight.main(["--config", str(path)], aws=built.aws, now=world.NOW)
    text = capsys.readouterr().out
    assert code == output.FOUND
    assert "max-size" in text and "1 FAIL" in text


@pytest.mark.usefixtures("aws")
def test_a_subnet_deleted_while_the_group_names_it_fails_and_every_other_check_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty subnet can be deleted while a group still names it; Auto Scaling's launches there then
    # fail. DescribeSubnets answers InvalidSubnetID.NotFound for the whole call: preflight once ended
    # on it, "cannot read AWS" (exit 3), with none of its other checks said.
    built = world.build()
    ec2 = boto3.client("ec2")
    (kept,) = boto3.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    vpc = ec2.describe_subnets(SubnetIds=[kept["VPCZoneIdentifier"]])["Subnets"][0]["VpcId"]
    gone = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.200.0/24", AvailabilityZone="us-east-1b")
    gone_id = gone["Subnet"]["SubnetId"]
    boto3.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=world.GROUP, VPCZoneIdentifier=f"{kept['VPCZoneIdentifier']},{gone_id}"
    )
    ec2.delete_subnet(SubnetId=gone_id)
    path = tmp_path / "surgeguard.yaml"
    path.write_text(yaml.safe_dump(world.config_data()))
    from surgeguard_cli import preflight

    monkeypatch.setattr(built.aws, "stack", lambda name: built.stack)
    code = preflight.main(["--config", str(path), "--json"], aws=built.aws, now=world.NOW)
    assert code == output.FOUND, capsys.readouterr().err
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert [(c["check"], c["status"]) for c in checks if c["status"] != PASS] == [("subnet-addresses", FAIL)]
    (subnets,) = [c for c in checks if c["check"] == "subnet-addresses"]
    assert gone_id in subnets["detail"] and kept["VPCZoneIdentifier"] not in subnets["detail"].split(": ")[1]
    assert len({c["check"] for c in checks}) == 16  # every check ran, as in the right world


def test_unknown_event_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "surgeguard.yaml"
    path.write_text(yaml.safe_dump(world.config_data()))
    assert cli.main(["preflight", "--config", str(path), "--event", "nope"]) == output.USAGE
    assert "no event named 'nope'" in capsys.readouterr().err


def test_planned_peak_of_a_multiplier_without_history_uses_desired_capacity() -> None:
    data = world.config_data()
    event = data["groups"][0]["events"][0]
    del event["peak_requests_per_minute"]
    event["peak_multiplier"] = 4
    from surgeguard.config import parse_config

    group = parse_config(data).groups[0]
    assert planned_peak(group, group.events[0], None, 5).instances == 20
    assert planned_peak(group, group.events[0], 3000.0, 5).instances == 12  # 4 x 3,000 / 1,000
    assert planned_peak(group, None, None, 5).instances == 20  # no event: the config max


@pytest.mark.usefixtures("aws")
def test_a_peak_whose_history_query_cloudwatch_did_not_answer_is_aws_unreadable_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GetMetricData answers the call, the query StatusCode Forbidden: last week's demand read as none,
    # and the peak was sized "no request history to go by" (the desired capacity times the multiplier),
    # understating the quota, address and MaxSize checks.
    from surgeguard.alarm_shape import normal_window
    from surgeguard.config import parse_config
    from surgeguard.domain.sales import normal_demand_time
    from surgeguard_cli import preflight
    from surgeguard_cli.aws import AwsError

    data = world.config_data()
    event = data["groups"][0]["events"][0]
    del event["peak_requests_per_minute"]
    event["peak_multiplier"] = 3
    built = world.build()
    group = parse_config(data).groups[0]
    start, end = normal_window(normal_demand_time(group.events[0]))
    signal = group.requests_signal()
    assert signal is not None
    minutes = int((end - start).total_seconds() // 60)
    dimensions = [
        {"Name": "LoadBalancer", "Value": signal.load_balancer},
        {"Name": "TargetGroup", "Value": signal.target_group},
    ]
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": "RequestCount", "Timestamp": start + timedelta(minutes=m), "Value": 5000}
            | {"Dimensions": dimensions}
            for m in range(minutes)
        ],
    )
    assert preflight._normal_rpm(built.aws, group, group.events[0]) == 5000
    built.aws._clients["cloudwatch"] = world.UnansweredQueries(boto3.client("cloudwatch"))
    with pytest.raises(AwsError, match="Forbidden: not authorized"):
        preflight._normal_rpm(built.aws, group, group.events[0])
    path = tmp_path / "surgeguard.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(built.aws, "stack", lambda name: built.stack)
    assert preflight.main(["--config", str(path)], aws=built.aws, now=world.NOW) == output.AWS
    assert "cannot read AWS: GetMetricData: Forbidden" in capsys.readouterr().err


def test_vcpu_headroom_under_ten_percent_warns() -> None:
    check = vcpu_check("g", Peak(10, "x"), Addition(10, 10, 20), 0, 21.0, True)  # 20 of 21
    assert check.status == WARN
    assert vcpu_check("g", Peak(10, "x"), Addition(10, 10, 20), 0, 40.0, True).status == PASS


def test_a_weighted_groups_units_are_added_as_the_instances_they_take() -> None:
    # 9 units to add: 3 m5.4xlarge of weight 4 (48 vCPUs), or 9 c7g.large of weight 1 (18 addresses).
    adds = addition(Peak(13, "x"), 4, {"m5.4xlarge": 4, "c7g.large": 1}, {"m5.4xlarge": 16, "c7g.large": 2})
    assert adds == Addition(units=9, instances=9, vcpus=48)
    assert addition(Peak(13, "x"), 4, {"c7g.large": 1}, {}) == Addition(9, 9, None)  # vCPUs unknown


def test_a_weighted_group_is_counted_in_capacity_units_against_the_quota_and_addresses() -> None:
    # 4 c7g.large of weight 2 run 8 units (8 vCPUs); the peak of 15 units adds 7: 4 more instances, 8
    # vCPUs, 16 of 20. Units were once taken for instances: 4 running, 11 to add, 22 vCPUs, a FAIL.
    with mock_aws():
        built = world.build(quota=20.0)
        built.aws._clients["autoscaling"] = world.WeightedInstances(built.aws._clients["autoscaling"], 2)
        checks = {c.check: c for c in run_preflight(built.aws, built.config, built.stack, world.NOW)}
    assert checks["vcpu-quota"].status == PASS, checks["vcpu-quota"].detail
    assert (
        "8 vCPUs running + 8 to add (4 instance(s) for 7 capacity units) = 16" in checks["vcpu-quota"].detail
    )
    assert "for 4 instances to add" in checks["subnet-addresses"].detail


def test_mixed_instances_overrides_are_the_instance_types() -> None:
    from surgeguard_cli.preflight import _instance_types

    group = {
        "MixedInstancesPolicy": {
            "LaunchTemplate": {"Overrides": [{"InstanceType": "m5.xlarge"}, {"InstanceType": "c7g.large"}]}
        }
    }
    assert _instance_types({"InstanceType": "t3.micro"}, group) == {"m5.xlarge": 1, "c7g.large": 1}
    assert _instance_types({"InstanceType": "t3.micro"}, {}) == {"t3.micro": 1}


class _SharedAccount:
    """An account where many groups share one vCPU quota and two subnets; every group runs 2 m5.large
    (2 vCPUs each) at desired capacity 2, `big` at 4. No moto: 20 groups would take it minutes."""

    QUOTA, USED = 200.0, 100
    FREE = {"subnet-a": 30, "subnet-b": 100}

    def group(self, name: str) -> dict[str, Any]:
        desired = 4 if name == "big" else 2
        return {
            "DesiredCapacity": desired,
            "MinSize": 2,
            "MaxSize": 40,
            "Instances": [
                {"InstanceId": f"i-{name}-{k}", "LifecycleState": "InService"} for k in range(desired)
            ],
            "VPCZoneIdentifier": ",".join(self.FREE),
        }

    def launch_template_data(self, asg: Any) -> tuple[dict[str, Any], str]:
        return {"InstanceType": "m5.large", "ImageId": "ami-1", "Monitoring": {"Enabled": True}}, "lt"

    def vcpus(self, types: Any) -> dict[str, int]:
        return {"m5.large": 2}

    def vcpu_quota(self) -> float:
        return self.QUOTA

    def running_standard_vcpus(self) -> int:
        return self.USED

    def free_addresses(self, subnets: list[str]) -> dict[str, int]:
        return {s: self.FREE[s] for s in subnets}

    def image_exists(self, image: str) -> bool:
        return True

    def instance_monitoring(self, ids: list[str]) -> dict[str, str]:
        return dict.fromkeys(ids, "enabled")

    def scaling_policies(self, group: str) -> list[Any]:
        return []

    def scheduled_actions(self, group: str) -> list[Any]:
        return []

    def warm_pool(self, group: str) -> None:
        return None

    def metric_series(self, *args: Any) -> dict[Any, float]:
        return {}

    def alarms(self, prefix: str) -> list[Any]:
        return []

    def pause(self, table: str, group: str | None) -> None:
        return None

    def event_states(self, table: str, group: str) -> tuple[list[Any], None]:
        return [], None

    def metric_sum(self, *args: Any) -> float:
        return 0.0


def _sale(name: str, day: int) -> dict[str, Any]:
    return {
        "name": name,
        "start": f"2026-11-{day:02d}T00:00:00",
        "end": f"2026-11-{day:02d}T04:00:00",
        "timezone": "America/New_York",
        "peak_multiplier": 3,
    }


def _shared_config(sale_of: Any) -> Any:
    from surgeguard.config import parse_config

    names = ["big", *(f"shop-{i:02d}" for i in range(19))]
    cpu = [{"kind": "cpu", "target": 50}]
    return parse_config(
        {
            "groups": [
                {"name": n, "min": 2, "max": 20, "signals": cpu, "events": [sale_of(i)]}
                for i, n in enumerate(names)
            ]
        }
    )


def _run_shared(cfg: Any) -> list[Any]:
    from types import SimpleNamespace

    stack = SimpleNamespace(
        name="Surgeguard",
        alarm_prefix="Surgeguard",
        table="audit",
        notify_topic_arn=None,
        schedule_group=None,
        functions=(),
        queues=(),
    )
    return run_preflight(_SharedAccount(), cfg, stack, datetime(2026, 11, 20, tzinfo=UTC))


def test_groups_whose_sales_stand_at_once_are_added_up_against_the_quota_and_each_subnet() -> None:
    # 19 groups add (6 - 2) x 2 = 8 vCPUs, `big` (12 - 4) x 2 = 16: each alone is 100 + 8 (or 16) of
    # 200, but the sale adds 168 at once: 268 of 200. Addresses: 4 (8) instances spread over two
    # subnets, 2 (4) each: 42 in subnet-a, which has 30 free, though each group alone fits.
    checks = _run_shared(_shared_config(lambda i: _sale("black-friday", 27)))
    per_group = [c for c in checks if c.check in ("vcpu-quota", "subnet-addresses")]
    assert len(per_group) == 40 and {c.status for c in per_group} == {PASS}
    (vcpu,) = [c for c in checks if c.check == "vcpu-quota-total"]
    assert (vcpu.status, vcpu.scope) == (FAIL, "black-friday")
    assert "sale window 2026-11-27 " in vcpu.detail
    assert "100 vCPUs running + 168 added by 20 groups at once = 268 of quota 200" in vcpu.detail
    assert "most: big 16 vCPUs, shop-00 8 vCPUs" in vcpu.detail and "and 15 more" in vcpu.detail
    assert "L-1216C47A" in vcpu.fix and "298" in vcpu.fix  # 268 / 0.9, rounded up
    subnets = {c.scope: c for c in checks if c.check == "subnet-addresses-total"}
    assert subnets["subnet-a (black-friday)"].status == FAIL
    assert (
        "42 instances added in subnet-a by 20 groups at once vs 30 free"
        in subnets["subnet-a (black-friday)"].detail
    )
    assert "spread evenly over its subnets" in subnets["subnet-a (black-friday)"].detail
    assert "most: big 4 addresses" in subnets["subnet-a (black-friday)"].detail
    assert subnets["subnet-b (black-friday)"].status == PASS


def test_sales_that_do_not_stand_at_once_are_not_added_up() -> None:
    # Half the groups sell on Black Friday, half on Cyber Monday: 100 + 88 vCPUs (over 90% of 200: a
    # WARN, not the FAIL of 268) and 100 + 80; 22 and 20 addresses in subnet-a, each under 30 / 1.1.
    checks = _run_shared(
        _shared_config(lambda i: _sale("black-friday", 27) if i < 10 else _sale("cyber-monday", 30))
    )
    totals = {(c.check, c.scope): c.status for c in checks if c.check.endswith("-total")}
    assert totals == {
        ("vcpu-quota-total", "black-friday"): WARN,
        ("vcpu-quota-total", "cyber-monday"): PASS,
        ("subnet-addresses-total", "subnet-a (black-friday)"): PASS,
        ("subnet-addresses-total", "subnet-b (black-friday)"): PASS,
        ("subnet-addresses-total", "subnet-a (cyber-monday)"): PASS,
        ("subnet-addresses-total", "subnet-b (cyber-monday)"): PASS,
    }


class _PendingOnOneTopic:
    """moto's SNS, except that every subscription of `topic` awaits its confirmation (as AWS lists it)."""

    def __init__(self, real: Any, topic: str) -> None:
        self._real = real
        self._topic = topic

    def list_subscriptions_by_topic(self, **kwargs: Any) -> dict[str, Any]:
        answer = self._real.list_subscriptions_by_topic(**kwargs)
        if kwargs["TopicArn"] == self._topic:
            for subscription in answer["Subscriptions"]:
                subscription["SubscriptionArn"] = "PendingConfirmation"
        return dict(answer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.usefixtures("aws")
def test_a_group_only_address_unconfirmed_on_the_group_watch_topic_fails() -> None:
    # An address only in a group's notify_emails is also subscribed to the GroupWatch topic (the watch
    # alarms, infra/constructs/topics.py); confirmed on the notifications topic only, it hears no watch
    # alarm. Preflight once read the notifications topic alone and passed.
    from dataclasses import replace

    from surgeguard.config import parse_config

    built = world.build()
    data = world.config_data(notify_emails=[world.EMAIL])
    data["notify_emails"] = []
    config = parse_config(data)
    sns = boto3.client("sns")
    watch = sns.create_topic(Name="Surgeguard-TopicsGroupWatch")["TopicArn"]
    sns.subscribe(TopicArn=watch, Protocol="email", Endpoint=world.EMAIL)
    built.aws._clients["sns"] = _PendingOnOneTopic(sns, watch)
    stack = replace(built.stack, watch_topic_arn=watch)
    (check,) = [c for c in run_preflight(built.aws, config, stack, world.NOW) if c.check == "subscriptions"]
    assert check.status == FAIL
    assert f"not confirmed on the group watch topic: {world.EMAIL}" in check.detail
    assert watch in check.fix
    # Confirmed there too: a pass.
    built.aws._clients["sns"] = sns
    (check,) = [c for c in run_preflight(built.aws, config, stack, world.NOW) if c.check == "subscriptions"]
    assert check.status == PASS


@pytest.mark.usefixtures("aws")
def test_a_stack_without_the_group_watch_output_cannot_vouch_for_group_only_addresses() -> None:
    from surgeguard.config import parse_config

    built = world.build()
    data = world.config_data(notify_emails=[world.EMAIL])
    data["notify_emails"] = []
    (check,) = [
        c
        for c in run_preflight(built.aws, parse_config(data), built.stack, world.NOW)
        if c.check == "subscriptions"
    ]
    # Nothing was found wrong: the check could not run (it once said WARN and exited 0)
    assert check.status == UNCHECKED and "GroupWatchTopicArn" in check.detail


def _anchored_group(**noise: Any) -> Any:
    from surgeguard.config import GroupConfig

    return GroupConfig.model_validate(
        {
            "name": "shop-web",
            "min": 2,
            "max": 20,
            "signals": [
                {
                    "kind": "requests_per_target",
                    "target": 1000,
                    "load_balancer": "app/shop/0123456789abcdef",
                    "target_group": "targetgroup/shop-web/0123456789abcdef",
                }
            ],
            "noise_headroom": {"sigmas": 3, "anchored": True, **noise},
            "forecast": {"mode": "forecast_only"},
        }
    )


def test_an_anchored_group_without_its_metrics_collected_is_warned_of() -> None:
    from surgeguard_cli.preflight import _collection_check

    group = _anchored_group()
    check = _collection_check(group, {"EnabledMetrics": [{"Metric": "GroupInServiceInstances"}]})
    assert check.status == WARN and "GroupTotalInstances" in check.detail and "never anchored" in check.detail
    assert "enable-metrics-collection" in check.fix
    both = [{"Metric": "GroupInServiceInstances"}, {"Metric": "GroupTotalInstances"}]
    assert _collection_check(group, {"EnabledMetrics": both}).status == PASS
    # not anchored: nothing is read from the group's metrics
    plain = _anchored_group(anchored=False)
    assert _collection_check(plain, {}).status == PASS


class DeletedWhileListed:
    """moto's Scheduler, except that one schedule is deleted after ListSchedules named it and before
    GetSchedule reads it, as the sale Lambda deletes its own schedule once its phase is handled."""

    def __init__(self, real: Any, deleted: str) -> None:
        self._real = real
        self._deleted = deleted

    def get_schedule(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs["Name"] == self._deleted:
            self._real.delete_schedule(Name=self._deleted, GroupName=kwargs["GroupName"])
        return dict(self._real.get_schedule(**kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.usefixtures("aws")
def test_a_schedule_deleted_between_its_listing_and_its_reading_is_gone_not_aws_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run just after the pre-warm fired: its schedule is still listed while the sale Lambda deletes
    # it. GetSchedule's ResourceNotFoundException once ended preflight as "cannot read AWS" (exit 3)
    # on the sale's own day, every check unsaid.
    built = world.build()
    plan = plan_event(built.config.groups[0], built.config.groups[0].events[0])
    now = plan.prewarm + timedelta(seconds=30)
    built.clients["scheduler"] = DeletedWhileListed(boto3.client("scheduler"), f"{world.EVENT}-prewarm")
    built.aws = Aws(clients=built.clients)
    path = tmp_path / "surgeguard.yaml"
    path.write_text(yaml.safe_dump(world.config_data()))
    from surgeguard_cli import preflight

    monkeypatch.setattr(built.aws, "stack", lambda name: built.stack)
    code = preflight.main(["--config", str(path), "--json"], aws=built.aws, now=now)
    assert code == output.OK, capsys.readouterr().err
    checks = json.loads(capsys.readouterr().out)["checks"]
    (schedules,) = [c for c in checks if c["check"] == "schedules"]
    assert schedules["status"] == PASS and "2 phase(s) scheduled" in schedules["detail"]


@pytest.mark.usefixtures("aws")
def test_a_schedule_of_a_phase_to_come_deleted_while_listed_fails_as_missing() -> None:
    built = world.build()
    built.clients["scheduler"] = DeletedWhileListed(boto3.client("scheduler"), f"{world.EVENT}-restore")
    checks = [
        c
        for c in run_preflight(Aws(clients=built.clients), built.config, built.stack, world.NOW)
        if c.check == "schedules"
    ]
    assert [c.status for c in checks] == [FAIL]
    assert "restore (2026-12-04 08:30 UTC) has no schedule" in checks[0].detail


@pytest.mark.usefixtures("aws")
def test_an_instance_just_launched_that_ec2_does_not_know_yet_is_left_out_not_aws_unreadable() -> None:
    # Preflight on the sale's day, during the pre-warm: DescribeInstances once ended it as "cannot read
    # AWS" (exit 3) for one instance Auto Scaling had launched a moment before.
    built = world.build()
    (asg,) = boto3.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    launched = asg["Instances"][0]["InstanceId"]
    built.clients["ec2"] = world.NotYetDescribed(built.clients["ec2"], launched)
    checks = run_preflight(Aws(clients=built.clients), built.config, built.stack, world.NOW)
    assert [c for c in checks if c.status != PASS] == []
    (monitoring,) = [c for c in checks if c.check == "detailed-monitoring"]
    assert monitoring.detail == "launch template and instances: detailed (1-minute)"


def test_a_target_group_attached_as_a_traffic_source_is_attached() -> None:
    # AttachTrafficSources (which AWS recommends over AttachLoadBalancerTargetGroups) lists a target group
    # under the group's TrafficSources; read from TargetGroupARNs alone, a correct group FAILed as
    # reading a target group it does not serve
    from surgeguard_cli.preflight import target_group_check

    group = _anchored_group()
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/0123456789abcdef"
    as_source = {"TargetGroupARNs": [], "TrafficSources": [{"Identifier": arn, "Type": "elbv2"}]}
    assert target_group_check(group, as_source).status == PASS
    assert target_group_check(group, {"TargetGroupARNs": [arn]}).status == PASS
    # a VPC Lattice target group's identifier is no ALB target group: the signal still reads nothing
    lattice = {
        "Identifier": "arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-0123",
        "Type": "vpc-lattice",
    }
    assert target_group_check(group, {"TrafficSources": [lattice]}).status == FAIL


# --- A check that could not run is not a pass -------------------------------------------------------


class DeniedQuotas:
    """service-quotas for a caller without servicequotas:GetServiceQuota, as AWS answers it."""

    def get_service_quota(self, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetServiceQuota"
        )


class DeniedSsm:
    """ssm for a caller without ssm:GetParameter on the image's parameter."""

    def get_parameter(self, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetParameter"
        )


def _preflight_json(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[dict[str, Any]], dict[str, int]]:
    from surgeguard_cli import preflight

    path = tmp_path / "surgeguard.yaml"
    path.write_text(yaml.safe_dump(world.config_data()))
    monkeypatch.setattr(built.aws, "stack", lambda name: built.stack)
    code = preflight.main(["--config", str(path), "--json"], aws=built.aws, now=world.NOW)
    data = json.loads(capsys.readouterr().out)
    return code, data["checks"], data["summary"]


@pytest.mark.usefixtures("aws")
def test_a_vcpu_quota_that_could_not_be_read_is_unchecked_and_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # It was a WARN, and a run whose quota nobody saw exited 0 as if it had passed
    built = world.build()
    built.aws._clients["service-quotas"] = DeniedQuotas()
    code, checks, summary = _preflight_json(built, tmp_path, capsys, monkeypatch)
    assert [(c["check"], c["status"]) for c in checks if c["status"] != PASS] == [("vcpu-quota", UNCHECKED)]
    assert "could not be read" in checks[0]["detail"] and "AccessDeniedException" in checks[0]["detail"]
    assert (code, summary) == (output.UNCHECKED, {PASS: len(checks) - 1, WARN: 0, FAIL: 0, UNCHECKED: 1})


@pytest.mark.usefixtures("aws")
def test_an_image_parameter_that_could_not_be_read_is_unchecked_and_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = world.build()
    ec2 = boto3.client("ec2")
    # moto copies no data from SourceVersion: the version says all of it, as the group's first does
    ec2.create_launch_template_version(
        LaunchTemplateName="shop-web-lt",
        LaunchTemplateData={
            "ImageId": "resolve:ssm:/shop/ami",
            "InstanceType": "c7g.large",
            "Monitoring": {"Enabled": True},
        },
    )
    ec2.modify_launch_template(LaunchTemplateName="shop-web-lt", DefaultVersion="2")
    built.aws._clients["ssm"] = DeniedSsm()
    code, checks, _ = _preflight_json(built, tmp_path, capsys, monkeypatch)
    assert [(c["check"], c["status"]) for c in checks if c["status"] != PASS] == [
        ("launch-template", UNCHECKED)
    ]
    assert code == output.UNCHECKED


@pytest.mark.usefixtures("aws")
def test_a_failure_outranks_a_check_that_could_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = world.build(max_size=10)
    built.aws._clients["service-quotas"] = DeniedQuotas()
    code, checks, _ = _preflight_json(built, tmp_path, capsys, monkeypatch)
    assert {(c["check"], c["status"]) for c in checks if c["status"] != PASS} == {
        ("vcpu-quota", UNCHECKED),
        ("max-size", FAIL),
    }
    assert code == output.FOUND


@pytest.mark.usefixtures("aws")
def test_a_warning_is_a_finding_and_still_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = world.build()
    boto3.client("dynamodb").put_item(
        TableName=built.stack.table,
        Item={"pk": {"S": "CONTROL"}, "sk": {"S": "*"}, "pause": {"S": "all"}, "set_by": {"S": "ana"}},
    )
    code, checks, _ = _preflight_json(built, tmp_path, capsys, monkeypatch)
    assert [(c["check"], c["status"]) for c in checks if c["status"] != PASS] == [("kill-switch", WARN)]
    assert code == output.OK


def test_a_vcpu_check_without_the_types_or_their_quota_is_unchecked_not_warned() -> None:
    peak = Peak(10, "x")
    assert vcpu_check("g", peak, Addition(10, 10, None), 0, 100.0, True).status == UNCHECKED
    assert vcpu_check("g", peak, Addition(10, 10, 20), 0, 100.0, False).status == UNCHECKED
    assert vcpu_check("g", peak, Addition(10, 10, 20), 0, None, True).status == UNCHECKED


def test_addresses_of_a_group_that_names_no_subnets_are_unchecked() -> None:
    from surgeguard_cli.preflight import address_check

    assert address_check("g", Addition(10, 10, 20), {}).status == UNCHECKED


def test_the_text_summary_counts_what_could_not_be_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from surgeguard_cli import preflight

    with mock_aws():
        built = world.build()
        built.aws._clients["service-quotas"] = DeniedQuotas()
        path = tmp_path / "surgeguard.yaml"
        path.write_text(yaml.safe_dump(world.config_data()))
        monkeypatch.setattr(built.aws, "stack", lambda name: built.stack)
        code = preflight.main(["--config", str(path)], aws=built.aws, now=world.NOW)
    text = capsys.readouterr().out
    assert code == output.UNCHECKED
    assert "0 WARN, 0 FAIL, 1 UNCHECKED" in text


def test_the_help_says_what_exit_4_means(capsys: pytest.CaptureFixture[str]) -> None:
    from surgeguard_cli import preflight

    with pytest.raises(SystemExit):
        preflight.main(["--help"])
    assert "4 some check could not run (UNCHECKED)" in capsys.readouterr().out
