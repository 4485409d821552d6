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

from collections.abc import Iterator
from typing import Any

import pytest
from operation_definition_support import (
    BAD_VALUES,
    GENERAL,
    HL7,
    OURS,
    PlanWorld,
    ReadNames,
    assert_parameters,
    assert_return,
    call,
    declared_operations,
    inputs,
    invoke,
    names_it,
    probe_target,
    unknown_operation,
    urls,
    valid_inputs,
    walk,
)

from fhirip import operations
from fhirip.conformance import load_conformance
from fhirip.interactions.request import FhirRequest
from fhirip.model.resources import RESOURCE_TYPES
from fhirip.subscriptions.notification import BACKPORT
from fhirip.testing.live import Fhir, LiveServer


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


def test_every_dispatchable_operation_is_declared_with_its_definition(statement):
    declared = {(entry["name"], where, entry["definition"]) for entry, where in declared_operations(statement)}
    for operation in operations.all_operations():
        assert operation.definition, f"${operation.name} has no OperationDefinition"
        places = [None] if "system" in operation.levels else []
        if operation.levels & {"type", "instance"}:
            places += sorted(operation.resource_types or RESOURCE_TYPES)
        for where in places:
            assert (operation.name, where, operation.definition) in declared, (operation.name, where)


# The Bulk Data Access IG defines $export at each level under its own canonical base.
BULK_DATA = {None: "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
             "Patient": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
             "Group": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"}


def test_standard_operations_name_the_official_definition(statement):
    for entry, where in declared_operations(statement):
        if entry["definition"].startswith(OURS):
            continue
        if entry["name"] == "export":
            assert entry["definition"] == BULK_DATA[where], entry
            continue
        if entry["definition"].startswith(BACKPORT):  # the R4 Subscriptions Backport IG: $status, $events
            assert where == "Subscription" and \
                entry["definition"] == f"{BACKPORT}/OperationDefinition/backport-subscription-{entry['name']}"
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


def test_each_definition_runs_at_its_levels_and_nowhere_else(published, definitions):
    for definition in definitions.values():
        for level in ("system", "type", "instance"):
            for url in urls(definition, level, definition.get("resource", ["CarePlan"])):
                response = call(published, definition, url)
                assert unknown_operation(response) != definition[level], (url, response.text)
        if definition["type"] or definition["instance"]:
            for url in urls(definition, "type" if definition["type"] else "instance", ["Basic"]):
                assert unknown_operation(call(published, definition, url)), url


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
