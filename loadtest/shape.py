"""The load to follow: any `minute,requests` trace or the synthetic Black Friday, scaled and compressed.

A plan is the trace in requests per real second per trace minute, with the real time its minute 0
starts and how long a trace minute lasts. The runner writes it as JSON; the locustfile reads it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from gameday.synthetic import demo_window
from gameday.traces import load_trace


@dataclass(frozen=True)
class Plan:
    name: str
    rps: tuple[float, ...]  # requests per real second, one per trace minute
    seconds_per_minute: float
    epoch: float  # time.time() at which trace minute 0 starts
    start: str  # ISO wall-clock time of trace minute 0
    users: int  # the pool of simulated shoppers (fixed; their pacing follows the trace)

    def rate_at(self, seconds_since_epoch: float) -> float:
        """Target requests per second at this moment (0 before the start and after the end)."""
        minute = math.floor(seconds_since_epoch / self.seconds_per_minute)
        return self.rps[minute] if 0 <= minute < len(self.rps) else 0.0

    @property
    def duration_seconds(self) -> float:
        return len(self.rps) * self.seconds_per_minute

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: str | Path) -> Plan:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**{**data, "rps": tuple(data["rps"])})


@dataclass(frozen=True)
class Load:
    """A trace before timing: requests per minute in the trace's own units, and where it starts."""

    name: str
    demand: tuple[float, ...]
    start: datetime

    def scaled(self, peak_rps: float, minutes: int | None = None) -> tuple[float, ...]:
        """Requests/s per trace minute, the whole trace's busiest minute at `peak_rps`; `minutes`, the
        first minutes only, at that same scale (a quiet first hour stays quiet)."""
        if minutes is not None and minutes < 1:
            raise ValueError(f"minutes must be at least 1, not {minutes}")
        peak = max(self.demand, default=0.0)
        if peak <= 0:
            raise ValueError(f"trace {self.name!r} has no demand")
        return tuple(peak_rps * d / peak for d in self.demand[:minutes])


def black_friday_load(seed: int = 0) -> Load:
    """The game day's 12 hours: Thursday 23:00 to Friday 11:00 US Eastern (doorbuster, 10x flash sale)."""
    window = demo_window(seed)
    return Load("synthetic-black-friday", tuple(window.trace.demand), window.start)


def trace_load(path: str | Path, start: datetime) -> Load:
    trace = load_trace(path)
    # Gap minutes carry no demand here: a load test offers none then.
    demand = tuple(0.0 if gap else d for d, gap in zip(trace.demand, trace.gap, strict=True))
    return Load(trace.name, demand, start)


def users_for(peak_rps: float, seconds_per_user_request: float = 4.0) -> int:
    """Enough shoppers that each waits about `seconds_per_user_request` between requests at the peak,
    so a slow answer (up to the 3 s timeout) barely lowers the offered rate."""
    return max(10, math.ceil(peak_rps * seconds_per_user_request))
