"""FHIR create interaction, plain and conditional (If-None-Exist).

https://hl7.org/fhir/R4/http.html#create
https://hl7.org/fhir/R4/http.html#ccreate
"""

from __future__ import annotations

from fhirip.errors import PreconditionFailed
from fhirip.interactions.access import masked_body
from fhirip.context import Context
from fhirip.interactions.conditional import KnownMatches, criteria_of, find_matches
from fhirip.interactions.request import (
    FhirRequest,
    FhirResponse,
    location,
    version_headers,
    written,
)
from fhirip.interactions.write import save
from fhirip.model.resources import check_resource, new_id, parse_resource


def create(ctx: Context, req: FhirRequest) -> FhirResponse:
    checked = ctx.checked_ahead
    if req.resource is not None and checked is not None and checked.parsed_as(req.resource, req.res_type):
        resource = req.resource  # this very content passed check_resource ahead of the write
    else:
        resource = (check_resource(req.resource, req.res_type) if req.resource is not None
                    else parse_resource(req.body or b"", req.res_type))
    # Inside a transaction the match was settled before any entry ran (bundle._assign_ids).
    if req.if_none_exist and req.assigned_id is None:
        existing = existing_match(ctx, req)
        if existing is not None:
            return existing
    # The server assigns the id of a created resource; a client id in the body is ignored.
    resource["id"] = req.assigned_id or new_id()
    current, content, warnings = save(ctx, resource, previous=None, method="POST")
    return written(req, 201, current, content, warnings)


def existing_match(ctx: Context, req: FhirRequest, known: KnownMatches | None = None) -> FhirResponse | None:
    """The answer to a conditional create whose criteria already match, else None (`known`: see
    `find_matches`)."""
    ids = find_matches(ctx, req.res_type, criteria_of(req.if_none_exist, "If-None-Exist"), known=known)
    if not ids:
        return None
    if len(ids) > 1:
        raise PreconditionFailed(
            f"If-None-Exist matches more than one {req.res_type}; the criteria are not selective enough")
    if req.prefer_return == "minimal":  # its state alone, not its content
        # Looked up with the match, in this transaction before any entry wrote, or read now.
        found = (known.states.get((req.res_type, ids[0])) if known is not None else None) or \
            ctx.tx.current(req.res_type, ids[0])
        assert found is not None  # a match is a current resource of this transaction's snapshot
        return FhirResponse(200, headers=version_headers(found) | {"Location": location(req.base_url, found)})
    stored = ctx.tx.read(req.res_type, ids[0])
    from fhirip.interactions.read import state_of

    current = state_of(stored)
    headers = version_headers(current) | {"Location": location(req.base_url, current)}
    shown = masked_body(ctx, stored.content)  # as a read shows it: masked for the administrative view
    if isinstance(shown, bytes):
        return FhirResponse(200, body=shown, headers=headers)
    return FhirResponse(200, resource=shown, headers=headers)
