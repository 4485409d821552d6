"""FHIR patch interaction: JSON Patch and FHIRPath Patch, plain and conditional.

https://hl7.org/fhir/R4/http.html#patch
https://hl7.org/fhir/R4/fhirpatch.html

The patch is applied to the current version; the result is checked like any
update (structure, write hooks, references) and stored as the next version.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import jsonpatch
import orjson

from fhirip.errors import (
    BadRequest,
    Gone,
    NotFound,
    PreconditionFailed,
    Unprocessable,
    UnsupportedMediaType,
)
from fhirip.interactions.access import ensure_visible
from fhirip.interactions.conditional import find_matches
from fhirip.context import Context
from fhirip.interactions.fhirpath_patch import apply_fhirpath_patch
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.interactions.update import store_update
from fhirip.model.json_types import check_json_types
from fhirip.model.resources import check_resource, parse_json

JSON_PATCH = "application/json-patch+json"
PLAIN_JSON = "application/json"
FHIR_JSON = ("application/fhir+json", PLAIN_JSON)


def patch(ctx: Context, req: FhirRequest) -> FhirResponse:
    ensure_visible(ctx, req.res_type, req.res_id)
    # Locked from this read to the write: a concurrent change waits, and the patch applies to
    # the version it is stored over (no lost update).
    ctx.tx.current(req.res_type, req.res_id, lock=True)
    stored = ctx.tx.read(req.res_type, req.res_id)
    if stored is None:
        raise NotFound(f"Resource {req.res_type}/{req.res_id} is not known")
    if stored.deleted:  # as a read of it would say
        raise Gone(f"Resource {req.res_type}/{req.res_id} was deleted (version {stored.version}); "
                   "there is nothing to patch")
    original = orjson.loads(stored.content or b"{}")
    patched = apply_patch(req, original)
    if patched.get("resourceType") != req.res_type or patched.get("id") != req.res_id:
        raise Unprocessable("A patch may not change the resourceType or the id",
                            expression=[f"{req.res_type}.id"])
    resource = check_resource(patched, req.res_type)
    return store_update(ctx, req, resource, method="PATCH")


def conditional_patch(ctx: Context, req: FhirRequest) -> FhirResponse:
    ids = find_matches(ctx, req.res_type, req.params)
    if not ids:
        raise NotFound(f"No {req.res_type} matches the criteria of the conditional patch")
    if len(ids) > 1:
        raise PreconditionFailed(f"The criteria match more than one {req.res_type}; nothing was patched")
    req.res_id = ids[0]
    return patch(ctx, req)


def apply_patch(req: FhirRequest, original: dict[str, Any]) -> dict[str, Any]:
    media = (req.content_type or "").split(";")[0].strip().lower()
    body = req.resource if req.resource is not None else parse_json(req.body or b"")
    if isinstance(body, dict) and body.get("resourceType") == "Binary":
        body = _binary_patch(body)
    # A JSON array can only be a JSON Patch: clients that send plain application/json (fhirpy's
    # `execute(..., method="patch")`) mean one.
    if media == JSON_PATCH or (isinstance(body, list) and (req.resource is not None or media == PLAIN_JSON)):
        return _json_patch(original, body)
    if media in FHIR_JSON or req.resource is not None:
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise BadRequest(f"A PATCH body is a JSON Patch (a JSON array of operations, {JSON_PATCH}) or "
                             "a FHIRPath Patch (a Parameters resource); a partial resource is neither")
        check_json_types(body)  # every part, name and value of the JSON type FHIR gives it
        return apply_fhirpath_patch(copy.deepcopy(original), body)
    raise UnsupportedMediaType(
        f"PATCH takes {JSON_PATCH} (JSON Patch) or application/fhir+json (FHIRPath Patch), "
        f"not '{req.content_type}'")


def _binary_patch(binary: dict[str, Any]) -> Any:
    """A JSON Patch in a Bundle entry travels as a Binary: https://hl7.org/fhir/R4/http.html#patch"""
    if binary.get("contentType", "").split(";")[0].strip() != JSON_PATCH:
        raise UnsupportedMediaType(f"A Binary patch must have contentType {JSON_PATCH}",
                                   expression=["Binary.contentType"])
    try:
        return orjson.loads(base64.b64decode(binary.get("data") or "", validate=True))
    except (ValueError, orjson.JSONDecodeError):
        raise BadRequest("Binary.data is not base64-encoded JSON", expression=["Binary.data"]) from None


def _json_patch(original: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise BadRequest("A JSON Patch document is a JSON array of operations")
    try:
        return jsonpatch.apply_patch(original, operations, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise Unprocessable(f"JSON Patch test failed: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError,
            KeyError, IndexError) as exc:
        raise BadRequest(f"The JSON Patch cannot be applied: {exc}") from None
