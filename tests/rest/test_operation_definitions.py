"""Every operation the server dispatches is declared with an OperationDefinition that tells the truth.

https://hl7.org/fhir/R4/operationdefinition.html
https://hl7.org/fhir/R4/capabilitystatement-definitions.html#CapabilityStatement.rest.resource.operation

The project's own operations are defined in profiles/operations/ and served like
any conformance resource; the standard ones ($validate and the terminology
operations) point at the official definitions. Through HTTP, on both stores:
the CapabilityStatement names a definition for each operation at the level it
runs; each project definition resolves; its levels are where the router
dispatches it; each declared input is one the handler reads (a bad value or a
missing required one is refused naming it), the handler reads no undeclared
input, and what comes back has the declared outputs.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_checks import id_from_location

from fhirip import operations
from fhirip.canonical import OPERATION_DEFINITION
from fhirip.conformance import load_conformance
from fhirip.demo import synthetic_fnr
from fhirip.interactions.request import FhirRequest
from fhirip.model.resources import RESOURCE_TYPES
from fhirip.testing.live import Fhir, LiveServer

HL7 = "http://hl7.org/fhir/OperationDefinition/"
OURS = OPERATION_DEFINITION + "/"
ACOS_SAMPLE = Path(__file__).resolve().parents[2] / "mappings" / "acos" / "samples" / "good" / "A-0002.xml"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
# Parameters of every request (https://hl7.org/fhir/R4/http.html#parameters), not of one operation.
GENERAL = ("_format", "_pretty", "_summary", "_elements")
# A value each parameter type refuses (the handlers check values before they read any data).
BAD_VALUES = {"date": "2026-02-30", "integer": "many", "code": "no-such-code", "string": " ",
              "base64Binary": "***", "Reference": {"reference": "Observation/probe"}}
_people = itertools.count(300)
VALUE_KEYS = {"date": "valueDate", "integer": "valueInteger", "code": "valueCode", "string": "valueString",
              "base64Binary": "valueBase64Binary", "Reference": "valueReference"}


@pytest.fixture(scope="module")
def published(live_server: LiveServer, system_token: str) -> Iterator[Fhir]:
    """A client of a store holding the conformance resources, written as the server writes them at start."""
    live_server.reset()
    load_conformance(live_server.services)
    with Fhir(base_url=live_server.url, timeout=30,
              headers={"Authorization": f"Bearer {system_token}"}) as client:
        yield client


@pytest.fixture(scope="module")
def statement(published: Fhir) -> dict[str, Any]:
    response = published.get("/metadata")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def definitions(published: Fhir, statement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The project's definitions named in the CapabilityStatement, read back by GET, by canonical."""
    found = {}
    for canonical in sorted({entry["definition"] for entry, _ in declared_operations(statement)
                             if entry["definition"].startswith(OURS)}):
        response = published.get(f"/OperationDefinition/{canonical.removeprefix(OURS)}")
        assert response.status_code == 200, (canonical, response.text)
        found[canonical] = response.json()
    return found


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


# -- the CapabilityStatement ----------------------------------------------------------------------

def test_every_dispatchable_operation_is_declared_with_its_definition(statement):
    declared = {(entry["name"], where, entry["definition"]) for entry, where in declared_operations(statement)}
    for operation in operations.all_operations():
        assert operation.definition, f"${operation.name} has no OperationDefinition"
        places = [None] if "system" in operation.levels else []
        if operation.levels & {"type", "instance"}:
            places += sorted(operation.resource_types or RESOURCE_TYPES)
        for where in places:
            assert (operation.name, where, operation.definition) in declared, (operation.name, where)


def test_standard_operations_name_the_official_definition(statement):
    for entry, where in declared_operations(statement):
        if entry["definition"].startswith(OURS):
            continue
        operation = operations.find(entry["name"], "type" if where else "system", where)
        base = "Resource" if operation is not None and operation.resource_types is None else where
        assert entry["definition"] == f"{HL7}{base}-{entry['name']}", entry


def test_each_project_definition_resolves_by_read_and_by_url(published, definitions):
    assert len(definitions) >= 10
    for canonical, definition in definitions.items():
        assert definition["url"] == canonical
        found = published.get("/OperationDefinition", params={"url": canonical}).json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [definition["id"]], canonical
    stored = published.get("/OperationDefinition", params={"_count": "100"}).json()
    assert sorted(e["resource"]["url"] for e in stored["entry"]) == sorted(definitions), \
        "a published definition that no operation names"


def test_each_definition_is_declared_where_it_says_it_runs(statement, definitions):
    for entry, where in declared_operations(statement):
        definition = definitions.get(entry["definition"])
        if definition is None:
            continue
        assert definition["code"] == entry["name"], entry
        if where is None:
            assert definition["system"], entry
        else:
            assert where in definition["resource"] and (definition["type"] or definition["instance"]), entry


# -- levels: where the router dispatches ----------------------------------------------------------

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


def test_each_definition_runs_at_its_levels_and_nowhere_else(published, definitions):
    for definition in definitions.values():
        for level in ("system", "type", "instance"):
            for url in urls(definition, level, definition.get("resource", ["CarePlan"])):
                response = call(published, definition, url)
                assert unknown_operation(response) != definition[level], (url, response.text)
        if definition["type"] or definition["instance"]:
            for url in urls(definition, "type" if definition["type"] else "instance", ["Basic"]):
                assert unknown_operation(call(published, definition, url)), url


# -- inputs: each declared one is read, nothing else is ------------------------------------------

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


def test_a_bad_value_of_each_declared_input_is_refused_naming_it(published, definitions):
    probed = 0
    for definition in definitions.values():
        for parameter in inputs(definition):
            given = {**valid_inputs(definition), parameter["name"]: BAD_VALUES[parameter["type"]]}
            response = invoke(published, definition, probe_target(definition), given)
            assert response.status_code in (400, 406), (definition["id"], parameter["name"], response.text)
            assert names_it(response, parameter["name"]), (definition["id"], parameter["name"], response.text)
            probed += 1
    assert probed >= 12


def test_a_missing_required_input_is_refused_naming_it(published, definitions):
    for definition in definitions.values():
        for parameter in inputs(definition):
            if parameter["min"] < 1:
                continue
            given = {k: v for k, v in valid_inputs(definition).items() if k != parameter["name"]}
            response = invoke(published, definition, probe_target(definition), given)
            assert response.status_code == 400, (definition["id"], parameter["name"], response.text)
            assert names_it(response, parameter["name"]), (definition["id"], parameter["name"], response.text)


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


@pytest.fixture
def names_read(monkeypatch) -> set[str]:
    """Every input name a handler reads: query parameters, and the Parameters body of the plan operations."""
    read: set[str] = set()
    original_param = FhirRequest.param

    def param(self, name):
        read.add(name)
        return original_param(self, name)

    monkeypatch.setattr(FhirRequest, "param", param)
    for module_name in operations.BUILT_IN:
        module = __import__(module_name, fromlist=["_"])
        reader = getattr(module, "input_parameters", None)
        if reader is not None:
            def recording(req, reader=reader):
                found = ReadNames(reader(req))
                found.read = read
                return found
            monkeypatch.setattr(module, "input_parameters", recording)
    return read


def test_no_handler_reads_an_input_its_definition_does_not_declare(published, definitions, names_read):
    world = PlanWorld(published)
    for definition in definitions.values():
        names_read.clear()
        response = world.invoke(definition)
        assert response.status_code == 200, (definition["id"], response.text)
        undeclared = {n for n in names_read if n not in GENERAL} - {p["name"] for p in inputs(definition)}
        assert not undeclared, (definition["id"], undeclared)


def test_the_optional_inputs_may_be_left_out(published, definitions):
    world = PlanWorld(published)
    for definition in definitions.values():
        response = world.invoke(definition, only_required=True)
        assert response.status_code == 200, (definition["id"], response.text)


# -- outputs -------------------------------------------------------------------------------------

def test_each_operation_returns_what_its_definition_declares(published, definitions):
    world = PlanWorld(published)
    for definition in definitions.values():
        response = world.invoke(definition)
        assert response.status_code == 200, (definition["id"], response.text)
        outputs = {p["name"]: p for p in definition["parameter"] if p["use"] == "out"}
        if set(outputs) == {"return"}:
            assert_return(response, outputs["return"], definition["id"])
        else:
            assert_parameters(response.json(), outputs, definition["id"])


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


# -- validity ------------------------------------------------------------------------------------

def test_each_project_definition_is_valid(published, definitions):
    for canonical, definition in definitions.items():
        outcome = published.send_json("POST", "/OperationDefinition/$validate", definition).json()
        errors = [i for i in outcome.get("issue", []) if i["severity"] in ("error", "fatal")]
        assert not errors, (canonical, errors)


def test_each_parameter_is_documented_and_typed_as_the_specification_requires(published, definitions):
    """The parameter rules of OperationDefinition (opd-1, opd-2, opd-3) and the all-types binding."""
    for definition in definitions.values():
        if definition["type"] or definition["instance"]:
            assert definition["resource"], definition["id"]
        seen = set()
        for parameter in walk(definition["parameter"]):
            where = (definition["id"], parameter["name"])
            assert parameter["documentation"].strip(), where
            assert parameter["use"] in ("in", "out") and parameter["min"] >= 0, where
            assert parameter["max"] == "*" or int(parameter["max"]) >= max(parameter["min"], 1), where
            assert ("type" in parameter) != ("part" in parameter), where  # opd-1
            assert "searchType" not in parameter or parameter["type"] == "string", where  # opd-2
            assert "targetProfile" not in parameter or parameter["type"] in ("Reference", "canonical"), where
            if "type" in parameter:
                seen.add(parameter["type"])
        for fhir_type in seen:
            system = "http://hl7.org/fhir/" + ("resource-types" if fhir_type in RESOURCE_TYPES else "data-types")
            answer = published.get("/ValueSet/$validate-code", params={
                "url": "http://hl7.org/fhir/ValueSet/all-types", "system": system, "code": fhir_type}).json()
            assert {"name": "result", "valueBoolean": True} in answer["parameter"], (fhir_type, answer)


def walk(parameters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for parameter in parameters:
        yield parameter
        yield from walk(parameter.get("part", []))
