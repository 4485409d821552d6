"""A plan's resources checked in the helper process as its transaction will write them.

https://hl7.org/fhir/R4/http.html#trules

The transaction gives each created resource an id and rewrites the references between the
entries to those ids before any entry is checked. The helper does the same ahead of time with
ids it proposes (the writer then assigns them), runs the R4B model parse and the profile
validation on the result, extracts its search index rows, and sends the outcomes with the plan
(`fhirip.validation.checked_ahead.CheckedAhead`). A server does the same for a transaction
request before the request's transaction takes SQLite's write lock (`fhirip.interactions.bundle.
checked_before_the_lock`), so the lock is held for what needs the store. An entry the helper cannot foresee exactly
(a conditional reference, a resource it links to that already exists under another id) is
simply checked again by the writer: its content will not be the content checked here.

A created resource keeps its proposed id across the plans of one run, so a later plan that
finds it by its business identifier refers to it by the id checked with.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhirip.errors import FhirError
from fhirip.model.references import rewrite_references
from fhirip.model.resources import check_resource, is_resource_type, new_id
from fhirip.search.index_ahead import rows_by_table_name, stamp_free
from fhirip.validation.checked_ahead import (
    VALIDATED,
    CheckedAhead,
    StoreFreeValidation,
    content_digest,
    parsed_label,
    unstamped_digest,
)


class _NotForeseeable(Exception):
    """The writer's content of this entry cannot be known here."""


class AheadChecker:
    """Checks transaction Bundles of creates ahead of the writer.

    `store_free` (the import's helper process, the only place to build it so): a validation that
    would ask the store or read the clock gives no result, and the writer validates that resource
    itself (`StoreFreeValidation`). Otherwise (a server checking a request's own Bundle before its
    transaction takes the write lock) each resource is validated as the write hook would, as a
    single write is validated before the lock (`Store.run(prepare=True)`)."""

    def __init__(self, validator: Any, *, store_free: bool = True) -> None:
        self._validate_content = StoreFreeValidation(validator).validate if store_free else validator.validate
        self._proposed: dict[tuple[str, str], str] = {}  # (fullUrl, type) → id, for this run
        # Outcomes by digest, for this run: the same Practitioner or Organization comes in many
        # plans, byte for byte, and is checked once.
        self._parse_passed: dict[bytes, bool] = {}
        self._validated: dict[bytes, tuple[Any, ...] | None] = {}

    def check(self, bundle: dict[str, Any]) -> CheckedAhead | None:
        """The checks of a transaction Bundle of creates; None for any other Bundle."""
        creates = _creates(bundle)
        if creates is None:
            return None
        ids: dict[str, str] = {}
        references: dict[str, str] = {}
        for full_url, res_type, _ in creates:
            if full_url:
                ids[full_url] = self._proposed.setdefault((full_url, res_type), new_id())
                references[full_url] = f"{res_type}/{ids[full_url]}"
        parsed: set[bytes] = set()
        issues: dict[bytes, tuple[Any, ...]] = {}
        rows: dict[bytes, dict[str, list[tuple[Any, ...]]]] = {}
        for full_url, res_type, resource in creates:
            try:
                content = _as_written(resource, references)
            except _NotForeseeable:
                continue
            digest = content_digest(content, parsed_label(res_type))
            if digest is None:
                continue
            seen_before = digest in self._parse_passed
            if not seen_before:
                self._parse_passed[digest] = _parses(content, res_type)
            if not self._parse_passed[digest]:
                continue  # refused by the writer's own parse, with its own message
            parsed.add(digest)
            if not full_url:
                continue  # the writer gives it an id of its own: its validated content is not known
            content["id"] = ids[full_url]
            validated = content_digest(content, VALIDATED)
            if validated is None:
                continue
            if validated not in self._validated:
                self._validated[validated] = self._validate(content)
            found = self._validated[validated]
            if found is not None:
                issues[validated] = found
            # Content seen before is nearly always found by its identifier and not written
            # again; if it is, the writer extracts its rows itself.
            if not seen_before and stamp_free(res_type):
                key = unstamped_digest(content)
                if key is not None:
                    rows[key] = rows_by_table_name(res_type, content)
        return CheckedAhead(frozenset(parsed), issues, ids, rows)

    def _validate(self, content: dict[str, Any]) -> tuple[Any, ...] | None:
        try:
            found = self._validate_content(content)
        except Exception:  # noqa: BLE001 - whatever breaks the validator here breaks it in the writer, which reports it
            return None
        return None if found is None else tuple(found)


def _parses(content: dict[str, Any], res_type: str) -> bool:
    try:
        check_resource(content, res_type)
    except FhirError:
        return False
    return True


def _creates(bundle: dict[str, Any]) -> list[tuple[str | None, str, dict[str, Any]]] | None:
    """(fullUrl, type, resource) of every entry, if the Bundle is a transaction of plain creates."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        return None
    found = []
    for entry in bundle.get("entry") or []:
        request = entry.get("request") if isinstance(entry, dict) else None
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not isinstance(resource, dict):
            return None
        url = request.get("url")
        if (str(request.get("method", "")).upper() != "POST" or not isinstance(url, str)
                or not is_resource_type(url) or resource.get("resourceType") != url):
            return None
        full_url = entry.get("fullUrl")
        if full_url is not None and not (isinstance(full_url, str) and full_url.startswith("urn:uuid:")):
            return None  # a relative reference may then name an entry by its base: left to the writer
        found.append((full_url, url, resource))
    return found


def _as_written(resource: dict[str, Any], references: dict[str, str]) -> dict[str, Any]:
    """A copy of `resource` with the references to entries rewritten as the transaction does."""
    content = orjson.loads(orjson.dumps(resource))

    def replace(reference: str) -> str | None:
        if reference in references:
            return references[reference]
        if reference.startswith("urn:uuid:") or ("?" in reference and is_resource_type(reference.split("?", 1)[0])):
            raise _NotForeseeable(reference)  # refused, or found in the store, by the writer
        return None

    rewrite_references(content, replace)
    return content
