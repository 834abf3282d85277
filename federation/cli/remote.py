"""What ``query``, ``explain`` and ``products`` print when they ask a server (``--server``):
the same tables and documents as embedded mode, from the server's JSON answers."""

from __future__ import annotations

from typing import Any

import click

from federation.cli.render import print_json, print_table


def print_explain(answer: dict[str, Any], fmt: str) -> None:
    """``explain --server``: the decisions and governed SQL the server planned for you."""
    if fmt == "json":
        print_json({"user": answer["principal"], "products": answer["products"],
                    "columns_read": answer["columns_read"], "decisions": answer["decisions"],
                    "governed_sql": answer["governed_sql"]})
        return
    rows = [[d["product"], d["column"] or "",
             d["action"] + (f" [{d['detail']}]" if d["detail"] else ""), d["reason"]]
            for d in answer["decisions"]]
    print_table(rows, ("product", "column", "decision", "rule"),
                title=f"policy decisions for {answer['principal']}")
    click.echo("\n-- governed SQL\n" + answer["pretty_sql"])
