"""The matrix world written into a live server's store, and a client per matrix actor."""

from __future__ import annotations

from typing import Any

import matrix_world as mw

from fhirip.model.references import local_references
from fhirip.testing.live import Fhir, LiveServer, token_for


def load_world(server: LiveServer, records: list[dict[str, Any]] | None = None) -> None:
    """Every record of the matrix world (or these), written through the real store with its links."""
    def work(tx: Any) -> None:
        for resource in records if records is not None else mw.records():
            tx.write(resource, method="PUT", previous=tx.current(resource["resourceType"], resource["id"]),
                     links=local_references(resource, (server.url,)))
    server.services.store.run(work, write=True)


def client_for(server: LiveServer, actor: str) -> Fhir:
    """An HTTP client carrying a token with the claims of `matrix_world.ACTORS[actor]`."""
    token = token_for(server.services, **mw.ACTORS[actor].claims)
    return Fhir(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"})
