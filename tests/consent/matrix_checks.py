"""The access matrix's shared parts: the live world, how answers are compared, what exists."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import matrix_client
import matrix_world as mw
import orjson

from fhirip.testing.live import Fhir, LiveServer, make_services, token_for
from fhirip.testing.postgres import TemporaryPostgres

GOALS = "http://fhirip.test/goal"


Resource = dict[str, Any]


class Matrix:
    """The live server, one client per actor, and the questions every cell asks."""

    def __init__(self, server: LiveServer, since: str):
        self.server = server
        self.since = since  # before the world was loaded: history from here on is the test's
        # What the system client found, per query, until anyone writes anything.
        self._truth: dict[str, dict[str, Resource]] = {}
        forget = {"request": [self._forget_on_write]}
        self.clients = {name: Fhir(base_url=server.url, timeout=30, event_hooks=forget, headers={
            "Authorization": f"Bearer {token_for(server.services, **actor.claims)}"})
            for name, actor in mw.ACTORS.items()}
        self.truth = self.clients["system"]

    def _forget_on_write(self, request: httpx.Request) -> None:
        if request.method not in ("GET", "HEAD") and request.url.path not in ("/_search",):
            self._truth.clear()

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def all_of(self, res_type: str, query: str = "") -> dict[str, Resource]:
        """Every current resource of a type, as the system client sees it, by `Type/id`."""
        url = f"/{res_type}?_count=1000{query}"
        if url not in self._truth:
            self._truth[url] = {key_of(r): r for r in resources(self.truth.get(url).json())}
        return self._truth[url]

    def scratch_goal(self, patient: str) -> str:
        """A new Goal in the patient's record, written by the system client; its id."""
        response = self.truth.create({
            "resourceType": "Goal", "lifecycleStatus": "proposed", "subject": {"reference": f"Patient/{patient}"},
            "identifier": [{"system": GOALS, "value": f"scratch-{uuid.uuid4()}"}],
            "description": {"text": "Kladd"}})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def identifier_of(self, reference: str) -> str:
        return self.truth.get(f"/{reference}").json()["identifier"][0]["value"]


def key_of(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def resources(bundle: Resource, mode: str | None = None) -> list[Resource]:
    return [e["resource"] for e in bundle.get("entry", [])
            if "resource" in e and e["resource"]["resourceType"] != "OperationOutcome"
            and (mode is None or e.get("search", {}).get("mode") == mode)]


def keys(bundle: Resource, mode: str | None = None) -> set[str]:
    return {key_of(r) for r in resources(bundle, mode)}


_VOLATILE_HEADERS = {"date", "content-length", "server", "connection"}


def answer(response: httpx.Response, resource_id: str) -> tuple[int, str, list[str]]:
    """What a response tells, with the asked-for id blanked: status, body, header names."""
    return (response.status_code, response.text.replace(resource_id, "<id>"),
            sorted(k.lower() for k in response.headers if k.lower() not in _VOLATILE_HEADERS))


def assert_same_as_unknown(hidden: httpx.Response, hidden_id: str, unknown: httpx.Response,
                           unknown_id: str) -> None:
    assert hidden.status_code in (401, 403, 404), hidden.text
    assert answer(hidden, hidden_id) == answer(unknown, unknown_id)


def unknown_id() -> str:
    return f"ukjent-{uuid.uuid4().hex[:12]}"


def assert_masked(actor: mw.MatrixActor, found: list[Resource]) -> None:
    """The coordinating unit gets Kari's plan without its clinical content."""
    for resource in found:
        if actor.masked and resource["resourceType"] == "CarePlan":
            assert "MASKED" in {s.get("code") for s in resource.get("meta", {}).get("security", [])}
            text = orjson.dumps(resource).decode()
            assert "description" not in resource and "goal" not in resource, text
            assert mw.SECRET_MEASURE not in text and "sensitive" not in text


def assert_only_visible(actor: mw.MatrixActor, found: list[Resource]) -> None:
    leaked = [key_of(r) for r in found if not mw.should_see(actor, r)]
    assert not leaked, f"{actor.name} was shown {leaked}"
    assert_masked(actor, found)


def refused_or_empty(response: httpx.Response) -> bool:
    return response.status_code == 403 or (response.status_code == 200 and not resources(response.json())
                                           and response.json().get("total", 0) == 0)


def load_world(server: LiveServer) -> None:
    records = mw.records()
    for resource in records:  # the goals carry identifiers the conditional cells search by
        if resource["resourceType"] == "Goal":
            resource["identifier"] = [{"system": GOALS, "value": resource["id"]},
                                      {"system": GOALS, "value": "delt"}]
    matrix_client.load_world(server, records)


ACTOR_NAMES = list(mw.ACTORS)


WORLD = {key_of(r): r for r in mw.records()}


def world_of(res_type: str) -> list[Resource]:
    return [r for r in WORLD.values() if r["resourceType"] == res_type]


@contextmanager
def served_matrix(store_kind: str, postgres: TemporaryPostgres | None, directory: Path,
                  database: str) -> Iterator[Matrix]:
    """A live server on a store of this kind with the matrix world loaded, and its actors' clients."""
    server = LiveServer(make_services(store_kind, directory, postgres, database))
    since = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    load_world(server)
    built = Matrix(server, since)
    try:
        yield built
    finally:
        built.close()
        server.stop()
