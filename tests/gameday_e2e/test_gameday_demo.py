"""`surgeguard gameday` end to end on a short window: stack on moto, PNG written, decisions audited."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from gameday import demo
from gameday.moto_path import GROUP, aws_client, redirect_logger
from surgeguard.adapters.audit_store import AuditStore
from surgeguard_cli.report import main as report_main

# The handler's Powertools logger (its JSON stream handler) exists once a handler module is imported.
import surgeguard.handlers.alarm  # noqa: F401  isort: skip


def test_demo_deploys_replays_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    def inspect_moto(endpoint: str) -> None:
        # --keep-server waits here with moto still up: read the audit table as a user would.
        dynamodb = aws_client("dynamodb", endpoint)
        (table,) = dynamodb.list_tables()["TableNames"]
        seen["records"] = AuditStore(table, dynamodb).audit_records(GROUP, limit=10_000)
        # The report the demo printed, then `surgeguard report` as a user runs it on the same moto,
        # with the command line the demo printed (another --out).
        seen["printed"] = capsys.readouterr().out
        (command,) = [
            line for line in seen["printed"].splitlines() if line.strip().startswith("$ surgeguard report")
        ]
        argv = command.split("$ surgeguard report ", 1)[1].split()
        argv[argv.index("--out") + 1] = str(tmp_path / "again")
        seen["report_code"] = report_main(argv)
        seen["again"] = capsys.readouterr().out

    monkeypatch.setattr(demo, "_wait", inspect_moto)
    # Whatever stream the handler's logger has stands in for the terminal: the demo must leave it empty.
    terminal = io.StringIO()
    with redirect_logger("surgeguard", terminal):
        code = demo.main(
            ["--out", str(tmp_path), "--minutes", "90", "--keep-server", "--json", str(tmp_path / "day.json")]
        )
    out = seen["printed"] + capsys.readouterr().out

    assert code == 0, out
    # make demo ends with its own report (text and PNG), and the report command reads the same back.
    assert seen["report_code"] == 0
    printed = out.split("# Surgeguard report: ", 1)[1].split("written to", 1)[0]
    again = seen["again"].split("# Surgeguard report: ", 1)[1].split("written to", 1)[0]
    assert printed == again
    assert (tmp_path / demo.REPORT_DIR / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## What-if" in printed and "aws-target-tracking-cpu" in printed
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
    assert f"{len(seen['records'])} audit records" in printed and f"applied {len(applied)}" in printed
    day = json.loads((tmp_path / "day.json").read_text())
    assert day["audit"]["applied"] == len(applied) and day["same_decisions_as_fast_path"] is True
    assert "surgeguard" in day["traces"][0]["policies"]
    assert terminal.getvalue() == "", terminal.getvalue()[:500]
