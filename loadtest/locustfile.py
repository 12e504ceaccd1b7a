"""Locust shoppers for the sample shop; the load shape follows a plan (loadtest/shape.py).

Run by the load test as `locust -f loadtest/locustfile.py --headless` with LOADTEST_PLAN naming the plan.
The shape holds a fixed pool of shoppers for exactly the plan's duration, and each shopper's pacing
follows the plan's rate at sub-second resolution: candidate arrivals come at the peak rate per shopper
(exponential gaps, so the sum is a Poisson stream) and each is kept with probability rate(t) / peak.
That follows a 10x flash sale within a second, which adding and removing users (Locust's shape tick is
one second, and new users start in bursts) cannot at this time compression.
"""

from __future__ import annotations

import os
import random
import time

from locust import FastHttpUser, LoadTestShape, constant_pacing, task
from locust.contrib.fasthttp import ResponseContextManager

from loadtest.shape import Plan

PLAN = Plan.read(os.environ["LOADTEST_PLAN"])
PEAK = max(PLAN.rps) or 1.0
QUERIES = ("lamp", "kettle", "pro", "max", "sneakers", "camera", "air", "speaker", "one", "mini")
DOORBUSTERS = 20
PRODUCTS = 2000
HOT = 50
SCRAPER_SECONDS = 0.2  # one request every 0.2 s: 5 per second against a limit of 3


def _answered(response: ResponseContextManager) -> None:
    """The shop's refusals (409 sold out, 429 rate limited, any 4xx) are answers, as the local run counts
    them: Locust's failures are then what it counts as errors, 5xx and requests that got no answer, and
    `--host` mode can hold a run's failures to a limit without the price bot's 429s in it."""
    if 400 <= response.status_code < 500:
        response.success()


def _product() -> int:
    """Most views go to the hot items, the rest spread over the catalogue."""
    return random.randint(1, HOT) if random.random() < 0.6 else random.randint(1, PRODUCTS)


class Shopper(FastHttpUser):
    """Browses, searches, adds to the cart and buys; one request per arrival."""

    weight = 1

    def on_start(self) -> None:
        self.client_id = f"shopper-{id(self):x}-{random.randrange(1 << 30):x}"
        self._next = time.monotonic()

    def wait_time(self) -> float:
        now = time.monotonic()
        self._next = max(now, self._next) + random.expovariate(PEAK / PLAN.users)
        return self._next - now

    def _arrives(self) -> bool:
        """Thinning: keep this candidate arrival with probability rate(now) / peak."""
        return random.random() * PEAK < PLAN.rate_at(time.time() - PLAN.epoch)

    def _get(self, path: str, name: str) -> None:
        headers = {"X-Client-Id": self.client_id}
        with self.client.get(path, name=name, headers=headers, catch_response=True) as response:
            _answered(response)

    def _post(self, path: str, body: dict[str, int]) -> None:
        headers = {"X-Client-Id": self.client_id}
        with self.client.post(path, json=body, name=path, headers=headers, catch_response=True) as response:
            _answered(response)

    @task(45)
    def view_product(self) -> None:
        if self._arrives():
            self._get(f"/products/{_product()}", "/products/[id]")

    @task(15)
    def recommendations(self) -> None:
        if self._arrives():
            self._get(f"/recommendations/{_product()}", "/recommendations/[id]")

    @task(15)
    def search(self) -> None:
        if self._arrives():
            self._get(f"/search?q={random.choice(QUERIES)}", "/search")

    @task(10)
    def suggest(self) -> None:
        if self._arrives():
            self._get(f"/suggest?q={random.choice(QUERIES)[:2]}", "/suggest")

    @task(9)
    def add_to_cart(self) -> None:
        if self._arrives():
            self._post("/cart", {"product_id": _product()})

    @task(6)
    def buy(self) -> None:
        if self._arrives():
            # A third of the buyers go for the doorbusters, whose stock runs out.
            product = random.randint(1, DOORBUSTERS) if random.random() < 0.33 else _product()
            self._post("/checkout", {"product_id": product, "qty": random.choice((1, 1, 1, 2))})


class Scraper(FastHttpUser):
    """A price bot polling faster than the per-client limit allows: the shop answers it 429."""

    fixed_count = 1

    def on_start(self) -> None:
        self.client_id = "price-scraper"

    wait_time = constant_pacing(SCRAPER_SECONDS)

    @task
    def poll(self) -> None:
        if 0 <= time.time() - PLAN.epoch < PLAN.duration_seconds:
            with self.client.get(
                f"/products/{random.randint(1, PRODUCTS)}",
                name="scraper",
                headers={"X-Client-Id": self.client_id},
                catch_response=True,
            ) as response:
                _answered(response)


class TraceShape(LoadTestShape):
    """All shoppers (and the scraper) for the plan's duration, then stop."""

    def tick(self) -> tuple[int, float] | None:
        if time.time() >= PLAN.epoch + PLAN.duration_seconds:
            return None
        total = PLAN.users + Scraper.fixed_count
        return total, float(total)
