"""TLS with a real self-signed certificate: the ADBC client over grpc+tls gets the
governed answer, HTTPS serves the API, and a plaintext client cannot talk to a TLS
server."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_manager
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from federation import Mesh
from tests.federation.server.conftest import Served, adbc, start

SQL = "SELECT region, email FROM customers.profiles ORDER BY customer_id LIMIT 20"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, signed by its own key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "duckmesh test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls(served_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    running = start(served_root, tls_cert=str(cert), tls_key=str(key),
                    auth_failures_per_minute=10_000)
    yield running
    running.server.stop(1)


def _pem(served: Served) -> str:
    cert = served.server.settings.tls_cert
    assert cert is not None
    return Path(cert).read_text()


def _fetch(conn: Any, sql: str) -> Any:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return cur.fetch_arrow_table()
    finally:
        cur.close()


def test_adbc_over_tls_gets_the_governed_answer(tls: Served) -> None:
    assert tls.flight.startswith("grpc+tls://127.0.0.1:")
    conn = adbc(tls.flight, tls.tokens["ana"],
                **{"adbc.flight.sql.client_option.tls_root_certs": _pem(tls)})
    try:
        remote = _fetch(conn, SQL)
    finally:
        conn.close()
    embedded = Mesh.open(tls.root).sql(SQL, user="ana").arrow()
    assert remote.to_pylist() == embedded.to_pylist()
    assert {r["region"] for r in remote.to_pylist()} == {"EU"}
    assert all("@" not in r["email"] for r in remote.to_pylist())


def test_an_untrusted_certificate_is_refused_by_the_client(tls: Served) -> None:
    conn = adbc(tls.flight, tls.tokens["ana"])  # the system's CAs: ours is not one
    try:
        with pytest.raises(adbc_driver_manager.Error):
            _fetch(conn, "SELECT 1")
    finally:
        conn.close()


def test_plaintext_to_a_tls_server_fails(tls: Served) -> None:
    plain = tls.flight.replace("grpc+tls://", "grpc://")
    conn = adbc(plain, tls.tokens["ana"])
    try:
        with pytest.raises(adbc_driver_manager.Error):
            _fetch(conn, "SELECT 1")
    finally:
        conn.close()
    with pytest.raises(httpx.HTTPError):
        httpx.get(tls.http.replace("https://", "http://") + "/healthz", timeout=5)


def test_https_serves_the_api_to_a_client_that_trusts_the_certificate(tls: Served) -> None:
    import ssl

    assert tls.http.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cadata=_pem(tls))
    with httpx.Client(verify=context, timeout=30) as client:
        assert client.get(tls.http + "/healthz").json()["status"] == "ok"
        answer = client.post(tls.http + "/v1/query", json={"sql": SQL},
                             headers={"Authorization": f"Bearer {tls.tokens['ana']}",
                                      "Accept": "application/json"})
    assert answer.status_code == 200
    assert {r["region"] for r in answer.json()} == {"EU"}
