"""Where a governed query runs.

An engine takes a sealed :class:`~federation.pipeline.query.GovernedQuery` and returns
Arrow record batches; it never changes what the query may read.  ``duckdb`` is the
embedded, sandboxed default; ``sanitize`` turns engine errors into messages that quote
no data and no governed SQL.
"""
