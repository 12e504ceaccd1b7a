"""Synthesizes each stack ONCE per test run, shared by pytest-xdist workers through a file lock."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from synth_support import (
    CONFIG_FILE,
    FORECAST_NOW,
    SALES_NOW,
    SCALE_NOW,
    STACK_NAME,
    Synth,
    forecast_config,
    sales_config,
    scale_config,
    synthesize,
)

from surgeguard.config import ScalerConfig, load_config


@pytest.fixture(scope="session")
def config() -> ScalerConfig:
    return load_config(CONFIG_FILE)


def _shared_synth(
    tmp_path_factory: pytest.TempPathFactory, name: str, run: Callable[[Any], dict[str, Any]]
) -> Synth:
    # Under xdist every worker has its own basetemp; their parent belongs to this run only.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    outdir = shared / name
    result_file = shared / f"{name}.json"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result_file.exists():
            result_file.write_text(json.dumps(run(outdir)))
        result = json.loads(result_file.read_text())
    template_file = outdir / f"{STACK_NAME}.template.json"
    if not template_file.exists():
        pytest.fail(f"synth produced no template: {result['validation_error']}")
    return Synth(
        outdir,
        json.loads(template_file.read_text()),
        result["validation_error"],
        result["seconds"],
        result.get("stderr", ""),
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The example surgeguard.yaml."""
    return _shared_synth(tmp_path_factory, "surgeguard-synth", synthesize)


@pytest.fixture(scope="session")
def sales_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """A small config with sale events across DST changes, synthesized at a pinned `now`."""
    return _shared_synth(
        tmp_path_factory,
        "surgeguard-sales-synth",
        lambda outdir: synthesize(outdir, config=sales_config(), now=SALES_NOW),
    )


@pytest.fixture(scope="session")
def forecast_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Groups with a `forecast` section (and one sale event), synthesized at a pinned `now`."""
    return _shared_synth(
        tmp_path_factory,
        "surgeguard-forecast-synth",
        lambda outdir: synthesize(outdir, config=forecast_config(), now=FORECAST_NOW),
    )


@pytest.fixture(scope="session")
def nested_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The forecast config with per-group resources in nested stacks (what 300 groups get)."""
    return _shared_synth(
        tmp_path_factory,
        "surgeguard-nested-synth",
        lambda outdir: synthesize(outdir, config=forecast_config(), now=FORECAST_NOW, layout="nested"),
    )


@pytest.fixture(scope="session")
def scale_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """300 groups x 3 signals with a sale calendar (test_scale.py): about 75 s of CPU, once per run.
    In nested stacks, as asked (`auto` refuses a stack this large rather than nest by itself)."""
    return _shared_synth(
        tmp_path_factory,
        "surgeguard-scale-synth",
        lambda outdir: synthesize(outdir, config=scale_config(), now=SCALE_NOW, layout="nested"),
    )
