"""The `surgeguard` console script runs from the installed packages alone (pyproject: surgeguard*,
gameday*, surgeguard_cli*, loadtest*): its sys.path holds its own bin directory, not the checkout, so a CLI
module that imports `infra` (never installed) crashes there while pytest, whose `pythonpath` puts the
repository root on sys.path, still passes."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import surgeguard_cli

PACKAGE = Path(surgeguard_cli.__file__).parent
NOT_INSTALLED = ("infra", "tests", "app")


def _modules() -> list[str]:
    return sorted(f"surgeguard_cli.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)]))


def test_every_cli_module_imports_without_the_checkout_on_sys_path(tmp_path: Path) -> None:
    # -I: no PYTHONPATH, no working directory on sys.path: only what is installed, as the script sees it.
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, *_modules()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-600:]


def test_no_cli_module_imports_a_package_that_is_not_installed() -> None:
    # The commands import most modules inside functions (a light `--help`): importing them is not enough.
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in NOT_INSTALLED]
    assert found == []
