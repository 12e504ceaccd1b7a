"""`surgeguard fetch-traces` against a NAB stand-in on 127.0.0.1: a file is kept under its own name only
when its sha256 is the measured one, and a rerun asks the server for nothing it already has."""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gameday import nab_traces
from gameday.nab_traces import MANIFEST, NabTrace, fetch_traces
from surgeguard_cli.main import main as surgeguard

FAKE_FILES = {
    "realTweets/Twitter_volume_XY.csv": "timestamp,value\n2015-02-26 21:42:53,104\n2015-02-26 21:47:53,100\n",
    "realAWSCloudwatch/elb_fake.csv": "timestamp,value\n2014-04-10 00:04:00,94.0\n",
    "realKnownCause/taxi_fake.csv": "timestamp,value\n2014-07-01 00:00:00,10844\n2014-07-01 00:30:00,8127\n",
}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours *_proxy: a developer's proxy must not be asked for 127.0.0.1.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def manifest(monkeypatch: pytest.MonkeyPatch) -> tuple[NabTrace, ...]:
    """Three small stand-ins for the real traces, their sha256s computed from the content served."""
    fakes = tuple(
        NabTrace(path, _sha(text), len(text), text.count("\n") - 1) for path, text in FAKE_FILES.items()
    )
    monkeypatch.setattr(nab_traces, "MANIFEST", fakes)
    return fakes


@dataclass
class Nab:
    """A served copy of NAB's data/ directory; `requests` lists every path asked for, in order."""

    root: Path
    base_url: str
    requests: list[str] = field(default_factory=list)
    stall_seconds: float = 0.0

    def serve(self, path: str, text: str) -> None:
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path).write_text(text)


@pytest.fixture
def nab(tmp_path: Path, manifest: tuple[NabTrace, ...]) -> Iterator[Nab]:
    root = tmp_path / "nab" / "data"
    root.mkdir(parents=True)

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            if served.stall_seconds:
                time.sleep(served.stall_seconds)
                return  # the client has given up: answering would only break the pipe
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root.parent)))
    served = Nab(root, f"http://127.0.0.1:{server.server_address[1]}/data/")
    for path, text in FAKE_FILES.items():
        served.serve(path, text)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _fetch(directory: Path, nab: Nab, *extra: str) -> int:
    return nab_traces.main([str(directory), "--base-url", nab.base_url, *extra])


def test_downloads_every_trace_and_verifies_it(
    tmp_path: Path, nab: Nab, manifest: tuple[NabTrace, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "traces"
    assert _fetch(directory, nab) == 0
    for trace in manifest:
        assert (directory / trace.name).read_text() == FAKE_FILES[trace.path]
    assert sorted(p.name for p in directory.iterdir()) == sorted(t.name for t in manifest)  # no temp files
    out = capsys.readouterr().out
    assert out.count("downloaded, verified") == 3
    assert "3 of 3 traces verified" in out


def test_a_rerun_skips_verified_files_without_a_request(
    tmp_path: Path, nab: Nab, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "traces"
    assert _fetch(directory, nab) == 0
    assert len(nab.requests) == 3
    capsys.readouterr()
    assert _fetch(directory, nab) == 0
    assert len(nab.requests) == 3
    assert capsys.readouterr().out.count("already there, verified") == 3


def test_a_download_that_differs_is_kept_aside_and_named_by_both_hashes(
    tmp_path: Path, nab: Nab, manifest: tuple[NabTrace, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    changed_by_nab = "timestamp,value\n2015-02-26 21:42:53,105\n2015-02-26 21:47:53,100\n"
    nab.serve("realTweets/Twitter_volume_XY.csv", changed_by_nab)
    directory = tmp_path / "traces"
    assert _fetch(directory, nab) == 1
    assert not (directory / "Twitter_volume_XY.csv").exists()
    assert (directory / "Twitter_volume_XY.csv.unverified").read_text() == changed_by_nab
    assert (directory / "elb_fake.csv").exists() and (directory / "taxi_fake.csv").exists()
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Twitter_volume_XY.csv"))
    assert f"measured on sha256 {manifest[0].sha256[:12]}..." in line
    assert f"{_sha(changed_by_nab)[:12]}..." in line
    assert "NAB may have changed" in line


def test_a_missing_trace_fails_alone(tmp_path: Path, nab: Nab, capsys: pytest.CaptureFixture[str]) -> None:
    (nab.root / "realAWSCloudwatch/elb_fake.csv").unlink()
    directory = tmp_path / "traces"
    assert _fetch(directory, nab) == 1
    assert sorted(p.name for p in directory.iterdir()) == ["Twitter_volume_XY.csv", "taxi_fake.csv"]
    out = capsys.readouterr().out
    assert re.search(
        r"^elb_fake\.csv +FAILED: HTTP 404 .* from http://127\.0\.0\.1:\d+/data/realAWS", out, re.M
    )
    assert "2 of 3 traces verified" in out and "not verified: elb_fake.csv" in out


def test_a_stale_file_is_replaced_by_the_verified_download(
    tmp_path: Path, nab: Nab, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "traces"
    directory.mkdir()
    (directory / "taxi_fake.csv").write_text("timestamp,value\n2014-07-01 00:00:00,10844.0\n")
    (directory / "taxi_fake.csv.unverified").write_text("an earlier run's differing copy\n")
    assert _fetch(directory, nab, "--only", "taxi_fake.csv") == 0
    assert (directory / "taxi_fake.csv").read_text() == FAKE_FILES["realKnownCause/taxi_fake.csv"]
    assert not (directory / "taxi_fake.csv.unverified").exists()
    assert "differs" in capsys.readouterr().out


def test_only_fetches_the_traces_named(tmp_path: Path, nab: Nab) -> None:
    directory = tmp_path / "traces"
    assert _fetch(directory, nab, "--only", "elb_fake.csv", "--only", "taxi_fake.csv") == 0
    assert sorted(nab.requests) == [
        "/data/realAWSCloudwatch/elb_fake.csv",
        "/data/realKnownCause/taxi_fake.csv",
    ]
    assert sorted(p.name for p in directory.iterdir()) == ["elb_fake.csv", "taxi_fake.csv"]


def test_only_an_unknown_name_is_a_usage_error(
    tmp_path: Path, nab: Nab, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _fetch(tmp_path / "traces", nab, "--only", "Twitter_volume_AAPL")
    assert exit_.value.code == 2
    assert "unknown trace Twitter_volume_AAPL" in capsys.readouterr().err
    assert nab.requests == []


def test_a_stalled_server_times_out_with_one_line(
    tmp_path: Path, nab: Nab, manifest: tuple[NabTrace, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    nab.stall_seconds = 0.5
    outcomes = fetch_traces(manifest[:1], tmp_path, nab.base_url, timeout=0.1)
    assert [o.verified for o in outcomes] == [False]
    assert re.search(
        r"^FAILED: timed out after 0\.1 s (waiting for|connecting to) http://127\.0\.0\.1:\d+/\S+$",
        outcomes[0].message,
    )
    assert capsys.readouterr().out.count("\n") == 1


def test_an_unreachable_server_fails_every_trace_and_exits_1(
    tmp_path: Path, manifest: tuple[NabTrace, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # bound then closed: nothing listens there any more
    assert nab_traces.main([str(tmp_path / "t"), "--base-url", f"http://127.0.0.1:{port}/data"]) == 1
    out = capsys.readouterr().out
    assert out.count("FAILED: cannot reach http://127.0.0.1") == 3
    assert "0 of 3 traces verified" in out


def test_the_cli_runs_it_end_to_end(tmp_path: Path, nab: Nab, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "traces"
    assert surgeguard(["fetch-traces", str(directory), "--base-url", nab.base_url]) == 0
    assert len(list(directory.glob("*.csv"))) == 3
    assert "3 of 3 traces verified" in capsys.readouterr().out
    nab.serve("realKnownCause/taxi_fake.csv", "changed\n")
    (directory / "taxi_fake.csv").unlink()
    assert surgeguard(["fetch-traces", str(directory), "--base-url", nab.base_url]) == 1


def test_the_cli_lists_the_command_and_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert surgeguard(["--help"]) == 0
    assert "fetch-traces" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        surgeguard(["fetch-traces", "--help"])
    assert exit_.value.code == 0
    assert "--base-url" in capsys.readouterr().out


def test_the_real_manifest_pins_the_sixteen_traces_the_readme_cites() -> None:
    names = [trace.name for trace in MANIFEST]
    assert len(names) == 16 and len(set(names)) == 16
    for trace in MANIFEST:
        assert re.fullmatch(r"[0-9a-f]{64}", trace.sha256), trace
        assert trace.rows > 0 and trace.bytes > trace.rows, trace
        assert trace.name.endswith(".csv") and trace.path.endswith("/" + trace.name), trace
        assert trace.path.split("/")[0] in ("realTweets", "realAWSCloudwatch", "realKnownCause"), trace
    assert len({trace.sha256 for trace in MANIFEST}) == 16
    for cited in (
        "Twitter_volume_AAPL.csv",
        "elb_request_count_8c0756.csv",
        "ec2_network_in_257a54.csv",
        "iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
        "nyc_taxi.csv",
        "grok_asg_anomaly.csv",
        "cpu_utilization_asg_misconfiguration.csv",
    ):
        assert cited in names
    assert nab_traces.DEFAULT_BASE_URL == "https://raw.githubusercontent.com/numenta/NAB/master/data/"
