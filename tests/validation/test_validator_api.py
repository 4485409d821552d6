"""The Validator's public surface: which resources must conform, profile claims, served definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirip.terminology import TerminologyService
from fhirip.validation import Validator
from fhirip.validation.profiles import ProfileError, ProfileSet

SD = "http://fhirip.no/fhir/StructureDefinition"
EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def test_a_resource_claiming_an_ip_profile_must_conform(strict_validator: Validator) -> None:
    assert strict_validator.must_conform(example("ip-Goal-valid-brukers-mal.json"))
    goal = example("ip-Goal-valid-brukers-mal.json")
    del goal["meta"]
    assert not strict_validator.must_conform(goal)


def test_a_careplan_with_the_ip_category_must_conform_even_without_a_claim(
        example_validator: Validator) -> None:
    plan = example("ip-CarePlan-valid-aktiv.json")
    del plan["meta"]
    assert example_validator.must_conform(plan)
    del plan["careTeam"]
    assert any("ip-cp-2" in i.diagnostics for i in example_validator.validate(plan))


def test_extra_profiles_are_applied_as_if_claimed(example_validator: Validator) -> None:
    goal = example("ip-Goal-valid-brukers-mal.json")
    del goal["meta"], goal["subject"]
    assert not [i for i in example_validator.validate(goal) if "ip-Goal" in i.diagnostics]
    issues = example_validator.validate(goal, extra_profiles=[f"{SD}/ip-Goal"])
    assert ("Goal.subject",) in [i.expression for i in issues]


def test_claiming_an_unknown_project_profile_is_an_error(strict_validator: Validator) -> None:
    goal = example("ip-Goal-valid-uten-frist.json")
    goal["meta"] = {"profile": [f"{SD}/ip-Goal-v9"]}
    issues = strict_validator.validate(goal)
    assert [(i.severity, i.code) for i in issues if i.severity != "information"] == [
        ("error", "not-supported")]


def test_a_profile_for_another_type_is_an_error(strict_validator: Validator) -> None:
    goal = example("ip-Goal-valid-uten-frist.json")
    goal["meta"] = {"profile": [f"{SD}/ip-CarePlan"]}
    assert [i.code for i in strict_validator.validate(goal) if i.severity == "error"] == ["invalid"]


def test_project_binding_without_terminology_is_reported_as_not_checked(strict_validator: Validator) -> None:
    plan = example("ip-CarePlan-invalid-measure-status-code.json")
    issues = strict_validator.validate(plan)
    assert not [i for i in issues if i.code == "code-invalid"]
    assert any(i.severity == "information" and "ip-measure-status" in i.diagnostics for i in issues)


def test_extensible_binding_miss_is_a_warning(example_validator: Validator) -> None:
    goal = example("ip-Goal-valid-uten-frist.json")
    goal["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "fritid"
    issues = example_validator.validate(goal)
    assert [(i.severity, i.expression) for i in issues] == [
        ("warning", ("Goal.extension[0].valueCodeableConcept",))]


def test_served_definitions_include_every_profile_and_extension(strict_validator: Validator) -> None:
    ids = {sd["id"] for sd in strict_validator.all_profiles()}
    assert {"ip-CarePlan", "ip-Goal", "ip-CareTeam", "ip-Consent-plan", "ip-Consent-deling",
            "ip-EpisodeOfCare", "ip-Task", "ip-Patient", "ip-Practitioner", "ip-PractitionerRole",
            "ip-Organization", "ip-RelatedPerson", "ip-livsomrade", "ip-next-evaluation",
            "ip-legal-basis", "ip-measure-status", "ip-information-given", "ip-assessment"} <= ids
    assert strict_validator.profile(f"{SD}/ip-CarePlan|0.1.0")["type"] == "CarePlan"
    assert strict_validator.profile(f"{SD}/ip-measure-status")["type"] == "Extension"
    assert strict_validator.profile(f"{SD}/nothing") is None


def test_no_basis_derived_profiles_name_their_official_parent(strict_validator: Validator) -> None:
    for name in ("Patient", "Practitioner", "PractitionerRole", "Organization", "RelatedPerson"):
        sd = strict_validator.profile(f"{SD}/ip-{name}")
        assert sd["baseDefinition"] == f"http://hl7.no/fhir/StructureDefinition/no-basis-{name}"


def test_every_binding_names_a_published_value_set(strict_validator: Validator) -> None:
    terminology = TerminologyService()
    for sd in strict_validator.all_profiles():
        for element in sd["differential"]["element"]:
            url = element.get("binding", {}).get("valueSet")
            if url and url.startswith("http://fhirip.no/"):
                assert terminology.contains(url, "urn:x", "x") is not None, (sd["id"], url)


def test_unsupported_discriminator_is_refused_at_load(tmp_path: Path) -> None:
    sd = json.loads((EXAMPLES.parent / "ip-Patient.json").read_text(encoding="utf-8"))
    sd["differential"]["element"][1]["slicing"]["discriminator"][0]["type"] = "profile"
    (tmp_path / "ip-Patient.json").write_text(json.dumps(sd), encoding="utf-8")
    with pytest.raises(ProfileError, match="discriminator type 'profile'"):
        ProfileSet.load(tmp_path)
