"""One re-evaluation decides a whole shard (up to 50 groups) under one trigger claim, and every group's
record is stashed in that one item before its change is applied. DynamoDB refuses an item over 400 KB:
with 50 groups of 255-character non-ASCII names and 4 signals each, the stash reached 432 KB, and the
last groups' decisions were saved but never applied (then taken for another writer's change)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from surgeguard.adapters import clients
from surgeguard.adapters.audit_store import CLAIM_ITEM_ROOM, STASH_ATTEMPTS, STASH_RECORD_BUDGET, stash_json
from surgeguard.config import REEVALUATION_GROUPS_PER_SHARD, Direction, alarm_name, parse_config
from surgeguard.handlers import alarm

from .support import PREFIX, LambdaContext, at, reevaluation, write_config

LOAD_BALANCER = "app/shop-alb/50dc6c495c0c9188"


def _group(index: int, name: str) -> dict[str, Any]:
    signals = [
        {
            "kind": "requests_per_target",
            "id": f"tg{j}",
            "target": 1000,
            "load_balancer": LOAD_BALANCER,
            "target_group": f"targetgroup/g{index:02d}t{j}/{index * 16 + j:016x}",
        }
        for j in range(4)
    ]
    return {"name": name, "min": 1, "max": 40, "signals": signals, "scale_out": {"max_step_percent": 100}}


def test_a_whole_shard_of_long_named_groups_is_stashed_within_one_item(
    config_file: Any, make_asg: Callable[..., str]
) -> None:
    # GIVEN a full shard: 50 groups named with 255 non-ASCII characters, 4 signals each, all in ALARM
    names = [(f"g{i:02d}-" + "ü" * 255)[:255] for i in range(REEVALUATION_GROUPS_PER_SHARD)]
    config = {"audit_retention_days": 30, "groups": [_group(i, name) for i, name in enumerate(names)]}
    parsed = parse_config(config)
    assert parsed.reevaluation_shards == 1
    write_config(config)
    alarm._wiring.cache_clear()
    cloudwatch = boto3.client("cloudwatch")
    for group in parsed.groups:
        make_asg(group.name, desired=2, max_size=40)
        for signal in group.signals:
            dimensions = [{"Name": "TargetGroup", "Value": signal.target_group}]  # type: ignore[union-attr]
            cloudwatch.put_metric_data(
                Namespace="AWS/ApplicationELB",
                MetricData=[
                    {
                        "MetricName": "RequestCountPerTarget",
                        "Dimensions": dimensions,
                        "Timestamp": at(60),
                        "Value": 3000.0,
                    }
                ],
            )
            name = alarm_name(PREFIX, group.name, signal.id, Direction.OUT)
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/ApplicationELB",
                MetricName="RequestCountPerTarget",
                Dimensions=dimensions,
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1000,
                ComparisonOperator="GreaterThanThreshold",
            )
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    stashed: list[str] = []

    def keep_stash(params: dict[str, Any], **_: Any) -> None:
        if "#pending" in params.get("ExpressionAttributeNames", {}) and ":record" in params.get(
            "ExpressionAttributeValues", {}
        ):
            stashed.append(params["ExpressionAttributeValues"][":record"]["L"][0]["S"])

    clients.client("dynamodb").meta.events.register("provide-client-params.dynamodb.UpdateItem", keep_stash)
    # WHEN the re-evaluation decides the shard
    out = alarm.lambda_handler(reevaluation(2), LambdaContext())
    # THEN every group is scaled, none failed: the claim's stash stayed within the item limit
    assert [r["outcome"] for r in out["records"]] == ["applied"] * REEVALUATION_GROUPS_PER_SHARD
    assert len(stashed) == REEVALUATION_GROUPS_PER_SHARD
    # (DynamoDB's size rule: a string's UTF-8 bytes, a list 3 bytes and 1 per element)
    assert 3 + sum(1 + len(s.encode()) for s in stashed) * STASH_ATTEMPTS <= CLAIM_ITEM_ROOM
    # and what a stash says is still the decision, said to have left its evidence out
    first = json.loads(stashed[0])
    assert (first["outcome"], first["previous_desired"], first["new_desired"]) == ("applied", 2, 4)
    assert "inputs, candidates" in first.get("stash_trimmed", "")


def test_an_everyday_record_is_stashed_whole() -> None:
    record = {
        "group": "shop-web",
        "outcome": "applied",
        "reason": "scale out 2 -> 4: cpu=80 vs target 50 on 2 serving -> 4",
        "inputs": {"readings": [{"signal_id": "cpu", "value": 80.0}]},
        "candidates": [{"rule": "cpu", "needed": 4}],
        "clamps": [],
    }
    assert json.loads(stash_json(record)) == record


def test_no_record_is_stashed_over_its_budget_whatever_its_reason() -> None:
    record = {"group": "ü" * 255, "outcome": "applied", "reason": "𝔁" * 4096, "inputs": {"x": "y" * 9000}}
    text = stash_json(record)
    assert len(text.encode()) <= STASH_RECORD_BUDGET
    kept = json.loads(text)
    assert kept["group"] == record["group"] and kept["reason"].endswith("...")


def test_notes_are_cut_before_the_reason_and_the_budget_always_holds() -> None:
    # A 255-character CJK name and the notes of damaged items (512 characters each) once passed the
    # budget with the reason already cut to "..."
    record = {
        "group": "店" * 255,
        "outcome": "applied",
        "previous_desired": 2,
        "new_desired": 4,
        "reason": "scale out 2 -> 4: requests_per_target=3000 vs target 1000 on 2 serving -> 6",
        "trigger": {"id": "exec-1", "source": "reevaluate", "in_alarm": []},
        "event_items": "malformed, ignored: " + "春の大感謝祭セール" * 54,
        "state_item": "malformed, started afresh: " + "店" * 485,
    }
    kept = json.loads(stash_json(record))
    assert len(stash_json(record).encode()) <= STASH_RECORD_BUDGET
    assert kept["reason"] == record["reason"] and kept["new_desired"] == 4
    assert kept["event_items"].endswith("...") and "the end of event_items" in kept["stash_trimmed"]
    # ... and with notes no cut can bring under it, what the retry audits the change by is what stays
    heavy = {**record, **{f"note_{i}": "店" * 119 for i in range(20)}}
    assert len(stash_json(heavy).encode()) <= STASH_RECORD_BUDGET
    assert json.loads(stash_json(heavy))["new_desired"] == 4


def test_a_record_over_its_budget_by_its_inputs_keeps_its_whole_reason() -> None:
    # The notes' cut once ran on every record over its budget, the reason included: cut to 120 characters
    # though dropping the inputs alone was enough
    reason = "scale out 4 -> 9: " + "requests_per_target=3000 vs target 1000 on 3 serving; " * 4
    record = {"group": "web", "outcome": "applied", "new_desired": 9, "reason": reason}
    record["inputs"] = {"x": "y" * 4000}
    kept = json.loads(stash_json(record))
    assert kept["reason"] == reason and "inputs" not in kept
