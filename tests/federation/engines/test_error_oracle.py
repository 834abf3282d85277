"""An error raised by the caller's expression must never be about a row they may not see.

If DuckDB evaluated the caller's predicate before the row filter, an expression that
fails only on one value (malformed JSON, an overflow) would turn the query's success or
failure into a yes/no answer about hidden rows.  duckmesh turns the caller's CASTs into
TRY_CASTs for that reason; for every other failing expression it relies on DuckDB
applying the row filter of the secured subquery first.  These tests hold DuckDB to that,
with pushable and non-pushable row filters, so an engine upgrade that reorders them
fails here.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from federation import Mesh
from tests.helpers import col, contract, policies, write_yaml

ROWS = 20_000
HIDDEN_ID = 4242  # an even id: region NA, hidden from the EU analyst
BIG = 9223372036854775807 - HIDDEN_ID + 1  # HIDDEN_ID + BIG overflows


def mesh_with(tmp_path: Path, row_filter: str) -> Path:
    root = tmp_path / "mesh"
    table = pa.table({
        "id": pa.array(range(ROWS), pa.int64()),
        "region": ["EU" if i % 2 else "NA" for i in range(ROWS)],
        # Visible rows hold valid JSON; hidden ones do not.
        "doc": ['{"a": 1, "l": [1, 2]}' if i % 2 else "not json" for i in range(ROWS)],
    })
    (root / "data/crm/people").mkdir(parents=True)
    pq.write_table(table, root / "data/crm/people/part-0.parquet", row_group_size=2_000)
    write_yaml(root / "duckmesh.yaml", {"name": "t", "secret": "oracle-test"})
    write_yaml(root / "governance/principals.yaml", {"users": {
        "ana": {"roles": ["analyst"], "attributes": {"region": "EU"}}}})
    write_yaml(root / "governance/policies.yaml", policies([]))
    write_yaml(root / "domains/crm/domain.yaml", {"grants": [
        {"products": ["people"], "roles": ["analyst"], "row_filter": row_filter}]})
    write_yaml(root / "domains/crm/people.odcs.yaml", contract(
        "crm", "people", [col("id", "BIGINT"), col("region"), col("doc")]))
    return root


ROW_FILTERS = ["region = :region", "lower(region) = lower(:region)",
               "region LIKE :region || '%'", "id % 2 = 1 AND region = :region"]

PROBES = [
    # Each fails on some hidden row (malformed JSON, or an overflow on a hidden id),
    # never on a visible one; test_the_probes_do_fail_on_the_hidden_rows checks that.
    "json_extract(doc, '$.a') IS NOT NULL",
    "doc->>'a' = '1'",
    "json_array_length(doc, '$.l') = 2",
    "json_type(doc) = 'OBJECT'",
    "len(json_keys(doc)) = 2",
    f"CASE WHEN id = {HIDDEN_ID} THEN (id + {BIG}) * 0 ELSE 0 END = 0",
    "CASE WHEN id % 2 = 0 AND id > 0 THEN id + 9223372036854775807 ELSE 0 END >= 0",
]


@pytest.mark.parametrize("row_filter", ROW_FILTERS)
def test_the_callers_expressions_never_run_on_hidden_rows(tmp_path: Path,
                                                          row_filter: str) -> None:
    mesh = Mesh.open(mesh_with(tmp_path, row_filter))
    visible_at_most = ROWS // 2
    for probe in PROBES:
        rows = mesh.sql(f"SELECT count(*) AS n FROM crm.people WHERE {probe}",
                        user="ana").arrow().to_pylist()
        assert 0 < rows[0]["n"] <= visible_at_most, probe
        # In the select list and in aggregates too.
        mesh.sql(f"SELECT sum(CASE WHEN {probe} THEN 1 ELSE 0 END) AS n FROM crm.people",
                 user="ana").arrow()


def test_the_probes_do_fail_on_the_hidden_rows(tmp_path: Path) -> None:
    """The check above means something only if each probe fails on the hidden rows."""
    import duckdb

    root = mesh_with(tmp_path, "region = :region")
    source = f"read_parquet('{root}/data/crm/people/part-0.parquet')"
    con = duckdb.connect()
    for probe in PROBES:
        with pytest.raises(duckdb.Error):  # over every row: fails
            con.sql(f"SELECT count(*) FROM {source} WHERE {probe}").fetchall()
        # over the visible rows only: does not
        con.sql(f"SELECT count(*) FROM {source} WHERE region = 'EU' AND ({probe})").fetchall()
    con.close()
