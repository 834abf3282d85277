"""The shell's dot-commands, in the DuckDB CLI's spirit: ``.products``, ``.schema D.P``,
``.explain SQL``, ``.mode``, ``.output``, ``.timer``, ``.help``, ``.quit``.

Each reads the mesh as the session's user: ``.schema`` shows that user's decision for
every column, ``.explain`` plans the statement as ``duckmesh explain`` does.  An unknown
command names the nearest known ones.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from federation.errors import DuckmeshError, UsageError

if TYPE_CHECKING:
    from federation.shell.session import Session


class Quit(Exception):  # a signal to stop, not an error
    """``.quit`` / ``.exit``: the session ends."""


HELP = {
    ".products": "the products of the mesh and whether you may read them (also .tables)",
    ".schema D.P": "a product's columns with your decision for each (allow, mask, deny)",
    ".explain SQL": "the governed SQL and every policy decision, without running it",
    ".mode MODE": "output as table, csv, json, markdown or line (column = value)",
    ".output [FILE]": "append results to FILE; without FILE, back to the terminal",
    ".timer on|off": "print each statement's run time",
    ".help": "this list",
    ".quit": "leave the shell (also .exit, Ctrl-D)",
}


def _products(session: Session, args: list[str]) -> None:
    from federation.cli.render import print_table
    from federation.governance.access import evaluate

    principal = session.mesh.governance.principal(session.user)
    rows = []
    for product in session.mesh.catalog:
        if args and not any(a.lower() in product.fqn for a in args):
            continue
        try:
            evaluate(session.mesh.governance, principal, product, session.purpose)
            access = "read"
        except DuckmeshError:
            access = "no grant"
        rows.append([product.fqn, access, product.description or ""])
    with session.text() as handle:
        print_table(rows, ("product", "you", "description"), console=session.console(handle),
                    empty="no product matches")


def _schema(session: Session, args: list[str]) -> None:
    from federation.cli.render import print_table
    from federation.governance.access import evaluate

    if len(args) != 1:
        raise UsageError(".schema takes one DOMAIN.PRODUCT")
    product = session.mesh.catalog.get(args[0])
    principal = session.mesh.governance.principal(session.user)
    access = evaluate(session.mesh.governance, principal, product, session.purpose)
    rows = []
    for decision in access.columns:
        action = decision.action + (f" ({decision.method})" if decision.method else "")
        rows.append([decision.column.name, decision.column.type,
                     decision.column.classification or "", action, decision.reason])
    title = f"{product.fqn} as {session.user} sees it"
    if access.row_filter is not None:
        title += f"; rows filtered: {access.row_filter.sql(dialect='duckdb')}"
    with session.text() as handle:
        print_table(rows, ("column", "type", "classification", "decision", "rule"),
                    title=title, console=session.console(handle))


def _explain(session: Session, args: list[str], raw: str) -> None:
    from federation.cli.render import print_table
    from federation.result import pretty_sql

    sql = raw.strip().removesuffix(";")
    if not sql:
        raise UsageError(".explain takes a SQL statement")
    governed = session.mesh.govern(sql, session.user, purpose=session.purpose)
    rows = [[d.product, d.column or "", d.action + (f" [{d.detail}]" if d.detail else ""),
             d.reason] for d in governed.decisions]
    with session.text() as handle:
        print_table(rows, ("product", "column", "decision", "rule"),
                    title=f"policy decisions for {session.user}",
                    console=session.console(handle))
        handle.write("\n-- governed SQL\n" + pretty_sql(governed) + "\n")


def _mode(session: Session, args: list[str]) -> None:
    from federation.shell.session import MODES, check_mode

    if not args:
        session.echo(f"mode: {session.mode} (one of {', '.join(MODES)})")
        return
    session.mode = check_mode(args[0].lower())


def _output(session: Session, args: list[str]) -> None:
    if not args or args[0] in ("stdout", "-"):
        session.output = None
        return
    target = Path(args[0]).expanduser()
    if target.is_dir() or not target.parent.is_dir():
        raise UsageError(f"cannot write to {args[0]!r}")
    session.output = target


def _timer(session: Session, args: list[str]) -> None:
    if len(args) != 1 or args[0].lower() not in ("on", "off"):
        raise UsageError(".timer takes on or off")
    session.timer = args[0].lower() == "on"


def _help(session: Session, args: list[str]) -> None:
    width = max(len(k) for k in HELP)
    session.echo("\n".join(f"{k:<{width}}  {v}" for k, v in HELP.items()) +
                 "\nSQL ends with ';' and may span lines; it is governed like duckmesh query.")


def _quit(session: Session, args: list[str]) -> None:
    raise Quit


COMMANDS: dict[str, Callable[[Session, list[str]], None]] = {
    ".products": _products, ".tables": _products, ".schema": _schema, ".mode": _mode,
    ".output": _output, ".timer": _timer, ".help": _help, ".quit": _quit, ".exit": _quit,
}
"""Every dot-command but ``.explain`` (which takes the rest of its line as SQL)."""

NAMES = sorted([*COMMANDS, ".explain"])
"""Every dot-command's name, for completion and did-you-mean."""


def run_dot(session: Session, line: str) -> None:
    """Run the dot-command ``line``; an unknown one suggests the nearest."""
    name, _, rest = line.strip().partition(" ")
    name = name.lower()
    if name == ".explain":
        _explain(session, [], rest)
        return
    command = COMMANDS.get(name)
    if command is None:
        from federation.cli.suggest import nearest

        close = nearest(name, NAMES, n=2)
        raise UsageError(f"unknown command {name}" +
                         (f"; did you mean {' or '.join(close)}?" if close else ""),
                         hint="see .help")
    try:
        args = shlex.split(rest)
    except ValueError:
        raise UsageError(f"{name}: unbalanced quotes") from None
    command(session, args)
