"""Older versions through HTTP: each is shown only to whoever may see what it held.

A Goal written into Jon's record and then moved to Kari's (or back and forth) keeps
its earlier versions in Jon's record. Kari sees the resource now, but not those
versions: vread answers as for a version that never existed, history leaves them
out of every page and of `total`, at instance, type and system level. Real tokens,
the real facade, both stores.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from matrix_client import client_for, load_world

from fhirip.testing.live import Fhir, LiveServer


@pytest.fixture
def loaded(fhir: Fhir, live_server: LiveServer) -> LiveServer:
    """The matrix world in a fresh store."""
    load_world(live_server)
    return live_server


@pytest.fixture
def since(loaded: LiveServer) -> str:
    """A moment (to the second, as `_since` takes it) after the world was written."""
    time.sleep(1.1)
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
def kari(loaded: LiveServer) -> Iterator[Fhir]:
    with client_for(loaded, "patient") as client:
        yield client


def _goal(goal_id: str, patient: str) -> dict[str, Any]:
    return {"resourceType": "Goal", "id": goal_id, "lifecycleStatus": "active",
            "subject": {"reference": f"Patient/{patient}"}, "description": {"text": f"Mål i {patient}s journal"}}


def _write_versions(fhir: Fhir, goal_id: str, patients: list[str]) -> None:
    """Version n of the goal in the record of patients[n - 1]."""
    for patient in patients:
        response = fhir.update(_goal(goal_id, patient))
        assert response.status_code in (200, 201), response.text


def _etags(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["fullUrl"].rsplit("/", 2)[-2] + "/" + e["fullUrl"].rsplit("/", 1)[-1], e["response"]["etag"])
            for e in bundle.get("entry", [])]


def _next(bundle: dict[str, Any]) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


def test_versions_from_another_record_are_left_out_of_every_history_page_and_the_total(
        fhir: Fhir, kari: Fhir) -> None:
    goal = f"flyttet-{uuid.uuid4().hex[:8]}"
    _write_versions(fhir, goal, ["jon", "kari", "jon", "kari"])
    pages, url = [], f"/Goal/{goal}/_history?_count=1"
    while url:
        response = kari.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = _next(response.json())
    assert [_etags(p) for p in pages] == [[(f"Goal/{goal}", 'W/"4"')], [(f"Goal/{goal}", 'W/"2"')]]
    assert {p["total"] for p in pages} == {2}
    assert "jon" not in orjson.dumps(pages).decode().lower()
    assert fhir.get(f"/Goal/{goal}/_history").json()["total"] == 4  # they are there for the system client


def test_type_and_system_history_leave_out_the_versions_from_another_record(
        fhir: Fhir, kari: Fhir, since: str) -> None:
    goal = f"flyttet-{uuid.uuid4().hex[:8]}"
    _write_versions(fhir, goal, ["jon", "kari"])
    for path in ("/Goal/_history", "/_history"):
        for count in (1000, 1):
            bundle = kari.get(f"{path}?_since={since}&_count={count}").json()
            assert bundle["total"] == 1, bundle
            assert _etags(bundle) == [(f"Goal/{goal}", 'W/"2"')]
            assert _next(bundle) is None
        assert kari.get(f"{path}?_since={since}&_count=0").json()["total"] == 1


def test_vread_of_a_version_from_another_record_answers_as_an_unknown_version(fhir: Fhir, kari: Fhir) -> None:
    goal = f"flyttet-{uuid.uuid4().hex[:8]}"
    _write_versions(fhir, goal, ["jon", "kari", "jon", "kari"])
    unknown = kari.get(f"/Goal/{goal}/_history/9")
    for version in (1, 3):
        hidden = kari.get(f"/Goal/{goal}/_history/{version}")
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.text.replace(f"Version {version} ", "Version 9 ") == unknown.text
    for version in (2, 4):
        shown = kari.get(f"/Goal/{goal}/_history/{version}")
        assert shown.status_code == 200 and shown.json()["subject"] == {"reference": "Patient/kari"}


def test_a_deletion_is_judged_by_the_version_it_deleted(fhir: Fhir, kari: Fhir) -> None:
    """Jon's goal deleted, then the id written anew into Kari's record: Kari sees only the new one."""
    goal = f"gjenbrukt-{uuid.uuid4().hex[:8]}"
    _write_versions(fhir, goal, ["jon"])
    assert fhir.delete(f"/Goal/{goal}").status_code == 204
    _write_versions(fhir, goal, ["kari"])
    bundle = kari.get(f"/Goal/{goal}/_history").json()
    assert _etags(bundle) == [(f"Goal/{goal}", 'W/"3"')] and bundle["total"] == 1
    # a 410 Gone would tell that a version 2 exists and what it was
    assert kari.get(f"/Goal/{goal}/_history/2").status_code == 404
    assert fhir.get(f"/Goal/{goal}/_history/2").status_code == 410


def test_a_deleted_resource_answers_410_and_its_history_to_whoever_could_see_its_last_version(
        fhir: Fhir, kari: Fhir) -> None:
    goal = f"slettet-{uuid.uuid4().hex[:8]}"
    _write_versions(fhir, goal, ["kari", "kari"])
    deleted = fhir.delete(f"/Goal/{goal}")
    assert deleted.status_code == 204
    read = kari.get(f"/Goal/{goal}")
    assert read.status_code == 410 and read.headers["ETag"] == 'W/"3"', read.text
    assert kari.get(f"/Goal/{goal}/_history/3").status_code == 410
    assert kari.get(f"/Goal/{goal}/_history/2").json()["subject"] == {"reference": "Patient/kari"}
    bundle = kari.get(f"/Goal/{goal}/_history").json()
    assert _etags(bundle) == [(f"Goal/{goal}", f'W/"{v}"') for v in (3, 2, 1)] and bundle["total"] == 3
    assert bundle["entry"][0]["request"]["method"] == "DELETE"
    # still no search finds it, for the caller or the server itself
    assert all(e["resource"]["id"] != goal for e in kari.get("/Goal").json().get("entry", []))
    for client in (kari, fhir):
        assert client.get("/Goal", params={"_id": goal}).json()["total"] == 0
        assert client.get("/Goal", params={"subject": "Patient/kari", "_id": goal}).json()["total"] == 0


def test_a_deleted_resource_the_caller_could_not_see_answers_as_an_unknown_id(fhir: Fhir, kari: Fhir) -> None:
    goal, nobody = f"skjult-{uuid.uuid4().hex[:8]}", f"ukjent-{uuid.uuid4().hex[:8]}"
    _write_versions(fhir, goal, ["jon"])
    assert fhir.delete(f"/Goal/{goal}").status_code == 204
    assert fhir.get(f"/Goal/{goal}").status_code == 410
    for suffix in ("", "/_history", "/_history/1", "/_history/2"):
        hidden, unknown = kari.get(f"/Goal/{goal}{suffix}"), kari.get(f"/Goal/{nobody}{suffix}")
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.text.replace(goal, nobody) == unknown.text
        assert {k: v for k, v in hidden.headers.items() if k.lower() not in ("date", "content-length", "x-request-id")} == \
            {k: v for k, v in unknown.headers.items() if k.lower() not in ("date", "content-length", "x-request-id")}


def test_a_deleted_resource_written_anew_is_found_again(fhir: Fhir, kari: Fhir) -> None:
    goal = f"gjenskapt-{uuid.uuid4().hex[:8]}"
    _write_versions(fhir, goal, ["kari"])
    assert fhir.delete(f"/Goal/{goal}").status_code == 204
    _write_versions(fhir, goal, ["kari"])
    assert kari.get("/Goal", params={"_id": goal}).json()["total"] == 1
    assert fhir.get("/Goal", params={"subject": "Patient/kari", "_id": goal}).json()["total"] == 1


def _normalised(response: Any, goal: str, nobody: str) -> tuple[int, str, dict[str, str]]:
    skip = ("date", "content-length", "x-request-id")
    return (response.status_code, response.text.replace(goal, nobody),
            {k: v for k, v in response.headers.items() if k.lower() not in skip})


def test_a_resource_moved_away_answers_the_old_records_reader_as_an_unknown_one(
        fhir: Fhir, loaded: LiveServer) -> None:
    """Eva's goal moved to Kari's record: whoever sees only Eva's record finds nothing of it, on
    any route, in words and headers an unknown id gets; whoever sees only Kari's sees version 2
    with a history of one. The version number is the resource's (its ETag, If-Match): the gap
    tells that earlier versions exist which the reader may not see, never whose or what."""
    goal, nobody = f"flyttet-{uuid.uuid4().hex[:8]}", f"ukjent-{uuid.uuid4().hex[:8]}"
    _write_versions(fhir, goal, ["eva", "kari"])
    with client_for(loaded, "other-municipality") as eva_reader:
        assert eva_reader.get("/Goal", params={"subject": "Patient/eva"}).status_code == 200  # sees Eva's record
        for suffix in ("", "/_history", "/_history/1", "/_history/2", "/_history/3"):
            hidden, unknown = eva_reader.get(f"/Goal/{goal}{suffix}"), eva_reader.get(f"/Goal/{nobody}{suffix}")
            assert hidden.status_code == 404, hidden.text
            assert _normalised(hidden, goal, nobody) == _normalised(unknown, goal, nobody)
        assert eva_reader.get("/Goal", params={"_id": goal}).json()["total"] == 0
        assert goal not in eva_reader.get("/Goal/_history").text
    with client_for(loaded, "patient") as kari:
        read = kari.get(f"/Goal/{goal}")
        assert read.status_code == 200 and read.headers["ETag"] == 'W/"2"'
        history = kari.get(f"/Goal/{goal}/_history").json()
        assert history["total"] == 1 and _etags(history) == [(f"Goal/{goal}", 'W/"2"')]
        assert "eva" not in orjson.dumps(history).decode().lower()
        hidden, unknown = kari.get(f"/Goal/{goal}/_history/1"), kari.get(f"/Goal/{goal}/_history/7")
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.text.replace("Version 1 ", "Version 7 ") == unknown.text
        # the resource's own version number stays what writes are checked against
        changed = kari.put(f"/Goal/{goal}", json={**_goal(goal, "kari"), "lifecycleStatus": "completed"},
                           headers={"If-Match": 'W/"2"'})
        assert changed.status_code == 200 and changed.headers["ETag"] == 'W/"3"', changed.text
