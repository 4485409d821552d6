"""The resource store: versions, current state, links and search index in one transaction.

The store knows nothing of HTTP or FHIR interactions. It keeps every version of
every resource as canonical JSON bytes (served as stored), the current state of
each resource, its literal local references, and (through the indexer) its
search index. Every interaction runs as one database transaction via `Store.run`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
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
from fhirip.store.records import Current, StoredVersion, _stamped, now_utc
from fhirip.store.write_buffer import NewVersion, send, send_journal
from fhirip.store.schema import resource, resource_link, resource_version

T = TypeVar("T")


class Indexer(Protocol):
    """Keeps the search index (and the access index) of the resources a transaction writes.

    `prepare` runs when a write is made, before any lock (the index rows that depend on the
    content alone; `ahead`: rows a caller extracted already, taken as they are); the writes run
    when the transaction sends its buffer, with what `prepare` gave."""

    def prepare(self, res_type: str, resource: dict[str, Any], ahead: Any = None) -> Any: ...

    def write_index(self, conn: Connection, rid: int, res_type: str, resource: dict[str, Any],
                    prepared: Any = None) -> None:
        """Replace the rows of an existing resource with those of its new version."""

    def write_new_indexes(self, conn: Connection, items: Sequence[tuple[int, str, dict[str, Any], Any]]) -> None:
        """The rows of resources created together (rid, type, content, what `prepare` gave)."""

    def deleted(self, conn: Connection, rid: int) -> None:
        """The resource at `rid` was deleted in this transaction."""


class Indexes:
    """Several indexes kept in the write transaction, each in turn (the search index, then the
    access index, which reads the links written before it)."""

    def __init__(self, *parts: Indexer):
        self.parts = parts

    def prepare(self, res_type: str, resource: dict[str, Any], ahead: Any = None) -> Any:
        return tuple(part.prepare(res_type, resource, ahead) for part in self.parts)

    def write_index(self, conn: Connection, rid: int, res_type: str, resource: dict[str, Any],
                    prepared: Any = None) -> None:
        for number, part in enumerate(self.parts):
            part.write_index(conn, rid, res_type, resource, prepared[number] if prepared else None)

    def deleted(self, conn: Connection, rid: int) -> None:
        for part in self.parts:
            part.deleted(conn, rid)

    def write_new_indexes(self, conn: Connection, items: Sequence[tuple[int, str, dict[str, Any], Any]]) -> None:
        for number, part in enumerate(self.parts):
            part.write_new_indexes(conn, [(rid, res_type, content, prepared[number] if prepared else None)
                                          for rid, res_type, content, prepared in items])


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
_NEWEST_SEQ = select(func.max(resource_version.c.seq))
# Deletions written after a prepared write read the store (SQLite numbers versions in commit order).
_DELETED_SINCE = select(resource_version.c.res_type, resource_version.c.res_id).where(
    resource_version.c.seq > bindparam("seen"), resource_version.c.deleted.is_(True))
_DELETE_LINKS = delete(resource_link).where(resource_link.c.rid == bindparam("rid"))


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

    @property
    def writers_queue(self) -> bool:
        """Whether write transactions queue for one lock (SQLite), so that what a write can do
        before its transaction is worth doing there."""
        return self.write_gate is not nullcontext  # only a SQLite file has a gate

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
        (the server's own long jobs), with a `TooCostly` error from `run`. What the transaction
        wrote and has not sent yet goes to the database before it commits."""
        limit = None if unlimited else self.statement_timeout_ms
        with (self.write_gate() if write else nullcontext()), self.engine.connect() as conn:
            with conn.begin(), time_limit(conn, limit, self.statement_timeout_ms):
                tx = Tx(conn, self, write=write)
                yield tx
                tx.flush()

    def run(self, work: Callable[["Tx"], T], *, write: bool, attempts: int = 3,
            unlimited: bool = False, prepare: bool = False) -> T:
        """Run `work` in one transaction; retry it when a concurrent writer won a race or
        the database had closed the pooled connection.

        A race shows up as a unique-key violation (two creators of the same id), a version
        that moved under a prepared write, or a serialization failure / deadlock on
        PostgreSQL. `work` must not keep state outside the transaction, so running it again
        is safe. A statement stopped by the time limit (see `transaction`) ends it in
        `TooCostly`, never run again.

        `prepare`: where writers queue for one write lock (SQLite), `work` runs first without
        it, in a read transaction whose writes wait in the buffer (`Tx.preparing`); the lock is
        then taken only to send them, each checked against the version it was prepared from.
        A version that moved runs `work` again (its last attempt under the lock throughout);
        work that must read what it wrote, or lock names, runs under the lock from the start.
        """
        prepare = prepare and write and self.writers_queue
        for attempt in range(attempts):
            committing = False
            try:
                if prepare and attempt + 1 < attempts:
                    try:
                        with self.transaction(write=False, unlimited=unlimited) as tx:
                            tx.preparing = True
                            result = work(tx)
                            prepared = tx.take_prepared()
                    except LockNeeded:
                        prepare = False
                    else:
                        with self.transaction(write=True, unlimited=unlimited) as tx:
                            tx.send_prepared(prepared)
                            committing = True
                        return result
                with self.transaction(write=write, unlimited=unlimited) as tx:
                    result = work(tx)
                    tx.flush()  # what is still buffered is sent before the commit, not as part of it
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


class LockNeeded(Exception):
    """Raised in a preparing transaction (`Tx.preparing`) by work that cannot be prepared without
    the write lock: a read of what it has written, a named lock, a deletion. `Store.run` then runs
    the work again under the lock."""


@dataclass(frozen=True)
class Prepared:
    """What a preparing transaction will write: its versions, the claims its rules stated, the
    resources they refer to, the newest version number (`seq`) the work could see and its journal rows."""

    versions: list[NewVersion]
    claims: list[tuple[str, str, tuple[str, ...], dict[str, tuple[str, str]]]]
    targets: set[tuple[str, str]]
    seen: int
    journal: list[tuple[datetime, bytes]]


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
    """One open transaction on the store: the unit of work.

    Writes (`write`, `insert_new`, `journal`) wait in the transaction's write buffer (`fhirip.store.
    write_buffer`) and are sent when the transaction next reads (any use of `conn`, every read
    method here) or commits. `preparing`: the transaction runs without the write lock
    (`Store.run(prepare=True)`); its writes are sent later, in a write transaction, and reading
    them back here raises `LockNeeded`."""

    def __init__(self, conn: Connection, store: Store, *, write: bool = False):
        self._conn = conn
        self.store = store
        self.writing = write  # a write transaction (on SQLite: it holds the write lock)
        self.preparing = False
        self._waiting: list[NewVersion] = []
        self._journal: list[tuple[datetime, bytes]] = []  # rows for the audit journal (`journal`)
        # Stated while preparing: (type, id, the claims, those another resource held then).
        self._claims: list[tuple[str, str, tuple[str, ...], dict[str, tuple[str, str]]]] = []

    @property
    def conn(self) -> Connection:
        """The connection, for statements of other modules: the writes waiting are sent first."""
        self.flush()
        return self._conn

    def flush(self) -> None:
        """Send the writes waiting in the buffer."""
        if not self._waiting and not self._journal:
            return
        if self.preparing:
            raise LockNeeded("the work reads what it has written")
        waiting, self._waiting = self._waiting, []
        journal, self._journal = self._journal, []
        send(self._conn, self.store.indexer, waiting)
        send_journal(self._conn, journal)

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
        self.flush()
        return self._existing(keys)

    def _existing(self, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
        if not keys:
            return set()
        query = select(resource.c.res_type, resource.c.res_id).where(*_by_keys(keys), resource.c.deleted.is_(False))
        return {(t, i) for t, i in self._conn.execute(query) if (t, i) in keys}

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
              links: Sequence[LocalReference] = (), moment: datetime | None = None,
              index_rows: Any = None) -> tuple[Current, bytes]:
        """Store `resource_json` as the next version of its resource (or its first).

        Sets `meta.versionId` and `meta.lastUpdated` in the dict it is given and returns the new
        state (`rid` None for a new resource, numbered when it is sent) with the canonical bytes
        that will be stored. Its index rows are extracted now, or taken from `index_rows` (rows
        extracted ahead from exactly this content, by table name)."""
        res_type, res_id = resource_json["resourceType"], resource_json["id"]
        if previous is not None and previous.rid is None:  # written earlier in this transaction
            self.flush()
            previous = self.current(res_type, res_id)
        moment = moment or now_utc()
        version = previous.version + 1 if previous else 1
        content = _stamped(resource_json, version, moment)
        prepared = self.store.indexer.prepare(res_type, resource_json, index_rows) if self.store.indexer else None
        self._waiting.append(NewVersion(res_type, res_id, version, moment, method, content, tuple(links),
                                        previous, prepared))
        return Current(previous.rid if previous else None, res_type, res_id, version, moment, False), content

    def insert_new(self, items: Sequence[tuple[dict[str, Any], datetime, bytes]], *,
                   index_rows: Sequence[Any] | None = None) -> None:
        """New resources with no links (the audit trail), each (resource, moment, stored bytes,
        see `fhirip.store.records.first_versions`), sent together: one insert per table.
        The resource is what its stored bytes hold (the indexes read it instead of parsing them again).
        `index_rows`: per item, its search index rows extracted ahead (None: extract them now)."""
        indexer = self.store.indexer
        for number, (item, moment, content) in enumerate(items):
            ahead = index_rows[number] if index_rows is not None else None
            self._waiting.append(NewVersion(item["resourceType"], item["id"], 1, moment, "POST", content, (),
                                            None, indexer.prepare(item["resourceType"], item, ahead)
                                            if indexer is not None else None, item))

    def journal(self, rows: Sequence[tuple[datetime, bytes]]) -> None:
        """Rows (moment, stored bytes) for the audit journal (`audit_journal`), sent with this
        transaction's writes and committed with them; the journal's mover later stores each as a
        resource (`fhirip.audit.journal`)."""
        self._journal.extend(rows)

    def claim(self, res_type: str, res_id: str, claims: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Make `claims` the facts (res_type, res_id) holds alone, giving up the others; returns the
        wanted ones another resource holds, with their holder (`fhirip.store.claims.claim`).
        Preparing, the claims are taken when the writes are sent, and must then still be free."""
        if self.preparing:
            wanted = tuple(sorted(set(claims)))
            held = _claims.holders(self._conn, res_type, res_id, wanted)
            self._claims.append((res_type, res_id, wanted, held))
            return held
        return _claims.claim(self.conn, res_type, res_id, claims)

    def hold(self, names: Iterable[str]) -> None:
        """Locks on names until the transaction ends: another transaction asking for one of them
        waits until then (`fhirip.store.claims.hold`). For a rule no key can hold: lock, check, write."""
        if self.preparing:
            raise LockNeeded("the work locks names")
        _claims.hold(self.conn, names)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the transaction that fails alone (a SAVEPOINT): its writes are sent before it
        ends, and dropped with it when it fails."""
        if self.preparing:
            raise LockNeeded("a savepoint is written at once")
        self.flush()
        with self._conn.begin_nested():
            try:
                yield
                self.flush()
            except BaseException:
                self._waiting.clear()
                self._journal.clear()
                raise

    def take_prepared(self) -> Prepared:
        """What this preparing transaction will write (`Store.run`), taken out of it."""
        own = {item.key for item in self._waiting}
        targets = {(link.res_type, link.res_id) for item in self._waiting for link in item.links} - own
        seen = self._conn.execute(_NEWEST_SEQ).scalar() or 0  # in the snapshot the work read
        prepared = Prepared(self._waiting, self._claims, targets, seen, self._journal)
        self._waiting, self._claims, self._journal = [], [], []
        return prepared

    def send_prepared(self, prepared: Prepared) -> None:
        """In the write transaction: send what a preparing one wrote, each version checked against
        the one it was prepared from, each claim held by whom it was then, no resource it refers to deleted since
        it read; otherwise a race (`IntegrityError`), and `Store.run` prepares the work again."""
        send(self._conn, self.store.indexer, prepared.versions)
        send_journal(self._conn, prepared.journal)
        for res_type, res_id, wanted, held in prepared.claims:
            if _claims.claim(self._conn, res_type, res_id, wanted) != held:
                raise IntegrityError("claim taken", None, Exception("a claim changed hands since it was prepared"))
        if prepared.targets:
            deleted = {(t, i) for t, i in self._conn.execute(_DELETED_SINCE, {"seen": prepared.seen})}
            if deleted & prepared.targets:
                raise IntegrityError("reference gone", None, Exception("a referenced resource was deleted"))


    def delete(self, current: Current, moment: datetime | None = None) -> Current:
        """Record a deletion as a new version without content (a tombstone)."""
        if self.preparing:
            raise LockNeeded("a deletion is checked against its referrers under the lock")
        if current.rid is None:  # created earlier in this transaction
            self.flush()
            current = self.current(current.res_type, current.res_id) or current
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
        self.conn.execute(_DELETE_LINKS, {"rid": current.rid})
        _claims.give_up(self.conn, current.res_type, current.res_id)
        if self.store.indexer is not None:
            self.store.indexer.deleted(self.conn, current.rid)
        return Current(current.rid, current.res_type, current.res_id, version, moment, True)

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


