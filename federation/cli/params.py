"""Options shared by several commands, declared once and used as decorators, and the
mesh and caller a CLI invocation works with.

A command writes ``@p.user`` or ``@p.fmt(("table", "json"))`` instead of repeating
the option, so ``--user`` means and says the same everywhere (as DESIGN.md promises).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
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


# -- SQL from the command line, a file or stdin -------------------------------------------

class SqlCommand(click.Command):
    """A command whose SQL argument may begin with ``-``: ``duckmesh query "-- revenue
    SELECT …"`` is SQL starting with a comment, not an option called ``-- revenue…``.

    No option name holds white space, so an argument that starts with ``-`` and holds
    some (and is not the value of an option before it) can only be SQL: it is passed on
    behind one space, which click reads as an argument.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Protect SQL arguments that begin with ``-`` from click's option parser."""
        options = [param for param in self.params if isinstance(param, click.Option)]
        takes_value = {name for param in options if not param.is_flag and not param.count
                       for name in param.opts}
        names = {name for param in options for name in (*param.opts, *param.secondary_opts)}
        protected = []
        for i, arg in enumerate(args):
            follows_option = i > 0 and args[i - 1] in takes_value
            option = arg.split("=", 1)[0] in names  # --param=NAME=a b
            if arg.startswith("-") and not follows_option and not option \
                    and any(c.isspace() for c in arg):
                arg = " " + arg
            protected.append(arg)
        return super().parse_args(ctx, protected)


def sql_source(f: F) -> F:
    """``SQL`` (an argument; ``-`` reads stdin) or ``--file/-f FILE``; read it with
    :func:`sql_text`."""
    f = click.option("--file", "-f", "sql_file", type=click.Path(dir_okay=False,
                                                                   path_type=Path),
                     help="read the SQL from FILE ('-': stdin)")(f)
    return click.argument("sql", required=False, metavar="[SQL | -]")(f)


def sql_text(sql: str | None, sql_file: Path | None) -> str:
    """The SQL of a command: its argument, the file of ``-f``, or stdin for ``-``."""
    from federation.errors import UsageError

    if sql is not None and sql_file is not None:
        raise UsageError("give the SQL as an argument or with -f FILE, not both")
    if sql_file is not None and str(sql_file) != "-":
        try:
            text = sql_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"no SQL file {str(sql_file)!r}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read SQL file {str(sql_file)!r} "
                             f"({type(exc).__name__})") from None
    elif sql == "-" or sql_file is not None:
        text = sys.stdin.read()
    elif sql is None:
        raise UsageError("no SQL: give it as an argument, with -f FILE, or as - to read "
                         "stdin")
    else:
        text = sql[1:] if sql.startswith(" -") else sql  # the space SqlCommand added
    if not text.strip():
        raise UsageError("the SQL is empty")
    return text


PARAM_HELP = ("bind $NAME in the SQL to VALUE (repeatable); always bound as a value, never "
              "spliced into the SQL text. VALUE is read as an integer (42), a decimal (9.5), "
              "true/false, null, or else text; quote it as 'text' to keep digits as text")


param = click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help=PARAM_HELP)
"""``--param NAME=VALUE`` (repeatable); read the values with :func:`param_values`."""


def param_value(text: str) -> object:
    """A ``--param`` value from the command line, typed: integers, decimals, booleans and
    ``null`` by their spelling, ``'quoted'`` text as text, everything else as text (which
    DuckDB casts to a date or timestamp where one is compared)."""
    import decimal
    import re

    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if re.fullmatch(r"[+-]?(0|[1-9][0-9]*)", text):
        return int(text)
    if re.fullmatch(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+)", text):
        return decimal.Decimal(text)
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+", text):
        return float(text)
    return text


def param_values(given: Sequence[str]) -> dict[str, object] | None:
    """``--param`` pairs as a mapping for ``Mesh.sql(params=)`` (None when none given)."""
    from federation.errors import UsageError

    values: dict[str, object] = {}
    for pair in given:
        name, sep, value = pair.partition("=")
        name = name.strip().removeprefix("$")
        if not sep or not name.isidentifier():
            raise UsageError(f"--param takes NAME=VALUE, not {pair!r}")
        if name in values:
            raise UsageError(f"--param {name} is given twice")
        values[name] = param_value(value)
    return values or None


@contextlib.contextmanager
def guided_denials(ctx: click.Context, purpose: str | None = None) -> Iterator[None]:
    """Denials raised inside name the product's owner and the command that asks for
    access (:func:`federation.access.guide.guided`)."""
    from federation.errors import AccessDenied

    try:
        yield
    except AccessDenied as exc:
        from federation.access.guide import guided  # only once denied

        raise guided(exc, mesh_of(ctx).catalog, purpose) from None
