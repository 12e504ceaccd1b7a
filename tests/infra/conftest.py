"""Synthesizes the stack ONCE per test run, shared by pytest-xdist workers through a file lock."""

from __future__ import annotations

import fcntl
import json
import os

import pytest
from synth_support import CONFIG_FILE, STACK_NAME, Synth, synthesize

from surgeguard.config import ScalerConfig, load_config


@pytest.fixture(scope="session")
def config() -> ScalerConfig:
    return load_config(CONFIG_FILE)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    # Under xdist every worker has its own basetemp; their parent belongs to this run only.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    outdir = shared / "surgeguard-synth"
    result_file = shared / "surgeguard-synth.json"
    with open(shared / "surgeguard-synth.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result_file.exists():
            result_file.write_text(json.dumps(synthesize(outdir)))
        result = json.loads(result_file.read_text())
    template_file = outdir / f"{STACK_NAME}.template.json"
    if not template_file.exists():
        pytest.fail(f"synth produced no template: {result['validation_error']}")
    return Synth(outdir, json.loads(template_file.read_text()), result["validation_error"], result["seconds"])
