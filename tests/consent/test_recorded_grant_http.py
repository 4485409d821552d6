"""A grant the coordinator or the coordinating unit records for the patient names the patient.

An active sharing Consent written by Kari's coordinator (Ola) or by the coordinating unit of
her municipality is the record of Kari's own decision: it must come with an `X-Provenance`
header whose Provenance names Patient/demo-kari as an agent. Without it (or naming someone
else) the write is refused with 403 and an OperationOutcome saying what is missing; a header
that is no Provenance is a 400 naming the header. With it, the Consent and a Provenance for
exactly the version written are stored in one transaction. Kari herself needs none; a
withdrawal needs none. Real server, real tokens, both stores; on PostgreSQL, recorded grants
written at once each get their own Provenance and nothing else.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from test_access_index_http import COORDINATOR, _sharing, client, demo, system  # noqa: F401  (fixtures)

from fhirip.demo import KARI_FNR, ORG_KOMMUNE
from fhirip.testing.live import Fhir, LiveServer

UNIT = {"sub": "unn", "helseid://claims/hpr/hpr_number": "9144999", "scope": "user/*.cruds",
        "role": "koordinerende-enhet", "helseid://claims/client/claims/orgnr_parent": ORG_KOMMUNE}
KARI = {"sub": "kari", "helseid://claims/identity/pid": KARI_FNR, "scope": "patient/*.cruds"}
PROVENANCE_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def _provenance(*patients: str) -> str:
    return json.dumps({"resourceType": "Provenance", "agent": [
        {"type": {"coding": [{"system": PROVENANCE_TYPE, "code": "informant"}], "text": "samtykkegiver"},
         "who": {"reference": f"Patient/{patient}"}} for patient in patients],
        "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.7"}],
                       "when": "2026-03-01T10:00:00Z", "who": {"reference": "Patient/demo-kari"},
                       "data": "c2lnbmVydA=="}]})


def _grant(consent_id: str, actor: str = "Practitioner/nils") -> dict[str, Any]:
    return _sharing(consent_id, "demo-kari", actor)


def _created_id(answer: Any) -> str:
    return answer.headers["Location"].split("/Consent/")[1].split("/")[0]


def _provenances_of(fhir: Fhir, consent_id: str) -> list[dict[str, Any]]:
    bundle = fhir.get("/Provenance", params={"_count": "1000"}).json()
    return [e["resource"] for e in bundle.get("entry") or []
            if any(t["reference"].startswith(f"Consent/{consent_id}/") for t in e["resource"]["target"])]


@pytest.fixture
def ola(demo: LiveServer) -> Iterator[Fhir]:  # noqa: F811
    with client(demo, COORDINATOR) as fhir:
        yield fhir


@pytest.fixture
def unit(demo: LiveServer, system: Fhir) -> Iterator[Fhir]:  # noqa: F811
    practitioner = {"resourceType": "Practitioner", "id": "unn",
                    "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.4", "value": "9144999"}]}
    assert system.put("/Practitioner/unn", json=practitioner).status_code in (200, 201)
    with client(demo, UNIT) as fhir:
        yield fhir


@pytest.mark.parametrize("writer", ["ola", "unit"])
def test_a_recorded_grant_without_the_patients_provenance_is_refused_saying_what_is_missing(
        writer: str, request: pytest.FixtureRequest, system: Fhir) -> None:  # noqa: F811
    fhir: Fhir = request.getfixturevalue(writer)
    consent_id = f"recorded-{uuid.uuid4().hex[:8]}"
    bare = fhir.post("/Consent", json=_grant(consent_id))
    assert bare.status_code == 403, bare.text
    outcome = bare.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "X-Provenance" in outcome["issue"][0]["diagnostics"]
    assert "Patient/demo-kari" in outcome["issue"][0]["diagnostics"]
    other = fhir.post("/Consent", json=_grant(consent_id), headers={"X-Provenance": _provenance("other")})
    assert other.status_code == 403 and "names no agent with who = Patient/demo-kari" in other.text
    wrong_shapes = {"resourceType": "Provenance", "agent": [{"who": {"reference": "Patient/demo-kari"}}],
                    "signature": "signert", "reason": {"text": "not a list"}, "occurredDateTime": "i går"}
    for header in ("{not json", json.dumps({"resourceType": "Patient"}), json.dumps({"resourceType": "Provenance"}),
                   json.dumps(wrong_shapes)):
        malformed = fhir.post("/Consent", json=_grant(consent_id), headers={"X-Provenance": header})
        assert malformed.status_code == 400, malformed.text
        assert malformed.json()["issue"][0]["expression"][0].startswith("X-Provenance")
    # nothing was stored by any refused attempt
    assert system.get("/Consent", params={"patient": "Patient/demo-kari", "actor": "Practitioner/nils"}).json()["total"] == 0
    assert system.get("/Provenance", params={"agent": "Patient/demo-kari"}).json()["total"] == 0


@pytest.mark.parametrize("writer", ["ola", "unit"])
def test_a_recorded_grant_stores_the_consent_and_its_provenance_naming_the_patient(
        writer: str, request: pytest.FixtureRequest, system: Fhir) -> None:  # noqa: F811
    fhir: Fhir = request.getfixturevalue(writer)
    written = fhir.post("/Consent", json=_grant("new"), headers={"X-Provenance": _provenance("demo-kari")})
    assert written.status_code == 201, written.text
    consent_id = _created_id(written)
    [record] = _provenances_of(system, consent_id)
    assert [t["reference"] for t in record["target"]] == [f"Consent/{consent_id}/_history/1"]
    assert record["agent"][0]["who"] == {"reference": "Patient/demo-kari"}
    assert record["agent"][0]["type"]["text"] == "samtykkegiver"
    assert any(a["type"]["coding"][0]["code"] == "author" for a in record["agent"][1:])  # the writer
    assert record["signature"][0]["who"] == {"reference": "Patient/demo-kari"}
    for query in ({"target": f"Consent/{consent_id}"}, {"agent": "Patient/demo-kari", "_id": record["id"]}):
        assert system.get("/Provenance", params=query).json()["total"] == 1, query
    # the next version needs the patient's word again; a withdrawal does not
    again = fhir.put(f"/Consent/{consent_id}", json={**_grant(consent_id), "dateTime": "2026-03-02"})
    assert again.status_code == 403, again.text
    withdrawn = fhir.put(f"/Consent/{consent_id}", json={**_grant(consent_id), "status": "inactive"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert len(_provenances_of(system, consent_id)) == 1


def test_the_patient_shares_without_a_provenance(demo: LiveServer, system: Fhir) -> None:  # noqa: F811
    with client(demo, KARI) as kari:
        own = kari.post("/Consent", json=_grant("new"))
        assert own.status_code == 201, own.text
    assert _provenances_of(system, _created_id(own)) == []


def test_a_recorded_grant_in_a_transaction_takes_the_header_for_its_entry(ola: Fhir, system: Fhir) -> None:  # noqa: F811
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _grant("new"), "request": {"method": "POST", "url": "Consent"}}]}
    assert ola.post("/", json=bundle).status_code == 403
    answer = ola.post("/", json=bundle, headers={"X-Provenance": _provenance("demo-kari")})
    assert answer.status_code == 200, answer.text
    consent_id = answer.json()["entry"][0]["response"]["location"].split("Consent/")[1].split("/")[0]
    assert len(_provenances_of(system, consent_id)) == 1


def test_recorded_grants_written_at_once_each_get_exactly_their_provenance(
        demo: LiveServer, system: Fhir, store_kind: str) -> None:  # noqa: F811
    if store_kind != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    answers: list[Any] = []

    def write() -> None:
        with client(demo, COORDINATOR) as fhir:
            answers.append(fhir.post("/Consent", json=_grant("new"),
                                     headers={"X-Provenance": _provenance("demo-kari")}))

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers if a.status_code != 201]
    ids = {_created_id(a) for a in answers}
    assert len(ids) == 8
    for consent_id in ids:
        [record] = _provenances_of(system, consent_id)
        assert [t["reference"] for t in record["target"]] == [f"Consent/{consent_id}/_history/1"]



def test_the_header_cannot_make_the_record_say_more_than_the_patients_word(ola: Fhir, system: Fhir) -> None:  # noqa: F811
    """The agent naming Kari acts for no one else, a signature is Kari's, and what the record
    mentions Ola may see: a record hidden from her answers as one that does not exist."""
    given = json.loads(_provenance("demo-kari"))
    acting_for_other = {**given, "agent": [{**given["agent"][0], "onBehalfOf": {"reference": "Patient/other"},
                                            "extension": [{"url": "http://example.org/x",
                                                           "valueReference": {"reference": "Patient/other"}}]}]}
    written = ola.post("/Consent", json=_grant("new"), headers={"X-Provenance": json.dumps(acting_for_other)})
    assert written.status_code == 201, written.text
    [record] = _provenances_of(system, _created_id(written))
    assert "Patient/other" not in json.dumps(record)
    other_signer = {**given, "signature": [{**given["signature"][0], "who": {"reference": "Patient/other"}}]}
    signed = ola.post("/Consent", json=_grant("new"), headers={"X-Provenance": json.dumps(other_signer)})
    assert signed.status_code == 400 and "signature[0].who" in signed.text, signed.text

    def mentioning(reference: str) -> Any:
        header = {**given, "entity": [{"role": "source", "what": {"reference": reference}}]}
        return ola.post("/Consent", json=_grant("new"), headers={"X-Provenance": json.dumps(header)})

    assert ola.get("/Consent/other-sharing").status_code == 404
    hidden, unknown = mentioning("Consent/other-sharing"), mentioning("Consent/no-such-consent")
    assert hidden.status_code == unknown.status_code == 400, hidden.text
    assert hidden.text.replace("other-sharing", "X") == unknown.text.replace("no-such-consent", "X")
    assert mentioning("Patient/demo-kari").status_code == 201
    assert system.get("/Provenance", params={"entity": "Consent/other-sharing"}).json()["total"] == 0
