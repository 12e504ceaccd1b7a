"""SNS adapter: tell people what changed."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from surgeguard.adapters.clients import client, error_code
from surgeguard.adapters.errors import AwsCallError


class SnsNotifier:
    def __init__(self, topic_arn: str, sns: Any = None) -> None:
        self._topic_arn = topic_arn
        self._client = sns

    def publish(self, subject: str, message: str) -> None:
        api = self._client or client("sns")
        try:
            # SNS subjects are limited to 100 characters.
            api.publish(TopicArn=self._topic_arn, Subject=subject[:100], Message=message)
        except (ClientError, BotoCoreError) as error:
            raise AwsCallError("Publish", *error_code(error)) from error
