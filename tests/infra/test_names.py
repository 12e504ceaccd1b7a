"""Names a config may hold that the stack once could not: group names as construct ids, and a composite
alarm's description past CloudWatch's 1,024 characters."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from synth_support import ACCOUNT, REGION, SALES_NOW, cdk_context

from infra.application import build
from surgeguard.config import parse_config

SALE = {
    "name": "doorbuster",
    "start": "2026-11-27T00:00:00",
    "end": "2026-11-27T02:00:00",
    "timezone": "America/New_York",
    "peak_multiplier": 4,
}


def _group(name: str, **changes: Any) -> dict[str, Any]:
    return {"name": name, "min": 1, "max": 10, "signals": [{"kind": "cpu", "target": 50}], **changes}


def _template(*groups: dict[str, Any]) -> Template:
    app = cdk.App(context=cdk_context())
    config = parse_config({"groups": list(groups)}, source="test config")
    (stack,) = build(app, config, env=cdk.Environment(account=ACCOUNT, region=REGION), now=SALES_NOW)
    return Template.from_stack(stack)


@pytest.mark.parametrize("name", ["Handler", "Group", "SchedulerRole"])
def test_a_group_named_as_a_part_of_the_sale_schedules_gets_its_schedules(name: str) -> None:
    # A valid Auto Scaling group name; it once crashed the synth ("There is already a Construct with
    # name 'Handler'"), the sale Lambda's own part beside the group's schedules
    template = _template(_group(name, events=[SALE]))
    schedules = template.find_resources("AWS::Scheduler::Schedule").values()
    phases = [s["Metadata"]["Surgeguard"]["phase"] for s in schedules if "Metadata" in s]
    assert sorted(phases) == ["prewarm", "release", "restore"]


def test_groups_whose_names_differ_only_by_slash_against_dashes_fail_by_name() -> None:
    with pytest.raises(ValueError, match="'a/b' and 'a--b'"):
        _template(_group("a/b"), _group("a--b"))


def test_a_composite_alarms_description_fits_cloudwatch() -> None:
    # A 200-character group name and four signals: the composite's description named its members' full
    # alarm names, 1,134 characters, and the deploy failed (AlarmDescription: at most 1,024)
    signals = [{"kind": "cpu", "id": f"cpu{i}", "target": 50 + i} for i in range(4)]
    group = _group(
        "g" * 200, signals=signals, composites=[{"id": "all", "all_of": [s["id"] for s in signals]}]
    )
    composites = _template(group).find_resources("AWS::CloudWatch::CompositeAlarm")
    assert composites
    assert all(len(c["Properties"]["AlarmDescription"]) <= 1024 for c in composites.values())


def test_a_group_named_as_another_groups_place_beside_the_sale_schedules_parts_gets_its_schedules() -> None:
    # "Handler" is placed as "group-Handler" beside the sale Lambda's own part; a group of that very name
    # listed first took the id, and the synth crashed ("There is already a Construct with name ...")
    template = _template(_group("group-Handler", events=[SALE]), _group("Handler", events=[SALE]))
    schedules = template.find_resources("AWS::Scheduler::Schedule").values()
    groups = [s["Metadata"]["Surgeguard"]["group"] for s in schedules if "Metadata" in s]
    assert sorted(groups) == ["Handler"] * 3 + ["group-Handler"] * 3


# PutCompositeAlarm's AlarmRule: at most 10,240 characters. CDK writes an all_of rule as
# (ALARM("<arn>") AND ALARM("<arn>") ...), each child by the ARN CloudFormation gives its alarm.
ALARM_RULE_LIMIT = 10_240


def _composite_of(id_lengths: list[int]) -> dict[str, Any]:
    """A 200-character group whose one composite lists a signal per id length (ids padded to it)."""
    ids = [f"s{i:02d}".ljust(length, "x") for i, length in enumerate(id_lengths)]
    signals = [{"kind": "cpu", "id": signal_id, "target": 50} for signal_id in ids]
    return _group("g" * 200, signals=signals, composites=[{"id": "all", "all_of": ids}])


def _rendered_rule(template: Template) -> str:
    """The composite's AlarmRule as CloudFormation will see it, each child's ARN filled in."""
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    (composite,) = template.find_resources("AWS::CloudWatch::CompositeAlarm").values()
    separator, parts = composite["Properties"]["AlarmRule"]["Fn::Join"]
    arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
    return separator.join(
        part if isinstance(part, str) else arn + alarms[part["Fn::GetAtt"][0]]["Properties"]["AlarmName"]
        for part in parts
    )


def test_a_composite_alarm_rule_of_exactly_cloudwatchs_limit_synthesizes() -> None:
    # 33 signals of a 200-character group, their ids 32 and 33 characters long: 10,240 characters
    template = _template(_composite_of([33] * 13 + [32] * 20))
    assert len(_rendered_rule(template)) == ALARM_RULE_LIMIT


def test_a_composite_alarm_rule_past_cloudwatchs_limit_fails_the_synth_by_group() -> None:
    # One character more: it synthesized, and the deploy failed on the composite (AlarmRule too long)
    with pytest.raises(ValueError) as raised:
        _template(_composite_of([33] * 14 + [32] * 19))
    message = str(raised.value)
    assert f"group {'g' * 200!r}: composite 'all'" in message
    assert "10,241 characters" in message and "10,240" in message


def test_a_composite_alarm_rule_is_measured_at_the_longest_region_where_the_synth_has_none() -> None:
    # Without a region the ARNs' length is unknown until deploy: measured at the longest CDK knows
    # (us-isof-south-1, partition aws-iso-f), 10,240 characters in eu-west-1 are refused there
    app = cdk.App(context=cdk_context())
    config = parse_config({"groups": [_composite_of([33] * 13 + [32] * 20)]}, source="test config")
    with pytest.raises(ValueError, match="composite 'all'"):
        build(app, config, now=SALES_NOW)
