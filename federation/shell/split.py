"""Cutting shell input into units: SQL statements ended by ``;`` and dot-commands.

A ``;`` ends a statement only outside strings, quoted names and comments, as sqlglot's
DuckDB tokenizer reads them.  A line starting with ``.`` where a statement would start
is a dot-command, ended by the end of its line.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import TokenType


@dataclass(frozen=True)
class Unit:
    """One thing to run: a SQL statement (without its ``;``) or a dot-command line."""

    kind: str  # "sql" or "dot"
    text: str


def _semicolon(text: str) -> int | None:
    """The offset of the first ``;`` of ``text`` that ends a statement; None if there is
    none (or the text ends inside a string or comment)."""
    at = text.find(";")
    while at >= 0:
        # Tokenize up to this ';' only: a string left open further on must not hide it.
        try:
            tokens = DuckDB.Tokenizer().tokenize(text[:at + 1])
        except TokenError:
            tokens = []  # the ';' is inside a string or comment still open here
        if tokens and tokens[-1].token_type == TokenType.SEMICOLON and tokens[-1].start == at:
            return at
        at = text.find(";", at + 1)
    return None


def _has_tokens(text: str) -> bool:
    """Whether ``text`` holds anything but white space and comments."""
    try:
        return bool(DuckDB.Tokenizer().tokenize(text))
    except TokenError:
        return True


def _skip_comments(text: str, pos: int) -> int:
    """The offset of the first character at or after ``pos`` that is neither white space
    nor part of a comment (``len(text)`` if none)."""
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
        elif text.startswith("--", pos):
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end + 1
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                return pos  # an open comment: the statement is not finished
            pos = end + 2
        else:
            return pos
    return pos


def split(text: str) -> tuple[list[Unit], str]:
    """The complete units of ``text`` and the unfinished rest (a statement still waiting
    for its ``;``)."""
    units: list[Unit] = []
    pos = 0
    while pos < len(text):
        start = _skip_comments(text, pos)
        if start >= len(text):
            return units, ""
        if text[start] == ".":
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            units.append(Unit("dot", text[start:end].strip()))
            pos = end + 1
            continue
        rest = text[pos:]
        cut = _semicolon(rest)
        if cut is None:
            return units, rest if _has_tokens(rest) else ""
        statement = rest[:cut]
        if _has_tokens(statement):
            units.append(Unit("sql", statement.strip()))
        pos += cut + 1
    return units, ""


def complete(text: str) -> bool:
    """Whether ``text`` (the lines typed so far) is ready to run: a dot-command, or SQL
    whose last statement is ended by ``;`` (or nothing at all)."""
    units, rest = split(text)
    return not rest.strip() or (not units and text.lstrip().startswith("."))
