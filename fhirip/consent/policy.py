"""AccessPolicy: one request's access decision, as SQL for reads and as checks for writes.

Built by `fhirip.consent.decide` at the start of every request from the current
data; nothing of it outlives the request, so a withdrawn Consent takes effect on
the next one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, false, or_, select, true
from sqlalchemy.sql.expression import FromClause

from fhirip.auth.actor import Actor, ActorKind
from fhirip.auth.scopes import INTERACTION_PERMISSION, ScopeSet
from fhirip.consent import sql as policy_sql
from fhirip.consent.access import Access, Basis, Label
from fhirip.consent.administrative import hidden_search_params, mask_care_plan
from fhirip.consent.compartment import patients_of
from fhirip.consent.owned import OWNED_TYPES, owned_clause, owned_rids, owner_key, owner_of
from fhirip.consent.references import Ref, local_ref
from fhirip.consent.scopes import scope_condition
from fhirip.consent.vocabulary import AUDIT_TYPE, all_resource_types
from fhirip.search.index import token_rows
from fhirip.search.registry import registry
from fhirip.store.schema import resource as resource_table

_VISIBLE = resource_table.alias("visible_resource")
_KEPT_CONDITIONS = 16
WRITE_INTERACTIONS = frozenset({"create", "update", "patch", "delete"})
# Interactions that reach across all patients at once; emergency access is for one patient.
_SYSTEM_WIDE = frozenset({"search-system", "history-system", "history-type"})
# Interaction names the router uses that the scope table knows under another name.
_SCOPE_INTERACTION = {"search-compartment": "search-type", "history-instance": "history"}


@dataclass(frozen=True)
class Decision:
    """A write decision; `reason` is safe to show the caller (it never depends on
    data the caller may not see)."""

    permitted: bool
    reason: str = ""
    # A grant written for these patients by someone recording their decision (the coordinator,
    # the coordinating unit): permitted on condition that a Provenance names each as consenting.
    recorded_for: frozenset[str] = frozenset()


@dataclass
class AccessPolicy:
    """What one actor may do during one request."""

    actor: Actor | None
    decided_at: datetime
    # patient id → the accesses into that patient's compartment
    grants: Mapping[str, tuple[Access, ...]] = field(default_factory=dict)
    # Types readable without any patient (directory, definitions; for a system client
    # every type its scopes name).
    open_types: frozenset[str] = frozenset()
    # Emergency access to every patient's compartment (break-the-glass).
    everyone: Access | None = None
    # Types the token's scopes let the actor read at all; None = no limit from scopes.
    scope_read_types: frozenset[str] | None = None
    system_writes: frozenset[str] = frozenset()  # a system client's writable types
    # Organisations whose new Patients the coordinating unit may register.
    unit_organizations: frozenset[Ref] = frozenset()
    break_the_glass: bool = False
    break_the_glass_refused: str | None = None
    coordinating_unit: bool = False
    consents: tuple[str, ...] = ()
    is_relative: bool = False  # a RelatedPerson carries the person's number
    # The caller's own grantee keys (identifiers and references; `fhirip.consent.grants`).
    own_keys: frozenset[str] = frozenset()
    # Type → the scope queries one of which a row must match (`fhirip.consent.scopes`).
    scope_queries: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    dialect: str = "sqlite"  # the database the SQL is for
    # The patients the decision was made for (`decide(within=...)`); None: every patient.
    within: frozenset[str] | None = None
    # The condition per `resource` alias it was built for: the same few aliases recur in
    # every statement of a request, and a condition over hundreds of patients is costly to build.
    _conditions: dict[Any, ColumnElement[bool]] = field(default_factory=dict, repr=False, compare=False)

    # -- what the audit record needs --------------------------------------------------------

    @property
    def patients(self) -> frozenset[str]:
        """Ids of the patients whose compartment the actor may read (not counting
        break-the-glass, which reaches every patient: see `break_the_glass`)."""
        return frozenset(self.grants)

    @property
    def administrative_only(self) -> bool:
        """Every access is the coordinating unit's administrative view."""
        accesses = [a for group in self.grants.values() for a in group]
        return bool(accesses) and self.everyone is None and \
            all(a.basis is Basis.ADMINISTRATIVE for a in accesses)

    @property
    def masks(self) -> bool:
        """Whether `mask` can change anything: some patient is seen through the
        administrative view only (the caller may skip parsing stored bytes otherwise)."""
        return self.everyone is None and any(
            all(a.basis is Basis.ADMINISTRATIVE for a in group if a.reads("CarePlan"))
            and any(a.reads("CarePlan") for a in group) for group in self.grants.values())

    def bases(self, patient_id: str) -> tuple[str, ...]:
        """Why the actor may see this patient (self, proxy, consent, coordinator, administrative)."""
        return tuple(dict.fromkeys(a.basis.value for a in self.grants.get(patient_id, ())))

    def consents_for(self, patient_id: str) -> tuple[str, ...]:
        """The Consents that gave or narrowed the actor's access to this patient, for the audit record."""
        return tuple(dict.fromkeys(c for a in self.grants.get(patient_id, ()) for c in a.consents))

    @property
    def resolved_actor(self) -> Actor | None:
        """The actor as the data knows them: a person becomes the patient (their own
        Patient exists) or a relative (a RelatedPerson has their number), for the
        audit record's role; everyone else is returned unchanged."""
        actor = self.actor
        if actor is None or actor.kind is not ActorKind.PERSON:
            return actor
        if any(a.basis is Basis.SELF for group in self.grants.values() for a in group):
            return actor.resolved_as(ActorKind.PATIENT)
        if self.is_relative:
            return actor.resolved_as(ActorKind.RELATIVE)
        return actor

    # -- reads ------------------------------------------------------------------------------

    def sql(self, alias: FromClause, types: Collection[str] | None = None,
            per_row: bool = False) -> ColumnElement[bool]:
        """The rows of `resource` (as `alias`) the actor may read. `types`: the statement reads
        only rows of these types through `alias` (it says so itself), so the condition leaves out
        the parts that cannot admit such a row (the open types, the caller's Subscriptions, the
        Patient rows, another group's types) and those every such row passes (an excluded type
        they are not): the rows of those types it admits are the same, the statement smaller.
        `per_row`: the statement reaches only a few rows through `alias`, so each is tested by
        its own links (`compartment_condition`); the rows admitted are the same."""
        key = (alias, frozenset(types) if types is not None else None, per_row)
        built = self._conditions.get(key)
        if built is None:
            built = self._condition(alias, key[1], per_row)
            if len(self._conditions) < _KEPT_CONDITIONS:
                self._conditions[key] = built
        return built

    def _condition(self, alias: FromClause, types: frozenset[str] | None = None,
                   per_row: bool = False) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = []
        if self.open_types and self.open_types >= all_resource_types() and self.scope_read_types is None \
                and not self.scope_queries:
            return true()  # every row of every type (a system client with `system/*` scopes)
        shared = self._shared
        if types is not None and self.scope_read_types is not None and not types & self.scope_read_types:
            return false()
        if types is not None and types <= self.open_types:
            permitted: ColumnElement[bool] = true()  # every row of these types
        else:
            if shared.open_types is not None and (types is None or types & self.open_types):
                conditions.append(policy_sql.in_list(alias.c.res_type, shared.open_types, self.dialect))
            owned = OWNED_TYPES - self.open_types
            if shared.owner is not None and (types is None or types & owned):
                conditions.append(owned_clause(alias, shared.owned))  # the caller's own Subscriptions
            for group in shared.groups:
                if types is None or any(group.access.reads(t) for t in types):
                    conditions.append(policy_sql.compartment_condition(alias, group, self.dialect, types, per_row))
            if not conditions:
                return false()
            permitted = or_(*conditions) if len(conditions) > 1 else conditions[0]
        if self.scope_read_types is not None and (types is None or not types <= self.scope_read_types):
            permitted = and_(policy_sql.in_list(alias.c.res_type, shared.scope_read_types, self.dialect)
                             if shared.scope_read_types is not None else false(), permitted)
        if self.scope_queries:
            permitted = and_(permitted, scope_condition(alias, self.scope_queries, self.decided_at))
        return permitted

    __call__ = sql  # usable wherever a search `Policy` callable is expected

    def sees_every(self, res_type: str) -> bool:
        """Whether `sql` admits every row of `res_type` (a type the actor reads wholesale),
        so a row needs no statement of its own to be found visible."""
        return res_type in self.open_types and res_type not in self.scope_queries and \
            (self.scope_read_types is None or res_type in self.scope_read_types)

    @cached_property
    def _shared(self) -> _SharedParts:
        """What `sql` builds for every alias alike, built once per decision: the lists of values
        (types, patients), each group of patients' compartment membership and the caller's own
        Subscriptions. A request's statements apply the condition to several aliases (the searched
        rows, a chain's targets, the included rows), and building these again for each costs more
        than running them."""
        groups = [policy_sql.compartments(access, patient_ids, self.dialect)
                  for access, patient_ids in policy_sql.grouped(self.grants)]
        if self.everyone is not None:
            groups.append(policy_sql.compartments(self.everyone, None, self.dialect))
        return _SharedParts(
            open_types=policy_sql.value_list(self.open_types, self.dialect) if self.open_types else None,
            groups=tuple(groups),
            owner=owner_key(self.actor) if self.actor is not None and OWNED_TYPES - self.open_types else None,
            scope_read_types=policy_sql.value_list(self.scope_read_types, self.dialect)
            if self.scope_read_types else None)

    def visible(self, conn: Connection, keys: Collection[Ref]) -> set[Ref]:
        """Which of these (type, id) the actor may see: current, not deleted, permitted.
        For read, for referential-integrity checks and for error messages alike, so a
        resource the actor may not see behaves exactly as one that does not exist."""
        if not keys:
            return set()
        wanted = set(keys)
        r = _VISIBLE
        # Two IN lists, the cross pairs dropped here: SQLite seeks the (res_type, res_id) index for
        # these, where a row-value IN walks every row of the table.
        query = select(r.c.res_type, r.c.res_id).where(
            r.c.res_type.in_(sorted({t for t, _ in wanted})), r.c.res_id.in_(sorted({i for _, i in wanted})),
            r.c.deleted.is_(False), self.sql(r))
        return {(t, i) for t, i in conn.execute(query) if (t, i) in wanted}

    def may_read_version(self, res_type: str, content: Mapping[str, Any]) -> bool:
        """Whether the actor may read this version (its JSON) of a resource, judged by the
        version's own content: the compartments it was in, its labels, its id.

        `sql` judges a resource by its current row; an older version may have been in
        another patient's record (a resource moved between records) and must not be
        served to whoever may see the resource now. The rules are those of `sql`,
        applied to the version: the scopes bound every type, an open type is read
        wholesale, and otherwise some access to a patient whose compartment the
        version is in (`patients_of`, the same parameters the index uses) must read the
        type and admit the version's labels and id. Masking is not decided here: `mask`
        applies to the version as to any resource."""
        if self.scope_read_types is not None and res_type not in self.scope_read_types:
            return False
        if res_type in self.scope_queries:
            return False  # judged by the scopes' queries in SQL only
        if res_type in self.open_types:
            return True
        if res_type in OWNED_TYPES:
            return self.actor is not None and owner_of(content) == owner_key(self.actor)
        patients = patients_of(dict(content)) if content.get("resourceType") == res_type else frozenset()
        if not patients:
            return False
        if self.within is not None and not patients <= self.within:
            return False  # decided for some patients only: what it knows nothing of it admits nothing of
        instance = (res_type, str(content.get("id")))
        labels = _security_labels(res_type, content)
        accesses = [a for p in patients for a in self.grants.get(p, ())]
        if self.everyone is not None:
            accesses.append(self.everyone)
        return any(_admits(access, res_type, instance, labels) for access in accesses)

    def may(self, interaction: str, res_type: str | None) -> bool:
        """Upper bound for an interaction on a type, before any data is touched: the
        token's scopes and the actor's role. True still leaves the rows to `sql` and
        each write to `can_write`."""
        actor = self.actor
        if actor is None:
            return False
        if interaction in ("capabilities", "batch", "transaction") or interaction.startswith("operation:"):
            return True  # each entry / the operation is decided on its own
        scope_interaction = _SCOPE_INTERACTION.get(interaction, interaction)
        if scope_interaction not in INTERACTION_PERMISSION:
            return False
        if res_type is None:  # system-level search or history: per type in the SQL
            return interaction not in WRITE_INTERACTIONS and not (self.break_the_glass and not self.grants)
        if interaction in WRITE_INTERACTIONS and res_type == AUDIT_TYPE:
            from fhirip.consent.writes import records_disclosures

            if not records_disclosures(actor, interaction):
                return False
        if not actor.scope_allows(res_type, scope_interaction):
            return False
        if res_type in OWNED_TYPES and res_type not in self.open_types:
            return not self.break_the_glass or interaction not in WRITE_INTERACTIONS  # their own only (`sql`)
        if actor.kind is ActorKind.SYSTEM and not self.coordinating_unit:
            return res_type in (self.system_writes if interaction in WRITE_INTERACTIONS else self.open_types)
        if interaction in WRITE_INTERACTIONS:
            if res_type == "Patient" and interaction == "create" and self.unit_organizations:
                return True
            return any(a.writes(res_type) for group in self.grants.values() for a in group)
        if self.break_the_glass and not self.grants and interaction in _SYSTEM_WIDE:
            return False
        return self.reads_type(res_type)

    def reads_type(self, res_type: str) -> bool:
        if self.scope_read_types is not None and res_type not in self.scope_read_types:
            return False
        if res_type in self.open_types:
            return True
        if self.everyone is not None and self.everyone.reads(res_type):
            return True
        return any(a.reads(res_type) for group in self.grants.values() for a in group)

    def hidden_search_params(self, res_type: str) -> frozenset[str]:
        """Search parameters the actor may not use on this type: where some patient is
        seen only through the administrative view, a match on masked content would
        reveal it."""
        if self.everyone is not None:
            return frozenset()
        for accesses in self.grants.values():
            readers = [a for a in accesses if a.reads(res_type)]
            if readers and all(a.basis is Basis.ADMINISTRATIVE for a in readers):
                return hidden_search_params(res_type)
        return frozenset()

    def mask(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource as this actor may see it: masked where the only access to its
        patient is the administrative view, unchanged otherwise."""
        if resource.get("resourceType") != "CarePlan":
            return resource
        patients = patients_of(resource) or _subject(resource)
        accesses = [a for p in patients for a in self.grants.get(p, ())]
        if self.everyone is not None or any(a.basis is not Basis.ADMINISTRATIVE and a.reads("CarePlan")
                                            for a in accesses):
            return resource
        if any(a.basis is Basis.ADMINISTRATIVE for a in accesses):
            return mask_care_plan(resource)
        return resource

    # -- writes -----------------------------------------------------------------------------

    def can_write(self, conn: Connection, resource: dict[str, Any],
                  previous_content: dict[str, Any] | None) -> Decision:
        """Whether the actor may store `resource` (replacing `previous_content`, the
        current version, or creating it when None). The caller answers 404 before this
        for a previous version the actor may not see."""
        from fhirip.consent.writes import can_write

        return can_write(self, conn, resource, previous_content)

    def can_delete(self, conn: Connection, previous_content: dict[str, Any]) -> Decision:
        from fhirip.consent.writes import can_delete

        return can_delete(self, conn, previous_content)


@dataclass(frozen=True)
class _SharedParts:
    open_types: policy_sql.ValueList | None
    groups: tuple[policy_sql.Compartments, ...]
    owner: str | None  # whose Subscriptions the caller reads (`owner_key`); None: nothing is owned
    scope_read_types: policy_sql.ValueList | None

    @cached_property
    def owned(self) -> Any:
        """The caller's own Subscriptions' rids (a subquery), None: nothing is owned. Built when a
        statement first reads a type the caller may own: few do."""
        return owned_rids(self.owner) if self.owner is not None else None


def _admits(access: Access, res_type: str, instance: tuple[str, str], labels: frozenset[Label]) -> bool:
    """`compartment_clause` of `fhirip.consent.sql` for one version already known to be in
    a compartment `access` applies to: the type, the labels and the single resources."""
    if not access.reads(res_type) or instance in access.excluded_resources:
        return False
    if access.required_labels is not None and not _labels_match(labels, access.required_labels):
        return False
    return not (access.denied_labels and _labels_match(labels, access.denied_labels))


def _labels_match(labels: frozenset[Label], wanted: frozenset[Label]) -> bool:
    """Like the SQL: a wanted label without a system matches its code in any system."""
    return any((system, code) in labels if system else any(c == code for _, c in labels)
               for system, code in wanted)


def _security_labels(res_type: str, content: Mapping[str, Any]) -> frozenset[Label]:
    """The version's `_security` tokens as (system, code), extracted as the index extracts them."""
    reg = registry()
    param = reg.get(res_type, "_security")
    extractor = reg.extractor(res_type, param) if param is not None else None
    if extractor is None:
        return frozenset()
    return frozenset((row["system"] or "", row["code"]) for value in extractor.evaluate(dict(content))
                     for row in token_rows(value) if row["code"] is not None)


def _subject(resource: dict[str, Any]) -> frozenset[str]:
    ref = local_ref(resource.get("subject"))
    return frozenset({ref[1]}) if ref and ref[0] == "Patient" else frozenset()


def scope_read_types(actor: Actor) -> frozenset[str] | None:
    """Types some scope lets the actor read or search; None when every type is allowed."""
    return _scope_types(actor.kind, actor.scopes, ("read", "search"), none_if_all=True)


def scope_write_types(actor: Actor) -> frozenset[str]:
    return _scope_types(actor.kind, actor.scopes, ("create", "update", "delete"), none_if_all=False) \
        or frozenset()


@lru_cache(maxsize=1024)
def _scope_types(kind: ActorKind, scopes: ScopeSet, interactions: tuple[str, ...],
                 none_if_all: bool) -> frozenset[str] | None:
    """Per distinct token scope set (clients send the same few), computed once."""
    probe = Actor(sub="scope-probe", kind=kind, issuer="", scopes=scopes)
    types = frozenset(t for t in all_resource_types() if any(probe.scope_allows(t, i) for i in interactions))
    return None if none_if_all and types == all_resource_types() else types
