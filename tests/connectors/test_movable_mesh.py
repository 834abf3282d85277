"""A mesh folder can move (issue 14, item 2): copied, moved or cloned, its Iceberg
products read the files under the mesh, never where the catalog first recorded them (the
moved case is in test_iceberg_evolution.py, on a small lake)."""

from __future__ import annotations

from pathlib import Path

from federation import Mesh

CAMPAIGNS = "SELECT count(*) AS n, sum(budget) AS b FROM marketing.campaigns"


def _files(mesh: Mesh) -> list[str]:
    result = mesh.sql(CAMPAIGNS, user="adam")
    result.arrow()
    return [f["path"] for f in result.stamp["products"]["marketing.campaigns"]["files"]]


def test_a_copied_mesh_reads_its_own_files(demo_root: Path, demo_copy: Path) -> None:
    """``cp -r`` (or a git clone): the original is still there, and must not be read."""
    copy, original = Mesh.open(demo_copy), Mesh.open(demo_root)
    assert copy.sql(CAMPAIGNS, user="adam").arrow().to_pylist() == \
        original.sql(CAMPAIGNS, user="adam").arrow().to_pylist()
    files = _files(copy)
    assert files and all(f.startswith(str(demo_copy.resolve())) for f in files)
