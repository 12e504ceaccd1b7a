"""One shop instance: an HTTP worker in front of the shared PostgreSQL and Redis.

The backend patterns of a Black Friday shop, each real:
- product pages read through Redis (TTL), and a starting instance preloads the hot items first;
- a purchase takes the inventory row lock in a PostgreSQL transaction: it can never oversell;
- per-client rate limiting in Redis (a fixed one-second window shared by every instance) answers 429;
- a connection pool per instance (asyncpg);
- graceful degradation: while the fleet is short of capacity (a flag in Redis, set by the fleet's
  balancer) recommendations and search suggestions are shed, answered at once without work.

Capacity comes from the instance, not from the CPU it shares with its neighbours on one machine: an
instance serves at most `--slots` requests at a time, each holding its slot for the endpoint's service
time (real database and cache work included); others wait in its queue, and past `--queue` it answers
503. So one more instance is exactly `slots / service time` more requests per second.

Started stopped (`/_control/health` answers 503), like an instance of a warm pool: the fleet calls
`POST /_control/start` when it launches it and `POST /_control/stop` when it terminates it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

# Mean service time (seconds) of each endpoint: the slot is held this long, real work included.
SERVICE_SECONDS = {
    "product": 0.15,
    "recommendations": 0.20,
    "search": 0.30,
    "suggest": 0.10,
    "cart": 0.15,
    "checkout": 0.35,
}
NON_CRITICAL = frozenset({"recommendations", "suggest"})
# Lognormal jitter with mean 1: service times spread like a real handler's.
_JITTER_SIGMA = 0.3
_JITTER_MU = -(_JITTER_SIGMA**2) / 2
PRODUCT_TTL_SECONDS = 30
HOT_ITEMS = 50
DEGRADED_KEY = "shop:degraded"
# The degradation flag is read at most this often per instance (one Redis GET, not one per request).
_FLAG_REFRESH_SECONDS = 0.1


class Shop:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.slots = asyncio.Semaphore(args.slots)
        self.waiting = 0
        self.pool: asyncpg.Pool | None = None
        self.redis = aioredis.Redis(unix_socket_path=args.redis_socket, decode_responses=True)
        self.state = "stopped"
        self.generation = 0
        self._degraded = False
        self._flag_read = 0.0

    # --- life cycle -------------------------------------------------------------------------------
    async def start(self, warmup_seconds: float) -> None:
        await self.stop()
        began = time.monotonic()
        generation = self.generation
        self.state = "warming"
        pool = await asyncpg.create_pool(
            host=self.args.pg_socket_dir, user="postgres", database="postgres",
            min_size=1, max_size=self.args.slots,
        )  # fmt: skip
        if generation != self.generation:  # stopped while warming: a terminated launch
            await pool.close()
            return
        self.pool = pool
        await self.preload()
        # The rest of the warm-up (JIT, caches a real app fills) is time, not work.
        await asyncio.sleep(max(0.0, warmup_seconds - (time.monotonic() - began)))
        if generation == self.generation:
            self.state = "serving"

    async def stop(self) -> None:
        self.generation += 1
        self.state = "stopped"
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()

    async def preload(self) -> None:
        """Put the hot items in the cache before taking traffic (the cold-start stampede otherwise)."""
        assert self.pool is not None
        rows = await self.pool.fetch(
            "SELECT id, name, category, price_cents, description FROM products ORDER BY id LIMIT $1",
            HOT_ITEMS,
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.set(f"product:{row['id']}", json.dumps(dict(row)), ex=PRODUCT_TTL_SECONDS)
            await pipe.execute()

    # --- edge: rate limit, shedding, the instance's slots -------------------------------------------
    async def allowed(self, client: str) -> bool:
        window = int(time.time())
        key = f"rl:{client}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2)
            count, _ = await pipe.execute()
        return int(count) <= self.args.rate_limit

    async def degraded(self) -> bool:
        now = time.monotonic()
        if now - self._flag_read >= _FLAG_REFRESH_SECONDS:
            self._flag_read = now
            self._degraded = await self.redis.get(DEGRADED_KEY) == "1"
        return self._degraded

    async def serve(
        self, request: web.Request, kind: str, work: Callable[[], Awaitable[web.Response]]
    ) -> web.Response:
        if self.state != "serving":
            return web.json_response({"error": "instance not in service"}, status=503)
        client = request.headers.get("X-Client-Id") or (request.remote or "unknown")
        if not await self.allowed(client):
            return web.json_response({"error": "rate limited"}, status=429, headers={"Retry-After": "1"})
        if kind in NON_CRITICAL and await self.degraded():
            return web.json_response({"degraded": True, "items": []})
        if self.waiting >= self.args.queue:
            return web.json_response({"error": "instance overloaded"}, status=503)
        self.waiting += 1
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
        try:
            began = time.monotonic()
            response = await work()
            budget = SERVICE_SECONDS[kind] * random.lognormvariate(_JITTER_MU, _JITTER_SIGMA)
            await asyncio.sleep(max(0.0, budget - (time.monotonic() - began)))
            return response
        finally:
            self.slots.release()

    # --- endpoints ----------------------------------------------------------------------------------
    async def product(self, product_id: int) -> web.Response:
        key = f"product:{product_id}"
        cached = await self.redis.get(key)
        if cached is not None:
            return web.json_response(json.loads(cached), headers={"X-Cache": "hit"})
        assert self.pool is not None
        row = await self.pool.fetchrow(
            "SELECT id, name, category, price_cents, description FROM products WHERE id = $1", product_id
        )
        if row is None:
            return web.json_response({"error": "no such product"}, status=404)
        body = dict(row)
        await self.redis.set(key, json.dumps(body), ex=PRODUCT_TTL_SECONDS)
        return web.json_response(body, headers={"X-Cache": "miss"})

    async def recommendations(self, product_id: int) -> web.Response:
        assert self.pool is not None
        rows = await self.pool.fetch(
            "SELECT id, name FROM products WHERE category = (SELECT category FROM products WHERE id = $1) "
            "AND id <> $1 ORDER BY (id * 2654435761::bigint + $2) % 1000 LIMIT 4",
            product_id,
            random.randrange(1000),
        )
        return web.json_response({"items": [dict(r) for r in rows]})

    async def search(self, query: str) -> web.Response:
        assert self.pool is not None
        rows = await self.pool.fetch(
            "SELECT id, name, price_cents FROM products WHERE name ILIKE $1 ORDER BY id LIMIT 20",
            f"%{query}%",
        )
        return web.json_response({"items": [dict(r) for r in rows]})

    async def suggest(self, prefix: str) -> web.Response:
        assert self.pool is not None
        rows = await self.pool.fetch("SELECT name FROM products WHERE name ILIKE $1 LIMIT 5", f"{prefix}%")
        return web.json_response({"suggestions": [r["name"] for r in rows]})

    async def add_to_cart(self, client: str, product_id: int) -> web.Response:
        key = f"cart:{client}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, str(product_id), 1)
            pipe.expire(key, 3600)
            await pipe.execute()
        return web.json_response({"ok": True})

    async def checkout(self, client: str, product_id: int, qty: int) -> web.Response:
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction():
            # The row lock: concurrent buyers of one product queue here, so the check below
            # and the decrement are one step for each of them.
            stock = await conn.fetchval(
                "SELECT stock FROM inventory WHERE product_id = $1 FOR UPDATE", product_id
            )
            if stock is None:
                return web.json_response({"error": "no such product"}, status=404)
            if stock < qty:
                return web.json_response({"error": "sold out", "left": stock}, status=409)
            await conn.execute(
                "UPDATE inventory SET stock = stock - $2 WHERE product_id = $1", product_id, qty
            )
            order = await conn.fetchval(
                "INSERT INTO orders (product_id, qty, client) VALUES ($1, $2, $3) RETURNING id",
                product_id,
                qty,
                client,
            )
        await self.redis.hdel(f"cart:{client}", str(product_id))
        return web.json_response({"order": order, "left": stock - qty}, status=201)


def _int(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info.get(name) or request.query[name])
    except (KeyError, ValueError):
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


def build_app(shop: Shop) -> web.Application:
    routes = web.RouteTableDef()

    def client_of(request: web.Request) -> str:
        return request.headers.get("X-Client-Id") or (request.remote or "unknown")

    @routes.get("/products/{id}")
    async def product(request: web.Request) -> web.Response:
        product_id = _int(request, "id")
        return await shop.serve(request, "product", lambda: shop.product(product_id))

    @routes.get("/recommendations/{id}")
    async def recommendations(request: web.Request) -> web.Response:
        product_id = _int(request, "id")
        return await shop.serve(request, "recommendations", lambda: shop.recommendations(product_id))

    @routes.get("/search")
    async def search(request: web.Request) -> web.Response:
        query = request.query.get("q", "")[:40]
        return await shop.serve(request, "search", lambda: shop.search(query))

    @routes.get("/suggest")
    async def suggest(request: web.Request) -> web.Response:
        prefix = request.query.get("q", "")[:40]
        return await shop.serve(request, "suggest", lambda: shop.suggest(prefix))

    @routes.post("/cart")
    async def cart(request: web.Request) -> web.Response:
        data = await _body(request)
        product_id = data.get("product_id")
        if not isinstance(product_id, int):
            raise web.HTTPBadRequest(text="product_id must be an integer")
        return await shop.serve(request, "cart", lambda: shop.add_to_cart(client_of(request), product_id))

    @routes.post("/checkout")
    async def checkout(request: web.Request) -> web.Response:
        data = await _body(request)
        product_id, qty = data.get("product_id"), data.get("qty", 1)
        if not isinstance(product_id, int) or not isinstance(qty, int) or not 1 <= qty <= 5:
            raise web.HTTPBadRequest(text="product_id must be an integer and qty 1-5")
        return await shop.serve(
            request, "checkout", lambda: shop.checkout(client_of(request), product_id, qty)
        )

    # Control plane: the fleet (the launch/terminate and health-check side of Auto Scaling and the ALB).
    @routes.get("/_control/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"state": shop.state}, status=200 if shop.state == "serving" else 503)

    @routes.post("/_control/start")
    async def start(request: web.Request) -> web.Response:
        await shop.start(float(request.query.get("warmup", "0")))
        return web.json_response({"state": shop.state})

    @routes.post("/_control/stop")
    async def stop(request: web.Request) -> web.Response:
        await shop.stop()
        return web.json_response({"state": shop.state})

    app = web.Application()
    app.add_routes(routes)

    async def close(_: web.Application) -> None:
        await shop.stop()
        await shop.redis.aclose()

    app.on_cleanup.append(close)
    return app


async def _main(args: argparse.Namespace) -> None:
    shop = Shop(args)
    runner = web.AppRunner(build_app(shop), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    # The fleet reads this line to learn the port the kernel gave us.
    print(json.dumps({"port": port}), flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await runner.cleanup()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--pg-socket-dir", required=True, help="folder of PostgreSQL's Unix socket")
    parser.add_argument("--redis-socket", required=True, help="Redis Unix socket path")
    parser.add_argument("--slots", type=int, default=4, help="requests served at once")
    parser.add_argument("--queue", type=int, default=64, help="requests waiting for a slot before 503")
    parser.add_argument("--rate-limit", type=int, default=3, help="requests per second per client")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(_main(parse_args(sys.argv[1:])))
