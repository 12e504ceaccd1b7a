"""EventBridge Scheduler adapter: a sale phase's one-time schedule deletes itself once handled."""

from __future__ import annotations

from surgeguard.adapters.clients import AwsAdapter


class SchedulerAdapter(AwsAdapter):
    service = "scheduler"

    def delete_schedule(self, group_name: str, name: str) -> None:
        """DeleteSchedule; a schedule already gone raises AwsCallError with ResourceNotFoundException."""
        self._call("DeleteSchedule", GroupName=group_name, Name=name)
