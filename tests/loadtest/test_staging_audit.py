"""`--host` mode's live view: a deployed stack's audit records (moto's DynamoDB) beside Locust's numbers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from loadtest.audit_tail import AuditTail, describe
from loadtest.shape import Plan
from loadtest.staging import read_locust_totals, watch
from surgeguard.adapters.audit_store import AuditStore, create_local_table

TABLE = "surgeguard-audit"
GROUP = "shop-web"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_local_table(client, TABLE)
        yield client


def _record(at: str, delivery: str, outcome: str = "applied", **extra: Any) -> dict[str, Any]:
    return {"group": GROUP, "at": at, "delivery_id": delivery, "outcome": outcome, "reason": "r", **extra}


def test_tail_shows_each_new_record_once_oldest_first(dynamodb: Any) -> None:
    store = AuditStore(TABLE, dynamodb)
    store.write_audit(_record("2026-11-27T05:00:00.000+00:00", "old"))
    tail = AuditTail(TABLE, GROUP, api=dynamodb)
    assert tail.prime() == 1  # what was there before the test is not shown
    store.write_audit(_record("2026-11-27T05:02:00.000+00:00", "b", previous_desired=4, new_desired=9))
    store.write_audit(_record("2026-11-27T05:01:00.000+00:00", "a", outcome="unchanged"))
    store.write_audit({**_record("2026-11-27T05:01:30.000+00:00", "x"), "group": "other-group"})
    fresh = tail.poll()
    assert [r["delivery_id"] for r in fresh] == ["a", "b"]
    assert tail.poll() == []
    assert "applied 4 -> 9" in describe(fresh[1])


def test_locust_totals_are_read_from_its_csv(tmp_path: Path) -> None:
    stats = tmp_path / "s_stats.csv"
    assert read_locust_totals(stats) is None
    stats.write_text(
        "Type,Name,Request Count,Failure Count,Requests/s,95%\n"
        "GET,/products/[id],10,1,2.0,120\n"
        ",Aggregated,25,3,5.0,180\n"
    )
    sample = read_locust_totals(stats)
    assert sample is not None and (sample.requests, sample.failures, sample.p95_ms) == (25, 3, 180.0)


def test_watch_prints_the_load_and_the_decisions_of_each_minute(dynamodb: Any, tmp_path: Path) -> None:
    store = AuditStore(TABLE, dynamodb)
    tail = AuditTail(TABLE, GROUP, api=dynamodb)
    tail.prime()
    stats = tmp_path / "s_stats.csv"
    stats.write_text("Type,Name,Request Count,Failure Count,Requests/s,95%\n,Aggregated,12,0,5.0,90\n")
    store.write_audit(_record("2026-11-27T05:03:00.000+00:00", "c", previous_desired=2, new_desired=5))
    plan = Plan("t", (10.0, 20.0), 0.2, time.time(), "2026-11-27T05:00:00+00:00", 10)
    # A stand-in for Locust that lives exactly as long as the plan.
    locust = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    lines: list[str] = []
    try:
        shown = watch(plan, locust, stats, tail, describe, lines.append)
    finally:
        locust.wait(5)
    assert shown == 2
    assert lines[0].startswith("minute    0  target    10.0 req/s  sent    60.0 req/s")
    assert any("applied 2 -> 5" in line for line in lines)
