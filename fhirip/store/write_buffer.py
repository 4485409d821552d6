"""The write buffer of a transaction (`Tx`): the versions it has written and not yet sent.

A write is prepared when it is made (stamped, serialised, its index rows extracted) and sent
to the database when the transaction next reads, or commits: the store's own reads, and every
use of `Tx.conn`, send it first, so a transaction always reads what it wrote. Creates that
follow one another go in together (PostgreSQL: one statement for all their rows; SQLite: one
insert per table); a new version of an existing resource is sent with its version check
(`UPDATE … WHERE version = <the one read>`, on PostgreSQL in one statement with its history row
and links), which is what makes a write that prepared against an older version fail as a race
instead of overwriting a newer one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Table, bindparam, delete, insert, update
from sqlalchemy.exc import IntegrityError

from fhirip.model.references import LocalReference
from fhirip.store.engine import driver_insert, driver_values, unnested_insert
from fhirip.store.records import Current
from fhirip.store.schema import audit_journal, resource, resource_link, resource_version

if TYPE_CHECKING:
    from fhirip.store.store import Indexer

_INSERT_NUMBERED = insert(resource).returning(resource.c.rid, resource.c.res_type, resource.c.res_id)
_UPDATE_RESOURCE = (update(resource)
                    .where(resource.c.rid == bindparam("target"), resource.c.version == bindparam("expected"))
                    .values(version=bindparam("new_version"), last_updated=bindparam("moment"),
                            deleted=bindparam("is_deleted"), content=bindparam("text")))
_DELETE_LINKS = delete(resource_link).where(resource_link.c.rid == bindparam("rid"))
_VERSION_COLUMNS = ("rid", "res_type", "res_id", "version", "last_updated", "method", "deleted", "content")
_LINK_COLUMNS = ("rid", "target_type", "target_id", "path")


@dataclass(frozen=True)
class NewVersion:
    """One version waiting to be sent: `previous` is the state it was prepared against (None: a
    new resource), `index` what the indexer prepared from it (`Indexer.prepare`)."""

    res_type: str
    res_id: str
    version: int
    moment: datetime
    method: str
    content: bytes
    links: tuple[LocalReference, ...]
    previous: Current | None
    index: Any
    written: dict[str, Any] | None = None  # the content parsed, where the writer holds it already

    @property
    def key(self) -> tuple[str, str]:
        return self.res_type, self.res_id


def send(conn: Connection, indexer: Indexer | None, waiting: Sequence[NewVersion]) -> None:
    """Write the waiting versions in their order: runs of creates together, updates one by one."""
    run: list[NewVersion] = []
    for item in waiting:
        if item.previous is None:
            run.append(item)
            continue
        _send_creates(conn, indexer, run)
        run = []
        _send_update(conn, indexer, item)
    _send_creates(conn, indexer, run)


def send_journal(conn: Connection, rows: Sequence[tuple[datetime, bytes]]) -> None:
    """Rows (moment, stored bytes) into the audit journal, in one statement."""
    _insert_values(conn, audit_journal, ("last_updated", "content"), list(rows))


def _send_update(conn: Connection, indexer: Indexer | None, item: NewVersion) -> None:
    previous = item.previous
    assert previous is not None and previous.rid is not None
    if conn.dialect.name == "postgresql":
        _send_update_in_one_statement(conn, item)
        if indexer is not None:
            indexer.write_index(conn, previous.rid, item.res_type, orjson.loads(item.content), item.index)
        return
    changed = conn.execute(_UPDATE_RESOURCE, {
        "target": previous.rid, "expected": previous.version, "new_version": item.version,
        "moment": item.moment, "is_deleted": False, "text": item.content.decode("utf-8")}).rowcount
    if changed != 1:  # another transaction wrote a version since this one was prepared
        raise IntegrityError("concurrent update", None, Exception("version moved"))
    _insert_values(conn, resource_version, _VERSION_COLUMNS, [
        (previous.rid, item.res_type, item.res_id, item.version, item.moment, item.method, False, item.content)])
    conn.execute(_DELETE_LINKS, {"rid": previous.rid})
    _insert_values(conn, resource_link, _LINK_COLUMNS, _link_rows(previous.rid, item))
    if indexer is not None:
        indexer.write_index(conn, previous.rid, item.res_type, orjson.loads(item.content), item.index)


# PostgreSQL: a new version of an existing resource in one statement, whose text is the same for
# every update (the links go as arrays): the current row moved on only from the version it was
# prepared against, then its history row and its links, each part only where the row moved. The
# links' delete and insert see one snapshot, which no key of resource_link makes them collide in.
_UPDATE_IN_ONE = (
    "WITH moved AS (UPDATE resource SET version = %(version)s, last_updated = %(moment)s, deleted = false, "
    "content = %(text)s::jsonb WHERE rid = %(rid)s AND version = %(expected)s RETURNING rid), "
    "history AS (INSERT INTO resource_version (rid, res_type, res_id, version, last_updated, method, deleted, "
    "content) SELECT rid, %(res_type)s, %(res_id)s, %(version)s, %(moment)s, %(method)s, false, %(content)s "
    "FROM moved), "
    "unlinked AS (DELETE FROM resource_link WHERE rid IN (SELECT rid FROM moved)), "
    "linked AS (INSERT INTO resource_link (rid, target_type, target_id, path) SELECT moved.rid, link.* "
    "FROM moved, unnest(%(types)s::varchar[], %(ids)s::varchar[], %(paths)s::varchar[]) AS link) "
    "SELECT count(*) FROM moved")


def _send_update_in_one_statement(conn: Connection, item: NewVersion) -> None:
    previous = item.previous
    assert previous is not None and previous.rid is not None
    links = _link_rows(previous.rid, item)
    moved = conn.exec_driver_sql(_UPDATE_IN_ONE, {
        "rid": previous.rid, "expected": previous.version, "version": item.version, "moment": item.moment,
        "text": item.content.decode("utf-8"), "res_type": item.res_type, "res_id": item.res_id,
        "method": item.method, "content": item.content,
        "types": [t for _, t, _, _ in links], "ids": [i for _, _, i, _ in links],
        "paths": [p for _, _, _, p in links]}).scalar()
    if moved != 1:  # another transaction wrote a version since this one was prepared
        raise IntegrityError("concurrent update", None, Exception("version moved"))


def _send_creates(conn: Connection, indexer: Indexer | None, items: Sequence[NewVersion]) -> None:
    if not items:
        return
    if conn.dialect.name == "postgresql":
        rids = _send_creates_in_one_statement(conn, items)
    else:
        rids = _send_creates_one_table_at_a_time(conn, items)
    if indexer is not None:  # the access index reads the version as it was written, not the caller's dict
        indexer.write_new_indexes(conn, [(rid, item.res_type, orjson.loads(item.content) if item.written is None
                                          else item.written, item.index)
                                         for rid, item in zip(rids, items, strict=True)])


# PostgreSQL: new resources, their first versions and their links in one statement whose text is
# the same whatever the number of rows (arrays of values): prepared once per connection. Each
# version and link finds its row's number by (type, id); the versions are numbered (`seq`) in the
# order the resources were written, as the history lists them. The arrays go in binary (`%(...)b`),
# as in `fhirip.store.engine.unnested_insert`: in text the driver escapes every value in Python.
_CREATE_IN_ONE = (
    "WITH numbered AS (INSERT INTO resource (res_type, res_id, version, last_updated, deleted, content) "
    "SELECT t, i, 1, m, false, c::jsonb FROM unnest(%(types)b::varchar[], %(ids)b::varchar[], "
    "%(moments)b::timestamp[], %(texts)b::text[]) AS new(t, i, m, c) RETURNING rid, res_type, res_id), "
    "history AS (INSERT INTO resource_version (rid, res_type, res_id, version, last_updated, method, deleted, "
    "content) SELECT numbered.rid, v.t, v.i, 1, v.m, v.method, false, v.c FROM unnest(%(types)b::varchar[], "
    "%(ids)b::varchar[], %(moments)b::timestamp[], %(methods)b::varchar[], %(contents)b::bytea[]) "
    "WITH ORDINALITY AS v(t, i, m, method, c, n) JOIN numbered ON numbered.res_type = v.t AND numbered.res_id = v.i "
    "ORDER BY v.n), "
    "linked AS (INSERT INTO resource_link (rid, target_type, target_id, path) SELECT numbered.rid, l.tt, l.ti, l.p "
    "FROM unnest(%(owner_types)b::varchar[], %(owner_ids)b::varchar[], %(link_types)b::varchar[], "
    "%(link_ids)b::varchar[], %(paths)b::varchar[]) AS l(t, i, tt, ti, p) "
    "JOIN numbered ON numbered.res_type = l.t AND numbered.res_id = l.i) "
    "SELECT rid, res_type, res_id FROM numbered")


def _send_creates_in_one_statement(conn: Connection, items: Sequence[NewVersion]) -> list[int]:
    links = [(item.res_type, item.res_id, t, i, p) for item in items for _, t, i, p in _link_rows(0, item)]
    numbered = {(res_type, res_id): rid for rid, res_type, res_id in conn.exec_driver_sql(_CREATE_IN_ONE, {
        "types": [item.res_type for item in items], "ids": [item.res_id for item in items],
        "moments": [item.moment for item in items], "texts": [item.content.decode("utf-8") for item in items],
        "methods": [item.method for item in items], "contents": [item.content for item in items],
        "owner_types": [link[0] for link in links], "owner_ids": [link[1] for link in links],
        "link_types": [link[2] for link in links], "link_ids": [link[3] for link in links],
        "paths": [link[4] for link in links]})}
    return [numbered[item.key] for item in items]


def _send_creates_one_table_at_a_time(conn: Connection, items: Sequence[NewVersion]) -> list[int]:
    # Matched back by (type, id): asking for the rows in parameter order makes SQLite insert one by one.
    numbered = {(res_type, res_id): rid for rid, res_type, res_id in conn.execute(_INSERT_NUMBERED, [
            {"res_type": item.res_type, "res_id": item.res_id, "version": 1, "last_updated": item.moment,
             "deleted": False, "content": item.content.decode("utf-8")} for item in items])}
    rids = [numbered[item.key] for item in items]
    # Versions and links go straight to the driver: SQLAlchemy's per-row processing of these
    # small rows would cost more than inserting them.
    _insert_values(conn, resource_version, _VERSION_COLUMNS, [
        (rid, item.res_type, item.res_id, 1, item.moment, item.method, False, item.content)
        for rid, item in zip(rids, items, strict=True)])
    _insert_values(conn, resource_link, _LINK_COLUMNS,
                   [row for rid, item in zip(rids, items, strict=True) for row in _link_rows(rid, item)])
    return rids


def _link_rows(rid: int, item: NewVersion) -> list[tuple[Any, ...]]:
    return [(rid, t, i, p) for t, i, p in {(link.res_type, link.res_id, link.path[:255]) for link in item.links}]


def _insert_values(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":  # one prepared statement, not one insert per row
        conn.exec_driver_sql(*_as_statement(unnested_insert(table, conn.dialect, rows, columns)))
        return
    sql, converters = driver_insert(table, conn.dialect, columns)
    conn.exec_driver_sql(sql, driver_values(rows, converters))


def _as_statement(insert: tuple[str, list[list[Any]]]) -> tuple[str, tuple[Any, ...]]:
    return insert[0], tuple(insert[1])
