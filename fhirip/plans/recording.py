"""Writing the versions the plan rules make themselves, each with its Provenance.

https://hl7.org/fhir/R4/provenance.html

When a rule changes a resource the client did not send (a plan revoked because
its consent was withdrawn, an old consent superseded, a coordinator handed
over), the change goes through the same write path as any client write (`Services.save`), so
every hook and reference check applies, and a Provenance says who and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from fhirip.audit import provenance
from fhirip.auth.actor import Actor, ActorKind
from fhirip.errors import Conflict
from fhirip.context import Context
from fhirip.model.resources import new_id
from fhirip.store import Current

# Until a request carries an authenticated actor, the server is the agent of its own rules.
SERVER_ACTOR = Actor(sub="fhirip", kind=ActorKind.SYSTEM, issuer="", client_id="fhirip")


def versioned(current: Current) -> str:
    return f"{current.res_type}/{current.res_id}/_history/{current.version}"


def read_current(ctx: Context, res_type: str, res_id: str) -> dict[str, Any] | None:
    """The current content of a resource in this transaction; None if absent or deleted."""
    stored = ctx.tx.read(res_type, res_id)
    if stored is None or stored.deleted or stored.content is None:
        return None
    return orjson.loads(stored.content)


def read_for_change(ctx: Context, res_type: str, res_id: str) -> tuple[dict[str, Any], Current] | None:
    """The current content of a resource the rules will change and write back, with its version;
    None if absent or deleted. Its row stays locked until the transaction ends, so a concurrent
    change waits and the change is built on the newest version (no lost update)."""
    current = ctx.tx.current(res_type, res_id, lock=True)
    if current is None or current.deleted:
        return None
    stored = ctx.tx.read(res_type, res_id, current.version)
    if stored is None or stored.content is None:
        return None
    return orjson.loads(stored.content), current


def for_the_rule(ctx: Context) -> Context:
    """The request's transaction, writing for a rule rather than for the caller: a consequence
    the rule draws from a write the caller was allowed to make (an older plan consent superseded,
    a plan revoked with its consent) is not a write of the caller's. It holds whatever records of
    the person the caller may see or write (a patient withdrawing their consent revokes their
    plan, which they may not edit), and says nothing of them: its references are checked at
    once, with no caller's view, and never reported back among the caller's."""
    return replace(ctx, access=None, policy=None, in_transaction=False,
                   deferred_references=[], deferred_deletes=[])


def write_version(ctx: Context, resource: dict[str, Any], expected: Current | None = None) -> Current:
    """Store `resource` as a new version (or a new resource) through the common write path.

    `expected` is the version the change was built on (`read_for_change`): if the resource has
    moved on since, nothing is written (409), rather than overwriting the newer version.
    """
    if not resource.get("id"):
        resource["id"] = new_id()
    previous = ctx.tx.current(resource["resourceType"], resource["id"], lock=True)
    gone = previous is None or previous.deleted
    if expected is not None and (gone or previous.version != expected.version):
        now = "deleted" if gone else f"version {previous.version}"
        raise Conflict(f"{expected.res_type}/{expected.res_id} changed while this change was made from "
                       f"version {expected.version} (it is now {now}); nothing was written, try again")
    current, _content, _warnings = ctx.services.save(ctx, resource, previous=previous,
                                                     method="PUT" if previous else "POST")
    return current


def record_provenance(ctx: Context, targets: Sequence[Current], *, activity: str,
                      reason: str) -> Current:
    """A Provenance for versions the rules wrote, by the request's actor (or the server).

    The server's record of a change the caller was allowed to make, stored as the audit trail
    is: not a write the caller's access is asked about (a Provenance targets versions, not a
    patient, so no caller but a system client could write one)."""
    actor = ctx.actor if isinstance(ctx.actor, Actor) else SERVER_ACTOR
    record = provenance(actor, targets=[versioned(t) for t in targets], activity=activity,
                        recorded=datetime.now(UTC), reason=reason)
    record["id"] = new_id()
    current, _content = ctx.tx.write(record, method="POST", previous=None)
    return current
