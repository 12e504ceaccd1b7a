"""The Lambdas' environment, validated once at cold start: a missing or bad variable, or a bundled config
file that cannot be read, fails by name; nothing is quietly turned off."""

from __future__ import annotations

from pathlib import Path

import pytest

from surgeguard.settings import Settings, SettingsError

ENV = {"TABLE_NAME": "audit", "ALARM_PREFIX": "Surgeguard", "CONFIG_FILE": "config.json"}
TOPIC = "arn:aws:sns:eu-west-1:123456789012:Surgeguard-Notifications"


def test_the_stacks_environment_is_read() -> None:
    settings = Settings.from_env({**ENV, "NOTIFY_TOPIC_ARN": TOPIC})
    assert (settings.table_name, settings.notify_topic_arn) == ("audit", TOPIC)
    assert Settings.from_env(ENV).notify_topic_arn is None  # unset: no notifications, as configured


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"TABLE_NAME": None}, "TABLE_NAME: Field required"),
        # set but empty or mistyped: notifications were turned off without a word
        ({"NOTIFY_TOPIC_ARN": ""}, "NOTIFY_TOPIC_ARN"),
        ({"NOTIFY_TOPIC_ARN": "not-an-arn"}, "NOTIFY_TOPIC_ARN"),
        ({"ALARM_PREFIX": "   "}, "ALARM_PREFIX"),
    ],
)
def test_a_bad_variable_is_named(changes: dict[str, str | None], named: str) -> None:
    env = {k: v for k, v in {**ENV, **changes}.items() if v is not None}
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("content", "named"),
    [(b'{"groups": [\n', "is not JSON"), (b"\xff\xfe\x00garbage", "is not UTF-8 text")],
)
def test_a_config_file_that_cannot_be_read_is_named(tmp_path: Path, content: bytes, named: str) -> None:
    # A bare JSONDecodeError or UnicodeDecodeError once said nothing of CONFIG_FILE
    (tmp_path / "config.json").write_bytes(content)
    settings = Settings.from_env({**ENV, "LAMBDA_TASK_ROOT": str(tmp_path)})
    with pytest.raises(SettingsError, match=f"CONFIG_FILE .*config.json {named}"):
        settings.load_config()
