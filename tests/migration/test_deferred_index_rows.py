"""An import's transactions send their index rows in batches; every read still sees them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from fhirip.context import Services
from fhirip.search.index import INDEX_TABLES, deferred_rows, write_pending
from fhirip.store.schema import search_string, search_token

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"


def _patient(family: str, fnr: str = "15915618518") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": f"p-{family.lower()}",
            "identifier": [{"system": FNR, "value": fnr}], "name": [{"family": family}]}


def _rows(conn: Any, rid: int) -> set[tuple[str, tuple[Any, ...]]]:
    found = set()
    for table in INDEX_TABLES:
        columns = [c for c in table.c if c.name != "rid"]
        for row in conn.execute(select(*columns).where(table.c.rid == rid)):
            found.add((table.name, tuple(row)))
    return found


def _count(conn: Any, table: Any, rid: int) -> int:
    return conn.execute(select(func.count()).select_from(table).where(table.c.rid == rid)).scalar_one()


def test_rows_wait_in_the_block_until_written(services: Services) -> None:
    store = services.store
    with store.transaction(write=True) as tx, deferred_rows(tx.conn):
        current, _ = tx.write(_patient("Nordmann"), method="POST", previous=None)
        assert _count(tx.conn, search_token, current.rid) == 0
        write_pending(tx.conn)
        assert _count(tx.conn, search_token, current.rid) > 0


def test_deferred_rows_are_the_rows_written_at_once(services: Services) -> None:
    store = services.store
    with store.transaction(write=True) as tx:
        at_once, _ = tx.write(_patient("Hansen"), method="POST", previous=None)
        with deferred_rows(tx.conn):
            waited, _ = tx.write(_patient("Hansen") | {"id": "p-other"}, method="POST", previous=None)
        assert _rows(tx.conn, waited.rid) == _rows(tx.conn, at_once.rid) != set()


def test_a_second_write_in_the_block_replaces_the_waiting_rows(services: Services) -> None:
    store = services.store
    with store.transaction(write=True) as tx:
        before, _ = tx.write(_patient("Olsen"), method="POST", previous=None)  # rows in the table
        with deferred_rows(tx.conn):
            first, _ = tx.write(_patient("Berg"), method="PUT", previous=before)
            second, _ = tx.write(_patient("Dahl"), method="PUT", previous=first)
        families = {row[0] for row in tx.conn.execute(
            select(search_string.c.exact).where(search_string.c.rid == before.rid,
                                                search_string.c.param == "family"))}
        assert families == {"Dahl"}
        reference, _ = tx.write(_patient("Dahl") | {"id": "p-reference"}, method="POST", previous=None)
        assert _rows(tx.conn, second.rid) == _rows(tx.conn, reference.rid)


def test_a_delete_in_the_block_keeps_the_rows_of_the_version_deleted_as_one_outside_does(services: Services) -> None:
    """A deletion keeps the index rows of the version it deleted (the access condition judges
    them; searches leave deleted rows out), whether or not they were still waiting."""
    store = services.store
    with store.transaction(write=True) as tx:
        outside, _ = tx.write(_patient("Lie") | {"id": "p-outside"}, method="POST", previous=None)
        tx.delete(outside)
        with deferred_rows(tx.conn):
            written, _ = tx.write(_patient("Lie"), method="POST", previous=None)
            tx.delete(written)
        assert _rows(tx.conn, written.rid) == _rows(tx.conn, outside.rid) != set()
