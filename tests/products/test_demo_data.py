"""The demo's data makes sense (issue 14, item 13): an analyst's first questions about
lead times, payments and refunds get believable answers."""

from __future__ import annotations

from federation import Mesh

CHECKS = {
    "bookings made at or after their flight's departure":
        "SELECT count(*) FROM bookings.reservations b JOIN flights.schedule f USING (flight_id) "
        "WHERE b.booked_at >= f.departure_at",
    "bookings made after the demo's today":
        "SELECT count(*) FROM bookings.reservations WHERE booked_at >= TIMESTAMP '2024-05-01'",
    "booking_year that is not the year of booked_at":
        "SELECT count(*) FROM bookings.reservations WHERE booking_year <> year(booked_at)",
    "completed bookings of flights not yet flown, or confirmed ones of flown flights":
        "SELECT count(*) FROM bookings.reservations b JOIN flights.schedule f USING (flight_id) "
        "WHERE (b.status = 'completed' AND f.departure_at >= TIMESTAMP '2024-05-01') "
        "OR (b.status = 'confirmed' AND f.departure_at < TIMESTAMP '2024-05-01')",
    "payments before their booking":
        "SELECT count(*) FROM payments.transactions p JOIN bookings.reservations b "
        "USING (booking_id) WHERE p.paid_at < b.booked_at",
    "refunds of bookings that were not cancelled, or cancellations not refunded":
        "SELECT count(*) FROM payments.transactions p JOIN bookings.reservations b "
        "USING (booking_id) WHERE (p.status = 'refunded') <> (b.status = 'cancelled')",
    "touchpoints outside their campaign's dates":
        "SELECT count(*) FROM marketing.touchpoints t JOIN marketing.campaigns c "
        "USING (campaign_id) WHERE t.touched_at::DATE NOT BETWEEN c.start_date AND c.end_date",
}


def test_demo_data_is_consistent(mesh: Mesh) -> None:
    wrong = {what: n for what, sql in CHECKS.items()
             if (n := mesh.sql(sql, user="adam").arrow().column(0)[0].as_py())}
    assert wrong == {}


def test_lead_times_are_believable(mesh: Mesh) -> None:
    days = mesh.sql(
        "SELECT median(date_diff('day', b.booked_at, f.departure_at)) AS median_days, "
        "min(f.departure_at - b.booked_at) > INTERVAL 0 SECOND AS all_ahead, "
        "count(DISTINCT b.status) AS statuses "
        "FROM bookings.reservations b JOIN flights.schedule f USING (flight_id)",
        user="adam").arrow().to_pylist()[0]
    assert 7 <= days["median_days"] <= 180 and days["all_ahead"] and days["statuses"] == 3
