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


def test_a_match_answers_with_the_state_a_read_gives(services: Services) -> None:
    """A matched create answered minimally takes its state from the lookup that found it; it
    answers as one that reads the stored version (`Prefer: return=representation`)."""
    from fhirip.interactions.request import FhirRequest
    from fhirip.interactions.router import handle

    submit = submitter(services)
    created = submit(_transaction(_practitioner(HPR, "5000", "Lie")))
    res_id = created["entry"][0]["response"]["location"].split("/_history")[0].rsplit("/", 1)[1]
    revised = _practitioner(HPR, "5000", "Lie-Berg")
    revised["resource"]["id"] = res_id
    revised["request"] = {"method": "PUT", "url": f"Practitioner/{res_id}"}
    assert _statuses(submit(_transaction(revised))) == ["200"]  # now at version 2

    def answer(prefer: str) -> dict[str, Any]:
        request = FhirRequest(method="POST", resource=_transaction(_practitioner(HPR, "5000", "Lie")),
                              base_url="", prefer_return=prefer)
        response = handle(services, request, [], None, internal=True).resource
        return response["entry"][0]["response"]

    minimal, full = answer("minimal"), answer("representation")
    assert minimal["status"].startswith("200")
    assert minimal["location"] == full["location"]
    assert minimal["location"].endswith(f"Practitioner/{res_id}/_history/2")
    assert minimal["etag"] == full["etag"] == 'W/"2"'
