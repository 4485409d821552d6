"""One Patient record per fødselsnummer/D-nummer: a second is refused (409) in words that name the
number, never the other record; the number is free again once its record drops or is deleted."""

from __future__ import annotations

import random

from plan_data import FNR, created_id, new_fnr, patient

from fhirip.demo import synthetic_fnr

DNR = "urn:oid:2.16.578.1.12.4.1.4.2"


def _refusal(response) -> str:
    assert response.status_code == 409, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Patient.identifier"]
    return outcome["issue"][0]["diagnostics"]


def test_a_second_patient_with_the_same_fnr_is_refused_without_naming_the_first(fhir):
    fnr = new_fnr()
    first = created_id(fhir.create(patient(fnr)))
    said = _refusal(fhir.create(patient(fnr, family="Sykehusjournal")))
    assert fnr in said and "one Patient record" in said
    assert first not in said
    assert fhir.get("/Patient", params={"identifier": f"{FNR}|{fnr}"}).json()["total"] == 1


def test_updating_the_record_itself_keeps_its_number(fhir):
    fnr = new_fnr()
    first = fhir.create(patient(fnr)).json()
    first["name"][0]["family"] = "Nordmann-Hansen"
    assert fhir.update(first).status_code == 200


def test_an_update_giving_another_record_a_taken_number_is_refused(fhir):
    fnr, other = new_fnr(), new_fnr()
    created_id(fhir.create(patient(fnr)))
    second = fhir.create(patient(other)).json()
    second["identifier"].append({"system": FNR, "value": fnr})
    assert fnr in _refusal(fhir.update(second))


def test_a_number_is_free_again_when_its_record_changes_it_or_is_deleted(fhir):
    fnr, new_number = new_fnr(), new_fnr()
    record = fhir.create(patient(fnr)).json()
    record["identifier"] = [{"system": FNR, "value": new_number}]
    assert fhir.update(record).status_code == 200
    again = created_id(fhir.create(patient(fnr, family="Ny")))
    assert fhir.delete(f"/Patient/{again}").status_code in (200, 204)
    assert fhir.create(patient(fnr, family="Tredje")).status_code == 201


def test_a_d_number_is_held_like_a_fodselsnummer_and_other_identifiers_are_not(fhir):
    dnr = synthetic_fnr(40 + random.randint(1, 28), random.randint(1, 12), random.randint(10, 99),
                        random.randint(100, 900))  # 40 added to the day: a D-nummer
    assert created_id(fhir.create({**patient(new_fnr()), "identifier": [{"system": DNR, "value": dnr}]}))
    second = {**patient(new_fnr(), family="To"), "identifier": [{"system": DNR, "value": dnr}]}
    said = _refusal(fhir.create(second))
    assert "D-nummer" in said and dnr in said
    local = {"system": "urn:oid:2.16.578.1.12.4.1.2.1", "value": f"H-{dnr}"}
    assert fhir.create({**patient(new_fnr()), "identifier": [local]}).status_code == 201
    assert fhir.create({**patient(new_fnr(), family="To"), "identifier": [local]}).status_code == 201
