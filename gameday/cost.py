"""Where a policy's instance-hours go (`surgeguard bench --explain-cost`): the instances serving within
the need (the oracle's ceil(d / c)), those launched and not serving yet, and those serving over the need,
each attributed to what held it, read from Surgeguard's own audit records as a team would read them.
And where any policy's drops happen (`--explain-drops`), from the fleet's series alone.

A decision's record names the rule that won (`winning_rule`, with the capacity it asked for) and every
limit that moved the result (`clamps`: scale-in stabilization and max step, the group's min, an event's
floor...). Each one that held more than the rule asked holds the layer between the two. Capacity keeps
the layers of the last decision until the next one: a minute nobody decided is held by what set it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gameday.fleet import CEIL_TOLERANCE, ceil_tol

# (cause, capacity up to which it holds), rising: the winning rule's ask first, then each limit above it.
Layers = tuple[tuple[str, int], ...]

# Before the first decision the group is as the fleet model started it.
INITIAL: Layers = (("initial size", 0),)
_DECIDED = ("applied", "unchanged")
# What holds the capacity a decision kept over its rule's ask when no clamp says why.
SCALE_IN_HELD = "scale-in held"


def holding_layers(record: Mapping[str, Any]) -> Layers | None:
    """What holds the capacity a decision's audit record leaves: the winning rule up to its ask, then
    each limit that held more, up to where it held it (a scale-in held back, `SCALE_IN_HELD`, up to
    the capacity it kept). None for a record that decided no capacity (skipped, rejected, failed, or
    the forecaster's)."""
    rule, desired = record.get("winning_rule"), record.get("new_desired")
    if record.get("outcome") not in _DECIDED or not rule or not isinstance(desired, int):
        return None
    clamps = record.get("clamps") or ()
    kept = int(clamps[0]["before"]) if clamps else desired
    # A decision that held a scale-in back (the stabilization window after a scale-out, one step per
    # period, instances still launching, a sale's freeze, a scale-out alarm that woke it) keeps the
    # capacity it found with no clamp for it: its rule asked for less, as its candidates say.
    asked = [
        int(c["needed"])
        for c in record.get("candidates") or ()
        if c.get("rule") == rule and isinstance(c.get("needed"), int)
    ]
    ask = min(kept, max(asked)) if asked else kept
    layers = [(str(rule), ask)]
    if kept > ask:
        layers.append((SCALE_IN_HELD, kept))
    for clamp in clamps:
        if int(clamp["after"]) > layers[-1][1]:
            layers.append((str(clamp["limit"]), int(clamp["after"])))
    return tuple(layers)


@dataclass(frozen=True)
class CostBreakdown:
    """A run's billed instance-minutes (gap minutes left out, as in every metric), in three parts that
    add up to them."""

    oracle_minutes: int
    serving_in_need: int
    launching: int
    held_over: Mapping[str, int] = field(default_factory=dict)  # by cause, largest first

    @property
    def billed(self) -> int:
        return self.serving_in_need + self.launching + sum(self.held_over.values())

    def x_oracle(self, minutes: int) -> float:
        return minutes / self.oracle_minutes if self.oracle_minutes else 0.0

    def lines(self, policy: str) -> list[str]:
        """The text report's lines: each part as a multiple of the oracle's instance-hours."""
        rows = [
            ("serving within the need", self.serving_in_need),
            ("launching, not serving yet", self.launching),
            ("serving over the need, held by:", sum(self.held_over.values())),
            *((f"  {cause}", minutes) for cause, minutes in self.held_over.items()),
        ]
        width = max(len(label) for label, _ in rows)
        return [
            f"  where {policy}'s {self.billed / 60:,.1f} instance-hours go, x the oracle's "
            f"{self.oracle_minutes / 60:,.1f} ({self.x_oracle(self.billed):.3f}x in all):",
            *(f"    {label:<{width}}  {self.x_oracle(minutes):6.3f}" for label, minutes in rows),
        ]

    def as_dict(self) -> dict[str, Any]:
        """Instance-hours of each part."""
        return {
            "oracle_instance_hours": self.oracle_minutes / 60,
            "serving_in_need_hours": self.serving_in_need / 60,
            "launching_hours": self.launching / 60,
            "held_over_hours": {cause: minutes / 60 for cause, minutes in self.held_over.items()},
        }


def explain_cost(
    demand: Sequence[float],
    gap: Sequence[bool],
    serving: Sequence[int],
    billed: Sequence[int],
    capacity_per_instance: float,
    holdings: Sequence[tuple[int, Layers]],
    oracle_minutes: int,
) -> CostBreakdown:
    """Each non-gap minute's billed instances: serving within the need, launching (billed, not
    serving), and serving over the need, split by the layers in force (`holdings`: from each minute
    on, in minute order, until the next). Serving over the top layer belongs to the top layer."""
    in_need = launching = 0
    held: dict[str, int] = {}
    layers, upcoming = INITIAL, 0
    for minute, (d, is_gap, up, paid) in enumerate(zip(demand, gap, serving, billed, strict=True)):
        while upcoming < len(holdings) and holdings[upcoming][0] <= minute:
            layers = holdings[upcoming][1]
            upcoming += 1
        if is_gap:
            continue
        need = ceil_tol(d / capacity_per_instance)
        in_need += min(up, need)
        launching += paid - up
        floor = need
        for cause, top in layers:
            part = min(up, top) - floor
            if part > 0:
                held[cause] = held.get(cause, 0) + part
                floor += part
        if up > floor:
            cause = layers[-1][0]
            held[cause] = held.get(cause, 0) + up - floor
    ranked = dict(sorted(held.items(), key=lambda item: (-item[1], item[0])))
    return CostBreakdown(oracle_minutes, in_need, launching, ranked)


# A drop this soon after desired last fell is put down to the scale-in (AWS's own scale-in alarms look 15
# minutes back; BENCHMARK.md).
AFTER_SCALE_IN_MINUTES = 15
DROP_CAUSES = ("launching", "at the max", "after a scale-in", "not acted on")


@dataclass(frozen=True)
class DropBreakdown:
    """A run's dropped requests (gap minutes left out), as percentage points of its demand, by the
    state the group was in when they were dropped; the points add up to `dropped_pct`."""

    points: Mapping[str, float]

    @property
    def dropped_pct(self) -> float:
        return sum(self.points.values())


def explain_drops(
    demand: Sequence[float],
    gap: Sequence[bool],
    serving: Sequence[int],
    billed: Sequence[int],
    desired: Sequence[int],
    capacity_per_instance: float,
    max_size: int,
) -> DropBreakdown:
    """Each minute's drop (demand over what the serving instances serve) put down to the first that
    holds (`DROP_CAUSES`, in order): instances launched and not serving yet (capacity asked for, late);
    desired at the group's max, all of it serving (the max held it); desired fell within the last
    `AFTER_SCALE_IN_MINUTES` minutes (released too soon); else nothing had acted on the rise yet.
    Policy-blind: it reads only the fleet's series."""
    dropped = dict.fromkeys(DROP_CAUSES, 0.0)
    total = 0.0
    last_fall = None
    for minute, (d, is_gap, up, paid, want) in enumerate(
        zip(demand, gap, serving, billed, desired, strict=True)
    ):
        if minute and want < desired[minute - 1]:
            last_fall = minute
        if is_gap:
            continue
        total += d
        lost = d - up * capacity_per_instance
        if lost <= CEIL_TOLERANCE * capacity_per_instance:  # as the engine counts a drop
            continue
        if paid > up:
            cause = DROP_CAUSES[0]
        elif want >= max_size:
            cause = DROP_CAUSES[1]
        elif last_fall is not None and minute - last_fall < AFTER_SCALE_IN_MINUTES:
            cause = DROP_CAUSES[2]
        else:
            cause = DROP_CAUSES[3]
        dropped[cause] += lost
    return DropBreakdown({cause: 100.0 * lost / total if total else 0.0 for cause, lost in dropped.items()})
