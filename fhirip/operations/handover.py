"""Coordinator handover: `CareTeam/[id]/$handover` and `EpisodeOfCare/[id]/$handover`.

https://hl7.org/fhir/R4/operations.html
(operation definition: http://fhirip.no/fhir/OperationDefinition/handover)

POST a Parameters resource with `coordinator` (valueReference to the incoming
Practitioner or PractitionerRole), `date` (valueDate, the incoming coordinator's
first day; default today), `note` (valueString, what is handed over; required)
and, when a team has both kinds, `role` (valueCode 8 or 18). The outgoing
period ends the day before, the incoming one starts on the date, and a handover
note (Communication) and a Provenance are written — all in the request's one
transaction. Returns a Bundle (collection) of the versions written.
"""

from __future__ import annotations

from datetime import date

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.errors import BadRequest
from fhirip.interactions.access import ensure_visible
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.handover import (
    Handover,
    checked_incoming,
    hand_over_episode,
    hand_over_team,
)
from fhirip.operations.parameters import date_value, input_parameters
from fhirip.plans.recording import read_current


def handover(ctx: Context, req: FhirRequest) -> FhirResponse:
    # A team or episode the caller may not see answers as an unknown one, before any rule
    # looks at its coordinators and dates.
    ensure_visible(ctx, req.res_type or "", req.res_id or "")
    given = input_parameters(req)
    if "coordinator" not in given:
        raise BadRequest("Parameter 'coordinator' (valueReference) is required", expression=["coordinator"])
    note = (given.get("note") or {}).get("valueString")
    if not note or not str(note).strip():
        raise BadRequest("Parameter 'note' (valueString) is required: what the outgoing coordinator "
                         "hands over", expression=["note"])
    on = date_value(given["date"].get("valueDate"), "date") if "date" in given else date.today()
    code = (given.get("role") or {}).get("valueCode")
    if code is not None and code not in ("8", "18"):
        raise BadRequest(f"Parameter 'role' must be 8 or 18 (Volven 9034), got '{code}'", expression=["role"])
    request = Handover(checked_incoming(given["coordinator"].get("valueReference")), on, str(note), code)
    if req.res_type == "CareTeam":
        written = hand_over_team(ctx, req.res_id or "", request)
    else:
        written = hand_over_episode(ctx, req.res_id or "", request)
    base = req.base_url.rstrip("/")
    entries = []
    for current in written:
        resource = read_current(ctx, current.res_type, current.res_id)
        entries.append({"fullUrl": f"{base}/{current.res_type}/{current.res_id}", "resource": resource})
    return FhirResponse(200, resource={"resourceType": "Bundle", "type": "collection", "entry": entries})


register(Operation(
    name="handover", levels=frozenset({"instance"}), handler=handover,
    resource_types=frozenset({"CareTeam", "EpisodeOfCare"}), writes=True,
    definition=f"{OPERATION_DEFINITION}/handover",
    documentation="Hand the coordinator role over: end the current period, start the new one, "
                  "with a handover note and Provenance, in one transaction"))
