"""Options shared by several commands, declared once and used as decorators, and the
mesh and caller a CLI invocation works with.

A command writes ``@p.user`` or ``@p.fmt(("table", "json"))`` instead of repeating
the option, so ``--user`` means and says the same everywhere (as DESIGN.md promises).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from federation.mesh import Mesh, default_user

if TYPE_CHECKING:
    from federation.server.client import Connection

F = TypeVar("F", bound=Callable[..., Any])

USER_HELP = "who is asking (default: $DUCKMESH_USER, then the OS user); roles come from " \
            "governance/principals.yaml"

user = click.option("--user", "-u", help=USER_HELP)
"""``--user/-u NAME``: the caller; read it with :func:`caller`."""


purpose = click.option(
    "--purpose", metavar="PURPOSE",
    help="why you query: a purpose declared in governance/policies.yaml (some data is "
         "released only for some purposes); recorded in the audit log")
"""``--purpose NAME``: checked against the declared purposes by the mesh."""


engine = click.option(
    "--engine", type=click.Choice(("duckdb", "spark", "auto")), default=None,
    help="where the governed query runs (default: engine.default in duckmesh.yaml): "
         "embedded DuckDB, Apache Spark (pip install 'duckmesh[spark]'; docs/spark.md), or "
         "auto by the planned scan size")
"""``--engine duckdb|spark|auto``: passed to :meth:`federation.Mesh.sql`."""


def fmt(choices: Sequence[str], default: str = "table",
        help: str | None = "output format") -> Callable[[F], F]:
    """``--format`` (passed as ``fmt``) with these ``choices``, showing its default."""
    return click.option("--format", "fmt", type=click.Choice(choices), default=default,
                        show_default=True, help=help)


def output(help: str = "write to FILE (atomically) instead of stdout") -> Callable[[F], F]:
    """``--output/-o FILE``: a file path (not a folder), as a :class:`~pathlib.Path`."""
    return click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                        help=help)


def caller(name: str | None) -> str:
    """The user a command runs as: ``--user``, else ``$DUCKMESH_USER``, else the OS user."""
    return name or default_user()


def mesh_root(ctx: click.Context) -> Path:
    """The folder of the mesh named by ``--mesh`` (or found from the environment), for
    commands that read its files without opening it."""
    obj = ctx.find_object(dict) or {}
    return Mesh.locate(obj.get("mesh_path"))


def mesh_of(ctx: click.Context) -> Mesh:
    """The mesh named by ``--mesh`` (or found from the environment), opened once."""
    obj = ctx.find_object(dict) or {}
    if "mesh" not in obj:
        obj["mesh"] = Mesh.open(obj.get("mesh_path"))
    mesh = obj["mesh"]
    assert isinstance(mesh, Mesh)
    return mesh


def remote(f: F) -> F:
    """``--server URL`` and ``--token-file PATH``: ask a duckmesh server instead of the
    local mesh; read the connection with :func:`connection`."""
    f = click.option("--token-file", type=click.Path(dir_okay=False, exists=True,
                                                     path_type=Path),
                     help="file holding your token for --server (default: $DUCKMESH_TOKEN)")(f)
    return click.option("--server", metavar="URL", envvar="DUCKMESH_SERVER",
                        help="a duckmesh server (grpc://HOST:8815, default $DUCKMESH_SERVER): "
                             "run there as your token's principal")(f)


def connection(server: str, token_file: Path | None, user: str | None = None,
               as_of: str | None = None) -> Connection:
    """The server connection of ``--server``; who you are comes from the token alone."""
    from federation.errors import UsageError
    from federation.server.client import connect

    if user:
        raise UsageError("--user cannot be used with --server: the server knows you by your "
                         "token")
    if as_of:
        raise UsageError("--as-of is not available with --server")
    token = token_file.read_text().strip() if token_file else None
    return connect(server, token)
