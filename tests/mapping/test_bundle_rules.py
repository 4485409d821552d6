"""The transaction Bundle a plan becomes: valid R4, idempotent creates, draft when incomplete."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhirip.mapping import convert, read_plans, to_bundle
from fhirip.errors import Unprocessable
from fhirip.mapping.planpro import write_planpro
from fhirip.mapping.records import PlanRecord
from fhirip.mapping.spec import load_spec

from .helpers import zipped

SAMPLES = Path(__file__).resolve().parents[2] / "mappings" / "planpro" / "samples"


@pytest.fixture(scope="module")
def plans() -> dict[str, PlanRecord]:
    return {p.key: p for p in read_plans("planpro", SAMPLES / "good") if isinstance(p, PlanRecord)}


def _resources(bundle: dict, resource_type: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def test_every_entry_parses_as_an_r4_resource(plans: dict[str, PlanRecord]) -> None:
    for plan in plans.values():
        bundle, _ = to_bundle(plan)
        assert bundle["type"] == "transaction"
        for entry in bundle["entry"]:
            resource = entry["resource"]
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_every_entry_is_a_conditional_create_on_a_business_identifier(plans: dict[str, PlanRecord]) -> None:
    bundle, _ = to_bundle(plans["IP-000001"])
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert entry["request"]["method"] == "POST"
        system, _, value = entry["request"]["ifNoneExist"].removeprefix("identifier=").partition("|")
        identifiers = entry["resource"]["identifier"]
        identifiers = identifiers if isinstance(identifiers, list) else [identifiers]
        assert {"system": system, "value": value} in identifiers


def test_the_patient_is_matched_on_the_fodselsnummer(plans: dict[str, PlanRecord]) -> None:
    bundle, _ = to_bundle(plans["IP-000001"])
    patient_entry = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    fnr = plans["IP-000001"].rows_of("person")[0].values["fnr"]
    assert patient_entry["request"]["ifNoneExist"] == f"identifier=urn:oid:2.16.578.1.12.4.1.4.1|{fnr}"


def test_the_same_plan_always_gives_the_same_bundle(plans: dict[str, PlanRecord]) -> None:
    assert to_bundle(plans["IP-000003"])[0] == to_bundle(plans["IP-000003"])[0]


def test_references_inside_the_bundle_point_at_its_own_entries(plans: dict[str, PlanRecord]) -> None:
    bundle, _ = to_bundle(plans["IP-000001"])
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    text = str([e["resource"] for e in bundle["entry"]])
    import re
    assert set(re.findall(r"urn:uuid:[0-9a-f-]{36}", text)) <= full_urls


def test_an_incomplete_plan_is_draft_never_active(plans: dict[str, PlanRecord]) -> None:
    plan = plans["IP-UFERDIG"]
    plan.rows_of("plan")[0].values["status"] = "AKTIV"
    bundle, losses = to_bundle(plan)
    assert _resources(bundle, "CarePlan")[0]["status"] == "draft"
    status_loss = next(l for l in losses if l.field == "status")
    assert "no current coordinator" in status_loss.reason and status_loss.value == "active"


def test_a_complete_plan_keeps_its_legacy_status_and_one_coordinator(plans: dict[str, PlanRecord]) -> None:
    bundle, _ = to_bundle(plans["IP-000001"])
    assert _resources(bundle, "CarePlan")[0]["status"] == "active"
    roles = [c for p in _resources(bundle, "CareTeam")[0]["participant"] for r in p["role"] for c in r["coding"]]
    assert [c for c in roles if c["system"] == "urn:oid:2.16.578.1.12.4.1.1.9034" and c["code"] == "8"] != []


def test_a_month_only_start_date_becomes_a_fhir_partial_date(plans: dict[str, PlanRecord]) -> None:
    bundle, _ = to_bundle(plans["IP-000001"])  # periode_fra 01.11.2021 marked M
    assert _resources(bundle, "CarePlan")[0]["period"]["start"] == "2021-11"


def test_measure_status_goes_to_the_extension_and_the_activity_status(plans: dict[str, PlanRecord]) -> None:
    bundle, _ = to_bundle(plans["IP-000001"])
    detail = _resources(bundle, "CarePlan")[0]["activity"][0]["detail"]
    status = next(e["valueCode"] for e in detail["extension"] if e["url"].endswith("/ip-measure-status"))
    assert (status, detail["status"]) == ("avsluttet", "completed")


def test_the_original_rows_are_attached_as_a_document_reference(plans: dict[str, PlanRecord]) -> None:
    bundle, _ = to_bundle(plans["IP-000001"])
    original = next(d for d in _resources(bundle, "DocumentReference")
                    if d["category"][0]["coding"][0]["code"] == "original")
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(original["content"][0]["attachment"]["data"]))) as archive:
        plan_rows = archive.read("plan.csv").decode("cp1252").splitlines()
    assert len(plan_rows) >= 2 and plan_rows[1].startswith("IP-000001;")


def test_convert_turns_one_document_into_one_bundle(plans: dict[str, PlanRecord]) -> None:
    files, _ = write_planpro(load_spec("planpro"), [plans["IP-000004"]])
    bundle = convert(zipped(files), "planpro")
    assert _resources(bundle, "CarePlan")[0]["identifier"][0]["value"] == "IP-000004"


def test_convert_refuses_a_document_with_several_plans() -> None:
    files = {path.name: path.read_bytes() for path in (SAMPLES / "good").iterdir()}
    with pytest.raises(Unprocessable, match="6 plans"):
        convert(zipped(files), "planpro")
