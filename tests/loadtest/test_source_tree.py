"""The load tests test the load test beside them: `loadtest` is this checkout's package, not one that
another checkout's editable install maps the name to."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest import fleet, runner

pytestmark = pytest.mark.loadtest

REPO = Path(__file__).resolve().parents[2]


def test_loadtest_is_imported_from_this_checkout() -> None:
    for module in (fleet, runner):
        assert Path(module.__file__ or "").resolve().parent == REPO / "loadtest", module.__file__
