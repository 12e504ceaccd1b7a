"""Adapter: a deployed Surgeguard's audit records, newest unseen first out, for the staging load test.

The only module of the load test that talks to AWS. It reads through the Lambda's own audit-store
adapter (the table's key layout lives in one place, surgeguard/keys.py).
"""

from __future__ import annotations

from typing import Any

import boto3

from surgeguard.adapters.audit_store import AuditStore


class AuditTail:
    """Polls a group's audit partition and returns each record once, oldest first."""

    def __init__(
        self, table: str, group: str, region: str | None = None, api: Any = None, limit: int = 50
    ) -> None:
        self.group = group
        self.limit = limit
        self._store = AuditStore(table, api or boto3.client("dynamodb", region_name=region))
        self._seen: set[tuple[str, str]] = set()

    def prime(self) -> int:
        """Mark what is already in the table as seen (the test shows only what happens during it)."""
        return len(self.poll())

    def poll(self) -> list[dict[str, Any]]:
        fresh = []
        for record in self._store.audit_records(self.group, self.limit):
            key = (str(record.get("at")), str(record.get("delivery_id")))
            if key not in self._seen:
                self._seen.add(key)
                fresh.append(record)
        return sorted(fresh, key=lambda r: str(r.get("at")))


def describe(record: dict[str, Any]) -> str:
    """One line per decision: when, what, from which trigger, why."""
    at = str(record.get("at", "?"))[11:19]
    outcome = record.get("outcome", "?")
    change = ""
    if record.get("previous_desired") is not None and record.get("new_desired") is not None:
        change = f" {record['previous_desired']} -> {record['new_desired']}"
    trigger = record.get("trigger") or {}
    source = trigger.get("alarm") or record.get("source_id") or "?"
    reason = str(record.get("reason", ""))[:90]
    return f"audit {at} {outcome}{change} [{source}] {reason}"
