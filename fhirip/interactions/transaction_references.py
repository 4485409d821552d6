"""The references inside a transaction's entries, resolved before anything is written.

https://hl7.org/fhir/R4/bundle.html#references
https://hl7.org/fhir/R4/http.html#trules
"""

from __future__ import annotations

import re
from html import escape, unescape
from typing import Any

from fhirip.errors import BadRequest, PreconditionFailed
from fhirip.interactions.conditional import criteria_of, find_matches
from fhirip.context import Context
from fhirip.model.references import rewrite_references
from fhirip.model.resources import is_resource_type


def resolve_references(ctx: Context, resource: Any, full_url: str | None, ids: dict[str, str]) -> None:
    """Rewrite the references of one entry's resource: to another entry (by its fullUrl, `ids`:
    fullUrl → 'Type/id') or, for a conditional reference, to the one resource it matches.
    Links in the narrative to another entry's fullUrl are rewritten the same way."""
    cache: dict[str, str] = {}
    # A relative reference in an entry with an absolute fullUrl is relative to that fullUrl's
    # base, so it names another entry of the Bundle when their fullUrls share the base.
    # https://hl7.org/fhir/R4/bundle.html#references
    base = _fullurl_base(full_url)

    def replace(reference: str) -> str | None:
        if reference in ids:
            return ids[reference]
        if base and f"{base}/{reference}" in ids:
            return ids[f"{base}/{reference}"]
        if reference.startswith(("urn:uuid:", "urn:oid:")):
            if reference.startswith("urn:uuid:"):
                raise BadRequest(f"The reference '{reference}' matches no fullUrl in the transaction")
            return None
        if "?" in reference and is_resource_type(reference.split("?", 1)[0]):
            if reference not in cache:
                res_type = reference.split("?", 1)[0]
                found = find_matches(ctx, res_type, criteria_of(reference, "A conditional reference"))
                if len(found) != 1:
                    raise PreconditionFailed(
                        f"The conditional reference '{reference}' matches {len(found)} resources, not one")
                cache[reference] = f"{res_type}/{found[0]}"
            return cache[reference]
        return None

    rewrite_references(resource, replace)
    _rewrite_narrative(resource, ids)


# `src="…"` and `href="…"` in XHTML (quoted either way); the value is matched after unescaping.
_LINK_ATTRIBUTE = re.compile(r"""(\s(?:src|href)\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def _rewrite_narrative(resource: Any, ids: dict[str, str]) -> None:
    """The narrative's links and images that point at another entry by its fullUrl point
    at the resource it became, as the Bundle's references do."""
    if not isinstance(resource, dict):
        return
    text = resource.get("text")
    if isinstance(text, dict) and isinstance(text.get("div"), str):
        def link(match: re.Match[str]) -> str:
            target = ids.get(unescape(match.group(3)))
            if target is None:
                return match.group(0)
            return f"{match.group(1)}{match.group(2)}{escape(target)}{match.group(2)}"

        text["div"] = _LINK_ATTRIBUTE.sub(link, text["div"])
    for contained in resource.get("contained") or ():
        _rewrite_narrative(contained, ids)


def _fullurl_base(full_url: str | None) -> str | None:
    """'http://x.org/fhir/Observation/1' → 'http://x.org/fhir'; None for urn: and relative fullUrls."""
    if not full_url or not full_url.startswith(("http://", "https://")):
        return None
    parts = full_url.rstrip("/").split("/")
    if len(parts) < 5 or not is_resource_type(parts[-2]):
        return None
    return "/".join(parts[:-2])
