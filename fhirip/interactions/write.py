"""The path every write takes: business checks, referential integrity, then the store.

Create, update, patch, conditional writes and transaction entries all end here,
so a rule added to the write hooks holds for every way a resource can change.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from fhirip.errors import Issue, PreconditionFailed, Unprocessable
from fhirip.context import Context, visible_keys
from fhirip.interactions.access import check_write
from fhirip.interactions.request import FhirRequest, parse_etag
from fhirip.model.references import LocalReference, local_references
from fhirip.store import Current


def check_if_match(req: FhirRequest, current: Current | None) -> None:
    """Optimistic locking: https://hl7.org/fhir/R4/http.html#concurrency

    A deletion is a version like any other (as in HAPI FHIR): the ETag a DELETE answers
    with is the current version, so `If-Match` with it matches, and a PUT then writes the
    resource anew after its deletion."""
    if req.if_match is not None:
        wanted = parse_etag(req.if_match)
        if current is None or str(current.version) != wanted:
            have = "no current version" if current is None else f'W/"{current.version}"'
            raise PreconditionFailed(
                f"If-Match {req.if_match} does not match the current version ({have}) of "
                f"{req.res_type}/{req.res_id}")
    if req.if_none_match is not None:
        # RFC 9110 §13.1.2: a write with If-None-Match fails when "*" meets an existing
        # resource or a listed tag is the current version.
        tags = {parse_etag(tag) for tag in req.if_none_match.split(",")}
        matched = current is not None and (str(current.version) in tags or ("*" in tags and not current.deleted))
        if matched:
            raise PreconditionFailed(
                f"If-None-Match {req.if_none_match} matches the current version "
                f'(W/"{current.version}") of {req.res_type}/{req.res_id}')


def save(ctx: Context, resource: dict[str, Any], *, previous: Current | None,
         method: str) -> tuple[Current, bytes, list[Issue]]:
    """Check and store one resource version; returns its state, bytes and warnings."""
    ctx = replace(ctx, previous_content=_content_of(ctx, previous))
    check_write(ctx, resource, previous)
    warnings: list[Issue] = []
    errors: list[Issue] = []
    for hook in ctx.services.write_hooks:
        for issue in hook(ctx, resource, previous):
            (errors if issue.severity in ("error", "fatal") else warnings).append(issue)
    links = _links(resource, ctx)
    if ctx.settings.referential_integrity:
        if ctx.in_transaction:
            ctx.deferred_references.append((resource, links))
        else:
            errors.extend(_dangling(ctx, resource, links))
    if errors:
        raise Unprocessable(errors[0].diagnostics, issues=errors + warnings)
    ahead = ctx.checked_ahead.index_rows_of(resource["resourceType"], resource) if ctx.checked_ahead else None
    current, content = ctx.tx.write(resource, method=method, previous=previous, links=links, index_rows=ahead)
    return current, content, warnings


def _content_of(ctx: Context, previous: Current | None) -> dict[str, Any] | None:
    """The content of the live version being replaced, read once for every check that compares."""
    if previous is None or previous.deleted:
        return None
    stored = ctx.tx.read(previous.res_type, previous.res_id)
    return orjson.loads(stored.content) if stored is not None and stored.content else None


# A stored document's references are its own; audit and provenance records only
# mention what they are about, and must never stop it from being deleted.
_UNLINKED = frozenset({"Bundle", "AuditEvent", "Provenance"})


def _links(resource: dict[str, Any], ctx: Context) -> list[LocalReference]:
    if resource["resourceType"] in _UNLINKED:
        return []
    return local_references(resource, ctx.base_urls)


def _dangling(ctx: Context, resource: dict[str, Any], links: list[LocalReference]) -> list[Issue]:
    own = (resource["resourceType"], resource["id"])
    wanted = {(link.res_type, link.res_id) for link in links} - {own}
    found = visible_keys(ctx, wanted)
    missing = [link for link in links if (link.res_type, link.res_id) in wanted - found]
    return dangling_error(missing).issues if missing else []


def dangling_error(missing: list[LocalReference]) -> Unprocessable:
    """The error for references to local resources that do not exist."""
    issues = [Issue("error", "not-found", f"{link.path} refers to {link.res_type}/{link.res_id}, which "
                    "does not exist on this server or is not visible to the caller", (link.path,))
              for link in missing]
    return Unprocessable(issues[0].diagnostics if issues else "", issues=issues)
