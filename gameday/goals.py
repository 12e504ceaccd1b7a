"""BENCHMARK.md's goals, judged on one trace's numbers: what `surgeguard bench` prints under each table.

Any trace can be judged the same way, including one the project has never seen: run `surgeguard bench
TRACE.csv` and read the goal lines. The frontier goal needs the sweep (`--frontier`, its own dominance
table); the lines here are the ones a single run can settle, and the sweep judges them too, on its points
at the default settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class Measured(Protocol):
    """What the goals read of a run: a bench run's PolicyMetrics, or a point of the frontier's sweep."""

    @property
    def dropped_pct(self) -> float: ...

    @property
    def instance_hours(self) -> float: ...

    @property
    def cost_vs_oracle(self) -> float: ...


# "Traces of a day or longer count; the one-hour azure-llm traces are shape tests."
JUDGED_MINUTES = 1440
MILESTONE = ("aws-target-tracking-cpu", "aws-target-tracking-requests", "aws-target-tracking-hires")
# "every classic and hires AWS policy": both target-tracking policies, step scaling and TT-hires.
BOX = (*MILESTONE, "aws-step-scaling")
CLAIRVOYANT_ANCHOR = "aws-predictive+tt"
CLAIRVOYANT_COST_SHARE = 0.6


@dataclass(frozen=True)
class Verdict:
    goal: str
    met: bool | None  # None: not judged (a policy it needs did not run, or the trace is too short)
    detail: str

    def line(self) -> str:
        word = {True: "met", False: "NOT MET", None: "not judged"}[self.met]
        return f"{self.goal}: {word} ({self.detail})"


# What a trace under a day gets in place of every goal.
SHAPE_TEST = Verdict("goals", None, "a shape test: under a day long")


def _point(m: Measured) -> str:
    return f"{m.dropped_pct:.3f} % at {m.cost_vs_oracle:.3f}x"


def _cost_bound_note(mine: Measured, policies: Mapping[str, Measured], cheapest: str) -> str:
    """Where `mine` failed a cost bound that even `clairvoyant` (the next 4 minutes known, sized at
    90 %) exceeds, the facts that say how the bound was reached: the dropping of the policy that set it
    ('' otherwise: the cost was met, or clairvoyant did not run or costs less)."""
    bound, clairvoyant = policies[cheapest], policies.get("clairvoyant")
    if mine.instance_hours <= bound.instance_hours or clairvoyant is None:
        return ""
    if clairvoyant.instance_hours <= bound.instance_hours:
        return ""
    return (
        f"; the cost bound is {cheapest}'s, which drops {bound.dropped_pct:.3f} %, and even clairvoyant, "
        f"knowing the next 4 minutes, costs {clairvoyant.cost_vs_oracle:.3f}x"
    )


def milestone(mine: Measured, policies: Mapping[str, Measured]) -> Verdict:
    """Drops <= AND cost <= each target-tracking policy, classic and hires."""
    missing = [name for name in MILESTONE if name not in policies]
    if missing:
        return Verdict("milestone", None, f"needs {', '.join(missing)}")
    beaten_by = [
        f"{name} ({_point(policies[name])})"
        for name in MILESTONE
        if mine.dropped_pct > policies[name].dropped_pct
        or mine.instance_hours > policies[name].instance_hours
    ]
    if beaten_by:
        cheapest = min(MILESTONE, key=lambda name: policies[name].instance_hours)
        note = _cost_bound_note(mine, policies, cheapest)
        return Verdict("milestone", False, f"{_point(mine)}; not at or below {', '.join(beaten_by)}{note}")
    return Verdict("milestone", True, f"{_point(mine)}, at or below all three target-tracking policies")


def box(mine: Measured, policies: Mapping[str, Measured]) -> Verdict:
    """Drops <= the lowest of the classic and hires AWS policies, and cost <= the cheapest, at once."""
    missing = [name for name in BOX if name not in policies]
    if missing:
        return Verdict("box", None, f"needs {', '.join(missing)}")
    fewest = min(BOX, key=lambda name: policies[name].dropped_pct)
    cheapest = min(BOX, key=lambda name: policies[name].instance_hours)
    drops, hours = policies[fewest].dropped_pct, policies[cheapest].instance_hours
    detail = (
        f"{_point(mine)} against the fewest drops, {drops:.3f} % ({fewest}), and the lowest cost, "
        f"{policies[cheapest].cost_vs_oracle:.3f}x ({cheapest})"
    )
    return Verdict(
        "box",
        mine.dropped_pct <= drops and mine.instance_hours <= hours,
        detail + _cost_bound_note(mine, policies, cheapest),
    )


def clairvoyant_distance(mine: Measured, policies: Mapping[str, Measured]) -> Verdict:
    """Drops <= predictive + target tracking's at <= 60 % of its cost."""
    anchor = policies.get(CLAIRVOYANT_ANCHOR)
    if anchor is None:
        return Verdict("distance to clairvoyant", None, f"needs {CLAIRVOYANT_ANCHOR}")
    budget = CLAIRVOYANT_COST_SHARE * anchor.instance_hours
    met = mine.dropped_pct <= anchor.dropped_pct and mine.instance_hours <= budget
    needed = CLAIRVOYANT_COST_SHARE * anchor.cost_vs_oracle
    return Verdict(
        "distance to clairvoyant",
        met,
        f"{_point(mine)}; needs <= {anchor.dropped_pct:.3f} % at <= {needed:.3f}x",
    )


def judge(
    policies: Mapping[str, Measured], trace_minutes: int, challenger: str = "surgeguard"
) -> list[Verdict]:
    """The goals a single bench run settles, for `challenger` on one trace (none if it did not run)."""
    mine = policies.get(challenger)
    if mine is None:
        return []
    # "Traces of a day or longer count": by the trace's span, so a day's export missing a datapoint is
    # still a day (its gap minutes are left out of drops and cost, as everywhere).
    if trace_minutes < JUDGED_MINUTES:
        return [SHAPE_TEST]
    return [milestone(mine, policies), box(mine, policies), clairvoyant_distance(mine, policies)]
