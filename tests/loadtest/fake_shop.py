"""A stand-in for examples/shop/app.py in the fleet's tests: the same command line, port line and control
endpoints, no database. FAKE_SHOP=hang never reports its port; FAKE_SHOP=exit exits before it does.

Run by LiveFleet._spawn as `python fake_shop.py --pg-socket-dir ... --redis-socket ... --slots N ...`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

from aiohttp import web


async def main() -> None:
    state = "stopped"
    generation = 0  # a stop while warming wins, as the shop's does

    async def start(request: web.Request) -> web.Response:
        nonlocal state, generation
        generation += 1
        started = generation
        state = "warming"
        await asyncio.sleep(float(request.query.get("warmup", "0")))
        if started == generation:
            state = "serving"
        return web.json_response({"state": state})

    async def stop(request: web.Request) -> web.Response:
        nonlocal state, generation
        generation += 1
        state = "stopped"
        return web.json_response({"state": state})

    async def page(request: web.Request) -> web.Response:
        return web.json_response({"state": state}, status=200 if state == "serving" else 503)

    app = web.Application()
    app.router.add_post("/_control/start", start)
    app.router.add_post("/_control/stop", stop)
    app.router.add_get("/{path:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await runner.cleanup()


if __name__ == "__main__":
    mode = os.environ.get("FAKE_SHOP", "")
    if mode == "exit":
        sys.exit(3)
    if mode == "hang":
        time.sleep(600)
        sys.exit(0)
    asyncio.run(main())
