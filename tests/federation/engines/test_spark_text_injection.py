"""Red team: caller text that Spark reads as something other than the tree duckmesh checked.

Spark substitutes ``${env:NAME}``, ``${system:prop}`` and ``${spark.conf.key}`` in the SQL
text before parsing it (``spark.sql.variable.substitute``, on by default, Spark 4.3
included): a string literal ``'${env:DUCKMESH_SECRET}'`` came back as the service's
environment variable (the mask key, storage credentials).  The substitution happens on
the raw text — inside strings, quoted names and comments alike — so the generated Spark
SQL must not hold ``${`` at all.  No Spark needed: the generated text is what runs.
"""

from __future__ import annotations

import pytest

from federation import Mesh
from federation.engines.spark import display_views, shapes, spark_sql
from federation.errors import QueryRejected


def _spark(mesh: Mesh, sql: str) -> str:
    governed = mesh.govern(sql, "ana")
    return spark_sql(governed, display_views(governed),
                     shapes(governed, mesh.settings.engine, mesh.root).types)


@pytest.mark.parametrize("sql", [
    "SELECT '${env:DUCKMESH_SECRET}' AS v, region FROM customers.profiles",
    "SELECT region FROM customers.profiles WHERE region = '${system:user.name}'",
    "SELECT region AS \"${spark.hadoop.fs.s3a.access.key}\" FROM customers.profiles",
    "SELECT concat('$', '{env:HOME}') AS v, region FROM customers.profiles",  # not joined
    "SELECT 'a$${b}' AS v, region FROM customers.profiles",
])
def test_no_spark_variable_reaches_spark(mesh: Mesh, sql: str) -> None:
    try:
        text = _spark(mesh, sql)
    except QueryRejected as exc:
        assert "${" not in str(exc)
        return
    assert "${" not in text


def test_dollar_and_brace_apart_still_run(mesh: Mesh) -> None:
    text = _spark(mesh, "SELECT '$ {x}' AS v, region FROM customers.profiles")
    assert "'$ {x}'" in text


@pytest.mark.slow
def test_query_sessions_do_not_substitute_variables(spark: object) -> None:
    """The second line: a query's own session reads ${…} as text, so a '${' that got past
    the generated-text check would still be no variable."""
    from federation.engines.spark_session import query_session
    from products.config import SparkSettings

    session = query_session(SparkSettings(), "UTC")
    got = session.sql("SELECT '${env:HOME}' AS v, '${system:user.name}' AS w").collect()
    assert (got[0]["v"], got[0]["w"]) == ("${env:HOME}", "${system:user.name}")
