"""Root fixtures for every suite: fake AWS credentials, so no test can ever reach a real account."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

try:
    import surgeguard  # noqa: F401
except ImportError:  # not installed (no `pip install -e .`): import it from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambdas"))


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
