"""``duckmesh sql-features``: the SQL a governed query may use, from the allow-list."""

from __future__ import annotations

import json

import click


@click.command("sql-features")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True, help="output format")
def sql_features(fmt: str) -> None:
    """List the statements, clauses and functions a governed query may use."""
    from federation.pipeline.features import features, markdown

    if fmt == "json":
        click.echo(json.dumps(features(), indent=2))
    else:
        click.echo(markdown(), nl=False)
