"""The functions a governed query may call, by DuckDB's own names, family by family.

sqlglot parses many DuckDB functions into classes of its own and names them in its own
words (``unnest`` is ``Explode``, ``time_bucket`` is ``DateBin``); what DuckDB finally
runs is what sqlglot *generates* for them in the DuckDB dialect.  So a function is
judged, and named in messages, by the name it has in the generated DuckDB SQL: one list
of DuckDB names below is the whole allow-list of functions, and ``docs/sql-features.md``
is generated from it (``duckmesh sql-features``).

Every function here computes on values the query already holds.  Left out on purpose:
anything that reads files or the catalog (table functions are judged in FROM, never
here), settings and session introspection (``current_setting``, ``current_query``,
``getvariable``, ``version``, ``pg_*``), sequences, errors raised on purpose (``error``),
``stats`` (storage statistics can describe rows a row filter removed), side effects
(``sleep_ms``, ``write_log``, ``setseed``) and functions that plan SQL text
(``json_serialize_plan``, ``json_deserialize_sql``).
"""

from __future__ import annotations

import re

from sqlglot import exp

# Kept as DuckDB's calls in the caller's SQL (parse) and in row filters (governance): one
# copy, in the layer both may import.
from federation.governance.calls import AS_WRITTEN as AS_WRITTEN
from federation.governance.calls import as_written as as_written

FAMILIES: dict[str, tuple[str, ...]] = {
    "aggregate": (
        "any_value", "approx_count_distinct", "approx_quantile", "arbitrary",
        "arg_max", "arg_max_null", "arg_min", "arg_min_null", "argmax", "argmin", "array_agg",
        "avg", "bit_and", "bit_or", "bit_xor", "bool_and", "bool_or", "corr", "count",
        "count_if", "count_star", "countif", "covar_pop", "covar_samp", "entropy", "favg",
        "first", "fsum", "geomean", "geometric_mean", "group_concat", "histogram",
        "histogram_exact", "kahan_sum", "kurtosis", "kurtosis_pop", "last", "list",
        "listagg", "mad", "max", "max_by", "mean", "median", "min", "min_by", "mode",
        "product", "quantile", "quantile_cont", "quantile_disc", "regr_avgx", "regr_avgy",
        "regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy",
        "regr_syy", "reservoir_quantile", "sem", "skewness", "stddev", "stddev_pop",
        "stddev_samp", "string_agg", "sum", "sumkahan", "var_pop", "var_samp", "variance",
        "weighted_avg", "wavg", "grouping", "grouping_id",
    ),
    "window": (
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag",
        "lead", "first_value", "last_value", "nth_value", "rank_dense",
    ),
    "numeric": (
        "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "bit_count",
        "cbrt", "ceil", "ceiling", "cos", "cosh", "cot", "degrees", "divide", "even", "exp",
        "factorial", "fdiv", "fmod", "gamma", "gcd", "greatest", "greatest_common_divisor",
        "isfinite", "isinf", "isnan", "lcm", "least", "least_common_multiple", "lgamma", "ln",
        "log", "log10", "log2", "mod", "multiply", "nextafter", "pi", "pow", "power",
        "radians", "random", "round", "round_even", "roundbankers", "sign", "signbit", "sin",
        "sinh", "sqrt", "subtract", "add", "tan", "tanh", "trunc", "xor", "equi_width_bins",
        "formatreadabledecimalsize", "formatreadablesize", "format_bytes", "to_base",
        "bin", "to_binary",
    ),
    "string": (
        "ascii", "bar", "bit_length", "char_length", "character_length", "chr", "concat",
        "concat_ws", "contains", "ends_with", "format", "hash", "hex", "instr", "lcase",
        "left", "left_grapheme", "len", "length", "length_grapheme", "lower", "lpad",
        "ltrim", "md5", "md5_number", "nfc_normalize", "octet_length", "ord", "overlay",
        "position", "prefix", "printf", "repeat", "replace", "reverse", "right",
        "right_grapheme", "rpad", "rtrim", "sha1", "sha256", "split", "split_part",
        "starts_with", "str_split", "string_split", "string_to_array", "strip_accents",
        "strlen", "strpos", "substr", "substring", "substring_grapheme", "suffix",
        "to_hex", "translate", "trim", "ucase", "unicode", "upper", "url_decode",
        "url_encode", "base64", "from_base64", "to_base64", "from_binary", "from_hex",
        "unbin", "unhex", "encode", "decode", "damerau_levenshtein", "editdist3", "hamming",
        "jaccard", "jaro_similarity", "jaro_winkler_similarity", "levenshtein",
        "mismatches",
    ),
    "regex": (
        "regexp_escape", "regexp_extract", "regexp_extract_all", "regexp_full_match",
        "regexp_matches", "regexp_replace", "regexp_split_to_array", "str_split_regex",
        "string_split_regex",
    ),
    "date and time": (
        "age", "century", "current_date", "current_localtime", "current_localtimestamp",
        "current_time", "current_timestamp", "date_add", "date_diff", "date_part",
        "date_sub", "date_trunc", "datediff", "datepart", "datesub", "datetrunc", "day",
        "dayname", "dayofmonth", "dayofweek", "dayofyear", "days_in_month", "decade", "epoch",
        "epoch_ms", "epoch_ns", "epoch_us", "era", "extract", "get_current_time",
        "get_current_timestamp", "hour", "isodow", "isoyear", "julian", "last_day",
        "make_date", "make_time", "make_timestamp", "make_timestamp_ms", "make_timestamp_ns",
        "make_timestamptz", "microsecond", "millennium", "millisecond", "minute", "month",
        "monthname", "nanosecond", "normalized_interval", "now", "quarter", "second",
        "strftime", "strptime", "time_bucket", "timezone", "timezone_hour",
        "timezone_minute", "to_centuries", "to_days", "to_decades", "to_hours",
        "to_microseconds", "to_millennia", "to_milliseconds", "to_minutes", "to_months",
        "to_quarters", "to_seconds", "to_timestamp", "to_weeks", "to_years", "today",
        "transaction_timestamp", "try_strptime", "week", "weekday", "weekofyear", "year",
        "yearweek", "ago",
    ),
    "list": (
        "aggregate", "apply", "array_aggr", "array_aggregate", "array_append", "array_apply",
        "array_cat", "array_concat", "array_contains", "array_distinct", "array_extract",
        "array_filter", "array_grade_up", "array_has", "array_has_all", "array_has_any",
        "array_indexof", "array_intersect", "array_length", "array_pop_back",
        "array_pop_front", "array_position", "array_prepend", "array_push_back",
        "array_push_front", "array_reduce", "array_resize", "array_reverse",
        "array_reverse_sort", "array_select", "array_slice", "array_sort", "array_to_string",
        "array_transform", "array_unique", "array_value", "array_where", "array_zip",
        "cardinality", "element_at", "filter", "flatten", "generate_series",
        "generate_subscripts", "grade_up", "list_aggr", "list_aggregate", "list_any_value",
        "list_append", "list_apply", "list_approx_count_distinct", "list_avg", "list_bool_and",
        "list_bool_or", "list_cat", "list_concat", "list_contains", "list_cosine_distance",
        "list_cosine_similarity", "list_count", "list_distance", "list_distinct",
        "list_dot_product", "list_element", "list_entropy", "list_extract", "list_filter",
        "list_first", "list_grade_up", "list_has", "list_has_all", "list_has_any",
        "list_histogram", "list_indexof", "list_inner_product", "list_intersect",
        "list_kurtosis", "list_last", "list_mad", "list_max", "list_median", "list_min",
        "list_mode", "list_pack", "list_position", "list_prepend", "list_product",
        "list_reduce", "list_resize", "list_reverse", "list_reverse_sort", "list_select",
        "list_sem", "list_skewness", "list_slice", "list_sort", "list_stddev_pop",
        "list_stddev_samp", "list_string_agg", "list_sum", "list_transform", "list_unique",
        "list_value", "list_var_pop", "list_var_samp", "list_where", "list_zip", "range",
        "reduce", "unnest", "array_cosine_similarity", "array_distance",
        "array_inner_product", "array_dot_product",
    ),
    "struct and map": (
        "map", "map_concat", "map_contains", "map_contains_entry", "map_contains_value",
        "map_entries", "map_extract", "map_extract_value", "map_from_entries", "map_keys",
        "map_values", "row", "struct_concat", "struct_contains", "struct_extract",
        "struct_extract_at", "struct_has", "struct_indexof", "struct_insert", "struct_keys",
        "struct_pack", "struct_position", "struct_update", "struct_values", "union_extract",
        "union_tag", "union_value",
    ),
    "json": (
        "array_to_json", "json", "json_array", "json_array_length", "json_contains",
        "json_exists", "json_extract", "json_extract_path", "json_extract_path_text",
        "json_extract_string", "json_group_array", "json_group_object",
        "json_group_structure", "json_keys", "json_merge_patch", "json_object", "json_pretty",
        "json_quote", "json_structure", "json_transform", "json_transform_strict",
        "json_type", "json_valid", "json_value", "row_to_json", "to_json", "from_json",
        "from_json_strict",
    ),
    "other": (
        "coalesce", "ifnull", "nullif", "if", "typeof", "uuid", "gen_random_uuid", "uuidv4",
        "uuidv7", "uuid_extract_timestamp", "uuid_extract_version", "create_sort_key",
        "md5_number_lower", "md5_number_upper", "try_cast",
    ),
}

GENERATED_ALIASES: frozenset[str] = frozenset()
"""Names sqlglot writes for functions above that DuckDB knows by another name."""

ALLOWED: frozenset[str] = frozenset(n for names in FAMILIES.values() for n in names) | \
    GENERATED_ALIASES
"""Every DuckDB function name a governed query may call (lower case)."""

# What sqlglot generates for some nodes is not a call (``[1, 2]``, ``d + INTERVAL …``,
# ``j -> '$.a'``): their DuckDB names, for messages only.
_SPELLED = {
    "Array": "list literal [...]", "Struct": "struct literal {...}", "ToMap": "MAP {...}",
    "JSONExtract": "the -> operator", "JSONExtractScalar": "the ->> operator",
    "ArrayOverlaps": "list_has_any", "ArrayContainsAll": "list_has_all",
    "DateAdd": "date_add", "DateSub": "date_sub",
    "If": "if", "Columns": "COLUMNS", "Lambda": "a lambda",
}
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def generated_name(node: exp.Func) -> str | None:
    """The name of the function DuckDB will call for ``node`` (lower case), or None when
    the generated SQL is not a plain call."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    try:
        text = node.sql(dialect="duckdb")
    except Exception:  # noqa: BLE001 - a node sqlglot cannot write is not understood
        return None
    match = _CALL.match(text)
    return match.group(1).lower() if match else None


def duckdb_name(node: exp.Expr) -> str:
    """``node``'s function as DuckDB names it, for messages (``unnest``, not ``explode``)."""
    spelled = _SPELLED.get(type(node).__name__)
    if spelled is not None:
        return spelled
    if isinstance(node, exp.Func):
        name = generated_name(node)
        if name:
            return name
        return node.sql_name().lower()
    return node.key.upper()


def allowed(node: exp.Func) -> bool:
    """True if DuckDB will call a function of :data:`ALLOWED` for ``node``."""
    name = generated_name(node)
    return name is not None and name in ALLOWED


def family_of(name: str) -> str | None:
    """The family a DuckDB function name is listed under, or None."""
    for family, names in FAMILIES.items():
        if name in names:
            return family
    return None


def suggest_function(name: str) -> str | None:
    """The allowed function ``name`` was most likely meant to be (a typo), or None."""
    from federation.pipeline.suggest import closest

    if name in ALLOWED:
        return None
    return closest(name, ALLOWED, cutoff=0.8)
