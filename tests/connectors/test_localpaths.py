"""Resolved local paths follow the files as they are now, not as they were first seen."""

from __future__ import annotations

import os
from pathlib import Path

from connectors.localpaths import real_path


def _switch(link: Path, target: str) -> None:
    """Point ``link`` elsewhere the way publishing does: a new symlink renamed over it."""
    staged = link.with_name(link.name + ".new")
    staged.symlink_to(target)
    os.replace(staged, link)


def test_a_switched_symlink_resolves_to_its_new_target(tmp_path: Path) -> None:
    for name in ("v1", "v2", "v3"):
        (tmp_path / name).mkdir()
    current = tmp_path / "current"
    current.symlink_to("v1")
    assert real_path(current) == (tmp_path / "v1").resolve()
    for name in ("v2", "v3", "v1"):
        _switch(current, name)
        assert real_path(current) == (tmp_path / name).resolve()
        assert real_path(current) == current.resolve()


def test_a_file_swapped_for_a_symlink_resolves_to_the_target(tmp_path: Path) -> None:
    (tmp_path / "inside").mkdir()
    (tmp_path / "outside").mkdir()
    data = tmp_path / "inside" / "part.parquet"
    data.write_bytes(b"x")
    (tmp_path / "outside" / "secret.parquet").write_bytes(b"y")
    assert real_path(data) == data.resolve()
    data.unlink()
    data.symlink_to(tmp_path / "outside" / "secret.parquet")
    assert real_path(data) == (tmp_path / "outside" / "secret.parquet").resolve()


def test_a_directory_above_swapped_for_a_symlink_is_seen(tmp_path: Path) -> None:
    for folder in ("inside/part", "outside/part"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "f.parquet").write_bytes(b"x")
    path = tmp_path / "inside" / "part" / "f.parquet"
    assert real_path(path) == path.resolve()
    os.rename(tmp_path / "inside" / "part", tmp_path / "inside" / "old")
    (tmp_path / "inside" / "part").symlink_to(tmp_path / "outside" / "part")
    assert real_path(path) == (tmp_path / "outside" / "part" / "f.parquet").resolve()


def test_missing_paths_resolve_as_pathlib_does(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "x"
    assert real_path(missing) == missing.resolve()
    missing.parent.mkdir()
    (tmp_path / "elsewhere").mkdir()
    missing.symlink_to(tmp_path / "elsewhere")
    assert real_path(missing) == (tmp_path / "elsewhere").resolve()
