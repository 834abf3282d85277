"""The ``duckmesh`` command line: the click group, its error handling, and the command
families registered from their own modules (one per noun).

Exit codes: 0 ok; 1 usage or input error; 3 access denied; 4 contract or quality
failure.  Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from federation.cli import (
    access,
    audit,
    contracts,
    demo,
    products,
    query,
    reports,
    serve,
    tokens,
)
from federation.cli.render import fail
from federation.errors import DuckmeshError

__all__ = ["cli", "main"]


def _reader_went_away() -> NoReturn:
    """stdout's reader closed it (``duckmesh query … | head``): stop quietly, exit 141 as
    a Unix tool stopped by SIGPIPE does.  Unfinished results are closed first, so the
    query's connection is released and its audit record written."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would fail again
    gc.collect()
    sys.exit(141)


class DuckmeshGroup(click.Group):
    """A click group that turns every error into one line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DuckmeshError as exc:
            if ctx.meta.get("duckmesh.debug"):
                traceback.print_exc()
            fail(str(exc), exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:
            _reader_went_away()
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            # Unknown errors may quote data: show the class only, unless --debug.
            if ctx.meta.get("duckmesh.debug"):
                traceback.print_exc()
            fail(f"internal error ({type(exc).__name__}); rerun with --debug for details", 1)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the CLI; usage errors exit 1 as DESIGN.md documents, not click's 2."""
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            fail("aborted", 1)
        except click.UsageError as exc:
            # One line like every other error, pointing at the command's help.
            command = exc.ctx.command_path if exc.ctx is not None else "duckmesh"
            fail(f"{exc.format_message()} (see `{command} --help`)", 1)
        except click.ClickException as exc:
            fail(exc.format_message(), 1)
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


# Each noun's module declares its commands; the group only lists them (help sorts them).
for _command in (query.query, query.explain, query.lineage_cmd,
                 contracts.validate, contracts.diff_cmd, contracts.check_cmd,
                 audit.audit_cmd, demo.demo, products.products, reports.reports,
                 serve.serve, tokens.tokens, access.access):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="duckmesh")


if __name__ == "__main__":
    main()
