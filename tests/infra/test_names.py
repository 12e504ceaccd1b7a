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
