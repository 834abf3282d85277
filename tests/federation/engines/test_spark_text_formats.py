"""CSV and JSON-lines products on Spark: read with the contract's types and governed as
on DuckDB (masks byte for byte, row filters, denied columns), with DuckDB's answer as
the oracle.

A copy of the demo mesh gets four text products made from the raw data of two Parquet
products: ``customers.profiles_csv``/``_json`` (strings, dates, NULLs; pii hashed and a
region row filter for the analyst) and ``bookings.reservations_csv``/``_json``
(timestamps, decimals, integers; the data scientist's hashed key).  Each is granted to
the same roles as its source, so every user's answer can also be checked against the
Parquet product's.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from federation import Mesh
from federation.errors import QueryRejected
from tests.federation.engines.spark_parity import difference, needs_spark

SOURCES = {"customers.profiles": "data/customers/profiles/**/*.parquet",
           "bookings.reservations": "data/bookings/reservations/**/*.parquet"}
FORMATS = {"csv": "(FORMAT csv, HEADER true)", "json": "(FORMAT json)"}


def _add_product(root: Path, source: str, fmt: str) -> None:
    """``<source>_<fmt>``: the source's raw rows as one file of ``fmt``, its contract
    pointing there, granted as the source is."""
    domain, name = source.split(".")
    new = f"{name}_{fmt}"
    spec = yaml.safe_load((root / f"domains/{domain}/{name}.odcs.yaml").read_text())
    columns = [p["name"] for p in spec["schema"][0]["properties"]]
    folder = root / f"data/{domain}/{new}"
    folder.mkdir(parents=True)
    con = duckdb.connect()
    try:
        select = ", ".join(f'"{c}"' for c in columns)
        con.execute(f"COPY (SELECT {select} FROM read_parquet('{root / SOURCES[source]}', "
                    f"hive_partitioning = true) ORDER BY 1) TO '{folder / ('part-0.' + fmt)}' "
                    f"{FORMATS[fmt]}")
    finally:
        con.close()
    spec.update(id=f"{spec['id']}-{fmt}", name=f"{domain}.{new}", dataProduct=new)
    spec["schema"][0]["name"] = new
    for prop in spec["schema"][0]["properties"]:
        prop.pop("partitioned", None)  # one flat file: the partition column is in it
    spec["servers"] = [{"server": "local", "type": "local", "format": fmt,
                        "path": f"data/{domain}/{new}"}]
    spec.pop("customProperties", None)
    (root / f"domains/{domain}/{new}.odcs.yaml").write_text(yaml.safe_dump(spec,
                                                                           sort_keys=False))
    domain_file = root / f"domains/{domain}/domain.yaml"
    doc = yaml.safe_load(domain_file.read_text())
    for grant in doc["grants"]:
        if name in grant["products"]:
            grant["products"].append(new)
        if "data_scientist" in grant["roles"] and domain == "bookings":
            # A hash of a timestamp: its text differs between engines, so Spark refuses.
            grant.setdefault("mask_columns", {})["booked_at"] = "hash"
    domain_file.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture(scope="module")
def text_mesh(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    root = tmp_path_factory.mktemp("text") / "mesh"
    shutil.copytree(demo_root, root, ignore=shutil.ignore_patterns("audit"))
    for source in SOURCES:
        for fmt in FORMATS:
            _add_product(root, source, fmt)
    return Mesh.open(root)


def _queries(fmt: str) -> list[tuple[str, bool]]:
    p, r = f"customers.profiles_{fmt}", f"bookings.reservations_{fmt}"
    return [
        (f"SELECT customer_id, email, phone, birth_date, country, region, loyalty_tier, "
         f"signup_date FROM {p}", False),
        (f"SELECT country, count(*) AS n, min(email) AS e, count(loyalty_tier) AS t "
         f"FROM {p} GROUP BY country ORDER BY country", True),
        (f"SELECT booking_id, customer_id, flight_id, booking_year, status, passengers, "
         f"fare_amount, currency, channel FROM {r}", False),
        (f"SELECT channel, sum(fare_amount) AS s, avg(fare_amount) AS a, max(booking_year) "
         f"AS y, count(DISTINCT customer_id) AS c FROM {r} GROUP BY channel", False),
        # The masked key still joins: across formats and with the Parquet product.
        (f"SELECT c.country, count(*) AS n FROM {r} b JOIN {p} c ON c.customer_id = "
         f"b.customer_id JOIN bookings.reservations o ON o.booking_id = b.booking_id AND "
         f"o.customer_id = b.customer_id GROUP BY c.country", False),
    ]


def _run(mesh: Mesh, sql: str, user: str, engine: str) -> Any:
    try:
        return mesh.sql(sql, user=user, engine=engine).arrow()
    except QueryRejected as exc:
        return exc


@needs_spark
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_text_products_on_spark_equal_duckdb(text_mesh: Mesh, spark: Any, fmt: str) -> None:
    queries = _queries(fmt)
    # adam reads the raw values (parsing), ana everything governed, dana the hashed key.
    plan = {"adam": [0, 2], "ana": list(range(len(queries))), "dana": [3, 4]}
    if fmt == "json":  # the same checks on the other reader, fewer of them (test time)
        plan = {"ana": [0, 2, 4]}
    for user, chosen in plan.items():
        for sql, ordered in (queries[i] for i in chosen):
            duck = text_mesh.sql(sql, user=user).arrow()
            on_spark = text_mesh.sql(sql, user=user, engine="spark").arrow()
            assert difference(duck, on_spark, ordered=ordered) is None, (user, sql)
            assert duck.num_rows > 0


@needs_spark
def test_timestamps_of_a_text_product_and_the_source_agree(text_mesh: Mesh,
                                                           spark: Any) -> None:
    """Timestamps parsed from CSV and JSON text by Spark are DuckDB's (and the Parquet
    source's) to the microsecond; the analyst's row filter applies to each."""
    sqls = [f"SELECT booking_id, booked_at FROM bookings.reservations{s} ORDER BY booking_id"
            for s in ("", "_csv", "_json")]
    parquet = text_mesh.sql(sqls[0], user="ana").arrow()
    for sql in sqls[1:]:
        on_spark = text_mesh.sql(sql, user="ana", engine="spark").arrow()
        assert difference(parquet, on_spark, ordered=True) is None, sql
    profiles = text_mesh.sql("SELECT DISTINCT region FROM customers.profiles_csv",
                             user="ana", engine="spark").arrow()
    assert profiles.column("region").to_pylist() == ["EU"]


def test_a_hash_mask_of_a_timestamp_is_refused_on_spark(text_mesh: Mesh) -> None:
    """DuckDB and Spark write timestamps as different text, so their hashes would
    differ: refused before Spark starts; DuckDB still answers."""
    from federation.engines.spark import display_views, shapes, spark_sql

    for product in ("bookings.reservations_csv", "bookings.reservations"):
        sql = f"SELECT booked_at FROM {product}"
        governed = text_mesh.govern(sql, "dana")
        types = shapes(governed, text_mesh.settings.engine, text_mesh.root).types
        with pytest.raises(QueryRejected, match="hash mask of a TIMESTAMP column"):
            spark_sql(governed, display_views(governed), types)
        assert text_mesh.sql(sql, user="dana").arrow().num_rows > 0
