"""Synthesizes the stack ONCE per test run (shared by pytest-xdist workers) and hands out the result."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `infra` is not an installed package
try:
    import surgeguard  # noqa: F401  (installed editable from lambdas/)
except ImportError:
    sys.path.insert(0, str(ROOT / "lambdas"))

from surgeguard.config import ScalerConfig, load_config  # noqa: E402

CONFIG_FILE = ROOT / "surgeguard.yaml"
STACK_NAME = "Surgeguard"
# Pinned so ARNs render as plain strings in the template; app.py's env-agnostic synth is tested too.
ACCOUNT = "123456789012"
REGION = "eu-west-1"


@dataclass(frozen=True)
class Synth:
    outdir: Path
    template: dict[str, Any]
    validation_error: str | None  # why app.synth() failed (cdk-nag findings), None when it passed
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
    """The feature flags the CLI would pass (cdk.json)."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def _synthesize(outdir: Path) -> dict[str, Any]:
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
    except Exception as exc:  # jsii surfaces the validation failure as a generic error
        error = str(exc)
    return {"validation_error": error, "seconds": round(time.monotonic() - started, 2)}


@pytest.fixture(scope="session")
def config() -> ScalerConfig:
    return load_config(CONFIG_FILE)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    # Under xdist every worker has its own basetemp; their parent is shared by this run only.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    outdir = shared / "surgeguard-synth"
    with open(shared / "surgeguard-synth.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result_file = shared / "surgeguard-synth.json"
        if not result_file.exists():
            result_file.write_text(json.dumps(_synthesize(outdir)))
        result = json.loads(result_file.read_text())
    template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
    return Synth(outdir, template, result["validation_error"], result["seconds"])
