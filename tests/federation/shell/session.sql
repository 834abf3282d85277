-- A day of exploration over the demo mesh, as one analyst script (issue 15).
.mode json
.timer off
DESCRIBE flights.schedule;
SHOW TABLES;
.schema flights.schedule
PIVOT flights.schedule ON carrier IN ('AA', 'IB') USING count(*) GROUP BY origin;
UNPIVOT (SELECT flight_id, seats, distance_km FROM flights.schedule WHERE flight_id <= 2)
  ON seats, distance_km INTO NAME measure VALUE amount;
SELECT unnest([1, 2, 3]) AS x, 'a;b' AS not_a_split;
WITH RECURSIVE steps(n) AS (
  SELECT 1 UNION ALL SELECT n + 1 FROM steps WHERE n < 10
) SELECT sum(n) AS total FROM steps;
SELECT fare_amout FROM bookings.reservations LIMIT 1;
.shema flights.schedule
SELECT origin, count(*) AS flights FROM flights.schedule
GROUP BY ROLLUP (origin) ORDER BY origin NULLS LAST LIMIT 4;
SELECT carrier, origin, count(*) AS n FROM flights.schedule WHERE origin IN ('AMS', 'BCN')
GROUP BY CUBE (carrier, origin) ORDER BY ALL NULLS FIRST LIMIT 5;
SELECT loyalty_tier, count(*) AS customers FROM customers.profiles
GROUP BY GROUPING SETS ((loyalty_tier), ()) ORDER BY loyalty_tier NULLS LAST;
SELECT quantile_cont(distance_km, 0.5) AS median_km,
       list(DISTINCT origin ORDER BY origin)[1:3] AS first_origins FROM flights.schedule;
SELECT x, x * x AS square FROM generate_series(1, 4) AS g(x) ORDER BY x;
SELECT [0.9, 0.99] AS quantiles, time_bucket(INTERVAL 1 DAY, TIMESTAMP '2024-01-01 10:00') AS day;
SELECT f.carrier, count(*) AS bookings FROM bookings.reservations AS b
JOIN flights.schedule AS f ON f.flight_id = b.flight_id GROUP BY f.carrier ORDER BY bookings DESC, f.carrier LIMIT 5;
SELECT origin, destination, distance_km FROM flights.schedule
QUALIFY row_number() OVER (PARTITION BY origin ORDER BY distance_km DESC, flight_id) = 1 ORDER BY origin LIMIT 5;
SELECT date_trunc('month', departure_at) AS month, count(*) AS flights FROM flights.schedule
GROUP BY 1 ORDER BY 1 LIMIT 3;
SELECT regexp_extract(origin, '^(.)', 1) AS initial, count(*) AS n FROM flights.schedule GROUP BY 1 ORDER BY 1;
/* a comment; with a semicolon */ SELECT to_json({'origin': 'AMS', 'n': 1}) AS doc;
SUMMARIZE flights.schedule;
SELECT count(*) AS with_at FROM customers.profiles WHERE email LIKE '%@%';
SELECT max(seats) AS most_seats FROM flights.schedule -- no ';' at the very end
