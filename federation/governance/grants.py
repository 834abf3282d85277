"""``domains/<domain>/domain.yaml``: the domain's contact, description and grants.

A grant says which roles read which products of the domain, and how restricted (denied
and masked columns, a row filter).  A grant is checked against each product it names
by :func:`grant_problems` — the one check both ``validate`` and query time use, so the
two never disagree: at query time a grant with a problem does not apply, and the
product is denied to whoever it would have applied to.
"""

from __future__ import annotations

import sqlglot
from pydantic import BaseModel, ConfigDict, Field
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.simplify import simplify

from federation.governance.filter_calls import as_duckdb_reads, text_problem
from federation.governance.filter_fields import as_field_access, field_problems
from federation.governance.masks import is_temporal
from federation.governance.policies import Label, MaskMethod
from products.contract import Product


class _Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, not at import
    # (pydantic work to open the demo mesh: 29 ms -> 17 ms; models never used: nothing).
    # Empty lists are plain defaults (``= []``, copied per instance by pydantic): building
    # a schema with default_factory=list costs an inspect.signature(list) each (~4 ms).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Grant(_Strict):
    """A domain-owned grant: which roles (or named users) read which products, and how
    restricted."""

    products: list[str] = Field(min_length=1)
    roles: list[str] = []
    users: list[str] = []
    """Principals named one by one (an approved access request names its requester)."""
    row_filter: str | None = None
    deny_columns: list[str] = []
    mask_columns: dict[str, MaskMethod] = Field(default_factory=dict)
    release_columns: dict[str, list[Label]] = Field(default_factory=dict)
    """Column → purposes: the grant's readers see the column raw while querying for one
    of these purposes, where every global rule governing its label lets domains release
    it for that purpose (policies.yaml ``grantable_purposes``); otherwise it does nothing."""

    def model_post_init(self, _context: object) -> None:
        if not self.roles and not self.users:
            raise ValueError("a grant needs roles or users")

    def covers(self, product: str) -> bool:
        """True if the grant names ``product`` (or every product, with ``*``)."""
        return any(p == "*" or p.lower() == product for p in self.products)

    def names(self, user: str, roles: tuple[str, ...] | list[str]) -> bool:
        """True if the grant is for ``user`` (named) or one of ``roles``."""
        return user in self.users or bool(set(roles) & set(self.roles))

    def released(self, column: str) -> list[str]:
        """The purposes ``release_columns`` gives ``column`` (case-insensitive)."""
        wanted = column.lower()
        return next((list(p) for c, p in self.release_columns.items()
                     if c.lower() == wanted), [])

    @property
    def has_row_filter(self) -> bool:
        """True if the file gives ``row_filter`` at all — even blank or null, which is a
        mistake to refuse, never "no filter"."""
        return "row_filter" in self.model_fields_set


class DomainFile(_Strict):
    """``domains/<domain>/domain.yaml``.  ``owner`` (a principal, or a role) names who
    administers the domain: decides its access requests, publishes derived products and
    changes its contracts' status.  It grants no reading power: owners read through
    grants and rules like everyone else."""

    owner: str | None = None
    description: str | None = None
    grants: list[Grant] = []


RowFilter = exp.Expr | None | str
"""A grant's parsed row filter: the expression, None (the grant has none), or the text
of why it cannot be used."""


def parse_row_filter(grant: Grant) -> RowFilter:
    """The grant's row filter as an expression (``:name`` binds a user attribute later),
    None if it has none, or a problem (str) if it is blank or not one safe predicate."""
    if not grant.has_row_filter:
        return None
    text = grant.row_filter
    if text is None or not text.strip():
        return "row_filter is blank: give a predicate, or remove the key"
    try:
        parsed = sqlglot.parse(text, read="duckdb")
    except (ParseError, SqlglotError):
        return "row_filter is not a valid SQL expression"
    if len(parsed) != 1 or parsed[0] is None:
        return "row_filter must be one SQL expression"
    expression = parsed[0]
    if isinstance(expression, exp.Query) or expression.find(exp.Query, exp.Table):
        return "row_filter must be a predicate over the product's own columns, without " \
               "subqueries"
    # Read as DuckDB reads the text (reduce, jaro_winkler_similarity's cutoff, date_add
    # kept as written; constructs sqlglot reads otherwise refused), as the caller's SQL is.
    problem = text_problem(text)
    if problem is not None:
        return problem
    read = as_duckdb_reads(expression)
    if isinstance(read, str):
        return read
    expression = read
    # No table can be named, so a dotted name is a struct field (``s.region``): written
    # as struct_extract from the column, or the rewrite would read the wrong column.
    # Its functions are checked against the allow-list where queries are (the authorize
    # stage, and validate): governance does not depend on the pipeline.
    return as_field_access(expression)


def always_true(expression: exp.Expr) -> bool:
    """True for a filter that keeps every row (``1 = 1``, ``region = :r OR true``)."""
    if not any(True for _ in expression.find_all(exp.Column)):
        return True
    try:
        simplified = simplify(expression.copy())
    except SqlglotError:
        return False
    return isinstance(simplified, exp.Boolean) and simplified.this is True


def grant_problems(grant: Grant, row_filter: RowFilter, product: Product) -> list[tuple[str, str]]:
    """What makes ``grant`` unusable for ``product``: (field, message) pairs."""
    problems: list[tuple[str, str]] = []
    if isinstance(row_filter, str):
        problems.append(("row_filter", row_filter))
    elif row_filter is not None and always_true(row_filter):
        # A filter that keeps every row is a mistake (`OR true`, `1 = 1`) or a grant
        # without one: either way it is written as a restriction and restricts nothing.
        problems.append(("row_filter", "row filter is always true: it keeps every row "
                                       "(remove row_filter if the grant needs none)"))
    elif row_filter is not None:
        problems += [("row_filter", p) for p in field_problems(row_filter, product)]
    for name in grant.deny_columns:
        if product.column(name) is None:
            problems.append(("deny_columns", f"{product.fqn} has no column {name!r}"))
    for name in grant.release_columns:
        if product.column(name) is None:
            problems.append((f"release_columns.{name}", f"{product.fqn} has no column "
                                                        f"{name!r}"))
    for name, method in grant.mask_columns.items():
        column = product.column(name)
        if column is None:
            problems.append((f"mask_columns.{name}", f"{product.fqn} has no column {name!r}"))
        elif method == "year" and not is_temporal(column):
            problems.append((f"mask_columns.{name}", f"mask 'year' needs a DATE or TIMESTAMP "
                                                     f"column; {name} is {column.type}"))
    return problems


def placeholders(row_filter: RowFilter) -> list[str]:
    """The user attributes (``:name``) a row filter binds."""
    if not isinstance(row_filter, exp.Expr):
        return []
    return [str(p.name) for p in row_filter.find_all(exp.Placeholder)]
