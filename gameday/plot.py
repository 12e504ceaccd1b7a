"""gameday.png: demand against serving and desired capacity, one panel per policy, decisions marked.

matplotlib is imported only when a plot is drawn (with the Agg backend: no display needed), so the
engine, bench and Lambda code never pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gameday.engine import DeclaredEvent, SimulationResult

_SECONDS = 60.0  # the series are per minute; the plot shows requests per second


@dataclass(frozen=True)
class Marker:
    """One applied decision: at `minute`, desired went from `previous` to `new`."""

    minute: float
    previous: int
    new: int


def applied_markers(records: Sequence[Mapping[str, Any]], start: datetime) -> list[Marker]:
    """Applied decisions from Surgeguard's audit records (the table's items or the fast path's)."""
    markers = []
    for record in records:
        if record.get("outcome") != "applied" or record.get("new_desired") is None:
            continue
        at = datetime.fromisoformat(record["at"])
        minute = (at - start).total_seconds() / 60.0
        markers.append(Marker(minute, int(record["previous_desired"]), int(record["new_desired"])))
    return markers


def plot_gameday(
    path: str | Path,
    results: Mapping[str, SimulationResult],
    *,
    start: datetime,
    markers: Mapping[str, Sequence[Marker]] | None = None,
    events: Sequence[DeclaredEvent] = (),
    title: str = "",
) -> Path:
    """One panel per result (same scales): demand, serving capacity (serving x c), desired capacity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker

    path = Path(path)
    markers = markers or {}
    names = list(results)
    if not names:
        raise ValueError("nothing to plot")
    zone = start.tzinfo
    figure, axes = plt.subplots(
        len(names), 1, figsize=(13, 3.6 * len(names) + 0.9), sharex=True, sharey=True, squeeze=False
    )
    peak = 0.0
    for axis, name in zip(axes[:, 0], names, strict=True):
        result = results[name]
        series = result.series
        c = result.sizing.capacity_per_instance
        times = [start + timedelta(minutes=m) for m in range(len(series.demand))]
        demand = [d / _SECONDS for d in series.demand]
        serving = [n * c / _SECONDS for n in series.serving]
        desired = [n * c / _SECONDS for n in series.desired]
        peak = max(peak, max(demand), max(desired))
        axis.fill_between(
            times,
            serving,
            demand,
            where=[d > s for d, s in zip(demand, serving, strict=True)],
            step="post",
            color="tab:red",
            alpha=0.35,
            linewidth=0,
            label="dropped (demand above serving capacity)",
        )
        axis.step(times, demand, where="post", color="black", linewidth=1.1, label="demand")
        axis.step(
            times,
            serving,
            where="post",
            color="tab:blue",
            linewidth=1.4,
            label="serving capacity (serving x c)",
        )
        axis.step(
            times,
            desired,
            where="post",
            color="tab:orange",
            linewidth=1.0,
            linestyle="--",
            label="desired capacity (desired x c)",
        )
        outs = [m for m in markers.get(name, ()) if m.new > m.previous]
        ins = [m for m in markers.get(name, ()) if m.new < m.previous]
        for group, marker, color, label in (
            (outs, "^", "tab:green", "applied scale-out"),
            (ins, "v", "tab:purple", "applied scale-in"),
        ):
            if group:
                axis.scatter(
                    [start + timedelta(minutes=m.minute) for m in group],
                    [m.new * c / _SECONDS for m in group],
                    marker=marker,
                    color=color,
                    s=28,
                    zorder=5,
                    label=f"{label} ({len(group)})",
                )
        for event in events:
            begin = event.start.astimezone(zone)
            axis.axvspan(
                begin,
                begin + timedelta(minutes=event.duration_minutes),
                color="gold",
                alpha=0.18,
                linewidth=0,
            )
            axis.annotate(
                f"declared event: {event.peak_multiplier:g}x",
                (begin, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=8,
                color="darkgoldenrod",
            )
        m = result.metrics
        axis.set_title(
            f"{name}: dropped {m.dropped_pct:.3f}% of demand, {m.overload_minutes} overloaded minutes, "
            f"{m.instance_hours:.1f} instance-hours ({m.cost_vs_oracle:.2f}x oracle), {m.actions} actions",
            fontsize=10,
            loc="left",
        )
        axis.set_ylabel("requests / second")
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper center", bbox_to_anchor=(0.55, 1.0), fontsize=8, ncol=3, framealpha=0.85)
    for axis in axes[:, 0]:
        axis.set_ylim(0, peak * 1.12)
        axis.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    bottom = axes[-1, 0]
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M", tz=zone))
    bottom.set_xlabel(f"local time ({start.strftime('%Z') or start.strftime('%z')})")
    if title:
        figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_capacity_against_demand(
    path: str | Path,
    *,
    start: datetime,
    demand: Sequence[float | None],
    desired: Sequence[int],
    applied: Sequence[tuple[datetime, int]] = (),
    per_instance: float | None = None,
    title: str = "",
) -> Path:
    """`surgeguard report`'s picture of a real window: requests per minute (left axis) against the
    group's desired capacity (right axis, from the audit trail), applied decisions marked; with the
    requests target, also what that capacity serves at the target (left axis, dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker

    path = Path(path)
    times = [start + timedelta(minutes=m) for m in range(len(desired))]
    figure, first = plt.subplots(figsize=(13, 4.8))
    axis: Any = first  # matplotlib's stubs take no datetimes on the x axis; it plots them
    if any(v is not None for v in demand):
        axis.step(
            times,
            [float("nan") if v is None else v for v in demand],
            where="post",
            color="black",
            linewidth=1.0,
            label="demand (ALB RequestCount, requests/min)",
        )
    if per_instance:
        axis.step(
            times,
            [n * per_instance for n in desired],
            where="post",
            color="tab:blue",
            linewidth=1.0,
            linestyle="--",
            label=f"desired x requests target ({per_instance:,.0f}/min per instance)",
        )
    axis.set_ylim(bottom=0)
    axis.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axis.set_ylabel("requests / minute")
    axis.grid(True, alpha=0.3)
    capacity: Any = axis.twinx()
    capacity.step(times, desired, where="post", color="tab:orange", linewidth=1.5, label="desired capacity")
    if applied:
        capacity.scatter(
            [at for at, _ in applied],
            [new for _, new in applied],
            marker="o",
            s=14,
            color="tab:green",
            zorder=5,
            label=f"applied decisions ({len(applied)})",
        )
    capacity.set_ylabel("instances")
    capacity.set_ylim(0, max([*desired, 1]) * 1.15)
    handles = axis.get_legend_handles_labels()
    more = capacity.get_legend_handles_labels()
    axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M", tz=start.tzinfo))
    axis.set_xlabel(f"time ({start.strftime('%Z') or 'UTC'})")
    if title:
        axis.set_title(title, fontsize=10, loc="left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
