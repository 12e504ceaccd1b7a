"""The Lambda code asset: the `surgeguard` package plus the validated config, bundled without Docker.

Third-party dependencies (Powertools, pydantic) come from AWS's Powertools layer and boto3 from the
runtime, so bundling is a plain copy that works offline.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from surgeguard.config import BUNDLED_CONFIG_FILE, ScalerConfig, config_json

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
PACKAGE = "surgeguard"
_IGNORED = ("__pycache__", "*.pyc", "*.pyo")


def _package_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            yield path


def asset_hash(config_text: str, lambdas_dir: Path = LAMBDAS_DIR) -> str:
    """Changes whenever a shipped file or the config changes, and only then."""
    digest = hashlib.sha256()
    for path in _package_files(lambdas_dir / PACKAGE):
        digest.update(path.relative_to(lambdas_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update(BUNDLED_CONFIG_FILE.encode())
    digest.update(b"\0")
    digest.update(config_text.encode())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class _CopyPackage:
    """Copies the package and writes the config JSON at the asset root (the Lambda task root)."""

    def __init__(self, lambdas_dir: Path, config_text: str) -> None:
        self._lambdas_dir = lambdas_dir
        self._config_text = config_text

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        out = Path(output_dir)
        shutil.copytree(
            self._lambdas_dir / PACKAGE,
            out / PACKAGE,
            ignore=shutil.ignore_patterns(*_IGNORED),
            dirs_exist_ok=True,
        )
        (out / BUNDLED_CONFIG_FILE).write_text(self._config_text, encoding="utf-8")
        return True  # never fall back to Docker


def scaler_code(config: ScalerConfig, lambdas_dir: Path = LAMBDAS_DIR) -> lambda_.Code:
    """One code asset for every Surgeguard function (one package = one asset)."""
    config_text = config_json(config)
    return lambda_.Code.from_asset(
        str(lambdas_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(config_text, lambdas_dir),
        bundling=BundlingOptions(
            # Required by the API but never used: local bundling always succeeds or raises.
            image=DockerImage.from_registry("unused"),
            # jsii calls back with the options as one positional struct (as implemented above);
            # the generated stub spells them as keyword arguments, hence the cast.
            local=cast(ILocalBundling, _CopyPackage(lambdas_dir, config_text)),
        ),
    )
