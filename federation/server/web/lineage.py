"""Upstream and downstream lineage of a product, laid out for an SVG graph.

Upstream: the products its contract names as its sources (``customProperties``
``upstream``, as derived products record them).  Downstream: products that name it so,
and the scheduled reports whose SQL reads it.  Names only — no data — so the graph is
the same for everyone; each node links to its page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from federation.errors import DuckmeshError
from federation.mesh import Mesh
from federation.pipeline.parse import parse
from products.contract import Product

NODE_W, NODE_H, GAP_Y, COLUMN_X = 210, 34, 14, (10, 300, 590)
UPSTREAM_KEYS = ("upstream", "duckmesh.upstream", "sources")


@dataclass(frozen=True)
class Node:
    label: str
    kind: str
    """``product``, ``self`` or ``report``."""
    href: str | None
    x: float
    y: float


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)
    width: int = COLUMN_X[2] + NODE_W + 10
    height: int = NODE_H + 20
    upstream: list[str] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)

    @property
    def w(self) -> int:
        return NODE_W

    @property
    def h(self) -> int:
        return NODE_H


def declared_upstream(product: Product) -> list[str]:
    """The products ``product``'s contract names as its sources."""
    out: list[str] = []
    for prop in product.raw.get("customProperties") or []:
        if not isinstance(prop, dict) or prop.get("property") not in UPSTREAM_KEYS:
            continue
        value = prop.get("value")
        items = value if isinstance(value, list) else [value]
        for item in items:
            name = item.get("product") if isinstance(item, dict) else item
            if isinstance(name, str) and "." in name:
                out.append(name.strip().lower())
    return list(dict.fromkeys(out))


def report_reads(mesh: Mesh) -> dict[str, list[str]]:
    """Each readable report's name → the products its SQL names."""
    from federation.reports.spec import ReportSpec, load_reports, report_sql

    out: dict[str, list[str]] = {}
    for spec in load_reports(mesh.root):
        if not isinstance(spec, ReportSpec):
            continue
        try:
            tree = parse(report_sql(mesh.root, spec))
        except DuckmeshError:
            continue
        names = {f"{t.db}.{t.name}".lower() for t in tree.find_all(exp.Table) if t.db}
        out[spec.name] = sorted(names)
    return out


def graph(mesh: Mesh, product: Product) -> Graph:
    """The lineage of ``product``, laid out left (upstream) to right (downstream)."""
    upstream = [(n, "product", f"/products/{n}") for n in declared_upstream(product)]
    downstream: list[tuple[str, str, str | None]] = [
        (p.fqn, "product", f"/products/{p.fqn}") for p in mesh.catalog
        if product.fqn in declared_upstream(p)]
    downstream += [(f"report {name}", "report", f"/reports/{name}")
                   for name, reads in sorted(report_reads(mesh).items())
                   if product.fqn in reads]
    rows = max(len(upstream), len(downstream), 1)
    height = rows * (NODE_H + GAP_Y) + 10
    out = Graph(height=height, upstream=[u[0] for u in upstream],
                downstream=[d[0] for d in downstream])
    middle_y = (height - NODE_H) / 2
    me = Node(product.fqn, "self", None, COLUMN_X[1], middle_y)
    out.nodes.append(me)
    for column, items in ((0, upstream), (2, downstream)):
        top = (height - len(items) * (NODE_H + GAP_Y) + GAP_Y) / 2
        for i, (label, kind, href) in enumerate(items):
            node = Node(label, kind, href, COLUMN_X[column], top + i * (NODE_H + GAP_Y))
            out.nodes.append(node)
            left, right = (node, me) if column == 0 else (me, node)
            out.edges.append(_edge(left, right))
    return out


def _edge(left: Node, right: Node) -> str:
    x1, y1 = left.x + NODE_W, left.y + NODE_H / 2
    x2, y2 = right.x, right.y + NODE_H / 2
    mid = (x1 + x2) / 2
    return f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2 - 6:.0f},{y2:.0f}"

