"""A small governed query on local files loads only what it uses (issue 15 item 9).

Imports are most of a cold ``duckmesh query`` (shared/FACTS.md, docs/benchmarks.md): this
pins the libraries taken off its path, so that a top-level import added anywhere on it
shows up here rather than as a slower start.  No timing: only what is in ``sys.modules``
after the query ran in a fresh process.

pyarrow (and numpy, which pyarrow imports) stays: contract checks read the Parquet
footers with it and the result is an Arrow stream (ssl comes with pyarrow.parquet).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from federation import Mesh

SQL = ("SELECT region, count(*) AS customers, min(signup_date) AS first_signup "
       "FROM customers.profiles GROUP BY region ORDER BY region")

NOT_NEEDED = (
    "fsspec", "asyncio", "zstandard",  # remote storage only (connectors.tailfs)
    "s3fs", "aiohttp", "botocore", "pyiceberg",  # remote storage, Iceberg products
    "jsonschema",  # contract schema validation: only for files not in the contract cache
    "open_data_contract_standard.model",  # ODCS's pydantic models: never used
    "pandas", "polars", "pyspark",
    "rich.progress",  # the progress bar: only when stderr is a terminal
    "pyarrow.csv", "openpyxl",  # writers of --format csv / xlsx
    "federation.audit.openlineage", "sqlglot.lineage",  # OpenLineage events, when configured
    "federation.engines.spark", "federation.access.guide",  # Spark; the guide of a denial
    "federation.server", "federation.publish", "federation.reports",
)

PROBE = f"""
import sys
from federation.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="duckmesh")
except SystemExit as exc:
    if exc.code:
        raise
print("loaded:", *(m for m in {NOT_NEEDED!r} if m in sys.modules))
"""


def test_a_small_local_query_loads_no_library_it_does_not_use(demo_copy: Path) -> None:
    # As any earlier command would have: fill the contract cache and write the audit log's
    # empty seed file (written once per mesh, with pyarrow's write_table, which loads pandas).
    Mesh.open(demo_copy).audit.ensure_seed()
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "--mesh", str(demo_copy), "query", "--user", "adam",
         "--format", "table", SQL],
        capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert any("first_signup" in line for line in lines), out.stdout  # the query ran
    assert "rows)" in out.stderr, out.stderr
    assert lines[-1].split()[1:] == [], lines[-1]
