"""The write buffer stores the same rows on both stores: PostgreSQL sends a new version (current
row, history row, links) and a run of creates each in one statement, SQLite one table at a time.
The same writes leave equal rows in `resource`, `resource_version` and `resource_link`, the
versions numbered in the order they were written; a version that moved writes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fhirip.model.references import LocalReference
from fhirip.store import Store
from fhirip.store.schema import resource, resource_link, resource_version

MOMENT = datetime(2026, 3, 1, 12, 0, 0)


def _link(res_type: str, res_id: str, path: str) -> LocalReference:
    return LocalReference(res_type, res_id, None, path)


def _goal(goal_id: str, text: str, patient: str) -> dict[str, Any]:
    return {"resourceType": "Goal", "id": goal_id, "description": {"text": text},
            "subject": {"reference": f"Patient/{patient}"}}


def _writes(store: Store) -> None:
    """Creates together (one with two links, one with none), then updates that change links."""
    def create(tx: Any) -> None:
        tx.write({"resourceType": "Patient", "id": "p1"}, method="POST", previous=None, moment=MOMENT)
        tx.write({"resourceType": "Patient", "id": "p2"}, method="POST", previous=None, moment=MOMENT)
        tx.write(_goal("g1", "walk", "p1"), method="POST", previous=None, moment=MOMENT,
                 links=[_link("Patient", "p1", "Goal.subject"), _link("Patient", "p2", "Goal.expressedBy")])

    store.run(create, write=True)

    def update(tx: Any) -> None:
        tx.write(_goal("g1", "run", "p2"), method="PUT", previous=tx.current("Goal", "g1", lock=True),
                 moment=MOMENT, links=[_link("Patient", "p2", "Goal.subject")])
        tx.write({"resourceType": "Patient", "id": "p1", "active": True}, method="PUT",
                 previous=tx.current("Patient", "p1", lock=True), moment=MOMENT)

    store.run(update, write=True)


def _rows(store: Store) -> dict[str, Any]:
    with store.transaction(write=False) as tx:
        conn = tx.conn
        names = {rid: (t, i) for rid, t, i in conn.execute(select(resource.c.rid, resource.c.res_type,
                                                                    resource.c.res_id))}
        current = sorted((t, i, v, d, orjson.loads(c) if isinstance(c, (str, bytes)) else c, u)
                         for t, i, v, d, c, u in conn.execute(select(
                             resource.c.res_type, resource.c.res_id, resource.c.version, resource.c.deleted,
                             resource.c.content, resource.c.last_updated)))
        history = [(names[rid], t, i, v, m, d, orjson.loads(c), u) for rid, t, i, v, m, d, c, u in conn.execute(
            select(resource_version.c.rid, resource_version.c.res_type, resource_version.c.res_id,
                   resource_version.c.version, resource_version.c.method, resource_version.c.deleted,
                   resource_version.c.content, resource_version.c.last_updated).order_by(resource_version.c.seq))]
        links = sorted((names[rid], t, i, p) for rid, t, i, p in conn.execute(select(
            resource_link.c.rid, resource_link.c.target_type, resource_link.c.target_id, resource_link.c.path)))
    return {"current": current, "history": history, "links": links}


def test_both_stores_keep_the_same_rows_for_the_same_writes(store: Store) -> None:
    _writes(store)
    rows = _rows(store)
    rows = {"current": [row for row in rows["current"] if row[1] != "g9"],  # the other test's
            "history": [row for row in rows["history"] if row[0] != ("Goal", "g9")],
            "links": [row for row in rows["links"] if row[0] != ("Goal", "g9")]}
    assert [(t, i, v) for t, i, v, *_ in rows["current"]] == [
        ("Goal", "g1", 2), ("Patient", "p1", 2), ("Patient", "p2", 1)]
    assert all(content["meta"]["versionId"] == str(version) for _, _, version, _, content, _ in rows["current"])
    assert [row[4]["description"]["text"] for row in rows["current"] if row[0] == "Goal"] == ["run"]
    assert all(updated == MOMENT for *_, updated in rows["current"])
    # History in the order written: the three creates as listed, then the two updates.
    assert [(owner, v, m) for owner, _, _, v, m, *_ in rows["history"]] == [
        (("Patient", "p1"), 1, "POST"), (("Patient", "p2"), 1, "POST"), (("Goal", "g1"), 1, "POST"),
        (("Goal", "g1"), 2, "PUT"), (("Patient", "p1"), 2, "PUT")]
    assert all(owner == (t, i) and not deleted and content["meta"]["versionId"] == str(v) and updated == MOMENT
               for owner, t, i, v, _, deleted, content, updated in rows["history"])
    assert rows["links"] == [(("Goal", "g1"), "Patient", "p2", "Goal.subject")]


def test_a_version_that_moved_writes_nothing(store: Store) -> None:
    store.run(lambda tx: tx.write(_goal("g9", "sit", "p1"), method="POST", previous=None, moment=MOMENT),
              write=True)
    stale = store.run(lambda tx: tx.current("Goal", "g9"), write=False)
    store.run(lambda tx: tx.write(_goal("g9", "swim", "p1"), method="PUT", previous=tx.current("Goal", "g9"),
                                  moment=MOMENT, links=[_link("Patient", "p1", "Goal.subject")]), write=True)
    moved = _rows(store)

    def late(tx: Any) -> None:
        tx.write(_goal("g9", "stale", "p2"), method="PUT", previous=stale, moment=MOMENT,
                 links=[_link("Patient", "p2", "Goal.subject")])

    with pytest.raises(IntegrityError):
        store.run(late, write=True, attempts=1)
    assert _rows(store) == moved
