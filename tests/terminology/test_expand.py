"""ValueSet $expand: compose rules, hierarchy filters, imports, text filter and paging, caching."""

from __future__ import annotations

import pytest

from fhirip.errors import BadRequest, NotFound, PayloadTooLarge
from fhirip.terminology import TerminologyService
from term_support import V3_ROLE, VOLVEN_9034, codes, cs, vs

LIVSOMRADER = ["bolig-og-dagligliv", "okonomi", "helse", "arbeid-og-aktivitet",
               "sosialt-fellesskap", "skole-utdanning"]


def inline(*includes: dict, exclude: list[dict] | None = None, **extra) -> dict:
    compose: dict = {"include": list(includes)}
    if exclude:
        compose["exclude"] = exclude
    return {"resourceType": "ValueSet", "status": "active", "compose": compose, **extra}


def test_whole_system_include_lists_every_concept_in_order(service) -> None:
    expansion = service.expand(vs("ip-livsomrade"))
    assert codes(expansion) == LIVSOMRADER
    assert expansion["expansion"]["total"] == 6
    assert expansion["url"] == vs("ip-livsomrade")


def test_is_a_filter_includes_the_concept_and_its_descendants(service) -> None:
    assert codes(service.expand(vs("ip-subplan-category"))) == [
        "delplan", "kriseplan", "individuell-opplaeringsplan", "rehabiliteringsplan"]


def test_descendent_of_filter_excludes_the_concept_itself(service) -> None:
    assert codes(service.expand(vs("ip-plan-basis"))) == [
        "samtykke", "tvungent-psykisk-helsevern", "tvungent-ettervern"]


def test_exclude_removes_the_grouping_concepts(service) -> None:
    assert "ip-grunnlag-plan" not in codes(service.expand(vs("ip-consent-category")))


def test_abstract_concepts_are_flagged_in_an_expansion(service) -> None:
    expansion = service.expand(value_set=inline({"system": cs("ip-consent-category")}))
    flagged = {c["code"]: c.get("abstract", False) for c in expansion["expansion"]["contains"]}
    assert flagged == {"ip-grunnlag-plan": True, "ip-samtykke-plan": False,
                       "ip-tvungent-psykisk-helsevern": False, "ip-samtykke-deling": False}


def test_property_equals_filter_selects_by_property_value(service) -> None:
    value_set = inline({"system": cs("ip-measure-status"),
                        "filter": [{"property": "fhir-status", "op": "=", "value": "not-started"}]})
    assert codes(service.expand(value_set=value_set)) == ["onsket", "planlagt"]


def test_regex_and_in_filters(service) -> None:
    regex = inline({"system": cs("ip-livsomrade"),
                    "filter": [{"property": "code", "op": "regex", "value": "[a-z]+-og-.*"}]})
    assert codes(service.expand(value_set=regex)) == ["bolig-og-dagligliv", "arbeid-og-aktivitet"]
    not_in = inline({"system": cs("ip-measure-status"),
                     "filter": [{"property": "concept", "op": "not-in", "value": "onsket,sokt"}]})
    assert codes(service.expand(value_set=not_in)) == ["planlagt", "igangsatt", "avsluttet"]


def test_value_set_import_and_concept_list_combine(service) -> None:
    value_set = inline({"valueSet": [vs("ip-coordinator-role")]},
                       {"system": cs("ip-careteam-role"), "concept": [{"code": "bruker"}]})
    expansion = service.expand(value_set=value_set)
    assert [(c["system"], c["code"]) for c in expansion["expansion"]["contains"]] == [
        (VOLVEN_9034, "8"), (VOLVEN_9034, "18"), (cs("ip-careteam-role"), "bruker")]
    assert expansion["expansion"]["contains"][2]["display"] == "Bruker (planeier)"


def test_two_imported_value_sets_in_one_include_intersect(service) -> None:
    value_set = inline({"valueSet": [vs("ip-careteam-role"), vs("ip-coordinator-role")]})
    assert codes(service.expand(value_set=value_set)) == ["8", "18"]


def test_text_filter_matches_display_code_and_designations_case_insensitively(service) -> None:
    assert codes(service.expand(vs("ip-livsomrade"), filter="ØKO")) == ["okonomi"]
    assert codes(service.expand(vs("ip-livsomrade"), filter="work")) == ["arbeid-og-aktivitet"]
    assert codes(service.expand(vs("ip-relation"), filter="far")) == ["FTH"]


def test_filter_then_paging_reports_the_filtered_total(service) -> None:
    first = service.expand(vs("ip-legal-basis"), filter="loven", offset=0, count=3)
    second = service.expand(vs("ip-legal-basis"), filter="loven", offset=3, count=3)
    everything = codes(service.expand(vs("ip-legal-basis"), filter="loven"))
    assert first["expansion"]["total"] == second["expansion"]["total"] == len(everything) == 8
    assert codes(first) + codes(second) == everything[:6]
    assert second["expansion"]["offset"] == 3
    assert {p["name"]: list(p.values())[1] for p in second["expansion"]["parameter"]} == {
        "filter": "loven", "offset": 3, "count": 3}


def test_paging_past_the_end_returns_no_concepts(service) -> None:
    expansion = service.expand(vs("ip-livsomrade"), offset=10, count=5)
    assert expansion["expansion"]["total"] == 6 and codes(expansion) == []


def test_display_language_picks_the_english_designation(service) -> None:
    expansion = service.expand(vs("ip-measure-status"), display_language="en")
    assert [c["display"] for c in expansion["expansion"]["contains"]] == [
        "Wanted", "Planned", "Applied for", "Started", "Ended"]
    nb = service.expand(vs("ip-measure-status"), display_language="no")
    assert nb["expansion"]["contains"][0]["display"] == "Ønsket"


def test_value_set_displays_override_and_designations_follow(service) -> None:
    expansion = service.expand(vs("ip-relation"), filter="mor", include_designations=True)
    (mother,) = expansion["expansion"]["contains"]
    assert (mother["system"], mother["code"], mother["display"]) == (V3_ROLE, "MTH", "Mor")
    assert mother["designation"] == [{"language": "en", "value": "mother"}]


def test_unknown_value_set_is_not_found(service) -> None:
    with pytest.raises(NotFound, match="Unknown value set") as error:
        service.expand(vs("does-not-exist"))
    assert error.value.expression == ("url",)


def test_missing_or_contradictory_parameters_are_bad_requests(service) -> None:
    with pytest.raises(BadRequest, match="'url'"):
        service.expand()
    with pytest.raises(BadRequest, match="either parameter 'url' or 'valueSet'"):
        service.expand(vs("ip-livsomrade"), inline({"system": cs("ip-livsomrade")}))
    with pytest.raises(BadRequest, match="'offset'"):
        service.expand(vs("ip-livsomrade"), offset=-1)


def test_unsupported_filter_operator_and_unknown_property_are_named(service) -> None:
    bad_op = inline({"system": cs("ip-livsomrade"),
                     "filter": [{"property": "concept", "op": "child-of", "value": "helse"}]})
    with pytest.raises(BadRequest, match="operator 'child-of' is not supported"):
        service.expand(value_set=bad_op)
    bad_prop = inline({"system": cs("ip-livsomrade"),
                       "filter": [{"property": "colour", "op": "=", "value": "red"}]})
    with pytest.raises(BadRequest, match="no property 'colour'") as error:
        service.expand(value_set=bad_prop)
    assert "compose.include[0].filter[0]" in error.value.diagnostics


def test_listed_code_missing_from_a_complete_code_system_is_an_error(service) -> None:
    value_set = inline({"system": cs("ip-livsomrade"), "concept": [{"code": "fritid"}]})
    with pytest.raises(BadRequest, match="'fritid' is not in code system"):
        service.expand(value_set=value_set)


def test_code_system_not_held_here_makes_the_value_set_unexpandable(service) -> None:
    with pytest.raises(NotFound, match="urn:ietf:bcp:13"):
        service.expand("http://hl7.org/fhir/ValueSet/mimetypes")


def test_import_cycle_is_reported(tmp_path) -> None:
    a = {"resourceType": "ValueSet", "id": "a", "url": "http://example.org/ValueSet/a",
         "status": "active", "compose": {"include": [{"valueSet": ["http://example.org/ValueSet/b"]}]}}
    b = {"resourceType": "ValueSet", "id": "b", "url": "http://example.org/ValueSet/b",
         "status": "active", "compose": {"include": [{"valueSet": ["http://example.org/ValueSet/a"]}]}}
    stored = {("ValueSet", a["url"]): a, ("ValueSet", b["url"]): b}
    service = TerminologyService(tmp_path, extra=lambda kind, url: stored.get((kind, url)))
    with pytest.raises(BadRequest, match="cycle"):
        service.expand(a["url"])


def test_large_expansion_without_count_is_refused() -> None:
    service = TerminologyService(max_expansion=3)
    with pytest.raises(PayloadTooLarge, match="'count'"):
        service.expand(vs("ip-livsomrade"))
    assert len(codes(service.expand(vs("ip-livsomrade"), count=3))) == 3


def test_server_stored_value_set_is_expanded_and_refreshed_after_invalidate(tmp_path) -> None:
    stored = {"resourceType": "ValueSet", "id": "local", "status": "active",
              "url": "http://kommune.example/ValueSet/local",
              "compose": {"include": [{"system": cs("ip-livsomrade"),
                                       "concept": [{"code": "helse"}]}]}}
    service = TerminologyService(extra=lambda kind, url: stored if url == stored["url"] else None,
                                 dynamic_ttl=3600)
    assert codes(service.expand(stored["url"])) == ["helse"]
    stored["compose"]["include"][0]["concept"].append({"code": "okonomi"})
    assert codes(service.expand(stored["url"])) == ["helse"]  # cached
    service.invalidate(stored["url"])
    assert codes(service.expand(stored["url"])) == ["helse", "okonomi"]


def test_project_files_win_over_a_server_stored_copy_of_the_same_canonical() -> None:
    impostor = {"resourceType": "ValueSet", "url": vs("ip-livsomrade"), "status": "active",
                "compose": {"include": [{"system": cs("ip-livsomrade"),
                                         "concept": [{"code": "helse"}]}]}}
    service = TerminologyService(extra=lambda kind, url: impostor)
    assert codes(service.expand(vs("ip-livsomrade"))) == LIVSOMRADER
