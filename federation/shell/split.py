"""Cutting shell input into units: SQL statements ended by ``;`` and dot-commands.

A ``;`` ends a statement only outside strings, quoted names and comments, as sqlglot's
DuckDB tokenizer reads them.  A line starting with ``.`` where a statement would start
is a dot-command, ended by the end of its line.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import Tokenizer
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
            tokens = Tokenizer(dialect="duckdb").tokenize(text[:at + 1])
        except TokenError:
            tokens = []  # the ';' is inside a string or comment still open here
        if tokens and tokens[-1].token_type == TokenType.SEMICOLON and tokens[-1].start == at:
            return at
        at = text.find(";", at + 1)
    return None


def _has_tokens(text: str) -> bool:
    """Whether ``text`` holds anything but white space and comments."""
    try:
        return bool(Tokenizer(dialect="duckdb").tokenize(text))
    except TokenError:
        return True


def split(text: str) -> tuple[list[Unit], str]:
    """The complete units of ``text`` and the unfinished rest (a statement still waiting
    for its ``;``)."""
    units: list[Unit] = []
    pos = 0
    while pos < len(text):
        stripped = len(text) - len(text[pos:].lstrip())
        if stripped >= len(text):
            return units, ""
        if text[stripped] == ".":
            end = text.find("\n", stripped)
            end = len(text) if end < 0 else end
            units.append(Unit("dot", text[stripped:end].strip()))
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
