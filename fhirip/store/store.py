"""The resource store: versions, current state, links and search index in one transaction.

The store knows nothing of HTTP or FHIR interactions. It keeps every version of
every resource as canonical JSON bytes (served as stored), the current state of
each resource, its literal local references, and (through the indexer) its
search index. Every interaction runs as one database transaction via `Store.run`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from fhirip.model.references import LocalReference
from fhirip.errors import TooCostly
from fhirip.store import claims as _claims
from fhirip.store.engine import is_timeout, make_engine, time_limit, write_gate
from fhirip.store.pending import NOT_YET_NUMBERED, PENDING_CREATES, write_waiting_creates
from fhirip.store.records import Current, StoredVersion, _stamped, now_utc
from fhirip.store.schema import resource, resource_link, resource_version

T = TypeVar("T")


class Indexer(Protocol):
    """Writes the search index of a resource in the caller's transaction."""

    def write_index(self, conn: Connection, rid: int, res_type: str, resource: dict[str, Any], *,
                    fresh: bool = False) -> None: ...

    def write_new_indexes(self, conn: Connection, items: Sequence[tuple[int, str, dict[str, Any]]]) -> None: ...

    def deleted(self, conn: Connection, rid: int) -> None:
        """The resource at `rid` was deleted in this transaction."""


class Indexes:
    """Several indexes kept in the write transaction, each in turn (the search index, then the
    access index, which reads the links written before it)."""

    def __init__(self, *parts: Indexer):
        self.parts = parts

    def write_index(self, conn: Connection, rid: int, res_type: str, resource: dict[str, Any], *,
                    fresh: bool = False) -> None:
        for part in self.parts:
            part.write_index(conn, rid, res_type, resource, fresh=fresh)

    def deleted(self, conn: Connection, rid: int) -> None:
        for part in self.parts:
            part.deleted(conn, rid)

    def write_new_indexes(self, conn: Connection, items: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        for part in self.parts:
            part.write_new_indexes(conn, items)


_VERSION_COLUMNS = (
    resource_version.c.seq, resource_version.c.rid, resource_version.c.res_type,
    resource_version.c.res_id, resource_version.c.version, resource_version.c.last_updated,
    resource_version.c.method, resource_version.c.deleted, resource_version.c.content,
)

# Built once: the hot reads reuse one compiled statement each.
_CURRENT = select(resource.c.rid, resource.c.res_type, resource.c.res_id, resource.c.version,
                  resource.c.last_updated, resource.c.deleted).where(
    resource.c.res_type == bindparam("t"), resource.c.res_id == bindparam("i"))
_CURRENT_FOR_UPDATE = _CURRENT.with_for_update()
_BY_NAME = select(*_VERSION_COLUMNS).where(resource_version.c.res_type == bindparam("t"),
                                           resource_version.c.res_id == bindparam("i"))
_NEWEST = _BY_NAME.order_by(resource_version.c.version.desc()).limit(1)
_VERSION = _BY_NAME.where(resource_version.c.version == bindparam("v"))
_INSERT_RESOURCE = insert(resource).returning(resource.c.rid)
_INSERT_RESOURCES = insert(resource).returning(resource.c.rid, sort_by_parameter_order=True)
_UPDATE_RESOURCE = (update(resource)
                    .where(resource.c.rid == bindparam("target"), resource.c.version == bindparam("expected"))
                    .values(version=bindparam("new_version"), last_updated=bindparam("moment"),
                            deleted=bindparam("is_deleted"), content=bindparam("text")))
_INSERT_VERSION = insert(resource_version)
_DELETE_LINKS = delete(resource_link).where(resource_link.c.rid == bindparam("rid"))
_INSERT_LINK = insert(resource_link)


class Store:
    """Opens transactions on one database; see `run` for the unit of work."""

    def __init__(self, url: str, *, indexer: Indexer | None = None, engine: Engine | None = None,
                 statement_timeout_ms: int | None = None):
        self.url = url
        # How long a transaction's statements may run unless it is `unlimited` (None: no limit).
        self.statement_timeout_ms = statement_timeout_ms
        self.engine = engine or make_engine(url, statement_timeout_ms=statement_timeout_ms)
        self.indexer = indexer
        self.dialect = self.engine.dialect.name
        self.write_gate = write_gate(url)  # what a write transaction enters first (SQLite: the queue)

    def migrate(self, rebuilds: Mapping[str, Callable[[Connection], Any]] | None = None) -> None:
        """Bring the schema to the newest Alembic revision; a new derived table is filled by
        `rebuilds[table]` (`fhirip.store.migrations.fill_derived`)."""
        from fhirip.store.migrations import upgrade

        upgrade(self.engine, rebuilds=rebuilds)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self, *, write: bool, unlimited: bool = False) -> Iterator["Tx"]:
        """One transaction; its statements stop after `statement_timeout_ms` unless `unlimited`
        (the server's own long jobs), with a `TooCostly` error from `run`."""
        limit = None if unlimited else self.statement_timeout_ms
        with (self.write_gate() if write else nullcontext()), self.engine.connect() as conn:
            conn.info["write"] = write
            try:
                with conn.begin(), time_limit(conn, limit, self.statement_timeout_ms):
                    yield Tx(conn, self, write=write)
            finally:
                conn.info.pop("write", None)

    def run(self, work: Callable[["Tx"], T], *, write: bool, attempts: int = 3,
            unlimited: bool = False) -> T:
        """Run `work` in one transaction; retry it when a concurrent writer won a race or
        the database had closed the pooled connection.

        A race shows up as a unique-key violation (two creators of the same id) or a
        serialization failure / deadlock on PostgreSQL. `work` must not keep state
        outside the transaction, so running it again is safe. A statement stopped by the
        time limit (see `transaction`) ends it in `TooCostly`, never run again.
        """
        for attempt in range(attempts):
            committing = False
            try:
                with self.transaction(write=write, unlimited=unlimited) as tx:
                    result = work(tx)
                    committing = True
                return result
            except (IntegrityError, DBAPIError) as exc:
                if isinstance(exc, DBAPIError) and is_timeout(exc):
                    raise TooCostly(
                        f"The request took longer than the {self.statement_timeout_ms} ms the server "
                        "gives one, and was stopped; ask for less (a narrower search, fewer matches "
                        "to sort)") from None
                # A pooled connection the server has closed (a restart) fails on its first use;
                # the pool then renews its connections, and the work runs again on a fresh one.
                # A connection lost while committing may have committed: that is never run again.
                lost = isinstance(exc, DBAPIError) and exc.connection_invalidated and not committing
                if attempt + 1 == attempts or not (lost or _is_race(exc)):
                    raise
                if _is_locked(exc):
                    # A read that went on to write (a search storing its pages) cannot wait for
                    # SQLite's write lock once it has read; run it again as a writer, which queues.
                    write = True
        raise AssertionError("unreachable")


def _by_keys(keys: set[tuple[str, str]]) -> tuple[Any, Any]:
    """Rows whose type and id are among `keys`, as two IN lists (the caller drops the cross pairs):
    SQLite walks the (res_type, res_id) index for these, but scans the table for a row-value IN."""
    return (resource.c.res_type.in_(sorted({t for t, _ in keys})),
            resource.c.res_id.in_(sorted({i for _, i in keys})))


def _is_locked(exc: Exception) -> bool:
    return "database is locked" in str(getattr(exc, "orig", ""))


def _is_race(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    # SQLite: a read transaction that must start writing after another writer
    # committed gets "database is locked" at once; the retry starts afresh.
    if _is_locked(exc):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in {"40001", "40P01"}


class Tx:
    """One open transaction on the store."""

    def __init__(self, conn: Connection, store: Store, *, write: bool = False):
        self.conn = conn
        self.store = store
        self.writing = write  # a write transaction (on SQLite: it holds the write lock)

    # -- reading ---------------------------------------------------------------------------

    def current(self, res_type: str, res_id: str, *, lock: bool = False) -> Current | None:
        query = _CURRENT_FOR_UPDATE if lock else _CURRENT
        row = self.conn.execute(query, {"t": res_type, "i": res_id}).first()
        return Current(*row) if row else None

    def read(self, res_type: str, res_id: str, version: int | None = None) -> StoredVersion | None:
        """The newest version (or the given one), deleted or not; None if never existed."""
        if version is None:
            row = self.conn.execute(_NEWEST, {"t": res_type, "i": res_id}).first()
        else:
            row = self.conn.execute(_VERSION, {"t": res_type, "i": res_id, "v": version}).first()
        return StoredVersion(*row) if row else None

    def read_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """Current content of existing, non-deleted resources, by (type, id)."""
        if not keys:
            return {}
        wanted = set(keys)
        query = (select(resource.c.res_type, resource.c.res_id, resource_version.c.content)
                 .join(resource_version, and_(resource_version.c.rid == resource.c.rid,
                                              resource_version.c.version == resource.c.version))
                 .where(*_by_keys(wanted), resource.c.deleted.is_(False)))
        return {(t, i): c for t, i, c in self.conn.execute(query) if (t, i) in wanted}

    def existing(self, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (type, id) pairs exist and are not deleted."""
        if not keys:
            return set()
        query = select(resource.c.res_type, resource.c.res_id).where(*_by_keys(keys), resource.c.deleted.is_(False))
        return {(t, i) for t, i in self.conn.execute(query) if (t, i) in keys}

    def referrers(self, res_type: str, res_id: str, limit: int = 100) -> list[tuple[str, str]]:
        """Current, non-deleted resources that hold a literal reference to (type, id)."""
        query = (select(resource.c.res_type, resource.c.res_id).distinct()
                 .join(resource_link, resource_link.c.rid == resource.c.rid)
                 .where(resource_link.c.target_type == res_type, resource_link.c.target_id == res_id,
                        resource.c.deleted.is_(False))
                 .order_by(resource.c.res_type, resource.c.res_id).limit(limit))
        return [(t, i) for t, i in self.conn.execute(query)]

    # -- writing ---------------------------------------------------------------------------

    def write(self, resource_json: dict[str, Any], *, method: str, previous: Current | None,
              links: Sequence[LocalReference] = (),
              moment: datetime | None = None) -> tuple[Current, bytes]:
        """Store `resource_json` as the next version of its resource (or its first).

        Sets `meta.versionId` and `meta.lastUpdated` in the dict it is given and
        returns the new state with the canonical bytes that were stored.
        """
        res_type, res_id = resource_json["resourceType"], resource_json["id"]
        moment = moment or now_utc()
        version = previous.version + 1 if previous else 1
        content = _stamped(resource_json, version, moment)
        waiting = self.conn.info.get(PENDING_CREATES)
        if previous is None and waiting is not None:
            waiting[1].append((res_type, res_id, moment, method, content, links))
            return Current(NOT_YET_NUMBERED, res_type, res_id, version, moment, False), content
        text = content.decode("utf-8")
        state = {"res_type": res_type, "res_id": res_id, "version": version, "last_updated": moment,
                 "deleted": False, "content": text}
        if previous is None:
            rid = self.conn.execute(_INSERT_RESOURCE, state).scalar_one()
        else:
            rid = previous.rid
            changed = self.conn.execute(_UPDATE_RESOURCE, {
                "target": rid, "expected": previous.version, "new_version": version, "moment": moment,
                "is_deleted": False, "text": text}).rowcount
            if changed != 1:
                raise IntegrityError("concurrent update", None, Exception("version moved"))
        self.conn.execute(_INSERT_VERSION, {"rid": rid, "res_type": res_type, "res_id": res_id,
                                            "version": version, "last_updated": moment,
                                            "method": method, "deleted": False, "content": content})
        self._replace_links(rid, links, had_links=previous is not None)
        if self.store.indexer is not None:
            self.store.indexer.write_index(self.conn, rid, res_type, resource_json, fresh=previous is None)
        return Current(rid, res_type, res_id, version, moment, False), content

    def claim(self, res_type: str, res_id: str, claims: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Make `claims` the facts (res_type, res_id) holds alone, giving up the others; returns the
        wanted ones another resource holds, with their holder (`fhirip.store.claims.claim`)."""
        return _claims.claim(self.conn, res_type, res_id, claims)

    def hold(self, names: Iterable[str]) -> None:
        """Locks on names until the transaction ends: another transaction asking for one of them
        waits until then (`fhirip.store.claims.hold`). For a rule no key can hold: lock, check, write."""
        _claims.hold(self.conn, names)

    def append(self, resources: Sequence[dict[str, Any]], moment: datetime | None = None) -> None:
        """Store new resources with fresh ids and no links (the audit trail) in a few statements.

        The same rows as `write(..., method="POST", previous=None)` for each, but one insert per
        table for all of them: appending many is then barely dearer than appending one.
        """
        moment = moment or now_utc()
        self._insert_new([(item, moment, _stamped(item, 1, moment)) for item in resources])

    def _insert_new(self, items: Sequence[tuple[dict[str, Any], datetime, bytes]]) -> None:
        if not items:
            return
        states = [{"res_type": item["resourceType"], "res_id": item["id"], "version": 1, "last_updated": moment,
                   "deleted": False, "content": content.decode("utf-8")} for item, moment, content in items]
        rids = list(self.conn.execute(_INSERT_RESOURCES, states).scalars())
        self.conn.execute(_INSERT_VERSION, [
            {"rid": rid, "res_type": state["res_type"], "res_id": state["res_id"], "version": 1,
             "last_updated": state["last_updated"], "method": "POST", "deleted": False, "content": content}
            for rid, state, (_, _, content) in zip(rids, states, items, strict=True)])
        if self.store.indexer is not None:
            self.store.indexer.write_new_indexes(
                self.conn, [(rid, item["resourceType"], item) for rid, (item, _, _) in zip(rids, items, strict=True)])

    @contextmanager
    def deferred_creates(self) -> Iterator[None]:
        """Within the block, the new resources `write` stores wait, and go into the tables together
        (one insert per table) just before the next statement on this connection runs, or when the
        block ends. Every statement, reading or writing, sees them first: only the number of
        statements differs. A new resource's `Current.rid` is then not yet known (it is -1)."""
        if PENDING_CREATES in self.conn.info:
            yield
            return
        self.conn.info[PENDING_CREATES] = (self.store, [])
        event.listen(self.conn, "before_execute", write_waiting_creates)
        try:
            yield
            write_waiting_creates(self.conn)
        finally:
            event.remove(self.conn, "before_execute", write_waiting_creates)
            self.conn.info.pop(PENDING_CREATES, None)

    def delete(self, current: Current, moment: datetime | None = None) -> Current:
        """Record a deletion as a new version without content (a tombstone)."""
        moment = moment or now_utc()
        version = current.version + 1
        changed = self.conn.execute(update(resource).where(
            resource.c.rid == current.rid, resource.c.version == current.version).values(
            version=version, last_updated=moment, deleted=True, content=None)).rowcount
        if changed != 1:
            raise IntegrityError("concurrent delete", None, Exception("version moved"))
        self.conn.execute(insert(resource_version).values(
            rid=current.rid, res_type=current.res_type, res_id=current.res_id, version=version,
            last_updated=moment, method="DELETE", deleted=True, content=None))
        # The search index keeps the rows of the version deleted: every search and lookup leaves
        # deleted rows out, while the access condition, which judges a row by them, still admits
        # the deletion to exactly those who could see that version (its 410 and its history).
        self._replace_links(current.rid, (), had_links=True)
        _claims.give_up(self.conn, current.res_type, current.res_id)
        if self.store.indexer is not None:
            self.store.indexer.deleted(self.conn, current.rid)
        return Current(current.rid, current.res_type, current.res_id, version, moment, True)

    def _replace_links(self, rid: int, links: Sequence[LocalReference], *, had_links: bool) -> None:
        if had_links:
            self.conn.execute(_DELETE_LINKS, {"rid": rid})
        rows = {(link.res_type, link.res_id, link.path[:255]) for link in links}
        if rows:
            self.conn.execute(_INSERT_LINK, [
                {"rid": rid, "target_type": t, "target_id": i, "path": p} for t, i, p in rows])

    # -- history ---------------------------------------------------------------------------

    def history(self, *, res_type: str | None = None, res_id: str | None = None,
                since: datetime | None = None, at: tuple[datetime, datetime] | None = None,
                before_seq: int | None = None, limit: int = 50,
                policy: Callable[[Any], Any] | None = None) -> list[StoredVersion]:
        """Versions newest first; `before_seq` pages back through them stably.

        `policy` restricts them to resources whose current row it admits.
        """
        query = self._history_query(select(*_VERSION_COLUMNS), res_type, res_id, since, at, policy)
        if before_seq is not None:
            query = query.where(resource_version.c.seq < before_seq)
        query = query.order_by(resource_version.c.seq.desc()).limit(limit)
        return [StoredVersion(*row) for row in self.conn.execute(query)]

    def history_count(self, *, res_type: str | None = None, res_id: str | None = None,
                      since: datetime | None = None, at: tuple[datetime, datetime] | None = None,
                      policy: Callable[[Any], Any] | None = None) -> int:
        query = self._history_query(select(func.count()).select_from(resource_version),
                                    res_type, res_id, since, at, policy)
        return int(self.conn.execute(query).scalar_one())

    @staticmethod
    def _history_query(query: Any, res_type: str | None, res_id: str | None,
                       since: datetime | None, at: tuple[datetime, datetime] | None,
                       policy: Callable[[Any], Any] | None = None) -> Any:
        if res_type is not None:
            query = query.where(resource_version.c.res_type == res_type)
        else:
            # The system history lists changes to the record. The audit trail grows with
            # every request (reads too) and is read as AuditEvent history or search.
            query = query.where(resource_version.c.res_type != "AuditEvent")
        if res_id is not None:
            query = query.where(resource_version.c.res_id == res_id)
        if policy is not None:
            row = resource.alias("permitted")
            query = query.where(resource_version.c.rid.in_(select(row.c.rid).where(policy(row))))
        if since is not None:
            query = query.where(resource_version.c.last_updated >= since)
        if at is not None:
            # Versions that were current at some moment in [low, high): written before
            # the range ends, and not replaced before it starts.
            low, high = at
            following = resource_version.alias("following")
            replaced_before = (select(following.c.seq).where(
                following.c.rid == resource_version.c.rid,
                following.c.version == resource_version.c.version + 1,
                following.c.last_updated <= low).exists())
            query = query.where(resource_version.c.last_updated < high, ~replaced_before)
        return query


