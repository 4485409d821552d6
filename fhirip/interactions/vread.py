"""FHIR vread interaction. https://hl7.org/fhir/R4/http.html#vread

A version the caller may not see (one from when the resource was in a record the
caller may not read) is answered as a version that does not exist.
"""

from __future__ import annotations

from fhirip.errors import Gone, NotFound
from fhirip.interactions.access import ensure_visible, masked_body
from fhirip.context import Context
from fhirip.interactions.history import judged_per_version, shows_version
from fhirip.interactions.read import state_of
from fhirip.interactions.request import FhirRequest, FhirResponse, version_headers
from fhirip.interactions.shaping import shape_stored
from fhirip.store import StoredVersion


def vread(ctx: Context, req: FhirRequest) -> FhirResponse:
    # Version ids are positive 32-bit integers; anything else names no version.
    version = req.version_id or ""
    if not (version.isascii() and version.isdigit()) or len(version) > 9:
        raise NotFound(f"Version '{req.version_id}' of {req.res_type}/{req.res_id} is not known")
    ensure_visible(ctx, req.res_type, req.res_id)
    stored = ctx.tx.read(req.res_type, req.res_id, int(req.version_id))
    if stored is None or not _may_see(ctx, stored):
        raise NotFound(f"Version {req.version_id} of {req.res_type}/{req.res_id} is not known")
    headers = version_headers(state_of(stored))
    if stored.deleted:
        raise Gone(f"Version {req.version_id} of {req.res_type}/{req.res_id} is a deletion",
                   headers=headers)
    return shape_stored(req, masked_body(ctx, stored.content or b""), headers)


def _may_see(ctx: Context, stored: StoredVersion) -> bool:
    """The resource is visible (checked before); is this version of it?"""
    if not judged_per_version(ctx, stored.res_type):
        return True
    current = ctx.tx.current(stored.res_type, stored.res_id)
    return current is not None and shows_version(ctx, stored, current.version)
