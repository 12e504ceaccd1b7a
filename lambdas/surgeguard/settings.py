"""Lambda environment, validated once at cold start; a missing or bad variable fails loudly by name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from surgeguard.config import ScalerConfig, parse_config


class SettingsError(RuntimeError):
    pass


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(alias="TABLE_NAME", pattern=r"^\S+$")
    alarm_prefix: str = Field(alias="ALARM_PREFIX", pattern=r"^\S+$")
    config_file: str = Field(alias="CONFIG_FILE", min_length=1)
    # Unset: no notifications. Set, it must be a topic's ARN: an empty or mistyped value would turn
    # notifications off without a word.
    notify_topic_arn: str | None = Field(
        default=None, alias="NOTIFY_TOPIC_ARN", pattern=r"^arn:aws[\w-]*:sns:\S+$"
    )
    task_root: str = Field(default=".", alias="LAMBDA_TASK_ROOT")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        try:
            return cls.model_validate(env)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
            raise SettingsError(f"Surgeguard Lambda environment is invalid: {problems}") from None

    def load_config(self) -> ScalerConfig:
        path = Path(self.task_root) / self.config_file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise SettingsError(f"CONFIG_FILE {path} cannot be read: {error.strerror}") from None
        except UnicodeDecodeError as error:
            raise SettingsError(f"CONFIG_FILE {path} is not UTF-8 text: {error.reason}") from None
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SettingsError(f"CONFIG_FILE {path} is not JSON: {error}") from None
        return parse_config(data, source=str(path))
