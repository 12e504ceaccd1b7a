"""Kill switch and audit reading for a deployed stack: no redeploy needed to stop Surgeguard."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from surgeguard.adapters.audit_store import AuditStore
from surgeguard.domain.model import Pause


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="surgeguard")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("pause", "stop scaling"), ("resume", "scale again")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--table", required=True, help="the stack's audit table name (stack output)")
        target = cmd.add_mutually_exclusive_group(required=True)
        target.add_argument("--group", help="one Auto Scaling group")
        target.add_argument("--all", action="store_true", help="every group")
        if name == "pause":
            cmd.add_argument(
                "--direction",
                choices=("both", "out", "in"),
                default="both",
                help="pause one direction only (e.g. `in` to freeze scale-in during a sale)",
            )
    audit = sub.add_parser("audit", help="latest audit records of a group")
    audit.add_argument("--table", required=True)
    audit.add_argument("--group", required=True)
    audit.add_argument("--limit", type=int, default=20)
    return parser


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    store = AuditStore(args.table)
    if args.command == "audit":
        for record in store.audit_records(args.group, args.limit):
            print(json.dumps(record, default=str))
        return 0
    group = None if args.all else args.group
    pause = Pause.NONE
    if args.command == "pause":
        pause = {"both": Pause.ALL, "out": Pause.OUT, "in": Pause.IN}[args.direction]
    store.set_pause(group, pause, who=getpass.getuser(), at=datetime.now(UTC))
    print(f"{group or 'all groups'}: pause={pause.value}", file=sys.stderr)
    return 0
