"""A trigger whose AWS call keeps failing, through all three of Lambda's attempts (the first and its two
asynchronous retries, a minute and then two minutes later): every attempt leaves its `failed` audit
item, and people are told of the failure once, not once per attempt."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from surgeguard.service import RetryableFailureError

from .harness import Harness, audit_keys, new_items, quiet_world
from .injector import Call, Rule, fault_error
from .scenarios import SCENARIOS
from .world import source_id_of

# Lambda's asynchronous retries: a minute after the first attempt, then two minutes after that.
RETRIES_AFTER = (timedelta(0), timedelta(minutes=1), timedelta(minutes=3))


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with quiet_world(tmp_path_factory.mktemp("retried") / "task") as world:
        yield world


def _always_failing(label: str, kind: str) -> Rule:
    """Every call labelled `label` fails with `kind`, in every attempt."""

    def action(call: Call, model: Any) -> None:
        raise fault_error(kind, call, model)

    return Rule("before", lambda call, _: call.label == label, action, times=1_000)


@pytest.mark.parametrize(
    ("scenario_name", "label"),
    [
        # A read: nothing changed, the claim is released and each retry claims afresh.
        ("alarm", "autoscaling.DescribeAutoScalingGroups"),
        # The apply: its record stashed first, the claim kept for each retry to take over.
        ("alarm", "autoscaling.SetDesiredCapacity"),
        ("prewarm", "autoscaling.UpdateAutoScalingGroup"),
    ],
)
def test_a_failure_on_every_attempt_is_audited_each_time_and_told_once(
    scenario_name: str, label: str, harness: Harness
) -> None:
    # GIVEN a delivery whose `label` call fails (5xx) on every attempt
    scenario = SCENARIOS[scenario_name]
    world, clock, injector = harness.world, harness.clock, harness.injector
    world.reset()
    injector.reset()
    event = scenario.prepare(world, clock)
    first_at = clock.now
    before = audit_keys(world)
    injector.add(_always_failing(label, "5xx"))
    # WHEN Lambda makes its three attempts at it
    for after in RETRIES_AFTER:
        clock.set(first_at + after)
        with injector.armed(), pytest.raises(RetryableFailureError):
            scenario.invoke(event)
    # THEN each attempt left its own `failed` record
    items = new_items(world, before)
    assert [i["outcome"] for i in items] == ["failed"] * 3, [(i["outcome"], i.get("reason")) for i in items]
    assert {i["source_id"] for i in items} == {source_id_of(event)}
    # AND people heard of the failure once
    told = world.told()
    assert told == ["Surgeguard failed: web"], told


def test_a_failure_whose_publish_failed_is_told_by_the_next_attempt(harness: Harness) -> None:
    # GIVEN the alarm's Describe failing on every attempt, and the first attempt's Publish refused
    scenario = SCENARIOS["alarm"]
    world, clock, injector = harness.world, harness.clock, harness.injector
    world.reset()
    injector.reset()
    event = scenario.prepare(world, clock)
    first_at = clock.now
    injector.add(_always_failing("autoscaling.DescribeAutoScalingGroups", "5xx"))
    injector.add(Rule("before", lambda call, _: call.label == "sns.Publish", _refused, times=1))
    # WHEN Lambda makes its three attempts
    for after in RETRIES_AFTER:
        clock.set(first_at + after)
        with injector.armed(), pytest.raises(RetryableFailureError):
            scenario.invoke(event)
    # THEN the second attempt told people (the first could not), and the third did not tell them again
    assert world.told() == ["Surgeguard failed: web"]


def _refused(call: Call, model: Any) -> None:
    raise fault_error("throttle", call, model)
