"""One shell session: who asks, the output settings the dot-commands change, and running
each unit through the governed path.

Every SQL statement goes to :meth:`federation.Mesh.sql` as the session's user, exactly
as ``duckmesh query`` sends it: the same pipeline, the same audit record (one per
statement), the same one-line errors.  A failed statement prints its line and the
session goes on; :attr:`Session.exit_code` remembers the first failure.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console

from federation.errors import DuckmeshError, UsageError
from federation.shell.split import Unit

if TYPE_CHECKING:
    import pyarrow as pa

    from federation.engines.duckdb import Execution
    from federation.mesh import Mesh

MODES = ("table", "csv", "json", "markdown", "line")
"""What ``.mode`` accepts: terminal tables, ``column = value`` lines, or a stream."""


@dataclass
class Session:
    """The state of one shell: the mesh, the caller and the output settings."""

    mesh: Mesh
    user: str
    purpose: str | None = None
    engine: str | None = None
    mode: str = "table"
    timer: bool = False
    max_rows: int = 1000
    output: Path | None = None
    exit_code: int = 0
    _executions: list[Execution] = field(default_factory=list)
    _cancelled: bool = False

    # -- where output goes -------------------------------------------------------------

    @contextlib.contextmanager
    def text(self) -> Iterator[IO[str]]:
        """The text stream output goes to now: stdout, or the ``.output`` file (appended)."""
        if self.output is None:
            yield sys.stdout
            sys.stdout.flush()
            return
        with self.output.open("a", encoding="utf-8") as handle:
            yield handle

    def console(self, handle: IO[str]) -> Console:
        """A rich console on ``handle``: the terminal's width and colours on a terminal,
        plain unwrapped lines in a pipe or a file."""
        tty = handle.isatty()
        return Console(file=handle, width=None if tty else 10_000,
                       no_color=not tty, highlight=False)

    def echo(self, text: str) -> None:
        """One line (or block) of text to the current output."""
        with self.text() as handle:
            handle.write(text + ("" if text.endswith("\n") else "\n"))

    @staticmethod
    def error(message: str) -> None:
        """One error line on stderr, as every duckmesh command prints it."""
        sys.stderr.write(f"duckmesh: error: {message}\n")
        sys.stderr.flush()

    # -- running units -------------------------------------------------------------------

    def run(self, unit: Unit) -> None:
        """Run one statement or dot-command; errors print one line and are remembered."""
        from federation.access.guide import guided
        from federation.shell.dot import Quit, run_dot

        started = time.perf_counter()
        try:
            if unit.kind == "dot":
                run_dot(self, unit.text)
            else:
                self.sql(unit.text)
        except DuckmeshError as exc:
            exc = guided(exc, self.mesh.catalog, self.purpose)
            self.error(str(exc))
            self.exit_code = self.exit_code or exc.exit_code
        except KeyboardInterrupt:
            self.error("query cancelled (Ctrl-C)")
            self.exit_code = self.exit_code or 130
        except (Quit, BrokenPipeError):
            raise  # .quit, or the reader of stdout is gone: nothing more can be shown
        except Exception as exc:  # noqa: BLE001 - one failed statement must not end the shell
            # As the CLI's last line of defence: unknown errors may quote data, so the
            # class only.
            self.error(f"internal error ({type(exc).__name__})")
            self.exit_code = self.exit_code or 1
        finally:
            self._executions.clear()
        if self.timer and unit.kind == "sql":
            sys.stderr.write(f"Run Time: {time.perf_counter() - started:.3f} s\n")

    def sql(self, text: str) -> None:
        """Run one governed statement as the session's user and render its rows."""
        with self._cancel_on_ctrl_c():
            result = self.mesh.sql(text, user=self.user, purpose=self.purpose,
                                   engine=self.engine, on_start=self._executions.append)
            for warning in result.warnings:
                sys.stderr.write(f"duckmesh: warning: {warning}\n")
            self.render(result.reader())

    def render(self, reader: pa.RecordBatchReader) -> None:
        """Rows in the session's mode, to the current output."""
        from connectors.writers import write_stream
        from federation.cli.render import preview, render_lines, render_table

        with self.text() as handle:
            if self.mode in ("table", "line"):
                shown, total = preview(reader, self.max_rows)
                draw = render_table if self.mode == "table" else render_lines
                draw(shown, self.max_rows, self.console(handle), total=total)
                return
            handle.flush()
            binary = getattr(handle, "buffer", None)
            if binary is None:  # a text-only stream (tests): write through a buffer
                buffer = io.BytesIO()
                write_stream(reader, self.mode, buffer)
                handle.write(buffer.getvalue().decode())
            else:
                write_stream(reader, self.mode, binary)
                binary.flush()

    @contextlib.contextmanager
    def _cancel_on_ctrl_c(self) -> Iterator[None]:
        """While a statement runs, Ctrl-C interrupts its DuckDB connection: the statement
        ends (audited as interrupted) and the shell goes on."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        from federation.engines import duckdb as engine

        def cancel(signum: int, frame: Any) -> None:
            if not self._executions:
                raise KeyboardInterrupt  # still planning: stop it where it is
            self._cancelled = True
            # interrupt_all marks queries ending now as interrupted (so their audit
            # records say so); the mark is taken back once this statement has ended.
            engine.interrupt_all()

        previous = signal.signal(signal.SIGINT, cancel)
        try:
            yield
        except DuckmeshError:
            if self._cancelled:
                raise KeyboardInterrupt from None
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
            if self._cancelled:
                engine.TERMINATING.clear()
                self._cancelled = False


def check_mode(mode: str) -> str:
    """``mode`` if ``.mode`` knows it, else a UsageError naming the modes."""
    if mode not in MODES:
        from federation.cli.suggest import nearest

        close = nearest(mode, list(MODES), n=1)
        raise UsageError(f"unknown mode {mode!r}" + (f"; did you mean {close[0]}?" if close
                                                      else ""),
                         hint="modes: " + ", ".join(MODES))
    return mode
