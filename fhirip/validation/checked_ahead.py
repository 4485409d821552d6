"""Checks of a write's content made ahead of it (in another process), and when they may stand in.

https://hl7.org/fhir/R4/validation.html

The R4B model parse and the profile validation of a resource depend on its JSON content alone
(and the server's fixed definitions). A trusted internal job (the legacy import) may therefore
run them for each resource before the write, on another core, and hand the results to the
writing transaction. The writer takes a result only for a resource whose JSON at the moment of
the check is byte for byte the JSON that was checked (a digest of its serialisation); anything
else, including a resource changed after its check, is checked again in full. What depends on
the store (references, the plan rules, terminology stored on the server) or on the time of the
write (invariants with now()) is never checked ahead: such a validation gives no result here.

A client never sends such results. The server makes them itself for a transaction request on
SQLite, before the request's transaction takes the write lock
(`fhirip.interactions.bundle.checked_before_the_lock`), validating as its write hook does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from fhirip.errors import Issue
from fhirip.store.records import STAMPS
from fhirip.validation.fhirpath import ClockWatch, watch_clock

# Python values that only look like JSON (subclasses, datetimes, dataclasses) make the digest
# fail, so such content is always checked by the writer.
_STRICT_JSON = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def content_digest(resource: Any, label: str) -> bytes | None:
    """A digest of the JSON serialisation of `resource` (keys in their order) under `label`
    (which check, as which type); None when the value is not plain JSON."""
    try:
        serialised = orjson.dumps(resource, option=_STRICT_JSON)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
    return hashlib.blake2b(label.encode("utf-8") + b"\0" + serialised, digest_size=20).digest()


VALIDATED = "validated"


def unstamped_digest(resource: dict[str, Any]) -> bytes | None:
    """A digest of `resource` without what the store may write into it itself: meta.versionId,
    meta.lastUpdated and the narrative `text` (the plan rules write a plan's). Keys are sorted (the
    store reorders them); None when the value is not plain JSON. The search index of a type whose
    parameters read none of these (`fhirip.search.index.stamp_free`) is the same for all
    resources with one such digest."""
    meta = resource.get("meta")
    kept = {key: value for key, value in resource.items() if key not in ("meta", "text")}
    if isinstance(meta, dict):
        meta = {key: value for key, value in meta.items() if key not in STAMPS}
    if meta:
        kept["meta"] = meta
    try:
        serialised = orjson.dumps(kept, option=_STRICT_JSON | orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return hashlib.blake2b(b"unstamped\0" + serialised, digest_size=20).digest()


def parsed_label(resource_type: str) -> str:
    return f"parsed as {resource_type}"


@dataclass
class CheckedAhead:
    """What was checked ahead for one transaction's resources.

    `parsed`: digests (with the expected type) of resources that passed the R4B model parse
    and JSON type check, as the create interaction sees them (references resolved, no id).
    `issues`: digest of a resource as the write hooks see it (with its id) → every issue the
    validator found in it. `ids`: fullUrl → the id each created resource was checked with.
    `index_rows`: `unstamped_digest` of a resource as written → its search index rows by table
    (`fhirip.search.index.rows_by_table_name`). `taken` counts the checks the writer did not
    have to repeat, `rows_taken` the resources it did not have to extract index rows from.
    """

    parsed: frozenset[bytes] = frozenset()
    issues: Mapping[bytes, tuple[Issue, ...]] = field(default_factory=dict)
    ids: Mapping[str, str] = field(default_factory=dict)
    index_rows: Mapping[bytes, dict[str, list[tuple[Any, ...]]]] = field(default_factory=dict)
    taken: int = 0
    rows_taken: int = 0

    def parsed_as(self, resource: Any, resource_type: str | None) -> bool:
        """Whether exactly this content passed the model parse as `resource_type`."""
        if not self.parsed or resource_type is None:
            return False
        found = content_digest(resource, parsed_label(resource_type)) in self.parsed
        self.taken += found
        return found

    def issues_of(self, resource: dict[str, Any]) -> list[Issue] | None:
        """The validator's issues for exactly this content, or None if it was not validated."""
        if not self.issues:
            return None
        found = self.issues.get(content_digest(resource, VALIDATED))  # type: ignore[arg-type]
        if found is None:
            return None
        self.taken += 1
        return list(found)

    def index_rows_of(self, resource_type: str, resource: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]] | None:
        """The index rows extracted ahead from exactly this content (as stored, less the
        store's stamps), or None (`fhirip.search.index.IndexRows`)."""
        if not self.index_rows or resource.get("resourceType") != resource_type:
            return None
        found = self.index_rows.get(unstamped_digest(resource))  # type: ignore[arg-type]
        self.rows_taken += found is not None
        return found

    def proposed_id(self, full_url: str | None) -> str | None:
        """The id the entry with this fullUrl was checked with (if it is created)."""
        return self.ids.get(full_url) if full_url else None


class StoreFreeValidation:
    """The validator without the store and the clock: a validation that would have asked the
    store for a terminology resource, or evaluated an invariant that reads the time (now(),
    today()), gives None, and the writer validates that resource itself.

    It turns off the store lookup of the validator's terminology service and watches every
    invariant evaluated, so it must only be built in a process of its own (the import's helper
    process), never in the writing one.
    """

    def __init__(self, validator: Any) -> None:
        self.validator = validator
        self.terminology = validator.bindings.terminology
        self._asked_store = False
        self._clock = ClockWatch()
        watch_clock(self._clock)
        if self.terminology is not None:  # nothing cached from the store's answers is reused
            self.terminology.look_up_others_with(self._store_not_here)

    def _store_not_here(self, resource_type: str, canonical: str) -> None:
        self._asked_store = True
        return None

    def validate(self, resource: dict[str, Any]) -> list[Issue] | None:
        self._asked_store = self._clock.read = False
        issues = self.validator.validate(resource)
        if self._asked_store:
            self.terminology.invalidate()  # the negative answer must not be cached for the next resource
            return None
        return None if self._clock.read else issues
