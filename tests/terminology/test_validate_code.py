"""$validate-code on value sets and code systems, and the fast contains() the validator uses."""

from __future__ import annotations

import pytest

from fhirip.errors import BadRequest, NotFound
from fhirip.terminology import TerminologyService
from term_support import V3_ROLE, VOLVEN_9034, cs, out, vs

HELSEDIR_9034 = "http://helsedir.no/fhir/CodeSystem/no-kodeverk-9034"


def test_code_in_value_set_is_valid_and_returns_its_display(service) -> None:
    result = service.validate_code(vs("ip-measure-status"), "sokt", cs("ip-measure-status"))
    assert out(result, "result") is True
    assert out(result, "display") == "Søkt"
    assert out(result, "message") is None


def test_any_display_or_designation_is_accepted(service) -> None:
    for display in ("Søkt", "søkt", "Applied for"):
        result = service.validate_code(vs("ip-measure-status"), "sokt", cs("ip-measure-status"),
                                       display)
        assert out(result, "result") is True, display
    mother = service.validate_code(vs("ip-relation"), "MTH", V3_ROLE, "mother")
    assert out(mother, "result") is True


def test_wrong_display_is_invalid_and_names_the_right_one(service) -> None:
    result = service.validate_code(vs("ip-coordinator-role"), "8", VOLVEN_9034, "Fastlege")
    assert out(result, "result") is False
    assert "'Fastlege'" in out(result, "message")
    assert out(result, "display") == "Koordinator Individuell plan"


def test_code_of_the_system_but_outside_the_value_set_is_invalid(service) -> None:
    result = service.validate_code(vs("ip-coordinator-role"), "6", VOLVEN_9034)
    assert out(result, "result") is False
    assert "is not in the value set" in out(result, "message")


def test_unknown_code_in_a_known_code_system_says_so(service) -> None:
    result = service.validate_code(vs("ip-livsomrade"), "fritid", cs("ip-livsomrade"))
    assert out(result, "result") is False
    assert out(result, "message") == f"Unknown code 'fritid' in code system {cs('ip-livsomrade')}"


def test_unknown_code_system_says_so(service) -> None:
    result = service.validate_code(vs("ip-livsomrade"), "helse", "http://example.org/livsomrade")
    assert out(result, "result") is False
    assert "Unknown code system 'http://example.org/livsomrade'" in out(result, "message")


def test_abstract_code_is_invalid_unless_abstract_is_allowed(service) -> None:
    value_set = {"resourceType": "ValueSet", "status": "active",
                 "compose": {"include": [{"system": cs("ip-consent-category")}]}}
    denied = service.validate_code(code="ip-grunnlag-plan", system=cs("ip-consent-category"),
                                   value_set=value_set)
    assert out(denied, "result") is False and "abstract" in out(denied, "message")
    allowed = service.validate_code(code="ip-grunnlag-plan", system=cs("ip-consent-category"),
                                    value_set=value_set, abstract=True)
    assert out(allowed, "result") is True


def test_code_without_system_is_found_when_unambiguous(service) -> None:
    assert out(service.validate_code(vs("ip-livsomrade"), "helse"), "result") is True
    assert out(service.validate_code(vs("ip-livsomrade"), "fritid"), "result") is False


def test_alias_uri_of_volven_9034_is_accepted(service) -> None:
    result = service.validate_code(vs("ip-coordinator-role"), "18", HELSEDIR_9034)
    assert out(result, "result") is True


def test_codeable_concept_is_valid_when_any_coding_is(service) -> None:
    concept = {"coding": [{"system": "http://example.org/local", "code": "x"},
                          {"system": VOLVEN_9034, "code": "8"}]}
    result = service.validate_code(vs("ip-careteam-role"), codeable_concept=concept)
    assert out(result, "result") is True
    assert out(result, "display") == "Koordinator Individuell plan"
    nothing = service.validate_code(vs("ip-careteam-role"),
                                    codeable_concept={"coding": [{"system": VOLVEN_9034, "code": "3"}]})
    assert out(nothing, "result") is False


def test_missing_and_contradictory_inputs_name_the_parameter(service) -> None:
    with pytest.raises(BadRequest, match="'code', 'coding' or 'codeableConcept'"):
        service.validate_code(vs("ip-livsomrade"))
    with pytest.raises(BadRequest, match="only one of the parameters code, coding") as error:
        service.validate_code(vs("ip-livsomrade"), "helse", coding={"code": "helse"})
    assert error.value.expression == ("coding",)
    with pytest.raises(BadRequest, match="'url'"):
        service.validate_code(code="helse")
    with pytest.raises(NotFound, match="Unknown value set"):
        service.validate_code(vs("nope"), "helse")


def test_code_system_validate_code(service) -> None:
    valid = service.validate_code_in_system(cs("ip-legal-basis"), "nav-loven")
    assert out(valid, "result") is True
    assert out(valid, "display") == "Arbeids- og velferdsforvaltningsloven (NAV-loven)"
    unknown = service.validate_code_in_system(cs("ip-legal-basis"), "arbeidsmiljoloven")
    assert out(unknown, "result") is False
    with pytest.raises(NotFound, match="Unknown code system"):
        service.validate_code_in_system("http://example.org/none", "x")


def test_code_missing_from_a_fragment_cannot_be_validated(service) -> None:
    result = service.validate_code_in_system(VOLVEN_9034, "1")
    assert out(result, "result") is False
    assert "fragment copy" in out(result, "message")


# ---------------------------------------------------------------- contains()
def test_contains_answers_true_false_and_unknown(service) -> None:
    assert service.contains(vs("ip-careteam-role"), VOLVEN_9034, "8") is True
    assert service.contains(vs("ip-careteam-role"), HELSEDIR_9034, "18") is True
    assert service.contains(vs("ip-careteam-role"), VOLVEN_9034, "3") is False
    assert service.contains(vs("ip-careteam-role"), cs("ip-careteam-role"), "fagperson") is True
    assert service.contains(vs("ip-careteam-role"), None, "bruker") is True
    assert service.contains(vs("ip-careteam-role"), None, "ukjent") is False
    assert service.contains(vs("no-such-value-set"), VOLVEN_9034, "8") is None


def test_contains_rejects_abstract_concepts() -> None:
    whole = {"resourceType": "ValueSet", "status": "active", "url": "http://example.org/ValueSet/all",
             "compose": {"include": [{"system": cs("ip-consent-category")}]}}
    service = TerminologyService(extra=lambda kind, url: whole if url == whole["url"] else None)
    assert service.contains(whole["url"], cs("ip-consent-category"), "ip-samtykke-plan") is True
    assert service.contains(whole["url"], cs("ip-consent-category"), "ip-grunnlag-plan") is False
    assert service.contains(whole["url"], None, "ip-grunnlag-plan") is False


def test_contains_answers_base_required_bindings_with_versions(service) -> None:
    url = "http://hl7.org/fhir/ValueSet/care-plan-activity-status|4.0.1"
    system = "http://hl7.org/fhir/care-plan-activity-status"
    assert service.contains(url, system, "stopped") is True
    assert service.contains(url, system, "bogus") is False
    assert service.contains("http://hl7.org/fhir/ValueSet/care-plan-activity-status|3.0.2",
                            system, "stopped") is None


def test_contains_is_unknown_for_code_systems_not_held_here(service) -> None:
    mimetypes = "http://hl7.org/fhir/ValueSet/mimetypes"
    assert service.contains(mimetypes, "urn:ietf:bcp:13", "text/plain") is None
    assert service.contains(mimetypes, "http://example.org/other", "text/plain") is False
