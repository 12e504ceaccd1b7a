"""The fleet's life cycle on stand-in shops (tests/loadtest/fake_shop.py: the control endpoints, no database).

Scale-in while a launch is in flight, a reset between two policies' runs with a launch in flight, and a
pool whose start fails or hangs: each must leave the group's counts, the balancer and the processes as
Auto Scaling would, and nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

from loadtest import fleet as fleet_module
from loadtest.balancer import Balancer
from loadtest.clock import SimClock
from loadtest.fleet import FleetSpec, Instance, LiveFleet

pytestmark = pytest.mark.loadtest

FAKE_SHOP = Path(__file__).resolve().parent / "fake_shop.py"
SECONDS_PER_MINUTE = 0.1
# Launch to serving in 0.4 s (2 trace minutes pending, 2 warming).
SPEC = FleetSpec(min_size=2, max_size=4, launch_minutes=2.0, warmup_minutes=2.0)
SERVING_AFTER = (SPEC.launch_minutes + SPEC.warmup_minutes) * SECONDS_PER_MINUTE
BACKENDS = {"pg_socket_dir": "-", "redis_socket": "-"}
T = TypeVar("T")


def _fake_shops() -> list[psutil.Process]:
    """The stand-in shops still running under this test process."""
    running = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if str(FAKE_SHOP) in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                running.append(child)
    return running


@pytest.fixture(autouse=True)
def fake_shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(fleet_module, "SHOP_APP", FAKE_SHOP)
    yield
    leftovers = _fake_shops()
    for process in leftovers:  # what the fleet failed to stop, so that the next test starts clean
        with contextlib.suppress(psutil.Error):
            os.kill(process.pid, signal.SIGKILL)
    assert not leftovers, f"shop processes left running: {[p.pid for p in leftovers]}"


async def _until(read: Callable[[], T], expected: T, timeout: float = 30.0) -> T:
    """`read()` once it is `expected`, or its last value after `timeout` s: a launch serves SERVING_AFTER
    after it starts at the earliest, and on a busy machine its control calls can take longer than any
    fixed margin past that."""
    deadline = time.monotonic() + timeout
    while (value := read()) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value


def _clock() -> SimClock:
    return SimClock(time.time(), SECONDS_PER_MINUTE, datetime(2026, 11, 27, tzinfo=UTC))


@contextlib.asynccontextmanager
async def _fleet(processes: int = 4) -> AsyncIterator[tuple[LiveFleet, Balancer]]:
    balancer = Balancer()
    await balancer.start()
    fleet = LiveFleet(SPEC, balancer, BACKENDS)
    try:
        await fleet.prepare(processes)
        yield fleet, balancer
    finally:
        await fleet.close()
        await balancer.close()


def test_scaling_in_a_launch_in_flight_stops_it_and_returns_it_to_the_pool() -> None:
    async def scenario() -> None:
        async with _fleet() as (fleet, balancer):
            await fleet.begin(_clock(), 2)
            fleet.set_desired(3)
            await asyncio.sleep(SECONDS_PER_MINUTE / 2)  # still pending
            fleet.set_desired(2)  # newest first: the pending one, never registered with the balancer
            await fleet.wait_idle()
            assert [i.state for i in fleet.instances] == ["serving", "serving", "stopped", "stopped"]
            assert (fleet.total, fleet.billed, balancer.serving) == (2, 2, 2)
            # The whole pool is there for the next scale-out.
            fleet.set_desired(4)
            serving = await _until(
                lambda: (fleet.count("serving"), balancer.serving, fleet.billed), (4, 4, 4)
            )
            assert serving == (4, 4, 4)

    asyncio.run(scenario())


def test_a_new_run_cancels_the_previous_runs_launches() -> None:
    async def scenario() -> None:
        async with _fleet() as (fleet, balancer):
            await fleet.begin(_clock(), 2)
            fleet.set_desired(3)  # the previous policy's last scale-out, still pending at its end
            await asyncio.sleep(SECONDS_PER_MINUTE / 2)
            await fleet.begin(_clock(), 2)
            await asyncio.sleep(SERVING_AFTER + 0.5)  # past when that launch would have served
            assert (fleet.desired, fleet.count("serving"), balancer.serving) == (2, 2, 2)
            assert sorted(balancer.targets) == ["0", "1"] and fleet.launched == []
            assert all(i.task is None for i in fleet.instances)

    asyncio.run(scenario())


def test_a_failed_start_stops_the_instances_already_started(monkeypatch: pytest.MonkeyPatch) -> None:
    spawn = LiveFleet._spawn

    def third_fails(self: LiveFleet, index: int) -> Instance:
        if index == 2:
            time.sleep(1.0)  # the others are up by then
            raise RuntimeError("shop instance 2 exited with 1 before serving")
        return spawn(self, index)

    monkeypatch.setattr(LiveFleet, "_spawn", third_fails)

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="instance 2"):
            async with _fleet():
                pass

    asyncio.run(scenario())
    assert not _fake_shops(), "the instances started before the failure were left running"


def test_a_shop_that_never_reports_its_port_fails_the_start_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SHOP", "hang")
    monkeypatch.setattr(fleet_module, "SPAWN_TIMEOUT_SECONDS", 1.0, raising=False)

    hung: list[int] = []

    async def scenario() -> None:
        try:
            with pytest.raises(RuntimeError, match="did not report its port"):
                async with asyncio.timeout(15), _fleet(2):
                    pass
        finally:
            # A start that waits without a deadline blocks its thread, and asyncio.run's end with it.
            for process in _fake_shops():
                hung.append(process.pid)
                with contextlib.suppress(psutil.Error):
                    os.kill(process.pid, signal.SIGKILL)

    asyncio.run(scenario())
    assert not hung, "the shops that never reported their ports were left running"


def test_a_shop_that_exits_at_start_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SHOP", "exit")

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="exited with 3 before serving"):
            async with _fleet(2):
                pass

    asyncio.run(scenario())
