"""The load test: the shop, its fleet, Locust and a policy, minute by minute; then the report.

One stack (PostgreSQL, Redis, the balancer and a pool of stopped shop instances) serves every policy
in turn: between runs the database is recreated, Redis flushed and the fleet reset, so each policy
meets the same shop and the same load.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from loadtest.balancer import Balancer, Window
from loadtest.clock import SimClock
from loadtest.fleet import SHOP_APP, FleetSpec, LiveFleet
from loadtest.policies import Datapoints, LivePolicy, LiveSurgeguard, Setup
from loadtest.services import Backends
from loadtest.shape import Load, Plan, users_for

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
SCHEMA = SHOP_APP.parent / "schema.sql"
DEGRADED_KEY = "shop:degraded"
# Locust needs a few seconds to import and start its shoppers before minute 0.
LOCUST_LEAD_SECONDS = 5.0
CAPACITY_ERRORS = (502, 503, 504)


@dataclass(frozen=True)
class Minute:
    """What one trace minute looked like at the balancer, and the group at its end."""

    minute: int
    target_rps: float
    arrivals: int
    served: int  # answered by the shop: 2xx and 4xx other than 429
    errors: int  # 5xx, from the balancer or an instance
    throttled: int  # 429
    p50: float
    p95: float
    p99: float
    cpu: float
    desired: int
    serving: int
    billed: int
    degraded: bool


@dataclass
class RunResult:
    policy: str
    minutes: list[Minute]
    latencies: list[list[float]]  # per trace minute
    seconds_per_minute: float
    capacity_rps: float
    actions: int
    oversold: int
    sold: int
    sold_out: int
    degraded_minutes: int
    records: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Any] = field(default_factory=list)
    locust_exit: int | None = None
    locust_pid: int | None = None
    # Requests each instance answered (by target id) and the instances the policy launched: whether
    # the capacity a scale-out bought took any of the load.
    answered_by: dict[str, int] = field(default_factory=dict)
    launched: list[str] = field(default_factory=list)

    @property
    def arrivals(self) -> int:
        return sum(m.arrivals for m in self.minutes)

    @property
    def served(self) -> int:
        return sum(m.served for m in self.minutes)

    @property
    def errors(self) -> int:
        return sum(m.errors for m in self.minutes)

    @property
    def throttled(self) -> int:
        return sum(m.throttled for m in self.minutes)

    @property
    def worker_minutes(self) -> int:
        """Instance-minutes billed (pending, warming, serving and draining), in trace minutes."""
        return sum(m.billed for m in self.minutes)

    def percentile(self, q: float) -> float:
        return percentile(sorted(v for minute in self.latencies for v in minute), q)

    def surge_minutes(self) -> list[int]:
        """The surge: minutes whose planned demand is at least twice the median minute's."""
        ordered = sorted(m.target_rps for m in self.minutes)
        median = ordered[len(ordered) // 2] if ordered else 0.0
        return [m.minute for m in self.minutes if m.target_rps >= 2 * median > 0]

    def surge(self) -> tuple[float, float]:
        """(p95 seconds, 5xx %) over the surge minutes only."""
        minutes = self.surge_minutes()
        values = sorted(v for t in minutes for v in self.latencies[t])
        arrivals = sum(self.minutes[t].arrivals for t in minutes)
        errors = sum(self.minutes[t].errors for t in minutes)
        return percentile(values, 95), 100 * errors / arrivals if arrivals else 0.0

    def summary(self) -> dict[str, Any]:
        arrivals = max(1, self.arrivals)
        surge_p95, surge_errors = self.surge()
        return {
            "policy": self.policy,
            "p50_ms": _ms(self.percentile(50)),
            "p95_ms": _ms(self.percentile(95)),
            "p99_ms": _ms(self.percentile(99)),
            "error_pct": round(100 * self.errors / arrivals, 2),
            "surge_p95_ms": _ms(surge_p95),
            "surge_error_pct": round(surge_errors, 2),
            "throttled_pct": round(100 * self.throttled / arrivals, 2),
            "requests": self.arrivals,
            "served": self.served,
            "oversold": self.oversold,
            "sold": self.sold,
            "worker_minutes": self.worker_minutes,
            "scale_actions": self.actions,
            "degraded_minutes": self.degraded_minutes,
        }


def _ms(seconds: float) -> int | None:
    """Milliseconds for the table; None when no request was timed (a percentile of nothing is NaN)."""
    return None if math.isnan(seconds) else round(1000 * seconds)


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty), as CloudWatch's pNN."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class Degradation:
    """Sheds non-critical work while the fleet is short: on at the first request turned away for lack of
    capacity or the second hot minute in a row (one hot minute of a handful of requests is chance), off
    after three calm minutes."""

    def __init__(self, redis: aioredis.Redis, on_cpu: float = 85.0, off_cpu: float = 70.0) -> None:
        self.redis = redis
        self.on_cpu, self.off_cpu = on_cpu, off_cpu
        self.active = False
        self._calm = 0
        self._hot = 0

    async def update(self, window: Window) -> bool:
        cpu = window.cpu if window.cpu is not None else 100.0
        self._hot = self._hot + 1 if cpu >= self.on_cpu else 0
        turned_away = any(window.statuses.get(s, 0) for s in CAPACITY_ERRORS)
        short = turned_away or self._hot >= 2
        calm = cpu < self.off_cpu and not turned_away
        if short and not self.active:
            self.active, self._calm = True, 0
            await self.redis.set(DEGRADED_KEY, "1")
        elif self.active:
            self._calm = self._calm + 1 if calm else 0
            if self._calm >= 3:
                self.active = False
                await self.redis.set(DEGRADED_KEY, "0")
        return self.active


class Stack:
    """The shop's backends, the balancer and a pool of shop instances; `async with` cleans all up."""

    def __init__(self, spec: FleetSpec, pool_size: int | None = None) -> None:
        self.spec = spec
        self.pool_size = pool_size or spec.max_size
        self.backends = Backends()
        self.balancer = Balancer()
        self.fleet: LiveFleet | None = None
        self.redis: aioredis.Redis | None = None

    async def __aenter__(self) -> Stack:
        try:
            starting = asyncio.ensure_future(asyncio.to_thread(self.backends.start))
            try:
                await asyncio.shield(starting)
            except asyncio.CancelledError:
                # SIGTERM or Ctrl-C: a thread cannot be cancelled, and stopping the servers while it
                # still starts them would miss the one it starts last.
                with contextlib.suppress(Exception):
                    await starting
                raise
            await self.balancer.start()
            self.fleet = LiveFleet(
                self.spec,
                self.balancer,
                {"pg_socket_dir": self.backends.pg_socket_dir, "redis_socket": self.backends.redis_socket},
            )
            self.redis = aioredis.Redis(unix_socket_path=self.backends.redis_socket, decode_responses=True)
            await self.reset()
            await self.fleet.prepare(self.pool_size)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        stopping = asyncio.ensure_future(self._stop_everything())
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            # A SIGTERM or Ctrl-C while the stack stops (a CI timeout at the run's end): cut short, it
            # would leave PostgreSQL, Redis and their folder behind, in sessions no signal reaches.
            await stopping
            raise

    async def _stop_everything(self) -> None:
        """Each part stopped even when stopping the one before failed."""
        try:
            if self.fleet is not None:
                await self.fleet.close()
        finally:
            try:
                await self.balancer.close()
            finally:
                try:
                    if self.redis is not None:
                        await self.redis.aclose()
                finally:
                    await asyncio.to_thread(self.backends.stop)

    @property
    def pids(self) -> list[int]:
        return self.backends.pids + (self.fleet.pids if self.fleet else [])

    @property
    def ports(self) -> list[int]:
        return [self.balancer.port, *(self.fleet.ports if self.fleet else [])]

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(host=self.backends.pg_socket_dir, user="postgres", database="postgres")

    async def reset(self) -> None:
        """A fresh catalogue, full stock, no orders, empty cache and rate limits."""
        conn = await self.db()
        try:
            await conn.execute(SCHEMA.read_text(encoding="utf-8"))
        finally:
            await conn.close()
        assert self.redis is not None
        await self.redis.flushall()

    async def stock_check(self) -> tuple[int, int, int]:
        """(units oversold, units sold, products sold out) from the orders and the inventory."""
        conn = await self.db()
        try:
            row = await conn.fetchrow(
                """
                SELECT coalesce(sum(greatest(0, coalesce(o.sold, 0) - i.initial_stock)), 0)
                         + coalesce(sum(abs(i.initial_stock - i.stock - coalesce(o.sold, 0))), 0) AS oversold,
                       coalesce(sum(o.sold), 0) AS sold,
                       count(*) FILTER (WHERE i.stock = 0) AS sold_out
                FROM inventory i
                LEFT JOIN (SELECT product_id, sum(qty) AS sold FROM orders GROUP BY product_id) o
                    USING (product_id)
                """
            )
        finally:
            await conn.close()
        assert row is not None
        return int(row["oversold"]), int(row["sold"]), int(row["sold_out"])


def _locust(plan_path: Path, host: str, log: Path, csv_prefix: Path | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOADTEST_PLAN": str(plan_path)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
        "--loglevel", "WARNING", "--stop-timeout", "3", "--exit-code-on-error", "0",
    ]  # fmt: skip
    if csv_prefix is not None:
        command += ["--csv", str(csv_prefix)]
    else:
        command += ["--only-summary"]
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _stop_process(process: subprocess.Popen[bytes], grace: float) -> int:
    try:
        return process.wait(grace)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            return process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(5)


async def _sleep_until(at: float) -> None:
    delay = at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


def _datapoint(window: Window, data: Datapoints) -> tuple[float, float, float]:
    ordered = sorted(window.latencies)
    p50, p95, p99 = (percentile(ordered, q) for q in (50, 95, 99))
    serving = window.serving
    data.cpu.append(NaN if window.cpu is None else window.cpu)
    data.requests.append(float(window.requests))
    data.requests_per_target.append(window.requests / serving if serving else float(window.requests))
    data.serving.append(float(serving))
    data.p95.append(p95)
    return p50, p95, p99


NaN = math.nan


async def run_policy(
    stack: Stack,
    policy: LivePolicy,
    load: Load,
    *,
    seconds_per_minute: float,
    peak_rps: float,
    capacity_rps: float,
    minutes: int | None = None,
    workdir: Path,
    degrade: bool = True,
    events: tuple[Any, ...] = (),
    progress: bool = True,
) -> RunResult:
    """One policy against the whole load; the stack is reset first."""
    assert stack.fleet is not None and stack.redis is not None
    fleet, balancer = stack.fleet, stack.balancer
    await fleet.wait_idle()
    await stack.reset()
    rps = load.scaled(peak_rps, minutes)
    spec = stack.spec
    epoch = time.time() + LOCUST_LEAD_SECONDS
    clock = SimClock(epoch, seconds_per_minute, load.start)
    setup = Setup(
        clock=clock,
        capacity_per_minute=capacity_rps * seconds_per_minute,
        min_size=spec.min_size,
        max_size=min(spec.max_size, stack.pool_size),
        minutes=len(rps),
        events=events,
    )
    await fleet.begin(clock, policy.initial_size(setup))
    data = Datapoints.empty()
    policy.start(setup, fleet, data)
    workdir.mkdir(parents=True, exist_ok=True)
    plan = Plan(load.name, rps, seconds_per_minute, epoch, load.start.isoformat(), users_for(peak_rps))
    plan_path = plan.write(workdir / f"plan-{policy.name}.json")
    degradation = Degradation(stack.redis)
    await stack.redis.set(DEGRADED_KEY, "0")
    rows: list[Minute] = []
    latencies: list[list[float]] = []
    answered_by: dict[str, int] = {}
    locust_grace = 15.0  # for its shoppers' last requests after the plan's end
    # No await between the spawn and the `try`: a Ctrl-C or SIGTERM lands on an await, and only this
    # `finally` stops Locust (its own session: a signal to the group misses it).
    locust = _locust(plan_path, balancer.url, workdir / f"locust-{policy.name}.log")
    try:
        await _sleep_until(clock.at_minute(0))
        balancer.collect()  # nothing before minute 0 counts
        policy.minute(0)
        for t in range(len(rps)):
            await _sleep_until(clock.at_minute(t + 1))
            window = balancer.collect()
            p50, p95, p99 = _datapoint(window, data)
            latencies.append(window.latencies)
            for target, answered in window.answered_by.items():
                answered_by[target] = answered_by.get(target, 0) + answered
            degraded = await degradation.update(window) if degrade else False
            rows.append(
                Minute(
                    minute=t,
                    target_rps=rps[t],
                    arrivals=window.requests,
                    served=window.count(200, 429) + window.count(430, 500),
                    errors=window.count(500, 600),
                    throttled=window.statuses.get(429, 0),
                    p50=p50,
                    p95=p95,
                    p99=p99,
                    cpu=data.cpu[-1],
                    desired=fleet.desired,
                    serving=window.serving,
                    billed=fleet.billed,
                    degraded=degraded,
                )
            )
            if progress and (t % 60 == 59 or t == len(rps) - 1):
                recent = rows[-60:]
                worst = max((r.p95 for r in recent if r.p95 == r.p95), default=0.0)
                print(
                    f"  {policy.name:<16} minute {t + 1:4d}/{len(rps)}  desired {fleet.desired:2d}  "
                    f"serving {window.serving:2d}  served {sum(r.served for r in recent):6d}  "
                    f"5xx {sum(r.errors for r in recent):5d}  worst p95 {1000 * worst:5.0f} ms",
                    flush=True,
                )
            if t + 1 < len(rps):
                policy.minute(t + 1)
    except BaseException:
        locust_grace = 0.0  # interrupted (SIGTERM, Ctrl-C) or failed: nothing left to offer
        raise
    finally:
        exit_code = await asyncio.to_thread(_stop_process, locust, locust_grace)
        await stack.redis.set(DEGRADED_KEY, "0")
    oversold, sold, sold_out = await stack.stock_check()
    records = policy.records if isinstance(policy, LiveSurgeguard) else []
    return RunResult(
        policy=policy.name,
        minutes=rows,
        latencies=latencies,
        seconds_per_minute=seconds_per_minute,
        capacity_rps=capacity_rps,
        actions=len(fleet.changes),
        oversold=oversold,
        sold=sold,
        sold_out=sold_out,
        degraded_minutes=sum(r.degraded for r in rows),
        records=list(records),
        changes=list(fleet.changes),
        locust_exit=exit_code,
        locust_pid=locust.pid,
        answered_by=answered_by,
        launched=list(fleet.launched),
    )


def process_alive(pid: int) -> bool:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, 0)
        return True
    return False
