"""FHIR read interaction. https://hl7.org/fhir/R4/http.html#read

The stored bytes are served as they are, unless `_summary` or `_elements` ask
for less. Conditional read (If-None-Match, If-Modified-Since) answers 304.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhirip.consent.decide import decide
from fhirip.errors import Gone
from fhirip.interactions.access import (
    admitted_by_content,
    authorize,
    ensure_visible,
    judged_by_content,
    masked_body,
    not_found,
)
from fhirip.context import Context
from fhirip.interactions.request import (
    FhirRequest,
    FhirResponse,
    parse_etag,
    version_headers,
)
from fhirip.interactions.shaping import shape_stored
from fhirip.store import Current, StoredVersion


def read(ctx: Context, req: FhirRequest) -> FhirResponse:
    # The router leaves `authorize` to this handler: a current version the caller's decision
    # admits by its own content is served at once; anything else gets the exact answer
    # (403, or 404 in the words of an unknown id) from the scopes and the SQL condition, of
    # the whole decision.
    ahead = ctx.read_ahead
    stored = ahead.stored if ahead is not None and ahead.of(req.res_type, req.res_id) \
        else ctx.tx.read(req.res_type, req.res_id)
    content = orjson.loads(stored.content) if stored is not None and stored.content \
        and judged_by_content(ctx, req.res_type) else None
    policy = admitted_by_content(ctx, "read", req.res_type, content) if content is not None else None
    if policy is None and _decided_whole(ctx) and content is not None:
        policy = admitted_by_content(ctx, "read", req.res_type, content)
    if policy is None:
        authorize(ctx, "read", req.res_type)
        ensure_visible(ctx, req.res_type, req.res_id)
    if stored is None:
        raise not_found(req.res_type, req.res_id)
    current = state_of(stored)
    if stored.deleted:
        raise Gone(f"Resource {req.res_type}/{req.res_id} was deleted (version {stored.version})",
                   headers=version_headers(current))
    headers = version_headers(current)
    if _not_modified(req, stored):
        return FhirResponse(304, headers=headers)
    if policy is not None:
        body: bytes | dict[str, Any] = policy.mask(content) if policy.masks else stored.content or b""
    else:
        body = masked_body(ctx, stored.content or b"")
    return shape_stored(req, body, headers)


def _decided_whole(ctx: Context) -> bool:
    """The whole decision in place of one made for the resource's patients only
    (`decide_reading`), which can only admit: whether another patient's access admits the
    version, and whether the caller reads the type at all (a resource not admitted is then
    forbidden or unknown), are the whole decision's. False: the decision was whole already."""
    access = ctx.access
    if access is None or access.within is None:
        return False
    actor = ctx.actor
    ctx.access = decide(ctx.tx.conn, actor, now=access.decided_at,
                        token_issued_at=actor.issued_at if actor is not None else None)
    ctx.policy = ctx.access.sql
    return True


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
