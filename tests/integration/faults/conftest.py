"""The fault and concurrency suites keep their own clock.

tests/integration/conftest.py's autouse `clock` makes the Lambda's clock follow each event's own time.
These suites need the opposite: the clock moves on while the same delivery comes again (a lease runs
out; Lambda retries a minute later), and two racing deciders live at different minutes. So the
fixture is overridden here by one that leaves `surgeguard.service.utc_now` to the suites' `Clock`
(world.Clock), installed by their world fixtures.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def clock() -> None:
    """Overrides the integration tests' event-following clock: these suites set theirs explicitly."""


@pytest.fixture(autouse=True)
def instant_throttle_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A throttled Auto Scaling call is tried again after a jittered pause (adapters/clients.py); an
    injected throttle is one such call: its next round comes at once here, so cases stay fast."""
    from surgeguard.adapters import clients

    monkeypatch.setattr(clients, "PATIENT_MAX_PAUSE", 0.0)
