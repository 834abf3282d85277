"""DuckDB's own names for a query's unaliased result columns.

DuckDB names an unaliased result column after its parser's printing of the expression
(``sum(x)``, ``count_star()``, ``(x + 1)``), not after the text the caller typed.  The
governed SQL is a different query (qualified, rewritten), so left alone DuckDB would
name its columns differently from the same query run raw; callers' dashboards and
notebooks key on these names.  We ask DuckDB's parser — parse only, nothing bound or
run, in a connection with external access off — for the names of the caller's query,
and the governed SQL aliases its columns with them.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

import duckdb
from sqlglot import TokenType
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import TokenError

_local = threading.local()
_PREFIX = "SELECT "


def _connection() -> duckdb.DuckDBPyConnection:
    # One parse-only connection per thread: DuckDB connections are not shared across threads.
    if not hasattr(_local, "con"):
        _local.con = duckdb.connect(config={"enable_external_access": False})
    con: duckdb.DuckDBPyConnection = _local.con
    return con


def _template(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """A parsed ``SELECT 1`` to print one expression at a time (parsed once per thread)."""
    if not hasattr(_local, "template"):
        rows = con.execute("SELECT json_serialize_sql('SELECT 1')").fetchall()
        _local.template = json.loads(rows[0][0])
    template: dict[str, Any] = _local.template
    return template


def _outermost(node: Any) -> dict[str, Any] | None:
    # Set operations: the leftmost branch names the columns (DuckDB 2.0 lists branches
    # under "children"; older trees had "left").
    while isinstance(node, dict) and node.get("type") == "SET_OPERATION_NODE":
        node = (node.get("children") or [node.get("left")])[0]
    return node if isinstance(node, dict) and node.get("type") == "SELECT_NODE" else None


_CACHED_TEXT = 20_000
"""Longer texts are not cached: 512 entries of up to 1 MB each would be too much memory."""


def duckdb_names(sql: str) -> tuple[str, ...] | None:
    """DuckDB's result-column names for ``sql``'s outermost select list, in order.

    An aliased item gives its alias, ``*`` gives ``*``.  None when DuckDB cannot parse
    the text or its tree is not a plain query; callers then keep their own names.
    """
    if len(sql) <= _CACHED_TEXT:
        return _cached_names(sql)
    # A long query is long in its FROM/WHERE (a list of 100,000 values): the names depend
    # on the select list alone, and DuckDB serializing the whole tree cost 0.65 s.
    select_list = _select_list(sql)
    return _names(select_list if select_list is not None else sql)


# Where the outermost select list ends (at parenthesis depth 0).
_LIST_ENDS = frozenset({
    TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY, TokenType.HAVING,
    TokenType.QUALIFY, TokenType.WINDOW, TokenType.ORDER_BY, TokenType.LIMIT,
    TokenType.UNION, TokenType.INTERSECT, TokenType.EXCEPT, TokenType.SEMICOLON,
})


def _select_list(sql: str) -> str | None:
    """``SELECT <list>`` of the outermost query in ``sql``: its text from the first SELECT
    at parenthesis depth 0 to the first clause after it.  None when that is not clear
    (the leftmost branch of a set operation in parentheses, text that does not tokenize):
    the caller then uses the whole text."""
    # The select list is usually within the first few KB: tokenize that much first.
    for text in (sql[:_PREFIX_CHARS], sql):
        try:
            tokens = DuckDB.Tokenizer().tokenize(text)
        except TokenError:
            continue  # cut inside a string or a comment: try the whole text
        depth, start = 0, None
        for token in tokens:
            kind = token.token_type
            if kind == TokenType.L_PAREN:
                depth += 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
            elif depth == 0 and start is None and kind == TokenType.SELECT:
                start = token.start
            elif depth == 0 and start is not None and kind in _LIST_ENDS:
                return sql[start:token.start]
        if text is sql and start is not None:
            return sql[start:]
    return None


_PREFIX_CHARS = 8192


@lru_cache(maxsize=512)
def _cached_names(sql: str) -> tuple[str, ...] | None:
    return _names(sql)


def _names(sql: str) -> tuple[str, ...] | None:
    con = _connection()
    try:
        rows = con.execute("SELECT json_serialize_sql($1)", [sql]).fetchall()
        tree = json.loads(rows[0][0])
        if tree.get("error") or len(tree.get("statements", [])) != 1:
            return None
        node = _outermost(tree["statements"][0]["node"])
        if node is None:
            return None
        template = _template(con)
        statements = []
        for item in node["select_list"]:
            template["statements"][0]["node"]["select_list"] = [{**item, "alias": ""}]
            statements.append(json.dumps(template))
        printed = con.execute(
            "SELECT list_transform($1::VARCHAR[], lambda j: json_deserialize_sql(j))",
            [statements]).fetchall()[0][0]
    except (duckdb.Error, json.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    names = []
    for item, text in zip(node["select_list"], printed, strict=True):
        if item.get("alias"):
            names.append(item["alias"])
        elif item.get("class") == "STAR":
            names.append("*")
        elif isinstance(text, str) and text.startswith(_PREFIX):
            names.append(text[len(_PREFIX):])
        else:
            return None
    return tuple(names)


def duckdb_parse_error(sql: str) -> tuple[str, int] | None:
    """DuckDB's parser's own message for ``sql`` and the offset it points at, or None
    when DuckDB parses it (parse only: nothing is bound or run)."""
    try:
        rows = _connection().execute("SELECT json_serialize_sql($1)", [sql]).fetchall()
        tree = json.loads(rows[0][0])
    except (duckdb.Error, json.JSONDecodeError, IndexError):
        return None
    if not tree.get("error") or tree.get("error_type") != "parser":
        return None
    try:
        position = int(tree.get("position", 0))
    except (TypeError, ValueError):
        position = 0
    return str(tree.get("error_message", "syntax error")), position
