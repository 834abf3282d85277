"""Binder errors rebuilt into sentences about the caller's own SQL, and only from safe
parts: a function name, type names of a strict shape, a column the caller's query names.

Each DuckDB exception here is real (raised by DuckDB on a plain connection); the
governed query is the demo's, planned for ana.
"""

from __future__ import annotations

import duckdb
import pytest

from federation import Mesh
from federation.engines.sanitize import sanitize
from federation.errors import QueryFailed
from federation.pipeline.query import GovernedQuery


def _raised(sql: str) -> duckdb.Error:
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t AS SELECT 1 AS a, 'customer1@mail.example' AS channel, "
                    "'X1' AS passport_number")
        con.execute(sql)
    except duckdb.Error as exc:
        return exc
    finally:
        con.close()
    raise AssertionError(f"{sql} did not fail")


@pytest.fixture(scope="module")
def governed(mesh: Mesh) -> GovernedQuery:
    return mesh.govern("SELECT channel, sum(channel) AS s FROM bookings.reservations "
                       "GROUP BY channel", "ana")


def test_no_matching_function_names_the_callers_column(governed: GovernedQuery) -> None:
    exc = _raised("SELECT sum(channel) FROM t")
    error = sanitize(exc, governed, 10)
    assert isinstance(error, QueryFailed)
    assert str(error).startswith("sum() takes a number, channel is VARCHAR")


def test_two_calls_name_no_column(mesh: Mesh) -> None:
    two = mesh.govern("SELECT sum(fare_amount), sum(channel) FROM bookings.reservations",
                      "ana")
    text = str(sanitize(_raised("SELECT sum(channel) FROM t"), two, 10))
    assert text.startswith("sum() takes a number, it was given VARCHAR")


def test_qualify_with_group_by_all(governed: GovernedQuery) -> None:
    exc = _raised("SELECT channel, count(*) FROM t GROUP BY ALL QUALIFY count(*) > 1")
    assert "DuckDB does not support QUALIFY with GROUP BY ALL" in str(
        sanitize(exc, governed, 10))


def test_a_column_the_caller_did_not_name_is_never_echoed(governed: GovernedQuery) -> None:
    """The governed query holds no passport_number (hidden from ana): a message naming it
    becomes the generic line."""
    for sql in ("SELECT passport_numbr FROM t",
                "SELECT a, passport_number FROM t GROUP BY a"):
        text = str(sanitize(_raised(sql), governed, 10))
        assert "passport" not in text
        assert "engine could not run the governed query" in text


def test_a_value_in_a_conversion_is_never_echoed(governed: GovernedQuery) -> None:
    text = str(sanitize(_raised("SELECT channel::INTEGER FROM t"), governed, 10))
    assert "customer1" not in text and "not shown" in text


def test_types_of_an_unexpected_shape_are_not_echoed(governed: GovernedQuery) -> None:
    """A message whose 'types' are not type names (as a crafted one could be) is not
    rebuilt from them."""
    exc = duckdb.BinderException(
        "Binder Error: No function matches the given name and argument types "
        "'sum(customer1@mail.example)'. You might need to add explicit type casts.")
    text = str(sanitize(exc, governed, 10))
    assert "customer1" not in text


def test_the_recursion_limit_is_its_own_sentence(governed: GovernedQuery) -> None:
    exc = _raised("SELECT error('duckmesh: recursion limit')")
    assert "recursion limit" in str(sanitize(exc, governed, 10))


def test_operators_and_several_arguments_list_signatures(governed: GovernedQuery) -> None:
    text = str(sanitize(_raised("SELECT a + 'x' FROM t"), governed, 10))
    assert text.startswith("operator + takes (") and "not (INTEGER, VARCHAR)" in text
    text = str(sanitize(_raised("SELECT strftime('%Y', a) FROM t"), governed, 10))
    assert text.startswith("strftime() takes (DATE, VARCHAR)") and "customer1" not in text


def test_a_lambda_over_a_non_list(governed: GovernedQuery) -> None:
    text = str(sanitize(_raised("SELECT list_transform(channel, lambda x: x) FROM t"),
                        governed, 10))
    assert text == "a lambda function takes a list as its first argument"


@pytest.mark.parametrize(("sql", "said"), [
    ("SELECT a FROM t WHERE sum(a) > 1", "aggregates are not allowed in WHERE"),
    ("SELECT a FROM t WHERE row_number() OVER () = 1", "not allowed in WHERE"),
    ("SELECT sum(sum(a)) FROM t", "aggregate functions cannot be nested"),
    ("SELECT a FROM t ORDER BY 5", "ORDER BY position is out of range: the select list has 1"),
    ("SELECT json_group_array(channel ORDER BY channel) FROM t",
     "json_group_array() takes no DISTINCT, FILTER or ORDER BY"),
    ("SELECT strptime(channel, '%Y') FROM t", "did not match the strptime format"),
])
def test_fixed_phrases_become_sentences(governed: GovernedQuery, sql: str, said: str) -> None:
    text = str(sanitize(_raised(sql), governed, 10))
    assert said in text and "customer1" not in text
