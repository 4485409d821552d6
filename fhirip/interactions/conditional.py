"""Finding the target of a conditional interaction by search.

https://hl7.org/fhir/R4/http.html#ccreate  https://hl7.org/fhir/R4/http.html#cond-update
https://hl7.org/fhir/R4/http.html#3.1.0.7.1 (conditional delete)

The criteria are an ordinary search on the type; the caller decides what zero,
one or several matches mean for its interaction.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fhirip.errors import BadRequest
from fhirip.interactions.context import Context


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
    engine = ctx.services.extras["search"]
    return engine.match_ids(ctx, res_type, params, limit=limit)
