"""What a governed query may use, generated from the allow-list code itself.

``docs/sql-features.md`` is this page (a test checks the committed file equals it) and
``duckmesh sql-features`` prints it: the list can never drift from what the allow-list
actually lets through.
"""

from __future__ import annotations

from typing import Any

from federation.pipeline import functions, statements
from federation.pipeline.allowlist import JOIN_METHODS, SAMPLE_METHODS, TABLE_FUNCTIONS
from federation.pipeline.spellings import COLLATIONS

_STATEMENTS = [
    ("SELECT (with WITH, UNION/INTERSECT/EXCEPT, VALUES, FROM-first)",
     "the query, governed column by column"),
    ("DESCRIBE [TABLE] domain.product | SHOW domain.product | DESCRIBE SELECT …",
     "the columns you may see, with the types their masks give"),
    ("SUMMARIZE [TABLE] domain.product | SUMMARIZE SELECT …",
     "a profile of the secured rows: masked values summarized as masked"),
    ("PIVOT … ON … USING … [GROUP BY …] / UNPIVOT … ON … INTO NAME … VALUE …",
     "DuckDB's statements, over a product or a query over one product"),
    ("SELECT * FROM … PIVOT (agg FOR col IN (…) [GROUP BY …]) / … UNPIVOT (v FOR n IN (…))",
     "the SQL-standard form, read as the statement above"),
    ("SHOW TABLES [FROM domain]", "the products you may read"),
]
_CLAUSES = [
    ("WHERE, GROUP BY (ALL, ROLLUP, CUBE, GROUPING SETS), HAVING, QUALIFY, WINDOW, "
     "ORDER BY (ALL), LIMIT, OFFSET, DISTINCT (ON)", ""),
    ("* EXCLUDE / REPLACE, COLUMNS('regex') and COLUMNS(*)",
     "expanded over the columns you may see only"),
    ("WITH RECURSIVE", "UNION ALL recursion, stopped with an error past "
     "{limit:,} iterations"),
    ("joins: INNER, LEFT, RIGHT, FULL, CROSS, SEMI, ANTI, LATERAL, {methods}",
     "row filters apply on both sides"),
    ("USING SAMPLE / TABLESAMPLE ({samples})", "samples the rows you may read"),
    ("aggregate FILTER (WHERE …), ORDER BY inside aggregates, WITHIN GROUP (ORDER BY …)", ""),
    ("list, struct and MAP literals, [x FOR x IN …], lambdas (lambda x: …), "
     "field access, brackets and slices", ""),
    ("table functions in FROM: {table_functions}", "over values only; they read no data"),
    ("x AT TIME ZONE zone", "as timezone(zone, x), in the mesh's time zone (engine.timezone)"),
    ("LIKE / ILIKE / NOT LIKE / NOT ILIKE … ESCAPE 'c'", ""),
    ("x COLLATE {collations}", "DuckDB's built-in collations, combined as noaccent.nocase"),
    ("E'…' escape strings", "read as DuckDB reads them (\\n, \\t, \\xHH, octal, \\')"),
    ("list operators <-> (distance) and <@ (contained by)",
     "next to arithmetic, in parentheses: (a <-> b) * 2"),
]
_REFUSED = [
    "DDL, DML, COPY, ATTACH, SET, PRAGMA, EXPLAIN, CALL, several statements",
    "file paths and table functions that read data (read_parquet, read_csv, glob, …), "
    "query(), query_table()",
    "catalog, settings and session introspection (duckdb_settings(), current_setting(), "
    "information_schema, …)",
    "time travel on products (AT …), three-part names, $parameters other than --param",
    "UNION BY NAME, PIVOT (…) inside a larger query (use the PIVOT statement), the old "
    "lambda arrow x -> …, positional columns (#1)",
    "the postfix factorial n! (write factorial(n)), ICU locale collations (COLLATE de), "
    "ESCAPE after SIMILAR TO or GLOB",
]


def features() -> dict[str, Any]:
    """Everything the allow-list lets through, as plain data."""
    from federation.pipeline.limits import MAX_RECURSION

    fill = {"limit": MAX_RECURSION,
            "methods": ", ".join(f"{m} JOIN" for m in sorted(JOIN_METHODS)),
            "samples": ", ".join(sorted(m.lower() for m in SAMPLE_METHODS)),
            "table_functions": ", ".join(sorted(TABLE_FUNCTIONS)),
            "collations": ", ".join(sorted(COLLATIONS))}
    return {
        "statements": [{"form": f, "note": n} for f, n in _STATEMENTS],
        "shells": sorted(c.__name__.upper() for c in statements.SHELLS),
        "clauses": [{"form": f.format(**fill), "note": n.format(**fill)}
                    for f, n in _CLAUSES],
        "functions": {family: sorted(set(names))
                      for family, names in functions.FAMILIES.items()},
        "refused": list(_REFUSED),
    }


def markdown() -> str:
    """The generated docs/sql-features.md."""
    data = features()
    out = ["# SQL features", "",
           "Generated from the allow-list (`federation/pipeline/allowlist.py`, "
           "`functions.py`, `statements.py`) by `duckmesh sql-features`; do not edit by hand. "
           "Anything not listed is refused: the allow-list fails closed.", "",
           "## Statements", ""]
    out += [f"- `{s['form']}`: {s['note']}" for s in data["statements"]]
    out += ["", "## Clauses and constructs", ""]
    out += [f"- {c['form']}" + (f": {c['note']}" if c["note"] else "")
            for c in data["clauses"]]
    out += ["", "## Functions, by DuckDB's names", ""]
    for family, names in data["functions"].items():
        out += [f"### {family} ({len(names)})", "", ", ".join(names), ""]
    out += ["## Refused", ""]
    out += [f"- {r}" for r in data["refused"]]
    return "\n".join(out) + "\n"
