"""The pure parts of the trust rules: one decision per period, a trigger's own retry, a poisoned state
item, commits remembered, launches the group does not show yet, and composite reasons that tell the truth."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from surgeguard.domain.decision import decide, serving_instances
from surgeguard.domain.model import Launch, Outcome, Recommendation, ScalerMemory

from .core_builders import REQUESTS, T0, cpu, group, inputs, policy, requests

PERIOD = timedelta(seconds=60)


def test_a_second_decision_within_the_period_is_rate_limited() -> None:
    memory = ScalerMemory(last_trigger_at=T0, last_trigger_id="first")
    decision = decide(
        replace(
            inputs(memory=memory, now=T0 + timedelta(seconds=30), readings=(cpu(90.0),)), min_interval=PERIOD
        )
    )
    assert (decision.outcome, decision.skip_cause) == (Outcome.SKIPPED, "rate_limited")
    assert decision.desired == decision.previous


def test_after_the_period_it_decides_again() -> None:
    memory = ScalerMemory(last_trigger_at=T0)
    decision = decide(
        replace(inputs(memory=memory, now=T0 + PERIOD, readings=(cpu(90.0),)), min_interval=PERIOD)
    )
    assert decision.outcome is Outcome.APPLIED


def test_the_retry_of_the_trigger_the_state_holds_is_neither_stale_nor_rate_limited() -> None:
    memory = ScalerMemory(last_trigger_at=T0 + timedelta(seconds=5), last_trigger_id="same")
    inp = replace(
        inputs(memory=memory, now=T0, readings=(cpu(90.0),)), min_interval=PERIOD, trigger_id="same"
    )
    assert decide(inp).outcome is Outcome.APPLIED
    other = replace(inp, trigger_id="other")
    assert decide(other).skip_cause == "stale"


def test_a_capacity_change_is_committed_and_remembers_its_trigger() -> None:
    decision = decide(replace(inputs(readings=(cpu(90.0),)), trigger_id="t-1"))
    assert decision.outcome is Outcome.APPLIED
    assert decision.memory.committed_desired == decision.desired
    assert decision.memory.last_trigger_id == "t-1"
    held = decide(replace(inputs(readings=(cpu(50.0),)), trigger_id="t-2"))
    assert held.memory.committed_desired is None  # a hold commits nothing new


def test_a_state_item_from_the_future_is_forgotten_past_the_horizon() -> None:
    far = T0 + timedelta(days=365 * 70)
    poisoned = ScalerMemory(
        version=3,
        last_trigger_at=far,
        last_scale_out_at=far,
        launches=(Launch(far, 5), Launch(T0, 1)),
        recommendations=(Recommendation(far, 50),),
        committed_at=far,
    )
    clean = poisoned.forget_after(T0 + timedelta(minutes=5))
    assert (clean.last_trigger_at, clean.last_scale_out_at, clean.committed_at) == (None, None, None)
    assert clean.launches == (Launch(T0, 1),) and clean.recommendations == ()
    assert clean.version == 3
    # and a later trigger decides instead of being stale for the next 70 years
    assert decide(inputs(memory=clean, readings=(cpu(90.0),))).outcome is Outcome.APPLIED


def test_launches_the_group_does_not_show_yet_are_not_counted_as_warming() -> None:
    # desired 4 committed, the group still runs 2 (none pending): the 2 launched are not among them
    memory = ScalerMemory(launches=(Launch(T0, 2),))
    assert serving_instances(group(4, in_service=2), memory, T0 + timedelta(seconds=10), 300) == 2
    # once they show (pending), the 2 in service are the old ones, serving
    assert serving_instances(group(4, in_service=2, pending=2), memory, T0 + timedelta(seconds=10), 300) == 2
    # once in service and warming, only the old 2 serve
    assert serving_instances(group(4, in_service=4), memory, T0 + timedelta(seconds=10), 300) == 2


def test_a_composite_candidate_prints_the_true_relation() -> None:
    config = policy(
        signals=[{"kind": "cpu", "target": 50}, REQUESTS],
        composites=[{"id": "busy", "all_of": ["cpu", "requests_per_target"]}],
    )
    # the composite alarm is in ALARM, but the latest datapoints no longer breach
    decision = decide(
        inputs(
            policy_=config,
            readings=(cpu(40.0), requests(200.0)),
            breached=frozenset({"busy"}),
        )
    )
    (busy,) = [c for c in decision.candidates if c.rule == "busy"]
    assert busy.note == "cpu=40<50 AND requests_per_target=200<1000"


def test_a_day_of_ten_second_decisions_still_fits_the_state_item() -> None:
    # A group decided every 10 s under a day-long stabilization kept 8,640 recommendations (and every
    # launch as long): 679 KB of memory, refused by DynamoDB (400 KB), so every decision of the group
    # failed. Past a day of minutes they are kept per minute, the highest of each.
    from surgeguard.adapters.audit_store import memory_to_json

    step = timedelta(seconds=10)
    n = 6 * 1440
    recommendations = tuple(Recommendation(T0 + i * step, 100 + i % 7, 90 + i % 5) for i in range(n))
    launches = tuple(Launch(T0 + i * 10 * step, 3) for i in range(n // 10))
    now = T0 + n * step
    memory = ScalerMemory(recommendations=recommendations, launches=launches).pruned(
        now, timedelta(days=1), keep_launches=timedelta(hours=2)
    )
    assert len(memory_to_json(memory).encode()) < 200 * 1024
    assert len(memory.recommendations) <= 1440
    # what the stabilization reads is kept: the highest over any window of whole minutes
    window = now - timedelta(minutes=30)
    assert max(r.desired for r in memory.recommendations if r.at > window) == max(
        r.desired for r in recommendations if r.at > window
    )
    assert all(launch.at > now - timedelta(hours=2) for launch in memory.launches)


def test_launches_are_kept_as_long_as_a_reading_can_be_old() -> None:
    # A 1 h warm-up, a 4 h stabilization, and a basic-monitoring CPU reading whose period began 90
    # minutes back (a read looks back 300 s x (20 + 5)). Launches were once kept 2 hours only: the 10
    # launched at T0, still warming when that reading's period began, were counted behind it (14 -> 23).
    from surgeguard.domain.model import Reading

    pol = policy(
        warmup_seconds=3600,
        scale_out={"max_step_percent": 1000},
        scale_in={"datapoints_to_alarm": 20, "evaluation_periods": 20, "stabilization_seconds": 4 * 3600},
    )
    surge = (Reading("cpu", "cpu", 175.0, 50.0),)
    first = decide(inputs(group_=group(4), readings=surge, policy_=pol, now=T0))
    assert first.desired == 14
    later = T0 + timedelta(hours=2, minutes=5)
    second = decide(
        inputs(
            group_=group(14),
            memory=first.memory,
            readings=(Reading("cpu", "cpu", 50.0, 50.0),),
            policy_=pol,
            now=later,
            direction=None,
        )
    )
    assert second.memory.launches == first.memory.launches
    old = Reading("cpu", "cpu", 80.0, 50.0, period_start=T0 + timedelta(minutes=40))
    third = decide(
        inputs(
            group_=group(14),
            memory=second.memory,
            readings=(old,),
            policy_=pol,
            now=later + timedelta(minutes=5),
            direction=None,
        )
    )
    assert third.desired == 14, third.reason
