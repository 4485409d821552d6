"""Values that an array in text form must quote or escape (quotes, backslashes, braces, commas,
the word NULL, empty strings, non-ASCII) are stored exactly as given, in a resource's stored
bytes, its versions and its index rows, on either store: PostgreSQL receives the rows of a
write as arrays of values (`fhirip.store.engine.unnested_insert`)."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from fhirip.audit.event_index import AuditEventIndex
from fhirip.audit.journal import drain, journal_in
from fhirip.store import Store
from fhirip.store.schema import resource, resource_version, search_string
from fhirip.testing.live import database_url
from fhirip.testing.postgres import TemporaryPostgres

AWKWARD = ['say "hi"', "back\\slash", "{braces}", "a,b", "NULL", "null", "", " spaced ", "Ærlig Øst-Åsen",
           "tab\there", "line\nbreak", "emoji \U0001f600", "quote ' single", "\\\"both\\\""]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_awkward_values_are_stored_exactly(kind: str, tmp_path: Path, postgres: TemporaryPostgres | None) -> None:
    from fhirip.search import index

    store = Store(database_url(kind, tmp_path, postgres, "awkward"), indexer=index)
    store.migrate()
    events = [{"resourceType": "AuditEvent", "id": str(uuid.uuid4()), "recorded": "2026-12-07T01:00:00Z",
               "type": {"code": "rest"}, "agent": [{"requestor": True, "name": value}]} for value in AWKWARD]
    store.run(lambda tx: journal_in(tx, events), write=True)
    store.run(lambda tx: drain(tx, index=AuditEventIndex()), write=True)  # stored as resources, indexed

    def stored(tx):  # type: ignore[no-untyped-def]
        ids = [event["id"] for event in events]
        current = dict(tx.conn.execute(select(resource.c.res_id, resource.c.content)
                                       .where(resource.c.res_id.in_(ids))).all())
        versions = dict(tx.conn.execute(select(resource_version.c.res_id, resource_version.c.content)
                                        .where(resource_version.c.res_id.in_(ids))).all())
        names = {res_id: (value, exact) for res_id, value, exact in tx.conn.execute(
            select(resource.c.res_id, search_string.c.value, search_string.c.exact)
                                     .join(search_string, search_string.c.rid == resource.c.rid)
                                     .where(resource.c.res_id.in_(ids), search_string.c.param == "agent-name"))}
        return current, versions, names

    current, versions, names = store.run(stored, write=False)
    assert len(names) >= len(AWKWARD) - 1  # every name but the empty one is indexed
    for event, value in zip(events, AWKWARD, strict=True):
        content = current[event["id"]]  # the column gives the document parsed
        assert content["agent"][0]["name"] == value
        assert orjson.loads(versions[event["id"]]) == content
        expected = [row[3:] for row in AuditEventIndex().rows(content).get("string", []) if row[1] == "agent-name"]
        assert ([names[event["id"]]] if event["id"] in names else []) == expected
    store.dispose()
