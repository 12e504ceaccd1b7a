"""The stack exports the group watch topic's ARN (GroupWatchTopicArn) when it has one: `surgeguard
preflight` reads it to check that an address found only in groups' notify_emails confirmed that topic's
subscription too, where the watch alarms reach it (infra/constructs/topics.py)."""

from __future__ import annotations

from synth_support import Synth

from infra.stack import email_scopes
from surgeguard.config import ScalerConfig


def test_the_group_watch_topics_arn_is_a_stack_output(synth: Synth, config: ScalerConfig) -> None:
    # The shipped config's only address is a group's own: the stack has the group watch topic.
    assert any(groups is not None for groups in email_scopes(config).values())
    (watch_topic,) = [
        logical_id
        for logical_id, topic in synth.of_type("AWS::SNS::Topic").items()
        if topic["Properties"]["DisplayName"] == "Surgeguard watch alarms for group emails"
    ]
    assert synth.template["Outputs"]["GroupWatchTopicArn"]["Value"] == {"Ref": watch_topic}
    # Its subscriptions are the ones preflight then checks.
    subscribed = [
        s["Properties"]["Endpoint"]
        for s in synth.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == {"Ref": watch_topic}
    ]
    assert subscribed == [e for e, groups in email_scopes(config).items() if groups is not None]


def test_no_group_watch_output_without_the_topic(sales_synth: Synth) -> None:
    assert not [
        t
        for t in sales_synth.of_type("AWS::SNS::Topic").values()
        if t["Properties"]["DisplayName"] == "Surgeguard watch alarms for group emails"
    ]
    assert "GroupWatchTopicArn" not in sales_synth.template["Outputs"]
