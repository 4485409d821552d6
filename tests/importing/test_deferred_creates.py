"""New resources sent together from a transaction's write buffer (no read between them) leave
exactly the rows that resources sent one by one (a read after each) leave, and a read after
them sees them all."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from fhirip.context import Services
from fhirip.mapping import read_plans, resources_from_bundle, to_bundle
from fhirip.mapping.records import PlanRecord
from fhirip.model.references import local_references
from fhirip.search.index import INDEX_TABLES
from fhirip.store.schema import resource, resource_link, resource_version
from migration.conftest import FreshStore

from .conftest import write_export

MOMENT = datetime(2024, 5, 2, 10, 30, 0)


def _resources(export: Path) -> list[dict[str, Any]]:
    """The plans' resources, each shared one (a practitioner in two plans) once."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for item in read_plans("planpro", export):
        if isinstance(item, PlanRecord):
            for resource in resources_from_bundle(to_bundle(item)[0]):
                found.setdefault((resource["resourceType"], resource["id"]), resource)
    return list(found.values())


def _write(services: Services, resources: list[dict[str, Any]], together: bool) -> list[bool]:
    """Write every resource as a create; whether a plain read finds each, after it (one by one)
    or after all of them (together)."""
    seen = []

    def work(tx: Any) -> None:
        for item in resources:
            tx.write(orjson.loads(orjson.dumps(item)), method="POST", previous=None,
                     links=local_references(item), moment=MOMENT)
            if not together:
                seen.append(tx.current(item["resourceType"], item["id"]) is not None)
        if together:
            seen.extend(tx.current(item["resourceType"], item["id"]) is not None for item in resources)

    services.store.run(work, write=True)
    return seen


def _rows(services: Services, written: set[tuple[str, str]]) -> dict[str, list[tuple]]:
    """The rows of the written resources in the resource, version, link and index tables, rid
    replaced by (type, id) (the server's own conformance resources are left out)."""
    with services.store.engine.connect() as conn:
        names = {rid: (t, i) for rid, t, i in conn.execute(select(resource.c.rid, resource.c.res_type,
                                                                    resource.c.res_id))}
        tables = {}
        for table in (resource, resource_version, resource_link, *INDEX_TABLES):
            rows = []
            for row in conn.execute(select(table)).mappings():
                if names[row["rid"]] not in written:
                    continue
                values = {k: v for k, v in row.items() if k not in ("rid", "seq", "id")}
                values["of"] = names[row["rid"]]
                if isinstance(values.get("content"), (bytes, str)):
                    values["content"] = orjson.loads(values["content"])
                rows.append(tuple(sorted((k, repr(v)) for k, v in values.items())))
            tables[table.name] = sorted(rows)
    return tables


def test_creates_sent_together_leave_the_rows_creates_sent_one_by_one_leave(fresh: FreshStore, tmp_path: Path) -> None:
    resources = _resources(write_export(tmp_path / "export", 4))
    one_by_one, together = fresh.services("one_by_one"), fresh.services("together")
    try:
        assert all(_write(one_by_one, resources, together=False))  # each read found what was just written
        assert all(_write(together, resources, together=True))
        written = {(r["resourceType"], r["id"]) for r in resources}
        before, after = _rows(one_by_one, written), _rows(together, written)
    finally:
        one_by_one.store.dispose()
        together.store.dispose()
    for name in before:
        assert after[name] == before[name], name
    assert len(before["resource"]) == len(resources) and before["resource_link"] and before["search_token"]
