"""Write decisions: who may create, change or delete what.

- AuditEvent is written by the server only: never through the API, by anyone.
- A Consent is never deleted; it is withdrawn by setting its status to inactive.
- A resource in a patient's compartment (judged by the same parameters the index
  uses, for the new content AND the version it replaces, so nothing can be moved
  out of or into a compartment the actor may not write) needs, for every patient
  it belongs to, an access that writes its type:
  * the patient, and a parent/guardian of a minor: Consent, Goal,
    QuestionnaireResponse, Communication (what the person states themselves);
  * a practitioner, organisation or relative: a sharing Consent whose provision has
    the action `correct` (within its `class`);
  * the current coordinator (CareTeam role Volven 9034 code 8/18): every type their
    consent lets them read;
  * the coordinating unit: Patient, CareTeam, EpisodeOfCare, Consent of the patients
    it administers, and a NEW Patient whose managingOrganization is the unit;
  * a Patient's national identifiers (fødselsnummer, D-number) are not changed by an
    update but by a system client: they decide whose login reads the record and which
    records are one person;
  * break-the-glass: read only.
- A resource outside every compartment (directory, definitions, Bundle, Binary …)
  is written by system clients only (registry syncs, deployment, migration).
- A system client writes exactly the types its `system/` scopes name.

Who may grant: a sharing Consent (one that gives access) is written only by the patient,
a parent/guardian of a patient under 16, or the patient's coordinator or coordinating
unit recording the patient's own decision; someone the patient merely shares with (a
practitioner with `correct`, a relative named in a consent) may not share onwards, and
no one writes a permit naming themselves. A grant recorded for the patient (an active
sharing Consent written by the coordinator or the unit) is permitted on condition that it
comes with a Provenance naming the patient as the one who consented (`Decision.recorded_for`,
checked and stored with the write: `fhirip.interactions.recorded_grant`).

Every reason names only the actor's own rights and the type, never whether some
other resource or patient exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from fhirip.auth.actor import Actor, ActorKind
from fhirip.consent.access import Basis
from fhirip.consent.compartment import in_compartment, patients_of
from fhirip.consent.grants import is_sharing, permitted_actors
from fhirip.consent.owned import OWNED_TYPES
from fhirip.consent.references import local_ref
from fhirip.consent.vocabulary import AUDIT_TYPE, PERSON_SYSTEMS

if TYPE_CHECKING:
    from fhirip.consent.policy import AccessPolicy, Decision


def _decision(permitted: bool, reason: str = "", *, recorded_for: frozenset[str] = frozenset()) -> Decision:
    from fhirip.consent.policy import Decision

    return Decision(permitted, reason, recorded_for)


def can_write(policy: AccessPolicy, conn: Connection, resource: dict[str, Any],
              previous_content: dict[str, Any] | None) -> Decision:
    res_type = str(resource.get("resourceType"))
    interaction = "create" if previous_content is None else "update"
    refused = _refused_upfront(policy, res_type, interaction)
    if refused is not None:
        return refused
    settled = _settled_by_type(policy, res_type)
    if settled is not None:
        return settled
    patients = set(patients_of(resource))
    if previous_content is not None:
        patients |= patients_of(previous_content)
    if not patients:
        return _decision(False, f"A {res_type} must belong to a patient you may write for "
                                "(no patient reference was found in it)")
    if (res_type == "Patient" and previous_content is None and len(patients) == 1
            and _registers_for_unit(policy, resource)):
        return _decision(True)
    denied = _first_unwritable(policy, res_type, patients)
    if denied is not None:
        return _decision(False, f"Your access does not let you write {res_type} resources for Patient/{denied}")
    if res_type == "Patient" and previous_content is not None and _person_ids(resource) != _person_ids(previous_content):
        return _decision(False, "A Patient's fødselsnummer or D-number says whose record it is (whose login reads "
                                "it, which records are one person) and is changed only by a system client "
                                "(the population register's synchronisation)")
    if res_type == "Consent" and (is_sharing(resource) or (previous_content is not None and is_sharing(previous_content))):
        return _may_grant(policy, resource, patients)
    return _decision(True)


# Who may write a sharing Consent: the patient and a guardian of a minor, deciding themselves;
# the coordinator and the coordinating unit, recording the patient's decision.
_DECIDING = frozenset({Basis.SELF, Basis.PROXY})
_RECORDING = frozenset({Basis.COORDINATOR, Basis.ADMINISTRATIVE})


def _may_grant(policy: AccessPolicy, consent: dict[str, Any], patients: Iterable[str]) -> Decision:
    recorded_for = set()
    for patient in sorted(patients):
        grants = [a for a in policy.grants.get(patient, ()) if a.writes("Consent")]
        if any(a.basis in _DECIDING for a in grants):
            continue
        if not any(a.basis in _RECORDING for a in grants):
            return _decision(False, "A sharing Consent is written by the patient, a guardian of a patient "
                                    "under 16, or the patient's coordinator or coordinating unit recording "
                                    "the patient's decision")
        recorded_for.add(patient)
    named = set(permitted_actors(consent)) & policy.own_keys
    if named:
        return _decision(False, "A sharing Consent may not give access to the one who writes it "
                                f"({', '.join(sorted(named))})")
    if consent.get("status") != "active":
        recorded_for.clear()  # a draft or a withdrawal gives no one access
    return _decision(True, recorded_for=frozenset(recorded_for))


def can_delete(policy: AccessPolicy, conn: Connection, previous_content: dict[str, Any]) -> Decision:
    res_type = str(previous_content.get("resourceType"))
    if res_type == "Consent":
        return _decision(False, "A Consent is never deleted; withdraw it by setting its status "
                                "to 'inactive'")
    refused = _refused_upfront(policy, res_type, "delete")
    if refused is not None:
        return refused
    settled = _settled_by_type(policy, res_type)
    if settled is not None:
        return settled
    patients = patients_of(previous_content)
    if not patients:
        return _decision(False, f"Your access does not let you delete this {res_type}")
    denied = _first_unwritable(policy, res_type, patients)
    if denied is not None:
        return _decision(False, f"Your access does not let you delete {res_type} resources for Patient/{denied}")
    return _decision(True)


def _settled_by_type(policy: AccessPolicy, res_type: str) -> Decision | None:
    """System clients write what their scopes name; other callers only write into a patient's
    compartment. None: the patients decide."""
    actor = policy.actor
    assert actor is not None
    if actor.kind is ActorKind.SYSTEM and not policy.coordinating_unit:
        return _decision(True)
    if res_type in OWNED_TYPES:  # the caller's own (another's answers 404 before this)
        return _decision(True)
    if not in_compartment(res_type):
        return _decision(False, f"{res_type} resources are maintained by system clients only")
    return None


def _first_unwritable(policy: AccessPolicy, res_type: str, patients: Iterable[str]) -> str | None:
    """The first of these patients for whom no grant lets the caller write `res_type`."""
    return next((p for p in sorted(patients)
                 if not any(a.writes(res_type) for a in policy.grants.get(p, ()))), None)


def records_disclosures(actor: Actor, interaction: str) -> bool:
    """AuditEvents are append-only: the server writes its own, and a system client (an EHR
    recording its own disclosures in the patient's log) may add one. Nobody updates, patches or
    deletes one."""
    return interaction == "create" and actor.kind is ActorKind.SYSTEM and actor.scope_allows(AUDIT_TYPE, "create")


def _refused_upfront(policy: AccessPolicy, res_type: str, interaction: str) -> Decision | None:
    actor = policy.actor
    if actor is None:
        return _decision(False, "Authentication is required")
    if res_type == AUDIT_TYPE and not records_disclosures(actor, interaction):
        return _decision(False, "AuditEvent records are append-only: a system client may create one, and "
                                "nobody may change or delete one through the API")
    if not actor.scope_allows(res_type, interaction):
        return _decision(False, f"The token's scopes do not permit {interaction} on {res_type}")
    if policy.break_the_glass and not any(a.writes(res_type) for g in policy.grants.values() for a in g):
        return _decision(False, "Emergency (break-the-glass) access is read only")
    if actor.kind is ActorKind.SYSTEM and not policy.coordinating_unit and res_type not in policy.system_writes:
        return _decision(False, f"The token's system scopes do not name {res_type}")
    return None


def _person_ids(patient: dict[str, Any]) -> set[tuple[str, str]]:
    """The national identifiers a Patient carries: who the person is."""
    return {(str(i.get("system")), str(i.get("value"))) for i in patient.get("identifier") or []
            if isinstance(i, dict) and i.get("system") in PERSON_SYSTEMS}


def _registers_for_unit(policy: AccessPolicy, patient: dict[str, Any]) -> bool:
    """A new Patient registered by the coordinating unit as managed by the unit itself."""
    return local_ref(patient.get("managingOrganization")) in policy.unit_organizations
