"""The caller's rows are read by running the resolution's compiled text on the driver's cursor
(`Compiled.run`): the same rows as SQLAlchemy's own execution of the statement, and a database
error reaches the store as SQLAlchemy's, so a statement stopped by the time limit still answers
as one."""

from __future__ import annotations

import importlib
import consent_world as world
import pytest
from consent_support import World
from sqlalchemy.exc import DBAPIError

from fhirip.auth import Actor
from fhirip.errors import TooCostly
from fhirip.model.dates import to_naive_utc

# `fhirip.consent` exports the function `decide` under the module's name.
resolution = importlib.import_module("fhirip.consent.decide")

CALLERS = [
    world.practitioner_claims(world.OLA, world.KOMMUNE),
    world.practitioner_claims(world.PER, world.KOMMUNE),
    world.practitioner_claims(world.BJORN, world.DPS),
    world.practitioner_claims(world.UNN, world.ENHET, role="koordinerende-enhet"),
    world.person_claims(world.KARI),
    world.person_claims(world.JON_FAR),
]
NAMED = [("CarePlan", "plan-kari"), ("Patient", "kari"), ("CarePlan", "unknown")]


def _values(claims: dict) -> dict:
    keys = sorted(resolution.token_keys(Actor.from_claims(claims)))
    return {**{f"key{n}": keys[n] if n < len(keys) else None for n in range(resolution.TOKEN_KEY_SLOTS)},
            "now": to_naive_utc(world.NOW)}


@pytest.mark.parametrize("claims", CALLERS, ids=lambda c: c.get("sub", "caller"))
def test_the_text_run_gives_the_rows_sqlalchemy_gives(w: World, claims: dict) -> None:
    values = _values(claims)
    with w.services.store.transaction(write=False) as tx:
        dialect = tx.conn.dialect.name
        whole = resolution._RESOLUTION[dialect].run(tx.conn, values)
        assert sorted(map(tuple, whole), key=repr) == \
            sorted(map(tuple, tx.conn.execute(resolution._resolution(dialect), values)), key=repr)
        assert whole, "the caller has rows: the comparison compares something"
        for res_type, res_id in NAMED:
            named = {**values, "res_type": res_type, "res_id": res_id}
            # The whole resolution and the one for the patients the resource refers to.
            for compiled, statement in ((resolution._RESOLUTION_READING, resolution._resolution(dialect, reading=True)),
                                        (resolution._READING_WITHIN, resolution._reading_within(dialect))):
                text_rows = compiled[dialect].run(tx.conn, named)
                general = tx.conn.execute(statement, named).all()
                width = len(resolution._COLUMNS)
                # The version's columns as the driver hands them back, before the store's processing.
                assert sorted(((tuple(r[:width]), tuple(r[width:])) for r in map(tuple, text_rows)), key=repr) == \
                    sorted(((tuple(r[:width]), tuple(_raw(tx.conn, r[width:]))) for r in general), key=repr)


def _raw(conn, values):
    """SQLAlchemy's processed version columns back in the driver's form, to compare like with like."""
    if conn.dialect.name != "sqlite":
        return values
    processors = [column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
                  for column in resolution._VERSION_COLUMNS]
    return [value if process is None or value is None else process(value)
            for value, process in zip(values, processors)]


def test_a_resolution_stopped_by_the_time_limit_answers_too_costly(w: World) -> None:
    store = w.services.store
    if store.dialect != "sqlite":
        pytest.skip("SQLite's progress handler stops a statement at will; PostgreSQL's timeout needs one that lasts")
    actor = Actor.from_claims(world.practitioner_claims(world.OLA, world.KOMMUNE))

    def work(tx):
        driver = tx.conn.connection.dbapi_connection
        # What `time_limit` does once the transaction's time is up: stop the running statement.
        driver.set_progress_handler(lambda: True, 1)
        try:
            return resolution.decide_reading(tx.conn, actor, "CarePlan", "plan-kari", now=world.NOW)
        finally:
            driver.set_progress_handler(None, 0)

    with pytest.raises(TooCostly):
        store.run(work, write=False)


def test_a_database_error_in_the_resolution_reaches_the_store_as_sqlalchemys(w: World) -> None:
    actor = Actor.from_claims(world.practitioner_claims(world.OLA, world.KOMMUNE))
    with w.services.store.engine.connect() as conn:
        with conn.begin():
            if conn.dialect.name == "sqlite":
                conn.connection.dbapi_connection.set_progress_handler(lambda: True, 1)
            else:
                with pytest.raises(DBAPIError):
                    conn.exec_driver_sql("SELECT 1/0")  # the transaction now refuses statements
            try:
                with pytest.raises(DBAPIError) as raised:
                    resolution.decide(conn, actor, now=world.NOW)
            finally:
                if conn.dialect.name == "sqlite":
                    conn.connection.dbapi_connection.set_progress_handler(None, 0)
            assert raised.value.orig is not None
