"""The side-by-side table, the JSON and the PNG of a load test."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtest.runner import RunResult

COLUMNS = (
    ("policy", "policy", "{}"),
    ("p50_ms", "p50 ms", "{:,}"),
    ("p95_ms", "p95 ms", "{:,}"),
    ("p99_ms", "p99 ms", "{:,}"),
    ("error_pct", "errors %", "{:.2f}"),
    ("surge_p95_ms", "surge p95 ms", "{:,}"),
    ("surge_error_pct", "surge errors %", "{:.2f}"),
    ("throttled_pct", "429 %", "{:.2f}"),
    ("requests", "requests", "{:,}"),
    ("served", "served", "{:,}"),
    ("oversold", "oversold", "{}"),
    ("worker_minutes", "worker-min", "{:,}"),
    ("scale_actions", "actions", "{}"),
    ("degraded_minutes", "degraded min", "{}"),
)


def table(results: Sequence[RunResult]) -> str:
    """A Markdown table, one row per policy."""
    rows = [
        ["-" if r.summary()[key] is None else fmt.format(r.summary()[key]) for key, _, fmt in COLUMNS]
        for r in results
    ]
    header = [title for _, title, _ in COLUMNS]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    return "\n".join(lines)


def as_json(results: Sequence[RunResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        **meta,
        "policies": [
            {
                **r.summary(),
                "minutes": [m.__dict__ for m in r.minutes],
                "changes": [c.__dict__ for c in r.changes],
                "audit_records": len(r.records),
            }
            for r in results
        ],
    }


def write(results: Sequence[RunResult], out: Path, meta: dict[str, Any]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / "loadtest.md", "json": out / "loadtest.json", "png": out / "loadtest.png"}
    paths["table"].write_text(table(results) + "\n", encoding="utf-8")
    paths["json"].write_text(
        json.dumps(as_json(results, meta), indent=1, default=str) + "\n", encoding="utf-8"
    )
    plot(results, paths["png"], meta.get("title", "load test"))
    return paths


def plot(results: Sequence[RunResult], path: Path, title: str) -> Path:
    """Per policy: demand (requests/s arriving) and serving capacity on the left axis, p95 on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(results), 1, figsize=(12, 3.2 * len(results)), sharex=True, squeeze=False)
    p95_top = max((m.p95 for r in results for m in r.minutes if m.p95 == m.p95), default=1.0) * 1000 * 1.05
    for axis, result in zip(axes[:, 0], results, strict=True):
        spm = result.seconds_per_minute
        minutes = [m.minute for m in result.minutes]
        demand = [m.arrivals / spm for m in result.minutes]
        capacity = [m.serving * result.capacity_rps for m in result.minutes]
        axis.plot(minutes, demand, color="tab:blue", linewidth=0.8, label="demand (requests/s arriving)")
        axis.step(
            minutes,
            capacity,
            where="post",
            color="tab:green",
            linewidth=1.2,
            label="serving capacity (req/s)",
        )
        errors = [m.errors / spm for m in result.minutes]
        axis.fill_between(minutes, 0, errors, color="tab:red", alpha=0.35, step="post", label="5xx/s")
        axis.set_ylabel("requests/s")
        latency = axis.twinx()
        latency.plot(
            minutes, [1000 * m.p95 for m in result.minutes], color="tab:orange", linewidth=0.7, label="p95 ms"
        )
        latency.set_ylim(0, p95_top)
        latency.set_ylabel("p95 ms")
        s = result.summary()
        p95 = "-" if s["p95_ms"] is None else s["p95_ms"]
        axis.set_title(
            f"{result.policy}: p95 {p95} ms, errors {s['error_pct']}%, "
            f"{s['worker_minutes']:,} worker-minutes, {s['scale_actions']} actions",
            fontsize=10,
        )
        handles = axis.get_legend_handles_labels()
        more = latency.get_legend_handles_labels()
        axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
    axes[-1, 0].set_xlabel("trace minute")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
