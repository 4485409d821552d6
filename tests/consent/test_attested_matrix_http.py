"""The access matrix with HelseID-shaped tokens: each purpose of use attested in the trust-framework
`authorization_details`, sent DPoP-bound with a fresh proof per request, over real HTTP on both stores.

The attested actors must see exactly what the matrix says their development-shorthand twins
see (`matrix_world.ACTORS`): TREAT follows the consents, ETREAT and BTG break the glass, COC
is the coordinating unit's administrative view. A purpose the rules refuse is 403 before any
data is touched.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

import matrix_world as mw
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from matrix_checks import (
    Matrix,
    assert_masked,
    assert_only_visible,
    assert_same_as_unknown,
    keys,
    served_matrix,
    resources,
    unknown_id,
    world_of,
)
from matrix_cells_reads import search_criteria

from fhirip.auth.devkeys import DevKeys, attested_claims, dpop_confirmation
from fhirip.demo import synthetic_fnr
from fhirip.testing.live import DpopAuth, Fhir

PIDS = {mw.OLA: synthetic_fnr(5, 5, 75, 300), mw.INGRID: synthetic_fnr(6, 6, 76, 310),
        mw.PER: synthetic_fnr(7, 7, 77, 320), mw.UNN: synthetic_fnr(8, 8, 78, 330)}


@dataclass(frozen=True)
class Attested:
    hpr: str
    org: str
    purpose: str | None
    twin: mw.MatrixActor  # the matrix actor whose view this one must have
    role: str | None = None


RECORD = frozenset(mw.MATRIX_TYPES)
NOBODY = replace(mw.ACTORS["practitioner-unconsented"], name="treat-unit-without-coc")
ATTESTED = {
    "treat-coordinator": Attested(mw.OLA, mw.KOMMUNE, "TREAT", mw.ACTORS["coordinator"]),
    "treat-consented": Attested(mw.INGRID, mw.KOMMUNE, "TREAT", mw.ACTORS["practitioner-consented"]),
    "treat-unconsented": Attested(mw.PER, mw.KOMMUNE, "TREAT", mw.ACTORS["practitioner-unconsented"]),
    "etreat": Attested(mw.PER, mw.KOMMUNE, "ETREAT", mw.ACTORS["break-the-glass"]),
    "btg": Attested(mw.PER, mw.KOMMUNE, "BTG", mw.ACTORS["break-the-glass"]),
    "coc-unit": Attested(mw.UNN, mw.ENHET, "COC", mw.ACTORS["coordinating-unit"]),
    # The unit's role claim makes no coordinating unit under another attested purpose.
    "treat-unit": Attested(mw.UNN, mw.ENHET, "TREAT", NOBODY, role="koordinerende-enhet"),
}


def claims_of(actor: Attested, **options: object) -> dict:
    made = attested_claims(hpr=actor.hpr, pid=PIDS[actor.hpr], org=actor.org, purpose=actor.purpose,
                           user_selected=actor.purpose == "BTG", **options)  # type: ignore[arg-type]
    if actor.role:
        made["role"] = actor.role
    return made


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def matrix(store_kind: str, request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    postgres = request.getfixturevalue("postgres") if store_kind == "postgresql" else None
    with served_matrix(store_kind, postgres, tmp_path_factory.mktemp(f"attested-{store_kind}"), "attested_matrix") as built:
        yield built


def client(matrix: Matrix, key: ec.EllipticCurvePrivateKey, claims: dict) -> Fhir:
    keys_ = DevKeys.load_or_create(matrix.server.services.settings.data_dir)
    token = keys_.mint({**claims, "cnf": dpop_confirmation(key)})
    return Fhir(base_url=matrix.server.url, timeout=30, auth=DpopAuth(token, key))


@pytest.mark.parametrize("res_type", mw.MATRIX_TYPES)
@pytest.mark.parametrize("name", list(ATTESTED))
def test_reads_and_searches_follow_the_attested_purpose(matrix: Matrix, key, name: str, res_type: str) -> None:
    attested = ATTESTED[name]
    twin = attested.twin
    with client(matrix, key, claims_of(attested)) as asker:
        nobody = unknown_id()
        unknown = asker.get(f"/{res_type}/{nobody}")
        for resource in world_of(res_type):
            read = asker.get(f"/{res_type}/{resource['id']}")
            if mw.should_see(twin, resource):
                assert read.status_code == 200, (name, read.text)
                assert_masked(twin, [read.json()])
            else:
                assert_same_as_unknown(read, resource["id"], unknown, nobody)
        query = search_criteria(res_type)
        expected = {k for k, r in matrix.all_of(res_type, query).items() if mw.should_see(twin, r)}
        found = asker.get(f"/{res_type}?_count=1000{query}")
        if not expected and found.status_code == 403:
            return
        assert found.status_code == 200, found.text
        assert_only_visible(twin, resources(found.json()))
        assert keys(found.json()) == expected


REFUSED = {
    "no purpose": ({"purpose": None}, 403, "no purpose of use"),
    "unknown purpose": ({"purpose": "HMARKT"}, 403, "not one this server knows"),
    "expired attestation": ({"toa": int(time.time()) - 4000}, 403, "attestation_has_expired"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_attestations_touch_no_data(matrix: Matrix, key, case: str) -> None:
    change, status, words = REFUSED[case]
    attested = ATTESTED["treat-coordinator"]
    options = {k: v for k, v in change.items() if k != "purpose"}
    if "purpose" in change:
        attested = replace(attested, purpose=change["purpose"])
    with client(matrix, key, claims_of(attested, **options)) as asker:
        for url in ("/CarePlan/plan-kari", "/Patient?_count=10", "/CarePlan/ukjent"):
            response = asker.get(url)
            assert response.status_code == status, response.text
            outcome = response.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert words in outcome["issue"][0]["diagnostics"]


def test_a_malformed_attestation_is_an_invalid_token(matrix: Matrix, key) -> None:
    made = claims_of(ATTESTED["treat-coordinator"])
    made["authorization_details"][0]["care_relationship"]["purpose_of_use"] = "TREAT"
    with client(matrix, key, made) as asker:
        response = asker.get("/CarePlan/plan-kari")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "malformed trust-framework attestation" in response.json()["issue"][0]["diagnostics"]


# -- the AuditEvents of attested access, in the national profile --------------------------------

PROFILE = "http://fhirip.no/fhir/StructureDefinition/ip-AuditEvent-tillit"
REVIEW = "http://fhirip.no/fhir/CodeSystem/ip-audit-review"


def events_of(matrix: Matrix, decision: str) -> list[dict]:
    """The AuditEvents of the requests made under this decision reference (as the system sees them)."""
    found = matrix.truth.get("/AuditEvent?_count=200&_sort=-date")
    assert found.status_code == 200, found.text
    return [e for e in resources(found.json()) if decision in str(e.get("extension"))]


def errors(matrix: Matrix, event: dict) -> list[str]:
    validator = matrix.server.services.extras["validator"]
    return [i.diagnostics for i in validator.validate(event) if i.severity in ("error", "fatal")]


def test_a_treat_read_leaves_one_valid_national_event(matrix: Matrix, key) -> None:
    decision = f"treat-{uuid.uuid4().hex[:12]}"
    attested = ATTESTED["treat-coordinator"]
    made = claims_of(attested, decision_ref=decision, name="Ola Koordinator",
                     department={"id": "4210", "system": "urn:oid:2.16.578.1.12.4.1.4.102", "name": "Barnehabilitering"})
    made["authorization_details"][0]["patients"] = [
        {"point_of_care": {"id": mw.KOMMUNE, "system": "urn:oid:2.16.578.1.12.4.1.4.101"}}]
    with client(matrix, key, made) as asker:
        assert asker.get("/CarePlan/plan-kari").status_code == 200
    [event] = events_of(matrix, decision)
    assert event["meta"]["profile"] == [PROFILE] and errors(matrix, event) == []
    assert "tag" not in event["meta"]  # neither self-authorised nor emergency: nothing to review
    contained = {r["id"]: r for r in event["contained"]}
    assert contained["practitioner"]["identifier"] == [{"system": "urn:oid:2.16.578.1.12.4.1.4.4", "value": mw.OLA}]
    assert contained["department"]["partOf"] == {"reference": "#legal-entity"}
    assert contained["legal-entity"]["identifier"][0]["value"] == mw.KOMMUNE
    assert contained["encounter"]["serviceType"]["coding"][0]["code"] == "S03"
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert PIDS[mw.OLA] not in json.dumps(event)  # the practitioner's fødselsnummer is never logged
    relation = {x["url"]: x for x in event["extension"]}[
        "http://hl7.no/fhir/StructureDefinition/auditevent-carerelation-metadata-extension"]
    assert {x["url"]: list(x.values())[1] for x in relation["extension"]}["decision-ref-user-selected"] is False


def test_btg_across_patients_leaves_one_valid_event_per_patient_flagged_for_review(matrix: Matrix, key) -> None:
    decision = f"btg-{uuid.uuid4().hex[:12]}"
    with client(matrix, key, claims_of(ATTESTED["btg"], decision_ref=decision)) as asker:
        assert asker.get("/Goal?_count=100").status_code == 200
    events = events_of(matrix, decision)
    per_patient = [e for e in events if PROFILE in e.get("meta", {}).get("profile", [])]
    patients = sorted(ext["valueReference"]["reference"] for e in per_patient for ext in e["extension"]
                      if ext["url"].endswith("auditevent-patient-extension"))
    assert patients == ["Patient/eva", "Patient/jon", "Patient/kari"]
    for event in per_patient:
        assert errors(matrix, event) == [], event
        tags = {t["code"] for t in event["meta"]["tag"] if t["system"] == REVIEW}
        assert tags == {"self-authorised", "break-the-glass"}
        assert "BTG" in {s["code"] for s in event["meta"]["security"]}
    # The security officer finds what to review by its mark.
    marked = matrix.truth.get(f"/AuditEvent?_tag={REVIEW}|self-authorised&_count=200")
    assert {e["id"] for e in per_patient} <= {e["id"] for e in resources(marked.json())}


def test_the_patients_access_log_shows_who_which_organisation_and_why(matrix: Matrix, key) -> None:
    decision = f"log-{uuid.uuid4().hex[:12]}"
    with client(matrix, key, claims_of(ATTESTED["treat-consented"], decision_ref=decision,
                                       name="Ingrid Sykepleier")) as asker:
        assert asker.get("/Goal/goal-kari").status_code == 200
    log = matrix.clients["patient"].get("/AuditEvent?patient=Patient/kari&_count=200")
    assert log.status_code == 200, log.text
    [event] = [e for e in resources(log.json()) if decision in str(e.get("extension"))]
    user = next(a for a in event["agent"] if a.get("requestor"))
    organisation = next(a for a in event["agent"] if a["who"].get("type") == "Organization")
    assert user["name"] == "Ingrid Sykepleier" and user["who"]["reference"] == "#role"
    assert organisation["who"]["identifier"]["value"] == mw.KOMMUNE
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert PIDS[mw.INGRID] not in json.dumps(event)


def test_each_request_is_recorded_with_its_own_attestation(matrix: Matrix, key) -> None:
    """Two tokens of one practitioner issued in the same second, with another decision each: the
    access decision may be kept between them, the audit record never."""
    issued = int(time.time())
    decisions = [f"same-second-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    for decision in decisions:
        made = {**claims_of(ATTESTED["treat-coordinator"], decision_ref=decision), "iat": issued, "nbf": issued}
        with client(matrix, key, made) as asker:
            assert asker.get("/CarePlan/plan-kari").status_code == 200
    for decision in decisions:
        [event] = events_of(matrix, decision)
        relation = next(x for x in event["extension"] if x["url"].endswith("carerelation-metadata-extension"))
        assert {"url": "decision-ref-id", "valueString": decision} in relation["extension"]
