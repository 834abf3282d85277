"""The demo mesh's derived product: the sales team's booking facts (docs/publishing.md)."""

from __future__ import annotations

from pathlib import Path

DEMO_PRODUCT = "bookings.booking_facts"
DEMO_OWNER = "sales-team"
DEMO_SQL = """\
SELECT b.booking_id, b.customer_id, b.booked_at, b.status,
       b.passengers * b.fare_amount AS fare_total,
       c.country, c.region,
       split_part(c.email, '@', 2) AS email_domain,
       p.card_brand, p.amount AS paid_amount
FROM bookings.reservations b
JOIN customers.profiles c ON c.customer_id = b.customer_id
JOIN payments.transactions p ON p.booking_id = b.booking_id
"""


def publish_demo_product(root: Path) -> None:
    """Publish and activate :data:`DEMO_PRODUCT` in the demo mesh at ``root``, as its
    domain's owner would: ``products publish`` then ``products status … active``."""
    from federation.mesh import Mesh
    from federation.publish.lifecycle import set_status
    from federation.publish.publisher import publish

    mesh = Mesh.open(root)
    publish(mesh, DEMO_PRODUCT, DEMO_SQL, user=DEMO_OWNER, schedule="0 5 * * *",
            description="One row per paid booking: fare, customer country, region and "
                        "e-mail domain, card brand and amount paid. Refreshed daily at 05:00 UTC.")
    _grant_analysts_their_region(root)
    set_status(Mesh.open(root), DEMO_PRODUCT, "active", user=DEMO_OWNER)


ANALYST_GRANT = {"products": ["booking_facts"], "roles": ["analyst"],
                 "row_filter": "region = :region"}
"""booking_facts is derived from customers.profiles, which analysts read for their own
region only: a reader filtered at a source reads a derived product only through a
row-filtered grant of its own (docs/publishing.md), which the owners commit after
publishing — before their wildcard grant, as grants are matched in order."""


def _grant_analysts_their_region(root: Path) -> None:
    import yaml

    path = root / "domains" / "bookings" / "domain.yaml"
    domain = yaml.safe_load(path.read_text())
    domain["grants"].insert(0, ANALYST_GRANT)
    path.write_text(yaml.safe_dump(domain, sort_keys=False))
