"""A small load balancer on 127.0.0.1 and the measurements an ALB would publish.

Least outstanding requests across registered instances; deregistration drains. Per request it records
what CloudWatch gets from an ALB: the request (RequestCount), its status (HTTPCode_Target_5XX, ELB 5XX),
and for requests sent to an instance, TargetResponseTime. An instance's "CPU" is the fraction of its
slots busy, integrated over time: the instance's capacity is its slots, so that is its utilization,
and like a CPU it saturates at 100 %.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

# ALB's idle timeout would be 60 s; users leave far sooner. A request waiting this long is a 504.
TARGET_TIMEOUT_SECONDS = 3.0
DRAIN_SECONDS = 5.0
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


@dataclass
class Target:
    id: str
    url: str
    slots: int
    outstanding: int = 0
    draining: bool = False
    busy: float = 0.0  # slot-seconds busy, integrated
    offered: float = 0.0  # slot-seconds registered, integrated
    _since: float = field(default_factory=time.monotonic)

    def settle(self, now: float) -> None:
        elapsed = now - self._since
        if elapsed > 0:
            if not self.draining:
                self.offered += self.slots * elapsed
            self.busy += min(self.outstanding, self.slots) * elapsed
        self._since = now


@dataclass
class Window:
    """Everything the balancer saw in one trace minute."""

    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # target response times (s)
    answered_by: dict[str, int] = field(default_factory=dict)  # per target id: what reached an instance
    busy: float = 0.0
    offered: float = 0.0
    serving: int = 0

    @property
    def cpu(self) -> float | None:
        """Average utilization (%) of the serving instances' slots; None when none served."""
        return 100.0 * min(1.0, self.busy / self.offered) if self.offered > 0 else None

    def count(self, low: int, high: int) -> int:
        return sum(n for status, n in self.statuses.items() if low <= status < high)


class Balancer:
    def __init__(self) -> None:
        self.targets: dict[str, Target] = {}
        self._window = Window()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, port: int = 0) -> int:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=TARGET_TIMEOUT_SECONDS),
            auto_decompress=False,
        )
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=2048)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- registration -------------------------------------------------------------------------------
    def add(self, target: Target) -> None:
        target._since = time.monotonic()
        self.targets[target.id] = target

    async def remove(self, target_id: str) -> None:
        """Deregister: no new requests; wait (bounded) for those in flight."""
        target = self.targets[target_id]
        target.settle(time.monotonic())
        target.draining = True
        deadline = time.monotonic() + DRAIN_SECONDS
        while target.outstanding and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        target.settle(time.monotonic())
        self._window.busy += target.busy
        self._window.offered += target.offered
        target.busy = target.offered = 0.0
        self.targets.pop(target_id, None)

    @property
    def serving(self) -> int:
        return sum(1 for t in self.targets.values() if not t.draining)

    def collect(self) -> Window:
        """Close the current window and open the next one."""
        now = time.monotonic()
        window, self._window = self._window, Window()
        for target in self.targets.values():
            target.settle(now)
            window.busy += target.busy
            window.offered += target.offered
            target.busy = target.offered = 0.0
        window.serving = self.serving
        return window

    # --- the data path ------------------------------------------------------------------------------
    def _pick(self) -> Target | None:
        candidates = [t for t in self.targets.values() if not t.draining]
        if not candidates:
            return None
        return min(candidates, key=lambda t: t.outstanding / t.slots)

    def _record(self, status: int, latency: float | None, answered_by: str | None = None) -> None:
        window = self._window
        window.statuses[status] = window.statuses.get(status, 0) + 1
        if latency is not None:
            window.latencies.append(latency)
        if answered_by is not None:
            window.answered_by[answered_by] = window.answered_by.get(answered_by, 0) + 1

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_control/"):
            return web.Response(status=404)
        self._window.requests += 1
        target = self._pick()
        if target is None:
            self._record(503, None)
            return web.json_response({"error": "no healthy instance"}, status=503)
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        began = time.monotonic()
        target.settle(began)
        target.outstanding += 1
        try:
            async with self._session.request(
                request.method, target.url + request.path_qs, data=body or None, headers=headers
            ) as upstream:
                payload = await upstream.read()
                status = upstream.status
                reply_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
        except TimeoutError:
            self._record(504, time.monotonic() - began)
            return web.json_response({"error": "instance timed out"}, status=504)
        except aiohttp.ClientError:
            self._record(502, time.monotonic() - began)
            return web.json_response({"error": "instance unreachable"}, status=502)
        finally:
            target.settle(time.monotonic())
            target.outstanding -= 1
        self._record(status, time.monotonic() - began, target.id)
        return web.Response(status=status, body=payload, headers=reply_headers)
