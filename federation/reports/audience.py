"""A report is governed as its audience, and written only where the platform allows.

A report's output goes to everyone in its audience, so it may show only what every one
of them could query: the report runs when every member gets the same governed view of
every product it reads — the same columns, each allowed, masked the same way or hidden
alike, and the same row filter once bound to the member — and is refused otherwise,
naming the member and the column whose view differs.

Destinations lie under ``reports.destinations`` of duckmesh.yaml (default ``out/``):
checked after the slot is filled in (a ``{slot:…}`` format could spell ``..``), with
symlinks resolved and object keys compared by path segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from federation.errors import AccessDenied, ConfigError
from federation.governance.access import ProductAccess
from federation.governance.model import Governance
from federation.mesh import Mesh
from federation.pipeline import DECIDE, run
from federation.pipeline.params import bind
from federation.reports.spec import ReportSpec
from products.ownership import PlaceError, place


def members(spec: ReportSpec, governance: Governance) -> list[str]:
    """The users a report is for: those named, and every user holding one of its roles."""
    audience = spec.readers
    users = governance.principals.users
    for name in audience.users:
        if name not in users:
            raise ConfigError(f"the audience names unknown user {name!r}",
                              field="run_as" if spec.run_as else "audience.users",
                              file=f"reports/{spec.name}.yaml")
    found = set(audience.users) | {u for u, s in users.items() if set(s.roles) & set(
        audience.roles)}
    if not found:
        raise ConfigError(f"no user holds a role of the audience ({audience.describe()})",
                          field="audience.roles", file=f"reports/{spec.name}.yaml")
    return sorted(found)


@dataclass(frozen=True)
class View:
    """What one member sees of one product: per column, its decision; the row filter."""

    columns: tuple[tuple[str, str, str | None], ...]
    row_filter: str | None

    @classmethod
    def of(cls, access: ProductAccess) -> View:
        columns = tuple((c.column.name, c.action, c.method) for c in access.columns)
        text = access.row_filter.sql(dialect="duckdb") if access.row_filter is not None \
            else None
        return cls(columns, text)

    def difference(self, other: View) -> str:
        """The first column (or the row filter) that differs, in words."""
        for (name, action, method), (_, action2, method2) in zip(self.columns, other.columns,
                                                                 strict=True):
            if (action, method) != (action2, method2):
                return f"column {name} ({_decision(action, method)} vs " \
                       f"{_decision(action2, method2)})"
        return "the row filter"


def _decision(action: str, method: str | None) -> str:
    return f"mask {method}" if action == "mask" else action


def audience_principal(mesh: Mesh, spec: ReportSpec, sql: str,
                       params: dict[str, object] | None = None) -> str:
    """The member the report runs as, once every member is shown to get the same view;
    AccessDenied naming the member and column otherwise."""
    readers = members(spec, mesh.governance)
    views: dict[str, View] | None = None
    first = readers[0]
    for member in readers:
        ctx = mesh.context(member, purpose=spec.purpose)
        try:
            decided = run(bind(sql, params), ctx, DECIDE)
        except AccessDenied as exc:
            raise AccessDenied(f"report {spec.name}: audience member {member!r} may not "
                               f"read it ({exc.message})", product=exc.product,
                               column=exc.column) from None
        mine = {fqn: View.of(a) for fqn, a in decided.access.items()}
        if views is None:
            views = mine
            continue
        for fqn, view in mine.items():
            if view != views[fqn]:
                raise AccessDenied(
                    f"report {spec.name}: audience member {member!r} sees {fqn} differently "
                    f"from {first!r}: {views[fqn].difference(view)}; the report would show "
                    "someone what they could not query", product=fqn,
                    hint="narrow the audience, or give its members the same grant")
    return first


def check_destination(mesh: Mesh, target: str) -> None:
    """ConfigError unless ``target`` lies under a declared report destination."""
    roots = mesh.settings.reports.destinations
    try:
        where = place(target, mesh.root)
        allowed = [place(r, mesh.root) for r in roots]
    except PlaceError as exc:
        raise ConfigError(f"report destination {target!r}: {exc}") from None
    if not any(where.within(root) and where != root for root in allowed):
        raise ConfigError(f"report destination {target!r} is outside the declared report "
                          f"destinations ({', '.join(roots)})", field="reports.destinations",
                          hint="duckmesh.yaml reports.destinations lists where reports "
                               "may write")

