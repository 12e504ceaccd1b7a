"""pause / resume / audit: a table for people, --json for scripts, exit code 3 when the table is not there."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from surgeguard.adapters.audit_store import AuditStore, create_local_table
from surgeguard_cli import main as cli
from surgeguard_cli import output


@pytest.fixture
def table() -> Iterator[str]:
    with mock_aws():
        create_local_table(boto3.client("dynamodb"), "audit")
        yield "audit"


def test_pause_json_and_audit_table_and_json(table: str, capsys: pytest.CaptureFixture[str]) -> None:
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
