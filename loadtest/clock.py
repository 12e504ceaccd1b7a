"""Compressed time: one trace minute lasts `seconds_per_minute` real seconds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SimClock:
    """Maps the real clock onto the trace: `epoch` (time.time()) is the start of trace minute 0 at `start`."""

    epoch: float
    seconds_per_minute: float
    start: datetime

    def minutes(self, at: float | None = None) -> float:
        """Trace minutes since minute 0 (fractional; negative before the start)."""
        return ((time.time() if at is None else at) - self.epoch) / self.seconds_per_minute

    def minute(self) -> int:
        return int(self.minutes() // 1)

    def now(self) -> datetime:
        """Wall-clock time of the trace now: what Surgeguard's clock reads."""
        return self.start + timedelta(minutes=self.minutes())

    def at_minute(self, minute: float) -> float:
        """time.time() at which trace minute `minute` starts."""
        return self.epoch + minute * self.seconds_per_minute

    def real_seconds(self, trace_minutes: float) -> float:
        return trace_minutes * self.seconds_per_minute
