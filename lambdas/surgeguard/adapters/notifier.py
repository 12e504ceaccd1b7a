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
        # The group attribute drives per-group filters.
        self._call(
            "Publish",
            TopicArn=self._topic_arn,
            Subject=email_subject(subject),
            Message=message or email_subject(subject),  # SNS refuses an empty message
            MessageAttributes={"group": {"DataType": "String", "StringValue": group}},
        )


# "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100 characters
# long" (SNS Publish): one that is not is refused, and the change goes untold.
SUBJECT_LIMIT = 99


def email_subject(text: str) -> str:
    """`text` as SNS takes a subject: control characters (a line break in a group's name) as spaces,
    at most 99 characters."""
    cleaned = "".join(" " if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text).strip()
    return (cleaned or "Surgeguard")[:SUBJECT_LIMIT]
