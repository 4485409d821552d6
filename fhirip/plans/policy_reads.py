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
from sqlalchemy import Connection, Text, and_, or_, select, tuple_, type_coerce

from fhirip.search.conditions import Policy
from fhirip.store.schema import resource, search_reference, search_token

_R = resource.alias("r")
_TOKEN = search_token.alias("t")
_REF = search_reference.alias("ref")
# The content as the driver returns it (text on SQLite, parsed JSONB on PostgreSQL), parsed
# here with orjson rather than by the generic JSON type's decoder.
_CONTENT = type_coerce(_R.c.content, Text)
# The parameter that ties each resource type of the view to its patient.
PATIENT_PARAMS = {"CarePlan": "subject", "EpisodeOfCare": "patient", "Consent": "patient"}


class PolicyReads:
    """Reads of current resources on one connection under one policy (None: no restriction)."""

    def __init__(self, conn: Connection, policy: Policy | None):
        self.conn = conn
        self.policy = policy

    def _visible(self) -> Any:
        condition = _R.c.deleted.is_(False)
        return and_(condition, self.policy(_R)) if self.policy is not None else condition

    def _rows(self, query: Any) -> list[dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for content in self.conn.execute(query).scalars():
            if isinstance(content, (str, bytes)):  # SQLite hands back the JSON text
                content = orjson.loads(content)
            found.setdefault((content["resourceType"], content["id"]), content)
        return list(found.values())

    def with_identifiers(self, res_type: str, identifiers: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """Resources of `res_type` carrying any of the (system, value) identifiers."""
        pairs = sorted(set(identifiers))
        if not pairs:
            return []
        # One equality pair per identifier, so each term can use the (res_type, param, code) index.
        matches = or_(*(and_(_TOKEN.c.code == value, _TOKEN.c.system == system) for system, value in pairs))
        query = (select(_CONTENT).join(_TOKEN, _TOKEN.c.rid == _R.c.rid)
                 .where(_TOKEN.c.res_type == res_type, _TOKEN.c.param == "identifier", matches,
                        _R.c.res_type == res_type, self._visible()))
        return self._rows(query)

    def referring_to_patients(self, patient_ids: Iterable[str], res_types: Iterable[str]) -> list[dict[str, Any]]:
        """Resources of the given types whose patient parameter names one of the Patients."""
        ids = sorted(set(patient_ids))
        pairs = [(t, PATIENT_PARAMS[t]) for t in sorted(set(res_types))]
        if not ids or not pairs:
            return []
        query = (select(_CONTENT).join(_REF, _REF.c.rid == _R.c.rid)
                 .where(tuple_(_REF.c.res_type, _REF.c.param).in_(pairs), _REF.c.target_type == "Patient",
                        _REF.c.target_id.in_(ids), self._visible()))
        return self._rows(query)

    def patient_ids(self, identifiers: Iterable[tuple[str, str]]) -> set[str]:
        """Ids of the Patient records carrying any of the (system, value) identifiers, with no
        policy: for bounding a decision to these patients, never to be shown."""
        pairs = sorted(set(identifiers))
        if not pairs:
            return set()
        matches = or_(*(and_(_TOKEN.c.code == value, _TOKEN.c.system == system) for system, value in pairs))
        query = (select(_R.c.res_id).join(_TOKEN, _TOKEN.c.rid == _R.c.rid)
                 .where(_TOKEN.c.res_type == "Patient", _TOKEN.c.param == "identifier", matches,
                        _R.c.res_type == "Patient", _R.c.deleted.is_(False)))
        return set(self.conn.execute(query).scalars())

    def identifiers_of(self, patient_ids: Iterable[str], systems: Iterable[str]) -> set[tuple[str, str]]:
        """The (system, value) identifiers of these Patient records in the given systems, with
        no policy: for bounding a decision, never to be shown."""
        ids, wanted = sorted(set(patient_ids)), sorted(set(systems))
        if not ids or not wanted:
            return set()
        query = (select(_TOKEN.c.system, _TOKEN.c.code).join(_R, _TOKEN.c.rid == _R.c.rid)
                 .where(_R.c.res_type == "Patient", _R.c.res_id.in_(ids), _R.c.deleted.is_(False),
                        _TOKEN.c.res_type == "Patient", _TOKEN.c.param == "identifier",
                        _TOKEN.c.system.in_(wanted)))
        return {(system, code) for system, code in self.conn.execute(query)}

    def by_keys(self, keys: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """The visible resources among the (type, id) keys."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        by_type: dict[str, list[str]] = {}
        for res_type, res_id in wanted:
            by_type.setdefault(res_type, []).append(res_id)
        # Per type `res_type = ? AND res_id IN (...)`: each term is a range of the unique
        # (res_type, res_id) index, where a row-value IN may scan the table.
        matches = or_(*(and_(_R.c.res_type == t, _R.c.res_id.in_(ids)) for t, ids in by_type.items()))
        return self._rows(select(_CONTENT).where(matches, self._visible()))
