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
    return _cached_names(sql) if len(sql) <= _CACHED_TEXT else _names(sql)


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
