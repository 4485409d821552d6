"""The floor: the least a server could do to answer the benchmark's reads from the same store.

A bare WSGI app over the raw database driver, with no routing framework, no checks and no
audit. It answers two shapes:

- `GET /{type}/{id}`: the newest stored bytes of that resource;
- `GET /CarePlan?patient.identifier={system}|{value}` (any `_include`): the plans of the
  persons with that identifier and the goals they reference (the `goal` search parameter),
  from the same search index rows the server fills, spliced as stored bytes into a searchset.

fhirip's figures are printed as a ratio to this one, measured in the same run.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any
from urllib.parse import parse_qsl

URL = os.environ["FLOOR_DATABASE_URL"]
SQLITE = URL.startswith("sqlite")
P = "?" if SQLITE else "%s"
_local = threading.local()
_READ = ("SELECT content FROM resource_version WHERE res_type = {p} AND res_id = {p} "
         "ORDER BY version DESC LIMIT 1").format(p=P)
# Current stored bytes of the resources whose search_reference row for `param` points at the target.
_PLANS = ("SELECT r.rid, v.content FROM search_token t "
          "JOIN resource pt ON pt.rid = t.rid AND NOT pt.deleted "
          "JOIN search_reference s ON s.res_type = 'CarePlan' AND s.param = 'patient' "
          "AND s.target_type = 'Patient' AND s.target_id = pt.res_id "
          "JOIN resource r ON r.rid = s.rid AND NOT r.deleted "
          "JOIN resource_version v ON v.rid = r.rid AND v.version = r.version "
          "WHERE t.res_type = 'Patient' AND t.param = 'identifier' AND t.system = {p} AND t.code = {p}").format(p=P)
_GOALS = ("SELECT v.content FROM search_reference s "
          "JOIN resource g ON g.res_type = s.target_type AND g.res_id = s.target_id AND NOT g.deleted "
          "JOIN resource_version v ON v.rid = g.rid AND v.version = g.version "
          "WHERE s.rid = {p} AND s.res_type = 'CarePlan' AND s.param = 'goal'").format(p=P)


def _connection() -> Any:
    conn = getattr(_local, "conn", None)
    if conn is None:
        if SQLITE:
            conn = sqlite3.connect(URL.split("///", 1)[1], check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        else:
            import psycopg

            conn = psycopg.connect(URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        _local.conn = conn
    return conn


def _respond(start_response: Any, body: bytes | None) -> list[bytes]:
    if body is None:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    start_response("200 OK", [("Content-Type", "application/fhir+json"), ("Content-Length", str(len(body)))])
    return [body]


def read(res_type: str, res_id: str) -> bytes | None:
    row = _connection().execute(_READ, (res_type, res_id)).fetchone()
    return None if row is None or row[0] is None else bytes(row[0])


def plans_with_goals(identifier: str) -> bytes:
    system, _, value = identifier.partition("|")
    conn = _connection()
    plans = conn.execute(_PLANS, (system, value)).fetchall()
    entries = [b'{"resource":' + bytes(content) + b',"search":{"mode":"match"}}' for _, content in plans]
    for rid, _ in plans:
        entries += [b'{"resource":' + bytes(row[0]) + b',"search":{"mode":"include"}}'
                    for row in conn.execute(_GOALS, (rid,)).fetchall()]
    return (b'{"resourceType":"Bundle","type":"searchset","total":%d,"entry":[' % len(plans)
            + b",".join(entries) + b"]}")


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    parts = environ.get("PATH_INFO", "").strip("/").split("/")
    if len(parts) == 2:
        return _respond(start_response, read(parts[0], parts[1]))
    identifier = dict(parse_qsl(environ.get("QUERY_STRING", ""))).get("patient.identifier")
    if parts == ["CarePlan"] and identifier:
        return _respond(start_response, plans_with_goals(identifier))
    return _respond(start_response, None)
