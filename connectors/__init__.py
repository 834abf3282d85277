"""Storage and table formats: where product data lives, how it is listed, what its
footers say, and the DuckDB scan that reads it.  The bottom layer: imports nothing of
``products`` or ``federation``."""

from connectors.errors import ConfigError, DuckmeshError, StorageError, UsageError

__all__ = ["ConfigError", "DuckmeshError", "StorageError", "UsageError"]
