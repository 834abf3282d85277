"""Turn a DuckDB error into one safe line.

DuckDB messages quote the SQL that ran (with file paths and mask expressions) and, for
conversions, the offending value.  None of that text reaches the user: the message is
rebuilt from the exception's class and facts duckmesh already knows.
"""

from __future__ import annotations

import duckdb

from connectors.listing import strip_scheme
from federation.errors import DuckmeshError, QueryFailed, QueryTimeout, StorageError
from federation.pipeline.query import GovernedQuery


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
