"""Shared by the infra tests: import paths, the pinned environment, and one synthesized stack."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `infra` is not an installed package
try:
    import surgeguard  # noqa: F401  (installed editable from lambdas/)
except ImportError:
    sys.path.insert(0, str(ROOT / "lambdas"))

from surgeguard.config import load_config  # noqa: E402

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

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == type_name}

    def logical_id(self, type_name: str, **properties: Any) -> str:
        matches = [
            k
            for k, v in self.of_type(type_name).items()
            if all(v.get("Properties", {}).get(p) == want for p, want in properties.items())
        ]
        assert len(matches) == 1, f"{type_name} {properties}: {matches}"
        return matches[0]


def cdk_context() -> dict[str, Any]:
    """The feature flags the CLI passes to the app (cdk.json)."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def synthesize(outdir: Path) -> dict[str, Any]:
    """Synthesize like app.py does (cdk-nag included) into `outdir`; report a validation failure."""
    import aws_cdk as cdk

    from infra.application import build

    started = time.monotonic()
    app = cdk.App(outdir=str(outdir), context=cdk_context())
    build(
        app,
        load_config(CONFIG_FILE),
        stack_name=STACK_NAME,
        env=cdk.Environment(account=ACCOUNT, region=REGION),
    )
    error = None
    try:
        app.synth()
    except Exception as exc:  # jsii surfaces a validation failure as a plain error
        error = str(exc)
    return {"validation_error": error, "seconds": round(time.monotonic() - started, 2)}
