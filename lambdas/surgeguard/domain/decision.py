"""Pure capacity decision: state, signals, policy and time in; a decision with its reasons out. No I/O."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from surgeguard.config import Direction, GroupConfig
from surgeguard.domain.model import (
    Candidate,
    Clamp,
    Controls,
    Decision,
    Floor,
    GroupSnapshot,
    Launch,
    Outcome,
    Reading,
    Recommendation,
    ScalerMemory,
    ScalingAction,
)

CEIL_TOLERANCE = 1e-9
# CPU at or above this is saturated: it says "at least this much", not how much more is needed.
CPU_SATURATED = 99.0
# Latency is not proportional to load; bound the ratio it may ask for in one decision.
LATENCY_RATIO_BOUNDS = (0.5, 2.0)
# Memory keeps launches and recommendations at most this long (bounded item size).
MEMORY_HORIZON = timedelta(hours=2)


@dataclass(frozen=True)
class DecisionInput:
    group: GroupSnapshot
    memory: ScalerMemory
    readings: Sequence[Reading]
    policy: GroupConfig
    now: datetime
    trigger_direction: Direction | None = None  # None: a tick or schedule, both directions allowed
    breached_rules: frozenset[str] = frozenset()  # composites whose alarm is in ALARM
    controls: Controls = Controls()
    floors: Sequence[Floor] = ()
    # Capacity for the demand while its latest minute stays within the noise band of the recent mean
    # (`noise_headroom.band_sigmas`): signals then ask no more than this (a lower need stands).
    noise_band: int | None = None
    freeze_scale_in: str | None = None  # why scale-in is frozen now (a sale event), if it is
    # At most one decision per this interval (the alarm period): a burst of triggers for one group
    # decides once; the alarms stay in ALARM and the per-minute re-evaluation picks them up.
    min_interval: timedelta | None = None
    # What this decision answers (an alarm's delivery id, a phase's execution id): remembered, so the
    # retry of the very trigger the state already reflects is neither stale nor rate limited.
    trigger_id: str | None = None
    # A learned burst anticipated from this time did not come (its floor is let go): the recommendations
    # since then are remembered as what the load asked, so the floor holds no scale-in.
    unmet_burst_since: datetime | None = None


def ceil_tolerant(x: float) -> int:
    return math.ceil(x - CEIL_TOLERANCE)


# The Auto Scaling process without which a change of desired capacity does nothing (AWS accepts it).
SUSPENDED_BLOCKS = {ScalingAction.SCALE_OUT: "Launch", ScalingAction.SCALE_IN: "Terminate"}


def serving_instances(group: GroupSnapshot, memory: ScalerMemory, now: datetime, warmup: int) -> int:
    """In-service instances that already serve: those launched within the warm-up do not yet."""
    recent = memory.launched_since(now - timedelta(seconds=warmup))
    # Launches the group does not show yet (desired above what runs: just set, or a committed
    # decision still being applied) are neither pending nor in service: none of them is warming.
    not_visible = max(0, group.size.desired - group.in_service - group.pending)
    warming = min(group.in_service, max(0, recent - group.pending - not_visible))
    return max(0, group.in_service - warming)


def _needed(reading: Reading, base: int) -> tuple[int, str]:
    assert reading.value is not None
    ratio = reading.value / reading.target
    note = ""
    if reading.kind == "cpu" and reading.value >= CPU_SATURATED:
        note = "CPU saturated: a lower bound; an unsaturated signal (requests) shows the true load"
    elif reading.kind == "response_time":
        low, high = LATENCY_RATIO_BOUNDS
        ratio = min(max(ratio, low), high)
    return ceil_tolerant(max(base, 1) * ratio), note


def reading_base(inp: DecisionInput, memory: ScalerMemory, reading: Reading) -> int:
    """The instances behind `reading` (BENCHMARK.md's n): those serving since its period began, which
    is one scale-out period before `now` unless the reading says it began earlier."""
    covers: int = inp.policy.scale_out.period_seconds
    if reading.period_start is not None:
        covers = max(covers, int((inp.now - reading.period_start).total_seconds()))
    return serving_instances(inp.group, memory, inp.now, inp.policy.warmup_seconds + covers)


def candidates_for(
    inp: DecisionInput, base_of: Callable[[Reading], int], base: int
) -> tuple[list[Candidate], list[Candidate]]:
    """Candidates that may scale out, and those that may only hold capacity up (gated signals).
    `base_of`: the instances behind a reading; `base`: behind one of the last scale-out period.

    A signal that belongs to a composite acts on scale-out only while its composite is breached
    (every member above target); on its own it can still veto a scale-in.
    """
    gated = inp.policy.gated_signal_ids()
    active: list[Candidate] = []
    holding: list[Candidate] = []
    by_id = {r.signal_id: r for r in inp.readings}
    for reading in inp.readings:
        if reading.value is None:
            continue
        behind = base_of(reading)
        needed, note = _needed(reading, behind)
        candidate = Candidate(reading.signal_id, reading.value, reading.target, behind, needed, note)
        (holding if reading.signal_id in gated else active).append(candidate)
    for composite in inp.policy.composites:
        members = [by_id.get(i) for i in composite.all_of]
        values = [m for m in members if m is not None and m.value is not None]
        if len(values) != len(members):
            continue
        all_above = all(m.value is not None and m.value > m.target for m in values)
        if not (all_above or composite.id in inp.breached_rules):
            continue
        needed = max(_needed(m, base_of(m))[0] for m in values)
        note = " AND ".join(_relation(m) for m in values)
        active.append(Candidate(composite.id, None, None, base, needed, note))
    return active, holding


def _within_noise(
    policy: GroupConfig, band: int, active: list[Candidate], holding: list[Candidate], previous: int
) -> list[Candidate]:
    """The needs as the noise band leaves them. The band says the latest minute of the RequestCount it
    was read from (the group's first requests signal's) is noise. It takes from each need at most what
    that request load asks over the capacity there is (the part of the need the spike explains), down to
    the band and never below `previous`. So a spike in CPU and requests alike is met at the band; CPU at
    99 % with the requests at their target (each request costing twice what it did) is not noise and is
    not capped (it was held at the band as long as it lasted); a surge on another target group is not
    this band's; and a cap is no scale-in (a band under CPU's scale-in need took 10 to 6 where no signal
    asked below 9). In between the cap moves a need by at most what the requests add, never at a jump."""
    signal = policy.requests_signal()
    source = None if signal is None else signal.id
    # Over the capacity there is: the desired count, or the instances the reading came from where more
    # serve (a scale-in committed but not landed, or instances protected from it): requests at their
    # target on 10 serving are no spike, though desired reads 6.
    excess = max(
        (c.needed - max(previous, c.base) for c in (*active, *holding) if c.rule == source), default=0
    )
    if excess <= 0:
        return active
    capped = []
    for c in active:
        cap = max(band, previous, c.needed - excess)
        capped.append(
            c if c.needed <= cap else replace(c, needed=cap, note=_joined(c.note, f"within noise: {cap}"))
        )
    return capped


def _joined(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


def _relation(reading: Reading) -> str:
    """`cpu=80>50`: the true relation, whatever made the composite breach (its alarm may have)."""
    assert reading.value is not None
    relation = ">" if reading.value > reading.target else "=" if reading.value == reading.target else "<"
    return f"{reading.signal_id}={reading.value:g}{relation}{reading.target:g}"


def decide(inp: DecisionInput) -> Decision:
    """Decide the group's desired capacity (see `_decide`); a capacity change is remembered as the
    group's committed desired capacity, so a decider whose apply lands late can be corrected."""
    decision = _decide(inp)
    if not decision.changes_capacity:
        return decision
    committed = replace(
        decision.memory,
        committed_desired=decision.desired,
        committed_at=inp.now,
        committed_from=decision.previous,
        committed_by=inp.trigger_id,
    )
    return replace(decision, memory=committed)


def _decide(inp: DecisionInput) -> Decision:
    """Decide the group's desired capacity.

    Invariants: the result stays in [max(config min, group min), min(config max, group max)];
    more load never gives less capacity (but for a request minute within the noise band, which is
    noise: what it asks takes from the other needs, at most what it adds); one action moves at most the
    direction's step limit (unless a bound forces more: min, max, or a declared event's floor, which is
    capacity planned ahead); no scale-in inside the stabilization window after a scale-out.
    """
    policy, group, now = inp.policy, inp.group, inp.now
    memory = inp.memory.floors_forgotten_since(inp.unmet_burst_since)
    previous = group.size.desired
    low, high = max(policy.min, group.size.min), min(policy.max, group.size.max)

    def finish(
        outcome: Outcome,
        action: ScalingAction,
        desired: int,
        reason: str,
        *,
        winning_rule: str | None = None,
        candidates: tuple[Candidate, ...] = (),
        clamps: tuple[Clamp, ...] = (),
        skip_cause: str | None = None,
        mem: ScalerMemory = memory,
    ) -> Decision:
        return Decision(
            outcome, action, previous, desired, reason, winning_rule, candidates, clamps, skip_cause, mem
        )

    cannot_decide = _cannot_decide(inp, low, high)
    if cannot_decide is not None:
        reason, cause = cannot_decide
        return finish(Outcome.SKIPPED, ScalingAction.NO_CHANGE, previous, reason, skip_cause=cause)

    # The latest datapoint covers the period before `now`: instances that began serving since did not
    # produce it, so they must not multiply it (BENCHMARK.md: n = the instances behind the reading).
    base = serving_instances(group, memory, now, policy.warmup_seconds + policy.scale_out.period_seconds)
    active, holding = candidates_for(inp, lambda reading: reading_base(inp, memory, reading), base)
    if inp.noise_band is not None:
        active = _within_noise(inp.policy, inp.noise_band, active, holding, previous)
    floors = [Candidate(f"floor:{f.name}", None, None, base, f.capacity) for f in inp.floors]
    candidates = tuple(active + holding + floors)
    # Without data a floor may still raise capacity (a pre-warm before any traffic), never lower it.
    if not active and not holding and max((f.needed for f in floors), default=0) <= previous:
        # Still pulled inside its bounds: an ALB signal publishes nothing at zero traffic, and a group
        # under a config min raised since stayed under it all night.
        no_data = finish(
            Outcome.SKIPPED,
            ScalingAction.NO_CHANGE,
            previous,
            "no datapoint for any signal: holding capacity",
            candidates=candidates,
            skip_cause="no_data",
        )
        return _bounded(no_data, low, high, inp.controls, inp.group.suspended)

    # Gated signals can hold capacity where it is but never push it up on their own.
    asked = [(c.needed, c.rule) for c in active] + [(min(c.needed, previous), c.rule) for c in holding]
    recommended, winner = max(asked + [(c.needed, c.rule) for c in floors])
    load = max((needed for needed, _ in asked), default=None)
    memory = replace(
        memory,
        last_trigger_at=now,
        last_trigger_id=inp.trigger_id,
        recommendations=(*memory.recommendations, Recommendation(now, recommended, load)),
    ).pruned(
        now,
        max(MEMORY_HORIZON, timedelta(seconds=policy.scale_in.stabilization_seconds)),
        # launches matter within a warm-up of the oldest reading a read can bring, never the stabilization
        keep_launches=max(
            MEMORY_HORIZON, timedelta(seconds=policy.warmup_seconds + policy.read_window_seconds())
        ),
    )

    def hold(reason: str) -> Decision:
        held = finish(
            Outcome.UNCHANGED,
            ScalingAction.NO_CHANGE,
            previous,
            reason,
            winning_rule=winner,
            candidates=candidates,
            mem=memory,
        )
        return _bounded(held, low, high, inp.controls, inp.group.suspended)

    target, clamps, blocked = _limit_step(inp, memory, base, recommended)
    if blocked:
        return hold(blocked)

    if target > high:
        clamps.append(Clamp("max", target, high))
        target = high
    if target < low:
        clamps.append(Clamp("min", target, low))
        target = low
    action = (
        ScalingAction.SCALE_OUT
        if target > previous
        else ScalingAction.SCALE_IN
        if target < previous
        else ScalingAction.NO_CHANGE
    )
    target, held = _scale_in_held(inp, action, target, recommended, clamps)
    if held is not None:
        return hold(held)

    explanation = _explain(action, previous, target, recommended, winner, candidates, clamps)
    if action is ScalingAction.NO_CHANGE:
        return finish(
            Outcome.UNCHANGED,
            action,
            previous,
            explanation,
            winning_rule=winner,
            candidates=candidates,
            clamps=tuple(clamps),
            mem=memory,
        )
    stopped = _stopped(inp, action, explanation)
    if stopped is not None:
        reason, cause = stopped
        return finish(
            Outcome.SKIPPED,
            action,
            previous,
            reason,
            winning_rule=winner,
            candidates=candidates,
            clamps=tuple(clamps),
            skip_cause=cause,
            mem=memory,
        )
    if action is ScalingAction.SCALE_OUT:
        memory = replace(
            memory,
            last_scale_out_at=now,
            launches=(*memory.launches, Launch(now, target - previous)),
        )
    else:
        memory = replace(memory, last_scale_in_at=now)
    if inp.controls.dry_run:
        return Decision(
            Outcome.SKIPPED,
            action,
            previous,
            target,
            f"dry-run: would have {explanation}",
            winner,
            candidates,
            tuple(clamps),
            "dry_run",
            # Dry-run remembers nothing that would change later decisions but the trigger time.
            replace(inp.memory, last_trigger_at=now, last_trigger_id=inp.trigger_id),
        )
    return finish(
        Outcome.APPLIED,
        action,
        target,
        explanation,
        winning_rule=winner,
        candidates=candidates,
        clamps=tuple(clamps),
        mem=memory,
    )


def _cannot_decide(inp: DecisionInput, low: int, high: int) -> tuple[str, str] | None:
    """Why no decision can be made at all (reason, skip cause), or None."""
    policy, size, last = inp.policy, inp.group.size, inp.memory.last_trigger_at
    if low > high:
        return (
            f"bounds do not overlap: config [{policy.min}, {policy.max}] vs group [{size.min}, {size.max}]",
            "bounds",
        )
    if inp.trigger_id is not None and inp.memory.last_trigger_id == inp.trigger_id:
        return None  # a retry of the decision the state holds: decide it again
    if last is not None and inp.now < last:
        return (
            f"stale trigger from {inp.now.isoformat()}: a newer one ({last.isoformat()}) was already decided",
            "stale",
        )
    if last is not None and inp.min_interval is not None and inp.now - last < inp.min_interval:
        return (
            f"rate limited: this group was decided at {last.isoformat()}, within one "
            f"{int(inp.min_interval.total_seconds())}s period; the breach stays in ALARM and the "
            "per-minute re-evaluation decides it with fresh data",
            "rate_limited",
        )
    return None


def _limit_step(
    inp: DecisionInput, memory: ScalerMemory, base: int, recommended: int
) -> tuple[int, list[Clamp], str | None]:
    """Apply the direction's step limit and stabilization; or say why scale-in must wait."""
    policy, previous = inp.policy, inp.group.size.desired
    clamps: list[Clamp] = []
    target = recommended
    if recommended > previous:
        limit = policy.scale_out.step_limit(previous)
        if limit is not None and target > previous + limit:
            clamps.append(Clamp("scale_out.max_step", target, previous + limit))
            target = previous + limit
    elif recommended < previous:
        blocked = _scale_in_blocker(inp, memory, base)
        if blocked:
            return previous, clamps, blocked
        # Hold the highest recommendation of the window (the Kubernetes HPA's scale-down rule).
        window = timedelta(seconds=policy.scale_in.stabilization_seconds)
        held = min(
            previous,
            max((r.desired for r in memory.recommendations if r.at > inp.now - window), default=target),
        )
        if held > target:
            clamps.append(Clamp("scale_in.stabilization", target, held))
            target = held
        limit = policy.scale_in.step_limit(previous)
        if limit is not None and target < previous - limit:
            clamps.append(Clamp("scale_in.max_step", target, previous - limit))
            target = previous - limit
    floor_need = max((f.capacity for f in inp.floors), default=0)
    if target < floor_need:
        # A declared event's floor is capacity planned ahead: no step limit may delay it.
        clamps.append(Clamp("floor", target, floor_need))
        target = floor_need
    return target, clamps, None


def _scale_in_held(
    inp: DecisionInput, action: ScalingAction, target: int, recommended: int, clamps: list[Clamp]
) -> tuple[int, str | None]:
    """A scale-in's target within what the group can do, and why it holds instead (None: it may go on).

    A scale-out alarm never scales in (scale-in waits for its own alarm). AWS lowers desired below the
    instances protected from scale-in but terminates none of them: the capacity stays, and a later
    scale-out would count its launch for instances long serving (an overloaded group held below its
    need for the warm-up)."""
    if action is not ScalingAction.SCALE_IN:
        return target, None
    if inp.trigger_direction is Direction.OUT:
        return target, (
            f"a scale-out alarm woke us but current data needs only {recommended}: "
            "scale-in waits for its own alarm"
        )
    previous, protected = inp.group.size.desired, inp.group.protected
    # Never above the bounds: a desired above max comes down to it, protected or not.
    lowest = min(protected, previous, inp.policy.max, inp.group.size.max)
    if target >= lowest:
        return target, None
    clamps.append(Clamp("scale_in_protected", target, lowest))
    if lowest == previous:
        return lowest, f"needs {recommended}, but {protected} in service are protected from scale-in"
    return lowest, None


def _stopped(inp: DecisionInput, action: ScalingAction, explanation: str) -> tuple[str, str] | None:
    """Why a capacity change is not made, and its skip cause: a process it needs suspended on the group
    (AWS accepts the change and does nothing with it), or the kill switch."""
    process = SUSPENDED_BLOCKS.get(action)
    if process in inp.group.suspended:
        does = "launches" if process == "Launch" else "terminates"
        return (
            f"{process} is suspended on the group (SuspendedProcesses): would have {explanation}, which "
            f"{does} nothing until it is resumed (aws autoscaling resume-processes --scaling-processes "
            f"{process})",
            "suspended",
        )
    if inp.controls.pause.blocks(action):
        return f"paused ({inp.controls.pause.value}): would have {explanation}", "paused"
    return None


def _bounded(
    decision: Decision, low: int, high: int, controls: Controls, suspended: frozenset[str] = frozenset()
) -> Decision:
    """A held decision still pulls a group that sits outside its bounds back inside them.

    The kill switch and dry-run win here too: they stop every capacity change, this one included.
    """
    if low <= decision.previous <= high:
        return decision
    target = min(max(decision.previous, low), high)
    limit = "min" if target == low else "max"
    action = ScalingAction.SCALE_OUT if target > decision.previous else ScalingAction.SCALE_IN
    reason = f"{decision.reason}; but desired {decision.previous} is outside [{low}, {high}]: set to {target}"
    if controls.pause.blocks(action):
        return replace(decision, outcome=Outcome.SKIPPED, skip_cause="paused", reason=f"paused: {reason}")
    if SUSPENDED_BLOCKS[action] in suspended:
        process = SUSPENDED_BLOCKS[action]
        return replace(
            decision,
            outcome=Outcome.SKIPPED,
            skip_cause="suspended",
            reason=f"{process} is suspended on the group (SuspendedProcesses): {reason} would do nothing",
        )
    bounded = replace(
        decision,
        action=action,
        desired=target,
        clamps=(*decision.clamps, Clamp(limit, decision.previous, target)),
    )
    if controls.dry_run:
        return replace(bounded, outcome=Outcome.SKIPPED, skip_cause="dry_run", reason=f"dry-run: {reason}")
    return replace(bounded, outcome=Outcome.APPLIED, skip_cause=None, reason=reason)


def _scale_in_blocker(inp: DecisionInput, memory: ScalerMemory, base: int) -> str | None:
    policy, now = inp.policy, inp.now
    if inp.trigger_direction is Direction.OUT:
        return None  # handled after clamping, with its own reason
    if inp.freeze_scale_in:
        return f"scale-in frozen: {inp.freeze_scale_in}"
    window = timedelta(seconds=policy.scale_in.stabilization_seconds)
    if memory.last_scale_out_at is not None and now - memory.last_scale_out_at < window:
        return (
            f"scale-in held: last scale-out at {memory.last_scale_out_at.isoformat()} is inside the "
            f"{policy.scale_in.stabilization_seconds}s stabilization window"
        )
    # Several scale-in alarms can fire in one period; the step limit is per period, not per alarm.
    period = timedelta(seconds=policy.scale_in.period_seconds)
    if memory.last_scale_in_at is not None and now - memory.last_scale_in_at < period:
        return (
            f"scale-in held: already stepped in at {memory.last_scale_in_at.isoformat()}, "
            f"one step per {policy.scale_in.period_seconds}s period"
        )
    unanswered = [r.signal_id for r in inp.readings if r.unanswered]
    if unanswered:
        return (
            f"scale-in held: {', '.join(unanswered)} could not be read (CloudWatch did not answer its query)"
        )
    # Like AWS target tracking: the fleet's numbers are not final while instances still launch.
    launching = inp.group.pending + inp.group.in_service - base
    if launching > 0:
        return f"scale-in held: {launching} instance(s) still launching or warming"
    return None


def _explain(
    action: ScalingAction,
    previous: int,
    target: int,
    recommended: int,
    winner: str,
    candidates: tuple[Candidate, ...],
    clamps: list[Clamp],
) -> str:
    won = next((c for c in candidates if c.rule == winner), None)
    why = f"{winner} asks for {recommended}"
    if won is not None and won.value is not None and won.target is not None:
        why = f"{winner}={won.value:g} vs target {won.target:g} on {won.base} serving -> {recommended}"
    if won is not None and won.note:
        why += f" ({won.note})"
    # A need the noise band held to the same count ties with the winner and would go unsaid (the tie
    # goes by rule name): the reason names it, since it asked for more.
    for c in candidates:
        if c.rule != winner and c.needed == recommended and "within noise" in c.note:
            why += f"; {c.rule} held to it ({c.note})"
    limited = "".join(f"; {c.limit} {c.before}->{c.after}" for c in clamps)
    if action is ScalingAction.NO_CHANGE:
        return f"hold at {previous}: {why}{limited}"
    verb = "scale out" if action is ScalingAction.SCALE_OUT else "scale in"
    return f"{verb} {previous} -> {target}: {why}{limited}"
