"""The decision against what the group can do: processes suspended, instances protected from scale-in
(EC2 Auto Scaling User Guide, "Suspend and resume processes", "Use instance scale-in protection"). AWS
accepts the change of desired capacity either way and leaves it undone."""

from __future__ import annotations

from dataclasses import replace

from surgeguard.config import Direction
from surgeguard.domain.decision import decide
from surgeguard.domain.model import Outcome, ScalingAction

from .core_builders import cpu, group, inputs


def test_a_scale_in_stops_at_the_instances_protected_from_it() -> None:
    # 10 serving at CPU 5 against 50 need 1; 6 are protected: AWS would lower desired to 1 and terminate 4
    protected = replace(group(10), protected=6)
    decision = decide(inputs(group_=protected, readings=(cpu(5.0),), direction=Direction.IN))
    assert (decision.outcome, decision.desired) == (Outcome.APPLIED, 6)
    assert [(c.limit, c.before, c.after) for c in decision.clamps][-1] == ("scale_in_protected", 1, 6)


def test_a_scale_in_all_of_whose_instances_are_protected_holds_and_says_why() -> None:
    protected = replace(group(10), protected=10)
    decision = decide(inputs(group_=protected, readings=(cpu(5.0),), direction=Direction.IN))
    assert (decision.outcome, decision.desired) == (Outcome.UNCHANGED, 10)
    assert "10 in service are protected from scale-in" in decision.reason


def test_protection_never_holds_a_scale_out_nor_a_scale_in_above_it() -> None:
    protected = replace(group(10), protected=4)
    out = decide(inputs(group_=protected, readings=(cpu(80.0),)))
    assert (out.outcome, out.action, out.desired) == (Outcome.APPLIED, ScalingAction.SCALE_OUT, 16)
    down = decide(inputs(group_=protected, readings=(cpu(25.0),), direction=Direction.IN))
    assert (down.outcome, down.desired) == (Outcome.APPLIED, 5)


def test_a_change_a_suspended_process_would_leave_undone_is_skipped() -> None:
    launch = replace(group(4), suspended=frozenset({"Launch"}))
    out = decide(inputs(group_=launch, readings=(cpu(80.0),)))
    assert (out.outcome, out.skip_cause, out.desired) == (Outcome.SKIPPED, "suspended", 4)
    assert "Launch is suspended" in out.reason and "would have scale" in out.reason
    # Launch suspended does not stop a scale-in, nor Terminate a scale-out
    down = decide(inputs(group_=launch, readings=(cpu(10.0),), direction=Direction.IN))
    assert down.outcome is Outcome.APPLIED
    terminate = replace(group(4), suspended=frozenset({"Terminate"}))
    assert decide(inputs(group_=terminate, readings=(cpu(80.0),))).outcome is Outcome.APPLIED
    held = decide(inputs(group_=terminate, readings=(cpu(10.0),), direction=Direction.IN))
    assert (held.outcome, held.skip_cause) == (Outcome.SKIPPED, "suspended")


def test_pulling_a_group_back_inside_its_bounds_is_skipped_where_a_suspended_process_leaves_it_undone() -> (
    None
):
    from datetime import timedelta

    from surgeguard.domain.model import ScalerMemory

    from .core_builders import T0, policy

    # desired 2 under min 3, a scale-in held by stabilization pulls it up: Launch suspended launches nothing
    below = replace(group(2), suspended=frozenset({"Launch"}))
    held = policy(
        min=3, scale_in={"datapoints_to_alarm": 1, "evaluation_periods": 1, "stabilization_seconds": 300}
    )
    memory = ScalerMemory(last_scale_out_at=T0 - timedelta(seconds=30))
    up = decide(
        inputs(group_=below, memory=memory, readings=(cpu(10.0),), direction=Direction.IN, policy_=held)
    )
    assert (up.outcome, up.skip_cause) == (Outcome.SKIPPED, "suspended")
    # desired 60 over max 50, a scale-out alarm's hold pulls it down: Terminate suspended terminates nothing
    above = replace(group(60), suspended=frozenset({"Terminate"}))
    down = decide(inputs(group_=above, readings=(cpu(50.0),), direction=Direction.OUT))
    assert (down.outcome, down.skip_cause) == (Outcome.SKIPPED, "suspended")


def test_the_protection_clamp_never_holds_desired_above_the_max() -> None:
    from .core_builders import policy

    # desired 12 over the config max 10 (a person set it), 11 of 12 protected, the load needs 2
    above = replace(group(12), protected=11)
    decision = decide(
        inputs(group_=above, readings=(cpu(5.0),), direction=Direction.IN, policy_=policy(max=10))
    )
    assert decision.desired <= 10


def test_a_group_outside_its_bounds_is_pulled_back_inside_them_without_any_datapoint() -> None:
    from .core_builders import policy

    # An ALB signal publishes nothing at zero traffic: with no datapoint a group the config's min was
    # raised above (2 under 4), or its max lowered below (60 over 50), stayed outside its bounds all night
    below = decide(inputs(group_=group(2), readings=(cpu(None),), direction=None, policy_=policy(min=4)))
    assert (below.outcome, below.action, below.desired) == (Outcome.APPLIED, ScalingAction.SCALE_OUT, 4)
    assert "outside [4, 50]" in below.reason and below.clamps[-1].limit == "min"
    above = decide(inputs(group_=group(60), readings=(cpu(None),), direction=None))
    assert (above.outcome, above.action, above.desired) == (Outcome.APPLIED, ScalingAction.SCALE_IN, 50)
    # a group inside them still holds, skipped for want of data
    inside = decide(inputs(group_=group(4), readings=(cpu(None),), direction=None))
    assert (inside.outcome, inside.skip_cause, inside.desired) == (Outcome.SKIPPED, "no_data", 4)
