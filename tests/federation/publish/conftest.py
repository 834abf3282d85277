"""Fixtures of the publishing tests.

Most of these tests are about labels, masks and lineage as analysts meet them.  In the
demo, analysts read customers.profiles for their own region only, and a reader filtered
at a source reads a derived product only through a row-filtered grant of its own
(tests/federation/publish/test_row_filters_carried.py): so here ``demo_copy`` is the demo
with that row filter taken off, and ``demo_as_shipped`` the demo as it is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml


@pytest.fixture
def demo_as_shipped(demo_root: Path, tmp_path: Path) -> Path:
    """A private copy of the demo mesh, grants as shipped."""
    target = tmp_path / "shipped"
    shutil.copytree(demo_root, target, ignore=shutil.ignore_patterns("audit"))
    return target


@pytest.fixture
def demo_copy(demo_as_shipped: Path) -> Path:
    """The demo with customers' row filter for analysts (region = :region) taken off."""
    path = demo_as_shipped / "domains/customers/domain.yaml"
    domain = yaml.safe_load(path.read_text())
    for grant in domain["grants"]:
        if grant.get("roles") == ["analyst"]:
            assert grant.pop("row_filter") == "region = :region"
    path.write_text(yaml.safe_dump(domain, sort_keys=False))
    return demo_as_shipped
