"""ConceptMap $translate: forward, reverse, equivalence, unmapped rules, scope by value set."""

from __future__ import annotations

import pytest

from fhirip.errors import BadRequest, NotFound
from term_support import VOLVEN_9034, cm, codes, cs, matches, out, vs

ACTIVITY_STATUS = "http://hl7.org/fhir/care-plan-activity-status"


def test_forward_translation_reports_equivalence_and_the_map(service) -> None:
    result = service.translate(cm("legacy-planpro-measure-status"),
                               cs("legacy-planpro-measure-status"), "30")
    assert out(result, "result") is True
    assert matches(result) == [("equivalent", cs("ip-measure-status"), "sokt")]
    (match,) = [p for p in result["parameter"] if p["name"] == "match"]
    assert match["part"][2] == {"name": "source", "valueUri": cm("legacy-planpro-measure-status")}


def test_one_to_many_mapping_lists_every_target_best_first(service) -> None:
    result = service.translate(system=cs("ip-measure-status"), code="avsluttet")
    assert matches(result) == [("narrower", ACTIVITY_STATUS, "completed"),
                               ("narrower", ACTIVITY_STATUS, "stopped")]


def test_inexact_and_wider_equivalences_are_kept(service) -> None:
    sokt = service.translate(system=cs("ip-measure-status"), code="sokt")
    onsket = service.translate(system=cs("ip-measure-status"), code="onsket")
    assert matches(sokt) == [("inexact", ACTIVITY_STATUS, "scheduled")]
    assert matches(onsket) == [("wider", ACTIVITY_STATUS, "not-started")]


def test_reverse_translation_inverts_wider_and_narrower(service) -> None:
    result = service.translate(cm("ip-measure-status-to-activity-status"), ACTIVITY_STATUS,
                               "not-started", reverse=True)
    assert matches(result) == [("narrower", cs("ip-measure-status"), "onsket"),
                               ("narrower", cs("ip-measure-status"), "planlagt")]


@pytest.mark.parametrize("legacy", ["10", "20", "30", "40", "50"])
def test_planpro_measure_status_round_trips_without_loss(service, legacy) -> None:
    url = cm("legacy-planpro-measure-status")
    imported = service.map_code(url, legacy)
    exported = service.map_code(url, imported["code"], reverse=True)
    assert exported["code"] == legacy
    assert imported["system"] == cs("ip-measure-status")


def test_every_life_area_of_the_planpro_export_maps_and_maps_back(service) -> None:
    url = cm("legacy-planpro-livsomrade")
    for legacy in codes(service.expand(vs("legacy-planpro-livsomrade"))):
        target = service.map_code(url, legacy)
        assert target["system"] == cs("ip-livsomrade")
        assert service.map_code(url, target["code"], reverse=True)["code"] == legacy


def test_target_system_selects_the_group(service) -> None:
    url = cm("legacy-acos-role")
    coordinator = service.translate(url, cs("legacy-acos-role"), "Koordinator",
                                    target_system=VOLVEN_9034)
    assert matches(coordinator) == [("equivalent", VOLVEN_9034, "8")]
    elsewhere = service.translate(url, cs("legacy-acos-role"), "Koordinator",
                                  target_system=cs("ip-careteam-role"))
    assert out(elsewhere, "result") is False and matches(elsewhere) == []


def test_maps_are_found_by_source_and_target_value_sets(service) -> None:
    result = service.translate(system=cs("legacy-planpro-role"), code="KOORD",
                               source=vs("legacy-planpro-role"), target=vs("ip-careteam-role"))
    assert matches(result) == [("equivalent", VOLVEN_9034, "8")]
    none = service.translate(system=cs("legacy-planpro-role"), code="KOORD",
                             source=vs("ip-livsomrade"))
    assert out(none, "result") is False


def test_unmapped_code_gives_result_false_and_a_message(service) -> None:
    result = service.translate(cm("legacy-planpro-livsomrade"), cs("legacy-planpro-livsomrade"),
                               "FRITID")
    assert out(result, "result") is False
    assert "No mapping found for" in out(result, "message")
    assert service.map_code(cm("legacy-planpro-livsomrade"), "FRITID") is None


def test_group_unmapped_rules_provided_fixed_and_unmatched(service) -> None:
    concept_map = {"resourceType": "ConceptMap", "status": "active", "url": "http://example.org/cm",
                   "group": [
                       {"source": "http://example.org/a", "target": "http://example.org/b",
                        "element": [{"code": "x", "target": [{"equivalence": "unmatched"}]}],
                        "unmapped": {"mode": "provided"}},
                       {"source": "http://example.org/a", "target": "http://example.org/c",
                        "element": [], "unmapped": {"mode": "fixed", "code": "other",
                                                    "display": "Annet"}}]}
    provided = service.translate(system="http://example.org/a", code="y", concept_map=concept_map)
    assert matches(provided) == [("equal", "http://example.org/b", "y"),
                                 ("inexact", "http://example.org/c", "other")]
    unmatched = service.translate(system="http://example.org/a", code="x",
                                  target_system="http://example.org/b", concept_map=concept_map)
    assert out(unmatched, "result") is False
    assert matches(unmatched) == [("unmatched", None, None)]


def test_translate_errors(service) -> None:
    with pytest.raises(NotFound, match="Unknown concept map"):
        service.translate(cm("nope"), cs("ip-livsomrade"), "helse")
    with pytest.raises(BadRequest, match="'system'") as error:
        service.translate(cm("legacy-planpro-livsomrade"), code="BOLIG")
    assert error.value.expression == ("system",)
    with pytest.raises(BadRequest, match="'code', 'coding' or 'codeableConcept'"):
        service.translate(cm("legacy-planpro-livsomrade"), cs("legacy-planpro-livsomrade"))
