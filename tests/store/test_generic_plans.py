"""`generic_plans`: PostgreSQL plans the block's statements once per connection, and only there;
the setting ends with the block, also when the block fails. SQLite is left as it is. The statement
that clears an updated resource's index rows is planned once without it."""

from __future__ import annotations


import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fhirip.store import Store
from fhirip.store.engine import generic_plans, generic_plans_to_commit


def mode(conn) -> str:
    return conn.execute(text("SHOW plan_cache_mode")).scalar()


def test_the_block_plans_generically_and_the_rest_of_the_transaction_as_before(store: Store) -> None:
    with store.transaction(write=False) as tx:
        if tx.conn.dialect.name != "postgresql":
            with generic_plans(tx.conn):  # nothing to do, nothing sent
                assert tx.conn.execute(text("SELECT 1")).scalar() == 1
            return
        assert mode(tx.conn) == "auto"
        with generic_plans(tx.conn):
            assert mode(tx.conn) == "force_generic_plan"
        assert mode(tx.conn) == "auto"


def test_a_failing_block_keeps_its_own_error_and_leaves_nothing_behind(store: Store) -> None:
    if not store.url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    with pytest.raises(DBAPIError, match="division by zero"):  # not a complaint about the reset
        with store.transaction(write=False) as tx:
            with generic_plans(tx.conn):
                tx.conn.execute(text("SELECT 1 / 0"))
    with pytest.raises(KeyError):
        with store.transaction(write=False) as tx:
            with generic_plans(tx.conn):
                raise KeyError("not the database's")
    with store.transaction(write=False) as tx:
        assert mode(tx.conn) == "auto"


def test_generic_plans_to_commit_last_as_long_as_the_transaction(store: Store) -> None:
    with store.transaction(write=False) as tx:
        generic_plans_to_commit(tx.conn)
        if tx.conn.dialect.name != "postgresql":
            assert tx.conn.execute(text("SELECT 1")).scalar() == 1  # nothing sent
            return
        assert mode(tx.conn) == "force_generic_plan"
    with store.transaction(write=False) as tx:
        assert mode(tx.conn) == "auto"


def test_the_index_rows_of_an_updated_resource_are_cleared_by_a_statement_planned_once(store: Store) -> None:
    """The statement that clears a new version's old index rows is prepared by the driver and, after
    the server's first custom plans, runs on its generic plan (an array condition was planned anew at
    every call)."""
    if not store.url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    from fhirip.search import index
    from fhirip.store.engine import make_engine

    indexed = Store(store.url, indexer=index, engine=make_engine(store.url, pool_size=1))
    try:
        def write(family: str) -> None:
            def work(tx) -> None:  # type: ignore[no-untyped-def]
                patient = {"resourceType": "Patient", "id": "planned-once", "name": [{"family": family}]}
                tx.write(patient, method="PUT", previous=tx.current("Patient", "planned-once"))

            indexed.run(work, write=True)

        for number in range(30):
            write(f"Nordmann{number}")
        with indexed.transaction(write=False) as tx:  # the pool's one connection: the one that wrote
            plans = tx.conn.execute(text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%DELETE FROM search_string WHERE rid%'")).all()
        assert len(plans) == 1
        generic, custom = plans[0]
        assert custom <= 5 and generic >= 15
    finally:
        indexed.dispose()
