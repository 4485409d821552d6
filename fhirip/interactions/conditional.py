"""Finding the target of a conditional interaction by search.

https://hl7.org/fhir/R4/http.html#ccreate  https://hl7.org/fhir/R4/http.html#cond-update
https://hl7.org/fhir/R4/http.html#3.1.0.7.1 (conditional delete)

The criteria are an ordinary search on the type, evaluated strictly (an unknown
parameter is an error, never silently ignored: ignoring it would widen the match)
and under the caller's access policy, so a match the caller may not see is not a
match at all. The caller decides what zero, one or several matches mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from sqlalchemy import select

from fhirip.errors import BadRequest
from fhirip.interactions.access import refuse_hidden_parameters
from fhirip.context import Context
from fhirip.interactions.request import refuse_control_characters
from fhirip.interactions.search import value_set_expander
from fhirip.search import search
from fhirip.search.registry import registry
from fhirip.store.records import Current
from fhirip.store.schema import resource, search_token

NOT_CRITERIA = {"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total",
                 "_format", "_pretty"}


def criteria_of(query: str, what: str) -> list[tuple[str, str]]:
    """'identifier=a|b&status=active' (or 'Patient?identifier=…') → parameter pairs."""
    if "?" in query:
        query = query.split("?", 1)[1]
    params = parse_qsl(query, keep_blank_values=True)
    if not params:
        raise BadRequest(f"{what} needs search criteria, e.g. identifier=system|value")
    refuse_control_characters(params)
    return params


@dataclass
class KnownMatches:
    """Identifier criteria looked up ahead, together (`identifier_matches`): `ids` by (type, system,
    value), and the state of each resource matched, by (type, id), as the same query read it."""

    ids: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    states: dict[tuple[str, str], Current] = field(default_factory=dict)


def find_matches(ctx: Context, res_type: str, params: list[tuple[str, str]],
                 limit: int = 2, known: KnownMatches | None = None) -> list[str]:
    """Ids of current resources of `res_type` that match; at most `limit` of them. `known`: the
    answers of `identifier_matches` (with at least this limit), looked up before anything was
    written, which criteria of one identifier take instead of a query."""
    criteria = [(k, v) for k, v in params if k not in NOT_CRITERIA]
    if not criteria:
        raise BadRequest("A conditional interaction needs search criteria")
    # Criteria a search may not use (on content the caller sees masked) match nothing here either:
    # refused alike whether anything would match.
    refuse_hidden_parameters(ctx, res_type, criteria)
    for name, value in criteria:
        # A search ignores an empty value; here it would widen the match to every resource.
        if not name or not value:
            raise BadRequest(f"The conditional criterion '{name or value}' is not name=value; criteria "
                             "are search parameters, e.g. identifier=system|value", expression=[name or value])
    by_identifier = _identifier_matches(ctx, res_type, criteria, limit, known)
    if by_identifier is not None:
        return by_identifier
    result = search(ctx.tx.conn, res_type, [*criteria, ("_count", str(limit)), ("_total", "none")],
                    base_url=ctx.base_url, policy=ctx.policy, strict=True, expand=value_set_expander(ctx))
    return [entry.res_id for entry in result.entries if entry.mode == "match"][:limit]


# The commonest criteria by far (every migrated record carries a business identifier):
# `identifier=system|value`, answered by one lookup in the token index.
_TOKEN = search_token.alias("conditional_token")
_ROW = resource.alias("conditional_row")


def identifier_criterion(res_type: str, criteria: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(system, value) when the criteria are exactly one plain `identifier=system|value`."""
    if len(criteria) != 1 or criteria[0][0] != "identifier" or registry().get(res_type, "identifier") is None:
        return None
    value = criteria[0][1]
    if "," in value or "\\" in value or value.count("|") != 1:
        return None  # several values or escapes: leave it to the search engine
    system, code = value.split("|")
    if not system or not code:
        return None
    return system, code


def _identifier_matches(ctx: Context, res_type: str, criteria: list[tuple[str, str]],
                        limit: int, known: KnownMatches | None) -> list[str] | None:
    identifier = identifier_criterion(res_type, criteria)
    if identifier is None:
        return None
    key = (res_type, *identifier)
    if known is not None and key in known.ids:
        return known.ids[key][:limit]
    return identifier_matches(ctx, [key], limit).ids[key]


def identifier_matches(ctx: Context, wanted: list[tuple[str, str, str]], limit: int = 2) -> KnownMatches:
    """Ids of the current resources carrying each (type, system, value) identifier, at most
    `limit` each, for many criteria in few queries (a transaction's conditional creates), with
    the state of each (a matched create answers with it, and need not read it again)."""
    found = KnownMatches({key: [] for key in wanted})
    keys = sorted(found.ids)
    for start in range(0, len(keys), _BATCH):
        chunk = keys[start:start + _BATCH]
        query = (select(_ROW.c.res_type, _TOKEN.c.system, _TOKEN.c.code, _ROW.c.res_id, _ROW.c.rid,
                        _ROW.c.version, _ROW.c.last_updated, _ROW.c.deleted)
                 .join(_TOKEN, _TOKEN.c.rid == _ROW.c.rid)
                 .where(_TOKEN.c.res_type.in_(sorted({k[0] for k in chunk})),
                        _TOKEN.c.param == "identifier",
                        _TOKEN.c.code.in_(sorted({k[2] for k in chunk})),
                        _ROW.c.res_type == _TOKEN.c.res_type, _ROW.c.deleted.is_(False))
                 .distinct())
        if ctx.policy is not None:
            query = query.where(ctx.policy(_ROW))
        for res_type, system, code, res_id, rid, version, last_updated, deleted in ctx.tx.conn.execute(query):
            ids = found.ids.get((res_type, system, code))
            if ids is not None and len(ids) < limit and res_id not in ids:
                ids.append(res_id)
                found.states[res_type, res_id] = Current(rid, res_type, res_id, version, last_updated, deleted)
    return found


_BATCH = 200  # criteria per query: keeps the IN lists well inside every database's limits
