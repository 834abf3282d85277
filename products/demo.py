"""``duckmesh demo DIR``: a complete demo mesh of an online travel agency.

Five domains (customers, bookings, payments, flights, marketing), ODCS contracts,
principals for an analyst, a data scientist, a fraud investigator and an admin, global
classification rules, domain grants with a region row filter, and deterministic
hive-partitioned Parquet data.  The mesh is built in a temporary folder beside ``DIR``
and moved into place at the end, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from connectors.errors import StorageError, UsageError
from connectors.filesystems import filesystem
from connectors.storage import resolve_location
from products import demo_data
from products.config import S3Settings, StorageSettings

BOOKINGS_PER_SCALE = 1_000_000
ICEBERG_CATALOG_URL = "sqlite:///iceberg/catalog.db"
ICEBERG_WAREHOUSE = "iceberg/warehouse"


@dataclass(frozen=True)
class DemoColumn:
    """A demo column: name, DuckDB type, classification, description, flags."""

    name: str
    type: str
    classification: str
    description: str
    required: bool = True
    unique: bool = False
    partitioned: bool = False


def _c(name: str, type_: str, classification: str, description: str, **flags: bool) -> DemoColumn:
    return DemoColumn(name, type_, classification, description, **flags)


@dataclass(frozen=True)
class DemoProduct:
    """A demo product: its contract facts and the SQL that makes its data."""

    domain: str
    name: str
    description: str
    columns: tuple[DemoColumn, ...]
    sql: str
    tags: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    iceberg: bool = False
    """Published as an Iceberg table (partitioned by ``partition_by``) instead of Parquet."""
    freshness_days: int = 1
    quality: tuple[dict[str, Any], ...] = ()


LOGICAL = {"BIGINT": "integer", "INTEGER": "integer", "VARCHAR": "string", "DATE": "date",
           "TIMESTAMP": "timestamp", "BOOLEAN": "boolean", "DECIMAL(12,2)": "number"}

PRODUCTS: tuple[DemoProduct, ...] = (
    DemoProduct(
        "customers", "profiles",
        "One row per registered customer: identity, contact details and home region.",
        (
            _c("customer_id", "BIGINT", "internal", "Customer key", unique=True),
            _c("full_name", "VARCHAR", "pii", "Name as on the passport"),
            _c("email", "VARCHAR", "pii", "Contact email address"),
            _c("phone", "VARCHAR", "pii", "Contact phone number, E.164-like"),
            _c("birth_date", "DATE", "pii", "Date of birth"),
            _c("passport_number", "VARCHAR", "restricted", "Travel document number"),
            _c("country", "VARCHAR", "public", "ISO 3166 country of residence"),
            _c("region", "VARCHAR", "internal", "Sales region: EU, NA, LATAM or APAC",
               partitioned=True),
            _c("loyalty_tier", "VARCHAR", "internal", "basic, silver, gold or platinum"),
            _c("signup_date", "DATE", "internal", "Day the account was created"),
        ),
        demo_data.CUSTOMERS, tags=("customer", "crm", "gdpr"), partition_by=("region",),
        quality=(
            {"metric": "duplicateValues", "column": "customer_id", "mustBe": 0},
            {"metric": "nullValues", "column": "email", "mustBe": 0},
            {"metric": "invalidValues", "column": "region",
             "arguments": {"validValues": ["EU", "NA", "LATAM", "APAC"]}, "mustBe": 0},
        ),
    ),
    DemoProduct(
        "flights", "schedule",
        "Scheduled flights sold by the agency: carrier, route, departure and capacity.",
        (
            _c("flight_id", "BIGINT", "public", "Flight key", unique=True),
            _c("carrier", "VARCHAR", "public", "IATA airline code"),
            _c("flight_number", "INTEGER", "public", "Flight number within the carrier"),
            _c("origin", "VARCHAR", "public", "IATA code of the departure airport"),
            _c("destination", "VARCHAR", "public", "IATA code of the arrival airport"),
            _c("departure_at", "TIMESTAMP", "public", "Scheduled departure, UTC"),
            _c("distance_km", "INTEGER", "public", "Great-circle distance"),
            _c("seats", "INTEGER", "public", "Seats offered"),
        ),
        demo_data.FLIGHTS, tags=("flight", "inventory"),
    ),
    DemoProduct(
        "bookings", "reservations",
        "Every booking made through any channel, with fare and status.",
        (
            _c("booking_id", "BIGINT", "internal", "Booking key", unique=True),
            _c("customer_id", "BIGINT", "internal", "Customer who booked (customers.profiles)"),
            _c("flight_id", "BIGINT", "internal", "Booked flight (flights.schedule)"),
            _c("booked_at", "TIMESTAMP", "internal", "When the booking was made, UTC"),
            _c("booking_year", "INTEGER", "internal", "Year of booked_at (partition key)",
               partitioned=True),
            _c("status", "VARCHAR", "internal", "confirmed, completed or cancelled"),
            _c("passengers", "INTEGER", "internal", "Travellers on the booking"),
            _c("fare_amount", "DECIMAL(12,2)", "internal", "Fare per passenger in EUR"),
            _c("currency", "VARCHAR", "public", "ISO 4217 currency"),
            _c("channel", "VARCHAR", "internal", "web, app, agent or partner"),
        ),
        demo_data.BOOKINGS, tags=("booking", "sales", "revenue"), partition_by=("booking_year",),
        quality=(
            {"metric": "duplicateValues", "column": "booking_id", "mustBe": 0},
            {"metric": "rowCount", "mustBeGreaterThan": 0},
        ),
    ),
    DemoProduct(
        "payments", "transactions",
        "Card payments for bookings. Card numbers are PCI data.",
        (
            _c("payment_id", "BIGINT", "internal", "Payment key", unique=True),
            _c("booking_id", "BIGINT", "internal", "Paid booking (bookings.reservations)"),
            _c("customer_id", "BIGINT", "internal", "Paying customer (customers.profiles)"),
            _c("card_number", "VARCHAR", "pci", "Primary account number"),
            _c("card_brand", "VARCHAR", "internal", "visa, mastercard or discover"),
            _c("amount", "DECIMAL(12,2)", "internal", "Amount charged in EUR"),
            _c("currency", "VARCHAR", "public", "ISO 4217 currency"),
            _c("paid_at", "TIMESTAMP", "internal", "When the payment was captured, UTC"),
            _c("status", "VARCHAR", "internal", "captured or refunded"),
        ),
        demo_data.PAYMENTS, tags=("payment", "finance", "pci"),
    ),
    DemoProduct(
        "marketing", "campaigns",
        "Marketing campaigns with channel, dates and budget.",
        (
            _c("campaign_id", "BIGINT", "internal", "Campaign key", unique=True),
            _c("name", "VARCHAR", "internal", "Campaign name"),
            _c("channel", "VARCHAR", "internal", "email, social, search, display or tv"),
            _c("start_date", "DATE", "internal", "First day"),
            _c("end_date", "DATE", "internal", "Last day"),
            _c("budget", "DECIMAL(12,2)", "internal", "Budget in EUR"),
        ),
        demo_data.CAMPAIGNS, tags=("marketing", "campaign"), partition_by=("channel",),
        iceberg=True,
    ),
    DemoProduct(
        "marketing", "touchpoints",
        "Each time a customer was reached by a campaign, and whether it converted.",
        (
            _c("touchpoint_id", "BIGINT", "internal", "Touchpoint key", unique=True),
            _c("customer_id", "BIGINT", "internal", "Customer reached (customers.profiles)"),
            _c("campaign_id", "BIGINT", "internal", "Campaign (marketing.campaigns)"),
            _c("touched_at", "TIMESTAMP", "internal", "When, UTC"),
            _c("converted", "BOOLEAN", "internal", "Led to a booking"),
        ),
        demo_data.TOUCHPOINTS, tags=("marketing", "attribution"),
    ),
)

DOMAINS: dict[str, dict[str, Any]] = {
    "customers": {
        "owner": "customer-data-team",
        "description": "Who our customers are and how to reach them.",
        "grants": [
            {"products": ["*"], "roles": ["admin", "fraud_investigator", "customers_owner"]},
            {"products": ["profiles"], "roles": ["analyst"], "row_filter": "region = :region",
             "mask_columns": {"signup_date": "year"}},
            # Data scientists get pseudonymous customer keys: hashed with the mesh key in every
            # domain, so they still join (see notebooks/03_ml_training.ipynb).
            {"products": ["profiles"], "roles": ["data_scientist"],
             "deny_columns": ["full_name"], "mask_columns": {"customer_id": "hash"}},
            # Support agents: contact details in clear only with purpose customer_service
            # (policies.yaml releases pii for it), pseudonymised otherwise.
            {"products": ["profiles"], "roles": ["support_agent"]},
            # The sales team publishes bookings.booking_facts from profiles (its contract
            # then carries the pii labels of what it derives from email).
            {"products": ["profiles"], "roles": ["bookings_owner"]},
        ],
    },
    "flights": {
        "owner": "inventory-team",
        "description": "The flights we sell.",
        "grants": [{"products": ["*"], "roles": ["admin", "analyst", "data_scientist",
                                                 "fraud_investigator", "flights_owner"]}],
    },
    "bookings": {
        "owner": "sales-team",
        "description": "What customers booked.",
        "grants": [
            {"products": ["*"], "roles": ["admin", "analyst", "fraud_investigator",
                                          "bookings_owner"]},
            {"products": ["*"], "roles": ["data_scientist"],
             "mask_columns": {"customer_id": "hash"}},
        ],
    },
    "payments": {
        "owner": "finance-team",
        "description": "How customers paid.",
        "grants": [
            {"products": ["*"], "roles": ["admin", "fraud_investigator", "payments_owner"]},
            {"products": ["transactions"], "roles": ["analyst", "bookings_owner"]},
            {"products": ["transactions"], "roles": ["data_scientist"],
             "mask_columns": {"customer_id": "hash"}},
        ],
    },
    "marketing": {
        "owner": "growth-team",
        "description": "Campaigns and their reach.",
        "grants": [
            {"products": ["*"], "roles": ["admin", "analyst", "marketing_owner"]},
            {"products": ["touchpoints"], "roles": ["data_scientist"],
             "mask_columns": {"customer_id": "hash"}},
            {"products": ["campaigns"], "roles": ["data_scientist"]},
        ],
    },
}

PRINCIPALS = {
    "users": {
        "ana": {"roles": ["analyst"], "attributes": {"region": "EU"}},
        "nick": {"roles": ["analyst"], "attributes": {"region": "NA"}},
        "dana": {"roles": ["data_scientist"]},
        "fiona": {"roles": ["fraud_investigator"]},
        "sam": {"roles": ["support_agent"]},
        "adam": {"roles": ["admin"]},
        # Each domain's owner team is a principal (a contact for access requests); owning a
        # domain gives no power over other domains' data.
        **{spec["owner"]: {"roles": ["data_owner", f"{d}_owner"]} for d, spec in DOMAINS.items()},
    }
}

POLICIES = {
    # The closed vocabulary: every label a contract may use, least sensitive first. A
    # label not declared here is denied wherever it appears, and so is a column without a
    # label: forgetting to classify never publishes a column.
    "default_classification": "unclassified",
    "classifications": [
        {"name": "public", "allow": True, "description": "Anyone with a grant"},
        {"name": "internal", "allow": True, "description": "Business data, no personal data"},
        {"name": "pii", "description": "Personal data (GDPR)"},
        {"name": "pci", "description": "Card data (PCI DSS)"},
        {"name": "restricted", "description": "Travel documents"},
        {"name": "unclassified", "description": "A column nobody has classified yet"},
    ],
    "purposes": [
        {"name": "analytics", "description": "Aggregate business analysis and reporting"},
        {"name": "fraud_detection", "description": "Investigating suspected payment fraud"},
        {"name": "customer_service", "description": "Answering a customer's own request"},
        {"name": "ml_training", "description": "Training and evaluating models"},
    ],
    "rules": [
        {"classification": "pci", "action": "deny",
         "unless_roles": ["fraud_investigator", "data_owner"],
         # The payments domain may release card numbers to a named reader for fraud
         # detection (an approved access request), never for anything else.
         "grantable_purposes": ["fraud_detection"],
         "description": "Card data only for fraud investigation"},
        {"classification": "pii", "action": "mask", "method": "hash",
         "unless_roles": ["fraud_investigator", "admin", "data_owner"],
         # Purpose limitation: support agents see a customer's contact details in clear
         # only while serving that customer, pseudonymised for anything else.
         "release": [{"roles": ["support_agent"], "purposes": ["customer_service"]}],
         "description": "Personal data is pseudonymised; hashes still join"},
        {"classification": "restricted", "action": "deny", "unless_roles": ["admin"],
         "description": "Travel documents for admins only"},
        {"classification": "unclassified", "action": "deny",
         "description": "Label every column in its contract before anyone reads it"},
    ],
}


REPORTS: dict[str, dict[str, Any]] = {
    "daily_revenue_eu": {
        "description": "Yesterday's bookings and revenue by customer, as the EU analyst sees "
                       "them (emails pseudonymised)",
        "sql": "SELECT c.email, c.country, count(*) AS bookings, sum(p.amount) AS revenue\n"
               "FROM bookings.reservations b\n"
               "JOIN customers.profiles c ON c.customer_id = b.customer_id\n"
               "JOIN payments.transactions p ON p.booking_id = b.booking_id\n"
               "GROUP BY ALL ORDER BY revenue DESC LIMIT 100\n",
        # Governed as its audience: every member must get the same view (columns, masks,
        # row filters), so a report never shows anyone what they could not query.
        "audience": {"users": ["ana"]},
        "schedule": "0 6 * * *",
        "format": "parquet",
        "destination": "out/reports/daily_revenue_eu/{slot:%Y-%m-%d}.parquet",
    },
    "weekly_channels": {
        "description": "Revenue by booking channel, weekly, with a chart",
        "sql": "SELECT channel, count(*) AS bookings, sum(fare_amount * passengers) AS revenue\n"
               "FROM bookings.reservations GROUP BY channel ORDER BY revenue DESC\n",
        "audience": {"roles": ["analyst"]},
        "purpose": "analytics",
        "schedule": "0 7 * * 1",
        "format": "html",
        "chart": {"kind": "bar", "x": "channel", "y": "revenue"},
        "destination": "out/reports/weekly_channels/{slot:%Y-%m-%d}.html",
    },
}


def contract(product: DemoProduct, storage: str | None = None) -> dict[str, Any]:
    """The ODCS v3 contract of a demo product (data on local disk, or under ``storage``)."""
    properties = []
    for col in product.columns:
        prop: dict[str, Any] = {
            "name": col.name, "logicalType": LOGICAL[col.type], "physicalType": col.type,
            "description": col.description, "classification": col.classification,
            "required": col.required,
        }
        if col.unique:
            prop["unique"] = True
            prop["primaryKey"] = True
        if col.partitioned or (product.iceberg and col.name in product.partition_by):
            prop["partitioned"] = True
        rules = [{k: v for k, v in q.items() if k != "column"}
                 for q in product.quality if q.get("column") == col.name]
        if rules:
            prop["quality"] = rules
        properties.append(prop)
    table_rules = [dict(q) for q in product.quality if "column" not in q]
    return {
        # The ODCS version the contract's fields need: the iceberg server type came in 3.2.0.
        "apiVersion": "v3.2.0" if product.iceberg else "v3.1.0",
        "kind": "DataContract",
        "id": f"urn:duckmesh:demo:{product.domain}:{product.name}",
        "name": f"{product.domain}.{product.name}",
        "version": "1.0.0",
        "status": "active",
        "domain": product.domain,
        "dataProduct": product.name,
        "tags": list(product.tags),
        "description": {"purpose": product.description},
        "team": {"name": DOMAINS[product.domain]["owner"]},
        "servers": [
            {"server": "lake", "type": "iceberg", "catalog": "demo",
             "catalogUrl": ICEBERG_CATALOG_URL, "namespace": product.domain,
             "warehouse": f"{storage.rstrip('/')}/iceberg" if storage else ICEBERG_WAREHOUSE}
            if product.iceberg else
            {"server": "s3", "type": "s3", "format": "parquet",
             "location": f"{storage.rstrip('/')}/{product.domain}/{product.name}/"}
            if storage else
            {"server": "local", "type": "local", "format": "parquet",
             "path": f"data/{product.domain}/{product.name}"}],
        "schema": [{
            "name": product.name, "physicalType": "table", "description": product.description,
            "properties": properties,
            **({"quality": table_rules} if table_rules else {}),
        }],
        "slaProperties": [
            {"property": "freshness", "value": product.freshness_days, "unit": "d"},
        ],
    }


def domain_roots(storage: str | None) -> dict[str, dict[str, list[str]]]:
    """duckmesh.yaml ``domains``: where each demo domain's products may live."""
    base = f"{storage.rstrip('/')}/" if storage else "data/"
    iceberg = f"{storage.rstrip('/')}/iceberg/" if storage else f"{ICEBERG_WAREHOUSE}/"
    out: dict[str, dict[str, list[str]]] = {}
    for domain in DOMAINS:
        roots = [f"{base}{domain}/"]
        if any(p.iceberg for p in PRODUCTS if p.domain == domain):
            roots.append(f"{iceberg}{domain}/")
        out[domain] = {"roots": roots, "iceberg_namespaces": [domain]}
    return out


def _dump(path: Path, data: dict[str, Any], header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(header + text, encoding="utf-8")


def write_data(root: Path, scale: float) -> None:
    """Generate every product's Parquet data under ``root/data``."""
    n = max(int(BOOKINGS_PER_SCALE * scale), 1000)
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        for product in PRODUCTS:
            if product.iceberg:
                continue  # written by write_iceberg, once the mesh is in place
            target = root / "data" / product.domain / product.name
            target.mkdir(parents=True, exist_ok=True)
            params = {"n": n} if "$n" in product.sql else None
            relation = con.sql(product.sql, params=params)
            # bookings are dated by their flights, payments derive from bookings: keep
            # both in memory for the queries after them.
            if product.name in ("schedule", "reservations"):
                name = "flights" if product.name == "schedule" else "bookings"
                con.register(name, relation.to_arrow_table())
                relation = con.table(name)
            if product.partition_by:
                relation.write_parquet(str(target), partition_by=list(product.partition_by))
            else:
                relation.write_parquet(str(target / "part-0.parquet"))
    finally:
        con.close()


def _upload(staging: Path, storage: str, settings: StorageSettings) -> None:
    """Put the generated data under ``storage`` (an s3:// URI) and drop the local copy."""
    location = resolve_location(storage, staging)
    if location.scheme not in ("s3", "s3a"):
        raise UsageError("--storage takes an s3://bucket/prefix URI")
    fs = filesystem("s3", settings)
    bucket = location.path.split("/", 1)[0]
    try:
        if not fs.exists(bucket):
            fs.mkdir(bucket)
        prefix = location.path.rstrip("/")
        if fs.exists(prefix) and fs.find(prefix):
            raise UsageError(f"{storage} already holds data", hint="choose an empty prefix")
        fs.put(str(staging / "data") + "/", prefix + "/", recursive=True)
    except PermissionError:
        raise StorageError(f"access denied writing to {storage}") from None
    except OSError as exc:
        raise StorageError(f"could not write the demo data to {storage} "
                           f"({type(exc).__name__})") from None
    shutil.rmtree(staging / "data")


def write_iceberg(root: Path, scale: float, warehouse: str | None = None,
                  settings: StorageSettings | None = None) -> None:
    """Publish the Iceberg demo products into a SQL catalog (SQLite) inside the mesh, with
    the warehouse in the mesh or at ``warehouse`` (an s3:// URI).

    Iceberg metadata records absolute file locations, so this runs in the final folder.
    """
    from pyiceberg.catalog.sql import SqlCatalog

    from connectors.iceberg import io_properties

    (root / "iceberg").mkdir(exist_ok=True)
    catalog = SqlCatalog("demo", uri="sqlite:///" + str(root / "iceberg" / "catalog.db"),
                         warehouse=warehouse or (root / ICEBERG_WAREHOUSE).as_uri(),
                         **io_properties(settings))
    n = max(int(BOOKINGS_PER_SCALE * scale), 1000)
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        for product in (p for p in PRODUCTS if p.iceberg):
            params = {"n": n} if "$n" in product.sql else None
            data = con.sql(product.sql, params=params).to_arrow_table()
            if product.domain not in [ns[0] for ns in catalog.list_namespaces()]:
                catalog.create_namespace(product.domain)
            table = catalog.create_table(f"{product.domain}.{product.name}", schema=data.schema)
            with table.update_spec() as spec:
                for column in product.partition_by:
                    spec.add_identity(column)
            table.append(data)
    finally:
        con.close()


def write_demo(target: Path, scale: float = 1.0, storage: str | None = None,
               s3_endpoint_url: str | None = None) -> Path:
    """Write the demo mesh into ``target`` (which must not exist or be empty).

    With ``storage`` (``s3://bucket/prefix``), the data goes to object storage and the
    contracts point there; ``s3_endpoint_url`` is written into duckmesh.yaml.
    """
    if scale <= 0:
        raise UsageError("--scale must be greater than 0")
    s3 = S3Settings(endpoint_url=s3_endpoint_url, path_style=bool(s3_endpoint_url))
    settings = StorageSettings(s3=s3)
    target = target.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} already exists and is not empty",
                         hint="choose a new folder or remove it first")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".duckmesh-demo-", dir=target.parent))
    try:
        _dump(staging / "duckmesh.yaml", {
            "name": "travel-agency-demo",
            "description": "Demo data mesh of an online travel agency",
            "secret_file": ".duckmesh/secret",
            "engine": {"timeout_seconds": 300},
            **({"storage": {"s3": s3.model_dump(exclude_defaults=True)}}
               if storage and s3_endpoint_url else {}),
            "domains": domain_roots(storage),
            "reports": {"destinations": ["out/"]},
        }, "# duckmesh mesh settings; see docs/mesh-format.md\n"
           "# Owned by the platform team: domains cannot widen their own storage roots.\n")
        secret = staging / ".duckmesh" / "secret"
        secret.parent.mkdir()
        secret.write_text(secrets.token_hex(32) + "\n")
        secret.chmod(0o600)
        _dump(staging / "governance" / "principals.yaml", PRINCIPALS)
        _dump(staging / "governance" / "policies.yaml", POLICIES)
        for domain, spec in DOMAINS.items():
            _dump(staging / "domains" / domain / "domain.yaml", spec)
        for name, report in REPORTS.items():
            _dump(staging / "reports" / f"{name}.yaml", report,
                  "# a scheduled report; see docs/reports.md\n")
        for product in PRODUCTS:
            _dump(staging / "domains" / product.domain / f"{product.name}.odcs.yaml",
                  contract(product, storage))
        write_data(staging, scale)
        if storage:
            _upload(staging, storage, settings)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        write_iceberg(target, scale, f"{storage.rstrip('/')}/iceberg" if storage else None,
                      settings)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # ours: it was empty or absent before
        raise
    return target
