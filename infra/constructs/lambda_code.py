"""The Lambda code asset: the `surgeguard` package plus the validated config, bundled without Docker;
and the Powertools layer it runs with.

Third-party dependencies (Powertools, pydantic) come from AWS's Powertools layer and boto3 from the
runtime, so bundling is a plain copy that works offline. The one exception is `tzdata` (pure data,
the same on every platform): the sale calendars resolve IANA zones with `zoneinfo`, and a Lambda
runtime need not carry system zone data (the AL2023-based `provided.al2023` ships none), so the zone
data the tests ran with is copied in from this environment and the functions read only it
(`PYTHONTZPATH`, see `ZONE_DATA_PATH`).

The layer's ARN is resolved by CloudFormation at deploy time from the SSM public parameter AWS
publishes for each Powertools release (`/aws/service/powertools/python/<arch>/<python>/<version>`,
Powertools docs "Using SSM Parameter Store"): the template holds the parameter's name, never a layer
version number inferred from release history (a wrong one fails the deploy). Where SSM's public
parameters cannot be read (a partition without them, an air-gapped or pinned deploy), give the ARN:
`cdk synth -c powertools_layer_arn=arn:aws:lambda:REGION:017000801446:layer:NAME:VERSION`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from surgeguard.config import BUNDLED_CONFIG_FILE, ScalerConfig, config_json

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
PACKAGE = "surgeguard"
_IGNORED = ("__pycache__", "*.pyc", "*.pyo")

TZDATA = "tzdata"
# Where the bundled zone files sit on Lambda: the asset is unpacked at the task root, /var/task.
ZONE_DATA_PATH = f"/var/task/{TZDATA}/zoneinfo"

POWERTOOLS_VERSION = "3.37.0"  # keep equal to aws-lambda-powertools in requirements.txt
POWERTOOLS_LAYER_CONTEXT = "powertools_layer_arn"
# arn:<partition>:lambda:<region>:<account>:layer:<name>:<version>
LAYER_VERSION_ARN = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z]{2}(-[a-z]+)+-\d:\d{12}:layer:[A-Za-z0-9_-]{1,140}:\d+"
)


def powertools_parameter_name(
    runtime: lambda_.Runtime, architecture: lambda_.Architecture, version: str = POWERTOOLS_VERSION
) -> str:
    """The SSM public parameter holding the layer ARN of one Powertools release, e.g.
    /aws/service/powertools/python/arm64/python3.14/3.37.0 (a release, not `latest`: the layer must
    match the version the tests ran against)."""
    return f"/aws/service/powertools/python/{architecture.name}/{runtime.name}/{version}"


def powertools_layer_arn(
    scope: Construct, runtime: lambda_.Runtime, architecture: lambda_.Architecture
) -> str:
    """The `-c powertools_layer_arn=...` override when given (checked), else a deploy-time reference to
    the SSM public parameter (one `AWS::SSM::Parameter::Value<String>` template parameter per stack)."""
    override = scope.node.try_get_context(POWERTOOLS_LAYER_CONTEXT)
    if override:
        if not isinstance(override, str) or LAYER_VERSION_ARN.fullmatch(override) is None:
            raise ValueError(
                f"-c {POWERTOOLS_LAYER_CONTEXT}={override!r} is not a layer version ARN "
                "(arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)"
            )
        return override
    return ssm.StringParameter.value_for_string_parameter(
        Stack.of(scope), powertools_parameter_name(runtime, architecture)
    )


def _package_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            yield path


def tzdata_dir() -> Path:
    """The installed `tzdata` package (requirements.txt pins it); synth fails loudly without it."""
    try:
        import tzdata
    except ImportError:
        raise RuntimeError(
            "tzdata is not installed: the Lambda asset ships it (pip install -r requirements.txt)"
        ) from None
    return Path(tzdata.__file__).parent


def asset_hash(config_text: str, lambdas_dir: Path = LAMBDAS_DIR) -> str:
    """Changes whenever a shipped file, the zone data release or the config changes, and only then."""
    digest = hashlib.sha256()
    # tzdata's 600 files change only with its release: hashing the version is enough.
    digest.update(f"{TZDATA}=={importlib.metadata.version(TZDATA)}\0".encode())
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
    """Copies the package and tzdata and writes the config JSON at the asset root (the task root)."""

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
        shutil.copytree(
            tzdata_dir(), out / TZDATA, ignore=shutil.ignore_patterns(*_IGNORED), dirs_exist_ok=True
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
