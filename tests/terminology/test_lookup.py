"""CodeSystem $lookup and $subsumes."""

from __future__ import annotations

import pytest

from fhirip.errors import BadRequest, NotFound
from term_support import VOLVEN_9034, cs, out


def properties(result: dict) -> list[tuple[str, object]]:
    found = []
    for item in result["parameter"]:
        if item["name"] == "property":
            code, value = item["part"]
            found.append((code["valueCode"], next(v for k, v in value.items() if k != "name")))
    return found


def test_lookup_returns_name_version_display_and_designation(service) -> None:
    result = service.lookup(cs("ip-livsomrade"), "okonomi")
    assert out(result, "name") == "IpLivsomrade"
    assert out(result, "version") == "0.1.0"
    assert out(result, "display") == "Økonomi"
    designation = out(result, "designation")
    assert {p["name"]: list(p.values())[1] for p in designation} == {"language": "en",
                                                                      "value": "Finances"}


def test_lookup_returns_hierarchy_definition_and_properties(service) -> None:
    child = properties(service.lookup(cs("ip-careplan-category"), "kriseplan"))
    assert ("parent", "delplan") in child
    parent = properties(service.lookup(cs("ip-careplan-category"), "delplan"))
    assert {v for k, v in parent if k == "child"} == {
        "kriseplan", "individuell-opplaeringsplan", "rehabiliteringsplan"}
    status = dict(properties(service.lookup(cs("ip-measure-status"), "igangsatt")))
    assert status["fhir-status"] == "in-progress" and status["rekkefolge"] == 4
    assert "satt i gang" in status["definition"]
    law = dict(properties(service.lookup(cs("ip-legal-basis"), "helse-og-omsorgstjenesteloven")))
    assert law["paragraf"] == "§ 7-1, § 7-2, § 7-3"


def test_lookup_in_english(service) -> None:
    result = service.lookup(cs("ip-careteam-role"), "verge", display_language="en")
    assert out(result, "display") == "Guardian"


def test_lookup_of_volven_9034_through_its_alias(service) -> None:
    result = service.lookup("http://helsedir.no/fhir/CodeSystem/no-kodeverk-9034", "18")
    assert out(result, "display") == "Koordinator (spesialisthelsetjenesteloven)"
    assert service.lookup(VOLVEN_9034, "8")["parameter"][2]["valueString"] == (
        "Koordinator Individuell plan")


def test_lookup_errors_name_the_parameter(service) -> None:
    with pytest.raises(NotFound, match="Unknown code system 'http://example.org/x'") as error:
        service.lookup("http://example.org/x", "a")
    assert error.value.expression == ("system",)
    with pytest.raises(NotFound, match="Code 'fritid' is not in code system") as error:
        service.lookup(cs("ip-livsomrade"), "fritid")
    assert error.value.expression == ("code",)
    with pytest.raises(NotFound, match=r"ip-livsomrade\|9\.9"):
        service.lookup(cs("ip-livsomrade"), "helse", version="9.9")
    with pytest.raises(BadRequest, match="'code'"):
        service.lookup(cs("ip-livsomrade"), "")


@pytest.mark.parametrize("a, b, outcome", [
    ("delplan", "kriseplan", "subsumes"),
    ("kriseplan", "delplan", "subsumed-by"),
    ("kriseplan", "kriseplan", "equivalent"),
    ("individuell-plan", "kriseplan", "not-subsumed"),
])
def test_subsumes_follows_the_hierarchy(service, a, b, outcome) -> None:
    assert out(service.subsumes(cs("ip-careplan-category"), a, b), "outcome") == outcome


def test_subsumes_unknown_code_is_not_found(service) -> None:
    with pytest.raises(NotFound, match="codeB"):
        service.subsumes(cs("ip-careplan-category"), "delplan", "iop")
