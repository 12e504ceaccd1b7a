"""SNS adapter: tell people what changed."""

from __future__ import annotations

from typing import Any

from surgeguard.adapters.clients import AwsAdapter


class SnsNotifier(AwsAdapter):
    service = "sns"

    def __init__(self, topic_arn: str, api: Any = None) -> None:
        super().__init__(api)
        self._topic_arn = topic_arn

    def publish(self, group: str, subject: str, message: str) -> None:
        # SNS subjects are limited to 100 characters; the group attribute drives per-group filters.
        self._call(
            "Publish",
            TopicArn=self._topic_arn,
            Subject=subject[:100],
            Message=message,
            MessageAttributes={"group": {"DataType": "String", "StringValue": group}},
        )
