"""`POST /$convert` over HTTP: one legacy document in, its transaction Bundle and loss report out,
nothing stored; a document that is not a plan is a 4xx with an OperationOutcome.

Runs against the live server on SQLite and on PostgreSQL (the `fhir` fixture).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import docx
import pytest

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
STORED_TYPES = ("Patient", "CarePlan", "CareTeam", "Goal", "Consent", "DocumentReference", "Practitioner")


def _parameters(format: str, document: bytes) -> dict:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "format", "valueCode": format},
        {"name": "document", "valueBase64Binary": base64.b64encode(document).decode("ascii")}]}


def _convert(fhir, format: str, document: bytes):
    return fhir.send_json("POST", "/$convert", _parameters(format, document))


def _totals(fhir) -> dict[str, int]:
    totals = {}
    for resource_type in STORED_TYPES:
        response = fhir.get(f"/{resource_type}", params={"_summary": "count"})
        assert response.status_code == 200, response.text
        totals[resource_type] = response.json()["total"]
    return totals


def _part(parameters: dict, name: str) -> dict:
    return next(p["resource"] for p in parameters["parameter"] if p["name"] == name)


@pytest.mark.parametrize("format,sample", [("docx", "W-003.docx"), ("acos", "A-0002.xml")])
def test_convert_returns_the_bundle_and_the_loss_report_and_stores_nothing(fhir, format: str,
                                                                           sample: str) -> None:
    before = _totals(fhir)
    response = _convert(fhir, format, (MAPPINGS / format / "samples" / "good" / sample).read_bytes())
    assert response.status_code == 200, response.text
    bundle, outcome = _part(response.json(), "bundle"), _part(response.json(), "outcome")
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    types = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert {"Patient", "CarePlan", "CareTeam", "DocumentReference"} <= types
    assert all(entry["request"].get("ifNoneExist") for entry in bundle["entry"])
    assert outcome["resourceType"] == "OperationOutcome"
    lost = [issue for issue in outcome["issue"] if issue["severity"] == "warning"]
    assert lost and "fritid" in lost[0]["diagnostics"].lower()  # the one life area without a mapping
    assert _totals(fhir) == before


def test_the_converted_bundle_is_accepted_by_the_transaction_interaction(fhir) -> None:
    response = _convert(fhir, "docx", (MAPPINGS / "docx" / "samples" / "good" / "W-001.docx").read_bytes())
    bundle = _part(response.json(), "bundle")
    stored = fhir.send_json("POST", "/", bundle)
    assert stored.status_code == 200, stored.text
    assert {e["response"]["status"][:3] for e in stored.json()["entry"]} == {"201"}
    again = fhir.send_json("POST", "/", bundle)  # conditional creates: the second time, nothing new
    assert {e["response"]["status"][:3] for e in again.json()["entry"]} == {"200"}


def _memo_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Handleliste", 1)
    document.add_paragraph("Melk, brød og kaffe.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("format,document", [
    ("docx", b"this is not a Word document"),
    ("docx", _memo_docx()),
    ("acos", (MAPPINGS / "acos" / "samples" / "bad" / "bomb.xml").read_bytes()),
    ("acos", b"<?xml version='1.0'?><Handleliste><Vare>Melk</Vare></Handleliste>"),
])
def test_a_document_that_is_not_a_plan_is_a_client_error_with_an_outcome(fhir, format: str,
                                                                         document: bytes) -> None:
    before = _totals(fhir)
    response = _convert(fhir, format, document)
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] in ("error", "fatal") and body["issue"][0]["diagnostics"]
    assert _totals(fhir) == before


def test_convert_without_a_format_names_the_parameter(fhir) -> None:
    response = fhir.send_json("POST", "/$convert", {"resourceType": "Parameters", "parameter": [
        {"name": "document", "valueBase64Binary": base64.b64encode(b"x").decode("ascii")}]})
    assert response.status_code == 400
    assert "format" in response.json()["issue"][0]["diagnostics"]
