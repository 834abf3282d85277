"""``duckmesh shell``: an interactive SQL shell in the DuckDB CLI's spirit, governed
exactly like ``duckmesh query``.

``split`` cuts text into statements and dot-commands (sqlglot's tokenizer: a ``;`` in a
string or a comment ends nothing); ``session`` runs each one through ``Mesh.sql`` (one
audit record per statement) and renders it in the chosen ``.mode``; ``dot`` holds the
dot-commands; ``complete`` offers the names the caller may use; ``repl`` is the
prompt_toolkit loop (history, completion, highlighting, Ctrl-C cancels the running query)
and the non-interactive path that runs piped statements.
"""
