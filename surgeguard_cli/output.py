"""What every operations command shares: exit codes, JSON output, tables and a spinner (rich).

rich is imported only when a table or a progress bar is drawn, so `surgeguard --help` and `--json`
stay quick; tables go to stdout, progress to stderr (and only on a terminal), so piping stays clean.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

# Exit codes, the same for every command (README: "Exit codes").
OK = 0  # done; nothing wrong found
FOUND = 1  # done, and something is wrong: a FAIL check, an error in the plan, a bench that differs
USAGE = 2  # the command line or the config is invalid (argparse also exits 2)
AWS = 3  # AWS could not be read: credentials, permissions, a stack or table that is not there
UNCHECKED = 4  # done, nothing found wrong, but a check could not run (preflight): unknown is no pass


def as_utc(when: datetime) -> datetime:
    """`when` in UTC; one without an offset is UTC already, never the machine's own zone, which
    `astimezone` assumes for it (AWS's times are UTC, even from an endpoint that writes them bare)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def utc_time(text: str) -> datetime:
    """An ISO 8601 time in UTC; one without an offset is UTC already (`plan --now`, `report --from`), never
    the machine's own zone: the same command gives the same window on every laptop. ValueError also
    for a valid time at datetime's ends that UTC cannot hold (9999-12-31T23:59:59-01:00): the
    OverflowError `astimezone` raises escaped every caller that reads a bad time as a ValueError."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    try:
        return as_utc(when)
    except OverflowError:
        raise ValueError(f"{text!r} is beyond the times UTC can hold") from None


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_json(data: Any, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(
        json.dumps(_finite(data), indent=2, default=_default, allow_nan=False) + "\n"
    )


def _finite(data: Any) -> Any:
    """`data` with null for every float that is not a number: json.dumps writes NaN and Infinity, which
    no JSON reader (jq, JSON.parse) takes, so one such reading once made a whole `--json` unreadable."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def console(stream: TextIO | None = None) -> Any:
    from rich.console import Console

    # No wrapping of long reasons into a narrow column when piped: take a wide virtual terminal.
    out = stream or sys.stdout
    return Console(file=out, width=None if out.isatty() else 160, highlight=False, soft_wrap=False)


# C0 and C1 control characters but newline and tab: ESC starts a terminal command (colours, clearing the
# screen, a window title), CR and backspace overwrite what was printed.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """Text from AWS or the audit table (a reason, an error message, a hand-edited value) as it may be
    printed: control characters shown as escapes (`\\x1b`), never sent to the terminal."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], **options: Any) -> Any:
    """A table of cells shown as written: a cell is text, never rich markup (a reason's "[/x]" once
    raised MarkupError and crashed `status`; "[red]" was swallowed as a style), its control characters
    escaped (`plain`)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, **options)
    for column in columns:
        numeric = column.endswith(("#", "%")) or column in NUMERIC_COLUMNS
        grid.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        grid.add_row(*(Text("" if cell is None else plain(str(cell))) for cell in row))
    return grid


NUMERIC_COLUMNS = frozenset(
    {
        "desired",
        "in service",
        "pending",
        "warming",
        "min",
        "max",
        "value",
        "target",
        "previous",
        "new",
        "dropped_pct",
        "instance_hours",
        "cost_vs_oracle",
        "actions",
        "overload_minutes",
        "minutes over target",
        "peak",
    }
)


@contextmanager
def spinner(text: str, stream: TextIO | None = None) -> Iterator[None]:
    """A status line while AWS is read (a terminal only)."""
    out = stream or sys.stderr
    if not out.isatty():
        yield
        return
    from rich.console import Console

    with Console(file=out).status(text):
        yield
