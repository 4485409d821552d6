"""Norwegian identifier rules: check digits (incl. the 2032 rule), formats, systems, synthetic numbers."""

from __future__ import annotations

import pytest

from fhirip.validation import Validator
from fhirip.validation.identifiers import (
    DNR, DUF, ENH, FHN, FNR, HNR, HPR, identifier_problems, municipality_number_problems,
    organisation_number_ok, person_number_check_digits_ok,
)


def rules(system: str, value: str, **kw) -> list[str]:
    return [p.rule for p in identifier_problems(system, value, **kw)]


# Skatteetaten's worked examples ("Nytt fødselsnummer fra 2032").
@pytest.mark.parametrize("number", ["02013299997", "30108299920"])
def test_skatteetaten_examples_pass_both_rules(number: str) -> None:
    assert person_number_check_digits_ok(number, rule_2032=False)
    assert person_number_check_digits_ok(number, rule_2032=True)
    assert rules(FNR, number) == []


def test_first_control_digit_with_remainder_1_passes_only_under_the_2032_rule() -> None:
    assert not person_number_check_digits_ok("30108299939", rule_2032=False)
    assert person_number_check_digits_ok("30108299939", rule_2032=True)
    assert rules(FNR, "30108299939") == []


def test_remainder_4_is_rejected_even_under_the_2032_rule() -> None:
    # 301082999 + k1: weighted sum 196 ≡ 9 (mod 11); k1 = 6 gives remainder 4 (15 mod 11).
    prefix = "3010829996"
    assert all(not person_number_check_digits_ok(prefix + str(k2)) for k2 in range(10))


def test_wrong_check_digit_is_rejected() -> None:
    assert rules(FNR, "30108299921") == ["check-digit"]


@pytest.mark.parametrize("value", ["3010829992", "301082999200", "3010829992A", " 30108299920"])
def test_wrong_length_or_non_digits_is_rejected(value: str) -> None:
    assert rules(FNR, value) == ["format"]


def test_impossible_birth_date_is_rejected() -> None:
    assert rules(FNR, "31028299900")[0] == "birth-date"
    assert rules(FNR, "32018299900")[0] == "birth-date"


def test_d_number_under_the_fodselsnummer_system_is_rejected() -> None:
    assert rules(FNR, "70019950032") == ["fnr-day"]
    assert rules(DNR, "70019950032") == []


def test_fodselsnummer_under_the_d_number_system_is_rejected() -> None:
    assert rules(DNR, "30108299920") == ["d-number-day"]


def test_synthetic_test_norge_number_is_accepted_only_when_configured() -> None:
    synthetic = "12888540006"  # 12.08.85 with 80 added to the month
    assert rules(FNR, synthetic) == ["birth-date"]
    assert "synthetic" in identifier_problems(FNR, synthetic)[0].message
    assert rules(FNR, synthetic, allow_synthetic=True) == []


def test_synthetic_d_number_is_accepted_only_when_configured() -> None:
    assert rules(DNR, "55878830007") == ["birth-date"]
    assert rules(DNR, "55878830007", allow_synthetic=True) == []


def test_felles_hjelpenummer_starts_with_8_or_9() -> None:
    assert rules(FHN, "30108299920") == ["fhn-first-digit"]


def test_h_number_has_forty_added_to_the_month() -> None:
    assert rules(HNR, "30108299920") == ["h-number-month"]


def test_organisation_number_modulus_11() -> None:
    for valid in ("874716782", "993467049", "974589095"):
        assert organisation_number_ok(valid)
    assert rules(ENH, "874716783") == ["check-digit"]
    assert rules(ENH, "87471678") == ["format"]


def test_hpr_number_is_digits_only() -> None:
    assert rules(HPR, "9144889") == []
    assert rules(HPR, "9144-889") == ["format"]
    assert rules(HPR, "1234567890") == ["format"]


def test_duf_number_has_twelve_digits() -> None:
    assert rules(DUF, "201912345678") == []
    assert rules(DUF, "20191234567") == ["format"]


def test_unknown_system_is_not_checked() -> None:
    assert identifier_problems("urn:oid:1.2.3", "anything") == []


@pytest.mark.parametrize("code, rule", [("4601", None), ("0301", None), ("3005", None), ("301", "format"),
                                        ("6001", "county"), ("4600", "format")])
def test_kommunenummer(code: str, rule: str | None) -> None:
    found = [p.rule for p in municipality_number_problems(code)]
    assert found == ([rule] if rule else [])


def patient(system: str, value: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": value}],
            "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}}


def test_bad_identifier_issue_names_the_element_and_the_rule(strict_validator: Validator) -> None:
    issues = strict_validator.validate(patient(FNR, "30108299921"))
    assert [(i.severity, i.expression) for i in issues] == [("error", ("Patient.identifier[0].value",))]
    assert "fødselsnummer" in issues[0].diagnostics and "check-digit" in issues[0].diagnostics


def test_naming_system_uri_is_checked_like_the_oid(strict_validator: Validator) -> None:
    issues = strict_validator.validate(patient("http://hl7.no/fhir/NamingSystem/FNR", "30108299921"))
    assert [i.expression for i in issues] == [("Patient.identifier[0].value",)]


def test_identifier_rules_apply_inside_references(strict_validator: Validator) -> None:
    plan = {"resourceType": "CarePlan", "status": "draft", "intent": "plan",
            "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
            "subject": {"identifier": {"system": FNR, "value": "3010829992"}}}
    issues = strict_validator.validate(plan)
    assert [i.expression for i in issues] == [("CarePlan.subject.identifier.value",)]


def test_validator_accepts_synthetic_numbers_only_when_configured(strict_validator: Validator) -> None:
    assert strict_validator.validate(patient(FNR, "12888540006"))
    assert Validator(allow_synthetic_identifiers=True).validate(patient(FNR, "12888540006")) == []
