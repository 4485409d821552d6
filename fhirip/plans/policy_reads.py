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
from sqlalchemy import Connection, Text, and_, bindparam, cast, or_, select, tuple_

from fhirip.plans.person_graph import CANDIDATES
from fhirip.plans.sql import fixed
from fhirip.search.conditions import Policy
from fhirip.store.schema import resource, search_token

_R = resource.alias("r")
_TOKEN = search_token.alias("t")
# The content as JSON text on both databases (PostgreSQL would otherwise hand back JSONB
# parsed by the standard library), parsed here with orjson, several times faster.
_CONTENT = cast(_R.c.content, Text)
# The statements without the policy, built once; each read adds the policy's condition.
# The codes alone as well, so that each database finds the rows on the (type, param, code) index.
_WITH_IDENTIFIERS = select(_CONTENT).join(_TOKEN, _TOKEN.c.rid == _R.c.rid).where(
    _TOKEN.c.res_type == bindparam("res_type"), _TOKEN.c.param == fixed("identifier"),
    _TOKEN.c.code.in_(bindparam("codes", expanding=True)),
    tuple_(_TOKEN.c.system, _TOKEN.c.code).in_(bindparam("pairs", expanding=True)),
    _R.c.res_type == bindparam("res_type"))
_AROUND = select(_CONTENT).where(_R.c.rid.in_(CANDIDATES)).order_by(_R.c.rid)


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

    def with_identifiers(self, res_type: str, identifiers: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """Resources of `res_type` carrying any of the (system, value) identifiers."""
        pairs = sorted(set(identifiers))
        if not pairs:
            return []
        params = {"res_type": res_type, "codes": sorted({code for _, code in pairs}), "pairs": pairs}
        return self._rows(_WITH_IDENTIFIERS.where(self._visible()), params)

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
