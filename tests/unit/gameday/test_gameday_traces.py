"""Trace CSV parsing (three step sizes), bucket spreading, gap detection and format errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.traces import Trace, TraceFormatError, detect_gaps, load_trace, parse_trace


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minute_rows_are_per_minute(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, "minute,requests\n0,51\n1,42\n2,0\n"))
    assert trace.name == "trace"
    assert trace.demand == (51.0, 42.0, 0.0)
    assert trace.step_minutes == 1
    assert not any(trace.gap)


def test_five_minute_buckets_are_spread_evenly(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, "min5,requests\n0,100\n1,12\n"))
    assert trace.demand == (20.0,) * 5 + (2.4,) * 5
    assert trace.step_minutes == 5


def test_hourly_buckets_are_spread_evenly(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, "hour,requests\n0,600\n1,90\n"))
    assert trace.minutes == 120
    assert trace.demand[:60] == (10.0,) * 60
    assert trace.demand[60:] == (1.5,) * 60


def test_a_zero_hour_is_a_gap(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, "hour,requests\n0,600\n1,0\n2,600\n"))
    assert trace.gap == (False,) * 60 + (True,) * 60 + (False,) * 60


def test_byte_order_mark_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text("\ufeffminute,requests\r\n0,5\r\n\r\n1,6\r\n", encoding="utf-8")
    assert load_trace(path).demand == (5.0, 6.0)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("second,requests\n0,1\n", 1, "header must be"),
        ("minute,requests\n0,1\n1,x\n", 3, "not a number"),
        ("minute,requests\n0,1\n2,1\n", 3, "expected row index 1"),
        ("minute,requests\n0,1,2\n", 2, "expected 2 columns"),
        ("minute,requests\n0,-1\n", 2, ">= 0"),
        ("minute,requests\nzero,1\n", 2, "not an integer"),
        ("minute,requests\n", 2, "no data rows"),
        ("", 1, "empty file"),
        # a metric export (`timestamp,requests|value`)
        ("timestamp,latency\n2014-04-10 00:04:00,1\n", 1, "header must be 'timestamp,requests'"),
        ("timestamp,value\nyesterday,1\n", 2, "not an ISO 8601 timestamp"),
        ("timestamp,value\n2014-04-10 00:04:00,1\n2014-04-10 00:04:00,2\n", 3, "is not after the row before"),
        ("timestamp,value\n2014-04-10 00:04:00,1\n2014-04-10 00:04:30,2\n", 2, "not whole minutes"),
        (
            "timestamp,value\n2014-04-10 00:00:00,1\n2014-04-10 00:05:00,1\n2014-04-10 00:10:00,1\n"
            "2014-04-10 00:12:00,1\n",
            5,
            "not on the 5-minute grid",
        ),
        ("timestamp,value\n2014-04-10 00:04:00,1\n2014-04-10T00:05:00Z,2\n", 3, "mix times"),
        ("timestamp,value\n2014-04-10 00:04:00,-3\n", 2, ">= 0"),
        ("timestamp,value\n2014-04-10 00:04:00\n", 2, "expected a timestamp and a value"),
        ("timestamp,value\n", 2, "no data rows"),
        (
            "timestamp,value\n2014-04-10 00:00:00,1\n2014-04-10 00:05:00,1\n2104-04-10 00:10:00,1\n",
            4,
            "is its timestamp right?",
        ),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text, "bad.csv")
    with pytest.raises(TraceFormatError) as caught:
        load_trace(path)
    assert caught.value.line == line
    assert f"bad.csv:{line}:" in str(caught.value)
    assert fragment in str(caught.value)


def test_missing_file_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="cannot read"):
        load_trace(tmp_path / "absent.csv")


def test_gaps_are_zero_runs_of_20_or_more_not_at_minute_0() -> None:
    demand = [0.0] * 25 + [5.0] + [0.0] * 19 + [5.0] + [0.0] * 20 + [5.0] + [0.0] * 21
    gap = detect_gaps(demand)
    assert not any(gap[:25])  # starts at minute 0: quiet, not an outage
    assert not any(gap[26:45])  # 19 zeros
    assert all(gap[46:66]) and not gap[66]  # 20 zeros
    assert all(gap[67:])  # a trailing run counts too
    assert sum(gap) == 41


def test_from_demand_detects_gaps_and_is_frozen() -> None:
    trace = Trace.from_demand("t", [1.0] + [0.0] * 20 + [1.0])
    assert trace.gap_minutes == 20
    with pytest.raises(AttributeError):
        trace.name = "other"  # type: ignore[misc]


def test_parse_trace_from_lines() -> None:
    trace = parse_trace(["minute,requests", "0,3", "1,4"], name="inline")
    assert trace.demand == (3.0, 4.0)


def test_shared_traces_load(traces_dir: Path) -> None:
    nasa = load_trace(traces_dir / "nasa-aug95.csv")
    assert nasa.minutes == 44_640
    # SOURCES.md: minutes 893 to 3155 are the hurricane outage.
    assert nasa.gap[893] and nasa.gap[3155] and not nasa.gap[892] and not nasa.gap[3156]
    assert load_trace(traces_dir / "worldcup98-may30-jun30-5min.csv").minutes == 8_929 * 5


# A metric export (NAB's realAWSCloudwatch CSVs have this shape: label and notes columns after the value).
def test_timestamped_rows_take_their_period_from_the_timestamps(tmp_path: Path) -> None:
    text = (
        "timestamp,value,label,notes\n"
        "2014-04-10 00:04:00,100,0,\n"
        "2014-04-10 00:09:00,50,0,\n"
        "2014-04-10 00:14:00,25,0,\n"
    )
    trace = load_trace(write(tmp_path, text))
    assert trace.step_minutes == 5
    assert trace.demand == (20.0,) * 5 + (10.0,) * 5 + (5.0,) * 5
    assert not any(trace.gap)


def test_a_missing_period_is_a_gap_not_zero_demand(tmp_path: Path) -> None:
    rows = ["2015-02-26T21:42:00Z,60", "2015-02-26T21:47:00Z,60", "2015-02-26T21:57:00Z,60"]
    trace = load_trace(write(tmp_path, "timestamp,requests\n" + "\n".join(rows) + "\n"))
    assert trace.minutes == 20
    assert trace.gap == (False,) * 10 + (True,) * 5 + (False,) * 5
    assert trace.demand[10:15] == (0.0,) * 5


def test_offsets_are_read_as_utc_and_a_step_across_them_is_one_period(tmp_path: Path) -> None:
    # 01:59 at +01:00 is 00:59 UTC: one minute before 01:00Z, whatever the offsets say.
    text = "timestamp,requests\n2026-03-29T01:58:00+01:00,6\n2026-03-29T00:59:00Z,7\n2026-03-29T01:00:00Z,8\n"
    assert load_trace(write(tmp_path, text)).demand == (6.0, 7.0, 8.0)


def test_the_game_days_first_minutes_of_a_trace_keep_its_missing_rows_as_gaps(tmp_path: Path) -> None:
    # `surgeguard gameday --trace X --minutes N` rebuilt the trace from its demand: a timestamped trace's
    # missing rows (gaps, by the README's rule) became minutes of no demand
    from gameday.demo import load_scenario

    rows = [
        f"2024-01-01T{hour:02d}:{minute:02d}:00Z,{100 + minute}"
        for hour in range(3)
        for minute in range(0, 60, 5)
    ]
    del rows[14]  # 01:10 is missing: 5 minutes of gap
    path = tmp_path / "stamped.csv"
    path.write_text("timestamp,requests\n" + "\n".join(rows) + "\n", encoding="utf-8")
    whole = load_trace(path)
    assert whole.gap_minutes == 5
    first = load_scenario(path, 120, seed=0).trace
    assert first.gap == whole.gap[:120] and first.gap_minutes == 5


def test_the_game_day_replays_a_trace_from_the_start_it_is_given(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from gameday.demo import load_scenario

    path = tmp_path / "small.csv"
    path.write_text("minute,requests\n" + "".join(f"{i},100\n" for i in range(30)), encoding="utf-8")
    start = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    assert load_scenario(path, None, seed=0, start=start).start == start


def test_local_times_repeated_when_the_clocks_go_back_are_refused_with_the_cause(tmp_path: Path) -> None:
    rows = ["2024-11-03T00:30:00", "2024-11-03T01:00:00", "2024-11-03T01:30:00", "2024-11-03T01:00:00"]
    path = tmp_path / "local.csv"
    path.write_text("timestamp,requests\n" + "".join(f"{row},10\n" for row in rows), encoding="utf-8")
    with pytest.raises(TraceFormatError, match="times without a UTC offset are read as UTC"):
        load_trace(path)


@pytest.mark.parametrize(
    ("quoted", "plain"),
    [
        ('"minute","requests"\n"0","51"\n"1","42.5"\n', "minute,requests\n0,51\n1,42.5\n"),
        (
            '"timestamp","value","host"\n"2014-04-10 00:00:00","7","a,b"\n"2014-04-10 00:05:00","8","c"\n',
            "timestamp,value\n2014-04-10 00:00:00,7\n2014-04-10 00:05:00,8\n",
        ),
    ],
)
def test_quoted_cells_are_read_as_the_values_they_quote(tmp_path: Path, quoted: str, plain: str) -> None:
    # A spreadsheet's or a console's CSV export quotes every cell; each quoted cell was refused ("not a
    # number: '"51"'"), and a quoted comma in an ignored column split it in two.
    assert load_trace(write(tmp_path, quoted)) == load_trace(write(tmp_path, plain))


def test_a_thousands_separator_is_refused_as_such(tmp_path: Path) -> None:
    # "1,234" could be 1234 or 1.234 depending on the locale that wrote it: refused, and said why. It
    # was refused as "expected 2 columns, got 3", which points at the wrong thing.
    with pytest.raises(TraceFormatError, match="thousands separator"):
        load_trace(write(tmp_path, 'minute,requests\n0,"1,234"\n'))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_with_its_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    # Windows PowerShell's `>` and Out-File write UTF-16 with a byte order mark, which says so
    # unambiguously; such a file was refused as "not UTF-8 text".
    path = tmp_path / "ps.csv"
    text = "minute,requests\r\n0,5\r\n1,6\r\n"
    bom = "" if encoding == "utf-16" else "\ufeff"  # "utf-16" writes its own
    path.write_bytes((bom + text).encode(encoding))
    assert load_trace(path).demand == (5.0, 6.0)
