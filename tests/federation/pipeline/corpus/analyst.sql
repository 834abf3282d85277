-- The analyst corpus: queries an analyst writes over the demo mesh, adapted from the
-- examples of DuckDB's documentation (duckdb.org/docs/sql/...), one per statement.
--
-- tests/federation/pipeline/test_corpus.py runs each one as admin (adam) and compares the
-- result with raw DuckDB over the demo's Parquet files (the oracle), and as an analyst
-- (ana) to check that it is governed.  Annotations, in comments right before a query:
--   -- refused: TEXT   duckmesh refuses it; TEXT is part of the one-line reason
--   -- check: rows     compare row counts only (random, now(), samples)
--   -- check: summarize  compare SUMMARIZE's exact columns (its quantiles are approximate)
--   -- check: runs     only check that it runs (SHOW TABLES: raw DuckDB has no products)

-- == SELECT basics (docs: sql/query_syntax/select, where, orderby, limit)
SELECT * FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT flight_id, carrier, origin, destination FROM flights.schedule WHERE distance_km > 5000 ORDER BY flight_id LIMIT 10;
SELECT DISTINCT carrier FROM flights.schedule ORDER BY carrier;
SELECT DISTINCT origin, destination FROM flights.schedule ORDER BY ALL LIMIT 20;
SELECT DISTINCT ON (carrier) carrier, flight_id, distance_km FROM flights.schedule ORDER BY carrier, distance_km DESC, flight_id;
SELECT * EXCLUDE (seats, distance_km) FROM flights.schedule ORDER BY flight_id LIMIT 3;
SELECT * REPLACE (upper(origin) AS origin) FROM flights.schedule ORDER BY flight_id LIMIT 3;
SELECT booking_id, fare_amount FROM bookings.reservations ORDER BY fare_amount DESC, booking_id LIMIT 10 OFFSET 5;
SELECT flight_id FROM flights.schedule ORDER BY flight_id LIMIT 1%;
SELECT booking_id FROM bookings.reservations WHERE status IN ('cancelled', 'refunded') ORDER BY booking_id LIMIT 20;
SELECT booking_id FROM bookings.reservations WHERE fare_amount BETWEEN 100 AND 200 ORDER BY booking_id LIMIT 20;
SELECT count(*) FROM bookings.reservations WHERE channel IS NOT NULL;
SELECT count(*) FROM bookings.reservations WHERE NOT (status = 'completed');
SELECT booking_id, passengers FROM bookings.reservations WHERE passengers >= 4 AND channel = 'web' ORDER BY booking_id LIMIT 10;
SELECT carrier, origin FROM flights.schedule ORDER BY ALL LIMIT 10;
SELECT carrier, distance_km FROM flights.schedule ORDER BY 2 DESC, 1, flight_id LIMIT 10;
SELECT flight_id FROM flights.schedule ORDER BY seats NULLS FIRST, flight_id LIMIT 5;
SELECT 42 AS answer, 'duck' AS animal, NULL AS nothing;
SELECT 1 + 2 * 3 AS x, 7 // 2 AS y, 7 % 3 AS z, 2 ** 10 AS w;
FROM flights.schedule SELECT carrier, count(*) AS n GROUP BY carrier ORDER BY carrier;
FROM flights.schedule SELECT flight_id WHERE seats > 250 ORDER BY flight_id LIMIT 5;
SELECT name, budget FROM marketing.campaigns ORDER BY budget DESC, campaign_id LIMIT 5;
SELECT * FROM marketing.touchpoints ORDER BY touchpoint_id LIMIT 5;
SELECT payment_id, amount, card_brand FROM payments.transactions ORDER BY payment_id LIMIT 5;
SELECT customer_id, country, loyalty_tier FROM customers.profiles ORDER BY customer_id LIMIT 10;
SELECT count(*) AS n FROM customers.profiles WHERE loyalty_tier = 'gold' AND region = 'EU';

-- == Aggregates (docs: sql/functions/aggregates)
SELECT count(*), count(channel), count(DISTINCT channel) FROM bookings.reservations;
SELECT sum(fare_amount), avg(fare_amount), min(fare_amount), max(fare_amount) FROM bookings.reservations;
SELECT channel, sum(fare_amount) AS revenue FROM bookings.reservations GROUP BY channel ORDER BY channel;
SELECT status, count(*) AS n, avg(passengers) AS avg_pax FROM bookings.reservations GROUP BY status ORDER BY status;
SELECT channel, status, count(*) FROM bookings.reservations GROUP BY ALL ORDER BY ALL;
SELECT channel, count(*) AS n FROM bookings.reservations GROUP BY channel HAVING count(*) > 100 ORDER BY channel;
SELECT median(fare_amount) FROM bookings.reservations;
SELECT quantile_cont(fare_amount, 0.9) AS p90, quantile_disc(fare_amount, 0.5) AS p50 FROM bookings.reservations;
SELECT quantile_cont(fare_amount, [0.25, 0.5, 0.75]) AS quartiles FROM bookings.reservations;
SELECT mode(channel) FROM bookings.reservations;
SELECT approx_count_distinct(customer_id) FROM bookings.reservations;
SELECT arg_max(booking_id, fare_amount), arg_min(booking_id, fare_amount) FROM bookings.reservations;
SELECT max_by(carrier, distance_km), min_by(carrier, distance_km) FROM flights.schedule;
SELECT carrier, string_agg(DISTINCT origin, ',' ORDER BY origin) AS origins FROM flights.schedule GROUP BY carrier ORDER BY carrier;
SELECT carrier, list(flight_id ORDER BY flight_id) AS flights FROM flights.schedule WHERE seats > 280 GROUP BY carrier ORDER BY carrier;
SELECT histogram(passengers) FROM bookings.reservations;
SELECT bool_and(converted), bool_or(converted) FROM marketing.touchpoints;
SELECT count_if(converted) AS conversions, count(*) AS touches FROM marketing.touchpoints;
SELECT count(*) FILTER (WHERE status = 'cancelled') AS cancelled, count(*) FILTER (WHERE status = 'completed') AS completed FROM bookings.reservations;
SELECT channel, sum(fare_amount) FILTER (WHERE passengers > 1) AS group_revenue FROM bookings.reservations GROUP BY channel ORDER BY channel;
SELECT stddev_samp(fare_amount), stddev_pop(fare_amount), var_samp(fare_amount) FROM bookings.reservations;
SELECT corr(distance_km, seats), covar_pop(distance_km, seats) FROM flights.schedule;
SELECT regr_slope(seats, distance_km), regr_intercept(seats, distance_km) FROM flights.schedule;
SELECT geomean(distance_km) FROM flights.schedule;
SELECT entropy(channel) FROM bookings.reservations;
SELECT kurtosis(fare_amount), skewness(fare_amount) FROM bookings.reservations;
SELECT first(booking_id ORDER BY booked_at) AS first_booking, last(booking_id ORDER BY booked_at) AS last_booking FROM bookings.reservations;
SELECT any_value(carrier) IS NOT NULL AS has_carrier FROM flights.schedule;
SELECT product(passengers) FROM bookings.reservations WHERE booking_id <= 5;
SELECT bit_or(passengers), bit_and(passengers) FROM bookings.reservations;
SELECT fsum(fare_amount) AS total FROM bookings.reservations;
SELECT array_agg(DISTINCT channel ORDER BY channel) FROM bookings.reservations;
SELECT sum(amount) AS paid, count(DISTINCT customer_id) AS payers FROM payments.transactions WHERE status = 'captured';
SELECT card_brand, round(avg(amount), 2) AS avg_amount FROM payments.transactions GROUP BY card_brand ORDER BY card_brand;
SELECT currency, sum(fare_amount) FROM bookings.reservations GROUP BY currency ORDER BY currency;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY fare_amount) AS median_fare FROM bookings.reservations;
SELECT percentile_disc(0.25) WITHIN GROUP (ORDER BY distance_km) AS q1 FROM flights.schedule;
SELECT channel, percentile_cont(0.9) WITHIN GROUP (ORDER BY fare_amount) AS p90 FROM bookings.reservations GROUP BY channel ORDER BY channel;
SELECT mode() WITHIN GROUP (ORDER BY carrier) AS top_carrier FROM flights.schedule;

-- == ROLLUP, CUBE, GROUPING SETS (docs: sql/query_syntax/grouping_sets)
SELECT channel, status, sum(fare_amount) FROM bookings.reservations GROUP BY ROLLUP (channel, status) ORDER BY ALL NULLS LAST;
SELECT channel, status, count(*) FROM bookings.reservations GROUP BY CUBE (channel, status) ORDER BY ALL NULLS LAST;
SELECT channel, status, count(*) FROM bookings.reservations GROUP BY GROUPING SETS ((channel), (status), ()) ORDER BY ALL NULLS LAST;
SELECT channel, status, grouping(channel, status) AS level, count(*) FROM bookings.reservations GROUP BY ROLLUP (channel, status) ORDER BY ALL NULLS LAST;
SELECT grouping_id(carrier) AS g, carrier, count(*) FROM flights.schedule GROUP BY ROLLUP (carrier) ORDER BY ALL NULLS LAST;
SELECT booking_year, channel, sum(passengers) FROM bookings.reservations GROUP BY GROUPING SETS ((booking_year, channel), (booking_year)) ORDER BY ALL NULLS LAST;
SELECT origin, destination, count(*) FROM flights.schedule GROUP BY CUBE (origin, destination) HAVING count(*) > 5 ORDER BY ALL NULLS LAST;
SELECT region, loyalty_tier, count(*) FROM customers.profiles GROUP BY ROLLUP (region, loyalty_tier) ORDER BY ALL NULLS LAST;
SELECT channel, count(*) FROM marketing.campaigns GROUP BY ROLLUP (channel) ORDER BY ALL NULLS LAST;
SELECT card_brand, status, sum(amount) FROM payments.transactions GROUP BY CUBE (card_brand, status) ORDER BY ALL NULLS LAST;

-- == Window functions (docs: sql/functions/window_functions, sql/query_syntax/qualify)
SELECT booking_id, row_number() OVER (ORDER BY booking_id) AS rn FROM bookings.reservations ORDER BY booking_id LIMIT 10;
SELECT booking_id, channel, rank() OVER (PARTITION BY channel ORDER BY fare_amount DESC, booking_id) AS r FROM bookings.reservations ORDER BY channel, r LIMIT 20;
SELECT booking_id, dense_rank() OVER (ORDER BY passengers) AS dr FROM bookings.reservations ORDER BY booking_id LIMIT 20;
SELECT booking_id, fare_amount, lag(fare_amount) OVER (ORDER BY booking_id) AS prev FROM bookings.reservations ORDER BY booking_id LIMIT 10;
SELECT booking_id, fare_amount, lead(fare_amount, 2, 0) OVER (ORDER BY booking_id) AS next2 FROM bookings.reservations ORDER BY booking_id LIMIT 10;
SELECT booking_id, sum(fare_amount) OVER (ORDER BY booking_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM bookings.reservations ORDER BY booking_id LIMIT 10;
SELECT booking_id, avg(fare_amount) OVER (ORDER BY booking_id ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS moving FROM bookings.reservations ORDER BY booking_id LIMIT 10;
SELECT flight_id, ntile(4) OVER (ORDER BY distance_km, flight_id) AS quartile FROM flights.schedule ORDER BY flight_id LIMIT 20;
SELECT flight_id, percent_rank() OVER (ORDER BY distance_km, flight_id) AS pr, cume_dist() OVER (ORDER BY distance_km, flight_id) AS cd FROM flights.schedule ORDER BY flight_id LIMIT 10;
SELECT DISTINCT carrier, first_value(flight_id) OVER (PARTITION BY carrier ORDER BY flight_id) AS first_flight FROM flights.schedule ORDER BY carrier;
SELECT flight_id, last_value(flight_id) OVER (PARTITION BY carrier ORDER BY flight_id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_flight FROM flights.schedule ORDER BY flight_id LIMIT 10;
SELECT flight_id, nth_value(flight_id, 2) OVER (PARTITION BY carrier ORDER BY flight_id) AS second FROM flights.schedule ORDER BY flight_id LIMIT 10;
SELECT booking_id, channel, fare_amount FROM bookings.reservations QUALIFY row_number() OVER (PARTITION BY channel ORDER BY fare_amount DESC, booking_id) = 1 ORDER BY channel;
SELECT carrier, flight_id, distance_km FROM flights.schedule QUALIFY rank() OVER (PARTITION BY carrier ORDER BY distance_km DESC, flight_id) <= 2 ORDER BY carrier, distance_km DESC;
SELECT booking_id, sum(passengers) OVER w AS pax, count(*) OVER w AS n FROM bookings.reservations WINDOW w AS (PARTITION BY channel ORDER BY booking_id) ORDER BY booking_id LIMIT 10;
SELECT booking_id, fare_amount - avg(fare_amount) OVER (PARTITION BY channel) AS diff FROM bookings.reservations ORDER BY booking_id LIMIT 10;
SELECT booking_id, booked_at, count(*) OVER (ORDER BY booked_at RANGE BETWEEN INTERVAL 7 DAY PRECEDING AND CURRENT ROW) AS last_week FROM bookings.reservations ORDER BY booking_id LIMIT 10;
SELECT customer_id, booking_id, row_number() OVER (PARTITION BY customer_id ORDER BY booked_at, booking_id) AS nth_booking FROM bookings.reservations ORDER BY customer_id, nth_booking LIMIT 20;
SELECT channel, count(*) AS n, sum(count(*)) OVER () AS total FROM bookings.reservations GROUP BY channel ORDER BY channel;
SELECT channel, round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct FROM bookings.reservations GROUP BY channel ORDER BY channel;
SELECT payment_id, amount, max(amount) OVER (PARTITION BY card_brand) AS brand_max FROM payments.transactions ORDER BY payment_id LIMIT 10;
SELECT touchpoint_id, lag(touched_at) OVER (PARTITION BY customer_id ORDER BY touched_at, touchpoint_id) AS previous_touch FROM marketing.touchpoints ORDER BY touchpoint_id LIMIT 10;
SELECT booking_id, count(*) OVER (PARTITION BY customer_id) AS bookings_of_customer FROM bookings.reservations ORDER BY booking_id LIMIT 10;
SELECT flight_id, min(distance_km) OVER (ORDER BY flight_id ROWS 3 PRECEDING) AS m FROM flights.schedule ORDER BY flight_id LIMIT 10;
SELECT campaign_id, budget, sum(budget) OVER (PARTITION BY channel ORDER BY start_date, campaign_id) AS cumulative FROM marketing.campaigns ORDER BY campaign_id;

-- == Joins (docs: sql/query_syntax/from)
SELECT r.booking_id, f.carrier FROM bookings.reservations r JOIN flights.schedule f ON r.flight_id = f.flight_id ORDER BY r.booking_id LIMIT 10;
SELECT r.booking_id, f.origin FROM bookings.reservations r JOIN flights.schedule f USING (flight_id) ORDER BY r.booking_id LIMIT 10;
SELECT f.carrier, count(r.booking_id) AS bookings FROM flights.schedule f LEFT JOIN bookings.reservations r ON r.flight_id = f.flight_id GROUP BY f.carrier ORDER BY f.carrier;
SELECT count(*) FROM bookings.reservations r RIGHT JOIN flights.schedule f ON r.flight_id = f.flight_id;
SELECT count(*) FROM bookings.reservations r FULL OUTER JOIN payments.transactions p ON p.booking_id = r.booking_id;
SELECT count(*) FROM flights.schedule f SEMI JOIN bookings.reservations r ON r.flight_id = f.flight_id;
SELECT count(*) FROM flights.schedule f ANTI JOIN bookings.reservations r ON r.flight_id = f.flight_id;
SELECT c.country, sum(r.fare_amount) AS revenue FROM bookings.reservations r JOIN customers.profiles c ON c.customer_id = r.customer_id GROUP BY c.country ORDER BY c.country;
SELECT c.loyalty_tier, count(DISTINCT r.customer_id) AS customers FROM customers.profiles c JOIN bookings.reservations r USING (customer_id) GROUP BY ALL ORDER BY ALL;
SELECT r.channel, sum(p.amount) AS paid FROM bookings.reservations r JOIN payments.transactions p ON p.booking_id = r.booking_id GROUP BY r.channel ORDER BY r.channel;
SELECT a.flight_id, b.flight_id FROM flights.schedule a JOIN flights.schedule b ON a.origin = b.destination AND a.destination = b.origin WHERE a.flight_id < b.flight_id ORDER BY 1, 2 LIMIT 10;
SELECT t.campaign_id, c.name, count(*) AS touches FROM marketing.touchpoints t JOIN marketing.campaigns c USING (campaign_id) GROUP BY ALL ORDER BY t.campaign_id;
SELECT c.channel, avg(t.converted::INTEGER) AS conversion_rate FROM marketing.touchpoints t JOIN marketing.campaigns c ON c.campaign_id = t.campaign_id GROUP BY c.channel ORDER BY c.channel;
SELECT count(*) FROM flights.schedule CROSS JOIN (SELECT 1 UNION ALL SELECT 2) AS two(x);
SELECT r.booking_id, x.fare FROM bookings.reservations r, LATERAL (SELECT r.fare_amount * 2 AS fare) x ORDER BY r.booking_id LIMIT 5;
SELECT r.booking_id, p.payment_id FROM bookings.reservations r ASOF JOIN payments.transactions p ON r.customer_id = p.customer_id AND r.booked_at >= p.paid_at ORDER BY r.booking_id LIMIT 20;
SELECT r.booking_id, f.flight_id FROM bookings.reservations r ASOF LEFT JOIN flights.schedule f ON r.booked_at >= f.departure_at ORDER BY r.booking_id LIMIT 20;
SELECT count(*) FROM bookings.reservations r ASOF JOIN marketing.touchpoints t ON r.customer_id = t.customer_id AND r.booked_at >= t.touched_at;
SELECT a.flight_id, b.campaign_id FROM (SELECT flight_id FROM flights.schedule ORDER BY flight_id LIMIT 5) a POSITIONAL JOIN (SELECT campaign_id FROM marketing.campaigns ORDER BY campaign_id LIMIT 5) b;
SELECT count(*) FROM flights.schedule a POSITIONAL JOIN flights.schedule b;
SELECT r.booking_id FROM bookings.reservations r WHERE r.flight_id IN (SELECT flight_id FROM flights.schedule WHERE carrier = 'AC') ORDER BY r.booking_id LIMIT 10;
SELECT f.carrier, count(*) FROM flights.schedule f JOIN bookings.reservations r ON r.flight_id = f.flight_id AND r.status = 'completed' GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM bookings.reservations r JOIN flights.schedule f ON r.flight_id = f.flight_id JOIN customers.profiles c ON c.customer_id = r.customer_id;
SELECT c.region, f.carrier, count(*) FROM bookings.reservations r JOIN flights.schedule f USING (flight_id) JOIN customers.profiles c USING (customer_id) GROUP BY ALL ORDER BY ALL;

-- == CTEs and subqueries (docs: sql/query_syntax/with)
WITH big AS (SELECT * FROM bookings.reservations WHERE fare_amount > 1000) SELECT count(*) FROM big;
WITH per_channel AS (SELECT channel, sum(fare_amount) AS revenue FROM bookings.reservations GROUP BY channel) SELECT channel FROM per_channel WHERE revenue > (SELECT avg(revenue) FROM per_channel) ORDER BY channel;
WITH a AS (SELECT flight_id FROM flights.schedule WHERE seats > 200), b AS (SELECT flight_id FROM a WHERE flight_id % 2 = 0) SELECT count(*) FROM b;
WITH t AS MATERIALIZED (SELECT carrier, count(*) AS n FROM flights.schedule GROUP BY carrier) SELECT * FROM t ORDER BY carrier;
SELECT (SELECT max(fare_amount) FROM bookings.reservations) AS top_fare;
SELECT carrier, (SELECT count(*) FROM bookings.reservations r WHERE r.flight_id = f.flight_id) AS n FROM flights.schedule f ORDER BY flight_id LIMIT 10;
SELECT count(*) FROM customers.profiles c WHERE EXISTS (SELECT 1 FROM bookings.reservations r WHERE r.customer_id = c.customer_id);
SELECT count(*) FROM customers.profiles c WHERE NOT EXISTS (SELECT 1 FROM payments.transactions p WHERE p.customer_id = c.customer_id);
SELECT booking_id FROM bookings.reservations WHERE fare_amount > ALL (SELECT amount FROM payments.transactions WHERE amount < 100) ORDER BY booking_id LIMIT 5;
SELECT booking_id FROM bookings.reservations WHERE fare_amount = ANY (SELECT budget FROM marketing.campaigns) ORDER BY booking_id;
SELECT x.channel, x.n FROM (SELECT channel, count(*) AS n FROM bookings.reservations GROUP BY channel) AS x ORDER BY x.n DESC, x.channel;
SELECT * FROM (SELECT flight_id, distance_km FROM flights.schedule) t WHERE t.distance_km > 9000 ORDER BY flight_id;
WITH months AS (SELECT date_trunc('month', booked_at) AS m, count(*) AS n FROM bookings.reservations GROUP BY 1) SELECT m, n, n - lag(n) OVER (ORDER BY m) AS change FROM months ORDER BY m;
WITH customer_totals AS (SELECT customer_id, sum(fare_amount) AS spent FROM bookings.reservations GROUP BY customer_id) SELECT ntile(10) OVER (ORDER BY spent, customer_id) AS decile, customer_id FROM customer_totals ORDER BY customer_id LIMIT 20;

-- == Recursive CTEs (docs: sql/query_syntax/with#recursive-ctes)
WITH RECURSIVE fib(a, b, n) AS (SELECT 0, 1, 1 UNION ALL SELECT b, a + b, n + 1 FROM fib WHERE n < 20) SELECT a FROM fib ORDER BY n;
WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 100) SELECT sum(n) FROM t;
WITH RECURSIVE days(d) AS (SELECT DATE '2024-01-01' UNION ALL SELECT d + 1 FROM days WHERE d < DATE '2024-01-31') SELECT count(*) FROM days;
WITH RECURSIVE hops(origin, destination, n) AS (SELECT origin, destination, 1 FROM flights.schedule WHERE origin = 'MAD' UNION ALL SELECT h.origin, f.destination, h.n + 1 FROM hops h JOIN flights.schedule f ON f.origin = h.destination WHERE h.n < 2) SELECT n, count(*) FROM hops GROUP BY n ORDER BY n;
WITH RECURSIVE powers(p) AS (SELECT 1::BIGINT UNION ALL SELECT p * 2 FROM powers WHERE p < 1000000) SELECT max(p) FROM powers;
WITH RECURSIVE countdown(n) AS (SELECT 10 UNION ALL SELECT n - 1 FROM countdown WHERE n > 0) SELECT list(n ORDER BY n DESC) FROM countdown;
WITH RECURSIVE chain(customer_id, depth) AS (SELECT min(customer_id), 0 FROM customers.profiles UNION ALL SELECT c.customer_id + 1, c.depth + 1 FROM chain c WHERE c.depth < 5) SELECT * FROM chain ORDER BY depth;
WITH RECURSIVE fact(n, f) AS (SELECT 1, 1::HUGEINT UNION ALL SELECT n + 1, f * (n + 1) FROM fact WHERE n < 25) SELECT f FROM fact WHERE n = 25;
-- refused: only UNION ALL recursion
WITH RECURSIVE reach(airport) AS (SELECT 'MAD' UNION SELECT f.destination FROM reach r JOIN flights.schedule f ON f.origin = r.airport) SELECT count(*) FROM reach;

-- == Set operations (docs: sql/query_syntax/setops)
SELECT origin AS airport FROM flights.schedule UNION SELECT destination FROM flights.schedule ORDER BY airport;
SELECT carrier FROM flights.schedule WHERE seats > 250 UNION ALL SELECT carrier FROM flights.schedule WHERE seats < 150 ORDER BY carrier LIMIT 20;
SELECT origin FROM flights.schedule INTERSECT SELECT destination FROM flights.schedule ORDER BY 1;
SELECT origin FROM flights.schedule EXCEPT SELECT destination FROM flights.schedule WHERE carrier = 'AC' ORDER BY 1;
SELECT customer_id FROM bookings.reservations EXCEPT SELECT customer_id FROM payments.transactions ORDER BY 1 LIMIT 10;
SELECT customer_id FROM marketing.touchpoints INTERSECT SELECT customer_id FROM bookings.reservations ORDER BY 1 LIMIT 10;
(SELECT 'booking' AS kind, count(*) AS n FROM bookings.reservations) UNION ALL (SELECT 'payment', count(*) FROM payments.transactions) ORDER BY kind;
-- refused: UNION BY NAME
SELECT 1 AS a, 2 AS b UNION BY NAME SELECT 3 AS b, 4 AS a;

-- == Date and time (docs: sql/functions/date, timestamp, interval, datepart)
SELECT date_trunc('month', booked_at) AS month, count(*) FROM bookings.reservations GROUP BY 1 ORDER BY 1;
SELECT date_trunc('week', booked_at) AS week, count(*) FROM bookings.reservations GROUP BY 1 ORDER BY 1 LIMIT 10;
SELECT date_part('year', booked_at) AS y, count(*) FROM bookings.reservations GROUP BY 1 ORDER BY 1;
SELECT extract(month FROM booked_at) AS m, count(*) FROM bookings.reservations GROUP BY 1 ORDER BY 1;
SELECT extract(dow FROM departure_at) AS dow, count(*) FROM flights.schedule GROUP BY 1 ORDER BY 1;
SELECT year(booked_at), month(booked_at), day(booked_at), hour(booked_at) FROM bookings.reservations ORDER BY booking_id LIMIT 5;
SELECT quarter(booked_at) AS q, count(*) FROM bookings.reservations GROUP BY q ORDER BY q;
SELECT dayname(departure_at) AS d, count(*) FROM flights.schedule GROUP BY d ORDER BY d;
SELECT monthname(booked_at) AS m, count(*) FROM bookings.reservations GROUP BY m ORDER BY m;
SELECT week(booked_at) AS w, count(*) FROM bookings.reservations GROUP BY w ORDER BY w LIMIT 10;
SELECT isodow(booked_at) AS d, count(*) FROM bookings.reservations GROUP BY d ORDER BY d;
SELECT dayofyear(booked_at), weekofyear(booked_at), yearweek(booked_at) FROM bookings.reservations ORDER BY booking_id LIMIT 5;
SELECT strftime(booked_at, '%Y-%m') AS ym, count(*) FROM bookings.reservations GROUP BY ym ORDER BY ym LIMIT 12;
SELECT strftime(departure_at, '%A %d %B %Y %H:%M') AS pretty FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT strptime('2024-03-05 10:20', '%Y-%m-%d %H:%M') AS ts;
SELECT try_strptime('not a date', '%Y-%m-%d') AS ts;
SELECT age(TIMESTAMP '2024-03-01', TIMESTAMP '2020-01-15') AS a;
SELECT booking_id, age(departure_at, booked_at) AS lead_time FROM bookings.reservations JOIN flights.schedule USING (flight_id) ORDER BY booking_id LIMIT 5;
SELECT date_diff('day', booked_at, departure_at) AS days_ahead, count(*) FROM bookings.reservations r JOIN flights.schedule f USING (flight_id) GROUP BY 1 ORDER BY 1 LIMIT 10;
SELECT datediff('month', DATE '2023-01-31', DATE '2024-03-01') AS m;
SELECT date_sub('hour', TIMESTAMP '2024-01-01 00:00', TIMESTAMP '2024-01-02 06:00') AS h;
SELECT booked_at + INTERVAL 30 DAY AS due FROM bookings.reservations ORDER BY booking_id LIMIT 5;
SELECT booked_at - INTERVAL '2 hours' AS earlier FROM bookings.reservations ORDER BY booking_id LIMIT 5;
SELECT DATE '2024-02-28' + INTERVAL 1 DAY AS next_day, DATE '2024-02-28' + 2 AS plus_two;
SELECT date_add(DATE '2024-01-31', INTERVAL 1 MONTH) AS d;
SELECT INTERVAL 1 YEAR + INTERVAL 3 MONTH AS i, to_days(5) AS d, to_hours(3) AS h;
SELECT time_bucket(INTERVAL '1 day', booked_at) AS day, count(*) FROM bookings.reservations GROUP BY day ORDER BY day LIMIT 10;
SELECT time_bucket(INTERVAL '1 week', booked_at, TIMESTAMP '2021-01-04') AS week, sum(fare_amount) FROM bookings.reservations GROUP BY week ORDER BY week LIMIT 10;
SELECT time_bucket(INTERVAL '6 hours', departure_at) AS slot, count(*) FROM flights.schedule GROUP BY slot ORDER BY slot LIMIT 10;
SELECT make_date(2024, 2, 29) AS leap, make_timestamp(2024, 1, 1, 12, 30, 0) AS ts;
SELECT last_day(DATE '2024-02-10') AS eom;
SELECT epoch(TIMESTAMP '2024-01-01 00:00:00') AS secs, epoch_ms(TIMESTAMP '2024-01-01 00:00:00') AS ms;
SELECT to_timestamp(1700000000) AS ts;
SELECT make_date(booking_year::INTEGER, 1, 1) AS year_start, count(*) FROM bookings.reservations GROUP BY 1 ORDER BY 1;
SELECT min(booked_at)::DATE AS first_day, max(booked_at)::DATE AS last_day FROM bookings.reservations;
SELECT CAST(booked_at AS DATE) AS d, count(*) FROM bookings.reservations GROUP BY d ORDER BY d LIMIT 5;
SELECT departure_at::TIME AS t FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT start_date, end_date, end_date - start_date AS days FROM marketing.campaigns ORDER BY campaign_id LIMIT 10;
SELECT campaign_id FROM marketing.campaigns WHERE DATE '2023-06-01' BETWEEN start_date AND end_date ORDER BY campaign_id;
SELECT date_trunc('quarter', paid_at) AS q, sum(amount) FROM payments.transactions GROUP BY q ORDER BY q;
SELECT century(DATE '2024-01-01'), decade(DATE '2024-01-01'), millennium(DATE '2024-01-01');
SELECT isoyear(DATE '2021-01-01') AS iso, dayofmonth(DATE '2021-01-31') AS dom, weekday(DATE '2021-01-31') AS wd;
SELECT generate_series AS d FROM generate_series(DATE '2024-01-01', DATE '2024-01-07', INTERVAL 1 DAY) ORDER BY d;
SELECT range AS h FROM range(TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-02', INTERVAL 6 HOUR) ORDER BY h;
SELECT d.day, count(r.booking_id) AS n FROM generate_series(DATE '2022-01-01', DATE '2022-01-10', INTERVAL 1 DAY) AS d(day) LEFT JOIN bookings.reservations r ON r.booked_at::DATE = d.day GROUP BY d.day ORDER BY d.day;
SELECT date_part(['year', 'month'], DATE '2024-05-17') AS parts;
SELECT datepart('minute', TIMESTAMP '2024-01-01 10:42:00') AS minute;
SELECT timezone('UTC', TIMESTAMP '2024-01-01 10:00') IS NOT NULL AS ok;
SELECT normalized_interval(INTERVAL '40 days') AS i;
SELECT to_months(14) AS m, to_weeks(2) AS w, to_minutes(90) AS mi;
-- check: rows
SELECT current_date - DATE '2020-01-01' > 0 AS after_2020, now() > TIMESTAMP '2020-01-01' AS later;
-- check: rows
SELECT today() >= DATE '2024-01-01' AS t;
-- check: rows
SELECT current_date, current_timestamp > TIMESTAMP '2020-01-01' AS later;

-- == Strings (docs: sql/functions/char)
SELECT lower(carrier), upper(origin), length(destination) FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT concat(origin, '-', destination) AS route, origin || '→' || destination AS arrow FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT concat_ws('/', carrier, flight_number, origin) AS code FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT substring(name, 1, 6) AS prefix, left(name, 3) AS l, right(name, 4) AS r FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT name[1:6] AS sliced FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT lpad(flight_number::VARCHAR, 6, '0') AS padded, rpad(carrier, 5, '*') AS r FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT trim('  duck  ') AS t, ltrim('xxduck', 'x') AS l, rtrim('duckyy', 'y') AS r;
SELECT replace(name, ' ', '_') AS snake FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT reverse(carrier), repeat(carrier, 2) FROM flights.schedule ORDER BY flight_id LIMIT 3;
SELECT split_part(name, ' ', 1) AS season, count(*) FROM marketing.campaigns GROUP BY season ORDER BY season;
SELECT string_split(name, ' ') AS words FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT str_split(name, ' ')[1] AS first_word FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT starts_with(name, 'Summer') AS s, ends_with(name, '2024') AS e, contains(name, 'City') AS c FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT name FROM marketing.campaigns WHERE name LIKE 'Summer%' ORDER BY campaign_id;
SELECT name FROM marketing.campaigns WHERE name ILIKE '%city%' ORDER BY campaign_id;
SELECT name FROM marketing.campaigns WHERE name NOT LIKE '%2023' ORDER BY campaign_id LIMIT 5;
SELECT name FROM marketing.campaigns WHERE name SIMILAR TO '(Summer|Winter).*' ORDER BY campaign_id;
SELECT name FROM marketing.campaigns WHERE name GLOB '*Break*' ORDER BY campaign_id;
SELECT position('City' IN name) AS p, strpos(name, 'Break') AS s, instr(name, ' ') AS i FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT format('{} flies {} → {}', carrier, origin, destination) AS line FROM flights.schedule ORDER BY flight_id LIMIT 3;
SELECT printf('%s-%04d', carrier, flight_number) AS code FROM flights.schedule ORDER BY flight_id LIMIT 3;
SELECT levenshtein('duck', 'dusk') AS l, damerau_levenshtein('duck', 'dukc') AS d, jaro_winkler_similarity('duck', 'duke') AS j;
SELECT hamming('duck', 'luck') AS h, jaccard('duck', 'luck') AS j, mismatches('duck', 'dusk') AS m;
SELECT md5('duck') AS m, sha256('duck') AS s, hash('duck') IS NOT NULL AS h;
SELECT ascii('A') AS a, chr(66) AS b, unicode('é') AS u, ord('C') AS c;
SELECT translate('hello', 'el', 'ip') AS t, strip_accents('café') AS s;
SELECT upper(left(origin, 1)) || lower(substring(origin, 2)) AS title FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT carrier, string_agg(flight_number::VARCHAR, ';' ORDER BY flight_number) AS numbers FROM flights.schedule WHERE seats > 290 GROUP BY carrier ORDER BY carrier;
SELECT length(name) AS len, bit_length(name) AS bits, octet_length(encode(name)) AS bytes FROM marketing.campaigns ORDER BY campaign_id LIMIT 3;
SELECT base64(encode('duck')) AS b, from_base64('ZHVjaw==')::VARCHAR AS d, to_hex(255) AS h;
SELECT url_encode('a b&c') AS u, url_decode('a%20b') AS d;
SELECT 'Duck' < 'duck' AS cmp, 'a' || NULL AS n, concat('a', NULL, 'b') AS c;
SELECT string_to_array('a,b,c', ',') AS arr, array_to_string(['x', 'y'], '-') AS s;
SELECT bar(distance_km, 0, 10000, 20) AS chart FROM flights.schedule ORDER BY flight_id LIMIT 3;
SELECT prefix(name, 'Summer') AS p, suffix(name, '2023') AS s FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT left_grapheme('🦆duck', 1) AS g, length_grapheme('🦆🦆') AS n;
SELECT status, upper(status[1]) || status[2:] AS capitalized FROM bookings.reservations GROUP BY status ORDER BY status;

-- == Regular expressions (docs: sql/functions/regular_expressions)
SELECT regexp_matches(name, 'Summer|Winter') AS seasonal, count(*) FROM marketing.campaigns GROUP BY 1 ORDER BY 1;
SELECT name FROM marketing.campaigns WHERE name ~ '^[A-Z][a-z]+ City' ORDER BY campaign_id;
SELECT regexp_replace(name, '[0-9]+', 'YYYY') AS generic FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT regexp_replace(name, '\s+', '_', 'g') AS snake FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT regexp_extract(name, '([0-9]{4})', 1) AS year FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT regexp_extract(name, '^(\w+) (\w+)', ['season', 'kind']) AS parts FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT regexp_extract_all(name, '[A-Z]\w+') AS capitalised FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT regexp_split_to_array(name, '\s') AS words FROM marketing.campaigns ORDER BY campaign_id LIMIT 5;
SELECT regexp_full_match(origin, '[A-Z]{3}') AS iata, count(*) FROM flights.schedule GROUP BY 1;
SELECT regexp_matches('anabanana', '(an)*') AS m, regexp_matches('abc', 'B', 'i') AS ci;
SELECT regexp_escape('a.b*c') AS e;
SELECT count(*) FROM flights.schedule WHERE regexp_matches(carrier, '^A');
SELECT string_split_regex('a1b22c', '[0-9]+') AS parts;
SELECT regexp_replace(email, '@.*', '@…') AS masked_domain FROM customers.profiles ORDER BY customer_id LIMIT 3;
SELECT split_part(email, '@', 2) AS domain, count(*) FROM customers.profiles GROUP BY domain ORDER BY domain;

-- == Numbers (docs: sql/functions/numeric)
SELECT round(fare_amount, 1), floor(fare_amount), ceil(fare_amount) FROM bookings.reservations ORDER BY booking_id LIMIT 5;
SELECT abs(-7), sign(-3.5), sqrt(16), cbrt(27), pow(2, 8), power(3, 3);
SELECT ln(exp(1)), log10(1000), log2(8), log(100), exp(0);
SELECT greatest(distance_km, seats * 10), least(distance_km, 1000) FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT pi() AS p, round(sin(pi() / 2), 6) AS s, round(cos(0), 6) AS c, round(atan2(1, 1), 6) AS a;
SELECT degrees(pi()), radians(180);
SELECT 10 / 4 AS d, 10 // 4 AS i, 10 % 4 AS m, fdiv(10, 4) AS f, fmod(10.5, 3) AS fm;
SELECT gcd(12, 18), lcm(4, 6), factorial(5), even(3.2);
SELECT round_even(2.5, 0), trunc(2.7), isnan('NaN'::DOUBLE), isinf('inf'::DOUBLE), isfinite(1.0);
SELECT 5 & 3 AS band, 5 | 3 AS bor, xor(5, 3) AS bxor, 1 << 4 AS shl, 256 >> 2 AS shr, ~5 AS bnot;
SELECT bit_count(255) AS bits;
SELECT distance_km / 1.609 AS miles FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT fare_amount::DOUBLE * passengers AS total FROM bookings.reservations ORDER BY booking_id LIMIT 5;
SELECT CAST(fare_amount AS INTEGER) AS whole FROM bookings.reservations ORDER BY booking_id LIMIT 5;
SELECT format_bytes(1000000) AS b, formatReadableSize(1048576) AS s;
SELECT equi_width_bins(0, 10000, 4, true) AS bins;
SELECT width, count(*) FROM (SELECT (distance_km // 2500) * 2500 AS width FROM flights.schedule) GROUP BY width ORDER BY width;
SELECT nextafter(1.0, 2.0) > 1.0 AS next, gamma(5), lgamma(10) > 0 AS lg;

-- == CASE, NULLs and casts (docs: sql/expressions/case, cast; sql/functions/utility)
SELECT booking_id, CASE WHEN fare_amount > 1000 THEN 'premium' WHEN fare_amount > 300 THEN 'standard' ELSE 'budget' END AS band FROM bookings.reservations ORDER BY booking_id LIMIT 10;
SELECT CASE channel WHEN 'web' THEN 1 WHEN 'app' THEN 2 ELSE 0 END AS code, count(*) FROM bookings.reservations GROUP BY 1 ORDER BY 1;
SELECT coalesce(NULL, NULL, 'x') AS c, ifnull(NULL, 3) AS i, nullif(5, 5) AS n;
SELECT if(seats > 200, 'big', 'small') AS size, count(*) FROM flights.schedule GROUP BY size ORDER BY size;
SELECT try_cast('12x' AS INTEGER) AS bad, try_cast('12' AS INTEGER) AS good;
SELECT '42'::INTEGER + 1 AS n, 3.7::INTEGER AS r, 1::BOOLEAN AS b, '2024-01-02'::DATE AS d;
SELECT typeof(fare_amount), typeof(booked_at), typeof(channel) FROM bookings.reservations LIMIT 1;
SELECT fare_amount::VARCHAR AS s FROM bookings.reservations ORDER BY booking_id LIMIT 3;
SELECT count(*) FROM bookings.reservations WHERE channel IS DISTINCT FROM 'web';
SELECT NULL = NULL AS eq, NULL IS NULL AS isnull, NULL IS NOT DISTINCT FROM NULL AS same;
SELECT 'true'::BOOLEAN AND NOT false AS t, (1 = 1) OR NULL AS o;
SELECT booking_id, CASE WHEN status = 'cancelled' THEN NULL ELSE fare_amount END AS kept FROM bookings.reservations ORDER BY booking_id LIMIT 5;
SELECT 1 IN (1, 2, 3) AS i, 'b' NOT IN ('a') AS n, 5 BETWEEN 1 AND 10 AS b;
SELECT gen_random_uuid() IS NOT NULL AS has_uuid;
SELECT count(*) FROM bookings.reservations WHERE coalesce(channel, 'none') <> 'none';

-- == Lists, structs and maps (docs: sql/data_types/list, struct, map; sql/functions/list)
SELECT [1, 2, 3] AS l, ['a', 'b'] AS s, [] AS empty;
SELECT list_value(1, 2, 3) AS l, [0.9, 0.99] AS q;
SELECT [1, 2, 3][2] AS second, [1, 2, 3][-1] AS last, [1, 2, 3, 4][2:3] AS middle;
SELECT len([1, 2, 3]) AS n, array_length([1, 2]) AS a;
SELECT list_contains([1, 2, 3], 2) AS c, list_has_any([1, 2], [2, 5]) AS a, list_has_all([1, 2, 3], [1, 3]) AS b;
SELECT list_position(['a', 'b', 'c'], 'c') AS p, list_extract(['a', 'b'], 1) AS e, list_element([5, 6], 2) AS el;
SELECT list_sort([3, 1, 2]) AS asc_, list_reverse_sort([3, 1, 2]) AS desc_, list_reverse([1, 2]) AS rev;
SELECT list_distinct([1, 1, 2, NULL]) AS d, list_unique([1, 1, 2]) AS u;
SELECT list_concat([1, 2], [3]) AS c, list_append([1], 2) AS a, list_prepend(0, [1]) AS p;
SELECT flatten([[1, 2], [3]]) AS f, list_slice([1, 2, 3, 4], 2, 3) AS s;
SELECT list_sum([1, 2, 3]), list_avg([1, 2, 3]), list_min([4, 2]), list_max([4, 2]), list_count([1, NULL]);
SELECT list_aggregate([1, 2, 3], 'sum') AS s, list_aggregate(['a', 'b'], 'string_agg', '-') AS j;
SELECT list_transform([1, 2, 3], lambda x: x * 10) AS t;
SELECT list_filter([1, 2, 3, 4], lambda x: x % 2 = 0) AS evens;
SELECT list_reduce([1, 2, 3, 4], lambda a, b: a + b) AS total;
SELECT list_zip([1, 2], ['a', 'b']) AS z;
SELECT [x * 2 FOR x IN [1, 2, 3]] AS doubled;
SELECT carrier, list_transform(list(distance_km ORDER BY flight_id), lambda d: d // 1000) AS thousands FROM flights.schedule WHERE seats > 295 GROUP BY carrier ORDER BY carrier;
SELECT carrier, list_sort(list(DISTINCT origin))[1:3] AS first_origins FROM flights.schedule GROUP BY carrier ORDER BY carrier;
SELECT unnest([1, 2, 3]) AS x;
SELECT x FROM unnest(['a', 'b', 'c']) AS t(x) ORDER BY x;
SELECT unnest(['web', 'app']) AS channel, 1 AS one;
SELECT * FROM unnest(['b', 'a']) ORDER BY 1;
SELECT u.* FROM unnest([3, 1, 2]) AS u ORDER BY 1;
SELECT * FROM unnest(['x', 'y']) WITH ORDINALITY AS t(letter, n) ORDER BY n;
SELECT c.channel, count(r.booking_id) FROM unnest(['web', 'app', 'phone']) AS c(channel) LEFT JOIN bookings.reservations r USING (channel) GROUP BY c.channel ORDER BY c.channel;
SELECT unnest(string_split(name, ' ')) AS word, count(*) FROM marketing.campaigns GROUP BY word ORDER BY count(*) DESC, word LIMIT 10;
SELECT carrier, unnest(list(DISTINCT origin ORDER BY origin)) AS o FROM flights.schedule GROUP BY carrier ORDER BY carrier, o LIMIT 20;
SELECT unnest([[1, 2], [3]], recursive := true) AS x;
SELECT unnest({'a': 1, 'b': 'x'});
SELECT {'a': 1, 'b': 'two'} AS s, struct_pack(k := 'v', n := 2) AS p;
SELECT ({'a': 1, 'b': 2}).a AS a, struct_extract({'x': 5}, 'x') AS x, {'y': 3}['y'] AS y;
SELECT {'route': origin || '-' || destination, 'km': distance_km} AS info FROM flights.schedule ORDER BY flight_id LIMIT 3;
SELECT s.km FROM (SELECT {'km': distance_km, 'id': flight_id} AS s FROM flights.schedule) ORDER BY s.id LIMIT 3;
SELECT struct_insert({'a': 1}, b := 2) AS s, struct_keys({'a': 1, 'b': 2}) AS k;
SELECT row(1, 'a') AS r;
SELECT MAP {'web': 1, 'app': 2} AS m, map(['k'], [10]) AS m2;
SELECT map_keys(MAP {'a': 1, 'b': 2}) AS k, map_values(MAP {'a': 1}) AS v, map_entries(MAP {'a': 1}) AS e;
SELECT (MAP {'a': 10})['a'] AS v, element_at(MAP {'x': 1}, 'x') AS e, cardinality(MAP {'a': 1, 'b': 2}) AS n;
SELECT map_from_entries([{'k': 'a', 'v': 1}]) AS m, map_extract(MAP {'a': 5}, 'a') AS x;
SELECT channel, histogram(passengers) AS dist FROM bookings.reservations GROUP BY channel ORDER BY channel;
SELECT array_agg(carrier ORDER BY flight_id)[1:3] AS first3 FROM flights.schedule;
SELECT list_has_any(list(DISTINCT carrier), ['AC', 'ZZ']) AS any_ac FROM flights.schedule;
SELECT generate_subscripts(['a', 'b', 'c'], 1) AS i;
SELECT list_cosine_similarity([1.0, 0.0], [1.0, 1.0]) AS cs, list_distance([0.0, 0.0], [3.0, 4.0]) AS d;
SELECT list_transform(list_zip([1, 2], [3, 4]), lambda p: p[1] + p[2]) AS sums;
SELECT f.flight_id, u.airport FROM flights.schedule f, LATERAL unnest([f.origin, f.destination]) AS u(airport) ORDER BY f.flight_id, u.airport LIMIT 10;
SELECT x::STRUCT(a INTEGER, b VARCHAR) AS s FROM (SELECT {'a': '1', 'b': 'x'} AS x);
SELECT list_select(['a', 'b', 'c'], [3, 1]) AS s, list_where([1, 2, 3], [true, false, true]) AS w, list_grade_up([30, 10, 20]) AS g;

-- == JSON (docs: data/json/json_functions)
SELECT to_json({'a': 1, 'b': [1, 2]}) AS j;
SELECT json_object('carrier', carrier, 'km', distance_km) AS j FROM flights.schedule ORDER BY flight_id LIMIT 3;
SELECT json_array(1, 'two', NULL) AS j;
SELECT to_json(list(origin ORDER BY origin)) AS j FROM (SELECT DISTINCT origin FROM flights.schedule);
SELECT json_group_array(carrier) AS j FROM (SELECT carrier FROM flights.schedule WHERE flight_id = 1);
SELECT json_group_object(channel, n) AS j FROM (SELECT channel, count(*) AS n FROM bookings.reservations GROUP BY channel ORDER BY channel);
SELECT json_extract('{"a": {"b": 7}}', '$.a.b') AS e, json_extract_string('{"a": "x"}', '$.a') AS s;
SELECT '{"k": [1, 2, 3]}'::JSON -> '$.k' AS arr, '{"k": "v"}'::JSON ->> '$.k' AS v;
SELECT json_keys('{"a": 1, "b": 2}') AS k, json_type('[1]') AS t, json_valid('{') AS v, json_array_length('[1,2,3]') AS n;
SELECT json_structure('{"a": 1, "b": [true]}') AS s;
SELECT json_merge_patch('{"a": 1}', '{"b": 2}') AS m, json_quote('duck') AS q;
SELECT row_to_json({'a': 1, 'b': 'x'}) AS j;
SELECT array_to_json([1, 2]) AS j, json('{"x": 1}') AS jj;
SELECT to_json(s) AS j FROM (SELECT {'id': flight_id, 'route': [origin, destination]} AS s FROM flights.schedule ORDER BY flight_id LIMIT 3);
SELECT json_transform('{"a": 1}', '{"a": "INTEGER"}') AS t;
SELECT channel, to_json({'channel': channel, 'n': count(*)}) AS doc FROM bookings.reservations GROUP BY channel ORDER BY channel;

-- == PIVOT and UNPIVOT (docs: sql/statements/pivot, unpivot)
PIVOT bookings.reservations ON channel USING sum(fare_amount) GROUP BY status;
PIVOT bookings.reservations ON channel USING count(*);
PIVOT flights.schedule ON carrier USING count(*) GROUP BY origin;
PIVOT bookings.reservations ON booking_year USING sum(passengers) AS pax, max(fare_amount) AS top GROUP BY channel;
PIVOT bookings.reservations ON status IN ('completed', 'cancelled') USING count(*) GROUP BY channel;
PIVOT (SELECT channel, booking_year, fare_amount FROM bookings.reservations WHERE passengers > 1) ON booking_year USING round(avg(fare_amount), 2) GROUP BY channel;
PIVOT customers.profiles ON loyalty_tier USING count(*) GROUP BY region;
PIVOT marketing.campaigns ON channel USING sum(budget);
UNPIVOT (SELECT booking_id, passengers, booking_year FROM bookings.reservations WHERE booking_id <= 5) ON passengers, booking_year INTO NAME measure VALUE amount;
UNPIVOT (SELECT flight_id, distance_km, seats FROM flights.schedule WHERE flight_id <= 3) ON distance_km, seats INTO NAME k VALUE v;
SELECT * FROM bookings.reservations PIVOT (sum(fare_amount) FOR channel IN ('web', 'app') GROUP BY status);
SELECT * FROM bookings.reservations PIVOT (count(*) AS n FOR booking_year IN (2021, 2022) GROUP BY channel);
SELECT * FROM flights.schedule PIVOT (avg(distance_km) AS km, max(seats) AS seats FOR carrier IN ('AC', 'SK') GROUP BY origin);
SELECT * FROM (SELECT flight_id, distance_km, seats FROM flights.schedule WHERE flight_id <= 3) UNPIVOT (v FOR k IN (distance_km, seats));
-- refused: PIVOT (...) after a table is not supported
SELECT channel FROM bookings.reservations PIVOT (sum(fare_amount) FOR channel IN ('web', 'app') GROUP BY status);

-- == COLUMNS (docs: sql/expressions/star#columns-expression)
SELECT COLUMNS('_id$') FROM bookings.reservations ORDER BY booking_id LIMIT 5;
SELECT COLUMNS('^(origin|destination)$') FROM flights.schedule ORDER BY flight_id LIMIT 5;
SELECT min(COLUMNS('_km|seats')) FROM flights.schedule;
SELECT max(COLUMNS('amount')), count(COLUMNS('amount')) FROM payments.transactions;
SELECT COLUMNS(*) FROM marketing.campaigns ORDER BY campaign_id LIMIT 3;
SELECT count(DISTINCT COLUMNS('^(channel|status|currency)$')) FROM bookings.reservations;
SELECT round(avg(COLUMNS('fare|passengers')), 3) FROM bookings.reservations;
SELECT COLUMNS('date') FROM marketing.campaigns ORDER BY campaign_id LIMIT 3;

-- == Samples (docs: sql/samples)
SELECT count(*) FROM bookings.reservations USING SAMPLE 10 ROWS;
SELECT count(*) FROM (SELECT * FROM flights.schedule USING SAMPLE 5 ROWS);
SELECT count(*) FROM bookings.reservations USING SAMPLE 100%;
-- check: rows
SELECT count(*) > 0 AS some FROM bookings.reservations USING SAMPLE 10% (bernoulli, 42);
SELECT count(*) FROM bookings.reservations TABLESAMPLE 100%;
SELECT count(*) FROM flights.schedule TABLESAMPLE RESERVOIR(20 ROWS);

-- == Table functions over values (docs: sql/functions/list#range, utility)
SELECT * FROM range(5);
SELECT * FROM range(0, 10, 3);
SELECT * FROM generate_series(1, 5);
SELECT sum(x) FROM generate_series(1, 100) AS t(x);
SELECT r.range * 10 AS tens FROM range(1, 4) AS r ORDER BY tens;
SELECT range(5) AS l, generate_series(1, 3) AS g;
SELECT n, count(r.booking_id) FROM range(1, 6) AS t(n) LEFT JOIN bookings.reservations r ON r.passengers = t.n GROUP BY n ORDER BY n;
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, letter) ORDER BY id;

-- == DESCRIBE, SUMMARIZE, SHOW (docs: guides/meta/describe, summarize)
DESCRIBE bookings.reservations;
DESCRIBE flights.schedule;
DESCRIBE SELECT carrier, count(*) AS n FROM flights.schedule GROUP BY carrier;
-- check: summarize
SUMMARIZE flights.schedule;
-- check: summarize
SUMMARIZE SELECT channel, passengers FROM bookings.reservations;
-- check: summarize
SUMMARIZE marketing.campaigns;
-- check: runs
SHOW TABLES;
SHOW flights.schedule;
DESCRIBE TABLE marketing.touchpoints;
-- check: summarize
SUMMARIZE TABLE marketing.touchpoints;
-- check: runs
SHOW TABLES FROM marketing;

-- == Statements and functions duckmesh refuses (each with its reason)
-- refused: table function read_parquet()
SELECT * FROM read_parquet('data/flights/schedule/*.parquet');
-- refused: file paths cannot be read directly
SELECT * FROM 'data/flights/schedule/part-0.parquet';
-- refused: lambda arrow
SELECT list_transform([1, 2], x -> x + 1);
-- refused: only SELECT queries
CREATE TABLE t AS SELECT 1;
-- refused: function current_setting()
SELECT current_setting('threads');
