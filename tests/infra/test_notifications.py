"""Who hears what (infra/constructs/topics.py): the watch alarms reach every address, a group's
decisions only its own people, and SNS's filter-policy limits fail the synth, not the deploy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Template
from synth_support import ACCOUNT, REGION, STACK_NAME, Synth

from infra.constructs.topics import (
    FILTER_POLICIES_CONTEXT,
    FILTER_POLICIES_PER_TOPIC,
    MAX_FILTER_VALUES,
    ScalerTopics,
)
from infra.stack import SurgeguardStack, email_scopes, notify_emails
from surgeguard.config import ScalerConfig, parse_config

CPU = [{"kind": "cpu", "target": 50}]


def _config(groups: int, email: Any = lambda i: None, top_level: list[str] | None = None) -> ScalerConfig:
    raw: dict[str, Any] = {
        "groups": [
            {"name": f"g{i:03d}", "min": 1, "max": 9, "signals": CPU, "notify_emails": email(i) or []}
            for i in range(groups)
        ]
    }
    if top_level:
        raw["notify_emails"] = top_level
    return parse_config(raw)


def _topics(config: ScalerConfig, **context: Any) -> dict[str, dict[str, Any]]:
    stack = Stack(App(context=context), "T", env=Environment(account=ACCOUNT, region=REGION))
    ScalerTopics(stack, "Topics", alarm_prefix="T", subscribers=email_scopes(config))
    return Template.from_stack(stack).to_json()["Resources"]


def _subscriptions(resources: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]


def _topic(resources: dict[str, dict[str, Any]], display_name: str) -> dict[str, str]:
    (logical_id,) = [
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::SNS::Topic" and r["Properties"]["DisplayName"] == display_name
    ]
    return {"Ref": logical_id}


def test_every_address_hears_every_watch_alarm_with_the_shipped_config(
    synth: Synth, config: ScalerConfig
) -> None:
    # CloudWatch's alarm notifications carry no message attributes: a subscription filtering on
    # `group` never passes one. surgeguard.yaml has only a group's own address (checkout-oncall), so
    # every watch alarm must reach it through a subscription without such a filter.
    assert config.notify_emails == [] and notify_emails(config)
    unfiltered: dict[str, set[str]] = {}  # topic logical id -> addresses that hear all of it
    for sub in _subscriptions(synth.resources):
        if sub["Protocol"] == "email" and "FilterPolicy" not in sub:
            unfiltered.setdefault(sub["TopicArn"]["Ref"], set()).add(sub["Endpoint"])
    watch = [
        r["Properties"]
        for r in synth.of_type("AWS::CloudWatch::Alarm").values()
        if r["Properties"]["AlarmName"].startswith(f"{STACK_NAME}/watch/")
    ]
    assert watch
    for alarm in watch:
        for actions in (alarm["AlarmActions"], alarm["OKActions"]):
            told = set().union(*(unfiltered.get(a["Ref"], set()) for a in actions))
            assert told == set(notify_emails(config)), (alarm["AlarmName"], actions)


def test_group_watch_topic_takes_only_the_stacks_alarms_and_its_people_unfiltered() -> None:
    config = _config(
        3, email=lambda i: ["team@example.com"] if i < 2 else ["c@example.com"], top_level=["all@example.com"]
    )
    resources = _topics(config)
    notifications = _topic(resources, "Surgeguard notifications")
    group_watch = _topic(resources, "Surgeguard watch alarms for group emails")
    subs = _subscriptions(resources)
    # decisions: a group's people only through their `group` filter; the top-level address hears all
    assert {s["Endpoint"]: s.get("FilterPolicy") for s in subs if s["TopicArn"] == notifications} == {
        "all@example.com": None,
        "team@example.com": {"group": ["g000", "g001"]},
        "c@example.com": {"group": ["g002"]},
    }
    # the watch alarms: the group-scoped addresses, with no filter (the top-level one is told by the
    # notifications topic already)
    assert {s["Endpoint"]: s.get("FilterPolicy") for s in subs if s["TopicArn"] == group_watch} == {
        "team@example.com": None,
        "c@example.com": None,
    }
    (policy,) = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources.values()
        if r["Type"] == "AWS::SNS::TopicPolicy" and r["Properties"]["Topics"] == [group_watch]
    ]
    (allow,) = [s for s in policy if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert "alarm:T/*" in str(allow["Condition"]["ArnLike"])


def test_no_group_watch_topic_without_group_scoped_addresses() -> None:
    resources = _topics(_config(2, top_level=["all@example.com"]))
    topics = sorted(
        r["Properties"]["DisplayName"] for r in resources.values() if r["Type"] == "AWS::SNS::Topic"
    )
    assert topics == ["Surgeguard alarm signals", "Surgeguard notifications"]


def test_one_address_on_more_groups_than_a_filter_policy_holds_fails_with_its_name() -> None:
    at_limit = _config(
        MAX_FILTER_VALUES + 10, email=lambda i: ["oncall@example.com"] * (i < MAX_FILTER_VALUES)
    )
    (policy,) = [s["FilterPolicy"] for s in _subscriptions(_topics(at_limit)) if "FilterPolicy" in s]
    assert len(policy["group"]) == MAX_FILTER_VALUES
    over = _config(MAX_FILTER_VALUES + 10, email=lambda i: ["oncall@example.com"] * (i <= MAX_FILTER_VALUES))
    with pytest.raises(ValueError, match=r"oncall@example\.com .*151 groups") as raised:
        _topics(over)
    assert f"at most {MAX_FILTER_VALUES}" in str(raised.value)
    assert "top-level notify_emails" in str(raised.value)


def test_more_group_scoped_addresses_than_a_topics_filter_policies_fail_the_synth() -> None:
    at_quota = _config(FILTER_POLICIES_PER_TOPIC, email=lambda i: [f"team-{i}@example.com"])
    assert sum("FilterPolicy" in s for s in _subscriptions(_topics(at_quota))) == FILTER_POLICIES_PER_TOPIC
    over = _config(FILTER_POLICIES_PER_TOPIC + 1, email=lambda i: [f"team-{i}@example.com"])
    with pytest.raises(ValueError, match=f"{FILTER_POLICIES_PER_TOPIC + 1} addresses") as raised:
        _topics(over)
    message = str(raised.value)
    assert f"{FILTER_POLICIES_PER_TOPIC} filter policies per topic" in message
    assert "top-level notify_emails" in message and f"-c {FILTER_POLICIES_CONTEXT}=" in message
    # a raised quota, given to the synth, lets it through; a nonsense one is refused
    raised_quota = _topics(over, **{FILTER_POLICIES_CONTEXT: "300"})
    assert sum("FilterPolicy" in s for s in _subscriptions(raised_quota)) == FILTER_POLICIES_PER_TOPIC + 1
    with pytest.raises(ValueError, match=FILTER_POLICIES_CONTEXT):
        _topics(over, **{FILTER_POLICIES_CONTEXT: "lots"})


def test_a_nested_stack_full_of_subscriptions_says_so_rather_than_ask_for_nested() -> None:
    # Email subscriptions stay in the stack itself whatever the layout: 200 group-scoped addresses
    # (two subscriptions each) and 60 top-level ones: about 510, every group's resources nested.
    config = _config(
        FILTER_POLICIES_PER_TOPIC,
        email=lambda i: [f"team-{i}@example.com"],
        top_level=[f"all-{k}@example.com" for k in range(60)],
    )
    with pytest.raises(ValueError, match="resources") as raised:
        SurgeguardStack(
            App(),
            STACK_NAME,
            config=config,
            now=datetime(2026, 11, 1, tzinfo=UTC),
            layout="nested",
            env=Environment(account=ACCOUNT, region=REGION),
        )
    message = str(raised.value)
    assert "notify_emails" in message and "surgeguard_layout=nested" not in message
