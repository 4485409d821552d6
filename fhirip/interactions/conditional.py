"""Finding the target of a conditional interaction by search.

https://hl7.org/fhir/R4/http.html#ccreate  https://hl7.org/fhir/R4/http.html#cond-update
https://hl7.org/fhir/R4/http.html#3.1.0.7.1 (conditional delete)

The criteria are an ordinary search on the type, evaluated strictly (an unknown
parameter is an error, never silently ignored: ignoring it would widen the match)
and under the caller's access policy, so a match the caller may not see is not a
match at all. The caller decides what zero, one or several matches mean.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from sqlalchemy import select

from fhirip.errors import BadRequest
from fhirip.interactions.context import Context
from fhirip.search import search
from fhirip.search.registry import params_for
from fhirip.store.schema import resource, search_token

_NOT_CRITERIA = {"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total",
                 "_format", "_pretty"}


def criteria_of(query: str, what: str) -> list[tuple[str, str]]:
    """'identifier=a|b&status=active' (or 'Patient?identifier=…') → parameter pairs."""
    if "?" in query:
        query = query.split("?", 1)[1]
    params = parse_qsl(query, keep_blank_values=True)
    if not params:
        raise BadRequest(f"{what} needs search criteria, e.g. identifier=system|value")
    return params


def find_matches(ctx: Context, res_type: str, params: list[tuple[str, str]],
                 limit: int = 2) -> list[str]:
    """Ids of current resources of `res_type` that match; at most `limit` of them."""
    criteria = [(k, v) for k, v in params if k not in _NOT_CRITERIA]
    if not criteria:
        raise BadRequest("A conditional interaction needs search criteria")
    by_identifier = _identifier_matches(ctx, res_type, criteria, limit)
    if by_identifier is not None:
        return by_identifier
    result = search(ctx.tx.conn, res_type, [*criteria, ("_count", str(limit)), ("_total", "none")],
                    base_url=ctx.base_url, policy=ctx.policy, strict=True, expand=ctx.services.expand)
    return [entry.res_id for entry in result.entries if entry.mode == "match"][:limit]


# The commonest criteria by far (every migrated record carries a business identifier):
# `identifier=system|value`, answered by one lookup in the token index.
_TOKEN = search_token.alias("conditional_token")
_ROW = resource.alias("conditional_row")


def _identifier_matches(ctx: Context, res_type: str, criteria: list[tuple[str, str]],
                        limit: int) -> list[str] | None:
    if len(criteria) != 1 or criteria[0][0] != "identifier" or params_for(res_type).get("identifier") is None:
        return None
    value = criteria[0][1]
    if "," in value or "\\" in value or value.count("|") != 1:
        return None  # several values or escapes: leave it to the search engine
    system, code = value.split("|")
    if not system or not code:
        return None
    query = (select(_ROW.c.res_id)
             .join(_TOKEN, _TOKEN.c.rid == _ROW.c.rid)
             .where(_TOKEN.c.res_type == res_type, _TOKEN.c.param == "identifier",
                    _TOKEN.c.code == code, _TOKEN.c.system == system,
                    _ROW.c.res_type == res_type, _ROW.c.deleted.is_(False))
             .distinct().limit(limit))
    if ctx.policy is not None:
        query = query.where(ctx.policy(_ROW))
    return [row[0] for row in ctx.tx.conn.execute(query)]
