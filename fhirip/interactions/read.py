"""FHIR read interaction. https://hl7.org/fhir/R4/http.html#read

The stored bytes are served as they are, unless `_summary` or `_elements` ask
for less. Conditional read (If-None-Match, If-Modified-Since) answers 304.
"""

from __future__ import annotations

from fhirip.errors import Gone
from fhirip.interactions.access import ensure_visible, masked_body, not_found
from fhirip.interactions.context import Context
from fhirip.interactions.request import (
    FhirRequest,
    FhirResponse,
    parse_etag,
    version_headers,
)
from fhirip.interactions.shaping import shape_stored
from fhirip.store import Current, StoredVersion


def read(ctx: Context, req: FhirRequest) -> FhirResponse:
    ensure_visible(ctx, req.res_type, req.res_id)
    stored = ctx.tx.read(req.res_type, req.res_id)
    if stored is None:
        raise not_found(req.res_type, req.res_id)
    current = state_of(stored)
    if stored.deleted:
        raise Gone(f"Resource {req.res_type}/{req.res_id} was deleted (version {stored.version})",
                   headers=version_headers(current))
    headers = version_headers(current)
    if _not_modified(req, stored):
        return FhirResponse(304, headers=headers)
    return shape_stored(req, masked_body(ctx, stored.content or b""), headers)


def state_of(stored: StoredVersion) -> Current:
    return Current(stored.rid, stored.res_type, stored.res_id, stored.version,
                   stored.last_updated, stored.deleted)


def _not_modified(req: FhirRequest, stored: StoredVersion) -> bool:
    if req.if_none_match is not None:
        # RFC 9110 §13.1.2: "*" or a list of entity tags; any match means not modified.
        tags = {parse_etag(tag) for tag in req.if_none_match.split(",")}
        return bool(tags & {str(stored.version), "*"})
    if req.if_modified_since is not None:
        return stored.last_updated.replace(microsecond=0) <= req.if_modified_since
    return False
