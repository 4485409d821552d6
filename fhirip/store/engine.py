"""Database engines for the two supported stores: embedded SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, Float, create_engine, event
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from fhirip.store.store import Store

T = TypeVar("T")


def make_engine(url: str, *, statement_timeout_ms: int | None = None, **kwargs: Any) -> Engine:
    """An engine for `url`; on PostgreSQL each of its connections stops a statement that runs
    longer than `statement_timeout_ms` (SQLite's limit is set per transaction: `time_limit`)."""
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url, **kwargs)
    else:
        engine = _postgres_engine(url, statement_timeout_ms, **kwargs)
    _ENGINES.add(engine)
    return engine


def _postgres_engine(url: str, statement_timeout_ms: int | None, **kwargs: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if statement_timeout_ms:
        kwargs.setdefault("connect_args", {})["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No ping before every checkout (a round trip per transaction, a quarter of a read's time):
    # connections are renewed after `pool_recycle` seconds, and a connection found dead is
    # replaced, with its transaction run again, by `Store.run` (see there).
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 600)
    return create_engine(url, json_serializer=_json_text, **kwargs)


@contextmanager
def generic_plans(conn: Any) -> Iterator[None]:
    """Within the block, PostgreSQL plans each prepared statement once per connection (a generic
    plan) instead of for each execution's values (a custom plan), for statements whose plan must
    not depend on their values, such as lists unnested into index seeks. Left to itself it went on
    planning some of those afresh at every execution, and the planning cost several times the
    execution (the consent decision's Consent lookup: 1.26 ms a call, against 0.16 ms with a
    generic plan)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    failed = True
    try:
        yield
        failed = False
    finally:
        if not failed or _transaction_usable(conn):
            conn.exec_driver_sql("SET LOCAL plan_cache_mode = DEFAULT")


def generic_plans_to_commit(conn: Any) -> None:
    """`generic_plans` for the rest of the transaction (`SET LOCAL` ends with it): one statement
    where the block sends two, for a transaction whose every later statement may be planned so."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")


# SQLite calls the progress handler every this many virtual machine instructions (well under a
# millisecond of work): often enough to stop on time, rarely enough to cost nothing measurable.
_PROGRESS_STEPS = 20_000


@contextmanager
def time_limit(conn: Any, limit_ms: int | None, connection_default_ms: int | None) -> Iterator[None]:
    """Within the block (one transaction), statements on `conn` stop after `limit_ms` (None: never).

    PostgreSQL stops each statement that runs longer (`statement_timeout`, which the engine set
    on every connection to `connection_default_ms`; an unlimited transaction lifts it for itself
    only). SQLite has no such setting: a progress handler stops whatever statement is running
    once the transaction has lasted `limit_ms`, which for a request's one transaction is the same
    bound. Either way the statement fails, and `is_timeout` recognises the error."""
    if conn.dialect.name == "postgresql":
        if limit_ms != connection_default_ms:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(limit_ms or 0)}")
        yield
        return
    if conn.dialect.name != "sqlite" or not limit_ms:
        yield
        return
    deadline = time.monotonic() + limit_ms / 1000
    dbapi_connection = conn.connection.dbapi_connection
    dbapi_connection.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
    try:
        yield
    finally:
        dbapi_connection.set_progress_handler(None, 0)  # the pooled connection goes back unlimited


def is_timeout(exc: DBAPIError) -> bool:
    """Whether a database error is a statement stopped by `time_limit`."""
    import sqlite3

    if isinstance(exc.orig, sqlite3.OperationalError):
        return str(exc.orig) == "interrupted"
    from psycopg.errors import QueryCanceled

    return isinstance(exc.orig, QueryCanceled)


def _transaction_usable(conn: Any) -> bool:
    """Whether the PostgreSQL transaction still takes statements (not aborted by an error)."""
    from psycopg.pq import TransactionStatus

    return conn.connection.dbapi_connection.info.transaction_status != TransactionStatus.INERROR


def _json_text(value: Any) -> str:
    """Resource JSON reaches the JSON column as ready-made text: no second serialisation."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    if isinstance(value, str):
        return value
    import orjson

    return orjson.dumps(value).decode("utf-8")


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, json_serializer=_json_text, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 32 MiB of page cache instead of 2: a growing store's index pages stay in memory
        # (a 3 000-plan import ran 20 % faster); SQLite takes the memory only as pages are read.
        cursor.execute("PRAGMA cache_size=-32768")
        # Checkpoint the write-ahead log every 20 000 pages (80 MiB) instead of 1 000: a page
        # written again before the checkpoint is copied once, and a long import spent a tenth
        # of its writer's time in checkpoints (10 000-plan import 41 → 44 plans/s). A server's
        # audit mover checkpoints after each of its rounds (`checkpoint_wal`), so under a server
        # this is the backstop, not the rule.
        cursor.execute("PRAGMA wal_autocheckpoint=20000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A transaction takes the write lock at its first write. Writers queue for it before
        # they begin (`write_gate`), so a writer's snapshot is never overtaken by another
        # writer's commit, and readers stay concurrent under WAL.
        connection.exec_driver_sql("BEGIN DEFERRED")

    return engine


class SqliteWriteGate:
    """Queues the writers of one SQLite database, across threads and processes, in the open.

    SQLite admits one writer; the others wait in its busy handler, which sleeps in steps of
    up to 100 ms without being woken when the lock is freed. Under a steady stream of short
    writes (an audit record per request) that sleeping, not the work, sets the pace. Waiting
    on an OS file lock instead wakes the next writer the moment the last one finishes.
    """

    def __init__(self, database_path: str):
        self._threads = threading.Lock()  # a file lock is per process: threads queue here first
        self._path = database_path + "-writers.lock"
        self._file: Any = None
        _GATES.add(self)

    def _forget_in_child(self) -> None:
        """After a fork: the child must not share the parent's lock file. A lock taken through
        it belongs to the open file both share and lasts while either keeps it open, so a child
        outliving a killed parent would hold the parent's write lock for ever."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._threads = threading.Lock()  # another thread of the parent may have held it

    @contextmanager
    def __call__(self) -> Iterator[None]:
        import fcntl

        with self._threads:
            if self._file is None:
                self._file = open(self._path, "a+b")  # noqa: SIM115 - held for the process's life
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)


_GATES: weakref.WeakSet[SqliteWriteGate] = weakref.WeakSet()
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_in_child() -> None:
    """After a fork (gunicorn's workers under --preload, the import's helper): the child opens
    connections of its own. A pooled connection inherited from the parent shares its socket or
    file with the parent and every sibling, and two processes talking over one PostgreSQL
    connection interleave their statements (lost prepared statements, answers read by the wrong
    request, half-written transactions). The parent's connections are left open for the parent."""
    for gate in list(_GATES):
        gate._forget_in_child()
    for engine in list(_ENGINES):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def write_gate(url: str) -> Callable[[], AbstractContextManager[None]]:
    """What a write transaction enters first: the SQLite queue, or nothing for PostgreSQL
    (whose row locks wake waiters themselves) and for in-memory databases."""
    path = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    if not path or path == ":memory:":
        return nullcontext
    if importlib.util.find_spec("fcntl") is None:  # POSIX only; elsewhere SQLite's busy handler does the waiting
        return nullcontext
    return SqliteWriteGate(path)


_DRIVER_INSERTS: dict[tuple[str, str, tuple[str, ...] | None], tuple[str, list[tuple[str, Any]]]] = {}


def driver_insert(table: Any, dialect: Any, columns: tuple[str, ...] | None = None) -> tuple[str, list[tuple[str, Any]]]:
    """`INSERT INTO table (columns) VALUES (placeholders)` to send straight to the driver (every
    column, or these), and per column its name and the dialect's conversion of a value for it
    (None where values pass as they are): SQLAlchemy's own per-row processing costs more than
    the insert of a small row."""
    key = (table.name, dialect.name, columns)
    found = _DRIVER_INSERTS.get(key)
    if found is None:
        chosen = [table.c[name] for name in columns] if columns else list(table.c)
        converters = [(column.name, column.type.dialect_impl(dialect).bind_processor(dialect)) for column in chosen]
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        names = ", ".join(name for name, _ in converters)
        found = (f"INSERT INTO {table.name} ({names}) VALUES ({', '.join(mark for _ in converters)})", converters)
        _DRIVER_INSERTS[key] = found
    return found


def driver_values(rows: list[tuple[Any, ...]], converters: list[tuple[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows of values in `driver_insert`'s column order, each through its column's conversion."""
    if not any(convert for _, convert in converters):
        return rows
    return [tuple(convert(value) if convert else value for value, (_, convert) in zip(row, converters))
            for row in rows]


def unnested_insert(table: Any, dialect: Any, rows: list[tuple[Any, ...]],
                    columns: tuple[str, ...] | None = None) -> tuple[str, list[list[Any]]]:
    """PostgreSQL: `INSERT INTO table (columns) SELECT * FROM unnest(arrays)` and its parameters,
    one array of values per column (the rows as `driver_insert` takes them). The text is the same
    whatever the number of rows, so the driver prepares it and the server plans it once per
    connection, where a list of VALUES would be parsed and planned anew for each count of rows,
    and an executemany would run one insert per row. Also a clause of a WITH statement.
    The arrays go in binary (`%b`): in text the driver quotes and escapes every value with a
    regular expression, which for arrays of JSON documents costs more than the insert."""
    converters, converted = _typed_rows(table, dialect, rows, columns)
    names = ", ".join(name for name, _ in converters)
    arrays = ", ".join(f"%b::{_array_type(table.c[name], dialect)}" for name, _ in converters)
    values = [list(column) for _, column in zip(converters, zip(*converted), strict=True)]
    return f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})", values


def _typed_rows(table: Any, dialect: Any, rows: list[tuple[Any, ...]], columns: tuple[str, ...] | None
                ) -> tuple[list[tuple[str, Any]], list[tuple[Any, ...]]]:
    """PostgreSQL: `driver_insert`'s columns and the rows through their conversions, a number
    column's ints as floats (an array takes the type of its first value, and a binary COPY field
    the type it is declared with)."""
    _, converters = driver_insert(table, dialect, columns)
    converted = driver_values(rows, converters)
    floats = [isinstance(table.c[name].type, Float) for name, _ in converters]
    if any(floats):
        converted = [tuple(float(value) if wide and value is not None else value
                           for value, wide in zip(row, floats)) for row in converted]
    return converters, converted


def copied_insert(conn: Any, table: Any, rows: list[tuple[Any, ...]], columns: tuple[str, ...] | None = None) -> None:
    """PostgreSQL: the rows (as `driver_insert` takes them) into `table` by one binary COPY, in the
    connection's open transaction. The driver formats a COPY row in C, where the arrays of
    `unnested_insert` are built value by value in Python, and the server stores each row without
    the executor's work per row of an INSERT … SELECT: for thousands of rows (a chunk of the audit
    journal's index rows) it costs less on both ends. One statement per table, so not for a few."""
    converters, converted = _typed_rows(table, conn.dialect, rows, columns)
    names = ", ".join(name for name, _ in converters)
    types = [_value_type(table.c[name], conn.dialect) for name, _ in converters]
    with conn.connection.dbapi_connection.cursor() as cursor, \
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in converted:
            copy.write_row(row)


# The names the driver knows PostgreSQL's types by, where SQLAlchemy writes them otherwise.
_DRIVER_TYPE_NAMES = {"float": "float8"}


def _value_type(column: Any, dialect: Any) -> str:
    """The PostgreSQL type of a column's values as the driver names it (no length or collation)."""
    name = _array_type(column, dialect)[:-2].lower()
    return _DRIVER_TYPE_NAMES.get(name, name)


def _array_type(column: Any, dialect: Any) -> str:
    """The PostgreSQL array type of a column's values (its type without length or collation)."""
    return column.type.compile(dialect=dialect).split(" COLLATE")[0].split("(")[0] + "[]"


def checkpoint_wal(engine: Engine) -> None:
    """SQLite: copy what the write-ahead log holds into the database file, without waiting for
    anyone (a passive checkpoint: no lock a writer or reader takes). Otherwise the commit that
    finds the log past `wal_autocheckpoint` pages copies them itself, in whichever transaction
    that is: under a server, most often a request's audit journal commit, which then holds the
    write queue (`SqliteWriteGate`) while it copies, and every other writer waits behind it.
    PostgreSQL checkpoints by itself: nothing to do."""
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()
    try:
        # Outside any transaction (the sqlite3 module leaves BEGIN to us): a checkpoint cannot
        # run inside one.
        connection.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        connection.close()


def driver_transaction(store: Store, work: Callable[[Any], T]) -> T:
    """`work(cursor)` in a short write transaction sent straight through the driver, committed.

    The write lock is queued for as by every writer (`Store.transaction`). A pooled
    connection the database has closed is replaced and the work sent again, unless it
    was lost while committing (it may have committed: nothing is ever done twice)."""
    for attempt in (1, 2):
        with store.write_gate():
            connection = store.engine.raw_connection()
            committing = False
            try:
                cursor = connection.cursor()
                if store.dialect == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")  # the sqlite3 module leaves BEGIN to us
                result = work(cursor)
                committing = True
                connection.commit()
                return result
            except Exception:
                lost = bool(getattr(connection.dbapi_connection, "closed", False))
                if lost:  # the database went away: so did every connection pooled before
                    connection.invalidate()
                    store.engine.dispose(close=False)
                else:
                    connection.rollback()
                if not lost or committing or attempt == 2:
                    raise
            finally:
                connection.close()
    raise AssertionError("unreachable")
