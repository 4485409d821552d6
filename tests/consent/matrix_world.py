"""The world of the HTTP access matrix: three patients, their records, the actors, and what each may see.

Kari (a minor) shares her plan with her care team and her uncle; her mother is her
proxy. Eva (an adult) shares hers with the organisation of another municipality.
Jon (17) shares nothing: he is hidden from everyone but system clients and
break-the-glass. A few deliberate traps link the records across patients (Kari's plan
lists Jon's goal, Jon's service request is based on Kari's plan), so includes, chains
and `_has` would leak through them if the policy were not applied inside the query.

What each actor should see is written out by hand (`ACTORS`), as patients and the
types readable in each patient's compartment; `should_see` applies that rule to any
resource, so the expectation holds for records written while the tests run (audit
events, provenance) as well. Dates are relative to today, so ages and periods do not
drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fhirip.demo import organisation_number, synthetic_fnr

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
CONSENT_CATEGORY = "http://fhirip.no/fhir/CodeSystem/ip-consent-category"
ACTIVITY_CODE = "http://fhirip.test/CodeSystem/tiltak"
SECRET_MEASURE = "hemmelig-tiltak"  # a code only Kari's unmasked plan carries
EARLIER_PLAN = "plan-kari-2025"  # the plan Kari's current plan replaces (no longer stored)

TODAY = date.today()


def _born(years: int, days_after: int = 40) -> str:
    """A birth date `years` ago, plus some days (so the birthday is not today)."""
    born = TODAY.replace(year=TODAY.year - years) if not (TODAY.month == 2 and TODAY.day == 29) \
        else TODAY.replace(year=TODAY.year - years, day=28)
    return date.fromordinal(born.toordinal() + days_after).isoformat()


KARI_BIRTH = _born(14)  # 13 years and some months: a minor
JON_BIRTH = _born(17)  # 16 and some months: past the proxy age
EVA_BIRTH = "1960-04-04"

KARI_FNR = synthetic_fnr(12, 3, 12, 400)
ANNE_FNR = synthetic_fnr(2, 5, 80, 200)  # Kari's mother
ONKEL_FNR = synthetic_fnr(9, 9, 70, 210)  # Kari's uncle, named in her sharing consent
NABO_FNR = synthetic_fnr(1, 1, 60, 220)  # a neighbour: a RelatedPerson nobody shares with
JON_FNR = synthetic_fnr(1, 1, 9, 420)
JON_FAR_FNR = synthetic_fnr(3, 3, 75, 230)
EVA_FNR = synthetic_fnr(4, 4, 60, 240)

KOMMUNE = organisation_number("964338")
ENHET = organisation_number("974589")  # the koordinerende enhet
ANNEN_KOMMUNE = organisation_number("944496")

OLA, INGRID, PER, SIRI, UNN = "9144889", "9144900", "9144933", "9144944", "9144977"

PATIENTS = ("kari", "eva", "jon")
# Types of each patient's record in this world, each with one resource `<prefix>-<patient>`.
RECORD_TYPES = {"CarePlan": "plan", "Goal": "goal", "CareTeam": "team", "Task": "task",
                "ServiceRequest": "sr", "EpisodeOfCare": "eoc", "DocumentReference": "doc",
                "AuditEvent": "audit", "Provenance": "prov"}
MATRIX_TYPES = ("Patient", *RECORD_TYPES, "Consent", "RelatedPerson")
DIRECTORY_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization"})
# What the server publishes about itself (profiles, terminology, operations): no personal data.
DEFINITION_TYPES = frozenset({"CodeSystem", "ValueSet", "ConceptMap", "StructureDefinition", "SearchParameter",
                              "OperationDefinition", "NamingSystem", "CapabilityStatement", "Questionnaire"})


def _ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def _ident(system: str, value: str) -> list[dict[str, str]]:
    return [{"system": system, "value": value}]


def _role(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": ROLE, "code": code}]}]


def _actor(reference: str) -> dict[str, Any]:
    return {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                 "code": "IRCP"}]}, "reference": _ref(reference)}


def _sharing(consent_id: str, patient: str, actors: list[str]) -> dict[str, Any]:
    """An active sharing consent naming the plan it concerns and the actors it permits."""
    return {"resourceType": "Consent", "id": consent_id, "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": CONSENT_CATEGORY, "code": "ip-samtykke-deling"}]}],
            "patient": _ref(f"Patient/{patient}"), "dateTime": "2026-01-10",
            "policy": [{"uri": "http://fhirip.no/fhir/policy/individuell-plan"}],
            "provision": {"type": "permit", "period": {"start": "2026-01-10"},
                          "actor": [_actor(a) for a in actors],
                          "data": [{"meaning": "related", "reference": _ref(f"CarePlan/plan-{patient}")}]}}


def _directory() -> list[dict[str, Any]]:
    organisations = [{"resourceType": "Organization", "id": org_id, "name": name,
                      "identifier": _ident(ORGNR, number)}
                     for org_id, name, number in [("kommune", "Fjordvik kommune", KOMMUNE),
                                                  ("enhet", "Fjordvik koordinerende enhet", ENHET),
                                                  ("annen-kommune", "Annen kommune", ANNEN_KOMMUNE)]]
    practitioners = [{"resourceType": "Practitioner", "id": name.lower(), "identifier": _ident(HPR, hpr),
                      "name": [{"family": name}]}
                     for name, hpr in [("Ola", OLA), ("Ingrid", INGRID), ("Per", PER), ("Siri", SIRI),
                                       ("Unn", UNN)]]
    roles = [{"resourceType": "PractitionerRole", "id": "ingrid-kommune", "active": True,
              "practitioner": _ref("Practitioner/ingrid"), "organization": _ref("Organization/kommune")}]
    return organisations + practitioners + roles


def _people() -> list[dict[str, Any]]:
    return [
        {"resourceType": "Patient", "id": "kari", "identifier": _ident(FNR, KARI_FNR),
         "name": [{"family": "Nordmann", "given": ["Kari"]}], "birthDate": KARI_BIRTH,
         "managingOrganization": _ref("Organization/kommune")},
        {"resourceType": "Patient", "id": "eva", "identifier": _ident(FNR, EVA_FNR),
         "name": [{"family": "Lien", "given": ["Eva"]}], "birthDate": EVA_BIRTH},
        {"resourceType": "Patient", "id": "jon", "identifier": _ident(FNR, JON_FNR),
         "name": [{"family": "Berg", "given": ["Jon"]}], "birthDate": JON_BIRTH},
        {"resourceType": "RelatedPerson", "id": "anne", "patient": _ref("Patient/kari"),
         "identifier": _ident(FNR, ANNE_FNR), "relationship": _role("MTH")},
        {"resourceType": "RelatedPerson", "id": "onkel", "patient": _ref("Patient/kari"),
         "identifier": _ident(FNR, ONKEL_FNR), "relationship": _role("FAMMEMB")},
        {"resourceType": "RelatedPerson", "id": "nabo", "patient": _ref("Patient/kari"),
         "identifier": _ident(FNR, NABO_FNR), "relationship": _role("NBOR")},
        {"resourceType": "RelatedPerson", "id": "jon-far", "patient": _ref("Patient/jon"),
         "identifier": _ident(FNR, JON_FAR_FNR), "relationship": _role("FTH")},
    ]


def _record(patient: str) -> list[dict[str, Any]]:
    subject = _ref(f"Patient/{patient}")
    team: dict[str, Any] = {"resourceType": "CareTeam", "id": f"team-{patient}", "status": "active",
                            "subject": subject}
    if patient == "kari":
        team["managingOrganization"] = [_ref("Organization/enhet")]
        team["participant"] = [
            {"role": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}], "member": _ref("Practitioner/ola"),
             "period": {"start": "2026-01-15"}},
            {"member": _ref("PractitionerRole/ingrid-kommune"), "period": {"start": "2026-01-15"}},
            {"member": _ref("RelatedPerson/anne")},
            {"member": _ref("Practitioner/per"), "period": {"start": "2025-01-01", "end": "2025-12-31"}}]
    plan: dict[str, Any] = {
        "resourceType": "CarePlan", "id": f"plan-{patient}", "status": "active", "intent": "plan",
        "subject": subject, "careTeam": [_ref(f"CareTeam/team-{patient}")], "period": {"start": "2026-01-15"},
        "description": f"Plan for {patient} med sensitive detaljer", "goal": [_ref(f"Goal/goal-{patient}")],
        "activity": [{"detail": {"status": "in-progress", "description": "Assistent i skoletiden",
                                 "code": {"coding": [{"system": ACTIVITY_CODE, "code": f"tiltak-{patient}"}]},
                                 "scheduledPeriod": {"start": "2026-02-01"}}}]}
    if patient == "kari":
        plan["goal"].append(_ref("Goal/goal-jon"))  # a data-entry slip: must never leak through includes
        plan["replaces"] = [_ref(f"CarePlan/{EARLIER_PLAN}")]  # masked in the administrative view
        plan["activity"][0]["detail"]["code"]["coding"][0]["code"] = SECRET_MEASURE
    goal = {"resourceType": "Goal", "id": f"goal-{patient}", "subject": subject,
            "lifecycleStatus": "on-hold" if patient == "jon" else "active",
            "description": {"text": f"Mål for {patient}"}}
    service_request = {"resourceType": "ServiceRequest", "id": f"sr-{patient}", "intent": "order",
                       "status": "revoked" if patient == "jon" else "active", "subject": subject,
                       "basedOn": [_ref("CarePlan/plan-kari" if patient == "jon" else f"CarePlan/plan-{patient}")]}
    task = {"resourceType": "Task", "id": f"task-{patient}", "status": "in-progress", "intent": "plan",
            "for": subject, "basedOn": [_ref(f"CarePlan/plan-{patient}")],
            "description": f"Tiltak for {patient}"}
    episode: dict[str, Any] = {"resourceType": "EpisodeOfCare", "id": f"eoc-{patient}", "status": "active",
                               "patient": subject}
    if patient == "kari":
        episode["managingOrganization"] = _ref("Organization/enhet")
    document = {"resourceType": "DocumentReference", "id": f"doc-{patient}", "status": "current",
                "subject": subject, "description": f"Epikrise for {patient}",
                "content": [{"attachment": {"contentType": "text/plain", "title": "Epikrise"}}]}
    provenance = {"resourceType": "Provenance", "id": f"prov-{patient}",
                  "target": [subject, _ref(f"CarePlan/plan-{patient}")], "recorded": "2026-01-15T10:00:00Z",
                  "agent": [{"who": _ref("Practitioner/ola")}]}
    audit = {"resourceType": "AuditEvent", "id": f"audit-{patient}",
             "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
             "recorded": "2026-01-15T10:00:00Z", "outcome": "0",
             "agent": [{"who": {"identifier": {"system": HPR, "value": OLA}}, "requestor": True}],
             "source": {"observer": {"display": "fhirip"}},
             "entity": [{"what": subject}, {"what": _ref(f"CarePlan/plan-{patient}")}]}
    return [team, plan, goal, service_request, task, episode, document, provenance, audit]


def records() -> list[dict[str, Any]]:
    consents = [_sharing("kari-deling", "kari", ["CareTeam/team-kari", "RelatedPerson/onkel"]),
                _sharing("eva-deling", "eva", ["Organization/annen-kommune"])]
    return _directory() + _people() + consents + [r for p in PATIENTS for r in _record(p)]


# -- the actors and what they should see -------------------------------------------------

ALL = None  # every type of the compartment
ADMIN_TYPES = frozenset({"Patient", "CarePlan", "CareTeam", "EpisodeOfCare", "RelatedPerson", "Consent"})
NOT_AUDIT = "not-audit"


@dataclass(frozen=True)
class MatrixActor:
    name: str
    claims: dict[str, Any]
    # patient → readable types (ALL, NOT_AUDIT or a set of types)
    sees: dict[str, Any] = field(default_factory=dict)
    directory: bool = True
    everything: bool = False  # a system client with system/* scopes
    writes_to: frozenset[str] = frozenset()  # (type) the actor may create in Kari's compartment
    masked: bool = False  # sees Kari's plan through the administrative view only
    # No grant at all: refused (403) for every record type before any data is touched.
    refused_types: frozenset[str] = frozenset()
    system_wide: bool = True  # may search the system and read type/system history

    def reads(self, patient: str, res_type: str) -> bool:
        if self.everything:
            return True
        if patient not in self.sees:
            return False
        types = self.sees[patient]
        if types is ALL:
            return True
        if types == NOT_AUDIT:
            return res_type != "AuditEvent"
        return res_type in types


def _person(fnr: str) -> dict[str, Any]:
    return {"sub": f"person-{fnr}", "client_id": "helsenorge", "scope": "openid patient/*.cruds",
            "helseid://claims/identity/pid": fnr}


def _practitioner(hpr: str, orgnr: str, **extra: Any) -> dict[str, Any]:
    return {"sub": f"hpr-{hpr}", "client_id": "ehr", "scope": "openid user/*.cruds",
            "helseid://claims/hpr/hpr_number": hpr, "helseid://claims/client/claims/orgnr_parent": orgnr,
            "purpose_of_use": "TREAT", **extra}


RECORD = frozenset(MATRIX_TYPES)
PERSON_WRITES = frozenset({"Goal", "Consent"})

ACTORS: dict[str, MatrixActor] = {a.name: a for a in [
    MatrixActor("patient", _person(KARI_FNR), {"kari": ALL}, writes_to=PERSON_WRITES),
    MatrixActor("parent", _person(ANNE_FNR), {"kari": ALL}, writes_to=PERSON_WRITES),
    MatrixActor("relative-consented", _person(ONKEL_FNR), {"kari": NOT_AUDIT}),
    MatrixActor("relative-unconsented", _person(NABO_FNR), refused_types=RECORD),
    MatrixActor("coordinator", _practitioner(OLA, KOMMUNE), {"kari": NOT_AUDIT},
                writes_to=RECORD - {"AuditEvent"}),
    MatrixActor("practitioner-consented", _practitioner(INGRID, KOMMUNE), {"kari": NOT_AUDIT}),
    MatrixActor("practitioner-unconsented", _practitioner(PER, KOMMUNE), refused_types=RECORD),
    MatrixActor("other-municipality", _practitioner(SIRI, ANNEN_KOMMUNE), {"eva": NOT_AUDIT}),
    MatrixActor("coordinating-unit", _practitioner(UNN, ENHET, role="koordinerende-enhet"),
                {"kari": ADMIN_TYPES}, masked=True,
                writes_to=frozenset({"Patient", "CareTeam", "EpisodeOfCare", "Consent"})),
    MatrixActor("break-the-glass", _practitioner(PER, KOMMUNE, purpose_of_use="ETREAT",
                                                 btg_reason="Bevisstløs pasient i akuttmottaket"),
                {p: NOT_AUDIT for p in PATIENTS}, system_wide=False),
    MatrixActor("system", {"sub": "migration-job", "client_id": "migration-job", "scope": "system/*.cruds"},
                everything=True, writes_to=RECORD - {"AuditEvent"}),
]}


# -- whose record a resource is ------------------------------------------------------------

def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str):
            yield reference
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


# The elements that put a resource in a patient's compartment (R4 CompartmentDefinition).
_COMPARTMENT_ELEMENTS = {
    "CarePlan": ("subject",), "Goal": ("subject",), "CareTeam": ("subject", "participant"),
    "Task": ("for", "focus"), "ServiceRequest": ("subject", "performer"), "EpisodeOfCare": ("patient",),
    "DocumentReference": ("subject", "author"), "Consent": ("patient",), "RelatedPerson": ("patient",),
    "Provenance": ("target",), "AuditEvent": ("agent", "entity"),
    "Communication": ("subject", "sender", "recipient"),
}


def patients_of(resource: dict[str, Any]) -> set[str]:
    """The patients whose compartment holds this resource."""
    res_type = resource["resourceType"]
    if res_type == "Patient":
        return {resource["id"]}
    found = set()
    for element in _COMPARTMENT_ELEMENTS.get(res_type, ()):
        for reference in _references(resource.get(element)):
            kind, _, patient = reference.partition("/")
            if kind == "Patient" and "/" not in patient:
                found.add(patient)
    return found


def should_see(actor: MatrixActor, resource: dict[str, Any]) -> bool:
    """Whether the actor may see this resource, by the rules written out in ACTORS."""
    if actor.everything:
        return True
    res_type = resource["resourceType"]
    if res_type in DIRECTORY_TYPES or res_type in DEFINITION_TYPES:
        return actor.directory
    return any(actor.reads(patient, res_type) for patient in patients_of(resource))
