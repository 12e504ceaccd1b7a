"""Bench output: one table per trace, the fleet parameters used, and the JSON form."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gameday.baselines import AWS_POLICIES
from gameday.cost import AFTER_SCALE_IN_MINUTES, DROP_CAUSES, CostBreakdown, DropBreakdown
from gameday.engine import PolicyMetrics
from gameday.fleet import FleetParams, FleetSizing
from gameday.goals import judge
from gameday.warm_pool import WarmPoolParams

# The project's own policy; when it ran, each table ends with its ratios to every AWS policy.
CHALLENGER = "surgeguard"


@dataclass(frozen=True)
class TraceReport:
    """Everything bench knows about one trace: its fleet and each policy's numbers, in run order."""

    trace: str
    minutes: int
    gap_minutes: int
    sizing: FleetSizing
    policies: Mapping[str, PolicyMetrics]
    # Policies that forecast (Surgeguard's forecaster): MAPE of their 15-minute forecasts, None if none.
    forecast_mape: Mapping[str, float | None] = field(default_factory=dict)
    # `--explain-cost`: where each Surgeguard family's instance-hours went.
    cost_explained: Mapping[str, CostBreakdown] = field(default_factory=dict)
    # `--explain-drops`: where each policy's drops happened.
    drops_explained: Mapping[str, DropBreakdown] = field(default_factory=dict)


def format_params(params: FleetParams) -> str:
    """The fleet-model knobs in effect (BENCHMARK.md: each is printed in the report)."""
    return (
        f"fleet model: pending {params.pending_minutes} min, warming {params.warming_minutes} min, "
        f"min size {params.min_size}, max = ceil({params.max_factor:g} * peak / c), "
        f"c = median(d) / {params.capacity_divisor:g}, "
        f"start = ceil(max(d[0..4]) / ({params.initial_utilization:g} c)), "
        f"scheduled actions up to {params.scheduled_action_delay_minutes} min late"
    )


def format_trace(report: TraceReport, challenger: str = CHALLENGER) -> str:
    """A table with policies as rows, plus challenger/AWS ratios when the challenger ran."""
    sizing = report.sizing
    lines = [
        f"{report.trace}: {report.minutes:,} minutes ({report.gap_minutes:,} in gaps, left out); "
        f"c = {sizing.capacity_per_instance:g} req/min per instance, "
        f"group {sizing.min_size}..{sizing.max_size}, starts at {sizing.initial_size}",
    ]
    name_width = max([len("policy"), *(len(name) for name in report.policies)])
    header = (
        f"  {'policy':<{name_width}}  {'dropped_pct':>11}  {'overload_minutes':>16}  "
        f"{'instance_hours':>14}  {'cost_vs_oracle':>14}  {'actions':>8}"
    )
    pooled = any(m.warm_pool_hours is not None for m in report.policies.values())
    if pooled:
        # instance_hours already prices the stopped hours at the pool's fraction.
        header += f"  {'warm_pool_hours':>15}  {'warm_starts':>11}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for name, m in report.policies.items():
        line = (
            f"  {name:<{name_width}}  {m.dropped_pct:>11.3f}  {m.overload_minutes:>16d}  "
            f"{m.instance_hours:>14.1f}  {m.cost_vs_oracle:>14.3f}  {m.actions:>8d}"
        )
        if pooled:
            hours = "-" if m.warm_pool_hours is None else f"{m.warm_pool_hours:.1f}"
            starts = "-" if m.warm_starts is None else f"{m.warm_starts:d}"
            line += f"  {hours:>15}  {starts:>11}"
        lines.append(line)
    lines += _ratio_lines(report.policies, challenger, name_width)
    if not pooled:  # the goals are judged on the default fleet model
        # Named when not surgeguard (--compare): the goals are BENCHMARK.md's for surgeguard.
        judged = "" if challenger == CHALLENGER else f"{challenger}: "
        lines += [
            f"  {judged}{verdict.line()}" for verdict in judge(report.policies, report.minutes, challenger)
        ]
    for name, mape in report.forecast_mape.items():
        shown = "n/a (under 2 days of history)" if mape is None else f"{100 * mape:.1f}%"
        lines.append(f"  {name} forecast error (MAPE, 15-minute steps): {shown}")
    for name, breakdown in report.cost_explained.items():
        lines += breakdown.lines(name)
    lines += _drop_lines(report.drops_explained)
    return "\n".join(lines)


def _drop_lines(explained: Mapping[str, DropBreakdown]) -> list[str]:
    """`--explain-drops`: one row per policy that dropped anything, its points of demand by cause."""
    dropping = {name: drops for name, drops in explained.items() if drops.dropped_pct > 0}
    if not dropping:
        return ["  where the drops happen: no policy dropped any demand"] if explained else []
    name_width = max(len("policy"), *(len(name) for name in dropping))
    widths = [max(len(cause), 7) for cause in DROP_CAUSES]
    header = f"  {'policy':<{name_width}}  {'dropped':>7}  " + "  ".join(
        f"{cause:>{width}}" for cause, width in zip(DROP_CAUSES, widths, strict=True)
    )
    lines = [
        "  where the drops happen, in points of the demand, by the group's state: instances launching "
        f"(asked for, late), desired at the max, desired fell in the last {AFTER_SCALE_IN_MINUTES} minutes, "
        "or nothing had acted yet:",
        header,
    ]
    for name, drops in dropping.items():
        lines.append(
            f"  {name:<{name_width}}  {drops.dropped_pct:>7.3f}  "
            + "  ".join(
                f"{drops.points[cause]:>{width}.3f}" for cause, width in zip(DROP_CAUSES, widths, strict=True)
            )
        )
    return lines


def _ratio_lines(policies: Mapping[str, PolicyMetrics], challenger: str, name_width: int) -> list[str]:
    mine = policies.get(challenger)
    rivals = [name for name in AWS_POLICIES if name in policies]
    if mine is None or not rivals:
        return []
    title = f"{challenger} / policy:"
    width = max(name_width, len(title))
    lines = [f"  {title:<{width}}  {'dropped':>9}  {'instance_hours':>14}"]
    for name in rivals:
        theirs = policies[name]
        lines.append(
            f"  {name:<{width}}  {format_ratio(mine.dropped_pct, theirs.dropped_pct):>9}  "
            f"{format_ratio(mine.instance_hours, theirs.instance_hours):>14}"
        )
    return lines


def ratio(mine: float, theirs: float) -> float:
    """mine / theirs, with 0/0 = 1 (equal) and x/0 = inf."""
    if theirs == 0:
        return 1.0 if mine == 0 else math.inf
    return mine / theirs


def format_ratio(mine: float, theirs: float) -> str:
    if mine == theirs == 0:
        return "0 / 0"
    value = ratio(mine, theirs)
    return "inf" if math.isinf(value) else f"{value:.3f}x"


def format_report(
    reports: Sequence[TraceReport],
    params: FleetParams,
    challenger: str = CHALLENGER,
    warm_pool: WarmPoolParams | None = None,
) -> str:
    """The whole text report: fleet-model line (and the pool's), then one table per trace."""
    parts = [
        format_params(params) if warm_pool is None else f"{format_params(params)}\n{warm_pool.describe()}"
    ]
    parts += [format_trace(report, challenger) for report in reports]
    return "\n\n".join(parts) + "\n"


def report_json(
    reports: Sequence[TraceReport], params: FleetParams, warm_pool: WarmPoolParams | None = None
) -> dict[str, Any]:
    """{"traces": [{"trace": NAME, "policies": {POLICY: {metric: value}}}]}, plus the fleet used (and
    the warm pool, when there was one)."""
    numbers = {
        "traces": [
            {
                "trace": report.trace,
                "policies": {
                    name: {
                        **metrics.as_dict(),
                        **(
                            {"forecast_mape": report.forecast_mape[name]}
                            if name in report.forecast_mape
                            else {}
                        ),
                        **(
                            {"cost_explained": report.cost_explained[name].as_dict()}
                            if name in report.cost_explained
                            else {}
                        ),
                        **(
                            {"drops_explained": dict(report.drops_explained[name].points)}
                            if name in report.drops_explained
                            else {}
                        ),
                    }
                    for name, metrics in report.policies.items()
                },
                "fleet": asdict(report.sizing),
            }
            for report in reports
        ],
        "fleet_params": asdict(params),
    }
    if warm_pool is not None:
        numbers["warm_pool"] = asdict(warm_pool)
    return numbers
