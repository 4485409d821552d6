"""Reading plan resources through FHIR search, so the caller's consent policy filters every read.

https://hl7.org/fhir/R4/search.html

The plan views ($current-plan, $render, the worklists) never read the store
directly: each read is a `fhirip.search.search` with the request's policy, so a
resource the caller may not see is simply absent — from entries, counts and
the names shown in a rendered plan alike.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from sqlalchemy import Connection

from fhirip.search import search
from fhirip.search.conditions import Policy
from fhirip.search.query import MAX_COUNT


class Fetch:
    """Searches on one connection with one policy (None: everything, for the server's own use)."""

    def __init__(self, conn: Connection, *, base_url: str, policy: Policy | None):
        self.conn = conn
        self.base_url = base_url
        self.policy = policy

    @classmethod
    def for_request(cls, ctx: Any) -> Fetch:
        return cls(ctx.tx.conn, base_url=ctx.base_url, policy=ctx.policy)

    def search(self, res_type: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """All matches, page after page, as parsed resources."""
        result = search(self.conn, res_type, [*params, ("_count", str(MAX_COUNT))],
                        base_url=self.base_url, policy=self.policy)
        found = [orjson.loads(entry.content) for entry in result.entries if entry.mode == "match"]
        while "next" in result.links:
            page = parse_qsl(urlsplit(result.links["next"]).query)
            result = search(self.conn, res_type, page, base_url=self.base_url, policy=self.policy)
            found += [orjson.loads(entry.content) for entry in result.entries if entry.mode == "match"]
        return found

    def by_ids(self, res_type: str, ids: list[str]) -> list[dict[str, Any]]:
        ids = sorted({i for i in ids if i})
        if not ids:
            return []
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), 100):  # keeps each IN list short
            found += self.search(res_type, [("_id", ",".join(ids[start:start + 100]))])
        return found

    def by_patient(self, res_type: str, patient_id: str) -> list[dict[str, Any]]:
        return self.search(res_type, [("patient", f"Patient/{patient_id}")])
