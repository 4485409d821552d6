"""What a search by someone's number leaves in their access log, both stores: one event with the
whole query when the query names them alone, the path alone when it may name someone else."""

from __future__ import annotations

import base64

import test_access_index_http as world

from fhirip.auth.actor import FNR_SYSTEM
from fhirip.demo import KARI_FNR
from fhirip.testing.live import LiveServer

OTHER_FNR = "01010112345"
COORDINATOR, SYSTEM_CLAIMS, client = world.COORDINATOR, world.SYSTEM_CLAIMS, world.client
demo = world.demo  # the fixture


def _events(server: LiveServer) -> list[dict]:
    with client(server, SYSTEM_CLAIMS) as system:
        found = system.get("/AuditEvent", params={"subtype": "search-type", "_count": "200"}).json()
    return [e["resource"] for e in found.get("entry") or []]


def _queries(event: dict) -> list[str]:
    return [base64.b64decode(e["query"]).decode() for e in event.get("entity") or [] if "query" in e]


def _in_log(event: dict, patient: str) -> bool:
    return f"Patient/{patient}" in str(event.get("entity"))


def test_a_search_by_the_patients_own_number_is_one_event_in_their_log(demo: LiveServer) -> None:
    with client(demo, COORDINATOR) as ola:
        found = ola.get("/CarePlan", params={"patient.identifier": f"{FNR_SYSTEM}|{KARI_FNR}",
                                             "_include": "CarePlan:goal"}).json()
    assert any(e["search"]["mode"] == "match" for e in found["entry"])
    about = [event for event in _events(demo) if any("_include=CarePlan" in q for q in _queries(event))]
    assert len(about) == 1 and _in_log(about[0], "demo-kari")
    assert not any(_queries(event)[0].endswith("/CarePlan") for event in _events(demo))


def test_a_search_naming_someone_else_too_keeps_the_query_out_of_the_log(demo: LiveServer) -> None:
    both = f"{FNR_SYSTEM}|{KARI_FNR},{FNR_SYSTEM}|{OTHER_FNR}"
    with client(demo, COORDINATOR) as ola:
        assert ola.get("/CarePlan", params={"patient.identifier": both}).status_code == 200
        assert ola.get("/CarePlan", params={"patient.identifier:not": f"{FNR_SYSTEM}|{OTHER_FNR}",
                                            "patient.identifier": f"{FNR_SYSTEM}|{KARI_FNR}"}).status_code == 200
    events = _events(demo)
    naming_other = [event for event in events if any("%2C" in q or "%3Anot" in q for q in _queries(event))]
    assert len(naming_other) == 2 and not any(_in_log(event, "demo-kari") for event in naming_other)
    in_log = [event for event in events if _in_log(event, "demo-kari")]
    assert len(in_log) == 2 and all(_queries(event)[0].endswith("/CarePlan") for event in in_log)
