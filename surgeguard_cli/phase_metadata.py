"""The sale-phase metadata a synthesized template carries, read without the CDK: which phases a deploy
of a stored cloud assembly (`cdk deploy --app cdk.out`) at a given time would create too late.

Each sale-phase schedule's template `Metadata.Surgeguard` holds its group, event, phase, planned time and
the time after which the Lambda no longer acts on it (stale_after). A deploy is too late for a phase
as soon as its planned time is at or before the deploy, not only once it is stale: creating a one-time
schedule with a past at() time may be refused (AWS documents neither outcome), and a phase that has
fired deleted its own schedule (the Lambda does, CloudFormation having no ActionAfterCompletion), so a
deploy that updates it fails with ResourceNotFound and rolls back. Synth leaves out exactly those
phases (`infra.constructs.sale_schedules.sale_phases`: past when at or before its `now`), so a template
synthesized at deploy time is never flagged. With many groups the schedules live in nested
stacks (`infra.constructs.shards`), whose templates sit beside the parent's in the assembly, so a
check of the parent template alone finds none of them: `stale_in_assembly` reads them all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

METADATA_KEY = "Surgeguard"


@dataclass(frozen=True)
class StalePhase:
    """A phase whose planned time is at or before the deploy's `now`."""

    group: str
    event: str
    phase: str
    planned_utc: str
    stale_after_utc: str
    stale: bool = False  # `now` is past stale_after too: the Lambda would skip it (`stale_phase`)

    def __str__(self) -> str:
        return f"{self.group}/{self.event} {self.phase} planned {self.planned_utc}"


def stale_in_template(template: dict[str, Any], now: datetime) -> list[StalePhase]:
    """The sale phases in one template that a deploy at `now` creates too late: planned at or before
    `now` (those synth at `now` would leave out), whether or not the Lambda would still act on them."""
    stale = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Scheduler::Schedule":
            continue
        metadata = resource.get("Metadata", {}).get(METADATA_KEY)
        if metadata is None:
            continue  # not a sale phase (the per-minute re-evaluation)
        phase = _phase(logical_id, metadata)
        stale_after = _utc(logical_id, "stale_after_utc", phase.stale_after_utc)
        if now >= _utc(logical_id, "planned_utc", phase.planned_utc):
            stale.append(replace(phase, stale=now >= stale_after))
    return sorted(stale, key=str)


def _phase(logical_id: str, metadata: Any) -> StalePhase:
    """A schedule's metadata as written at synth time; a template edited since must not pass silently."""
    names = ("group", "event", "phase", "planned_utc", "stale_after_utc")
    if not isinstance(metadata, dict) or not all(isinstance(metadata.get(n), str) for n in names):
        raise ValueError(
            f"schedule {logical_id}: its {METADATA_KEY} metadata is not the one Surgeguard writes "
            f"(strings {', '.join(names)}): synthesize again"
        )
    return StalePhase(*(metadata[n] for n in names))


def _utc(logical_id: str, name: str, text: str) -> datetime:
    try:
        when: datetime | None = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(f"schedule {logical_id}: {name} {text!r} is not a UTC time: synthesize again")
    return when


def assembly_templates(directory: Path) -> dict[str, dict[str, Any]]:
    """Every CloudFormation template in a cloud assembly directory (the stacks and their nested stacks),
    by file name. Raises ValueError when the directory holds none or one is not JSON."""
    paths = sorted(directory.glob("*.template.json"))
    if not paths:
        raise ValueError(
            f"{directory} holds no *.template.json: not a synthesized cloud assembly (cdk synth)"
        )
    templates = {}
    for path in paths:
        try:
            templates[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a readable template: {error}") from error
    return templates


def stale_in_assembly(directory: Path, now: datetime) -> list[StalePhase]:
    """`stale_in_template` over every template of the assembly, nested stacks included."""
    found = []
    for name, template in assembly_templates(directory).items():
        try:
            found += stale_in_template(template, now)
        except (AttributeError, ValueError) as error:  # AttributeError: Resources that are no mapping
            raise ValueError(f"{directory / name}: {error}") from error
    return sorted(found, key=str)
