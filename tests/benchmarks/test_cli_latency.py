"""benchmarks/cli_latency.py's generated mesh stays a valid mesh as contracts evolve (the
benchmark itself never runs in the test suite: no timing assertions in tests)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.cli_latency import big_mesh
from products.catalog import Catalog


def test_the_generated_mesh_opens_with_every_product(demo_root: Path, tmp_path: Path) -> None:
    root = big_mesh(tmp_path, demo_root, 3)
    catalog = Catalog.load(root)
    assert not catalog.broken, next(iter(catalog.broken.values()), None)
    generated = [p for p in catalog if p.domain.startswith("gen")]
    assert [p.fqn for p in generated] == ["gen00.p000", "gen00.p001", "gen00.p002"]
    assert len({p.server.location for p in generated}) == 3
