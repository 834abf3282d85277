"""The demo's queries for the parity suite: each runs on DuckDB and on Spark, as the
admin and as the analyst, and must give the same answer.  Each construct the Spark
engine allows (federation/engines/spark_sql.py) is exercised by at least one of them."""

from __future__ import annotations

DEMO_SQL = ("SELECT c.country, p.card_brand, count(*) AS bookings, sum(p.amount) AS revenue, "
            "min(c.email) AS sample_email FROM bookings.reservations b JOIN customers.profiles c "
            "ON c.customer_id = b.customer_id JOIN payments.transactions p "
            "ON p.booking_id = b.booking_id GROUP BY ALL ORDER BY revenue DESC LIMIT 10")

# (name, SQL, ordered): ``ordered`` compares row order too (a total ORDER BY).
QUERIES: list[tuple[str, str, bool]] = [
    ("demo", DEMO_SQL, True),
    ("masked columns", "SELECT customer_id, email, phone, birth_date, signup_date, country "
     "FROM customers.profiles", False),
    ("count star and group by all", "SELECT country, count(*) AS n FROM customers.profiles "
     "GROUP BY ALL", False),
    ("avg of a decimal is a double", "SELECT currency, avg(amount) AS a, sum(amount) AS s, "
     "min(amount) AS lo, max(amount) AS hi FROM payments.transactions GROUP BY currency", False),
    ("avg distinct, filter, window", "SELECT card_brand, avg(DISTINCT amount) AS d, "
     "avg(amount) FILTER (WHERE status = 'captured') AS f FROM payments.transactions "
     "GROUP BY card_brand", False),
    ("avg over a window", "SELECT payment_id, avg(amount) OVER (PARTITION BY card_brand) AS w "
     "FROM payments.transactions", False),
    ("division as double, by zero as inf", "SELECT booking_id, fare_amount / passengers AS per, "
     "passengers / 4 AS q, fare_amount / (passengers - passengers) AS inf, "
     "passengers // 2 AS half, passengers % 2 AS odd FROM bookings.reservations", False),
    ("integer overflow of sum", "SELECT sum(passengers) AS s, sum(booking_id) AS b, "
     "count(DISTINCT customer_id) AS c FROM bookings.reservations", False),
    ("hash-masked key joins", "SELECT c.email, count(*) AS n FROM customers.profiles c JOIN "
     "bookings.reservations b ON b.customer_id = c.customer_id GROUP BY c.email", False),
    ("order by nulls last, limit", "SELECT flight_id, departure_at, distance_km FROM "
     "flights.schedule ORDER BY distance_km DESC, flight_id LIMIT 20", True),
    ("order by asc puts nulls last", "SELECT customer_id, loyalty_tier FROM "
     "customers.profiles ORDER BY loyalty_tier, customer_id LIMIT 30", True),
    ("qualify with order by and limit", "SELECT customer_id, country, signup_date FROM "
     "customers.profiles QUALIFY row_number() OVER (PARTITION BY country ORDER BY "
     "signup_date DESC, customer_id) = 1 ORDER BY country LIMIT 3", True),
    ("qualify on an aggregate alias", "SELECT country, count(*) AS n, rank() OVER (ORDER BY "
     "count(*) DESC) AS r FROM customers.profiles GROUP BY country QUALIFY r <= 2 "
     "ORDER BY r, country", True),
    ("windows", "SELECT booking_id, lag(fare_amount) OVER (PARTITION BY customer_id ORDER BY "
     "booked_at, booking_id) AS prev, dense_rank() OVER (ORDER BY fare_amount DESC) AS dr, "
     "sum(fare_amount) OVER (PARTITION BY customer_id ORDER BY booked_at, booking_id ROWS "
     "BETWEEN 1 PRECEDING AND CURRENT ROW) AS run FROM bookings.reservations", False),
    ("cte, subquery, exists, in", "WITH big AS (SELECT customer_id FROM bookings.reservations "
     "GROUP BY customer_id HAVING count(*) > 10) SELECT c.country, count(*) AS n FROM "
     "customers.profiles c WHERE c.customer_id IN (SELECT customer_id FROM big) AND EXISTS "
     "(SELECT 1 FROM payments.transactions p WHERE p.customer_id = c.customer_id) "
     "GROUP BY c.country", False),
    ("left join, coalesce, case", "SELECT c.customer_id, coalesce(b.n, 0) AS n, CASE WHEN "
     "b.n > 5 THEN 'many' WHEN b.n IS NULL THEN 'none' ELSE 'few' END AS k FROM "
     "customers.profiles c LEFT JOIN (SELECT customer_id, count(*) AS n FROM "
     "bookings.reservations GROUP BY customer_id) b ON b.customer_id = c.customer_id", False),
    ("set operations", "SELECT country FROM customers.profiles UNION SELECT origin FROM "
     "flights.schedule EXCEPT SELECT 'ES' INTERSECT SELECT country FROM customers.profiles",
     False),
    ("strings", "SELECT lower(carrier) AS l, upper(origin) AS u, length(origin) AS n, "
     "substring(destination, 2, 2) AS s, left(origin, 1) AS a, right(destination, 2) AS b, "
     "replace(carrier, 'A', 'a') AS r, concat(origin, '-', destination) AS route, "
     "origin || '>' || destination AS route2, trim('  x ') AS t FROM flights.schedule", False),
    ("like, ilike, between, in list", "SELECT count(*) AS n FROM flights.schedule WHERE "
     "carrier LIKE '%A%' AND origin ILIKE 'm%' OR distance_km BETWEEN 500 AND 1500 "
     "OR origin IN ('MAD', 'LHR')", False),
    ("dates and intervals", "SELECT booking_id, extract(year FROM booked_at) AS y, "
     "month(booked_at) AS m, day(booked_at) AS d, quarter(booked_at) AS q, "
     "CAST(booked_at AS DATE) + INTERVAL '3' MONTH AS later, year(booked_at) AS y2 "
     "FROM bookings.reservations WHERE booked_at >= DATE '2023-01-01' - INTERVAL '90' DAY",
     False),
    ("numbers", "SELECT abs(fare_amount - 500) AS a, round(fare_amount, 1) AS r, "
     "floor(fare_amount) AS f, ceil(fare_amount) AS c, sqrt(passengers) AS s, "
     "ln(passengers) AS l, exp(1) AS e, power(passengers, 2) AS p, sign(fare_amount - 500) "
     "AS g, greatest(passengers, 2) AS hi, least(passengers, 2) AS lo, nullif(passengers, 1) "
     "AS nn, -passengers AS neg FROM bookings.reservations", False),
    ("aggregates", "SELECT channel, count_if(passengers > 1) AS ci, bool_and(passengers > 0) "
     "AS ba, bool_or(passengers > 3) AS bo, stddev_samp(fare_amount) AS sd, "
     "var_pop(fare_amount) AS vp FROM bookings.reservations GROUP BY channel", False),
    ("casts", "SELECT TRY_CAST(flight_number AS INTEGER) AS i, TRY_CAST(origin AS INTEGER) "
     "AS o, CAST(flight_id AS VARCHAR) AS t, CAST(distance_km AS DOUBLE) AS d, "
     "CAST('2024-02-03' AS DATE) AS dt, "
     "CAST(seats AS DECIMAL(10, 2)) AS dec FROM flights.schedule", False),
    ("iceberg product", "SELECT channel, count(*) AS n, sum(budget) AS b, min(start_date) AS s "
     "FROM marketing.campaigns GROUP BY channel", False),
    ("hive partition column", "SELECT booking_year, count(*) AS n FROM bookings.reservations "
     "GROUP BY booking_year", False),
    ("date minus date is a number of days", "SELECT campaign_id, end_date - start_date AS "
     "days, start_date - DATE '2020-01-01' AS since, start_date + 3 AS later FROM "
     "marketing.campaigns", False),
    ("materialized cte, frames", "WITH t AS MATERIALIZED (SELECT carrier, count(*) AS n "
     "FROM flights.schedule GROUP BY carrier) SELECT carrier, n, sum(n) OVER (ORDER BY "
     "carrier ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING) AS w, sum(n) OVER (ORDER BY carrier "
     "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS r FROM t", False),
    ("null-safe equality and is null", "SELECT count(*) AS n FROM customers.profiles WHERE "
     "loyalty_tier IS NOT DISTINCT FROM NULL OR loyalty_tier IS NULL", False),
    # E'' strings are ordinary literals once parsed: Spark's own quoting of backslashes,
    # quotes, control characters and non-ASCII text must give the same strings.
    ("escape strings", r"SELECT origin, E'it\'s a \\ back''slash\n\tend\x41\101\xc3\xa9' AS e, "
     r"origin || E'\\' AS o FROM flights.schedule WHERE origin <> E'\'' OR "
     r"carrier LIKE E'%\x41%'", False),
]

# Constructs the Spark engine refuses (fail closed): SQL → a word of the refusal.
REFUSED: list[tuple[str, str]] = [
    ("SELECT list_contains([1], 1) AS x FROM flights.schedule", "array_contains"),
    ("SELECT median(distance_km) FROM flights.schedule", "median"),
    ("SELECT date_diff('month', booked_at, booked_at) FROM bookings.reservations", "date"),
    ("SELECT regexp_matches(origin, 'M') FROM flights.schedule", "regexp"),
    ("SELECT origin FROM flights.schedule ORDER BY ALL", "ORDER BY ALL"),
    ("SELECT CAST(distance_km * 1.5 AS VARCHAR) FROM flights.schedule", "cast"),
    ("SELECT CAST(fare_amount AS INTEGER) FROM bookings.reservations", "cast"),
    ("SELECT array_agg(origin ORDER BY origin) FROM flights.schedule", "array_agg"),
    ("SELECT DISTINCT ON (origin) origin FROM flights.schedule", "DISTINCT"),
    ("SELECT string_agg(origin, ',') FROM flights.schedule", "group_concat"),
    ("SELECT 3.7::INTEGER AS r", "cast to an integer"),
    ("SELECT 1e20::VARCHAR AS t", "cast to text"),
    ("SELECT booked_at - booked_at AS x FROM bookings.reservations", "arithmetic"),
    ("SELECT count(*) OVER (ORDER BY booked_at RANGE BETWEEN INTERVAL 7 DAY PRECEDING AND "
     "CURRENT ROW) AS n FROM bookings.reservations", "RANGE frame"),
    ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) "
     "SELECT n FROM t", "WITH RECURSIVE"),
    ("SELECT booked_at AT TIME ZONE 'America/New_York' AS t FROM bookings.reservations",
     "AT TIME ZONE"),
    ("SELECT count(*) FROM flights.schedule WHERE origin LIKE 'M!%%' ESCAPE '!'",
     "LIKE … ESCAPE"),
    ("SELECT count(*) FROM flights.schedule WHERE origin NOT ILIKE 'm!_%' ESCAPE '!'",
     "LIKE … ESCAPE"),
    ("SELECT origin FROM flights.schedule ORDER BY origin COLLATE nocase", "COLLATE"),
    ("SELECT count(*) FROM flights.schedule WHERE origin COLLATE noaccent.nocase = 'mad'",
     "COLLATE"),
    ("SELECT [distance_km] <-> [1.0] AS d FROM flights.schedule", "<->"),
    ("SELECT [origin] <@ [origin, destination] AS c FROM flights.schedule", "<@"),
]
