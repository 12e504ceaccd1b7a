"""SNS adapter: tell people what changed."""

from __future__ import annotations

import unicodedata
from typing import Any

from surgeguard.adapters.clients import AwsAdapter


class SnsNotifier(AwsAdapter):
    service = "sns"

    def __init__(self, topic_arn: str, api: Any = None) -> None:
        super().__init__(api)
        self._topic_arn = topic_arn

    def publish(self, group: str, subject: str, message: str, subject_tail: str = "") -> None:
        """`subject_tail` ("4 -> 8") is kept whole where `subject` (a long group name) must be cut."""
        # The group attribute drives per-group filters.
        self._call(
            "Publish",
            TopicArn=self._topic_arn,
            Subject=email_subject(subject, subject_tail),
            Message=message or email_subject(subject, subject_tail),  # SNS refuses an empty message
            MessageAttributes={"group": {"DataType": "String", "StringValue": group}},
        )


# "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100 characters
# long" (SNS Publish): one that is not is refused, and the change goes untold. In practice SNS takes
# printable ASCII only (as its API reference said before, and as AWS's own Prometheus SNS receiver
# replaces any other subject): a group named in another script, which the config allows, was never told.
SUBJECT_LIMIT = 99


def _subject_character(c: str) -> str:
    if " " <= c <= "~":
        return c
    if ord(c) < 32 or 127 <= ord(c) < 160:
        return " "  # a control character (a line break in a group's name)
    return "" if unicodedata.combining(c) else "?"  # an accent (decomposed below), or another script


def _subject_text(text: str) -> str:
    return "".join(_subject_character(c) for c in unicodedata.normalize("NFKD", text))


def email_subject(text: str, tail: str = "") -> str:
    """`text` then `tail` as SNS takes a subject: printable ASCII (an accented letter without its
    accent, any other character as "?"; the message keeps the name whole), at most 99 characters, `text`
    cut (ending "...") where both do not fit: a long group name once cut the "4 -> 8" off."""
    head, end = _subject_text(text).strip(), _subject_text(tail).rstrip()[: SUBJECT_LIMIT // 2]
    room = SUBJECT_LIMIT - len(end)
    if len(head) > room:
        head = head[: room - 3].rstrip() + "..."
    return (head + end).strip()[:SUBJECT_LIMIT] or "Surgeguard"
