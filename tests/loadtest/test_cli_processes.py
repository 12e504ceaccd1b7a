"""`surgeguard loadtest` as a process: stopped by SIGTERM (a CI timeout, `timeout`, `kill`) it stops
everything it started, as on Ctrl-C; and `--host` mode's exit code says whether the load got answers.

The servers, shops and Locust run in sessions of their own, so a signal to the command reaches none of
them: the command itself must stop them.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.loadtest

REPO = Path(__file__).resolve().parents[2]


def _command(*argv: str, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", *argv, "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_child(command: subprocess.Popen[str], word: str, timeout: float = 60.0) -> None:
    """Until a process under `command` has `word` in its command line (Locust: the run is under way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert command.poll() is None, command.communicate()[0]
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(command.pid).children(recursive=True):
                if any(word in part for part in child.cmdline()):
                    return
        time.sleep(0.2)
    raise AssertionError(f"no {word} process under the command in {timeout:.0f} s")


def _running(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


def test_sigterm_stops_the_stack_and_locust(tmp_path: Path) -> None:
    command = _command(
        "--policy", "fixed", "--no-capacity-check", "--minutes", "300", "--max-size", "2", out=tmp_path
    )  # fmt: skip
    children: list[psutil.Process] = []
    folders: set[Path] = set()
    try:
        _wait_for_child(command, "locust")
        children = psutil.Process(command.pid).children(recursive=True)
        folders = _stack_folders(children)
        assert len(children) >= 5 and folders  # postgres, redis, two shops, Locust
        command.send_signal(signal.SIGTERM)
        output = command.communicate(timeout=90)[0]
        time.sleep(0.5)
        left = [" ".join(p.cmdline())[:80] for p in _running(children)]
        assert not left, (output, left)
        assert not any(folder.exists() for folder in folders), folders
        assert command.returncode == 128 + signal.SIGTERM, output
        assert "stopped by SIGTERM" in output
    finally:
        _clean_up(command, children, folders)


def test_sigterm_stops_locust_in_host_mode(tmp_path: Path) -> None:
    children: list[psutil.Process] = []
    with _closed_port() as port:
        command = _command(
            "--host", f"http://127.0.0.1:{port}", "--minutes", "100", "--seconds-per-minute", "1",
            out=tmp_path,
        )  # fmt: skip
        try:
            _wait_for_child(command, "locust")
            children = psutil.Process(command.pid).children(recursive=True)
            command.send_signal(signal.SIGTERM)
            output = command.communicate(timeout=60)[0]
            time.sleep(0.5)
            assert not _running(children), output
            assert command.returncode == 128 + signal.SIGTERM, output
        finally:
            _clean_up(command, children, set())


def test_host_mode_fails_when_the_host_answers_nothing(tmp_path: Path) -> None:
    with _closed_port() as port:
        command = _command(
            "--host", f"http://127.0.0.1:{port}", "--minutes", "2", "--seconds-per-minute", "1",
            out=tmp_path,
        )  # fmt: skip
        output = command.communicate(timeout=90)[0]
    assert command.returncode == 1, output
    assert "requests failed: is the host reachable?" in output


def test_host_mode_passes_when_the_shop_answers_even_with_refusals(tmp_path: Path) -> None:
    # Every answer a 429 (or 409): the shop refusing is an answer, not a failure of the run.
    with _refusing_shop() as port:
        command = _command(
            "--host", f"http://127.0.0.1:{port}", "--minutes", "2", "--seconds-per-minute", "1",
            "--peak-rps", "10", out=tmp_path,
        )  # fmt: skip
        output = command.communicate(timeout=90)[0]
    assert command.returncode == 0, output
    assert "PASS  the load was offered in full" in output


# --- helpers -------------------------------------------------------------------------------------------


def test_the_closed_port_stays_closed_while_in_use() -> None:
    with _closed_port() as port:
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's servers do
            other.bind(("127.0.0.1", port))
        with socket.socket() as client:
            assert client.connect_ex(("127.0.0.1", port)) != 0


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A port nothing answers on while in use: bound and never listening, so connections to it are
    refused and no server another test (or process) starts can take it. A port found free and closed
    again is any server's next."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


@contextlib.contextmanager
def _refusing_shop() -> Iterator[int]:
    class Refuse(BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            body = b'{"error": "rate limited"}'
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(429 if self.command == "GET" else 409)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _refuse

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _stack_folders(processes: list[psutil.Process]) -> set[Path]:
    """The stack's temporary folders, from PostgreSQL's `-D FOLDER/pgdata`."""
    folders = set()
    for process in processes:
        with contextlib.suppress(psutil.Error):
            for part in process.cmdline():
                if "surgeguard-loadtest-" in part and part.endswith("/pgdata"):
                    folders.add(Path(part).parent)
    return folders


def _clean_up(command: subprocess.Popen[str], children: list[psutil.Process], folders: set[Path]) -> None:
    """What the command left behind (the test has failed then): stopped by PID, the folders removed."""
    if command.poll() is None:
        command.kill()
        command.communicate()
    for process in _running(children):
        with contextlib.suppress(psutil.Error):
            process.kill()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
