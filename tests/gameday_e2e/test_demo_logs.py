"""`make demo` keeps the Lambda handler's JSON log lines off the terminal (issue 8: hundreds were printed
by the before/after runs of the fast path, which run the handler's code in-process)."""

from __future__ import annotations

import io
from datetime import timedelta

from gameday import demo
from gameday.engine import DeclaredEvent
from gameday.fleet import FleetParams, size_fleet
from gameday.moto_path import redirect_logger
from gameday.synthetic import demo_window

# As in the demo, where the replay has imported the handlers by then: Powertools' Logger, made when a
# handler module is imported, is what puts the JSON stream handler on the "surgeguard" logger.
import surgeguard.handlers.alarm  # noqa: F401  isort: skip


def test_declared_events_report_writes_no_handler_log_lines() -> None:
    window = demo_window(0, 90)
    sizing = size_fleet(window.trace, FleetParams())
    event = DeclaredEvent(window.start + timedelta(minutes=60), 30, 4.0)
    terminal = io.StringIO()
    # Whatever stream the handler's logger writes to stands in for the terminal here.
    with redirect_logger("surgeguard", terminal):
        text = demo.declared_events_report(window.trace, sizing, window.start, (event,))
    assert "with declared events" in text
    assert terminal.getvalue() == ""


def test_the_same_runs_do_log_when_not_silenced() -> None:
    """The control: the fast path does log through that stream, so the test above can fail."""
    from gameday.engine import simulate
    from gameday.surgeguard_policy import SurgeguardPolicy

    window = demo_window(0, 90)
    sizing = size_fleet(window.trace, FleetParams())
    terminal = io.StringIO()
    with redirect_logger("surgeguard", terminal):
        simulate(window.trace, SurgeguardPolicy(), sizing=sizing, start=window.start)
    assert '"level"' in terminal.getvalue()
