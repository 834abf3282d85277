"""Shared by the web catalog's tests: a mesh with hostile text in it, sign-in helpers,
and where screenshots go."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import yaml

SCRIPT_DESC = '<script>alert("desc")</script> & <b>bold</b>'
SCRIPT_DATA = '<script>alert("data")</script>'
IMG_COLUMN = "<img src=x onerror=alert('col')>"
ODD_COLUMN = "<b onmouseover=alert(1)>c</b>"
ARTIFACTS = Path(os.environ.get("DUCKMESH_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[3] / ".artifacts" / "catalog"))


def add_hostile_products(root: Path) -> None:
    """marketing.notes (a <script> in its description, a data value and a column
    description) and marketing.odd (a column named with HTML)."""
    folder = root / "data" / "marketing"
    for name in ("notes", "odd"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("COPY (SELECT 1::BIGINT AS note_id, $v AS note) TO "
                    f"'{folder / 'notes' / 'part-0.parquet'}' (FORMAT parquet)", {"v": SCRIPT_DATA})
        con.execute(f'COPY (SELECT 1::BIGINT AS id, \'x\' AS "{ODD_COLUMN}") TO '
                    f"'{folder / 'odd' / 'part-0.parquet'}' (FORMAT parquet)")
    finally:
        con.close()
    for name, props in (("notes", [("note_id", "BIGINT", None), ("note", "VARCHAR", IMG_COLUMN)]),
                        ("odd", [("id", "BIGINT", None), (ODD_COLUMN, "VARCHAR", None)])):
        contract = {
            "apiVersion": "v3.1.0", "kind": "DataContract", "id": f"urn:test:{name}",
            "name": f"marketing.{name}", "version": "1.0.0", "status": "active",
            "domain": "marketing", "dataProduct": name, "tags": ["<svg onload=alert(1)>"],
            "description": {"purpose": SCRIPT_DESC}, "team": {"name": "growth-team"},
            "servers": [{"server": "local", "type": "local", "format": "parquet",
                         "path": f"data/marketing/{name}"}],
            "schema": [{"name": name, "physicalType": "table", "properties": [
                {"name": n, "physicalType": t, "classification": "internal",
                 **({"description": d} if d else {})} for n, t, d in props]}]}
        (root / "domains" / "marketing" / f"{name}.odcs.yaml").write_text(
            yaml.safe_dump(contract, sort_keys=False))


@contextlib.contextmanager
def sign_in(base: str, token: str) -> Iterator[httpx.Client]:
    """A client signed in through the sign-in form (session cookie, as a browser)."""
    with httpx.Client(base_url=base, timeout=60) as http:
        form = http.get("/signin")
        answer = http.post("/signin", data={"token": token, "csrf": csrf_of(form.text),
                                            "next": "/"})
        assert answer.status_code == 303, answer.text
        yield http


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None and found[1]
    return found[1]
