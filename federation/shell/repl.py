"""The shell's two ways of reading: a prompt_toolkit loop on a terminal, and the
statements of a pipe or file (``duckmesh shell < report.sql``).

Interactive: history kept in the user's state folder, completion of what the caller may
use, SQL colouring (pygments), Enter runs once the statement ends with ``;`` (a
dot-command runs at once), Ctrl-C clears the line at the prompt and cancels a running
query without leaving, Ctrl-D leaves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from federation.shell.dot import Quit
from federation.shell.split import Unit, complete, split

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import Input
    from prompt_toolkit.output import Output

    from federation.shell.session import Session

BANNER = "duckmesh shell: governed SQL as {user} on mesh {mesh}. End SQL with ';'; .help"


def history_path() -> Path:
    """Where the shell keeps its history: ``$XDG_STATE_HOME/duckmesh/history`` (default
    ``~/.local/state/duckmesh/history``)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "duckmesh" / "history"


def run_script(session: Session, stream: TextIO) -> int:
    """Run every statement and dot-command read from ``stream``; the exit code of the
    first failure (0 if none).  A last statement without ``;`` is run too."""
    units, rest = split(stream.read())
    if rest.strip():
        units.append(Unit("sql", rest.strip()))
    for unit in units:
        try:
            session.run(unit)
        except Quit:
            break
    return session.exit_code


def prompt_session(session: Session, history: Path | None, *, input: Input | None = None,
                   output: Output | None = None) -> PromptSession[str]:
    """The prompt_toolkit session of the shell: multi-line SQL ended by ``;``, history,
    completion, highlighting.  ``input``/``output`` let tests drive it through a pipe."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.key_binding.key_processor import KeyPressEvent
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.sql import SqlLexer

    from federation.shell.complete import MeshCompleter, names_for

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    store: Any = InMemoryHistory()
    if history is not None:
        history.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Statements may hold values typed by hand (a customer's email): owner-only file.
        history.touch(mode=0o600, exist_ok=True)
        store = FileHistory(str(history))
    return PromptSession(
        message="D ", multiline=True, key_bindings=bindings, history=store,
        completer=MeshCompleter(names_for(session.mesh, session.user, session.purpose)),
        lexer=PygmentsLexer(SqlLexer), complete_while_typing=False,
        prompt_continuation=lambda width, line, wrap: "· ".rjust(width),
        input=input, output=output)


def interactive(session: Session, prompt: PromptSession[str]) -> int:
    """Read, run, repeat until ``.quit`` or Ctrl-D; 0 (errors were shown as they came)."""
    session.echo(BANNER.format(user=session.user, mesh=session.mesh.root))
    while True:
        try:
            text = prompt.prompt()
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt: drop the line, stay
        except EOFError:
            break
        units, rest = split(text)
        if rest.strip():
            units.append(Unit("sql", rest.strip()))
        try:
            for unit in units:
                session.run(unit)
        except Quit:
            break
    return 0
