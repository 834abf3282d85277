"""``duckmesh shell``: the interactive governed SQL shell (:mod:`federation.shell`); with
stdin not a terminal, it runs the statements it reads (``duckmesh shell < report.sql``)."""

from __future__ import annotations

import sys

import click

from federation.cli import params as p


@click.command("shell")
@p.user
@p.purpose
@p.engine
@click.option("--mode", type=click.Choice(("table", "csv", "json", "markdown", "line")),
              default="table", show_default=True, help="output mode (the shell's .mode)")
@click.option("--no-history", is_flag=True, help="keep no history file")
@click.pass_context
def shell(ctx: click.Context, user: str | None, purpose: str | None, engine: str | None,
          mode: str, no_history: bool) -> None:
    """Interactive SQL shell, governed like query; runs piped statements when stdin is
    not a terminal."""
    from federation.shell.repl import history_path, interactive, prompt_session, run_script
    from federation.shell.session import Session

    mesh = p.mesh_of(ctx)
    mesh.check_purpose(purpose)
    session = Session(mesh, p.caller(user), purpose=purpose, engine=engine, mode=mode)
    if not sys.stdin.isatty():
        ctx.exit(run_script(session, sys.stdin))
    prompt = prompt_session(session, None if no_history else history_path())
    ctx.exit(interactive(session, prompt))
