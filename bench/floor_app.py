"""The floor: the least a server could do to answer a read by id from the same store.

A bare WSGI app that fetches the newest stored bytes of `/{type}/{id}` with the
raw database driver and returns them. No routing framework, no checks, no audit.
fhirip's figures are printed as a ratio to this one, measured in the same run.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

URL = os.environ["FLOOR_DATABASE_URL"]
_local = threading.local()
_QUERY = ("SELECT content FROM resource_version WHERE res_type = {p} AND res_id = {p} "
          "ORDER BY version DESC LIMIT 1")


def _connection() -> Any:
    conn = getattr(_local, "conn", None)
    if conn is None:
        if URL.startswith("sqlite"):
            conn = sqlite3.connect(URL.split("///", 1)[1], check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        else:
            import psycopg

            conn = psycopg.connect(URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        _local.conn = conn
    return conn


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    parts = environ.get("PATH_INFO", "").strip("/").split("/")
    if len(parts) != 2:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    placeholder = "?" if URL.startswith("sqlite") else "%s"
    row = _connection().execute(_QUERY.format(p=placeholder), (parts[0], parts[1])).fetchone()
    if row is None or row[0] is None:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    body = bytes(row[0])
    start_response("200 OK", [("Content-Type", "application/fhir+json"),
                              ("Content-Length", str(len(body)))])
    return [body]
