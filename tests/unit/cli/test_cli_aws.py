"""The CLI's AWS adapter: finding a deployed stack's table, topic and failure queues through
CloudFormation (moto), the audit table read by time range, and errors turned into exit code 3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from surgeguard.adapters.audit_store import AuditStore, create_local_table
from surgeguard_cli import main as cli
from surgeguard_cli import output
from surgeguard_cli.aws import Aws, AwsError

TEMPLATE = {
    "Resources": {
        "Audit": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
            },
        },
        "Notifications": {"Type": "AWS::SNS::Topic"},
        "FailedInvocations": {"Type": "AWS::SQS::Queue"},
    },
    "Outputs": {
        "AuditTableName": {"Value": {"Ref": "Audit"}},
        "NotificationsTopicArn": {"Value": {"Ref": "Notifications"}},
    },
}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.mark.usefixtures("aws")
def test_stack_names_its_table_topic_and_queues() -> None:
    boto3.client("cloudformation").create_stack(StackName="Surgeguard", TemplateBody=json.dumps(TEMPLATE))
    stack = Aws().stack("Surgeguard")
    assert stack.table in boto3.client("dynamodb").list_tables()["TableNames"]
    assert stack.notify_topic_arn and stack.notify_topic_arn.startswith("arn:aws:sns:")
    (queue,) = stack.queues
    assert queue in boto3.client("sqs").list_queues()["QueueUrls"]
    assert stack.schedule_group is None and stack.alarm_prefix == "Surgeguard"
    assert stack.watch_topic_arn is None  # no address only in groups' notify_emails: no such topic


@pytest.mark.usefixtures("aws")
def test_stack_names_its_group_watch_topic_when_it_has_one() -> None:
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["GroupWatch"] = {"Type": "AWS::SNS::Topic"}
    template["Outputs"]["GroupWatchTopicArn"] = {"Value": {"Ref": "GroupWatch"}}
    boto3.client("cloudformation").create_stack(StackName="Surgeguard", TemplateBody=json.dumps(template))
    stack = Aws().stack("Surgeguard")
    assert stack.watch_topic_arn and stack.watch_topic_arn != stack.notify_topic_arn
    assert stack.watch_topic_arn in [t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]]


@pytest.mark.usefixtures("aws")
def test_a_missing_stack_is_an_aws_error_and_exit_code_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(AwsError, match="ValidationError"):
        Aws().stack("Nope")
    config = tmp_path / "surgeguard.json"
    config.write_text(
        json.dumps(
            {"groups": [{"name": "g", "min": 1, "max": 2, "signals": [{"kind": "cpu", "target": 50}]}]}
        )
    )
    assert cli.main(["status", "--config", str(config), "--stack", "Nope"]) == output.AWS
    assert "cannot read AWS" in capsys.readouterr().err


@pytest.mark.usefixtures("aws")
def test_audit_records_by_time_range_and_latest() -> None:
    client = boto3.client("dynamodb")
    create_local_table(client, "audit")
    store = AuditStore("audit", client)
    start = datetime(2026, 11, 27, tzinfo=UTC)
    for minute in range(10):
        at = (start + timedelta(minutes=minute)).isoformat(timespec="milliseconds")
        store.write_audit({"group": "g", "at": at, "delivery_id": f"d{minute}", "outcome": "unchanged"})
    aws = Aws()
    window = aws.audit_records("audit", "g", start + timedelta(minutes=3), start + timedelta(minutes=6))
    assert [r["delivery_id"] for r in window] == ["d3", "d4", "d5"]
    assert [r["delivery_id"] for r in aws.audit_records("audit", "g", latest=2)] == ["d8", "d9"]


def test_the_standard_vcpu_quota_counts_its_families_only() -> None:
    """L-1216C47A is "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"; Inf, DL, Trn,
    HPC and Mac instances have quotas of their own."""
    from surgeguard_cli.aws import is_standard

    assert all(
        is_standard(t) for t in ("c7g.large", "m7i-flex.large", "im4gn.large", "z1d.large", "t4g.nano")
    )
    assert not any(
        is_standard(t)
        for t in ("inf2.xlarge", "dl1.24xlarge", "trn1.2xlarge", "hpc6a.48xlarge", "mac2.metal")
    )


def test_json_output_is_json_when_a_figure_is_not_finite() -> None:
    # json.dumps writes NaN and Infinity, which no JSON reader (jq, JSON.parse) takes: a reading or a
    # figure that is not a number is null, as an unknown one is
    import io
    import json

    from surgeguard_cli import output

    written = io.StringIO()
    output.print_json(
        {"value": float("nan"), "rows": [{"over": float("inf")}, (1.5, float("-inf"))]}, written
    )

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    assert json.loads(written.getvalue(), parse_constant=refuse) == {
        "value": None,
        "rows": [{"over": None}, [1.5, None]],
    }
