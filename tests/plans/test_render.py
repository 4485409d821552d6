"""The readable plan: `$render` as Norwegian HTML along § 19, and as PDF, from the same document."""

from __future__ import annotations

from typing import Any

from plan_data import PlanWorld, created_id, goal, measure

from fhirip.context import Context
from fhirip.interactions.request import FhirRequest
from fhirip.operations.render import render

SECTIONS = ("Mine mål", "Deltakere i planarbeidet", "Koordinator", "Tiltak", "Planperiode og revisjon",
            "Samtykke", "Samarbeid med andre tjenester og etater")


def _plan(fhir) -> tuple[PlanWorld, str]:
    world = PlanWorld(fhir)
    own_words = created_id(fhir.create(goal(world.patient_id, "Bo for meg selv <med> hund & katt")))
    plan = world.active_plan_id(goal_ids=(world.goal_id, own_words), activities=(
        measure(f"Practitioner/{world.coordinator_id}", own_words, description="Boveiledning",
                next_evaluation="2026-05-01"),))
    return world, plan


def test_render_gives_the_plan_in_norwegian_along_the_content_list(fhir):
    _, plan = _plan(fhir)
    response = fhir.get(f"/CarePlan/{plan}/$render")
    assert response.status_code == 200
    html = response.content.decode("utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="nb">' in html
    positions = [html.index(f"<h2>{title}</h2>") for title in SECTIONS]
    assert positions == sorted(positions)
    assert "Boveiledning" in html and "01.05.2026" in html  # measure and its evaluation date
    assert "Koordinatorsen" in html and "+47 55 11 22 33" in html  # coordinator with contact


def test_render_escapes_what_people_wrote(fhir):
    _, plan = _plan(fhir)
    html = fhir.get(f"/CarePlan/{plan}/$render").content.decode("utf-8")
    assert "Bo for meg selv &lt;med&gt; hund &amp; katt" in html
    assert "<med>" not in html


def test_render_as_pdf(fhir):
    _, plan = _plan(fhir)
    response = fhir.get(f"/CarePlan/{plan}/$render", params={"format": "pdf"})
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-") and len(response.content) > 1000


def test_render_of_an_unknown_plan_is_not_found(fhir):
    assert fhir.get("/CarePlan/nothing-here/$render").status_code == 404


def test_render_in_an_unknown_format_is_not_acceptable(fhir):
    _, plan = _plan(fhir)
    response = fhir.get(f"/CarePlan/{plan}/$render", params={"format": "docx"})
    assert response.status_code == 406
    assert "format" in response.json()["issue"][0]["expression"][0]


def test_render_declares_its_media_type(fhir, live_server):
    _, plan = _plan(fhir)

    def call(fmt: str) -> Any:
        def work(tx: Any) -> Any:
            ctx = Context(live_server.services, tx, "http://fhirip.test")
            return render(ctx, FhirRequest("GET", res_type="CarePlan", res_id=plan, operation="render",
                                           params=[("_format", fmt)], base_url="http://fhirip.test"))
        return live_server.services.store.run(work, write=False)

    html, pdf = call("html"), call("application/pdf")
    assert html.resource is None and html.headers["Content-Type"] == "text/html; charset=utf-8"
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.body.startswith(b"%PDF-")


def test_render_shows_no_name_the_caller_may_not_see(fhir, live_server):
    _, plan = _plan(fhir)

    def work(tx: Any) -> Any:
        ctx = Context(live_server.services, tx, "http://fhirip.test",
                      policy=lambda r, types=None, per_row=False: r.c.res_type != "Practitioner")
        return render(ctx, FhirRequest("GET", res_type="CarePlan", res_id=plan, operation="render",
                                       base_url="http://fhirip.test"))

    html = live_server.services.store.run(work, write=False).body.decode("utf-8")
    assert "Koordinatorsen" not in html and "+47 55 11 22 33" not in html
    assert "(ikke tilgjengelig)" in html


def test_render_for_a_client_that_accepts_fhir_json_is_a_binary(fhir):
    """As its OperationDefinition declares: FHIR clients (fhirpy, fhir-kit-client) get a Binary."""
    import base64

    _, plan = _plan(fhir)
    for headers, params in (({"Accept": "application/fhir+json"}, {}), ({}, {"_format": "json"}),
                            ({"Accept": "application/json"}, {})):
        response = fhir.get(f"/CarePlan/{plan}/$render", headers=headers, params=params)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/fhir+json")
        binary = response.json()
        assert binary["resourceType"] == "Binary" and binary["contentType"] == "text/html; charset=utf-8"
        assert "Boveiledning" in base64.b64decode(binary["data"]).decode("utf-8")
    pdf = fhir.get(f"/CarePlan/{plan}/$render", headers={"Accept": "application/fhir+json"},
                   params={"format": "pdf"}).json()
    assert pdf["contentType"] == "application/pdf" and base64.b64decode(pdf["data"]).startswith(b"%PDF-")
    # a browser, or _format naming the document, still gets the document itself
    browser = fhir.get(f"/CarePlan/{plan}/$render", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.headers["Content-Type"] == "text/html; charset=utf-8"
    asked = fhir.get(f"/CarePlan/{plan}/$render", headers={"Accept": "application/fhir+json"},
                     params={"_format": "pdf"})
    assert asked.headers["Content-Type"] == "application/pdf"
