"""A synthetic Black Friday, built from the seed's numbers (BENCHMARK.md), deterministic for a seed.

The scenario is two local days, minute by minute, in requests per minute (US Eastern, UTC-05:00 in
late November):

* Thanksgiving Thursday is the **normal diurnal day**: a night trough around 04:00, a morning ramp,
  a daytime plateau, an evening peak around 20:00-21:00 and a decline towards midnight, times mild
  multiplicative noise (AR(1), about 2%).
* **Black Friday** is the same curve times a multiplier:
  - the **midnight doorbuster** goes live at 00:00 local: demand reaches 4x the normal level at
    that time within 3 minutes (2x, 3x, then 4x), holds 4x for half an hour, then decays (time
    constant one hour) towards the day's lift;
  - the **day's lift** (1 + L) is solved for so that the whole Black Friday day averages exactly
    +103% over the normal day (before rounding to whole requests);
  - a **flash sale** at a daytime hour (10:00 by default): one ramp minute at 5x, then 20 minutes
    at 10x the normal volume at that time of day, then back to the lift. Its busiest minute is the
    scenario's peak and the whole scenario is scaled so that it is exactly 37,200 requests per
    second = 2,232,000 requests per minute.

The multipliers are relative to the normal volume at the same time of day, which is how declared
events state theirs (BENCHMARK.md: PEAK_MULTIPLIER x the normal demand at that time of day).

The game-day demo does not replay both days: every minute goes through moto over HTTP, so it takes
a 12-hour window by default, Thursday 23:00 to Friday 11:00 local (`DEMO_WINDOW`). That window
keeps the minute-level dynamics intact (no time compression, which would make every ramp steeper
than the seed's numbers): an hour of normal Thursday night, the doorbuster at window minute 60,
the overnight decay (scale-in without flapping), the morning ramp, the 10:00 flash sale at window
minute 660 and 40 minutes after it. `--minutes N` shortens the window from its start.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gameday.engine import DeclaredEvent
from gameday.traces import Trace

MINUTES_PER_DAY = 1440
PEAK_REQUESTS_PER_SECOND = 37_200
PEAK_REQUESTS_PER_MINUTE = PEAK_REQUESTS_PER_SECOND * 60  # 2,232,000
DAY_AVERAGE_LIFT = 1.03  # Black Friday averages +103% over a normal day
DOORBUSTER_MULTIPLIER = 4.0
DOORBUSTER_RAMP = (2.0, 3.0)  # minutes 00:00 and 00:01; 4x from 00:02 ("within minutes")
DOORBUSTER_HOLD_MINUTES = 30
DOORBUSTER_DECAY_MINUTES = 60.0
FLASH_MULTIPLIER = 10.0
FLASH_MINUTES = 20
FLASH_RAMP_MULTIPLIER = 5.0  # the minute before the flash sale
DEFAULT_FLASH_SALE_MINUTE_OF_DAY = 10 * 60  # 10:00 local
NOISE_SIGMA = 0.02
NOISE_PERSISTENCE = 0.7

EASTERN = timezone(timedelta(hours=-5), "EST")
THANKSGIVING = datetime(2026, 11, 26, tzinfo=EASTERN)
BLACK_FRIDAY = THANKSGIVING + timedelta(days=1)

# Normal day, level relative to the daytime plateau at each local hour (smoothly interpolated).
_DIURNAL_ANCHORS = (
    (0, 0.55),
    (2, 0.30),
    (4, 0.18),
    (5, 0.20),
    (7, 0.45),
    (9, 0.85),
    (11, 1.00),
    (13, 1.05),
    (16, 1.00),
    (18, 1.15),
    (20, 1.35),
    (21, 1.35),
    (22, 1.10),
    (23, 0.80),
    (24, 0.55),
)

# The demo's window: Thursday 23:00 local for 12 hours (see the module docstring).
DEMO_WINDOW_START_MINUTE = 23 * 60
DEMO_WINDOW_MINUTES = 12 * 60


def diurnal_level(minute_of_day: float) -> float:
    """The normal day's smooth shape (plateau = 1.0) at a minute of the local day."""
    hour = (minute_of_day / 60.0) % 24.0
    for (h0, v0), (h1, v1) in zip(_DIURNAL_ANCHORS, _DIURNAL_ANCHORS[1:], strict=False):
        if h0 <= hour <= h1:
            x = (hour - h0) / (h1 - h0)
            weight = (1 - math.cos(math.pi * x)) / 2  # cosine easing: no kinks at the anchors
            return v0 + (v1 - v0) * weight
    raise AssertionError("anchors cover 0..24")


def _noise(rng: random.Random, minutes: int) -> list[float]:
    """Multiplicative AR(1) noise around 1 (stationary standard deviation NOISE_SIGMA)."""
    innovation = NOISE_SIGMA * math.sqrt(1 - NOISE_PERSISTENCE**2)
    value = rng.gauss(0.0, NOISE_SIGMA)
    out = []
    for _ in range(minutes):
        out.append(1.0 + value)
        value = NOISE_PERSISTENCE * value + rng.gauss(0.0, innovation)
    return out


def _doorbuster(minute: int) -> float:
    """The doorbuster's multiplier over normal at a minute of Black Friday (1.0 = no effect)."""
    if minute < len(DOORBUSTER_RAMP):
        return DOORBUSTER_RAMP[minute]
    if minute < DOORBUSTER_HOLD_MINUTES:
        return DOORBUSTER_MULTIPLIER
    decay = math.exp(-(minute - DOORBUSTER_HOLD_MINUTES) / DOORBUSTER_DECAY_MINUTES)
    return 1.0 + (DOORBUSTER_MULTIPLIER - 1.0) * decay


def _friday_multipliers(lift: float, flash_start: int) -> list[float]:
    multipliers = []
    for minute in range(MINUTES_PER_DAY):
        if flash_start <= minute < flash_start + FLASH_MINUTES:
            multipliers.append(FLASH_MULTIPLIER)
        elif minute == flash_start - 1:
            multipliers.append(max(FLASH_RAMP_MULTIPLIER, 1.0 + lift))
        else:
            multipliers.append(max(1.0 + lift, _doorbuster(minute)))
    return multipliers


def _solve_lift(normal: Sequence[float], friday_base: Sequence[float], flash_start: int) -> float:
    """The lift L that makes Black Friday average exactly (1 + DAY_AVERAGE_LIFT) x the normal day."""
    goal = (1.0 + DAY_AVERAGE_LIFT) * sum(normal)

    def total(lift: float) -> float:
        return sum(b * m for b, m in zip(friday_base, _friday_multipliers(lift, flash_start), strict=True))

    low, high = 0.0, 4.0
    if total(low) > goal:
        raise ValueError("the doorbuster and flash sale alone exceed the day's average lift")
    for _ in range(60):  # total() increases with the lift: bisection converges to float precision
        middle = (low + high) / 2
        if total(middle) < goal:
            low = middle
        else:
            high = middle
    return (low + high) / 2


@dataclass(frozen=True)
class BlackFriday:
    """The two days of the scenario, minute by minute, in requests per minute (whole requests)."""

    seed: int
    normal_day: tuple[float, ...]
    black_friday: tuple[float, ...]
    flash_sale_minute_of_day: int
    lift: float  # Black Friday's multiplier outside the doorbuster and flash sale is 1 + lift

    start = THANKSGIVING  # wall-clock time of timeline minute 0

    @property
    def timeline(self) -> tuple[float, ...]:
        """Thanksgiving (the normal day) then Black Friday: 2,880 minutes from Thursday 00:00 local."""
        return self.normal_day + self.black_friday

    @property
    def doorbuster_minute(self) -> int:
        """Timeline minute of Black Friday 00:00 local."""
        return MINUTES_PER_DAY

    @property
    def flash_sale_minute(self) -> int:
        """Timeline minute of the first 10x minute of the flash sale."""
        return MINUTES_PER_DAY + self.flash_sale_minute_of_day

    def events(self) -> tuple[DeclaredEvent, ...]:
        """Both promotions as a team would declare them (`--event START,DURATION,PEAK`)."""
        return (
            DeclaredEvent(BLACK_FRIDAY, DOORBUSTER_HOLD_MINUTES + 120, DOORBUSTER_MULTIPLIER),
            DeclaredEvent(
                BLACK_FRIDAY + timedelta(minutes=self.flash_sale_minute_of_day),
                FLASH_MINUTES,
                FLASH_MULTIPLIER,
            ),
        )

    def window(
        self, start_minute: int = DEMO_WINDOW_START_MINUTE, minutes: int = DEMO_WINDOW_MINUTES
    ) -> Window:
        """A slice of the timeline as a Trace, with its wall-clock start and the events inside it."""
        timeline = self.timeline
        if not 0 <= start_minute < len(timeline):
            raise ValueError(f"window start must lie in [0, {len(timeline)}), got {start_minute}")
        if minutes <= 0:
            raise ValueError(f"window must be > 0 minutes, got {minutes}")
        demand = timeline[start_minute : start_minute + minutes]
        start = self.start + timedelta(minutes=start_minute)
        end = start + timedelta(minutes=len(demand))
        events = tuple(e for e in self.events() if start <= e.start < end)
        trace = Trace.from_demand(f"synthetic-black-friday-seed{self.seed}", demand)
        return Window(trace, start, events, start_minute)


@dataclass(frozen=True)
class Window:
    trace: Trace
    start: datetime  # wall-clock time of the trace's minute 0
    events: tuple[DeclaredEvent, ...]
    timeline_offset: int  # timeline minute of the trace's minute 0


def black_friday(
    seed: int = 0, flash_sale_minute_of_day: int = DEFAULT_FLASH_SALE_MINUTE_OF_DAY
) -> BlackFriday:
    """Build the scenario; the same seed always gives the same numbers."""
    if not 6 * 60 <= flash_sale_minute_of_day <= 22 * 60 - FLASH_MINUTES:
        raise ValueError("the flash sale is a daytime event: start it between 06:00 and 21:40 local")
    rng = random.Random(seed)
    shape = [diurnal_level(m) for m in range(MINUTES_PER_DAY)]
    normal = [s * n for s, n in zip(shape, _noise(rng, MINUTES_PER_DAY), strict=True)]
    friday_base = [s * n for s, n in zip(shape, _noise(rng, MINUTES_PER_DAY), strict=True)]
    lift = _solve_lift(normal, friday_base, flash_sale_minute_of_day)
    multipliers = _friday_multipliers(lift, flash_sale_minute_of_day)
    friday = [b * m for b, m in zip(friday_base, multipliers, strict=True)]
    scale = PEAK_REQUESTS_PER_MINUTE / max(friday)
    normal_rpm = [float(round(v * scale)) for v in normal]
    friday_rpm = [float(round(v * scale)) for v in friday]
    peak_at = max(range(MINUTES_PER_DAY), key=friday_rpm.__getitem__)
    friday_rpm[peak_at] = float(PEAK_REQUESTS_PER_MINUTE)  # exact, whatever the float rounding did
    return BlackFriday(seed, tuple(normal_rpm), tuple(friday_rpm), flash_sale_minute_of_day, lift)


def demo_window(seed: int = 0, minutes: int = DEMO_WINDOW_MINUTES) -> Window:
    """The demo's default replay: Thursday 23:00 local, `minutes` long (12 hours by default)."""
    return black_friday(seed).window(DEMO_WINDOW_START_MINUTE, minutes)


def write_csv(trace: Trace, path: str | Path) -> Path:
    """Write a trace as `minute,requests` (the format `surgeguard bench` and `--trace` read)."""
    path = Path(path)
    lines = [
        "minute,requests",
        *(f"{i},{d:.0f}" if d == int(d) else f"{i},{d!r}" for i, d in enumerate(trace.demand)),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
