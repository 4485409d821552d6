"""What an interaction hands to the code it runs: the services and the open transaction.

The interactions build a `Context` per request; the rules below them (the plan rules, the
write hooks) receive it and write through `Services.save`, the interactions' one write path,
so they never import the interactions themselves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fhirip.audit.trail import AuditTrail
from fhirip.config import Settings
from fhirip.consent.decide import ReadAhead
from fhirip.errors import FhirError, Issue
from fhirip.store import Current, Store, Tx
from fhirip.validation.checked_ahead import CheckedAhead

# A write hook sees the resource about to be stored (and the version it replaces)
# and returns issues: errors refuse the write (422), warnings travel with the response.
WriteHook = Callable[["Context", dict[str, Any], Current | None], list[Issue]]



class Save(Protocol):
    """The write path (`fhirip.interactions.write.save`): check and store one resource version
    with every hook and reference check; returns its state, stored bytes and warnings."""

    def __call__(self, ctx: Context, resource: dict[str, Any], *, previous: Current | None,
                 method: str) -> tuple[Current, bytes, list[Issue]]: ...


@dataclass
class Services:
    """Long-lived parts shared by all requests of one server process."""

    settings: Settings
    store: Store
    save: Save  # the rules that write versions of their own go through it like any client
    write_hooks: list[WriteHook] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # validator, terminology …
    audit_trail: AuditTrail = field(init=False)

    def __post_init__(self) -> None:
        self.audit_trail = AuditTrail(self.store, mover=self.settings.audit_mover)

    def expand(self, valueset_url: str, resource: dict[str, Any] | None = None) -> set[tuple[str, str]] | None:
        """(system, code) pairs of a value set (by its URL, or the `resource` itself), for
        search's :in / :not-in; None if unknown."""
        terminology = self.extras.get("terminology")
        if terminology is None:
            return None
        try:
            expansion = terminology.expand(url=valueset_url) if resource is None \
                else terminology.expand(value_set=resource)
        except FhirError:  # unknown or too large to expand: the caller reports it
            return None
        return {(c.get("system", ""), c["code"]) for c in _flatten(expansion["expansion"].get("contains", []))}


def _flatten(contains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in contains:
        if "code" in item:
            out.append(item)
        out.extend(_flatten(item.get("contains", [])))
    return out


@dataclass
class Context:
    """One interaction: the services, its transaction and who is asking."""

    services: Services
    tx: Tx
    base_url: str
    actor: Any = None
    # The consent decision for this request (None: a trusted internal job, e.g. a migration)
    # and its SQL condition on a resource row alias, which every read statement carries.
    access: Any = None
    policy: Callable[[Any], Any] | None = None
    # Inside a transaction, references are checked once all entries are written, so
    # entries may refer to each other in any order, and a deleted resource only has to
    # be unreferenced at the end (its referrers may be deleted or changed by later entries).
    in_transaction: bool = False
    deferred_references: list[tuple[dict[str, Any], list[Any]]] = field(default_factory=list)
    deferred_deletes: list[Any] = field(default_factory=list)  # Current of each deleted resource
    # The request's X-Provenance header, for a grant recorded for the patient (`recorded_grant`).
    provenance: str | None = None
    # What a trusted internal job (the legacy import) checked and extracted ahead of its writes,
    # taken by `write.save` for exactly the content checked; an API request never carries any.
    checked_ahead: CheckedAhead | None = None
    # The writes the plan rules make themselves to retire a consent a newer one supersedes
    # (`fhirip.plans.lifecycle`) run in a copy of the context with this set: not a withdrawal.
    superseding: bool = False
    # The resource a read names, read by the statement that read the caller's access rows
    # (`fhirip.consent.decide.decide_reading`); None: the read reads it itself.
    read_ahead: ReadAhead | None = None
    # The content of the live version a write replaces, read once by `write.save` for every check
    # and rule that compares the new version with it (None: a create, or a write after a deletion).
    previous_content: dict[str, Any] | None = None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def base_urls(self) -> tuple[str, ...]:
        bases = [self.base_url]
        if self.settings.base_url and self.settings.base_url != self.base_url:
            bases.append(self.settings.base_url)
        return tuple(bases)


def visible_keys(ctx: Context, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the (type, id) pairs exist and may be seen (all existing ones without a policy)."""
    if ctx.access is None:
        return ctx.tx.existing(keys)
    return ctx.access.visible(ctx.tx.conn, keys)
