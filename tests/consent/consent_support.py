"""The consent test world's questions: decide, search, read and write under a policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import consent_world as world
import orjson

from fhirip.auth import Actor
from fhirip.consent import AccessPolicy, decide
from fhirip.context import Services
from fhirip.model.references import local_references
from fhirip.search import search
from fhirip.store import Tx

BASE = "http://fhirip.test/fhir"


def put_all(services: Services, resources: list[dict[str, Any]]) -> None:
    def work(tx: Tx) -> None:
        for resource in resources:
            body = orjson.loads(orjson.dumps(resource))
            tx.write(body, method="PUT", previous=tx.current(body["resourceType"], body["id"]),
                     links=local_references(body, (BASE,)))
    services.store.run(work, write=True)


class World:
    """The loaded test world and the questions the tests ask of it."""

    def __init__(self, services: Services):
        self.services = services

    def policy(self, claims: dict[str, Any], *, now: datetime = world.NOW) -> AccessPolicy:
        actor = Actor.from_claims(claims)
        with self.services.store.transaction(write=False) as tx:
            return decide(tx.conn, actor, now=now, token_issued_at=world.issued_at(claims))

    def ids(self, policy: AccessPolicy, res_type: str | None, query: str = "") -> list[str]:
        """`Type/id` of every entry (matches and includes) the search returns under the policy."""
        params = [tuple(part.split("=", 1)) for part in query.split("&") if part]
        with self.services.store.transaction(write=False) as tx:
            result = search(tx.conn, res_type, params, base_url=BASE, policy=policy.sql)  # type: ignore[arg-type]
        return sorted(f"{e.res_type}/{e.res_id}" for e in result.entries)

    def total(self, policy: AccessPolicy, res_type: str, query: str = "") -> int | None:
        params = [tuple(part.split("=", 1)) for part in query.split("&") if part] + [("_total", "accurate")]
        with self.services.store.transaction(write=False) as tx:
            return search(tx.conn, res_type, params, base_url=BASE, policy=policy.sql).total  # type: ignore[arg-type]

    def can_read(self, policy: AccessPolicy, reference: str) -> bool:
        res_type, res_id = reference.split("/")
        with self.services.store.transaction(write=False) as tx:
            return (res_type, res_id) in policy.visible(tx.conn, {(res_type, res_id)})

    def content(self, reference: str) -> dict[str, Any]:
        res_type, res_id = reference.split("/")
        with self.services.store.transaction(write=False) as tx:
            stored = tx.read(res_type, res_id)
        assert stored is not None and stored.content is not None
        return orjson.loads(stored.content)

    def can_write(self, policy: AccessPolicy, resource: dict[str, Any], *, new: bool = False) -> tuple[bool, str]:
        previous = None if new else self.content(f"{resource['resourceType']}/{resource['id']}")
        with self.services.store.transaction(write=False) as tx:
            decision = policy.can_write(tx.conn, resource, previous)
        return decision.permitted, decision.reason
