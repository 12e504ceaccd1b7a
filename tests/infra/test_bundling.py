"""The Lambda asset: the surgeguard package plus the validated config, bundled without Docker."""

from __future__ import annotations

import shutil
from pathlib import Path

from synth_support import Synth

from infra.constructs.lambda_code import LAMBDAS_DIR, asset_hash
from surgeguard.config import BUNDLED_CONFIG_FILE, ScalerConfig, config_json


def _asset_dir(synth: Synth) -> Path:
    # every function (the reactive one, the sale one with events) ships the same asset
    (key,) = {f["Properties"]["Code"]["S3Key"] for f in synth.of_type("AWS::Lambda::Function").values()}
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


def test_asset_holds_the_validated_config_json(synth: Synth, config: ScalerConfig) -> None:
    bundled = _asset_dir(synth) / BUNDLED_CONFIG_FILE
    assert bundled.read_text(encoding="utf-8") == config_json(config)


def test_asset_holds_the_surgeguard_package_and_nothing_else(synth: Synth) -> None:
    asset = _asset_dir(synth)
    assert sorted(p.name for p in asset.iterdir()) == sorted(["surgeguard", BUNDLED_CONFIG_FILE])
    shipped = {p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file()}
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
