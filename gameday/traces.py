"""Load request-rate traces into per-minute demand, with data gaps marked."""

from __future__ import annotations

import codecs
import csv
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Header name -> minutes per row (SOURCES.md: minute, 5-minute and hourly buckets).
MINUTES_PER_ROW: dict[str, int] = {"minute": 1, "min5": 5, "hour": 60}
VALUE_COLUMN = "requests"
# A metric export (CloudWatch, a load balancer's log roll-up, NAB's CSVs): `timestamp,requests` or
# `timestamp,value`, extra columns ignored; the period is read from the timestamps.
TIMESTAMP_COLUMN = "timestamp"
TIMESTAMP_VALUE_COLUMNS = (VALUE_COLUMN, "value")
# A metric export may miss this many minutes (an outage) while most of its periods are there.
MAX_MISSING_MINUTES = 1440
# "1,234" or "1,234,567.5": digits grouped by commas, which a quoted cell carries through to the value.
_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")
# BENCHMARK.md: a run of >= 20 zero minutes not starting at minute 0 is an outage, not zero demand.
GAP_MIN_ZERO_MINUTES = 20


class TraceFormatError(ValueError):
    """A trace CSV that follows neither the `minute|min5|hour,requests` nor the `timestamp,requests`
    format."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        # line 0: the file as a whole (unreadable), so no line number is shown.
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Trace:
    """Per-minute demand (requests per minute) and, per minute, whether it is a data gap."""

    name: str
    demand: tuple[float, ...]
    gap: tuple[bool, ...] = field(default=())
    step_minutes: int = 1

    def __post_init__(self) -> None:
        if not self.gap:
            object.__setattr__(self, "gap", detect_gaps(self.demand))
        if len(self.gap) != len(self.demand):
            raise ValueError("gap and demand must have the same length")

    @classmethod
    def from_demand(cls, name: str, demand: Iterable[float], step_minutes: int = 1) -> Trace:
        """Build a trace from per-minute demand, detecting gaps as the protocol defines them."""
        values = tuple(float(v) for v in demand)
        return cls(name=name, demand=values, gap=detect_gaps(values), step_minutes=step_minutes)

    @property
    def minutes(self) -> int:
        return len(self.demand)

    @property
    def gap_minutes(self) -> int:
        return sum(self.gap)


def detect_gaps(demand: Sequence[float]) -> tuple[bool, ...]:
    """Mark every minute of a zero run of >= 20 minutes that does not start at minute 0."""
    gap = [False] * len(demand)
    run_start = -1
    for minute, value in enumerate([*demand, 1.0]):  # the sentinel closes a trailing run
        if value == 0.0:
            if run_start < 0:
                run_start = minute
            continue
        if run_start > 0 and minute - run_start >= GAP_MIN_ZERO_MINUTES:
            gap[run_start:minute] = [True] * (minute - run_start)
        run_start = -1
    return tuple(gap)


def load_trace(path: str | Path, name: str | None = None) -> Trace:
    """Read a `minute|min5|hour,requests` or `timestamp,requests` CSV; buckets are spread evenly over
    their minutes."""
    source = Path(path)
    shown = str(source)
    try:
        data = source.read_bytes()
    except OSError as err:
        raise TraceFormatError(shown, 0, f"cannot read: {err.strerror or err}") from err
    # Windows PowerShell's `>` and Out-File write UTF-16, and its byte order mark says so.
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
        text = data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as err:
        raise TraceFormatError(shown, 0, "not UTF-16 text" if utf16 else "not UTF-8 text") from err
    return parse_trace(text.splitlines(), name=name or source.stem, source=shown)


def parse_trace(lines: Iterable[str], name: str, source: str = "<trace>") -> Trace:
    """Parse CSV lines; row i must carry index i so that a missing row cannot shift time. A
    `timestamp` header switches to `_parse_timestamped`."""
    rows = [
        (line_number, [cell.strip() for cell in _cells(line)])
        for line_number, raw in enumerate(lines, start=1)
        if (line := raw.strip())
    ]
    if rows and rows[0][1][0].lower() == TIMESTAMP_COLUMN:
        return _parse_timestamped(rows, name, source)
    demand: list[float] = []
    minutes_per_row = 0
    expected_index = 0
    for line_number, cells in rows:
        line = ",".join(cells)
        if minutes_per_row == 0:
            minutes_per_row = _header_step(cells, source, line_number)
            continue
        if len(cells) != 2:
            raise TraceFormatError(source, line_number, f"expected 2 columns, got {len(cells)}: {line!r}")
        index = _parse_index(cells[0], source, line_number)
        if index != expected_index:
            raise TraceFormatError(source, line_number, f"expected row index {expected_index}, got {index}")
        requests = _parse_requests(cells[1], source, line_number)
        per_minute = requests / minutes_per_row
        demand.extend([per_minute] * minutes_per_row)
        expected_index += 1
    if minutes_per_row == 0:
        raise TraceFormatError(source, 1, "empty file: expected a header such as 'minute,requests'")
    if not demand:
        raise TraceFormatError(source, 2, "no data rows after the header")
    return Trace.from_demand(name, demand, step_minutes=minutes_per_row)


def _parse_timestamped(rows: Sequence[tuple[int, list[str]]], name: str, source: str) -> Trace:
    """A metric export: one row per period, stamped with the period's start.

    The period is the most common step between rows and must be whole minutes; every row must fall on
    that grid from the first row, later than the one before. A period with no row is missing data, not
    zero demand: its minutes are a gap (left out of every metric, no policy called), as BENCHMARK.md
    treats an outage. CloudWatch writes no datapoint for a period it has nothing for, and a quiet period
    in a load balancer's export is the same absence, so neither is read as demand."""
    header_line, header = rows[0]
    if len(header) < 2 or header[1].lower() not in TIMESTAMP_VALUE_COLUMNS:
        raise TraceFormatError(
            source,
            header_line,
            f"header must be 'timestamp,requests' or 'timestamp,value' (more columns are ignored), "
            f"got {','.join(header)!r}",
        )
    stamped: list[tuple[datetime, float]] = []
    for line_number, cells in rows[1:]:
        if len(cells) < 2:
            raise TraceFormatError(source, line_number, f"expected a timestamp and a value, got {cells[0]!r}")
        at = _parse_timestamp(cells[0], source, line_number)
        if stamped and (at.tzinfo is None) != (stamped[0][0].tzinfo is None):
            raise TraceFormatError(source, line_number, "timestamps mix times with and without a UTC offset")
        if stamped and at <= stamped[-1][0]:
            # Local times without an offset repeat an hour when the clocks go back.
            hint = "; times without a UTC offset are read as UTC: give offsets" if at.tzinfo is None else ""
            raise TraceFormatError(
                source,
                line_number,
                f"timestamp {cells[0]} is not after the row before ({stamped[-1][0]}){hint}",
            )
        stamped.append((at, _parse_requests(cells[1], source, line_number)))
    if not stamped:
        raise TraceFormatError(source, header_line + 1, "no data rows after the header")
    steps = Counter(later[0] - earlier[0] for earlier, later in zip(stamped, stamped[1:], strict=False))
    period = steps.most_common(1)[0][0] if steps else timedelta(minutes=1)
    if period % timedelta(minutes=1):
        raise TraceFormatError(source, rows[1][0], f"the rows' period, {period}, is not whole minutes")
    minutes_per_row = period // timedelta(minutes=1)
    first = stamped[0][0]
    periods = (stamped[-1][0] - first) // period + 1
    missing = periods - len(stamped)
    if missing > len(stamped) and missing * minutes_per_row > MAX_MISSING_MINUTES:
        # More absent than present, over a day: a mistyped timestamp, not an outage (and it would spread
        # a year's typo into millions of gap minutes).
        longest = max(range(1, len(stamped)), key=lambda i: stamped[i][0] - stamped[i - 1][0])
        raise TraceFormatError(
            source,
            rows[1 + longest][0],
            f"{missing} of {periods} {minutes_per_row}-minute periods have no row, most of them before "
            f"this one ({stamped[longest][0]} follows {stamped[longest - 1][0]}): is its timestamp right?",
        )
    values: list[float | None] = [None] * periods
    for (line_number, _), (at, requests) in zip(rows[1:], stamped, strict=True):
        index, off_grid = divmod(at - first, period)
        if off_grid:
            grid = f"the {minutes_per_row}-minute grid of the first row ({first})"
            raise TraceFormatError(source, line_number, f"{at} is not on {grid}")
        values[index] = requests
    demand = [
        0.0 if value is None else value / minutes_per_row for value in values for _ in range(minutes_per_row)
    ]
    # The protocol's own gaps (runs of zero minutes) stay gaps; a missing period is one however short.
    gap = list(detect_gaps(demand))
    for index, value in enumerate(values):
        if value is None:
            gap[index * minutes_per_row : (index + 1) * minutes_per_row] = [True] * minutes_per_row
    return Trace(name=name, demand=tuple(demand), gap=tuple(gap), step_minutes=minutes_per_row)


def _cells(line: str) -> list[str]:
    """One CSV line's cells, quotes read as CSV quotes them: a spreadsheet's export quotes every cell.
    Read line by line, so an unclosed quote cannot swallow the rows after it."""
    return next(csv.reader([line], skipinitialspace=True))


def _parse_timestamp(cell: str, source: str, line_number: int) -> datetime:
    try:
        at = datetime.fromisoformat(cell[:-1] + "+00:00" if cell.endswith(("Z", "z")) else cell)
    except ValueError:
        raise TraceFormatError(source, line_number, f"not an ISO 8601 timestamp: {cell!r}") from None
    return at.astimezone(UTC) if at.tzinfo is not None else at


def _header_step(cells: list[str], source: str, line_number: int) -> int:
    expected = " or ".join(f"'{key},{VALUE_COLUMN}'" for key in [*MINUTES_PER_ROW, TIMESTAMP_COLUMN])
    if len(cells) != 2 or cells[1].lower() != VALUE_COLUMN or cells[0].lower() not in MINUTES_PER_ROW:
        raise TraceFormatError(source, line_number, f"header must be {expected}, got {','.join(cells)!r}")
    return MINUTES_PER_ROW[cells[0].lower()]


def _parse_index(cell: str, source: str, line_number: int) -> int:
    try:
        return int(cell)
    except ValueError:
        raise TraceFormatError(source, line_number, f"row index is not an integer: {cell!r}") from None


def _parse_requests(cell: str, source: str, line_number: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        if _THOUSANDS.fullmatch(cell):
            # Locales differ on "1,234": 1234 with a thousands separator, or 1.234 with a decimal comma.
            reason = f"requests has a thousands separator (or a decimal comma): {cell!r}; write plain digits"
        else:
            reason = f"requests is not a number: {cell!r}"
        raise TraceFormatError(source, line_number, reason) from None
    if not math.isfinite(value) or value < 0:
        raise TraceFormatError(source, line_number, f"requests must be a finite number >= 0, got {cell!r}")
    return value
