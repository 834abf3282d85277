"""Read YAML mesh files so that every later error can name file, field and line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connectors.errors import ConfigError


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML mapping plus the line of every field path in it."""

    path: Path
    data: dict[str, Any]
    lines: dict[tuple[str | int, ...], int]

    def line_of(self, location: Sequence[str | int]) -> int | None:
        """The 1-based line of ``location`` or of its nearest parent that has one."""
        loc = tuple(location)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None

    def error(self, location: Sequence[str | int], message: str) -> ConfigError:
        """A ConfigError pointing at ``location`` (a path of keys and list indexes)."""
        return ConfigError(
            message, file=str(self.path), field=format_location(location) or None,
            line=self.line_of(location),
        )


def format_location(location: Sequence[str | int]) -> str:
    """``("schema", 0, "properties", 2, "name")`` → ``schema[0].properties[2].name``."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _index_lines(node: yaml.Node, prefix: tuple[str | int, ...],
                 lines: dict[tuple[str | int, ...], int]) -> None:
    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = (*prefix, key.value)
                lines[child] = key.start_mark.line + 1
                _index_lines(value, child, lines)
                lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*prefix, i), lines)


def load_yaml(path: Path, *, required: bool = True) -> YamlDocument:
    """Load a YAML file that must hold a mapping; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not required:
            return YamlDocument(path, {}, {})
        raise ConfigError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {type(exc).__name__}", file=str(path)) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse YAML text that must hold a mapping; ``path`` labels errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            f"malformed YAML: {problem}", file=str(path),
            line=mark.line + 1 if mark is not None else None,
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", file=str(path), line=1)
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return YamlDocument(path, data, lines)
