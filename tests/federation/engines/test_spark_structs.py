"""Nested columns on Spark (the struct mesh of tests/federation/pipeline/test_nested_masks.py):
structs, lists of structs, lists and maps read whole give DuckDB's answer; masks inside
them are refused (fail closed), never computed differently."""

from __future__ import annotations

from typing import Any

import pytest

from federation import Mesh
from federation.errors import QueryRejected
from tests.federation.engines.spark_parity import difference, needs_spark
from tests.federation.pipeline.test_nested_masks import build


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    return Mesh.open(build(tmp_path_factory.mktemp("nested") / "mesh"))


@needs_spark
def test_nested_columns_read_whole_equal_duckdb(nested: Mesh, spark: Any) -> None:
    sql = "SELECT id, s, l, tags, m FROM crm.nested ORDER BY id"
    duck = nested.sql(sql, user="adam").arrow()
    on_spark = nested.sql(sql, user="adam", engine="spark").arrow()
    assert difference(duck, on_spark, ordered=True) is None


@pytest.mark.parametrize("column", ["s", "l", "tags"])
def test_masks_inside_nested_columns_are_refused(nested: Mesh, column: str) -> None:
    with pytest.raises(QueryRejected, match=f"the mask of column {column} .*not supported "
                                            "on the spark engine"):
        nested.sql(f"SELECT id, {column} FROM crm.nested", user="ana", engine="spark").arrow()
    assert nested.sql(f"SELECT id, {column} FROM crm.nested", user="ana").arrow().num_rows == 4
