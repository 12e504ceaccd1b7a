"""run_policy stops the Locust it started however the run ends: Locust runs in a session of its own, so
nothing else would, and a Locust left running offers its plan's load to whatever the next test starts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import psutil
import pytest

from loadtest import fleet as fleet_module
from loadtest.balancer import Balancer
from loadtest.fleet import FleetSpec, LiveFleet
from loadtest.policies import FixedFleet
from loadtest.runner import Stack, process_alive, run_policy
from loadtest.shape import Load

pytestmark = pytest.mark.loadtest

FAKE_SHOP = Path(__file__).resolve().parent / "fake_shop.py"


def _running_children(word: str) -> list[psutil.Process]:
    running = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(word in part for part in child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                running.append(child)
    return running


class _StalledRedis:
    """A Redis that never answers: the run is interrupted (Ctrl-C, SIGTERM) while it waits for one."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()

    async def set(self, key: str, value: str) -> None:
        self.waiting.set()
        await asyncio.Event().wait()


class _StackOnFakeShops:
    """Stack's surface run_policy uses: the fleet on stand-in shops, no database."""

    def __init__(self, balancer: Balancer, fleet: LiveFleet, redis: _StalledRedis) -> None:
        self.spec = fleet.spec
        self.pool_size = len(fleet.instances)
        self.balancer, self.fleet, self.redis = balancer, fleet, redis

    async def reset(self) -> None:
        pass

    async def stock_check(self) -> tuple[int, int, int]:
        return 0, 0, 0


def test_a_run_interrupted_while_starting_leaves_no_locust_running(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fleet_module, "SHOP_APP", FAKE_SHOP)
    load = Load("flat", (1.0,) * 100, datetime(2026, 11, 27, tzinfo=UTC))

    async def scenario() -> None:
        balancer = Balancer()
        await balancer.start()
        fleet = LiveFleet(
            FleetSpec(min_size=2, max_size=2), balancer, {"pg_socket_dir": "-", "redis_socket": "-"}
        )
        redis = _StalledRedis()
        try:
            await fleet.prepare(2)
            stack = cast(Stack, _StackOnFakeShops(balancer, fleet, redis))
            run = asyncio.create_task(
                run_policy(stack, FixedFleet(2), load, seconds_per_minute=0.4, peak_rps=10.0,
                           capacity_rps=20.0, workdir=tmp_path, progress=False)
            )  # fmt: skip
            await asyncio.wait_for(redis.waiting.wait(), 60)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
        finally:
            await fleet.close()
            await balancer.close()

    try:
        asyncio.run(scenario())
        left = _running_children("locust")
        assert not left, f"Locust left running: {[p.pid for p in left]}"
    finally:
        for process in _running_children("locust"):  # so that the next test starts clean
            with contextlib.suppress(psutil.Error):
                os.kill(process.pid, signal.SIGKILL)


def test_a_stack_interrupted_while_stopping_still_stops_everything() -> None:
    # The SIGTERM handler cancels the run; a SIGTERM that comes while the stack is already stopping (the
    # run's end, a CI timeout) lands on one of the stopping's awaits.
    started: list[int] = []
    folder: list[Path] = []
    close = LiveFleet.close

    async def scenario() -> None:
        run = asyncio.current_task()
        assert run is not None

        async def close_interrupted(fleet: LiveFleet) -> None:
            run.cancel()
            await close(fleet)

        with pytest.MonkeyPatch.context() as patch:
            async with Stack(FleetSpec(min_size=1, max_size=1)) as stack:
                started.extend(stack.pids)
                folder.append(stack.backends.folder)
                patch.setattr(LiveFleet, "close", close_interrupted)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())
    try:
        assert len(started) == 3  # postgres, redis, the shop
        assert not [pid for pid in started if process_alive(pid)], "stack processes left running"
        assert not folder[0].exists(), f"{folder[0]} left behind"
    finally:
        for pid in started:  # so that the next test starts clean
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(folder[0], ignore_errors=True)
