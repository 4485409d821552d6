"""Load a generated data set straight into a store, fast, for the benchmarks that need volume.

Writes the same rows the server writes (current resource, its version bytes, links
and search index, extracted by `fhirip.search.index.extract`), but in large
batches into an empty store and without the per-request checks, so the national
tier (100 000 plans) loads in minutes instead of hours. Only the benchmarks use
it; everything a client writes goes through the interactions.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, text

from bench.generate import TIERS, directory, plans
from fhirip.model.references import local_references
from fhirip.model.resources import canonical_bytes
from fhirip.search.index import extract
from fhirip.search.registry import registry
from fhirip.store import Store, instant, now_utc
from fhirip.store.schema import resource, resource_link, resource_version


class BulkWriter:
    """Accumulates rows of many resources and flushes them in one transaction per batch."""

    def __init__(self, store: Store, batch: int = 2000):
        self.store = store
        self.batch = batch
        self.rows: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        self.pending = 0
        self.written = 0
        self.registry = registry()
        with store.transaction(write=False) as tx:
            last = tx.conn.execute(select(resource.c.rid).order_by(resource.c.rid.desc()).limit(1)).scalar()
        if last:
            raise RuntimeError("bulk loading needs an empty store")
        self.next_rid = 1

    def add(self, item: dict[str, Any]) -> None:
        rid, self.next_rid = self.next_rid, self.next_rid + 1
        moment = now_utc()
        item["meta"] = {"versionId": "1", "lastUpdated": instant(moment)}
        content = canonical_bytes(item)
        res_type, res_id = item["resourceType"], item["id"]
        self.rows[resource].append({"rid": rid, "res_type": res_type, "res_id": res_id, "version": 1,
                                    "last_updated": moment, "deleted": False, "content": content.decode()})
        self.rows[resource_version].append({"rid": rid, "res_type": res_type, "res_id": res_id,
                                            "version": 1, "last_updated": moment, "method": "PUT",
                                            "deleted": False, "content": content})
        for link in {(r.res_type, r.res_id, r.path[:255]) for r in local_references(item)}:
            self.rows[resource_link].append({"rid": rid, "target_type": link[0], "target_id": link[1],
                                             "path": link[2]})
        for table, rows in extract(self.registry, res_type, item).items():
            for row in rows:
                row["rid"] = rid
            self.rows[table].extend(rows)
        self.pending += 1
        if self.pending >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        ordered = [resource, resource_version, resource_link] + [
            t for t in self.rows if t not in (resource, resource_version, resource_link)]
        with self.store.transaction(write=True) as tx:
            for table in ordered:
                rows = self.rows.get(table)
                if not rows:
                    continue
                if self.store.dialect == "postgresql":
                    _copy(tx.conn, table, rows)
                else:
                    tx.conn.execute(insert(table), rows)
        self.written += self.pending
        self.rows.clear()
        self.pending = 0


def _copy(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL COPY: several times faster than batched INSERTs for bulk rows."""
    present = set().union(*rows)
    columns = [c.name for c in table.columns if c.name in present]
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row.get(c) for c in columns])


def load(store: Store, count: int, *, seed: int = 1, progress: bool = True) -> tuple[int, float]:
    """Load the directory and `count` generated plans; returns (resources, seconds)."""
    started = time.perf_counter()
    writer = BulkWriter(store)
    for item in directory(seed):
        writer.add(item)
    for number, generated in enumerate(plans(count, seed), start=1):
        for item in generated.resources:
            writer.add(item)
        if progress and number % 5000 == 0:
            rate = writer.written / (time.perf_counter() - started)
            print(f"  {number} plans, {writer.written} resources, {rate:.0f} resources/s", file=sys.stderr)
    writer.flush()
    finish_load(store)
    return writer.written, time.perf_counter() - started


def finish_load(store: Store) -> None:
    """After a bulk load into PostgreSQL: move the rid sequence past the rids given explicitly, and
    gather planner statistics. Until autovacuum comes by, a freshly loaded table has none, and a
    coordinator's read then plans its consent conditions as scans (200 ms instead of 17).
    On both stores: derive the access index from what was loaded, as `fhirip reindex` does (the
    rows were written past the store, which keeps it on every write)."""
    from fhirip.consent.index import rebuild

    store.run(lambda tx: rebuild(tx.conn), write=True)
    if store.dialect != "postgresql":
        return
    with store.transaction(write=True) as tx:
        tx.conn.execute(text("SELECT setval(pg_get_serial_sequence('resource', 'rid'), "
                             "(SELECT max(rid) FROM resource))"))
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("--tier", choices=sorted(TIERS), default="large")
    parser.add_argument("--plans", type=int, help="overrides the tier's plan count")
    args = parser.parse_args(list(argv) if argv is not None else None)
    store = Store(args.database_url)
    store.migrate()
    count = args.plans or TIERS[args.tier]
    written, seconds = load(store, count)
    print(f"loaded {count} plans, {written} resources in {seconds:.1f} s ({written / seconds:.0f} resources/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
