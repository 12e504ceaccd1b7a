"""Shared by the infra tests: import paths, the pinned environment, and one synthesized stack."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `infra` is not an installed package
try:
    import surgeguard  # noqa: F401  (installed editable from lambdas/)
except ImportError:
    sys.path.insert(0, str(ROOT / "lambdas"))

from surgeguard.config import ScalerConfig, load_config, parse_config  # noqa: E402

CONFIG_FILE = ROOT / "surgeguard.yaml"
STACK_NAME = "Surgeguard"
# Pinned so ARNs render as plain strings in the template; app.py's env-agnostic synth is tested too.
ACCOUNT = "123456789012"
REGION = "eu-west-1"


@dataclass(frozen=True)
class Synth:
    outdir: Path
    template: dict[str, Any]
    validation_error: str | None  # why app.synth() failed (cdk-nag findings); None when it passed
    seconds: float
    stderr: str = ""  # what the app printed while building (warnings)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == type_name}

    def function(self, handler: str) -> tuple[str, dict[str, Any]]:
        """The one Lambda function with this handler: (logical id, resource)."""
        (item,) = [
            (k, v)
            for k, v in self.of_type("AWS::Lambda::Function").items()
            if v["Properties"]["Handler"] == handler
        ]
        return item

    def logical_id(self, type_name: str, **properties: Any) -> str:
        matches = [
            k
            for k, v in self.of_type(type_name).items()
            if all(v.get("Properties", {}).get(p) == want for p, want in properties.items())
        ]
        assert len(matches) == 1, f"{type_name} {properties}: {matches}"
        return matches[0]


# Sale events for the schedule tests, independent of whatever surgeguard.yaml holds. Lead time:
# web 120 + 240 s + 2 + 5 min = 13 min; api 120 + 300 s + 2 + 5 min = 14 min.
SALES_NOW = datetime(2026, 11, 1, 5, 20, tzinfo=UTC)  # after night-owl's pre-warm (05:17Z)


def sales_config() -> ScalerConfig:
    cpu = [{"kind": "cpu", "target": 50}]
    return parse_config(
        {
            "groups": [
                {
                    "name": "web",
                    "min": 2,
                    "max": 10,
                    "signals": cpu,
                    "launch_seconds": 120,
                    "warmup_seconds": 240,
                    "events": [
                        {
                            "name": "black-friday",
                            "start": "2026-11-27T00:00:00",
                            "end": "2026-11-27T02:00:00",
                            "timezone": "America/New_York",
                            "peak_multiplier": 4,
                            "temporary_max": 40,
                            # early access: a quarter of the peak an hour before the doors
                            "ramp": [{"minutes_before_start": 60, "fraction": 0.25}],
                        },
                        {
                            # 01:30 on the night daylight saving ends: the hour 01:00-02:00 happens
                            # twice; Python (fold=0) and plan_event take the first (EDT, 05:30Z).
                            "name": "night-owl",
                            "start": "2026-11-01T01:30:00",
                            "end": "2026-11-01T01:50:00",
                            "timezone": "America/New_York",
                            "peak_multiplier": 2,
                        },
                    ],
                },
                {
                    "name": "api",
                    "min": 1,
                    "max": 6,
                    "signals": cpu,
                    "launch_seconds": 120,
                    "warmup_seconds": 300,
                    "events": [
                        {
                            # Doors open 10 minutes after Berlin springs forward (02:00 CET -> 03:00 CEST).
                            "name": "spring-sale",
                            "start": "2027-03-28T03:10:00",
                            "end": "2027-03-28T05:00:00",
                            "timezone": "Europe/Berlin",
                            "peak_multiplier": 3,
                            "hold_after_minutes": 0,
                        }
                    ],
                },
            ]
        },
        source="tests/infra sales config",
    )


# The forecaster: two groups forecast (every hour, every 15 minutes), one does not; one has a sale
# event too, so the sale schedules and the forecast schedules live side by side.
FORECAST_NOW = datetime(2026, 11, 1, tzinfo=UTC)


def forecast_config() -> ScalerConfig:
    cpu = [{"kind": "cpu", "target": 50}]

    def requests(name: str) -> list[dict[str, Any]]:  # the forecast reads ALB RequestCount
        return [
            *cpu,
            {
                "kind": "requests_per_target",
                "target": 1000,
                "load_balancer": "app/shop-alb/50dc6c495c0c9188",
                "target_group": f"targetgroup/{name}/73e2d6bc24d8a067",
            },
        ]

    return parse_config(
        {
            "groups": [
                {
                    "name": "web",
                    "min": 2,
                    "max": 10,
                    "signals": requests("web"),
                    "forecast": {"every_minutes": 60},
                    "events": [
                        {
                            "name": "black-friday",
                            "start": "2026-11-27T00:00:00",
                            "end": "2026-11-27T02:00:00",
                            "timezone": "America/New_York",
                            "peak_multiplier": 4,
                        }
                    ],
                },
                {
                    "name": "api",
                    "min": 1,
                    "max": 6,
                    "signals": requests("api"),
                    "forecast": {"every_minutes": 15},
                },
                {"name": "batch", "min": 1, "max": 4, "signals": cpu},
            ]
        },
        source="tests/infra forecast config",
    )


# 300 groups of 3 signals, two sale events each (7 phases), a forecast on every third (test_scale.py).
SCALE_GROUPS = 300
SCALE_NOW = datetime(2026, 11, 1, tzinfo=UTC)


def scale_config() -> ScalerConfig:
    groups = []
    for i in range(1, SCALE_GROUPS + 1):
        name = f"shop-{i:03d}"
        lb, tg = "app/shop-alb/50dc6c495c0c9188", f"targetgroup/{name}/73e2d6bc24d8a067"
        group: dict[str, Any] = {
            "name": name,
            "min": 2,
            "max": 20 + i % 7,
            "signals": [
                {"kind": "cpu", "target": 50},
                {"kind": "requests_per_target", "target": 1000, "load_balancer": lb, "target_group": tg},
                {"kind": "response_time", "target": 0.5, "load_balancer": lb, "target_group": tg},
            ],
            "events": [
                {
                    "name": "black-friday",
                    "start": "2026-11-27T00:00:00",
                    "end": "2026-11-27T04:00:00",
                    "timezone": "America/New_York",
                    "peak_multiplier": 4,
                    "temporary_max": 80 + i % 5,
                    "ramp": [{"minutes_before_start": 30, "fraction": 0.25}],
                },
                {
                    "name": "cyber-monday",
                    "start": "2026-11-30T09:00:00",
                    "end": "2026-11-30T21:00:00",
                    "timezone": "Europe/Berlin",
                    "peak_multiplier": 2,
                },
            ],
        }
        if i % 3 == 0:
            group["forecast"] = {"every_minutes": 60}
        groups.append(group)
    return parse_config({"groups": groups}, source="tests/infra 300 groups")


def cdk_context() -> dict[str, Any]:
    """The feature flags the CLI passes to the app (cdk.json)."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def synthesize(
    outdir: Path, config: ScalerConfig | None = None, now: datetime | None = None, layout: str = "auto"
) -> dict[str, Any]:
    """Synthesize like app.py does (cdk-nag included) into `outdir`; report a validation failure.

    Without `config` the example surgeguard.yaml; without `now` the current time.
    """
    import aws_cdk as cdk

    from infra.application import build

    started = time.monotonic()
    app = cdk.App(outdir=str(outdir), context=cdk_context())
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        build(
            app,
            config or load_config(CONFIG_FILE),
            stack_name=STACK_NAME,
            env=cdk.Environment(account=ACCOUNT, region=REGION),
            now=now,
            layout=layout,
        )
    error = None
    try:
        app.synth()
    except Exception as exc:  # jsii surfaces a validation failure as a plain error
        error = str(exc)
    return {
        "validation_error": error,
        "seconds": round(time.monotonic() - started, 2),
        "stderr": printed.getvalue(),
    }
