"""pause / resume / audit: a table for people, --json for scripts, exit code 3 when the table is not there."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from surgeguard.adapters.audit_store import AuditStore, create_local_table
from surgeguard.domain.model import Pause
from surgeguard_cli import main as cli
from surgeguard_cli import output


@pytest.fixture
def table() -> Iterator[str]:
    with mock_aws():
        create_local_table(boto3.client("dynamodb"), "audit")
        yield "audit"


def test_pause_json_and_audit_table_and_json(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    _group("web")
    assert cli.main(["pause", "--table", table, "--group", "web", "--direction", "in", "--json"]) == output.OK
    assert json.loads(capsys.readouterr().out) == {"group": "web", "pause": "in"}
    store = AuditStore(table, boto3.client("dynamodb"))
    for minute in range(3):
        store.write_audit(
            {
                "group": "web",
                "at": f"2026-11-27T05:0{minute}:00.000+00:00",
                "delivery_id": f"d{minute}",
                "outcome": "applied",
                "previous_desired": minute,
                "new_desired": minute + 1,
                "reason": f"step {minute}",
            }
        )
    assert cli.main(["audit", "--table", table, "--group", "web", "--limit", "2"]) == output.OK
    text = capsys.readouterr().out
    assert "step 2" in text and "step 1" in text and "step 0" not in text
    assert cli.main(["audit", "--table", table, "--group", "web", "--json"]) == output.OK
    assert [r["reason"] for r in json.loads(capsys.readouterr().out)] == ["step 2", "step 1", "step 0"]


def test_a_missing_table_exits_3(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["resume", "--table", "nope", "--all"]) == output.AWS
    assert "cannot reach the audit table" in capsys.readouterr().err


def _group(name: str) -> None:
    boto3.client("ec2", region_name="us-east-1")
    autoscaling = boto3.client("autoscaling")
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.micro"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchConfigurationName="lc",
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        AvailabilityZones=["us-east-1a"],
    )


@pytest.mark.parametrize("command", ["pause", "resume"])
def test_a_group_name_with_a_typo_switches_nothing(
    command: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In an emergency `pause --group shop-wbe` once said "shop-wbe: pause=all" and paused nothing at all;
    # `resume` with the typo left the real group paused.
    _group("shop-web")
    assert cli.main([command, "--table", table, "--group", "shop-wbe"]) == output.USAGE
    err = capsys.readouterr().err
    assert "no Auto Scaling group 'shop-wbe'" in err and "nothing switched" in err
    store = AuditStore(table, boto3.client("dynamodb"))
    assert store.load_pause("shop-wbe") is Pause.NONE  # no control item written for it
    assert cli.main(["pause", "--table", table, "--group", "shop-web"]) == output.OK
    assert store.load_pause("shop-web") is Pause.ALL
    # A group not created yet can be switched on purpose.
    assert cli.main([command, "--table", table, "--group", "shop-wbe", "--force"]) == output.OK


def test_a_group_that_cannot_be_looked_up_is_switched_with_a_warning(
    table: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from surgeguard.adapters.autoscaling import AutoScalingFleet
    from surgeguard.adapters.errors import AwsCallError

    def denied(self: object, name: str) -> None:
        raise AwsCallError("DescribeAutoScalingGroups", "AccessDenied", "not authorized")

    monkeypatch.setattr(AutoScalingFleet, "describe", denied)
    assert cli.main(["pause", "--table", table, "--group", "web"]) == output.OK
    assert "could not check that Auto Scaling group 'web' exists" in capsys.readouterr().err
    assert AuditStore(table, boto3.client("dynamodb")).load_pause("web") is Pause.ALL


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from surgeguard.adapters import clients

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    clients.client.cache_clear()  # a client made with a region earlier would hide the missing one
    yield
    clients.client.cache_clear()


@pytest.mark.parametrize(
    "argv",
    [
        ["pause", "--table", "audit", "--all"],
        ["resume", "--table", "audit", "--group", "web"],  # the group lookup's client comes first
        ["audit", "--table", "audit", "--group", "web"],
    ],
)
@pytest.mark.usefixtures("no_region")
def test_no_region_configured_exits_3_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # botocore raises NoRegionError where it makes the client, outside the adapter's call: it once
    # escaped as a traceback.
    assert cli.main(argv) == output.AWS
    assert "cannot reach AWS: NoRegionError" in capsys.readouterr().err
