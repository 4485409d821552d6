"""FHIR delete interaction, plain, cascading and conditional.

https://hl7.org/fhir/R4/http.html#delete

A delete is a new version without content; reading afterwards gives 410 Gone and
history keeps every earlier version. A resource that others still reference is not
deleted (409) unless `_cascade=delete` asks to delete the referrers as well.
"""

from __future__ import annotations

from fhirip.errors import (
    BadRequest,
    Conflict,
    Issue,
    PreconditionFailed,
    operation_outcome,
)
from fhirip.interactions.access import check_delete, is_visible
from fhirip.interactions.conditional import find_matches
from fhirip.context import Context, visible_keys
from fhirip.interactions.request import FhirRequest, FhirResponse, version_headers
from fhirip.interactions.write import check_if_match
from fhirip.store import Current

MAX_CASCADE = 1000


def delete(ctx: Context, req: FhirRequest) -> FhirResponse:
    cascade = req.param("_cascade")
    if cascade not in (None, "delete"):
        raise BadRequest("_cascade must be 'delete'", expression=["_cascade"])
    current = ctx.tx.current(req.res_type, req.res_id, lock=True)
    if current is not None and not is_visible(ctx, current.res_type, current.res_id):
        current = None  # what the caller may not see does not exist for it: nothing to delete
    check_if_match(req, current)
    if current is None or current.deleted:
        return _deleted(req, None, [])
    check_delete(ctx, current)
    removed = [current]
    if cascade:
        removed = _cascade(ctx, current)
    elif ctx.in_transaction:
        ctx.deferred_deletes.append(current)
    else:
        refuse_if_referenced(ctx, current)
    last = None
    for target in removed:
        last = ctx.tx.delete(target)
    return _deleted(req, last, removed)


def conditional_delete(ctx: Context, req: FhirRequest) -> FhirResponse:
    ids = find_matches(ctx, req.res_type, req.params_without("_cascade"))
    if len(ids) > 1:
        raise PreconditionFailed(f"The criteria match more than one {req.res_type}; nothing was deleted")
    if not ids:
        return _deleted(req, None, [])
    req.res_id = ids[0]
    return delete(ctx, req)


def refuse_if_referenced(ctx: Context, current: Current) -> None:
    """409 while resources the caller may see refer to it, naming them."""
    own = (current.res_type, current.res_id)
    referrers = [r for r in ctx.tx.referrers(current.res_type, current.res_id, limit=MAX_NAMED_REFERRERS)
                 if r != own]
    if not referrers:
        return
    seen = sorted(visible_keys(ctx, set(referrers)))
    if not seen:
        # Only what the caller may see can stop them: a refusal would tell that a resource they
        # may not see refers to this one. The hidden referrer keeps a reference to a deleted resource.
        return
    shown = ", ".join(f"{t}/{i}" for t, i in seen[:10])
    more = " and more" if len(seen) > 10 else ""
    raise Conflict(f"{current.res_type}/{current.res_id} is referenced by {shown}{more}; "
                   "delete those first or ask for _cascade=delete")


# How many referrers are looked at to find ten the caller may see and name.
MAX_NAMED_REFERRERS = 100


def _cascade(ctx: Context, root: Current) -> list[Current]:
    """The root and everything that references it, transitively, referrers first."""
    order: list[Current] = []
    seen = {(root.res_type, root.res_id)}
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        for key in ctx.tx.referrers(node.res_type, node.res_id, limit=MAX_CASCADE):
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > MAX_CASCADE:
                raise Conflict(f"Cascading delete would remove more than {MAX_CASCADE} resources")
            child = ctx.tx.current(*key, lock=True)
            if child is not None and not child.deleted:
                if not is_visible(ctx, child.res_type, child.res_id):
                    continue  # what the caller may not see is neither deleted nor told of (as a plain delete)
                check_delete(ctx, child)
                stack.append(child)
    return list(reversed(order))


def _deleted(req: FhirRequest, last: Current | None, removed: list[Current]) -> FhirResponse:
    headers = version_headers(last) if last is not None else {}
    if req.prefer_return == "OperationOutcome" or len(removed) > 1:
        text = (f"Deleted {', '.join(f'{c.res_type}/{c.res_id}' for c in removed)}" if removed
                else "Nothing to delete")
        return FhirResponse(200, resource=operation_outcome([Issue("information", "informational", text)]),
                            headers=headers)
    return FhirResponse(204, headers=headers)
