"""A transaction's writes wait in its buffer with their index rows, and go to the database when it
next reads: every read sees them, and the rows are those of a write sent at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from fhirip.context import Services
from fhirip.search.index import INDEX_TABLES
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


def test_a_write_waits_until_the_transaction_reads(services: Services) -> None:
    with services.store.transaction(write=True) as tx:
        written, _ = tx.write(_patient("Nordmann"), method="POST", previous=None)
        assert written.rid is None  # not numbered: not yet in the tables
        stored = tx.current("Patient", "p-nordmann")
        assert stored is not None and stored.version == 1
        assert _count(tx.conn, search_token, stored.rid) > 0


def test_creates_sent_together_get_the_rows_of_a_create_sent_alone(services: Services) -> None:
    with services.store.transaction(write=True) as tx:
        tx.write(_patient("Hansen"), method="POST", previous=None)
        alone = tx.current("Patient", "p-hansen")
        for n in range(3):
            tx.write(_patient("Hansen") | {"id": f"p-other-{n}"}, method="POST", previous=None)
        together = [tx.current("Patient", f"p-other-{n}") for n in range(3)]
        assert all(_rows(tx.conn, item.rid) == _rows(tx.conn, alone.rid) != set() for item in together)


def test_a_second_write_replaces_the_rows_of_the_first(services: Services) -> None:
    with services.store.transaction(write=True) as tx:
        tx.write(_patient("Olsen"), method="POST", previous=None)
        before = tx.current("Patient", "p-olsen")
        first, _ = tx.write(_patient("Berg") | {"id": "p-olsen"}, method="PUT", previous=before)
        tx.write(_patient("Dahl") | {"id": "p-olsen"}, method="PUT", previous=first)
        families = {row[0] for row in tx.conn.execute(
            select(search_string.c.exact).where(search_string.c.rid == before.rid,
                                                search_string.c.param == "family"))}
        assert families == {"Dahl"}
        assert tx.current("Patient", "p-olsen").version == 3
        tx.write(_patient("Dahl") | {"id": "p-reference"}, method="POST", previous=None)
        reference = tx.current("Patient", "p-reference")
        assert _rows(tx.conn, before.rid) == _rows(tx.conn, reference.rid)


def test_a_delete_keeps_the_rows_of_the_version_deleted_whether_sent_or_waiting(services: Services) -> None:
    """A deletion keeps the index rows of the version it deleted (the access condition judges
    them; searches leave deleted rows out), whether or not they were still waiting."""
    with services.store.transaction(write=True) as tx:
        tx.write(_patient("Lie") | {"id": "p-outside"}, method="POST", previous=None)
        outside = tx.current("Patient", "p-outside")
        tx.delete(outside)
        written, _ = tx.write(_patient("Lie"), method="POST", previous=None)
        deleted = tx.delete(tx.current("Patient", "p-lie"))
        assert _rows(tx.conn, deleted.rid) == _rows(tx.conn, outside.rid) != set()


def test_a_failed_savepoint_drops_its_waiting_writes(services: Services) -> None:
    with services.store.transaction(write=True) as tx:
        try:
            with tx.savepoint():
                tx.write(_patient("Vik"), method="POST", previous=None)
                raise ValueError("refused")
        except ValueError:
            pass
        tx.write(_patient("Moe"), method="POST", previous=None)
        assert tx.current("Patient", "p-vik") is None and tx.current("Patient", "p-moe") is not None


def test_a_resource_written_in_the_transaction_can_be_deleted_by_the_state_its_write_returned(
        services: Services) -> None:
    with services.store.transaction(write=True) as tx:
        written, _ = tx.write(_patient("Strand"), method="POST", previous=None)
        gone = tx.delete(written)
        assert gone.deleted and gone.version == 2 and gone.rid is not None
        assert tx.read_many([("Patient", "p-strand")]) == {}
