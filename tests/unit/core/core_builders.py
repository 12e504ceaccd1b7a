"""Small builders for decision inputs: a readable default group, overridden per test."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from surgeguard.config import Direction, GroupConfig
from surgeguard.domain.decision import DecisionInput
from surgeguard.domain.model import AsgSize, Controls, GroupSnapshot, Reading, ScalerMemory

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
REPO_ROOT = Path(__file__).resolve().parents[3]

REQUESTS = {
    "kind": "requests_per_target",
    "target": 1000,
    "load_balancer": "app/web-alb/50dc6c495c0c9188",
    "target_group": "targetgroup/web/73e2d6bc24d8a067",
}


def load_sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def policy(**overrides: Any) -> GroupConfig:
    """A one-CPU-signal group: out doubles at most, in has no step limit and no window by default."""
    data: dict[str, Any] = {
        "name": "web",
        "min": 1,
        "max": 50,
        "warmup_seconds": 240,
        "signals": [{"kind": "cpu", "target": 50}],
        "scale_out": {"max_step_percent": 100},
        "scale_in": {"datapoints_to_alarm": 1, "evaluation_periods": 1, "stabilization_seconds": 0},
    }
    data.update(overrides)
    return GroupConfig.model_validate(data)


def group(
    desired: int, *, min: int = 0, max: int = 100, in_service: int | None = None, pending: int = 0
) -> GroupSnapshot:
    return GroupSnapshot(
        "web", AsgSize(min, desired, max), desired if in_service is None else in_service, pending
    )


def cpu(value: float | None, target: float = 50.0) -> Reading:
    return Reading("cpu", "cpu", value, target)


def requests(value: float | None, target: float = 1000.0) -> Reading:
    return Reading("requests_per_target", "requests_per_target", value, target)


def inputs(
    *,
    group_: GroupSnapshot | None = None,
    memory: ScalerMemory | None = None,
    readings: tuple[Reading, ...] | None = None,
    policy_: GroupConfig | None = None,
    now: datetime = T0,
    direction: Direction | None = Direction.OUT,
    breached: frozenset[str] = frozenset(),
    controls: Controls | None = None,
    floors: tuple[Any, ...] = (),
) -> DecisionInput:
    return DecisionInput(
        group=group_ or group(4),
        memory=memory or ScalerMemory(),
        readings=readings if readings is not None else (cpu(50.0),),
        policy=policy_ or policy(),
        now=now,
        trigger_direction=direction,
        breached_rules=breached,
        controls=controls or Controls(),
        floors=floors,
    )
