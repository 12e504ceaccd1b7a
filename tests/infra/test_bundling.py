"""The Lambda asset: the surgeguard package, tzdata and the validated config, bundled without Docker."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from synth_support import ROOT, Synth

from infra.constructs.lambda_code import LAMBDAS_DIR, TZDATA, ZONE_DATA_PATH, asset_hash, tzdata_dir
from surgeguard.config import BUNDLED_CONFIG_FILE, ScalerConfig, config_json


def _asset_dir(synth: Synth) -> Path:
    # every function (the reactive one, the sale one with events) ships the same asset
    (key,) = {f["Properties"]["Code"]["S3Key"] for f in synth.of_type("AWS::Lambda::Function").values()}
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


def test_asset_holds_the_validated_config_json(synth: Synth, config: ScalerConfig) -> None:
    bundled = _asset_dir(synth) / BUNDLED_CONFIG_FILE
    assert bundled.read_text(encoding="utf-8") == config_json(config)


def test_asset_holds_the_surgeguard_package_tzdata_and_nothing_else(synth: Synth) -> None:
    asset = _asset_dir(synth)
    assert sorted(p.name for p in asset.iterdir()) == sorted(["surgeguard", TZDATA, BUNDLED_CONFIG_FILE])
    shipped = {
        p.relative_to(asset).as_posix()
        for p in asset.rglob("*")
        if p.is_file() and p.relative_to(asset).parts[0] != TZDATA
    }
    source = {
        p.relative_to(LAMBDAS_DIR).as_posix()
        for p in (LAMBDAS_DIR / "surgeguard").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }
    assert shipped - {BUNDLED_CONFIG_FILE} == source
    assert "surgeguard/handlers/alarm.py" in shipped
    assert not [p for p in shipped if "__pycache__" in p or p.endswith(".pyc")]


def test_asset_hash_changes_with_config_and_with_code(config: ScalerConfig, tmp_path: Path) -> None:
    # GIVEN a copy of lambdas/ and the example config
    lambdas = tmp_path / "lambdas"
    shutil.copytree(LAMBDAS_DIR, lambdas, ignore=shutil.ignore_patterns("__pycache__"))
    text = config_json(config)
    before = asset_hash(text, lambdas)
    # WHEN only bytecode appears THEN nothing changes (it is not shipped)
    (lambdas / "surgeguard" / "__pycache__").mkdir(exist_ok=True)
    (lambdas / "surgeguard" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert asset_hash(text, lambdas) == before
    # WHEN the config changes THEN the hash changes
    changed = config.model_copy(update={"audit_retention_days": config.audit_retention_days + 1})
    assert asset_hash(config_json(changed), lambdas) != before
    # WHEN a shipped file changes THEN the hash changes
    with (lambdas / "surgeguard" / "keys.py").open("a") as keys:
        keys.write("\n# edited\n")
    assert asset_hash(text, lambdas) != before


# The Lambda may start without system zone data: `provided.al2023` carries no tzdb at all
# (aws/aws-lambda-dotnet#1620), and zoneinfo then needs the `tzdata` package ("No time zone found
# with key ...", BerriAI/litellm#8657). CPython's zoneinfo reads PYTHONTZPATH as its only search
# path (Lib/zoneinfo/_tzpath.py, reset_tzpath), so the functions point it at the bundled copy.


def test_asset_ships_the_pinned_tzdata_with_every_configured_zone(synth: Synth, config: ScalerConfig) -> None:
    bundled = _asset_dir(synth) / TZDATA
    pins = dict(
        line.split("==", 1) for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line
    )
    assert importlib.metadata.version(TZDATA) == pins[TZDATA].strip()
    source = {p.relative_to(tzdata_dir()) for p in tzdata_dir().rglob("*") if p.is_file()} - {
        p.relative_to(tzdata_dir()) for p in tzdata_dir().rglob("__pycache__/*")
    }
    assert {p.relative_to(bundled) for p in bundled.rglob("*") if p.is_file()} == source
    zones = {event.timezone for group in config.groups for event in group.events}
    assert zones
    for zone in zones:
        assert (bundled / "zoneinfo" / zone).is_file(), zone


def test_functions_search_only_the_bundled_zone_data(synth: Synth) -> None:
    asset = _asset_dir(synth)
    assert ZONE_DATA_PATH.startswith("/var/task/")  # the task root, where Lambda unpacks the asset
    assert (asset / ZONE_DATA_PATH.removeprefix("/var/task/")).is_dir()
    for function in synth.of_type("AWS::Lambda::Function").values():
        assert function["Properties"]["Environment"]["Variables"]["PYTHONTZPATH"] == ZONE_DATA_PATH


_PROBE = """
import json, zoneinfo, tzdata, surgeguard
from surgeguard.config import load_config
from surgeguard.domain.sales import plan_event
config = load_config("%s")
plans = [plan_event(g, e).prewarm.isoformat() for g in config.groups for e in g.events]
print(json.dumps({"tzpath": list(zoneinfo.TZPATH), "tzdata": tzdata.__file__,
                  "surgeguard": surgeguard.__file__, "plans": plans}))
"""


def test_the_bundled_code_plans_sales_from_the_bundled_zone_data_alone(synth: Synth) -> None:
    # GIVEN the asset laid out as the task root, and the search path the functions get
    asset = _asset_dir(synth)
    zone_data = asset / ZONE_DATA_PATH.removeprefix("/var/task/")
    env = {**os.environ, "PYTHONPATH": str(asset), "PYTHONTZPATH": str(zone_data)}
    # WHEN the shipped code loads the shipped config and plans every sale
    probe = _PROBE % (asset / BUNDLED_CONFIG_FILE)
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout)
    # THEN zoneinfo searched the bundled data only (no /usr/share/zoneinfo), and the code was the asset's
    assert seen["tzpath"] == [str(zone_data)]
    assert Path(seen["tzdata"]).is_relative_to(asset)
    assert Path(seen["surgeguard"]).is_relative_to(asset)
    assert seen["plans"]
