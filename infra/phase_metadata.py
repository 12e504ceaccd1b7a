"""The sale-phase metadata a synthesized template carries, read without the CDK: which phases a deploy
of a stored cloud assembly (`cdk deploy --app cdk.out`) at a given time would create too late.

Each sale-phase schedule's template `Metadata.Surgeguard` holds its group, event, phase, planned time and
the time after which the Lambda no longer acts on it. With many groups the schedules live in nested
stacks (`infra.constructs.shards`), whose templates sit beside the parent's in the assembly, so a
check of the parent template alone finds none of them: `stale_in_assembly` reads them all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

METADATA_KEY = "Surgeguard"


@dataclass(frozen=True)
class StalePhase:
    group: str
    event: str
    phase: str
    planned_utc: str
    stale_after_utc: str

    def __str__(self) -> str:
        return f"{self.group}/{self.event} {self.phase} planned {self.planned_utc}"


def stale_in_template(template: dict[str, Any], now: datetime) -> list[StalePhase]:
    """The sale phases in one template that a deploy at `now` creates too late to be acted on."""
    stale = []
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Scheduler::Schedule":
            continue
        phase = resource.get("Metadata", {}).get(METADATA_KEY)
        if not isinstance(phase, dict):
            continue  # not a sale phase (the per-minute re-evaluation)
        stale_after = datetime.fromisoformat(phase["stale_after_utc"].replace("Z", "+00:00"))
        if now >= stale_after:
            stale.append(
                StalePhase(
                    phase["group"],
                    phase["event"],
                    phase["phase"],
                    phase["planned_utc"],
                    phase["stale_after_utc"],
                )
            )
    return sorted(stale, key=str)


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
    found = [
        phase
        for template in assembly_templates(directory).values()
        for phase in stale_in_template(template, now)
    ]
    return sorted(found, key=str)
