"""The ``duckmesh`` command line: the click group, its error handling, and the table of
command families, each in its own module (one per noun).

Start-up is kept light: this module imports click and nothing heavy.  A command's module
(and with it duckdb, pyarrow, sqlglot, …) is imported only when that command runs or its
own ``--help`` is asked for; ``duckmesh --help`` lists every command from the table below
(``tests/test_cli_imports.py`` checks the table against the real commands).

Exit codes: 0 ok; 1 usage or input error; 3 access denied; 4 contract or quality
failure.  Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from federation.cli.suggest import SuggestingGroup
from federation.cli.warm import maybe_run
from federation.errors import DuckmeshError

__all__ = ["COMMANDS", "cli", "main"]

# Every top-level command: name -> (module, attribute, short help shown by `duckmesh --help`).
# To add a command, add one line here; the short help must equal the command's own
# (`command.get_short_help_str(limit=300)`): tests/test_cli_imports.py fails otherwise.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "access": ("federation.cli.access", "access",
               "Request access to products and columns; owners approve or deny."),
    "audit": ("federation.cli.audit", "audit_cmd",
              "The query log: who read what, under which decisions, with what outcome."),
    "check": ("federation.cli.contracts", "check_cmd",
              "Check products against their contracts and quality rules (exit 4 on failure)."),
    "demo": ("federation.cli.demo", "demo",
             "Write a complete demo mesh (travel agency) with data into DIRECTORY."),
    "diff": ("federation.cli.contracts", "diff_cmd",
             "Classify the changes between two versions of a contract (exit 4 if a breaking "
             "change lacks a major version bump)."),
    "explain": ("federation.cli.query", "explain",
                "Show the governed SQL and every policy decision, without running the query."),
    "lineage": ("federation.cli.query", "lineage_cmd",
                "For each output column: its source product columns, the transformation, and "
                "the classification it inherits (the strictest of its sources)."),
    "products": ("federation.cli.products", "products", "Discover data products."),
    "query": ("federation.cli.query", "query",
              "Run governed SQL naming products as domain.product."),
    "reports": ("federation.cli.reports", "reports",
                "Scheduled reports: governed SQL run as a principal on a cron schedule."),
    "serve": ("federation.cli.serve", "serve",
              "Serve the mesh to authenticated callers: Arrow Flight SQL and HTTP."),
    "shell": ("federation.cli.shell", "shell",
              "Interactive SQL shell, governed like query; runs piped statements when stdin "
              "is not a terminal."),
    "sql-features": ("federation.cli.sqlfeatures", "sql_features",
                     "List the statements, clauses and functions a governed query may use."),
    "tokens": ("federation.cli.tokens", "tokens",
               "Issue, list and revoke the bearer tokens of `duckmesh serve`."),
    "validate": ("federation.cli.contracts", "validate",
                 "Check every contract and governance file; errors name file, line and field."),
    "worker": ("federation.cli.worker", "worker",
               "A warm process that runs this user's query and explain commands fast."),
}


def _fail(message: str, code: int) -> NoReturn:
    """The same one line as ``render.fail``, without importing render (pyarrow, rich)."""
    click.echo(f"duckmesh: error: {message}", err=True)
    sys.exit(code)


def _reader_went_away() -> NoReturn:
    """stdout's reader closed it (``duckmesh query … | head``): stop quietly, exit 141 as
    a Unix tool stopped by SIGPIPE does.  Unfinished results are closed first, so the
    query's connection is released and its audit record written."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would fail again
    gc.collect()
    sys.exit(141)


def load_command(name: str) -> click.Command:
    """The command ``name`` of :data:`COMMANDS`, importing its module now."""
    module_name, attribute, _ = COMMANDS[name]
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{module_name}.{attribute} is not a click command")
    return command


class DuckmeshGroup(SuggestingGroup):
    """A click group that loads its commands lazily (from :data:`COMMANDS`) and turns
    every error into one line and a documented exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        command = load_command(cmd_name)
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from the table, so that ``--help`` imports none of them."""
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is not None:
                if command.hidden:
                    continue
                short = command.get_short_help_str(limit)
            else:
                short = click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit)
            rows.append((name, short))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DuckmeshError as exc:
            if ctx.meta.get("duckmesh.debug"):
                traceback.print_exc()
            _fail(str(exc), exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            _reader_went_away()
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            # Unknown errors may quote data: show the class only, unless --debug.
            if ctx.meta.get("duckmesh.debug"):
                traceback.print_exc()
            _fail(f"internal error ({type(exc).__name__}); rerun with --debug for details", 1)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the CLI; usage errors exit 1 as DESIGN.md documents, not click's 2."""
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        except click.UsageError as exc:
            # One line like every other error, pointing at the command's help.
            command = exc.ctx.command_path if exc.ctx is not None else "duckmesh"
            _fail(f"{exc.format_message()} (see `{command} --help`)", 1)
        except click.ClickException as exc:
            _fail(exc.format_message(), 1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=DuckmeshGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--mesh", "mesh_path", type=click.Path(file_okay=False, path_type=Path),
              envvar="DUCKMESH_MESH",
              help="mesh folder (default: $DUCKMESH_MESH, else the nearest folder upwards "
                   "holding duckmesh.yaml)")
@click.option("--debug", is_flag=True, help="show tracebacks on errors")
@click.version_option(package_name="duckmesh")
@click.pass_context
def cli(ctx: click.Context, mesh_path: Path | None, debug: bool) -> None:
    """duckmesh: governed SQL across the data products of a data mesh."""
    ctx.meta["duckmesh.debug"] = debug
    ctx.obj = {"mesh_path": mesh_path}


def main() -> None:
    """Console-script entry point: the command runs in this user's warm worker if one
    runs (``duckmesh worker start``, :mod:`federation.cli.warm`), else here."""
    code = maybe_run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    cli.main(prog_name="duckmesh")


if __name__ == "__main__":
    main()
