"""``duckmesh tokens issue USER | list | revoke ID``: the service's bearer tokens.

A token is printed once, on the last line of stdout; the mesh keeps only its hash
(``server.tokens_file``, default ``.duckmesh/tokens.json``).  These commands are the
operator's, run where the service runs: whoever can write the tokens file can issue
tokens, so protect it like the mask secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from federation.cli import params as p
from federation.cli.render import print_rows
from federation.cli.suggest import SuggestingGroup
from federation.errors import UsageError

if TYPE_CHECKING:
    from federation.mesh import Mesh
    from federation.server.tokens import TokenStore

COLUMNS = ("id", "user", "name", "status", "created", "expires", "revoked")


def _store(ctx: click.Context) -> tuple[Mesh, TokenStore]:
    from federation.server.tokens import TokenStore

    mesh = p.mesh_of(ctx)
    return mesh, TokenStore.for_mesh(mesh.root, mesh.settings.server.tokens_file)


@click.group(cls=SuggestingGroup)
def tokens() -> None:
    """Issue, list and revoke the bearer tokens of `duckmesh serve`."""


@tokens.command("issue")
@click.argument("user")
@click.option("--expires", default="30d", show_default=True,
              help="lifetime: e.g. 90m, 12h, 30d, 2w, or never")
@click.option("--name", "label", metavar="LABEL", help="what the token is for (shown by list)")
@click.pass_context
def issue(ctx: click.Context, user: str, expires: str, label: str | None) -> None:
    """Issue a token for USER (a principal of governance/principals.yaml); the token is
    the last line of stdout and is shown only this once."""
    from federation.server.tokens import parse_duration

    lifetime = parse_duration(expires)
    mesh, store = _store(ctx)
    if user not in mesh.governance.principals.users:
        raise UsageError(f"{user!r} is not a principal of governance/principals.yaml",
                         hint="a token stands for a principal the mesh knows")
    record, token = store.issue(user, lifetime, label)
    click.echo(f"issued token {record.id} for {user}, expires "
               f"{record.expires or 'never'}; it is shown only now:", err=True)
    click.echo(token)


@tokens.command("list")
@p.fmt(("table", "json"))
@click.pass_context
def list_tokens(ctx: click.Context, fmt: str) -> None:
    """Every token: id, user, label, status (active, expired, revoked), dates."""
    _, store = _store(ctx)
    rows = [r.public() for r in store.records().values()]
    print_rows(rows, COLUMNS, fmt)


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@click.pass_context
def revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a token now: a running server refuses it from its next request."""
    _, store = _store(ctx)
    record = store.revoke(token_id)
    click.echo(f"revoked token {record.id} of {record.user}")
