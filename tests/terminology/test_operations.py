"""The FHIR operation entry points: query pairs and Parameters bodies in, resources out."""

from __future__ import annotations

import pytest

from fhirip.errors import BadRequest, MethodNotAllowed, NotFound
from fhirip.terminology.operations import OPERATIONS, capability_operations, run
from term_support import VOLVEN_9034, cm, codes, cs, matches, out, vs


def body(*parameters: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(parameters)}


def test_expand_from_query_parameters_with_filter_and_paging(service) -> None:
    result = run(service, "$expand", "ValueSet", None,
                 [("url", vs("ip-legal-basis")), ("filter", "loven"), ("offset", "2"),
                  ("count", "2"), ("_format", "json")], None)
    assert result["resourceType"] == "ValueSet"
    assert result["expansion"]["total"] == 8 and result["expansion"]["offset"] == 2
    assert codes(result) == ["spesialisthelsetjenesteloven", "psykisk-helsevernloven"]


def test_expand_an_instance_and_a_value_set_posted_in_the_body(service) -> None:
    stored = service.registry.find("ValueSet", vs("ip-coordinator-role")).resource
    assert codes(run(service, "expand", "ValueSet", stored, [], None)) == ["8", "18"]
    posted = {"resourceType": "ValueSet", "status": "active",
              "compose": {"include": [{"system": cs("ip-careplan-category"),
                                       "filter": [{"property": "concept", "op": "is-a",
                                                   "value": "delplan"}]}]}}
    result = run(service, "expand", "ValueSet", None, [],
                 body({"name": "valueSet", "resource": posted},
                      {"name": "count", "valueInteger": 1}))
    assert codes(result) == ["delplan"] and result["expansion"]["total"] == 4


def test_instance_not_in_the_registry_is_expanded_as_given(service) -> None:
    stored = {"resourceType": "ValueSet", "id": "x", "status": "active",
              "url": "http://kommune.example/ValueSet/x",
              "compose": {"include": [{"system": cs("ip-livsomrade"), "concept": [{"code": "helse"}]}]}}
    assert codes(run(service, "expand", "ValueSet", stored, [], None)) == ["helse"]


def test_instance_url_must_not_be_contradicted(service) -> None:
    stored = service.registry.find("ValueSet", vs("ip-coordinator-role")).resource
    with pytest.raises(BadRequest, match="contradicts the instance"):
        run(service, "expand", "ValueSet", stored, [("url", vs("ip-livsomrade"))], None)


def test_bad_parameter_values_and_unknown_parameters_are_named(service) -> None:
    with pytest.raises(BadRequest, match="'count' must be an integer, got 'ten'") as error:
        run(service, "expand", "ValueSet", None, [("url", vs("ip-livsomrade")), ("count", "ten")],
            None)
    assert error.value.expression == ("count",)
    with pytest.raises(BadRequest, match="Unknown parameter 'colour'"):
        run(service, "expand", "ValueSet", None, [("colour", "red")], None)
    with pytest.raises(BadRequest, match="'valueSet' .* Parameters body"):
        run(service, "expand", "ValueSet", None, [("valueSet", "{}")], None)
    with pytest.raises(BadRequest, match="valueInteger"):
        run(service, "expand", "ValueSet", None, [],
            body({"name": "url", "valueUri": vs("ip-livsomrade")},
                 {"name": "count", "valueString": "3"}))
    with pytest.raises(BadRequest, match="must be a Parameters resource"):
        run(service, "expand", "ValueSet", None, [], {"resourceType": "ValueSet"})
    with pytest.raises(BadRequest, match="'reverse' must be true or false"):
        run(service, "translate", "ConceptMap", None, [("reverse", "yes")], None)


def test_unknown_value_set_through_the_operation_is_not_found(service) -> None:
    with pytest.raises(NotFound):
        run(service, "expand", "ValueSet", None, [("url", vs("missing"))], None)


def test_validate_code_on_value_set_and_code_system(service) -> None:
    result = run(service, "$validate-code", "ValueSet", None,
                 [("url", vs("ip-careteam-role")), ("system", VOLVEN_9034), ("code", "18")], None)
    assert out(result, "result") is True
    result = run(service, "validate-code", "ValueSet", None, [],
                 body({"name": "url", "valueUri": vs("ip-careteam-role")},
                      {"name": "codeableConcept",
                       "valueCodeableConcept": {"coding": [{"system": VOLVEN_9034, "code": "3"}]}}))
    assert out(result, "result") is False
    system = service.registry.find("CodeSystem", cs("ip-livsomrade")).resource
    result = run(service, "validate-code", "CodeSystem", system, [("code", "helse")], None)
    assert out(result, "result") is True and out(result, "display") == "Helse"


def test_lookup_by_coding_token_and_on_an_instance(service) -> None:
    result = run(service, "lookup", "CodeSystem", None,
                 [("coding", f"{cs('ip-measure-status')}|igangsatt"), ("property", "fhir-status"),
                  ("property", "parent")], None)
    assert out(result, "display") == "Igangsatt"
    system = service.registry.find("CodeSystem", VOLVEN_9034).resource
    assert out(run(service, "lookup", "CodeSystem", system, [("code", "8")], None),
               "display") == "Koordinator Individuell plan"
    with pytest.raises(BadRequest, match="either 'code'"):
        run(service, "lookup", "CodeSystem", None,
            [("code", "helse"), ("coding", f"{cs('ip-livsomrade')}|helse")], None)


def test_subsumes_through_the_operation(service) -> None:
    result = run(service, "subsumes", "CodeSystem", None,
                 [("system", cs("ip-legal-basis")), ("codeA", "tvungent-psykisk-helsevern"),
                  ("codeB", "tvungent-ettervern")], None)
    assert out(result, "outcome") == "subsumes"


def test_translate_through_query_and_body(service) -> None:
    result = run(service, "translate", "ConceptMap", None,
                 [("url", cm("legacy-planpro-livsomrade")), ("system", cs("legacy-planpro-livsomrade")),
                  ("code", "ARBEID")], None)
    assert matches(result) == [("equivalent", cs("ip-livsomrade"), "arbeid-og-aktivitet")]
    concept_map = service.registry.find("ConceptMap", cm("legacy-planpro-measure-status")).resource
    result = run(service, "translate", "ConceptMap", concept_map, [],
                 body({"name": "coding", "valueCoding": {"system": cs("ip-measure-status"),
                                                         "code": "igangsatt"}},
                      {"name": "reverse", "valueBoolean": True}))
    assert matches(result) == [("equivalent", cs("legacy-planpro-measure-status"), "40")]


def test_unsupported_operation_is_method_not_allowed(service) -> None:
    with pytest.raises(MethodNotAllowed, match=r"\$closure"):
        run(service, "$closure", "ConceptMap", None, [], None)
    with pytest.raises(MethodNotAllowed):
        run(service, "expand", "CodeSystem", None, [], None)


def test_capability_metadata_names_the_official_operation_definitions() -> None:
    assert capability_operations("ValueSet") == [
        {"name": "expand", "definition": "http://hl7.org/fhir/OperationDefinition/ValueSet-expand"},
        {"name": "validate-code",
         "definition": "http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code"}]
    assert {op.definition.rsplit("/", 1)[1] for op in OPERATIONS} == {
        "ValueSet-expand", "ValueSet-validate-code", "CodeSystem-validate-code",
        "CodeSystem-lookup", "CodeSystem-subsumes", "ConceptMap-translate"}
    assert capability_operations("Patient") == []
