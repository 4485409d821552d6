"""Norwegian identifier rules: check digits and formats, looked up by Identifier.system.

Systems as the HL7 Norway no-basis profiles and NamingSystems define them
(http://hl7.no/fhir/StructureDefinition/no-basis-Patient, -Practitioner, -Organization).
No profile constrains the values themselves; the rules below come from the issuing
registers and are cited where they are implemented.

Never derive gender or birth date from a person number: from 2032 the individual
digits no longer say either (Skatteetaten, "Nytt fødselsnummer fra 2032").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"  # fødselsnummer (Skatteetaten)
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"  # D-nummer (Skatteetaten)
FHN = "urn:oid:2.16.578.1.12.4.1.4.3"  # felles hjelpenummer (Norsk helsenett); NOT H-nummer
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"  # helsepersonellnummer (Helsedirektoratet)
DUF = "urn:oid:2.16.578.1.12.4.1.4.5"  # DUF-nummer (UDI)
ENH = "urn:oid:2.16.578.1.12.4.1.4.101"  # organisasjonsnummer (Brønnøysundregistrene)
RESH = "urn:oid:2.16.578.1.12.4.1.4.102"  # RESH-id (Norsk helsenett)
HNR = "HNR"  # local H-nummer: no-basis-Patient fixes system to this literal string
HER = "urn:oid:2.16.578.1.12.4.1.2"  # HER-id (Adresseregisteret), message addressing only

# Kommunenummer is a code, not an Identifier: Coding.system is one of these.
MUNICIPALITY_SYSTEMS = frozenset({
    "urn:oid:2.16.578.1.12.4.1.1.3402",
    "https://register.geonorge.no/subregister/sosi-kodelister/kartverket/kommunenummer-alle",
    "https://register.geonorge.no/sosi-kodelister/kommunenummer",
    "http://hl7.no/fhir/NamingSystem/kommunenummer",
})

# The NamingSystems' alternative URIs name the same identifier types.
SYSTEM_ALIASES = {
    "http://hl7.no/fhir/NamingSystem/FNR": FNR,
    "http://hl7.no/fhir/NamingSystem/DNR": DNR,
    "http://hl7.no/fhir/NamingSystem/FHNR": FHN,
    "http://hl7.no/fhir/NamingSystem/HPR": HPR,
    "http://hl7.no/fhir/NamingSystem/DUFN": DUF,
    "http://data.brreg.no/begrep/28155": ENH,
    "http://hl7.no/fhir/NamingSystem/RESHid": RESH,
    "http://hl7.no/fhir/NamingSystem/HERid": HER,
}

SYSTEM_NAMES = {
    FNR: "fødselsnummer", DNR: "D-nummer", FHN: "felles hjelpenummer", HPR: "HPR-nummer",
    DUF: "DUF-nummer", ENH: "organisasjonsnummer", RESH: "RESH-id", HNR: "H-nummer",
    HER: "HER-id",
}

# Weights from Skatteetaten, "Nytt fødselsnummer fra 2032" (folkeregisteret API docs,
# section "Hvordan beregnes kontrollsifre etter 01.01.2032?"). Each list ends with the
# weight 1 of the control digit itself, so a check is "weighted sum mod 11".
K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2, 1)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
# Same source: "I dagens kontrollberegning må rest etter moduluskontrollen være lik 0.
# I ny kontrollberegning vil rest etter moduluskontrollen tillate 0, 1, 2 og 3", i.e.
# k1 = {11,12,13,14} - (S mod 11), taken mod 11; k2 is unchanged. Numbers issued from
# 1 Jan 2032 (for people born at any time) use it, and readers must accept both rules
# in parallel, so the 2032 rule is the one applied to fødselsnummer and D-nummer.
K1_REMAINDERS_LEGACY = frozenset({0})
K1_REMAINDERS_2032 = frozenset({0, 1, 2, 3})

ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2, 1)  # Brønnøysundregistrene, modulus 11

# Synthetic test populations shift the month: NAV's Dolly adds 40, Skatteetaten's
# Test-Norge/Tenor adds 80 (Test-Norge documentation: "syntetiske fnr/dnr hvor det er
# lagt til 80 på måned"). Accepted only when the caller allows synthetic numbers.
SYNTHETIC_MONTH_OFFSETS = (40, 80)

# Fylkesnummer (the first two digits of a kommunenummer): current counties (2024-),
# those of 2020-2023 and the ones before 2020, since stored codes may be expired, and
# 21-23 for Svalbard, Jan Mayen and the continental shelf. Source: SSB Klass
# classification 104 (fylkesinndeling) history; no machine-readable list is vendored.
COUNTY_NUMBERS = frozenset({
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "14", "15",
    "16", "17", "18", "19", "20", "21", "22", "23", "30", "31", "32", "33", "34", "38",
    "39", "40", "42", "46", "50", "54", "55", "56",
})

_DIGITS = re.compile(r"[0-9]+")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # century unknown: allow 29/2


@dataclass(frozen=True)
class IdentifierProblem:
    """Why a value is not a valid identifier of its system, and which rule says so."""

    rule: str
    message: str


def _weighted_remainder(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11


def person_number_check_digits_ok(number: str, *, rule_2032: bool = True) -> bool:
    """Control digits of an 11-digit fødselsnummer/D-nummer/H-nummer/FH-nummer."""
    if len(number) != 11 or not _DIGITS.fullmatch(number):
        return False
    allowed = K1_REMAINDERS_2032 if rule_2032 else K1_REMAINDERS_LEGACY
    return (_weighted_remainder(number[:10], K1_WEIGHTS) in allowed
            and _weighted_remainder(number, K2_WEIGHTS) == 0)


def _date_part_ok(day: int, month: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]


def _month_candidates(month: int, allow_synthetic: bool) -> list[int]:
    months = [month]
    if allow_synthetic:
        months += [month - offset for offset in SYNTHETIC_MONTH_OFFSETS if month > offset]
    return months


def _person_number_problems(value: str, *, kind: str, allow_synthetic: bool,
                            rule_2032: bool) -> list[IdentifierProblem]:
    if not _DIGITS.fullmatch(value) or len(value) != 11:
        return [IdentifierProblem("format", f"a {kind} has exactly 11 digits, got {value!r}")]
    day, month = int(value[0:2]), int(value[2:4])
    if kind == "D-nummer":
        if day < 41:
            return [IdentifierProblem(
                "d-number-day", f"a D-nummer has 40 added to the day (first digit 4-7); "
                f"{value[:2]!r} is not, so this looks like a fødselsnummer")]
        day -= 40
    elif kind == "fødselsnummer" and day > 40:
        return [IdentifierProblem(
            "fnr-day", f"day {value[:2]!r} has 40 added: this is a D-nummer, which uses "
            f"system {DNR}")]
    elif kind == "H-nummer":
        if not 41 <= month <= 52:
            return [IdentifierProblem(
                "h-number-month", f"an H-nummer has 40 added to the month (41-52), got {value[2:4]!r}")]
        month -= 40
    if kind == "felles hjelpenummer":
        if value[0] not in "89":
            return [IdentifierProblem(
                "fhn-first-digit", f"a felles hjelpenummer starts with 8 or 9, got {value[0]!r}")]
    elif not any(_date_part_ok(day, m) for m in _month_candidates(month, allow_synthetic)):
        synthetic = (" (synthetic test numbers with month +40/+80 are not accepted "
                     "in this configuration)" if not allow_synthetic and month > 12 else "")
        return [IdentifierProblem(
            "birth-date", f"the first six digits of a {kind} are a date (ddmmyy); "
            f"{value[:4]!r} is not a valid day and month{synthetic}")]
    if not person_number_check_digits_ok(value, rule_2032=rule_2032):
        rule = "the 2032 control-digit rule" if rule_2032 else "the control-digit rule"
        return [IdentifierProblem(
            "check-digit", f"wrong control digits for a {kind} (modulus 11, {rule}): {value!r}")]
    return []


def organisation_number_ok(value: str) -> bool:
    """Organisasjonsnummer: 9 digits, modulus 11 with weights 3,2,7,6,5,4,3,2."""
    return (len(value) == 9 and _DIGITS.fullmatch(value) is not None
            and _weighted_remainder(value, ORGNR_WEIGHTS) == 0)


def municipality_number_problems(code: str) -> list[IdentifierProblem]:
    """Kommunenummer: 4 digits, a known county prefix, and a municipality part 01-99."""
    if len(code) != 4 or not _DIGITS.fullmatch(code):
        return [IdentifierProblem("format", f"a kommunenummer has exactly 4 digits, got {code!r}")]
    if code[:2] not in COUNTY_NUMBERS:
        return [IdentifierProblem(
            "county", f"kommunenummer {code!r} does not start with a fylkesnummer")]
    if code[2:] == "00":
        return [IdentifierProblem("format", f"kommunenummer {code!r} ends in 00, which names no municipality")]
    return []


def canonical_system(system: str | None) -> str | None:
    """The OID form of a Norwegian identifier system, or the system as given."""
    if system is None:
        return None
    return SYSTEM_ALIASES.get(system, system)


def identifier_problems(system: str | None, value: str | None, *,
                        allow_synthetic: bool = False) -> list[IdentifierProblem]:
    """What is wrong with `value` as an identifier of `system`; [] when it is fine or the
    system is not one of the Norwegian systems this module knows."""
    system = canonical_system(system)
    if system not in SYSTEM_NAMES or value is None:
        return []
    kind = SYSTEM_NAMES[system]
    if system in (FNR, DNR):
        return _person_number_problems(value, kind=kind, allow_synthetic=allow_synthetic,
                                       rule_2032=True)
    if system in (FHN, HNR):
        # The 2032 rule is announced for fødselsnummer and D-nummer only.
        return _person_number_problems(value, kind=kind, allow_synthetic=allow_synthetic,
                                       rule_2032=False)
    if system == ENH:
        if len(value) != 9 or not _DIGITS.fullmatch(value):
            return [IdentifierProblem("format", f"an organisasjonsnummer has exactly 9 digits, got {value!r}")]
        if not organisation_number_ok(value):
            return [IdentifierProblem(
                "check-digit", f"wrong control digit for an organisasjonsnummer (modulus 11): {value!r}")]
        return []
    if system == DUF:
        if len(value) != 12 or not _DIGITS.fullmatch(value):
            return [IdentifierProblem("format", f"a DUF-nummer has exactly 12 digits, got {value!r}")]
        return []
    # HPR, RESH and HER: no check digit is published; digits only, at most 9 of them.
    if not _DIGITS.fullmatch(value) or len(value) > 9 or value.startswith("0"):
        return [IdentifierProblem(
            "format", f"a {kind} is a number of at most 9 digits without leading zero, got {value!r}")]
    return []
