"""`surgeguard gameday` end to end on a short window: stack on moto, PNG written, decisions audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gameday import demo
from gameday.moto_path import GROUP, aws_client
from surgeguard.adapters.audit_store import AuditStore


def test_demo_deploys_replays_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    def inspect_moto(endpoint: str) -> None:
        # --keep-server waits here with moto still up: read the audit table as a user would.
        dynamodb = aws_client("dynamodb", endpoint)
        (table,) = dynamodb.list_tables()["TableNames"]
        seen["records"] = AuditStore(table, dynamodb).audit_records(GROUP, limit=10_000)

    monkeypatch.setattr(demo, "_wait", inspect_moto)
    code = demo.main(["--out", str(tmp_path), "--minutes", "90", "--keep-server"])
    out = capsys.readouterr().out

    assert code == 0, out
    png = tmp_path / demo.PNG_NAME
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000
    assert (tmp_path / demo.LAMBDA_LOG_NAME).stat().st_size > 0
    applied = [r for r in seen["records"] if r["outcome"] == "applied"]
    assert applied, seen["records"]
    # The stack really went through CloudFormation (no silent fallback to the API).
    assert "CloudFormation stack Surgeguard: CREATE_COMPLETE" in out
    assert "falling back" not in out
    assert "identical to the game-day path's" in out
    # The doorbuster declared: Surgeguard pre-warms and drops nothing at the doors opening.
    (declared,) = [line for line in out.splitlines() if line.strip().startswith("with declared events")]
    assert declared.split()[3] == "0", declared
    for policy in ("aws-target-tracking-cpu", "aws-step-scaling", "seed-rule", "surgeguard"):
        assert f"  {policy} " in out
    assert f"applied {len(applied)}" in out
