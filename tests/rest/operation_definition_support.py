"""Helpers of the OperationDefinition tests: the published definitions, calls and a small plan world."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rest_checks import id_from_location

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.demo import synthetic_fnr
from fhirip.model.resources import RESOURCE_TYPES
from fhirip.testing.live import Fhir

HL7 = "http://hl7.org/fhir/OperationDefinition/"


OURS = OPERATION_DEFINITION + "/"


ACOS_SAMPLE = Path(__file__).resolve().parents[2] / "mappings" / "acos" / "samples" / "good" / "A-0002.xml"


FNR = "urn:oid:2.16.578.1.12.4.1.4.1"


VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"


GENERAL = ("_format", "_pretty", "_summary", "_elements")


BAD_VALUES = {"date": "2026-02-30", "integer": "many", "code": "no-such-code", "string": " ",
              "base64Binary": "***", "Reference": {"reference": "Observation/probe"}}


_people = itertools.count(300)


VALUE_KEYS = {"date": "valueDate", "integer": "valueInteger", "code": "valueCode", "string": "valueString",
              "base64Binary": "valueBase64Binary", "Reference": "valueReference"}








def declared_operations(statement: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """(operation entry, resource type or None for the system level) of the CapabilityStatement."""
    rest = statement["rest"][0]
    for entry in rest.get("operation", []):
        yield entry, None
    for resource in rest["resource"]:
        for entry in resource.get("operation", []):
            yield entry, resource["type"]


def levels_of(definition: dict[str, Any]) -> set[str]:
    return {level for level in ("system", "type", "instance") if definition[level]}


def inputs(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in definition["parameter"] if p["use"] == "in"]


def call(client: Fhir, definition: dict[str, Any], url: str, query: dict[str, str] | None = None,
         body: list[dict[str, Any]] | None = None):
    """GET with query parameters, or POST with a Parameters body when the operation changes data or
    takes a document (the handlers read inputs from one place: the query of a GET, the body of a POST)."""
    if posted(definition):
        return client.send_json("POST", url, {"resourceType": "Parameters", "parameter": body or []})
    return client.get(url, params=query or {})


def posted(definition: dict[str, Any]) -> bool:
    return definition["affectsState"] or any(p.get("type") == "base64Binary" for p in inputs(definition))


def urls(definition: dict[str, Any], level: str, types: list[str]) -> list[str]:
    code = definition["code"]
    if level == "system":
        return [f"/${code}"]
    return [f"/{t}/${code}" if level == "type" else f"/{t}/probe/${code}" for t in types]


def unknown_operation(response) -> bool:
    return response.status_code == 404 and "Unknown operation" in response.text


def probe_target(definition: dict[str, Any]) -> str:
    """A URL that reaches the handler; the instance does not exist (inputs are checked first)."""
    level = next(level for level in ("system", "type", "instance") if definition[level])
    return urls(definition, level, definition.get("resource", []))[0]


def valid_inputs(definition: dict[str, Any]) -> dict[str, Any]:
    """A value the handler accepts for every required input."""
    values = {"patient-identifier": f"{FNR}|00000000000", "coordinator": {"reference": "Practitioner/probe"},
              "note": "Overlevering", "format": "acos",
              "document": base64.b64encode(ACOS_SAMPLE.read_bytes()).decode("ascii")}
    return {p["name"]: values[p["name"]] for p in inputs(definition) if p["min"] >= 1}


def invoke(client: Fhir, definition: dict[str, Any], url: str, given: dict[str, Any]):
    types = {p["name"]: p["type"] for p in inputs(definition)}
    query = {name: value for name, value in given.items() if isinstance(value, str)}
    body = [{"name": name, VALUE_KEYS[types[name]]: value} for name, value in given.items()]
    return call(client, definition, url, query, body)


def names_it(response, name: str) -> bool:
    """The OperationOutcome points at the parameter (in an expression, or quoted in the message)."""
    outcome = response.json()
    if outcome.get("resourceType") != "OperationOutcome":
        return False
    issues = outcome["issue"]
    return any(name in expression for issue in issues for expression in issue.get("expression", [])) \
        or any(f"'{name}'" in issue["diagnostics"] or f"{name}=" in issue["diagnostics"] for issue in issues)


class ReadNames(dict):
    """A Parameters-by-name dict that remembers which names the handler looked up."""

    read: set[str]

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)




def assert_return(response, declared: dict[str, Any], where: str) -> None:
    if declared["type"] == "Binary":  # a document served as itself
        assert response.headers["Content-Type"].split(";")[0] in ("text/html", "application/pdf"), where
        assert response.content, where
    else:
        assert response.json()["resourceType"] == declared["type"], where


def assert_parameters(body: dict[str, Any], declared: dict[str, dict[str, Any]], where: str) -> None:
    assert body["resourceType"] == "Parameters", where
    given = body.get("parameter", [])
    for name, parameter in declared.items():
        count = sum(1 for p in given if p["name"] == name)
        assert count >= parameter["min"] and (parameter["max"] == "*" or count <= int(parameter["max"])), \
            (where, name, count)
    for item in given:
        parameter = declared.get(item["name"])
        assert parameter is not None, (where, item["name"])
        if "part" in parameter:
            assert_parameters({"resourceType": "Parameters", "parameter": item["part"]},
                              {p["name"]: p for p in parameter["part"]}, f"{where}.{item['name']}")
        elif parameter["type"] in RESOURCE_TYPES:
            assert item["resource"]["resourceType"] == parameter["type"], (where, item["name"])
        else:
            assert f"value{parameter['type'][0].upper()}{parameter['type'][1:]}" in item, (where, item)


class PlanWorld:
    """A person with an active individual plan and a coordinator, to invoke each operation on for real."""

    def __init__(self, client: Fhir):
        self.client = client
        self.fnr = synthetic_fnr(5, 6, 90, next(_people) * 3)
        patient = self.created({"resourceType": "Patient", "identifier": [{"system": FNR, "value": self.fnr}],
                                "name": [{"family": "Nordmann", "given": ["Kari"]}]})
        self.patient = patient
        self.coordinator = self.created(practitioner("Koordinatorsen"))
        self.incoming = self.created(practitioner("Nyansatt"))
        self.team = self.created({
            "resourceType": "CareTeam", "status": "active", "subject": {"reference": f"Patient/{patient}"},
            "participant": [{"role": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}],
                             "member": {"reference": f"Practitioner/{self.coordinator}"},
                             "period": {"start": "2026-01-15"}}]})
        self.plan = self.created({"resourceType": "CarePlan", "status": "draft", "intent": "plan",
                                  "title": "Individuell plan", "subject": {"reference": f"Patient/{patient}"},
                                  "careTeam": [{"reference": f"CareTeam/{self.team}"}]})

    def created(self, resource: dict[str, Any]) -> str:
        response = self.client.create(resource)
        assert response.status_code == 201, response.text
        return id_from_location(response.headers["Location"])

    def invoke(self, definition: dict[str, Any], *, only_required: bool = False):
        """The operation with every declared input (or every required one) given a valid value,
        on this world's resources."""
        values = {"patient-identifier": f"{FNR}|{self.fnr}", "date": "2026-03-01", "months": "6",
                  "format": "acos" if definition["system"] else "html", "note": "Søknad om avlastning i mai",
                  "coordinator": {"reference": f"Practitioner/{self.incoming}"}, "role": "8",
                  "document": base64.b64encode(ACOS_SAMPLE.read_bytes()).decode("ascii")}
        given = {p["name"]: values[p["name"]] for p in inputs(definition) if p["min"] >= 1 or not only_required}
        instance = {"Patient": self.patient, "CarePlan": self.plan, "CareTeam": self.team}
        if definition["system"]:
            url = f"/${definition['code']}"
        elif definition["type"]:
            url = f"/{definition['resource'][0]}/${definition['code']}"
        else:
            kind = definition["resource"][0]
            url = f"/{kind}/{instance[kind]}/${definition['code']}"
        return invoke(self.client, definition, url, given)


def practitioner(family: str) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "name": [{"family": family, "given": ["Ola"]}],
            "telecom": [{"system": "phone", "value": "+47 55 00 00 00", "use": "work"}]}


def walk(parameters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for parameter in parameters:
        yield parameter
        yield from walk(parameter.get("part", []))
