"""README.md is the user's contract: what it names must exist, and what the config accepts must be in it."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from surgeguard.config import ScalerConfig
from surgeguard_cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _prose(text: str) -> str:
    """The Markdown outside fenced code blocks (a `#` there is a shell comment, a link an example)."""
    return "".join(part for i, part in enumerate(re.split(r"^```.*$", text, flags=re.M)) if i % 2 == 0)


def _anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but `-` and `_` dropped, spaces to `-`, and a
    repeated heading numbered `-1`, `-2`..."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _prose(markdown.read_text()), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(text: str) -> list[str]:
    # Inline code is an example, not a link (the README quotes `[text](url)` as something escaped).
    return re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`\n]*`", "", _prose(text)))


def test_every_relative_link_and_in_page_anchor_of_the_readme_resolves() -> None:
    broken = []
    for link in _links(README.read_text()):
        if re.match(r"[a-z]+:", link):
            continue
        path, _, fragment = link.partition("#")
        target = (README.parent / path) if path else README
        if not target.exists():
            broken.append(f"{link}: no file {path}")
        elif fragment and target.suffix == ".md" and fragment not in _anchors(target):
            broken.append(f"{link}: no heading makes #{fragment}")
    assert not broken


def test_a_link_to_a_heading_that_is_not_there_is_found(tmp_path: Path) -> None:
    # The check above can fail: a heading renamed under a link that still names the old one.
    page = tmp_path / "page.md"
    page.write_text(
        "# Sale-day operations: `preflight`\n\nsee [it](#sale-day-operations-preflight), [x](#gone)\n"
    )
    assert _anchors(page) == {"sale-day-operations-preflight"}
    assert [link for link in _links(page.read_text()) if link[1:] not in _anchors(page)] == ["#gone"]


def _config_keys() -> dict[str, set[str]]:
    """Every key the config file accepts, at any depth, with the models that hold it."""
    keys: dict[str, set[str]] = {}
    seen: set[type[BaseModel]] = set()

    def models(annotation: object) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [m for arg in typing.get_args(annotation) for m in models(arg)]

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            keys.setdefault(name, set()).add(f"{model.__name__}.{name}")
            for sub in models(field.annotation):
                walk(sub)

    walk(ScalerConfig)
    return keys


def test_every_config_key_the_code_accepts_is_named_in_the_readme() -> None:
    text = README.read_text()
    missing = {
        key: sorted(where)
        for key, where in _config_keys().items()
        if not re.search(rf"`[^`\n]*\b{re.escape(key)}\b[^`\n]*`", text)
    }
    assert not missing


def test_every_key_of_the_readme_group_table_is_a_group_config_key() -> None:
    from surgeguard.config import GroupConfig

    section = README.read_text().split("Per existing Auto Scaling group", 1)[1].split("\n\n", 2)[1]
    named = {
        key
        for cell in re.findall(r"^\| ([^|]+) \|", section, flags=re.M)
        for key in re.findall(r"`(\w+)`", cell)
    }
    assert named, "the README's group table was not found"
    assert named - set(GroupConfig.model_fields) == set()


def test_every_surgeguard_command_and_make_target_the_readme_names_exists() -> None:
    text = README.read_text()
    commands = set(re.findall(r"`(?:\.venv/bin/)?surgeguard ([a-z][a-z-]+)", text))
    commands |= set(re.findall(r"^\$? ?(?:\.venv/bin/)?surgeguard ([a-z][a-z-]+)", text, flags=re.M))
    assert commands - set(COMMANDS) == set()
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
    code = "".join(part for i, part in enumerate(re.split(r"^```.*$", text, flags=re.M)) if i % 2)
    named = set(re.findall(r"`make ([a-z][\w-]*)", text)) | set(
        re.findall(r"^make ([a-z][\w-]*)", code, flags=re.M)
    )
    assert named and named - targets == set()


@pytest.mark.parametrize(
    "prefix", ["tests/", "docs/", "lambdas/", "gameday/", "surgeguard_cli/", "loadtest/"]
)
def test_every_repository_path_the_readme_names_exists(prefix: str) -> None:
    named = re.findall(rf"(?<![\w/.]){re.escape(prefix)}[\w./-]*\w", README.read_text())
    # A name in capitals is a placeholder (`--json docs/NAME.json`), not a file.
    missing = [path for path in named if not re.search(r"[A-Z]{2,}", path) and not (ROOT / path).exists()]
    assert named and not missing
