"""The config's YAML, read without YAML 1.1's silent surprises (only the CDK app and the CLI read YAML;
the Lambda reads the bundled JSON, so PyYAML stays out of its imports).

PyYAML's safe loader keeps the last of two equal keys, so a second `events:` under a group drops the
first list's sales, and no error says so. It also reads `050` as octal 40 and `1:30` (or `1:30.0`) as
sexagesimal 90. Each is refused here with its line, so a config means what it says or does not load.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# YAML 1.1's integers that a reader of the file would take for something else: a leading zero (octal)
# and base 60 ("1:30"; its floats, "1:30.0", are refused by `_float`). Hex and binary (0x, 0b) say what
# they are.
_SURPRISING_INT = re.compile(r"[-+]?(0[0-7_]+|[1-9][0-9_]*(:[0-5]?[0-9])+)")


MAX_MERGED_KEYS = 1000


class YamlConfigError(ValueError):
    pass


class _ConfigLoader(yaml.SafeLoader):
    # The check runs where PyYAML flattens a mapping's merges (`<<`), before it does: a mapping merged
    # into another is flattened in place by that other's construction, and its own override of a key it
    # merged would then look like a repeat.
    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        checked: set[int] = self.__dict__.setdefault("_checked", set())
        if id(node) not in checked:
            checked.add(id(node))
            _refuse_repeats(self, node)
        super().flatten_mapping(node)
        # Merges copy the merged keys in, so each level that merges the one before twice doubles them:
        # 30 lines make 2**30 entries, more than memory holds. No config mapping comes near the limit.
        if len(node.value) > MAX_MERGED_KEYS:
            raise YamlConfigError(
                f"line {node.start_mark.line + 1}: a mapping of more than {MAX_MERGED_KEYS} keys once its "
                "merges (<<) are expanded: merge each mapping once"
            )


def _refuse_repeats(loader: _ConfigLoader, node: yaml.MappingNode) -> None:
    """The mapping's own keys only: one that overrides a key merged in (<<: *defaults) is no repeat.
    Each is text, as every config key is."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:
            # PyYAML's own construction refuses it (a list or mapping as a key), as invalid YAML
            raise YamlConfigError(
                f"line {line}: a key that is a list or a mapping: a config key is text"
            ) from None
        if not isinstance(key, str):
            # `on:` is YAML 1.1's true: validation then named it by pydantic's index, groups[0][1], no line
            raise YamlConfigError(
                f"line {line}: key {key_node.value!r} is read by YAML as {key!r}, not text: a config key "
                "is text (quote it if it is meant)"
            )
        if first is not None:
            raise YamlConfigError(
                f"line {line}: key {key!r} appears twice in one mapping (first on line {first}); YAML "
                "would keep only the last, silently dropping the first"
            )
        seen[key] = line


def _int(loader: _ConfigLoader, node: yaml.ScalarNode) -> int:
    text = str(node.value)
    if _SURPRISING_INT.fullmatch(text):
        line = node.start_mark.line + 1
        raise YamlConfigError(
            f"line {line}: {text!r} is read by YAML as "
            f"{'an octal' if ':' not in text else 'a base-60'} number "
            f"({loader.construct_yaml_int(node)}); write it without "
            f"{'the leading zero' if ':' not in text else 'the colon'}, or quote it if it is text"
        )
    return int(loader.construct_yaml_int(node))


def _float(loader: _ConfigLoader, node: yaml.ScalarNode) -> float:
    # YAML 1.1's floats have a base 60 too: 1:30.0 is 90.0
    text = str(node.value)
    if ":" in text:
        line = node.start_mark.line + 1
        read_as = loader.construct_yaml_float(node)
        raise YamlConfigError(
            f"line {line}: {text!r} is read by YAML as a base-60 number ({read_as}); "
            "write it without the colon, or quote it if it is text"
        )
    return float(loader.construct_yaml_float(node))


_ConfigLoader.add_constructor("tag:yaml.org,2002:int", _int)
_ConfigLoader.add_constructor("tag:yaml.org,2002:float", _float)


def load_yaml(text: str) -> Any:
    """The YAML document's data; YamlConfigError for invalid YAML, a repeated key, a surprising number or
    nesting too deep to read."""
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise YamlConfigError(f"is not valid YAML: {error}") from None
    except RecursionError:
        from surgeguard.config import TOO_DEEP

        raise YamlConfigError(TOO_DEEP) from None
