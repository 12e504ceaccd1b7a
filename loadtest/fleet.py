"""The local fleet: shop worker processes on 127.0.0.1 with an Auto Scaling group's life cycle.

Every instance is its own process running `examples/shop/app.py`. The processes are started once,
stopped (not serving, not billed), before any measurement: a launch then takes the configured launch
time (pending), calls the instance's start (it opens its pool and preloads the cache during the
warm-up time), and only then registers it with the balancer, like an ALB health check passing. A
termination deregisters the newest instance first, lets its requests drain, and stops it. Spawning a
Python process costs a second of the CPU every instance shares, which would be the machine, not the
fleet, answering slowly; a pool of stopped processes keeps that out of the measurement (EC2's warm
pool of stopped instances is the same idea).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from loadtest.balancer import Balancer, Target
from loadtest.clock import SimClock

SHOP_APP = Path(__file__).resolve().parents[1] / "examples" / "shop" / "app.py"
# A shop imports its drivers and binds its port in a second or two; 14 of them at once on 2 busy cores
# take longer, but one that has said nothing in a minute is stuck, and the run would wait forever.
SPAWN_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class FleetSpec:
    """What an instance is and how long it takes to serve after a launch (trace minutes)."""

    slots: int = 4
    queue: int = 32
    rate_limit: int = 3
    launch_minutes: float = 2.0
    warmup_minutes: float = 2.0
    min_size: int = 2
    max_size: int = 14


@dataclass
class Instance:
    index: int
    process: subprocess.Popen[bytes]
    port: int
    state: str = "stopped"  # stopped -> pending -> warming -> serving -> draining -> stopped
    launched_at: float = 0.0  # trace minute of the launch
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Change:
    """One SetDesiredCapacity the fleet carried out (the audit must name the same ones)."""

    minute: float
    previous: int
    desired: int


class LiveFleet:
    """The group: `set_desired` launches or terminates; counts per state; events per minute."""

    def __init__(self, spec: FleetSpec, balancer: Balancer, backends_env: dict[str, str]) -> None:
        self.spec = spec
        self.balancer = balancer
        self._backends = backends_env
        self.instances: list[Instance] = []
        self.clock: SimClock | None = None
        self.desired = 0
        self.min_size = spec.min_size
        self.max_size = spec.max_size
        self.changes: list[Change] = []
        self.launched: list[str] = []  # target ids of the instances this run launched, in order
        self._session: aiohttp.ClientSession | None = None
        self._pending_stops: set[asyncio.Task[None]] = set()

    # --- the process pool -------------------------------------------------------------------------
    async def prepare(self, processes: int) -> None:
        """Start `processes` stopped instances (in parallel) and wait until each has its port.

        Every instance that started is kept, even when another failed or the run was interrupted
        meanwhile, so that close() stops it; then the first failure is raised.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        starts = [asyncio.to_thread(self._spawn, i) for i in range(len(self.instances), processes)]
        spawning = asyncio.gather(*starts, return_exceptions=True)
        try:
            await asyncio.shield(spawning)
        finally:
            # A thread cannot be cancelled: wait for the processes it is starting (each has a deadline).
            outcomes = await spawning
            self.instances.extend(o for o in outcomes if isinstance(o, Instance))
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise failures[0]

    def _spawn(self, index: int) -> Instance:
        command = [
            sys.executable, str(SHOP_APP),
            "--pg-socket-dir", self._backends["pg_socket_dir"],
            "--redis-socket", self._backends["redis_socket"],
            "--slots", str(self.spec.slots),
            "--queue", str(self.spec.queue),
            "--rate-limit", str(self.spec.rate_limit),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=None, start_new_session=True)
        try:
            port = _read_port(process, index)
        except BaseException:
            _kill(process)
            raise
        return Instance(index, process, port)

    @property
    def pids(self) -> list[int]:
        return [i.process.pid for i in self.instances]

    @property
    def ports(self) -> list[int]:
        return [i.port for i in self.instances]

    async def close(self) -> None:
        """Stop every task and process of the fleet (SIGTERM, then SIGKILL after 10 s)."""
        for instance in self.instances:
            if instance.task is not None:
                instance.task.cancel()
        for task in list(self._pending_stops):
            task.cancel()
        for instance in self.instances:
            if instance.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(instance.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for instance in self.instances:
            try:
                await asyncio.to_thread(instance.process.wait, max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(instance.process.pid, signal.SIGKILL)
                instance.process.wait(5)
            if instance.process.stdout is not None:
                instance.process.stdout.close()
        if self._session is not None:
            await self._session.close()

    # --- the group ---------------------------------------------------------------------------------
    async def begin(self, clock: SimClock, initial: int) -> None:
        """Reset for a run: `initial` instances serving from minute 0 (launched long before)."""
        if initial > len(self.instances):
            raise ValueError(f"{initial} instances asked for, the pool has {len(self.instances)}")
        # A launch still in flight from the previous run would register its instance in this one,
        # capacity the next policy never asked for.
        launches = [i.task for i in self.instances if i.task is not None]
        for task in launches:
            task.cancel()
        await asyncio.gather(*launches, return_exceptions=True)
        for instance in self.instances:
            instance.task = None
        await self.wait_idle()
        self.clock = clock
        self.changes = []
        self.launched = []
        self.min_size, self.max_size = self.spec.min_size, self.spec.max_size
        for instance in self.instances:
            if instance.state != "stopped":
                await self._stop(instance)
        await asyncio.gather(*(self._control(i, "start", warmup=0) for i in self.instances[:initial]))
        for instance in self.instances[:initial]:
            instance.state, instance.launched_at = "serving", -1e9
            self.balancer.add(self._target(instance))
        self.desired = initial

    def _target(self, instance: Instance) -> Target:
        return Target(str(instance.index), instance.url, self.spec.slots)

    def set_desired(self, desired: int) -> None:
        """SetDesiredCapacity: launch from the stopped pool, or terminate the newest first."""
        desired = min(self.max_size, max(self.min_size, desired))
        if desired == self.desired:
            return
        clock = self.clock
        assert clock is not None, "begin() first"
        now = clock.minutes()
        self.changes.append(Change(now, self.desired, desired))
        live = sorted(self._live(), key=lambda i: i.launched_at)
        if desired > len(live):
            stopped = [i for i in self.instances if i.state == "stopped"]
            if len(stopped) < desired - len(live):
                raise RuntimeError(
                    f"fleet pool has {len(stopped)} stopped instances, {desired - len(live)} needed"
                )
            for instance in stopped[: desired - len(live)]:
                instance.state, instance.launched_at = "pending", now
                self.launched.append(self._target(instance).id)
                instance.task = asyncio.get_running_loop().create_task(self._launch(instance))
        else:
            for instance in live[desired:]:
                if instance.task is not None:
                    instance.task.cancel()
                    instance.task = None
                task = asyncio.get_running_loop().create_task(self._terminate(instance))
                self._pending_stops.add(task)
                task.add_done_callback(self._pending_stops.discard)
        self.desired = desired

    def set_max_size(self, max_size: int) -> None:
        # The pool is the hard ceiling, as an account's instance quota would be.
        self.max_size = min(max_size, len(self.instances))

    async def _launch(self, instance: Instance) -> None:
        assert self.clock is not None
        await asyncio.sleep(self.clock.real_seconds(self.spec.launch_minutes))
        instance.state = "warming"
        await self._control(instance, "start", warmup=self.clock.real_seconds(self.spec.warmup_minutes))
        instance.state = "serving"
        instance.task = None
        self.balancer.add(self._target(instance))

    async def _terminate(self, instance: Instance) -> None:
        instance.state = "draining"
        await self._stop(instance)

    async def _stop(self, instance: Instance) -> None:
        # A pending or warming instance was never registered: nothing to drain.
        if self._target(instance).id in self.balancer.targets:
            await self.balancer.remove(self._target(instance).id)
        await self._control(instance, "stop")
        instance.state = "stopped"

    async def _control(self, instance: Instance, action: str, warmup: float | None = None) -> None:
        assert self._session is not None
        params = {} if warmup is None else {"warmup": f"{warmup:.3f}"}
        async with self._session.post(f"{instance.url}/_control/{action}", params=params) as response:
            response.raise_for_status()

    async def wait_idle(self) -> None:
        """Let terminations in flight finish (between runs)."""
        while self._pending_stops:
            await asyncio.gather(*list(self._pending_stops), return_exceptions=True)

    # --- what DescribeAutoScalingGroups would say ---------------------------------------------------
    def _live(self) -> list[Instance]:
        return [i for i in self.instances if i.state in ("pending", "warming", "serving")]

    def count(self, state: str) -> int:
        return sum(1 for i in self.instances if i.state == state)

    @property
    def total(self) -> int:
        """Instances in the group (pending, warming or serving): the desired capacity once settled."""
        return len(self._live())

    @property
    def billed(self) -> int:
        """Running instances, draining ones included: they cost until they are stopped."""
        return self.total + self.count("draining")

    def launched_within(self, minutes: float) -> int:
        assert self.clock is not None
        since = self.clock.minutes() - minutes
        return sum(1 for i in self._live() if i.launched_at > since)


def _read_port(process: subprocess.Popen[bytes], index: int) -> int:
    """The port a starting shop prints on its first line, within SPAWN_TIMEOUT_SECONDS."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], SPAWN_TIMEOUT_SECONDS)
    if not ready:
        raise RuntimeError(f"shop instance {index} did not report its port in {SPAWN_TIMEOUT_SECONDS:g} s")
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise RuntimeError(f"shop instance {index} exited with {process.returncode} before serving")
    return int(json.loads(line)["port"])


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(5)
    if process.stdout is not None:
        process.stdout.close()
