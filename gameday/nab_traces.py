"""`surgeguard fetch-traces`: download the 16 Numenta Anomaly Benchmark traces the README's results are
measured on, and keep a file under its own name only when its sha256 is the one we measured.

NAB (github.com/numenta/NAB) is AGPL-3.0, so the traces are not vendored: a user fetches them from NAB
itself. A file NAB has since changed would silently move every figure, so the manifest pins each file's
sha256, and a download that differs is kept aside as NAME.unverified rather than under the name
`surgeguard bench` would read.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/numenta/NAB/master/data/"
DEFAULT_DIR = "traces"
TIMEOUT_SECONDS = 60.0
# Enough of a sha256 to tell two files apart in a message without a 64-character wall.
SHA_PREFIX_CHARS = 12
UNVERIFIED_SUFFIX = ".unverified"


@dataclass(frozen=True)
class NabTrace:
    """One NAB file as measured: `path` is relative to NAB's `data/`; the file keeps its NAB name."""

    path: str
    sha256: str
    bytes: int
    rows: int  # data rows, the header line excluded

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


MANIFEST: tuple[NabTrace, ...] = (
    NabTrace(
        "realTweets/Twitter_volume_AAPL.csv",
        "826f5cf404c2890784a7824f7102fd00cb134a4948e12e44ec320d095cbbc217",
        368111,
        15902,
    ),
    NabTrace(
        "realTweets/Twitter_volume_AMZN.csv",
        "234f5e63f19a62720dfb7ccfd6ecc8349b94d93b33ef8aafbdb17edda0b654f3",
        364666,
        15831,
    ),
    NabTrace(
        "realTweets/Twitter_volume_CRM.csv",
        "e7133bf26479623d58fc7367107aea1cd7df6020420dece48b0eee4d26cdb28a",
        350820,
        15902,
    ),
    NabTrace(
        "realTweets/Twitter_volume_CVS.csv",
        "f0bdc89cba3dd2265b47069187c750eeae18ef48f76f86067ee26ea1af9c3114",
        348802,
        15853,
    ),
    NabTrace(
        "realTweets/Twitter_volume_FB.csv",
        "a7096bd646759486bda6796b5600cd33a4590f0842bf274ea7acba001b3ba591",
        359760,
        15833,
    ),
    NabTrace(
        "realTweets/Twitter_volume_GOOG.csv",
        "3a39cc23d1ff6a0f234b55298d0c46c21d2e94ddb81a0dad9e1e46e3aaa9ec90",
        361270,
        15842,
    ),
    NabTrace(
        "realTweets/Twitter_volume_IBM.csv",
        "4309bd56d28ddcbdc168e207da9717395fa2e9f74dba41fa768e0f7da8a116fa",
        351268,
        15893,
    ),
    NabTrace(
        "realTweets/Twitter_volume_KO.csv",
        "f3aa8157043c6569911031535bd1f7a73b428b5a2d95238d79b9d5b88ceebbd2",
        355283,
        15851,
    ),
    NabTrace(
        "realTweets/Twitter_volume_PFE.csv",
        "330d5ed521c9421efe0daea2405bec404e29ac5e4530827811b4a5d72aff435a",
        348926,
        15858,
    ),
    NabTrace(
        "realTweets/Twitter_volume_UPS.csv",
        "be50f06bbb9d020f37653c8c5cf19af63f77aa0019d8cf10849d91f4af455af4",
        350182,
        15866,
    ),
    NabTrace(
        "realAWSCloudwatch/ec2_network_in_257a54.csv",
        "39104b08f2e0a673b5137eb7681897fcadf0955fedf565740a6a94edc63a81a4",
        117236,
        4032,
    ),
    NabTrace(
        "realAWSCloudwatch/elb_request_count_8c0756.csv",
        "74c26574a01ca9fb89dddb5021e2e13c3a93eb25dc640438a9acb1ceb00f1021",
        101052,
        4032,
    ),
    NabTrace(
        "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
        "f115fbe6542159eed5612445bfa620708a28ab6b41349d1432bb15c3a3b8414d",
        37339,
        1243,
    ),
    NabTrace(
        "realAWSCloudwatch/grok_asg_anomaly.csv",
        "86a0abe9d58e376858d2fd4f4a438f1997e24c64a09e5af03accd4e1b372ac47",
        131065,
        4621,
    ),
    NabTrace(
        "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
        "58ba65dc0737cfbac11b51514476d50c438d44011232144bb8d93f392df58f9f",
        539274,
        18050,
    ),
    NabTrace(
        "realKnownCause/nyc_taxi.csv",
        "5773585a649175b64e67307ab9873b61afb8ea42b939ffd2ac822acf02bb414b",
        265772,
        10320,
    ),
)


@dataclass(frozen=True)
class FetchOutcome:
    """What happened to one trace: `verified` means DIR/NAME now holds the measured file."""

    name: str
    verified: bool
    message: str


class DownloadError(Exception):
    """A download that produced no body; the message is one line naming the URL and the cause."""


def _short(sha256: str) -> str:
    return sha256[:SHA_PREFIX_CHARS]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_of_file(path: Path) -> str | None:
    """None when there is no readable file: it is then simply fetched."""
    try:
        return sha256_of(path.read_bytes())
    except OSError:
        return None


def download(url: str, timeout: float = TIMEOUT_SECONDS) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:  # before URLError: it is one
        error.close()
        raise DownloadError(f"HTTP {error.code} {error.reason} from {url}") from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise DownloadError(f"timed out after {timeout:g} s connecting to {url}") from error
        raise DownloadError(f"cannot reach {url}: {error.reason}") from error
    except TimeoutError as error:  # connected, then the answer stalled
        raise DownloadError(f"timed out after {timeout:g} s waiting for {url}") from error
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"download of {url} broke off: {error!r}") from error
    except ValueError as error:  # urllib's answer to a base URL that is not a URL
        raise DownloadError(f"not a URL: {url!r} ({error})") from error


def _write_atomically(path: Path, data: bytes) -> None:
    # A crash or Ctrl-C mid-write must never leave a partial file under a name a rerun would trust.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def fetch_trace(
    trace: NabTrace, directory: Path, base_url: str, timeout: float = TIMEOUT_SECONDS
) -> FetchOutcome:
    target = directory / trace.name
    unverified = directory / (trace.name + UNVERIFIED_SUFFIX)
    on_disk = _sha256_of_file(target)
    if on_disk == trace.sha256:
        return FetchOutcome(trace.name, True, "already there, verified")
    # Said up front, so a failed download does not leave the user trusting the stale copy.
    stale = f"{target} differs (sha256 {_short(on_disk)}...); " if on_disk is not None else ""

    url = base_url + trace.path
    # One attempt only: a rerun skips the files already verified, so retrying is just running it again.
    try:
        data = download(url, timeout)
    except DownloadError as error:
        return FetchOutcome(trace.name, False, f"{stale}FAILED: {error}")

    got = sha256_of(data)
    try:
        if got == trace.sha256:
            _write_atomically(target, data)
            unverified.unlink(missing_ok=True)  # a differing copy from an earlier run is moot now
            return FetchOutcome(trace.name, True, f"{stale}downloaded, verified ({trace.rows} rows)")
        _write_atomically(unverified, data)
    except OSError as error:
        return FetchOutcome(trace.name, False, f"{stale}FAILED: cannot write into {directory}: {error}")
    return FetchOutcome(
        trace.name,
        False,
        f"{stale}NOT VERIFIED: the README's figures were measured on sha256 {_short(trace.sha256)}... and "
        f"this copy is {_short(got)}... ({len(data)} bytes, measured {trace.bytes}; NAB may have changed "
        f"the file), so results may differ; kept as {unverified}",
    )


def fetch_traces(
    traces: Sequence[NabTrace], directory: Path, base_url: str, timeout: float = TIMEOUT_SECONDS
) -> list[FetchOutcome]:
    """Every trace in turn, whatever happened to the ones before; one line each as it finishes."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    outcomes = []
    width = max((len(trace.name) for trace in traces), default=0)
    for trace in traces:
        outcome = fetch_trace(trace, directory, base, timeout)
        print(f"{outcome.name:<{width}}  {outcome.message}", flush=True)
        outcomes.append(outcome)
    return outcomes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgeguard fetch-traces",
        description="Download the NAB traces the README's results are measured on (numenta/NAB, AGPL-3.0, "
        "not vendored) and verify each against the sha256 we measured. A file already there with that "
        "sha256 is skipped; a download that differs is kept as NAME.unverified. Exit 0 only when every "
        "trace asked for is verified.",
    )
    parser.add_argument("dir", nargs="?", default=DEFAULT_DIR, metavar="DIR", help="default: %(default)s")
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        metavar="URL",
        help="prefix of NAB's data/ directory, each trace's NAB path appended (default: %(default)s)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="fetch only this trace (its file name, e.g. nyc_taxi.csv); repeatable",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    by_name = {trace.name: trace for trace in MANIFEST}
    unknown = [name for name in args.only if name not in by_name]
    if unknown:
        parser.error(f"unknown trace {', '.join(unknown)}; the traces: {', '.join(by_name)}")
    wanted = set(args.only)
    traces = [trace for trace in MANIFEST if not wanted or trace.name in wanted]

    directory = Path(args.dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"surgeguard fetch-traces: cannot create {directory}: {error}", file=sys.stderr)
        return 1

    outcomes = fetch_traces(traces, directory, args.base_url)
    missing = [outcome.name for outcome in outcomes if not outcome.verified]
    verified = len(outcomes) - len(missing)
    if not missing:
        print(f"{verified} of {len(outcomes)} traces verified in {directory}")
        return 0
    print(
        f"{verified} of {len(outcomes)} traces verified in {directory}; not verified: {', '.join(missing)} "
        "(run it again to retry them: verified files are skipped)"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
