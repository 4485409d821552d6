"""Build the Provenance recorded for a write: who changed which resource versions, and why.

https://hl7.org/fhir/R4/provenance.html
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fhirip.audit.agents import client_reference, organization_reference, person_reference
from fhirip.audit.codes import PROVENANCE_PARTICIPANT_TYPE, V3_ACT_REASON, V3_DATA_OPERATION, coding, instant
from fhirip.auth.actor import Actor

# FHIR interaction → v3-DataOperation code; the v3 codes themselves are accepted as they are.
_ACTIVITY = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}
_DATA_OPERATIONS = {"CREATE": "create", "UPDATE": "revise", "DELETE": "remove", "APPEND": "append",
                    "NULLIFY": "nullify", "ABORT": "abort", "ACTIVATE": "activate", "CANCEL": "cancel",
                    "COMPLETE": "complete", "HOLD": "hold", "JUMP": "jump", "OBSOLETE": "obsolete",
                    "RELEASE": "release", "REACTIVATE": "reactivate", "RESUME": "resume",
                    "SUSPEND": "suspend"}


def provenance(actor: Actor, *, targets: Sequence[str], activity: str, recorded: datetime,
               reason: str | None = None) -> dict[str, Any]:
    """The Provenance (as JSON) for a write by ``actor``.

    ``targets`` should be versioned references ("CarePlan/1/_history/3") so the record
    points at exactly what was written. ``activity`` is create, update, patch or delete,
    or a v3-DataOperation code. ``reason`` is free text (e.g. why a coordinator changed).
    """
    if not targets:
        raise ValueError("a Provenance needs at least one target")
    code = _ACTIVITY.get(activity, activity)
    if code not in _DATA_OPERATIONS:
        raise ValueError(f"activity {activity!r} is neither create/update/patch/delete nor a v3-DataOperation code")

    record: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": target} for target in dict.fromkeys(targets)],
        "recorded": instant(recorded),
        "activity": {"coding": [coding(V3_DATA_OPERATION, code, _DATA_OPERATIONS[code])]},
        "agent": _agents(actor),
    }
    reasons: dict[str, Any] = {}
    if actor.purpose_of_use is not None:
        reasons["coding"] = [coding(V3_ACT_REASON, actor.purpose_of_use)]
    if reason:
        reasons["text"] = reason
    if reasons:
        record["reason"] = [reasons]
    return record


def _agents(actor: Actor) -> list[dict[str, Any]]:
    organization = organization_reference(actor)
    person = person_reference(actor)
    client = client_reference(actor)
    agents: list[dict[str, Any]] = []
    if person is not None:
        author: dict[str, Any] = {"type": {"coding": [coding(PROVENANCE_PARTICIPANT_TYPE, "author", "Author")]},
                                  "who": person}
        if organization is not None:
            author["onBehalfOf"] = organization
        agents.append(author)
    # The application through which the change came: it entered what a person authored,
    # or performed the change itself when no person acts.
    participant = ("enterer", "Enterer") if person is not None else ("performer", "Performer")
    software: dict[str, Any] = {"type": {"coding": [coding(PROVENANCE_PARTICIPANT_TYPE, *participant)]},
                                "who": client}
    if person is None and organization is not None:
        software["onBehalfOf"] = organization
    agents.append(software)
    return agents
