"""Properties of the pure decision that must hold for every input, not just the examples."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from surgeguard.config import Direction, GroupConfig
from surgeguard.domain.decision import DecisionInput, decide
from surgeguard.domain.model import (
    AsgSize,
    Controls,
    Decision,
    Floor,
    GroupSnapshot,
    Launch,
    Reading,
    Recommendation,
    ScalerMemory,
    ScalingAction,
)

from .core_builders import REQUESTS, T0

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
# A declared event's floor is a bound too: capacity planned ahead is not held back by step limits.
BOUND_CLAMPS = ("min", "max", "floor")


@st.composite
def direction_policies(draw: st.DrawFn, *, window: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"datapoints_to_alarm": 1, "evaluation_periods": 1}
    if draw(st.booleans()):
        data["max_step_instances"] = draw(st.integers(1, 10))
    if draw(st.booleans()):
        data["max_step_percent"] = draw(st.sampled_from([10, 25, 50, 100, 200]))
    if window:
        data["stabilization_seconds"] = draw(st.sampled_from([0, 300, 600]))
    return data


@st.composite
def policies(draw: st.DrawFn, *, min_window: int = 0, composites: bool = True) -> GroupConfig:
    """Any valid group policy; `min_window`: the scale-in window is at least this long;
    `composites`: whether CPU and requests may be gated behind a composite."""
    low = draw(st.integers(0, 15))
    high = draw(st.integers(max(1, low), 40))
    scale_in = draw(direction_policies(window=True))
    if min_window:
        scale_in["stabilization_seconds"] = draw(st.sampled_from([min_window, 600, 900]))
    composite = composites and draw(st.booleans())
    return GroupConfig.model_validate(
        {
            "name": "web",
            "min": low,
            "max": high,
            "warmup_seconds": draw(st.sampled_from([0, 60, 240])),
            "signals": [{"kind": "cpu", "target": draw(st.sampled_from([40, 50, 70]))}, REQUESTS],
            "composites": [{"id": "busy", "all_of": ["cpu", "requests_per_target"]}] if composite else [],
            "scale_out": draw(direction_policies(window=False)),
            "scale_in": scale_in,
        }
    )


@st.composite
def snapshots(draw: st.DrawFn, *, inside: tuple[int, int] | None = None) -> GroupSnapshot:
    """A group's size; `inside`: keep desired within these bounds (otherwise it may sit anywhere)."""
    asg_min = draw(st.integers(0, 10))
    asg_max = draw(st.integers(max(1, asg_min), 50))
    if inside is not None:
        low, high = max(inside[0], asg_min), min(inside[1], asg_max)
        desired = draw(st.integers(low, high)) if low <= high else draw(st.integers(0, 60))
    else:
        desired = draw(st.integers(0, 60))
    in_service = draw(st.integers(0, desired))
    pending = draw(st.integers(0, desired - in_service))
    return GroupSnapshot("web", AsgSize(asg_min, desired, asg_max), in_service, pending)


def _ago(draw: st.DrawFn, most: int) -> timedelta:
    return timedelta(seconds=draw(st.integers(0, most)))


@st.composite
def memories(draw: st.DrawFn) -> ScalerMemory:
    def maybe_time() -> Any:
        return T0 - _ago(draw, 1800) if draw(st.booleans()) else None

    launches = tuple(
        Launch(T0 - _ago(draw, 600), draw(st.integers(1, 10))) for _ in range(draw(st.integers(0, 3)))
    )
    recommendations = tuple(
        Recommendation(T0 - _ago(draw, 1200), draw(st.integers(0, 60)))
        for _ in range(draw(st.integers(0, 4)))
    )
    return ScalerMemory(
        version=draw(st.integers(0, 5)),
        last_scale_out_at=maybe_time(),
        last_scale_in_at=maybe_time(),
        last_trigger_at=maybe_time(),  # never after now: stale triggers have their own example
        launches=launches,
        recommendations=recommendations,
    )


cpu_values = st.one_of(st.none(), st.floats(0, 100, allow_nan=False))
request_values = st.one_of(st.none(), st.floats(0, 6000, allow_nan=False))


@st.composite
def readings(draw: st.DrawFn, pol: GroupConfig) -> tuple[Reading, ...]:
    cpu_target = pol.signals[0].target
    values = draw(st.tuples(cpu_values, request_values).filter(lambda v: v != (None, None)))
    return (
        Reading("cpu", "cpu", values[0], cpu_target),
        Reading("requests_per_target", "requests_per_target", values[1], 1000.0),
    )


@st.composite
def decision_inputs(draw: st.DrawFn, *, inside_bounds: bool = False) -> DecisionInput:
    pol = draw(policies())
    return DecisionInput(
        group=draw(snapshots(inside=(pol.min, pol.max) if inside_bounds else None)),
        memory=draw(memories()),
        readings=draw(readings(pol)),
        policy=pol,
        now=T0,
        trigger_direction=draw(st.sampled_from([Direction.OUT, Direction.IN, None])),
        breached_rules=draw(st.sampled_from([frozenset(), frozenset({"busy"})])),
        controls=Controls(dry_run=draw(st.booleans())),  # pauses have their own examples
        floors=tuple(Floor("sale", c) for c in draw(st.lists(st.integers(0, 60), max_size=1))),
    )


@st.composite
def scale_outs(draw: st.DrawFn) -> DecisionInput:
    """A group inside its bounds, nothing warming, and CPU (not gated) above target: a scale-out alarm."""
    pol = draw(policies(min_window=60, composites=False))
    high = pol.max
    desired = draw(st.integers(pol.min, high - 1)) if pol.min < high else None
    assume(desired is not None)
    assert desired is not None
    target = pol.signals[0].target
    cpu = draw(st.floats(min(100.0, target * 1.2), 100.0))
    return DecisionInput(
        group=GroupSnapshot("web", AsgSize(0, desired, 50), desired, 0),
        memory=ScalerMemory(),
        readings=(Reading("cpu", "cpu", cpu, target),),
        policy=pol,
        now=T0,
        trigger_direction=Direction.OUT,
    )


def bounds(inp: DecisionInput) -> tuple[int, int]:
    return max(inp.policy.min, inp.group.size.min), min(inp.policy.max, inp.group.size.max)


def _explain(inp: DecisionInput, decision: Decision) -> str:
    return f"{inp}\n-> {decision}"


@PROPERTY_SETTINGS
@given(decision_inputs())
def test_result_always_within_the_intersection_of_config_and_group_bounds(inp: DecisionInput) -> None:
    # GIVEN any input whose config and group bounds overlap
    low, high = bounds(inp)
    assume(low <= high)
    # WHEN deciding
    decision = decide(inp)
    # THEN the desired capacity lies within [max(mins), min(maxes)]
    assert low <= decision.desired <= high, _explain(inp, decision)


@PROPERTY_SETTINGS
@given(decision_inputs(), st.data())
def test_more_load_never_gives_less_capacity(inp: DecisionInput, data: st.DataObject) -> None:
    # GIVEN the same input twice, the second with every reading at least as high
    higher = tuple(
        r
        if r.value is None
        else replace(r, value=r.value + data.draw(st.floats(0, 3000, allow_nan=False), label=r.signal_id))
        for r in inp.readings
    )
    higher = tuple(
        replace(r, value=min(r.value, 100.0)) if r.kind == "cpu" and r.value is not None else r
        for r in higher
    )
    more = replace(inp, readings=higher)
    # WHEN deciding both
    low_load, high_load = decide(inp), decide(more)
    # THEN the higher load never ends with less capacity
    assert high_load.desired >= low_load.desired, f"{_explain(inp, low_load)}\n{_explain(more, high_load)}"


@PROPERTY_SETTINGS
@given(decision_inputs(inside_bounds=True))
def test_one_action_moves_at_most_the_step_limit_unless_a_bound_forces_it(inp: DecisionInput) -> None:
    # GIVEN any input (the group mostly inside its bounds, so that bounds rarely force the move)
    # WHEN deciding
    decision = decide(inp)
    previous = inp.group.size.desired
    if any(c.limit in BOUND_CLAMPS for c in decision.clamps):
        return  # a bound forced it: the only allowed excess
    # THEN the move stays within the direction's step limit
    if decision.desired > previous:
        limit = inp.policy.scale_out.step_limit(previous)
    elif decision.desired < previous:
        limit = inp.policy.scale_in.step_limit(previous)
    else:
        return
    if limit is not None:
        assert abs(decision.desired - previous) <= limit, _explain(inp, decision)


@PROPERTY_SETTINGS
@given(scale_outs(), st.data())
def test_no_scale_in_inside_the_stabilization_window_after_a_scale_out(
    first_input: DecisionInput, data: st.DataObject
) -> None:
    # GIVEN a scale-out applied at T0
    first = decide(first_input)
    assert first.action is ScalingAction.SCALE_OUT and first.changes_capacity, first.reason
    pol = first_input.policy
    window = pol.scale_in.stabilization_seconds
    # WHEN any later trigger lands inside the window, whatever it reads and whichever alarm it is
    elapsed = data.draw(st.integers(1, window - 1), label="seconds after the scale-out")
    in_service = data.draw(st.integers(0, first.desired), label="in service")
    later = DecisionInput(
        group=GroupSnapshot("web", replace(first_input.group.size, desired=first.desired), in_service, 0),
        memory=first.memory,
        readings=data.draw(readings(pol), label="readings"),
        policy=pol,
        now=T0 + timedelta(seconds=elapsed),
        trigger_direction=data.draw(st.sampled_from([Direction.OUT, Direction.IN, None]), label="direction"),
    )
    decision = decide(later)
    # THEN it does not scale in
    assert decision.action is not ScalingAction.SCALE_IN, _explain(later, decision)
    assert decision.desired >= first.desired
