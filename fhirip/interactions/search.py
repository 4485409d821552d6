"""FHIR search interaction: type, system and compartment level.

https://hl7.org/fhir/R4/http.html#search
https://hl7.org/fhir/R4/search.html

The HTTP side of search; the engine (parameters, SQL, paging, includes) lives in
`fhirip.search`. The caller's access policy goes into the engine's SQL, never
after it.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from fhirip.errors import NotFound
from fhirip.interactions.access import ensure_visible, is_visible, refuse_hidden_parameters
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.search import search, searchset_bundle
from fhirip.search.execute import PageKeeper

COMPARTMENTS = ("Patient",)


def _run(ctx: Context, req: FhirRequest, res_type: str | None,
         compartment: tuple[str, str] | None = None) -> FhirResponse:
    refuse_hidden_parameters(ctx, res_type, req.params)
    result = search(ctx.tx.conn, res_type, req.params, base_url=ctx.base_url, policy=ctx.policy,
                    strict=req.prefer_handling == "strict", expand=value_set_expander(ctx),
                    compartment=compartment, keep_pages=None if ctx.tx.writing else _own_write(ctx))
    bundle = searchset_bundle(result, ctx.base_url)
    if ctx.access is not None and ctx.access.masks:
        for entry in bundle.get("entry", []):
            entry["resource"] = ctx.access.mask(entry["resource"])
    return FhirResponse(200, resource=bundle)


def _own_write(ctx: Context) -> PageKeeper:
    """A read stores its result pages in a short write transaction of its own: the search is
    read without the write lock, which on SQLite would stop every other writer meanwhile."""
    return lambda write: ctx.services.store.run(lambda tx: write(tx.conn), write=True)


def value_set_expander(ctx: Context) -> Callable[[str], set[tuple[str, str]] | None]:
    """The (system, code) pairs of the value set a `:in` / `:not-in` search names: by its
    canonical URL, or as a reference (`ValueSet/[id]`, relative or on this server) to a stored
    ValueSet the caller may see. None when there is no such value set."""
    def expand(value_set: str) -> set[tuple[str, str]] | None:
        reference = value_set
        for base in ctx.base_urls:
            if reference.startswith(base + "/"):
                reference = reference[len(base) + 1:]
        kind, _, res_id = reference.partition("/")
        if kind != "ValueSet" or not res_id or "/" in res_id:
            return ctx.services.expand(value_set)
        stored = ctx.tx.read("ValueSet", res_id)
        if stored is None or stored.deleted or not stored.content or not is_visible(ctx, "ValueSet", res_id):
            return None
        return ctx.services.expand(value_set, resource=orjson.loads(stored.content))

    return expand


def search_type(ctx: Context, req: FhirRequest) -> FhirResponse:
    return _run(ctx, req, req.res_type)


def search_system(ctx: Context, req: FhirRequest) -> FhirResponse:
    return _run(ctx, req, None)


def search_compartment(ctx: Context, req: FhirRequest) -> FhirResponse:
    if req.res_type not in COMPARTMENTS:
        raise NotFound(f"Compartment search is offered for {', '.join(COMPARTMENTS)} only")
    ensure_visible(ctx, req.res_type, req.res_id or "")
    return _run(ctx, req, req.compartment, compartment=(req.res_type, req.res_id or ""))
