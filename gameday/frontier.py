"""`surgeguard bench --frontier`: every family's one knob swept, and who dominates whom (BENCHMARK.md).

Any single setting of a scaler can be tuned to look good on one number; the honest comparison is the
curve of dropped demand against cost that each family traces as its knob moves. An AWS point
(policy, setting) is beaten when some Surgeguard point drops no more AND costs no more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gameday.baselines import AWS_FRONTIER, AWS_FRONTIER_SETTINGS
from gameday.engine import (
    DEFAULT_START,
    DeclaredEvent,
    Policy,
    oracle_instance_minutes,
    run_each,
    simulate,
)
from gameday.fleet import DEFAULT_PARAMS, FleetParams, size_fleet
from gameday.surgeguard_policy import HEADROOM_SETTINGS, surgeguard_at, surgeguard_reactive_at
from gameday.traces import Trace

CHALLENGER = "surgeguard"
# Surgeguard as the Lambda runs it, and without its burst anticipation (what the anticipation buys).
CHALLENGERS = (CHALLENGER, "surgeguard-reactive")
# Two numbers compare equal within this (float noise of sums over millions of minutes).
_EPSILON = 1e-9


@dataclass(frozen=True)
class FrontierPoint:
    setting: float
    dropped_pct: float
    instance_hours: float
    cost_vs_oracle: float

    def dominates(self, other: FrontierPoint) -> bool:
        """Drops no more and costs no more (instance-hours, the same fleet and trace)."""
        return (
            self.dropped_pct <= other.dropped_pct + _EPSILON
            and self.instance_hours <= other.instance_hours * (1 + _EPSILON)
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "setting": self.setting,
            "dropped_pct": self.dropped_pct,
            "instance_hours": self.instance_hours,
            "cost_vs_oracle": self.cost_vs_oracle,
        }


@dataclass(frozen=True)
class TraceFrontier:
    trace: str
    frontier: Mapping[str, Sequence[FrontierPoint]]  # family -> points in setting order

    def dominator(self, point: FrontierPoint, challenger: str = CHALLENGER) -> FrontierPoint | None:
        """The challenger's cheapest point that dominates `point`, or None."""
        mine = [p for p in self.frontier.get(challenger, ()) if p.dominates(point)]
        return min(mine, key=lambda p: (p.instance_hours, p.dropped_pct), default=None)

    def undominated(self, challenger: str = CHALLENGER) -> list[tuple[str, FrontierPoint]]:
        """The AWS points (every family that is not a Surgeguard one) no `challenger` point dominates."""
        return [
            (family, point)
            for family, points in self.frontier.items()
            if family not in CHALLENGERS
            for point in points
            if self.dominator(point, challenger) is None
        ]


Families = Mapping[str, tuple[Callable[[float], Policy], Sequence[float]]]


def default_families() -> dict[str, tuple[Callable[[float], Policy], Sequence[float]]]:
    """The four AWS families over BENCHMARK.md's targets, and Surgeguard over its own headroom knob."""
    families: dict[str, tuple[Callable[[float], Policy], Sequence[float]]] = {
        name: (factory, AWS_FRONTIER_SETTINGS) for name, factory in AWS_FRONTIER.items()
    }
    families[CHALLENGER] = (surgeguard_at, HEADROOM_SETTINGS)
    families["surgeguard-reactive"] = (surgeguard_reactive_at, HEADROOM_SETTINGS)
    return families


def _run_point(
    trace: Trace,
    factory: Callable[[float], Policy],
    setting: float,
    params: FleetParams,
    start: datetime,
    events: Sequence[DeclaredEvent],
    seed: int,
) -> FrontierPoint:
    sizing = size_fleet(trace, params)
    oracle = oracle_instance_minutes(trace, sizing.capacity_per_instance)
    metrics = simulate(
        trace,
        factory(setting),
        params=params,
        sizing=sizing,
        start=start,
        events=events,
        seed=seed,
        oracle_minutes=oracle,
    ).metrics
    return FrontierPoint(setting, metrics.dropped_pct, metrics.instance_hours, metrics.cost_vs_oracle)


def run_frontier(
    traces: Sequence[Trace],
    *,
    families: Families | None = None,
    params: FleetParams = DEFAULT_PARAMS,
    start: datetime = DEFAULT_START,
    events: Sequence[DeclaredEvent] = (),
    seed: int = 0,
    jobs: int = 1,
) -> list[TraceFrontier]:
    """Every family at every setting on every trace; the same fleet and oracle per trace. With
    `jobs` > 1 the runs go to that many worker processes (each run is independent and deterministic,
    so the numbers are the same)."""
    families = default_families() if families is None else families
    tasks = [
        (index, family, factory, setting)
        for index in range(len(traces))
        for family, (factory, settings) in families.items()
        for setting in settings
    ]
    common = (params, start, tuple(events), seed)
    calls = [(traces[i], factory, setting, *common) for i, _, factory, setting in tasks]
    points = run_each(_run_point, calls, jobs)
    out = []
    for index, trace in enumerate(traces):
        frontier: dict[str, list[FrontierPoint]] = {}
        for (task_index, family, _, _), p in zip(tasks, points, strict=True):
            if task_index == index:
                frontier.setdefault(family, []).append(p)
        out.append(TraceFrontier(trace.name, frontier))
    return out


def format_frontier(frontiers: Sequence[TraceFrontier]) -> str:
    """Per trace: each family's points (dropped % / cost vs oracle), then, for each Surgeguard family
    that ran, the setting of its cheapest point that dominates each AWS point."""
    parts = []
    for tf in frontiers:
        lines = [f"{tf.trace}: frontier (setting: dropped_pct / cost_vs_oracle)"]
        width = max(len(name) for name in tf.frontier)
        for family, points in tf.frontier.items():
            cells = "  ".join(f"{p.setting:g}: {p.dropped_pct:.3f} / {p.cost_vs_oracle:.3f}" for p in points)
            lines.append(f"  {family:<{width}}  {cells}")
        for challenger in (name for name in CHALLENGERS if name in tf.frontier):
            lines.append(f"  dominance: the {challenger} setting that drops no more and costs no more")
            total = 0
            for family, points in tf.frontier.items():
                if family in CHALLENGERS:
                    continue
                verdicts = []
                for p in points:
                    winner = tf.dominator(p, challenger)
                    by = "NOT DOMINATED" if winner is None else f"{winner.setting:g}"
                    verdicts.append(f"{p.setting:g} -> {by}")
                    total += 1
                lines.append(f"  {family:<{width}}  {', '.join(verdicts)}")
            missed = len(tf.undominated(challenger))
            lines.append(f"  {challenger}: {total - missed} of {total} AWS points dominated")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def frontier_json(frontiers: Sequence[TraceFrontier]) -> dict[str, Any]:
    """{"traces":[{"trace":..,"frontier":{POLICY:[{"setting":..,"dropped_pct":..,"instance_hours":..,
    "cost_vs_oracle":..}]}, "undominated": {SURGEGUARD_FAMILY: [[POLICY, setting], ...]}}]}"""
    return {
        "traces": [
            {
                "trace": tf.trace,
                "frontier": {family: [p.as_dict() for p in points] for family, points in tf.frontier.items()},
                "undominated": {
                    challenger: [[family, p.setting] for family, p in tf.undominated(challenger)]
                    for challenger in CHALLENGERS
                    if challenger in tf.frontier
                },
            }
            for tf in frontiers
        ]
    }


def plot_frontier(frontiers: Sequence[TraceFrontier], path: Path) -> None:
    """One panel per trace: dropped % (symlog) against cost vs oracle, one line per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(frontiers))
    rows = -(-len(frontiers) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.9 * rows), squeeze=False)
    for ax in axes.flat[len(frontiers) :]:
        ax.set_visible(False)
    for ax, tf in zip(axes.flat, frontiers, strict=False):
        for family, points in tf.frontier.items():
            ours = family in CHALLENGERS
            ax.plot(
                [p.cost_vs_oracle for p in points],
                [p.dropped_pct for p in points],
                marker="o" if ours else ".",
                linewidth=2.2 if ours else 1.0,
                color=("black" if family == CHALLENGER else "tab:purple") if ours else None,
                label=family,
            )
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_xlabel("cost vs oracle (instance-hours)")
        ax.set_ylabel("dropped %")
        ax.set_title(tf.trace, fontsize=9)
        ax.grid(True, alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def frontier_main(
    traces: Sequence[Trace],
    *,
    params: FleetParams,
    start: datetime,
    events: Sequence[DeclaredEvent],
    seed: int,
    json_path: Path | None,
    png_path: Path | None,
    write: Callable[[str], Any],
    jobs: int = 1,
) -> int:
    """What `surgeguard bench --frontier` runs: the sweep, its tables, the JSON and PNG, the wall time."""
    started = time.perf_counter()
    frontiers = run_frontier(traces, params=params, start=start, events=events, seed=seed, jobs=jobs)
    elapsed = time.perf_counter() - started
    write(format_frontier(frontiers))
    if json_path is not None:
        import json

        json_path.write_text(json.dumps(frontier_json(frontiers), indent=2) + "\n", encoding="utf-8")
    if png_path is not None:
        plot_frontier(frontiers, png_path)
    points = sum(len(pts) for tf in frontiers for pts in tf.frontier.values())
    write(
        f"frontier: {points} runs on {len(frontiers)} trace(s) in {elapsed:.1f} s wall time ({jobs} job(s))\n"
    )
    return 0
