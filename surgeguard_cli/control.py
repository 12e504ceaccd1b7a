"""Kill switch and audit reading for a deployed stack: no redeploy needed to stop Surgeguard."""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError

from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.errors import AwsCallError
from surgeguard.domain.model import Pause
from surgeguard_cli import output
from surgeguard_cli.aws import SINGLE_ATTEMPT, Aws, AwsError, KillSwitch

DEFAULT_CONFIG = "surgeguard.yaml"

EXAMPLES = {
    "pause": """examples:
  surgeguard pause --table TABLE --all                          stop everything
  surgeguard pause --table TABLE --group shop-web --direction in   freeze scale-in only

The switch is set first, then the group's name checked (one short Auto Scaling call); what the Lambda
then reads (the global switch and the group's own, combined) is printed.

exit codes: 0 done, 1 not written: someone else switched the group between this pause's read of its
switch and its write (theirs is left), 2 bad arguments, or no such group (its name's switch stops
nothing), 3 AWS unreadable""",
    "resume": """examples:
  surgeguard resume --table TABLE --all
  surgeguard resume --table TABLE --group shop-web --json

What the Lambda then reads is printed: the global switch and a group's own are two items, and either
keeps the group paused (--all clears the global one only, and names the groups still paused).
Then each sale restore skipped during the pause (its MaxSize left raised) is done, through the sale
Lambda's own restore, audited (source `resume`) and printed; the sales are read from --config.

exit codes: 0 done, 1 written but still paused (by the global switch, or a group's own),
2 bad arguments, or no such group (its name's switch frees nothing), 3 AWS unreadable, or a restore
skipped during the pause that failed again (audited; resume again to retry it)""",
    "audit": """examples:
  surgeguard audit --table TABLE --group shop-web --limit 20
  surgeguard audit --table TABLE --group shop-web --json | jq '.[] | select(.outcome == "failed")'

exit codes: 0 done, 2 bad arguments, 3 AWS unreadable""",
}


def _limit(text: str) -> int:
    """audit --limit: a whole number of records, at least 1 (0 or less read nothing and printed an
    empty table, exit 0)."""
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of records of 1 or more")
    return count


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
            help="do not check that an Auto Scaling group of the --group name exists (one not created yet)",
        )
        if name == "resume":
            cmd.add_argument(
                "--config",
                default=DEFAULT_CONFIG,
                help="config file, for the sale restores skipped during the pause (default "
                f"{DEFAULT_CONFIG})",
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
    audit.add_argument("--limit", type=_limit, default=20, help="how many of the latest records (default 20)")
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


def _group_lookup(command: str, group: str) -> bool | None:
    """Whether `group` names an Auto Scaling group here (None: the lookup failed), asked once, after
    the switch is set: a switch set for a misspelt name stops nothing, and a resume of one leaves the
    real group paused. When doors open Auto Scaling throttles the whole account, and the Lambda
    adapter's patient retries once held the kill switch back 25-45 s; one short attempt says enough."""
    try:
        found = Aws(config=SINGLE_ATTEMPT).group(group) is not None
    except AwsError as error:
        print(
            f"surgeguard {command}: the switch is set, but whether Auto Scaling group {group!r} exists "
            f"could not be checked ({error})",
            file=sys.stderr,
        )
        return None
    if not found:
        print(
            f"surgeguard {command}: no Auto Scaling group {group!r} in this account and region: the "
            "switch written for that name stops or frees no group, and a pause of it is taken back (check "
            "the name; --force skips this check, for a group not created yet)",
            file=sys.stderr,
        )
    return found


Before = tuple[bool, dict[str, Any] | None]  # (read, the item as stored: None when there was none)


def _before(table: str, group: str) -> Before:
    """A group's switch before a pause writes it, for a take-back; (False, None) when it cannot be read
    (the pause still goes out: it never waits on this)."""
    try:
        return True, Aws(config=SINGLE_ATTEMPT).control_item(table, group)
    except AwsError:
        return False, None


def _take_back(command: str, table: str, group: str, written: dict[str, str], before: Before) -> None:
    """Put a misspelt name's switch back as it was: left at a pause it stopped nothing, yet every later
    `resume --all` named it a group still paused, and exited 1, with a resume of it that exits 2. As it
    was, not none: a deliberate `pause --group X --force` (a group not created yet) was once erased by a
    `pause --group X --direction in` refused for the missing group. Only while the switch still holds
    this pause's write: one set since is left alone."""
    clears = f"`surgeguard resume --table {table} --group {group} --force` clears it"
    read, previous = before
    if not read:
        print(
            f"surgeguard {command}: the switch written for {group!r} is left: what it held before could "
            f"not be read; {clears}",
            file=sys.stderr,
        )
        return
    try:
        put_back = Aws().put_back_control_item(table, group, written, previous)
    except AwsError as error:
        print(
            f"surgeguard {command}: the switch written for {group!r} could not be taken back ({error}): "
            + clears,
            file=sys.stderr,
        )
        return
    if not put_back:
        print(
            f"surgeguard {command}: the switch of {group!r} was set again since: left as it is",
            file=sys.stderr,
        )


def _operator() -> str:
    """Who sets the switch, for its `set_by`. A CI job or a pod under an arbitrary uid has no user name
    (no LOGNAME or USER, no passwd entry): getpass's KeyError once killed the kill switch unwritten."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _text(value: object) -> str:
    """What a control item holds (its name, set_by: a hand edit's) as one line of text: a carriage
    return in it once rewrote, on the operator's terminal, the line saying the group stays paused."""
    return output.plain(str(value)).replace("\n", "\\x0a").replace("\t", "\\x09")


def _who(switch: KillSwitch) -> str:
    return f"{switch.reading}, set by {_text(switch.set_by or '?')}"


def _group_state(command: str, table: str, group: str, switches: dict[str | None, KillSwitch]) -> Pause:
    """What the Lambda reads for `group` (its own item and the global one, combined), told on stderr
    with the global switch when that stops the group beyond what its own item says."""
    everyone, own = switches.get(None), switches.get(group)
    reading = Pause.combine(*(Pause(s.reading) for s in (everyone, own) if s is not None))
    told = f"{group}: pause={reading.value}"
    if everyone is not None and reading.value != (own.reading if own else Pause.NONE.value):
        told += f" (its own switch {own.reading if own else 'none'}; the global one {_who(everyone)})"
    print(told, file=sys.stderr)
    if command == "resume" and reading is not Pause.NONE:
        print(
            f"surgeguard resume: {group} is still paused ({reading.value}) by the global switch, which "
            f"stops every group: `surgeguard resume --table {table} --all` clears it",
            file=sys.stderr,
        )
    return reading


def _all_state(command: str, table: str, switches: dict[str | None, KillSwitch]) -> dict[str, str]:
    """The global switch as the Lambda reads it, told on stderr, and each group its own item still
    pauses (group -> its own switch): `--all` writes the global item only."""
    everyone = switches.get(None)
    reading = everyone.reading if everyone is not None else Pause.NONE.value
    own = {
        name: switch
        for name, switch in sorted(switches.items(), key=lambda pair: str(pair[0]))
        if name is not None and switch.reading != Pause.NONE
    }
    if not own:
        print(f"all groups: pause={reading}", file=sys.stderr)
        return {}
    listed = ", ".join(f"{_text(name)} ({_who(switch)})" for name, switch in own.items())
    if command == "resume":
        print(
            f"all groups: the global switch is {reading}; still paused by its own switch: {listed}\n"
            f"surgeguard resume: {len(own)} group(s) stay paused until each is resumed: "
            # Quoted: the name is the item's, and this line is pasted into a shell.
            + "; ".join(
                f"surgeguard resume --table {table} --group {_text(shlex.quote(str(name)))}" for name in own
            ),
            file=sys.stderr,
        )
    else:
        print(f"all groups: pause={reading}; besides, paused by its own switch: {listed}", file=sys.stderr)
    return {str(name): switch.reading for name, switch in own.items()}


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    store = AuditStore(args.table)
    try:
        if args.command == "audit":
            records = store.audit_records(args.group, args.limit)
            if not records:
                # An empty table once stood for a misspelt name as well as for a quiet group.
                print(
                    f"surgeguard audit: no audit records for group {args.group!r} in table {args.table}: "
                    "Surgeguard has recorded nothing for a group of that name (check the name)",
                    file=sys.stderr,
                )
            if args.json:
                output.print_json(records)
            else:
                output.console().print(_audit_table(records))
            return output.OK
        group = None if args.all else args.group
        switch = Pause.NONE
        if args.command == "pause":
            switch = {"both": Pause.ALL, "out": Pause.OUT, "in": Pause.IN}[args.direction]
        checked = group is not None and not args.force
        # What a refused name's pause puts back (one quick read of the table, never of Auto Scaling).
        before = _before(args.table, args.group) if checked and switch is not Pause.NONE else (False, None)
        who, at = _operator(), datetime.now(UTC)
        written = {"pause": switch.value, "set_by": who, "set_at": at.isoformat()}
        # The switch first: in an emergency it must never wait on Auto Scaling (the group check below).
        if before[0]:
            # Only over what `before` read: written over a switch set in between, the take-back would
            # put back what was read, erasing that other pause.
            if not Aws().put_control_item_if_unchanged(args.table, args.group, written, before[1]):
                print(
                    f"surgeguard pause: the switch of {args.group!r} was set by someone else since it was "
                    "read, a moment ago: theirs is left, this pause is not written (`surgeguard status` "
                    "shows it; pause again to set yours over it)",
                    file=sys.stderr,
                )
                return output.FOUND
        else:
            store.set_pause(group, switch, who=who, at=at)
    except (AwsCallError, AwsError) as error:
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
    if checked and _group_lookup(args.command, args.group) is False:
        if switch is not Pause.NONE:
            _take_back(args.command, args.table, args.group, written, before)
        return output.USAGE
    # Read back what the Lambda will read: it combines the global item and the group's own, so a
    # resume of one of them alone can leave the group paused.
    try:
        switches = Aws().kill_switches(args.table)
    except AwsError as error:
        print(
            f"surgeguard {args.command}: the switch is written ({switch.value}), but what the Lambda reads "
            f"could not be read back: {error}",
            file=sys.stderr,
        )
        return output.AWS
    return _read_back(args, group, switch, switches, who)


def _read_back(
    args: argparse.Namespace,
    group: str | None,
    switch: Pause,
    switches: dict[str | None, KillSwitch],
    who: str,
) -> int:
    """What the Lambda now reads, told; after a resume, the sale restores the pause skipped, done; the
    exit code."""
    state: dict[str, Any] = {"group": group, "switch": switch.value}
    if group is not None:
        state["pause"] = _group_state(args.command, args.table, group, switches).value
        still_paused = args.command == "resume" and state["pause"] != Pause.NONE
    else:
        own = _all_state(args.command, args.table, switches)
        everyone = switches.get(None)
        state["pause"] = everyone.reading if everyone is not None else Pause.NONE.value
        state["own_switches"] = own
        still_paused = args.command == "resume" and (bool(own) or state["pause"] != Pause.NONE)
    caught_up_failed = False
    if args.command == "resume":
        state["restores_caught_up"], caught_up_failed = _catch_up_restores(args, group, who)
    if args.json:
        output.print_json(state)
    if caught_up_failed:
        return output.AWS
    return output.FOUND if still_paused else output.OK


def _catch_up_restores(args: argparse.Namespace, group: str | None, who: str) -> tuple[list[Any], bool]:
    """The sale restores skipped during the pause, done now for each group the resume freed (the sale
    Lambda's restore: the same checks, claim and audit record); what each came to, told on stderr, and
    whether one failed. Nothing retried them: the sale's temporary max stayed for good."""
    from surgeguard.adapters.autoscaling import AutoScalingFleet
    from surgeguard.adapters.cloudwatch import CloudWatchSignals
    from surgeguard.config import ConfigError, load_config
    from surgeguard.schedule_service import catch_up_restores
    from surgeguard.service import Adapters, Context, RetryableFailureError

    again = f"`surgeguard resume --table {args.table} {'--all' if group is None else '--group ' + group}"
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(
            f"surgeguard resume: sale restores skipped during the pause not looked for ({error}): "
            f"{again} --config PATH` does it",
            file=sys.stderr,
        )
        return [], False
    groups = [g for g in config.groups if g.events and (group is None or g.name == group)]
    adapters = Adapters(
        fleet=AutoScalingFleet(), signals=CloudWatchSignals(), store=AuditStore(args.table), notifier=None
    )
    ctx = Context(config, "surgeguard-resume", config.audit_retention_days)
    done: list[Any] = []
    failed = False
    for chosen in groups:
        try:
            records = catch_up_restores(chosen, adapters, ctx, who)
        except (RetryableFailureError, AwsCallError) as error:
            failed = True
            print(
                f"surgeguard resume: {chosen.name}: a sale restore skipped during the pause could not be "
                f"done ({_text(error)}); MaxSize may still be raised: {again} --config {args.config}` tries "
                "again",
                file=sys.stderr,
            )
            continue
        for record in records:
            trigger = record.get("trigger") or {}
            failed = failed or record.get("outcome") == "failed"
            print(
                f"{chosen.name}: restore of {_text(trigger.get('event', '?'))} skipped during the pause: "
                f"{record.get('outcome')}: {_text(record.get('reason', ''))}",
                file=sys.stderr,
            )
            done.append({k: record.get(k) for k in ("group", "outcome", "reason")})
    return done, failed
