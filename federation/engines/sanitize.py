"""Turn a DuckDB error into one safe line.

DuckDB messages quote the SQL that ran (with file paths and mask expressions) and, for
conversions, the offending value.  None of that text reaches the user: the message is
rebuilt from the exception's class and facts duckmesh already knows.
"""

from __future__ import annotations

import re

import duckdb
from sqlglot import exp

from connectors.listing import strip_scheme
from federation.errors import DuckmeshError, QueryFailed, QueryTimeout, StorageError
from federation.pipeline.functions import ALLOWED, duckdb_name
from federation.pipeline.query import GovernedQuery
from federation.pipeline.recursion import LIMIT_MESSAGE


def _product_in(message: str, query: GovernedQuery) -> str | None:
    for fqn, scan in query.scans.items():
        directory = scan.location.directory.rstrip("/")
        if directory in message or strip_scheme(directory) in message:
            return fqn
    return None


def _data_of(message: str, query: GovernedQuery) -> tuple[str | None, str]:
    """The product whose data an error is about (if known), and words for it."""
    product = _product_in(message, query)
    if product is None and len(query.scans) == 1:
        product = next(iter(query.scans))
    return product, f"the data of {product}" if product else "a product's data"


def sanitize(exc: BaseException, query: GovernedQuery, timeout: float) -> DuckmeshError:
    """A DuckmeshError for ``exc`` whose text holds no data, path or governed SQL."""
    message = str(exc)
    if isinstance(exc, duckdb.InterruptException):
        return QueryTimeout(f"the query ran longer than the limit of {timeout:g} s and was "
                            "stopped", hint="raise engine.timeout_seconds in duckmesh.yaml")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return QueryFailed("the query ran out of memory",
                           hint="raise engine.memory_limit or set engine.spill_directory")
    if isinstance(exc, duckdb.ConversionException):
        return QueryFailed("a value could not be converted to the requested type (the value "
                           "is not shown)", hint="use TRY_CAST to get NULL instead")
    if isinstance(exc, duckdb.IOException | duckdb.HTTPException | duckdb.PermissionException):
        product, what = _data_of(message, query)
        return StorageError(f"could not read {what}", product=product)
    if type(exc) is duckdb.Error and message.startswith("Traceback (most recent call last)"):
        # What a registered (remote) filesystem raised, wrapped by DuckDB: storage.
        product, what = _data_of(message, query)
        if "ObjectChanged:" in message:
            return StorageError(f"{what} changed while the query ran", product=product,
                                hint="run it again")
        if "DeadlineExceeded:" in message:
            return QueryTimeout(f"the query ran longer than the limit of {timeout:g} s and "
                                f"was stopped (storage was still answering for {what})",
                                product=product,
                                hint="raise engine.timeout_seconds in duckmesh.yaml")
        if "CutShort:" in message:
            return StorageError(f"storage kept cutting its answers short reading {what}",
                                product=product, hint="run the query again")
        return StorageError(f"could not read {what}", product=product)
    if LIMIT_MESSAGE in message and isinstance(exc, duckdb.InvalidInputException):
        return QueryFailed("a recursive CTE went deeper than the recursion limit and was "
                           "stopped", hint="add a stop condition to its recursive branch")
    if isinstance(exc, duckdb.BinderException | duckdb.InvalidInputException):
        rebuilt = binder_error(message, query)
        if rebuilt is not None:
            return rebuilt
    if isinstance(exc, duckdb.InvalidInputException) and \
            "according to format specifier" in message:
        return QueryFailed("a string did not match the strptime format (the value is not "
                           "shown)", hint="use try_strptime to get NULL instead")
    if isinstance(exc, duckdb.InvalidInputException):
        product = _product_in(message, query)
        if product is not None or "parquet" in message.lower() or "No files found" in message:
            what = f"the data of {product}" if product else "a product's data"
            return StorageError(f"{what} is missing or not valid Parquet", product=product)
    if isinstance(exc, duckdb.OutOfRangeException):
        return QueryFailed("a value was out of range for its type (the value is not shown)")
    kind = type(exc).__name__.removesuffix("Exception") or "Unknown"
    return QueryFailed(f"the engine could not run the governed query ({kind} error)",
                       hint="run `duckmesh explain` to see the governed SQL")


# Binder messages are rebuilt, never passed on: each pattern below takes from DuckDB's
# text only a function name, type names (checked against a strict shape) or a column
# name, and a column name is used only if the caller's own query names it.
_NAME = r'"?([a-z_][a-z0-9_]*|[-+*/%<>=!|&^~@]+)"?'
_NO_FUNCTION = re.compile(
    r"(?:No function matches the given name and argument types '|Could not choose a best "
    r'candidate function for the function call ")' + _NAME + r"\(([A-Z0-9_, ]*)\)['\"]")
_CANDIDATE = re.compile(r"^\t" + _NAME + r"\((.*)\) -> ", re.MULTILINE)
_NOT_GROUPED = re.compile(r'column "([^"]+)" must appear in the GROUP BY clause')
_NOT_FOUND = re.compile(r'Referenced column "([^"]+)" not found')
_FIXED = (
    ("WHERE clause cannot contain aggregates", "aggregates are not allowed in WHERE",
     "filter on them in HAVING"),
    ("WHERE clause cannot contain window functions",
     "window functions are not allowed in WHERE", "filter on them in QUALIFY"),
    ("HAVING clause cannot contain window functions",
     "window functions are not allowed in HAVING", "filter on them in QUALIFY"),
    ("aggregate function calls cannot be nested", "aggregate functions cannot be nested",
     "aggregate in a subquery first"),
    ("LIMIT/OFFSET cannot be negative", "LIMIT and OFFSET cannot be negative", None),
    ("only supports up to two lambda parameters",
     "this lambda takes at most two parameters", None),
)
"""DuckDB messages that hold no identifier or value: their sentence, and a hint."""
_OUT_OF_RANGE = re.compile(r"(ORDER|GROUP BY) term out of range - should be between 1 and "
                           r"(\d+)")
_MACRO = re.compile(r'Function "([a-z_][a-z0-9_]*)" is a Macro Function')
_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*( WITH TIME ZONE)?(\[\])*$")
_NUMBERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT",
                      "DOUBLE", "DECIMAL", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
                      "UHUGEINT", "BIGNUM", "BOOLEAN"})


def _caller_columns(query: GovernedQuery) -> set[str]:
    tree = query.qualified if query.qualified is not None else query.expression
    return {c.name for c in tree.find_all(exp.Column)} | \
        {a.alias for a in tree.find_all(exp.Alias)}


def _first_column_argument(query: GovernedQuery, function: str) -> str | None:
    """The column given to ``function``, when the query calls it exactly once (with two
    calls, which one failed is not known: then no column is named)."""
    tree = query.qualified if query.qualified is not None else query.expression
    calls = [node for node in tree.find_all(exp.Func) if duckdb_name(node) == function]
    if len(calls) != 1:
        return None
    node = calls[0]
    argument: object = node.expressions[0] if isinstance(node, exp.Anonymous) \
        and node.expressions else node.args.get("this")
    return argument.name if isinstance(argument, exp.Column) else None


def _type(text: str) -> str | None:
    """A parameter's type from DuckDB's signature text (``"left" INTEGER`` → INTEGER)."""
    words = text.strip().split(" ", 1)
    if len(words) == 2 and not words[0][:1].isupper():
        text = words[1]
    text = text.strip().replace("STRING_LITERAL", "VARCHAR").replace(
        "INTEGER_LITERAL", "INTEGER")
    return text if _TYPE.match(text) else None


def _signatures(message: str, function: str, arity: int) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for match in _CANDIDATE.finditer(message):
        if match.group(1) != function:
            continue
        params = [p for p in match.group(2).split(",") if p.strip() not in ("/", "")]
        types = tuple(_type(p) for p in params)
        if len(types) == arity and all(types) and types not in out:
            out.append(types)  # type: ignore[arg-type]
    return out


def _no_function(message: str, query: GovernedQuery) -> QueryFailed | None:
    match = _NO_FUNCTION.search(message)
    if match is None:
        return None
    function = match.group(1)
    given = [_type(t) for t in match.group(2).split(",") if t.strip()]
    if not given or not all(given):
        return None
    what = f"operator {function}" if not function[0].isalpha() else f"{function}()"
    wanted = _signatures(message, function, len(given))
    hint = "cast the argument, e.g. CAST(x AS DOUBLE)"
    if len(given) == 1:
        kinds = {w[0] for w in wanted}
        named = sorted(kinds - _NUMBERS)
        takes = " or ".join((["a number"] if kinds & _NUMBERS else []) + named[:5]) or \
            "other types"
        column = _first_column_argument(query, function)
        return QueryFailed(f"{what} takes {takes}, " + (
            f"{column} is {given[0]}" if column else f"it was given {given[0]}"), hint=hint)
    shown = " or ".join(f"({', '.join(w)})" for w in wanted[:4]) + \
        (" or …" if len(wanted) > 4 else "")
    return QueryFailed(f"{what} takes {shown or 'other types'}, not "
                       f"({', '.join(g for g in given if g)})", hint="cast the arguments")


def binder_error(message: str, query: GovernedQuery) -> QueryFailed | None:
    """A clear sentence for a DuckDB binder error about the caller's own SQL, or None
    when the message is not one we can rebuild safely."""
    if "Combining QUALIFY with GROUP BY ALL is not supported" in message:
        return QueryFailed("DuckDB does not support QUALIFY with GROUP BY ALL",
                           hint="name the columns in GROUP BY instead")
    rebuilt = _no_function(message, query)
    if rebuilt is not None:
        return rebuilt
    if "Invalid LIST argument during lambda function binding" in message:
        return QueryFailed("a lambda function takes a list as its first argument")
    for phrase, sentence, hint in _FIXED:
        if phrase in message:
            return QueryFailed(sentence, hint=hint)
    match = _OUT_OF_RANGE.search(message)
    if match:
        clause = "ORDER BY" if match.group(1) == "ORDER" else "GROUP BY"
        return QueryFailed(f"a {clause} position is out of range: the select list has "
                           f"{match.group(2)} columns")
    match = _MACRO.search(message)
    if match and match.group(1) in ALLOWED:
        return QueryFailed(f"{match.group(1)}() takes no DISTINCT, FILTER or ORDER BY (DuckDB "
                           "defines it as a macro, not an aggregate)")
    known = _caller_columns(query)
    match = _NOT_GROUPED.search(message)
    if match and match.group(1) in known:
        column = match.group(1)
        return QueryFailed(f"column {column} must be in GROUP BY or inside an aggregate "
                           "function", hint=f"add it to GROUP BY, or use any_value({column})")
    match = _NOT_FOUND.search(message)
    if match and match.group(1) in known:
        return QueryFailed(f"column {match.group(1)} not found where it is used")
    return None
