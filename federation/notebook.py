"""IPython integration: ``%load_ext federation``, then ``%%mesh`` cells of governed SQL.

```
%mesh_defaults --user ana --mesh ../demo-mesh      # optional session defaults
%%mesh --user ana --out revenue
SELECT c.country, sum(p.amount) AS revenue FROM ...
```

The cell's value is a pandas DataFrame (a :class:`GovernedFrame`) that displays with a
footer naming the products read and the policy decisions applied; ``--out NAME`` also
binds it in the notebook.  The SQL body is never interpolated (``{x}`` stays literal):
``--param NAME=VARIABLE`` binds ``$NAME`` in the SQL to the notebook variable's value, as
a value (``%%mesh --param country=chosen`` with ``chosen = "FR"``; ``--param NAME`` alone
takes the variable of the same name).  Errors print one line (``duckmesh: error: …``;
a denial says whom to ask) and the cell returns nothing: no traceback, nothing from the
data.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from federation.errors import AccessDenied, DuckmeshError, UsageError
from federation.mesh import Mesh, default_user
from federation.pipeline.query import Decision
from federation.result import Result

if TYPE_CHECKING:
    from federation.server.client import Connection, RemoteResult

_QUIET_ACTIONS = frozenset({"allow", "grant"})


def footer_lines(result: Result | RemoteResult, user: str) -> list[str]:
    """What the footer says: who, which products, which decisions shaped the result."""
    columns_read = result.query.columns_read if isinstance(result, Result) else \
        result.columns_read
    read = {fqn: {c.lower() for c in cols} for fqn, cols in columns_read.items()}
    # Masks on columns the query does not read did not shape this result: leave them out.
    shaping = [d for d in result.decisions if d.action not in _QUIET_ACTIONS
               and not (d.action.startswith("mask:") and d.column
                        and d.column.lower() not in read.get(d.product, set()))]
    lines = [f"governed for {user} · products read: {', '.join(result.products)}"]
    if not shaping:
        lines.append("no masks, filters or hidden columns applied")
    for d in shaping:
        lines.append(_describe(d))
    return lines


def _describe(d: Decision) -> str:
    target = f"{d.product}.{d.column}" if d.column else d.product
    if d.action.startswith("mask:"):
        return f"{target}: masked ({d.action.split(':', 1)[1]}) by {d.reason}"
    if d.action == "row_filter":
        return f"{target}: rows filtered ({d.detail}) by {d.reason}"
    if d.action == "deny":
        return f"{target}: hidden by {d.reason}"
    return f"{target}: {d.action} by {d.reason}"


class GovernedFrame(pd.DataFrame):
    """A DataFrame from ``%%mesh`` that shows how governance shaped it.

    Derived frames (``df.head()``, ``df[...]``) are plain DataFrames: the footer describes
    this result only.
    """

    _metadata: ClassVar[list[str]] = ["duckmesh_footer"]
    duckmesh_footer: list[str]

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def _repr_html_(self) -> str | None:
        table = pd.DataFrame(self)._repr_html_() or ""
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.duckmesh_footer)
        return (f"{table}<div class='duckmesh-footer' style='font-size:smaller;color:#555'>"
                f"<ul style='margin:0'>{items}</ul></div>")

    def __repr__(self) -> str:
        return pd.DataFrame(self).__repr__() + "\n" + "\n".join(
            f"-- {line}" for line in self.duckmesh_footer)


def governed_frame(result: Result | RemoteResult, user: str) -> GovernedFrame:
    """The result as a :class:`GovernedFrame`, with the stamp in ``attrs['duckmesh']``."""
    frame = GovernedFrame(result.df())
    frame.duckmesh_footer = footer_lines(result, user)
    frame.attrs["duckmesh"] = {"user": user, "products": list(result.products),
                               "stamp": result.stamp}
    return frame


@magics_class
class MeshMagics(Magics):
    """``%%mesh`` and ``%mesh_defaults``."""

    def __init__(self, shell: InteractiveShell) -> None:
        super().__init__(shell)
        self.user: str | None = None
        self.mesh_path: str | None = None
        self.server: str | None = None
        self.token_file: str | None = None
        self._connections: dict[str, Connection] = {}
        self._meshes: dict[Path, Mesh] = {}

    def _mesh(self, path: str | None) -> Mesh:
        root = Mesh.locate(path or self.mesh_path)
        if root not in self._meshes:
            self._meshes[root] = Mesh.open(root)
        return self._meshes[root]

    @magic_arguments()
    @argument("--user", "-u", help="run as this user (default: $DUCKMESH_USER, else you)")
    @argument("--mesh", "-m", help="mesh folder (default: $DUCKMESH_MESH, else upwards)")
    @argument("--server", help="a duckmesh server (grpc://HOST:8815) instead of a mesh")
    @argument("--token-file", help="file holding your token (default: $DUCKMESH_TOKEN)")
    @line_magic
    def mesh_defaults(self, line: str) -> None:
        """Set the user and mesh later ``%%mesh`` cells use when they name none."""
        args = parse_argstring(self.mesh_defaults, line)
        self.user = args.user or self.user
        self.mesh_path = args.mesh or self.mesh_path
        self.server = args.server or self.server
        self.token_file = args.token_file or self.token_file

    def _remote(self, server: str, token_file: str | None) -> Connection:
        """The connection to ``server`` (one per server), authenticated by the token."""
        if server not in self._connections:
            from federation.server.client import connect

            token = Path(token_file).read_text().strip() if token_file else None
            self._connections[server] = connect(server, token)
        return self._connections[server]

    @magic_arguments()
    @argument("--user", "-u", help="run as this user")
    @argument("--mesh", "-m", help="mesh folder")
    @argument("--as-of", help="read Iceberg products at this snapshot id or time")
    @argument("--purpose", help="a purpose declared in governance/policies.yaml")
    @argument("--server", help="run on this duckmesh server, as your token's principal")
    @argument("--token-file", help="file holding your token for --server")
    @argument("--out", "-o", help="also store the DataFrame in this variable")
    @argument("--param", "-p", action="append", default=[], metavar="NAME=VARIABLE",
              help="bind $NAME in the SQL to this notebook variable's value (repeatable)")
    @cell_magic
    def mesh(self, line: str, cell: str) -> GovernedFrame | None:
        """Run the cell as governed SQL; the value is a DataFrame with a governance footer."""
        args = parse_argstring(self.mesh, line)
        user = args.user or self.user or default_user()
        server = args.server or (None if args.mesh else self.server)
        try:
            params = self._params(args.param)
            if server:
                if args.user:
                    raise UsageError("--user cannot be used with --server: the server knows "
                                     "you by your token")
                remote = self._remote(server, args.token_file or self.token_file) \
                    .sql(cell, params, purpose=args.purpose)
                frame = governed_frame(remote, remote.principal)
            else:
                result = self._mesh(args.mesh).sql(cell, user=user, as_of=args.as_of,
                                                   purpose=args.purpose, label="notebook",
                                                   params=params)
                frame = governed_frame(result, user)
        except DuckmeshError as exc:
            if not server and isinstance(exc, AccessDenied):
                from federation.access.guide import guided

                exc = guided(exc, self._mesh(args.mesh).catalog, args.purpose)
            sys.stderr.write(f"duckmesh: error: {exc}\n")
            return None
        if args.out and self.shell is not None:
            self.shell.user_ns[args.out] = frame
        return frame


    def _params(self, given: list[str]) -> dict[str, Any] | None:
        """``--param NAME=VARIABLE`` pairs: each name with the notebook variable's value
        (bound by the mesh as a value, never spliced into the SQL)."""
        namespace = self.shell.user_ns if self.shell is not None else {}
        values: dict[str, Any] = {}
        for pair in given:
            name, _, variable = pair.partition("=")
            name, variable = name.strip().removeprefix("$"), (variable or name).strip()
            if not name.isidentifier() or not variable.isidentifier():
                raise UsageError(f"--param takes NAME=VARIABLE, not {pair!r}")
            if variable not in namespace:
                raise UsageError(f"--param {name}: no notebook variable {variable!r}")
            values[name] = namespace[variable]
        return values or None


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext federation``."""
    ipython.register_magics(MeshMagics)
