"""Kill switch and audit reading for a deployed stack: no redeploy needed to stop Surgeguard."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError

from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.errors import AwsCallError
from surgeguard.domain.model import Pause
from surgeguard_cli import output

EXAMPLES = {
    "pause": """examples:
  surgeguard pause --table TABLE --all                          stop everything
  surgeguard pause --table TABLE --group shop-web --direction in   freeze scale-in only

exit codes: 0 done, 2 bad arguments or no such group (nothing switched), 3 AWS unreadable""",
    "resume": """examples:
  surgeguard resume --table TABLE --all
  surgeguard resume --table TABLE --group shop-web --json

exit codes: 0 done, 2 bad arguments or no such group (nothing switched), 3 AWS unreadable""",
    "audit": """examples:
  surgeguard audit --table TABLE --group shop-web --limit 20
  surgeguard audit --table TABLE --group shop-web --json | jq '.[] | select(.outcome == "failed")'

exit codes: 0 done, 2 bad arguments, 3 AWS unreadable""",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="surgeguard")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("pause", "stop scaling"), ("resume", "scale again")):
        cmd = sub.add_parser(
            name, help=help_text, epilog=EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter
        )
        cmd.add_argument("--json", action="store_true", help="print the new state as JSON")
        cmd.add_argument("--table", required=True, help="the stack's audit table name (stack output)")
        target = cmd.add_mutually_exclusive_group(required=True)
        target.add_argument("--group", help="one Auto Scaling group")
        target.add_argument("--all", action="store_true", help="every group")
        cmd.add_argument(
            "--force",
            action="store_true",
            help="switch --group even if no Auto Scaling group of that name exists (yet)",
        )
        if name == "pause":
            cmd.add_argument(
                "--direction",
                choices=("both", "out", "in"),
                default="both",
                help="pause one direction only (e.g. `in` to freeze scale-in during a sale)",
            )
    audit = sub.add_parser(
        "audit",
        help="latest audit records of a group",
        epilog=EXAMPLES["audit"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("--table", required=True, help="the stack's audit table name (stack output)")
    audit.add_argument("--group", required=True)
    audit.add_argument("--limit", type=int, default=20, help="how many of the latest records (default 20)")
    audit.add_argument("--json", action="store_true", help="print the records as a JSON array")
    return parser


def _audit_table(records: Sequence[dict[str, object]]) -> object:
    rows = [
        (
            r.get("at"),
            r.get("outcome"),
            r.get("previous_desired"),
            r.get("new_desired"),
            r.get("reason") or r.get("error") or "",
        )
        for r in records
    ]
    return output.table(None, ["at", "outcome", "previous", "new", "reason"], rows)


def _group_exists(command: str, group: str) -> bool:
    """Whether `group` names an Auto Scaling group here: a switch set for a misspelt name stops nothing,
    and a resume of one leaves the real group paused. Where the lookup itself fails (no permission to
    describe groups), the switch is still set: in an emergency it must not wait on IAM."""
    from surgeguard.adapters.autoscaling import AutoScalingFleet
    from surgeguard.adapters.errors import GroupNotFoundError

    try:
        AutoScalingFleet().describe(group)
    except GroupNotFoundError:
        print(
            f"surgeguard {command}: no Auto Scaling group {group!r} in this account and region: nothing "
            "switched (check the name; --force switches it anyway)",
            file=sys.stderr,
        )
        return False
    except AwsCallError as error:
        print(
            f"surgeguard {command}: could not check that Auto Scaling group {group!r} exists ({error}); "
            "switching it anyway",
            file=sys.stderr,
        )
    return True


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    store = AuditStore(args.table)
    try:
        if args.command == "audit":
            records = store.audit_records(args.group, args.limit)
            if args.json:
                output.print_json(records)
            else:
                output.console().print(_audit_table(records))
            return output.OK
        group = None if args.all else args.group
        if group is not None and not args.force and not _group_exists(args.command, group):
            return output.USAGE
        pause = Pause.NONE
        if args.command == "pause":
            pause = {"both": Pause.ALL, "out": Pause.OUT, "in": Pause.IN}[args.direction]
        store.set_pause(group, pause, who=getpass.getuser(), at=datetime.now(UTC))
    except AwsCallError as error:
        print(f"surgeguard {args.command}: cannot reach the audit table: {error}", file=sys.stderr)
        return output.AWS
    except BotoCoreError as error:
        # Raised where the SDK makes its client, before any call: no region, a profile that is not there.
        print(
            f"surgeguard {args.command}: cannot reach AWS: {type(error).__name__}: {error}"
            + ("" if args.command == "audit" else " (nothing switched)"),
            file=sys.stderr,
        )
        return output.AWS
    if args.json:
        output.print_json({"group": group, "pause": pause.value})
    else:
        print(f"{group or 'all groups'}: pause={pause.value}", file=sys.stderr)
    return output.OK
