"""The house rules of docs/architecture.md, checked on the source: which package may
import which, no import cycles, the top level of federation/ and module sizes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("connectors", "products", "federation")

# Lowest first.  A module may import its own layer and the layers below it, never above
# (lazy imports inside functions count too).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("connectors",),
    ("products",),
    ("federation.errors",),
    ("federation.theme",),
    ("federation.governance",),
    ("federation.pipeline",),
    ("federation.engines", "federation.audit"),
    ("federation.result",),
    ("federation.mesh",),
    ("federation.checks", "federation.reports", "federation.access", "federation.publish"),
    ("federation.cli", "federation.shell", "federation.server", "federation.notebook",
     "federation"),
)
TOP_LEVEL = {"__init__.py", "errors.py", "mesh.py", "result.py", "notebook.py"}
MAX_LINES = 420
DEMO_DATA = {"products/demo.py", "products/demo_data.py"}  # contracts and policies as data


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from federation import audit`` may name a module, not a symbol.
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def _layer(module: str) -> int:
    parts = module.split(".")
    group = parts[0] if parts[0] != "federation" else ".".join(parts[:2])
    for rank, members in enumerate(LAYERS):
        if group in members:
            return rank
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS and the docs")


def test_lower_layers_never_import_upper_ones() -> None:
    sources = _sources()
    wrong = []
    for module, path in sources.items():
        for target in _imports(path, top_level_only=False):
            if target not in sources:
                continue  # a symbol, not a module
            if _layer(target) > _layer(module):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_import_cycles() -> None:
    sources = _sources()
    graph = {m: {t for t in _imports(p, top_level_only=True) if t in sources and t != m}
             for m, p in sources.items()}
    # A package imports its own __init__ first: that edge is how Python works, not a cycle.
    for module in graph:
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_federation_top_level_holds_only_the_public_api() -> None:
    assert {p.name for p in (ROOT / "federation").glob("*.py")} <= TOP_LEVEL


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_stay_small(package: str) -> None:
    big = {str(p.relative_to(ROOT)): n for p in (ROOT / package).rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES
           and str(p.relative_to(ROOT)) not in DEMO_DATA}
    assert big == {}


def test_every_subpackage_states_its_responsibility() -> None:
    for init in (ROOT / "federation").rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} needs a docstring"
