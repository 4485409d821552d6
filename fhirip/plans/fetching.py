"""Reading plan resources through FHIR search, so the caller's consent policy filters every read.

https://hl7.org/fhir/R4/search.html

The plan views ($current-plan, $render, the worklists) never read the store
directly: each read is a `fhirip.search.search` with the request's policy, so a
resource the caller may not see is simply absent — from entries, counts and
the names shown in a rendered plan alike. The server's own reads (no policy, e.g.
the plan's generated narrative) take the same matches, in the same order, straight
from the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from sqlalchemy import Connection

from fhirip.search import search
from fhirip.search.conditions import Policy
from fhirip.search.query import MAX_COUNT
from fhirip.search.registry import registry
from fhirip.store.unscoped import UnscopedReader, UnscopedUse


class Fetch:
    """Searches on one connection with one policy (None: everything, for the server's own use)."""

    def __init__(self, conn: Connection, *, base_url: str, policy: Policy | None,
                 view: Callable[[dict[str, Any]], dict[str, Any]] | None = None):
        self.conn = conn
        self.base_url = base_url
        self.policy = policy
        self.view = view  # the caller's view of each resource (the administrative mask), if any

    @classmethod
    def for_request(cls, ctx: Any) -> Fetch:
        access = ctx.access
        return cls(ctx.tx.conn, base_url=ctx.base_url, policy=ctx.policy,
                   view=access.mask if access is not None and access.masks else None)

    def search(self, res_type: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """All matches, page after page, as parsed resources."""
        result = search(self.conn, res_type, [*params, ("_count", str(MAX_COUNT))],
                        base_url=self.base_url, policy=self.policy)
        found = [orjson.loads(entry.content) for entry in result.entries if entry.mode == "match"]
        while "next" in result.links:
            page = parse_qsl(urlsplit(result.links["next"]).query)
            result = search(self.conn, res_type, page, base_url=self.base_url, policy=self.policy)
            found += [orjson.loads(entry.content) for entry in result.entries if entry.mode == "match"]
        return [self.view(item) for item in found] if self.view is not None else found

    def by_ids(self, res_type: str, ids: list[str]) -> list[dict[str, Any]]:
        ids = sorted({i for i in ids if i})
        if not ids:
            return []
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), 100):  # keeps each IN list short
            chunk = ids[start:start + 100]
            if self.policy is None:
                found += UnscopedReader(self.conn, UnscopedUse.UNRESTRICTED).contents(res_type, chunk)
            else:
                found += self.search(res_type, [("_id", ",".join(chunk))])
        return found

    def by_keys(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The resources with these (type, id) keys that are found, each type's in the order
        `by_ids` gives them; without a policy, every type in one read."""
        wanted: dict[str, set[str]] = {}
        for res_type, res_id in keys:
            if res_id:
                wanted.setdefault(res_type, set()).add(res_id)
        if self.policy is None:
            return UnscopedReader(self.conn, UnscopedUse.UNRESTRICTED).contents_by_keys(
                (res_type, res_id) for res_type, ids in wanted.items() for res_id in ids)
        return {(res_type, found["id"]): found for res_type in sorted(wanted)
                for found in self.by_ids(res_type, sorted(wanted[res_type]))}

    def by_patient_of_types(self, res_types: list[str], patient_id: str) -> dict[str, list[dict[str, Any]]]:
        """`by_patient` of each type; without a policy, every type in one read."""
        if self.policy is None and all(_patient_is_reference(res_type) for res_type in res_types):
            found = UnscopedReader(self.conn, UnscopedUse.UNRESTRICTED).naming_patients_of_types(
                res_types, "patient", [patient_id])
            return {res_type: [item.content for item in found[res_type]] for res_type in res_types}
        return {res_type: self.by_patient(res_type, patient_id) for res_type in res_types}

    def by_patient(self, res_type: str, patient_id: str) -> list[dict[str, Any]]:
        if self.policy is None and _patient_is_reference(res_type):
            found = UnscopedReader(self.conn, UnscopedUse.UNRESTRICTED).naming_patients(
                res_type, "patient", [patient_id])
            return [item.content for item in found]
        return self.search(res_type, [("patient", f"Patient/{patient_id}")])


# Without a policy (the server's own reads: the plan's narrative reads a dozen sets on every
# write of a plan) the same matches come straight from the store, in the search's order
# (resource row, ascending), without building a search for each read.
def _patient_is_reference(res_type: str) -> bool:
    param = registry().get(res_type, "patient")
    return param is not None and param.type == "reference"
