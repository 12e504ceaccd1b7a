"""The fault cases, enumerated from the paths the handlers really take.

At collection, each scenario runs once without faults in a moto world of its own, with every AWS call
recorded; each call becomes a position a fault strikes. Recorded once per version of the code (a hash
of the Lambda package and of this suite) in pytest's cache, so a second run collects in milliseconds.

Which faults strike where:
- a read (Get*, Describe*, Query, Scan, List*) has no effect to lose, and every fault before a call is
  one of two exception families to the caller (a ClientError, a BotoCoreError): a read fails by
  throttling (ClientError) or by a connect timeout (BotoCoreError);
- a write fails in every way that differs for it: throttled (ClientError 4xx), a 5xx (ClientError),
  a read timeout (BotoCoreError; all three before the call: it did not happen; a connect timeout is
  the same BotoCoreError-before-the-call as a read timeout here), its response lost (after the call: it
  happened, the caller saw a timeout), and the runtime killing the function right after it succeeded
  (`crash`; a crash between two reads is the same as a crash after the write before them); a DynamoDB
  write also has its first attempt applied and its answer lost inside the SDK, which sends it again
  (`sdk-retry`: the caller sees the second attempt's answer).
Every kind the injector knows strikes somewhere; the per-call kinds keep the suite inside its time
budget (each case is two real invocations under moto).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .harness import open_world, run_baseline
from .injector import FAULT_KINDS, LambdaTimeout, Rule, fault
from .scenarios import SCENARIOS

READ_PREFIXES = ("Get", "Describe", "List", "Query", "Scan", "BatchGet")
READ_KINDS = ("throttle", "connect-timeout")
WRITE_KINDS = ("throttle", "5xx", "read-timeout", "lost-response", "crash")
# A DynamoDB write is conditional (claims, leases, versions, audit records written once), so the SDK
# sending it again after a lost answer meets its own first attempt; the other services' writes set
# absolute values (a desired capacity, a MaxSize), which a second attempt sets again.
SDK_RETRIED = ("sdk-retry",)
CACHE_KEY = "surgeguard-faults/paths"
ROOT = Path(__file__).resolve().parents[3]


def is_write(label: str) -> bool:
    operation = label.split(".")[1]
    return not operation.startswith(READ_PREFIXES)


@dataclass(frozen=True)
class FaultCase:
    scenario: str
    position: int  # 1-based, in the fault-free path
    label: str  # "dynamodb.PutItem.AUDIT"
    occurrence: int  # the n-th call with this label
    kind: str
    writes_audit: bool
    baseline: dict[str, Any]  # the fault-free run: size, applied, outcome

    @property
    def id(self) -> str:
        return f"{self.scenario}-{self.position:02d}-{self.label}-{self.kind}"

    @property
    def crash(self) -> bool:
        return self.kind == "crash"

    def rule(self) -> Rule:
        if self.crash:  # killed right after this call took effect
            rule = fault(self.label, self.occurrence, "crash")
            return Rule("after", rule.matches, rule.action)
        return fault(self.label, self.occurrence, self.kind)


@dataclass(frozen=True)
class BrokenPath:
    """A scenario whose fault-free run could not be recorded: its one case fails and says why."""

    scenario: str
    error: str

    @property
    def id(self) -> str:
        return f"{self.scenario}-unrecorded"


def _code_version() -> str:
    digest = hashlib.sha256()
    sources = sorted((ROOT / "lambdas" / "surgeguard").rglob("*.py"))
    sources += sorted(Path(__file__).parent.glob("*.py"))
    sources += [ROOT / "tests" / "integration" / name for name in ("support.py", "alarm_events.py")]
    for path in sources:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _record() -> dict[str, Any]:
    quiet = logging.getLogger("surgeguard")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with tempfile.TemporaryDirectory() as tmp, open_world(Path(tmp) / "task") as harness:
            paths = {}
            for name, scenario in SCENARIOS.items():
                baseline = run_baseline(harness, scenario)
                paths[name] = {
                    "labels": baseline.labels,
                    "audit_writes": baseline.audit_writes,
                    "outcome": baseline.outcome,
                    "size": list(baseline.size or ()),
                    "original_max": baseline.original_max,
                    "applied": baseline.applied,
                    "outside": baseline.outside,
                    "told": baseline.told,
                    "error": baseline.error,
                }
            return paths
    finally:
        quiet.setLevel(level)


def recorded_paths(config: pytest.Config) -> dict[str, Any]:
    cache = getattr(config, "cache", None)
    key = f"{CACHE_KEY}/{_code_version()}"
    paths = cache.get(key, None) if cache is not None else None
    if paths is None:
        paths = _record()
        if cache is not None:
            cache.set(key, paths)
    return dict(paths)


def fault_cases(config: pytest.Config) -> list[FaultCase | BrokenPath]:
    try:
        paths = recorded_paths(config)
    except Exception as error:  # noqa: BLE001 - reported by the cases, not as a collection error
        return [BrokenPath(name, f"recording failed: {type(error).__name__}: {error}") for name in SCENARIOS]
    cases: list[FaultCase | BrokenPath] = []
    for name in SCENARIOS:
        path = paths[name]
        if path["error"] or not path["labels"]:
            cases.append(BrokenPath(name, f"the fault-free run failed: {path['error']}"))
            continue
        seen: dict[str, int] = {}
        for position, (label, audit) in enumerate(zip(path["labels"], path["audit_writes"], strict=True), 1):
            seen[label] = seen.get(label, 0) + 1
            kinds = (
                (WRITE_KINDS + SDK_RETRIED if label.startswith("dynamodb.") else WRITE_KINDS)
                if is_write(label)
                else READ_KINDS
            )
            for kind in kinds:
                assert kind in FAULT_KINDS
                cases.append(FaultCase(name, position, label, seen[label], kind, audit, path))
    return cases


__all__ = ["BrokenPath", "FaultCase", "LambdaTimeout", "fault_cases", "recorded_paths"]
