"""A grant recorded for the patient carries the patient's word: the Provenance naming them.

https://hl7.org/fhir/R4/http.html#provenance, https://hl7.org/fhir/R4/provenance.html

The patient (or a guardian of a child) writes their own sharing Consent. The coordinator and
the coordinating unit may write one too, but only as the record of the patient's own
decision, and the record says so: the write of an active sharing Consent by them comes with an
`X-Provenance` header holding a Provenance with an agent whose `who` is the consent's patient
(`Patient/<id>`), the one who consented. Without it the write is refused (403, saying what is
missing). With it, the server stores that Provenance in the same transaction as the Consent,
targeting exactly the version written, recorded now, with the writer and their application
added as agents. The header is what HAPI FHIR and other servers take for a write's
provenance; a transaction or batch takes it for its entries alike.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from fhirip.audit.provenance import provenance
from fhirip.context import Context, visible_keys
from fhirip.errors import BadRequest, FhirError, Forbidden, Issue
from fhirip.model.references import local_references
from fhirip.model.resources import check_resource
from fhirip.store import Current

HEADER = "X-Provenance"
# What the client's Provenance may bring along; the server sets the rest.
_KEPT = ("occurredPeriod", "occurredDateTime", "policy", "location", "reason", "entity", "signature")
# An agent naming the patient without saying in what role is recorded as the one who consented.
_CONSENTER = {"text": "consenter"}
# What of an agent naming the patient is kept: the patient acts for no one else here.
_AGENT_KEPT = ("type", "role", "who")


def require_consenter(ctx: Context, consent: dict[str, Any], previous: Current | None,
                      patients: frozenset[str]) -> None:
    """Refuse the recorded grant unless `X-Provenance` names each of `patients` as an agent;
    store that Provenance for the version about to be written."""
    given = _parsed(ctx.provenance)
    wanted = [f"Patient/{patient}" for patient in sorted(patients)]
    if given is None:
        raise Forbidden(_missing(wanted, "no X-Provenance header came with it"))
    named = {_reference(agent.get("who")) for agent in given.get("agent") or [] if isinstance(agent, dict)}
    absent = [patient for patient in wanted if patient not in named]
    if absent:
        raise Forbidden(_missing(absent, "the X-Provenance names no agent with who = " + ", ".join(absent)))
    version = previous.version + 1 if previous is not None else 1
    target = f"Consent/{consent['id']}/_history/{version}"
    record = provenance(ctx.actor, targets=[target], activity="update" if previous else "create",
                        recorded=datetime.now(UTC))
    consenting = [{key: agent[key] for key in _AGENT_KEPT if key in agent} | {"type": agent.get("type") or _CONSENTER}
                  for agent in given["agent"] if isinstance(agent, dict) and _reference(agent.get("who")) in wanted]
    record["agent"] = [*consenting, *record["agent"]]
    record.update({key: given[key] for key in _KEPT if key in given})
    record["id"] = str(uuid.uuid4())
    _refuse_invalid(ctx, record)
    _refuse_other_signers(record, wanted)
    _refuse_unseen_references(ctx, record)
    ctx.tx.write(record, method="POST", previous=None)


def _refuse_invalid(ctx: Context, record: dict[str, Any]) -> None:
    """The Provenance as it will be stored passes every write check the server makes of a
    resource (its validation among them), or the request is a 400 naming the header."""
    try:
        check_resource(record, "Provenance")
    except FhirError as error:
        errors = error.issues
    else:
        errors = [issue for hook in ctx.services.write_hooks for issue in hook(ctx, record, None)
                  if issue.severity in ("error", "fatal")]
    if errors:
        issues = [Issue(i.severity, i.code, f"{HEADER}: {i.diagnostics}",
                        tuple(f"{HEADER}.{e.removeprefix('Provenance.')}" for e in i.expression or ("Provenance",)))
                  for i in errors]
        raise BadRequest(issues[0].diagnostics, issues=issues)


def _refuse_other_signers(record: dict[str, Any], wanted: list[str]) -> None:
    """The patient's word is signed by the patient: a signature by (or on behalf of) anyone else
    would make the record say someone else consented."""
    for i, signature in enumerate(record.get("signature") or []):
        for part in ("who", "onBehalfOf"):
            signer = _reference(signature.get(part))
            if part in signature and signer not in wanted:
                raise BadRequest(f"The {HEADER} signature[{i}].{part} must name the patient who consented "
                                 f"({', '.join(wanted)})", expression=[f"{HEADER}.signature[{i}].{part}"])


def _refuse_unseen_references(ctx: Context, record: dict[str, Any]) -> None:
    """What the Provenance mentions on this server (its entities, its location) the writer may
    see; one they may not answers as one that does not exist."""
    links = [link for link in local_references(record, ctx.base_urls) if not link.path.startswith("Provenance.target")]
    wanted = {(link.res_type, link.res_id) for link in links}
    found = visible_keys(ctx, wanted)
    for link in links:
        if (link.res_type, link.res_id) not in found:
            where = f"{HEADER}.{link.path.removeprefix('Provenance.')}"
            raise BadRequest(f"{where} refers to {link.res_type}/{link.res_id}, which does not exist on this "
                             "server or is not visible to the caller", expression=[where])


def _missing(patients: list[str], what: str) -> str:
    return (f"A sharing Consent written by the patient's coordinator or coordinating unit records the "
            f"patient's own decision, and must come with a Provenance naming the patient as the one "
            f"who consented: an {HEADER} header holding a Provenance with an agent whose who is "
            f"{', '.join(patients)}; {what}")


def _parsed(raw: str | None) -> dict[str, Any] | None:
    """The header's Provenance; a 400 naming the header when it is not one."""
    if raw is None or not raw.strip():
        return None
    try:
        given = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"The {HEADER} header is not JSON: {error}", expression=[HEADER]) from None
    if not isinstance(given, dict) or given.get("resourceType") != "Provenance":
        raise BadRequest(f"The {HEADER} header must hold a Provenance resource (JSON)", expression=[HEADER])
    if not isinstance(given.get("agent"), list) or not given["agent"]:
        raise BadRequest(f"The {HEADER} Provenance has no agent", expression=[f"{HEADER}.agent"])
    return given


def _reference(value: Any) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    return reference if isinstance(reference, str) else None
