"""The published terminology files: valid FHIR, the agreed canonical URLs, consistent maps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhirip.canonical import CANONICAL_BASE
from fhirip.terminology import TERMINOLOGY_DIR
from term_support import VOLVEN_9034, codes, cs, out, vs

FILES = sorted(TERMINOLOGY_DIR.rglob("*.json"))
BOUND_NAMES = ("ip-careplan-category", "ip-livsomrade", "ip-measure-status",
               "ip-consent-category", "ip-careteam-role", "ip-relation", "ip-legal-basis")


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_file_is_a_valid_r4_resource_under_the_canonical_base(path: Path) -> None:
    resource = json.loads(path.read_text(encoding="utf-8"))
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert path.parent.name == resource["resourceType"]
    assert path.stem == resource["id"]
    if resource["url"] != VOLVEN_9034:
        assert resource["url"] == f"{CANONICAL_BASE}/{resource['resourceType']}/{resource['id']}"


@pytest.mark.parametrize("name", BOUND_NAMES)
def test_the_value_sets_the_profiles_bind_to_exist_with_their_code_systems(service, name) -> None:
    assert service.registry.find("ValueSet", vs(name)) is not None
    assert service.registry.find("CodeSystem", cs(name)) is not None


def test_every_published_value_set_expands_completely(service) -> None:
    for resource in service.resources():
        if resource["resourceType"] == "ValueSet":
            expansion = service.expand(resource["url"])
            assert expansion["expansion"]["total"] > 0, resource["url"]


def test_code_system_count_matches_its_concepts(service) -> None:
    for resource in service.resources():
        if resource["resourceType"] == "CodeSystem":
            index = service.expander.code_system(resource["url"])[0]
            assert resource["count"] == len(index.concepts), resource["url"]


def test_coordinator_codes_are_volven_9034_eight_and_eighteen(service) -> None:
    expansion = service.expand(vs("ip-coordinator-role"))
    assert {(c["system"], c["code"], c["display"]) for c in expansion["expansion"]["contains"]} == {
        (VOLVEN_9034, "8", "Koordinator Individuell plan"),
        (VOLVEN_9034, "18", "Koordinator (spesialisthelsetjenesteloven)")}
    assert {"8", "18"} <= set(codes(service.expand(vs("ip-careteam-role"))))


def test_every_concept_map_element_and_target_exists_in_its_code_system(service) -> None:
    for resource in service.resources():
        if resource["resourceType"] != "ConceptMap":
            continue
        for group in resource["group"]:
            for element in group["element"]:
                check = service.validate_code_in_system(group["source"], element["code"])
                assert out(check, "result") is True, (resource["id"], element["code"])
                for target in element["target"]:
                    check = service.validate_code_in_system(group["target"], target["code"],
                                                            target.get("display"))
                    assert out(check, "result") is True, (resource["id"], target, out(check, "message"))


def test_every_legacy_code_has_a_mapping(service) -> None:
    for resource in service.resources():
        if resource["resourceType"] != "ConceptMap" or not resource["id"].startswith("legacy-"):
            continue
        mapped = {e["code"] for g in resource["group"] for e in g["element"]}
        legacy_codes = set(codes(service.expand(resource["sourceCanonical"])))
        assert legacy_codes == mapped, resource["id"]


def test_measure_status_fhir_property_is_a_care_plan_activity_status(service) -> None:
    for code in codes(service.expand(vs("ip-measure-status"))):
        lookup = service.lookup(cs("ip-measure-status"), code)
        props = {p["part"][0]["valueCode"]: p["part"][1] for p in lookup["parameter"]
                 if p["name"] == "property"}
        fhir_status = props["fhir-status"]["valueCode"]
        assert service.contains("http://hl7.org/fhir/ValueSet/care-plan-activity-status",
                                "http://hl7.org/fhir/care-plan-activity-status", fhir_status)
