"""Applying the caller's consent decision to each interaction.

https://hl7.org/fhir/R4/security.html

`fhirip.consent.decide` turns the caller and their rows of the access index into an
AccessPolicy once per request; this module is where the interactions consult
it. A resource the caller may not see behaves exactly as one that does not exist
(404 with the same words), so no answer, count or error reveals it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from sqlalchemy import select

from fhirip.consent.access import Basis
from fhirip.consent.administrative import ADMIN_READ_TYPES
from fhirip.errors import FhirError, Forbidden, NotFound
from fhirip.context import Context
from fhirip.interactions.recorded_grant import require_consenter
from fhirip.search.query import (
    PAGE_PARAMS,
    ChainCriterion,
    Criterion,
    HasCriterion,
    Include,
    ParsedQuery,
    QueryParser,
)
from fhirip.search.registry import registry
from fhirip.store import Current
from fhirip.store.schema import resource

_VISIBLE = resource.alias("visible")


def not_found(res_type: str | None, res_id: str | None) -> NotFound:
    """The one answer for a resource that does not exist or may not be seen."""
    return NotFound(f"Resource {res_type}/{res_id} is not known")


def authorize(ctx: Context, interaction: str, res_type: str | None) -> None:
    """The upper bound of scopes and role, before any data is touched."""
    if ctx.access is not None and not ctx.access.may(interaction, res_type):
        what = f" on {res_type}" if res_type else ""
        raise Forbidden(f"The caller is not permitted to {interaction}{what}")


def refuse_hidden_parameters(ctx: Context, res_type: str | None, params: list[tuple[str, str]]) -> None:
    """Search parameters on content the caller sees only in the administrative view.

    A match, an order or an include through a masked element would reveal what the mask
    hides, however it is reached: directly, at the end of a chain (`data:CarePlan.x`), in
    a reverse chain (`_has:CarePlan:patient:x`), as a `_sort` key or an include."""
    if ctx.access is None:
        return
    types = (res_type,) if res_type else tuple(t for name, value in params if name == "_type"
                                               for t in value.split(",") if t)
    hidden_somewhere = any(ctx.access.hidden_search_params(t) for t in {*types, *_HIDING_TYPES})
    if not hidden_somewhere or not types:
        return
    try:
        query = QueryParser(registry(), types, strict=False, base_url=None).parse(
            [(name, value) for name, value in params if name not in PAGE_PARAMS])
    except FhirError:
        return  # the search itself answers the malformed request, with the same words
    for name, (hop_type, code) in _hops(query, lambda t: _reads_in_full(ctx, t)):
        hidden = ctx.access.hidden_search_params(hop_type)
        if code in hidden or (code == "*" and hidden - _ALWAYS_HIDDEN):  # `*`: every reference parameter
            raise Forbidden(f"The caller may not search, sort or include by {hop_type} '{code}' "
                            f"(in '{name}'): it reaches content the caller sees masked", expression=[name])


# Types whose parameters reach masked content; a chain or `_has` can reach them from any type.
_HIDING_TYPES = ("CarePlan",)
_ALWAYS_HIDDEN = frozenset({"_text", "_content"})


def _reads_in_full(ctx: Context, res_type: str) -> bool:
    """Whether the caller reads `res_type` somewhere other than through the administrative view."""
    access = ctx.access
    return access is not None and (access.everyone is not None or any(
        a.reads(res_type) and a.basis is not Basis.ADMINISTRATIVE for group in access.grants.values() for a in group))


def _hops(query: ParsedQuery, reads_in_full: Callable[[str], bool]) -> Iterator[tuple[str, tuple[str, str]]]:
    """(parameter as written, (resource type, parameter code)) of every step of a search:
    each criterion and each link of its chains, the sort keys and the includes."""
    for criterion in query.criteria:
        yield from _criterion_hops(criterion.name, criterion)
    for code, _ in query.sort:
        for res_type in query.types:
            yield "_sort", (res_type, code)
    for include in query.includes:
        if not include.reverse and _reaches_no_masked_view(include, reads_in_full):
            continue  # what it includes is never read through the administrative view: nothing to reveal
        yield "_revinclude" if include.reverse else "_include", (include.source_type, include.param)


def _reaches_no_masked_view(include: Include, reads_in_full: Callable[[str], bool]) -> bool:
    """A forward include whose targets are all of types the administrative view never reads
    (`CarePlan:goal` → Goal) and the caller reads in full elsewhere: for a patient seen only
    through that view it includes nothing, and for one seen in full it includes what the caller
    may read anyway. (A caller who sees every patient masked is refused it, as a search by it.)"""
    if include.param == "*":
        return False
    param = registry().get(include.source_type, include.param)
    targets = (include.target_type,) if include.target_type else (param.targets if param is not None else ())
    return bool(targets) and not set(targets) & ADMIN_READ_TYPES and all(reads_in_full(t) for t in targets)


def _criterion_hops(name: str, criterion: Criterion) -> Iterator[tuple[str, tuple[str, str]]]:
    if isinstance(criterion, HasCriterion):
        yield name, (criterion.source_type, criterion.ref_param.code)
        yield from _criterion_hops(name, criterion.next)
        return
    for res_type in criterion.types:
        yield name, (res_type, criterion.param.code)
    if isinstance(criterion, ChainCriterion):
        yield from _criterion_hops(name, criterion.next)


def is_visible(ctx: Context, res_type: str, res_id: str) -> bool:
    """May the caller see the current row of `res_type/res_id` (deleted or not)?"""
    if ctx.access is None or ctx.access.sees_every(res_type):
        return True
    query = select(_VISIBLE.c.rid).where(_VISIBLE.c.res_type == res_type, _VISIBLE.c.res_id == res_id,
                                         ctx.access.sql(_VISIBLE))
    return ctx.tx.conn.execute(query).first() is not None


def admitted_by_content(ctx: Context, interaction: str, res_type: str,
                        content: dict[str, Any]) -> Any | None:
    """The caller's decision about this current version, made from the version's own content
    (the compartments it is in, its labels, its id) when that admits it; None when it does
    not, and the caller should ask `authorize` and `ensure_visible` for the exact answer.

    The same rules as `authorize` followed by `is_visible` (the scopes, then some access that
    reads the type and admits the resource), judged from the content the read already holds,
    so no statement is built. The decision returned is the one to mask the resource with."""
    access = ctx.access
    if not judged_by_content(ctx, res_type):
        return None
    if access.may(interaction, res_type) and access.may_read_version(res_type, content):
        return access
    return None


def judged_by_content(ctx: Context, res_type: str) -> bool:
    """Whether `admitted_by_content` can spare the caller anything, so that the content is worth
    parsing: not for a trusted job (no decision at all), nor for a whole decision that reads the
    type wholesale (`is_visible` then needs no statement either)."""
    access = ctx.access
    if access is None or ctx.actor is None:
        return False
    return not access.sees_every(res_type)


def ensure_visible(ctx: Context, res_type: str, res_id: str) -> None:
    """404, in the words used for an unknown id, unless the caller may see the resource."""
    if not is_visible(ctx, res_type, res_id):
        raise not_found(res_type, res_id)


def client_ids_allowed(ctx: Context, res_type: str | None) -> bool:
    """Creating under a client-chosen id would tell the caller whether the id is taken, so
    only callers that see every resource of the type (internal jobs, system clients whose
    scopes let them read it) may."""
    from fhirip.auth import ActorKind

    if ctx.access is None:
        return True
    # A scope's query part (`system/CarePlan.cu?status=draft`) hides some of the type's rows.
    return (ctx.actor is not None and ctx.actor.kind is ActorKind.SYSTEM and not ctx.access.coordinating_unit
            and res_type is not None and ctx.access.sees_every(res_type))


def check_write(ctx: Context, new: dict[str, Any], previous: Current | None) -> None:
    """May the caller store this version? 404 for an unseen target, 403 for a refused write."""
    if ctx.access is None:
        return
    if previous is not None:
        ensure_visible(ctx, previous.res_type, previous.res_id)
    decision = ctx.access.can_write(ctx.tx.conn, new, ctx.previous_content)
    if not decision.permitted:
        raise Forbidden(decision.reason)
    if decision.recorded_for:
        require_consenter(ctx, new, previous, decision.recorded_for)


def check_delete(ctx: Context, current: Current) -> None:
    if ctx.access is None:
        return
    ensure_visible(ctx, current.res_type, current.res_id)
    stored = ctx.tx.read(current.res_type, current.res_id)
    decision = ctx.access.can_delete(ctx.tx.conn, orjson.loads(stored.content or b"{}"))
    if not decision.permitted:
        raise Forbidden(decision.reason)


def masked_body(ctx: Context, content: bytes) -> bytes | dict[str, Any]:
    """Stored bytes as the caller may see them: masked for the administrative view."""
    if ctx.access is None or not ctx.access.masks:
        return content
    return ctx.access.mask(orjson.loads(content))
