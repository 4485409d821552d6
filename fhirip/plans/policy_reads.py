"""Lean reads for the current-plan view, each one SQL statement carrying the caller's policy.

The generic search builds a full query (parameters, chains, paging) per call;
the current plan needs a handful of fixed lookups on the hot path of every
hospital and GP system, so it reads here instead — the same index tables, the
same rule: the policy is part of every statement, applied to every resource
returned, and nothing is filtered for access in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, Text, and_, bindparam, cast, exists, or_, select, union

from fhirip.plans.person_graph import CANDIDATES, candidates
from fhirip.plans.sql import fixed
from fhirip.search.conditions import Policy
from fhirip.store.schema import resource

_R = resource.alias("r")
_RECORD, _GATE = resource.alias("person_record"), resource.alias("visible_record")
# The content as JSON text on both databases (PostgreSQL would otherwise hand back JSONB
# parsed by the standard library), parsed here with orjson, several times faster.
_CONTENT = cast(_R.c.content, Text).label("content")


# The statement without the policy, built once; each read adds the policy's condition. The
# person's records and the candidates around them (one IN over their union: an OR of the two
# would be no index's condition), read only when one of the records is visible (`_ANY_RECORD`).
_RECORDS = bindparam("records", expanding=True)
_PERSON_AROUND = select(_CONTENT).where(_R.c.rid.in_(union(
    select(_RECORD.c.rid).where(_RECORD.c.res_type == fixed("Patient"), _RECORD.c.res_id.in_(_RECORDS)),
    candidates(_RECORDS)))).order_by(_R.c.rid)
_AROUND = select(_CONTENT).where(_R.c.rid.in_(CANDIDATES)).order_by(_R.c.rid)
_ANY_RECORD = select(_GATE.c.rid).where(_GATE.c.res_type == fixed("Patient"), _GATE.c.res_id.in_(_RECORDS),
                                        _GATE.c.deleted.is_(False))


class PolicyReads:
    """Reads of current resources on one connection under one policy (None: no restriction)."""

    def __init__(self, conn: Connection, policy: Policy | None):
        self.conn = conn
        self.policy = policy

    def _visible(self) -> Any:
        condition = _R.c.deleted.is_(False)
        return and_(condition, self.policy(_R)) if self.policy is not None else condition

    def _rows(self, query: Any, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for content in self.conn.execute(query, params).scalars():
            content = orjson.loads(content)
            found.setdefault((content["resourceType"], content["id"]), content)
        return list(found.values())

    def person_around(self, records: Iterable[str]) -> list[dict[str, Any]]:
        """The visible Patients among `records` (the Patient records of one person) and, in the
        same statement, the visible resources among what names the records and what that names
        (`person_graph`): what the current plan of the person may show; in row order. Nothing
        is read around records none of which the caller may see."""
        ids = sorted(set(records))
        gate = _ANY_RECORD.where(self.policy(_GATE)) if self.policy is not None else _ANY_RECORD
        return self._rows(_PERSON_AROUND.where(self._visible(), exists(gate)), {"records": ids})

    def around_person(self, patient_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The visible resources among what the current plan of the person with these Patient
        records may show (`person_graph.CANDIDATES`: what names them and what that names), in
        one statement, in row order."""
        ids = sorted(set(patient_ids))
        if not ids:
            return []
        return self._rows(_AROUND.where(self._visible()), {"patients": ids})

    def by_keys(self, keys: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """The visible resources among the (type, id) keys."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        return self._rows(select(_CONTENT).where(_among(_R, wanted), self._visible()))


def _among(alias: Any, keys: list[tuple[str, str]]) -> Any:
    """The rows of `alias` with one of the (type, id) keys."""
    by_type: dict[str, list[str]] = {}
    for res_type, res_id in keys:
        by_type.setdefault(res_type, []).append(res_id)
    # Per type `res_type = ? AND res_id IN (...)`: each term is a range of the unique
    # (res_type, res_id) index, where a row-value IN may scan the table.
    return or_(*(and_(alias.c.res_type == t, alias.c.res_id.in_(ids)) for t, ids in by_type.items()))
