"""pyproject.toml stays installable without packaging warnings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_license_is_an_spdx_expression_and_the_backend_understands_it() -> None:
    # setuptools (since 77.0.0) warns "`project.license` as a TOML table is deprecated ... Please use
    # a simple string containing a SPDX expression" and drops the table form in 2027 (PEP 639; the
    # warning text as quoted in conda/grayskull#660). The string form needs setuptools >= 77.
    data = tomllib.loads(PYPROJECT.read_text())
    assert data["project"]["license"] == "Apache-2.0"
    (setuptools,) = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    floor = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert floor is not None and int(floor.group(1)) >= 77
    assert not any(c.startswith("License ::") for c in data["project"].get("classifiers", []))
