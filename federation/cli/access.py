"""``duckmesh access request D.P | list | approve ID | deny ID``: ask a domain's owners for
access, and decide.

A request is a file under ``requests/<domain>/`` in the mesh (who, what, why, when, and
the grant an owner would commit); the web catalog's request pages use the same files.
"""

from __future__ import annotations

import click

from federation.cli import params as p
from federation.cli.render import print_json, print_rows
from federation.cli.suggest import SuggestingGroup

LIST_COLUMNS = ("id", "status", "requested_by", "product", "columns", "purpose", "requested_at",
                "decided_by", "reason")


@click.group("access", cls=SuggestingGroup)
def access() -> None:
    """Request access to products and columns; owners approve or deny."""


def _columns(values: tuple[str, ...]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


@access.command("request")
@click.argument("name", metavar="DOMAIN.PRODUCT")
@click.option("--columns", "-c", "columns", multiple=True, metavar="COL[,COL…]",
              help="the columns you need (default: the whole product); repeat or separate "
                   "with commas")
@click.option("--purpose", required=True, metavar="PURPOSE",
              help="why: a purpose declared in governance/policies.yaml")
@click.option("--reason", required=True, metavar="TEXT",
              help="what you need it for, for the owners")
@p.user
@p.fmt(("table", "json"))
@click.pass_context
def access_request(ctx: click.Context, name: str, columns: tuple[str, ...], purpose: str,
                   reason: str, user: str | None, fmt: str) -> None:
    """Ask the owners of a product's domain for access; prints the grant they would commit."""
    from federation.access.requests import create, path_of

    mesh = p.mesh_of(ctx)
    request = create(mesh, p.caller(user), name, _columns(columns), purpose, reason)
    if fmt == "json":
        print_json(request.model_dump())
        return
    click.echo(f"request {request.id}: {request.requested_by} asks for {request.what} "
               f"for {request.purpose}")
    click.echo(f"written to {path_of(mesh.root, request).relative_to(mesh.root)}")
    for note in request.notes:
        click.echo(f"note: {note}")
    click.echo(f"\nto approve, an owner of {request.domain} adds this first under grants: in "
               f"{request.grant_file}\n(or runs `duckmesh access approve {request.id}`):\n")
    click.echo(request.grant_yaml().rstrip())


@access.command("list")
@click.option("--domain", help="only this domain's requests")
@click.option("--status", type=click.Choice(("pending", "approved", "denied", "all")),
              default="pending", show_default=True, help="which requests")
@p.fmt(("table", "json"))
@click.pass_context
def access_list(ctx: click.Context, domain: str | None, status: str, fmt: str) -> None:
    """Access requests (pending ones by default)."""
    from federation.access.requests import requests

    root = p.mesh_root(ctx)
    found = requests(root, domain.lower() if domain else None,
                     status=None if status == "all" else status)
    rows = [{**r.model_dump(), "columns": r.columns if fmt == "json" else ", ".join(r.columns)}
            for r in found]
    print_rows(rows, LIST_COLUMNS, fmt)


def _decide(ctx: click.Context, request_id: str, note: str, user: str | None,
            approve: bool) -> None:
    from federation.access.decide import decide

    decided = decide(p.mesh_of(ctx), request_id, p.caller(user), approve, note)
    click.echo(f"request {decided.id}: {decided.status} by {decided.decided_by}")
    if approve:
        click.echo(f"granted in {decided.grant_file}:\n{decided.grant_yaml().rstrip()}")
        if decided.branch:
            click.echo(f"committed on branch {decided.branch} for review")


@access.command("approve")
@click.argument("request_id", metavar="ID")
@click.option("--note", default="", help="a word to the requester")
@p.user
@click.pass_context
def access_approve(ctx: click.Context, request_id: str, note: str, user: str | None) -> None:
    """Approve a request (owners of its domain): writes the grant into domain.yaml."""
    _decide(ctx, request_id, note, user, True)


@access.command("deny")
@click.argument("request_id", metavar="ID")
@click.option("--note", default="", help="why, for the requester")
@p.user
@click.pass_context
def access_deny(ctx: click.Context, request_id: str, note: str, user: str | None) -> None:
    """Deny a request (owners of its domain)."""
    _decide(ctx, request_id, note, user, False)
