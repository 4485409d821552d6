"""A transaction's conditional creates are matched together, each by its own type, system and value."""

from __future__ import annotations

from typing import Any

from fhirip.context import Services
from fhirip.migration import submitter

HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
LEGACY = "http://fhirip.no/fhir/sid/legacy/planpro/participant"


def _practitioner(system: str, value: str, family: str) -> dict[str, Any]:
    return {"resource": {"resourceType": "Practitioner", "identifier": [{"system": system, "value": value}],
                         "name": [{"family": family}]},
            "request": {"method": "POST", "url": "Practitioner", "ifNoneExist": f"identifier={system}|{value}"}}


def _organization(system: str, value: str) -> dict[str, Any]:
    return {"resource": {"resourceType": "Organization", "identifier": [{"system": system, "value": value}],
                         "name": "Tjenesten"},
            "request": {"method": "POST", "url": "Organization", "ifNoneExist": f"identifier={system}|{value}"}}


def _transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def _statuses(response: dict[str, Any]) -> list[str]:
    assert response["resourceType"] == "Bundle", response
    return [entry["response"]["status"].split()[0] for entry in response["entry"]]


def test_only_the_same_type_system_and_value_is_a_match(services: Services) -> None:
    submit = submitter(services)
    first = submit(_transaction(_practitioner(HPR, "1000", "Berg")))
    assert _statuses(first) == ["201"]
    second = submit(_transaction(
        _practitioner(HPR, "1000", "Berg"),  # the same: matched
        _practitioner(LEGACY, "1000", "Annen"),  # same value, other system: new
        _organization(HPR, "1000"),  # same system and value, other type: new
        _practitioner(HPR, "2000", "Dahl")))  # other value: new
    assert _statuses(second) == ["200", "201", "201", "201"]
    assert second["entry"][0]["response"]["location"].split("/_history")[0] == \
        first["entry"][0]["response"]["location"].split("/_history")[0]


def test_criteria_matching_two_resources_refuse_the_transaction(services: Services) -> None:
    submit = submitter(services)
    twins = [_practitioner(HPR, "3000", family) for family in ("En", "To")]
    for twin in twins:
        del twin["request"]["ifNoneExist"]  # plain creates: two Practitioners, one identifier
    assert _statuses(submit(_transaction(*twins))) == ["201", "201"]
    refused = submit(_transaction(_practitioner(HPR, "4000", "Ny"), _practitioner(HPR, "3000", "Igjen")))
    assert refused["resourceType"] == "OperationOutcome"
    assert "Bundle.entry[1]" in refused["issue"][0]["diagnostics"]
    assert "more than one" in refused["issue"][0]["diagnostics"]
