"""`surgeguard` entry point: dispatches to sub-commands, importing each one only when it runs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

USAGE = """usage: surgeguard COMMAND [ARGS...]

commands:
  bench TRACE...       replay traces through Surgeguard and the AWS policies; print the table
  bench --from-cloudwatch GROUP --days N [--config PATH]   the same on the group's own ALB history
  gameday              rehearse a Black Friday on a local AWS (moto) and plot it (make demo)
  gameday --burst      300 groups breach in the same minute: seconds until each is applied, throttling
  gameday --from-cloudwatch GROUP --days N                 the game day on the group's own history
  pause / resume       kill switch for a deployed stack (a group or everything, one direction or both)
  audit                print a group's latest audit records from a deployed stack
  plan                 when each declared sale event pre-warms, releases and restores; what looks wrong
  loadtest             a real shop and fleet under Locust, scaled live: Surgeguard vs fixed, target tracking
  preflight            before a sale: quotas, limits, monitoring, alarms, schedules: PASS/WARN/FAIL/UNCHECKED
  status               during a sale: sizes, signals vs targets, event floor, pause, alarms, decisions
  report               after a sale: timeline, capacity vs demand (PNG), cost, and the AWS policies' what-if
  fetch-traces [DIR]   download the 16 NAB traces the README's results are measured on, sha256-verified

`surgeguard COMMAND --help` for each command's options."""


def _burst(argv: Sequence[str]) -> int:
    from gameday.burst import main

    return main([a for a in argv if a != "--burst"])


def _bench(argv: Sequence[str]) -> int:
    if "--burst" in argv:
        return _burst(argv)
    from gameday.bench import main

    if "--from-cloudwatch" in argv:
        from surgeguard_cli.backtest import run

        return run(argv, "bench", main)
    return main(list(argv))


def _gameday(argv: Sequence[str]) -> int:
    if "--burst" in argv:
        return _burst(argv)
    from gameday.demo import main

    if "--from-cloudwatch" in argv:
        from surgeguard_cli.backtest import run

        return run(argv, "gameday", main)
    return main(list(argv))


def _control(argv: Sequence[str]) -> int:
    from surgeguard_cli.control import main

    return main(list(argv))


def _plan(argv: Sequence[str]) -> int:
    from surgeguard_cli.plan import main

    return main(list(argv))


def _preflight(argv: Sequence[str]) -> int:
    from surgeguard_cli.preflight import main

    return main(list(argv))


def _loadtest(argv: Sequence[str]) -> int:
    from loadtest.cli import main

    return main(list(argv))


def _status(argv: Sequence[str]) -> int:
    from surgeguard_cli.status import main

    return main(list(argv))


def _report(argv: Sequence[str]) -> int:
    from surgeguard_cli.report import main

    return main(list(argv))


def _fetch_traces(argv: Sequence[str]) -> int:
    from gameday.nab_traces import main

    return main(list(argv))


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "bench": _bench,
    "gameday": _gameday,
    "pause": _control,
    "resume": _control,
    "audit": _control,
    "plan": _plan,
    "loadtest": _loadtest,
    "preflight": _preflight,
    "status": _status,
    "report": _report,
    "fetch-traces": _fetch_traces,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"surgeguard: unknown command {args[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return command(args if command is _control else args[1:])


if __name__ == "__main__":
    sys.exit(main())
