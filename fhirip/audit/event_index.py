"""The search index rows of an AuditEvent, found in one walk over the event.

https://hl7.org/fhir/R4/auditevent.html#search

Every read leaves an AuditEvent, so indexing them is most of the work of moving the audit
journal (`fhirip.audit.journal.drain`). The generic indexer (`fhirip.search.index.extract`)
evaluates each of the 22 AuditEvent search parameters from the root on its own; here the
event is walked once, with the same path steps (`fhirip.fhirpath_simple`), and the rows of what recurs from event
to event (the agents, an entity, a coding, an action) are remembered by its JSON text
instead of rebuilt.
The rows come out as tuples in the tables' column order, ready for the driver.

The walk is pinned to the AuditEvent search parameters it was written for (`PINNED`): when
the registry's parameters (code, type, expression) or the index tables' columns differ,
`fast_path_fits` says no and the caller indexes with the generic extractor. The rows of the
values met are remembered by whoever moves events (`AuditEventIndex`), for as long as it runs. Values become
rows through the generic row makers, so a row means the same here as there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Table

from fhirip.fhirpath_simple import CHOICE_NAMES, children
from fhirip.search.index import TABLES, rows_for
from fhirip.search.registry import RESOURCE_COLUMN_PARAMS, Registry, registry
from fhirip.search.sortkeys import SORTED_COLUMNS, encode
from fhirip.store.schema import search_sort

RES_TYPE = "AuditEvent"

# code → (type, expression for AuditEvent, reference types allowed by `where(resolve() is X)`)
PINNED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "_profile": ("uri", "meta.profile", ()),
    "_security": ("token", "meta.security", ()),
    "_source": ("uri", "meta.source", ()),
    "_tag": ("token", "meta.tag", ()),
    "action": ("token", "AuditEvent.action", ()),
    "address": ("string", "AuditEvent.agent.network.address", ()),
    "agent": ("reference", "AuditEvent.agent.who", ()),
    "agent-name": ("string", "AuditEvent.agent.name", ()),
    "agent-role": ("token", "AuditEvent.agent.role", ()),
    "altid": ("token", "AuditEvent.agent.altId", ()),
    "date": ("date", "AuditEvent.recorded", ()),
    "entity": ("reference", "AuditEvent.entity.what", ()),
    "entity-name": ("string", "AuditEvent.entity.name", ()),
    "entity-role": ("token", "AuditEvent.entity.role", ()),
    "entity-type": ("token", "AuditEvent.entity.type", ()),
    "outcome": ("token", "AuditEvent.outcome", ()),
    "patient": ("reference", ("AuditEvent.agent.who.where(resolve() is Patient) | "
                              "AuditEvent.entity.what.where(resolve() is Patient)"), ("Patient",)),
    "policy": ("uri", "AuditEvent.agent.policy", ()),
    "site": ("token", "AuditEvent.source.site", ()),
    "source": ("reference", "AuditEvent.source.observer", ()),
    "subtype": ("token", "AuditEvent.subtype", ()),
    "type": ("token", "AuditEvent.type", ()),
}

# Columns of each index table after `rid`, in table order: the tuples are built in this order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "string": ("res_type", "param", "grp", "value", "exact"),
    "token": ("res_type", "param", "grp", "system", "code", "text", "type_system", "type_code"),
    "reference": ("res_type", "param", "grp", "target_type", "target_id", "url", "url_version",
                  "ident_system", "ident_value"),
    "date": ("res_type", "param", "grp", "low", "high"),
    "uri": ("res_type", "param", "grp", "value"),
}
SORT_COLUMNS = ("res_type", "param", "low", "high")

# Parameters in the generic extractor's order (by code), grouped by the table they fill.
_ORDER: dict[str, list[str]] = {kind: [code for code, (of_kind, _, _) in sorted(PINNED.items()) if of_kind == kind]
                                for kind in COLUMNS}
# Parameter types by the order of their tables, as the generic extractor writes them.
_TABLE_ORDER = tuple(kind for kind in TABLES if kind in _ORDER)

_MEMO_LIMIT = 20_000  # remembered values (codings, ids, addresses) before the memo starts afresh

Row = tuple[Any, ...]


def fast_path_fits(reg: Registry) -> bool:
    """The registry's AuditEvent parameters and the index tables are the ones the walk was written for."""
    described: dict[str, tuple[str, str | None, tuple[str, ...]]] = {}
    for code, param in reg.params_for(RES_TYPE).items():
        if code in RESOURCE_COLUMN_PARAMS:
            continue
        extractor = reg.extractor(RES_TYPE, param)
        described[code] = (param.type, reg.expression(RES_TYPE, param),
                           extractor.resolve_types if extractor is not None else ())
    if described != PINNED:
        return False
    tables = {kind: TABLES.get(kind) for kind in COLUMNS}
    return all(table is not None and tuple(c.name for c in table.c) == ("rid", *COLUMNS[kind])
               for kind, table in tables.items()) and \
        tuple(c.name for c in search_sort.c) == ("rid", *SORT_COLUMNS) and \
        all(SORTED_COLUMNS.get(kind) in (None, *COLUMNS[kind]) for kind in COLUMNS)


def _children(nodes: Iterable[Any], name: str) -> list[Any]:
    """One FHIRPath step (`fhirip.fhirpath_simple.children`), a choice name as in R4."""
    return children(nodes, name, choice=name in CHOICE_NAMES)


def _root_values(event: dict[str, Any]) -> dict[str, list[Any]]:
    """The values of the parameters whose paths stay out of the agents and the entities."""
    root = [event]
    meta = _children(root, "meta")
    found = {"_profile": _children(meta, "profile"), "_security": _children(meta, "security"),
             "_source": _children(meta, "source"), "_tag": _children(meta, "tag")}
    if event.get("resourceType") != RES_TYPE:
        return found
    sources = _children(root, "source")
    return found | {"action": _children(root, "action"), "date": _children(root, "recorded"),
                    "outcome": _children(root, "outcome"), "site": _children(sources, "site"),
                    "source": _children(sources, "observer"), "subtype": _children(root, "subtype"),
                    "type": _children(root, "type")}


def _once(parts: list[list[Row]]) -> list[Row]:
    """The rows of several values, each row once (the same value twice is one match, one row)."""
    return list(dict.fromkeys(row for part in parts for row in part))


def _key(value: Any) -> bytes | None:
    """The JSON text of a value: equal only for equal values (True, 1 and 1.0 kept apart)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # not JSON (a resource built in Python may hold anything): not remembered
        return None


def _made(code: str, value: Any) -> list[Row]:
    param_type, _, resolve_types = PINNED[code]
    return list(dict.fromkeys((RES_TYPE, code, 0, *row.values())
                              for row in rows_for(param_type, value, resolve_types)))


_UNREMEMBERED = frozenset({"date"})  # unique to each event: remembering costs more
_AGENTS, _ENTITY = " agents", " entity"  # memo kinds of their own, apart from every parameter code


class AuditEventIndex:
    """The index rows of AuditEvents, each found in one walk, for one mover or audit trail, which
    keeps it while it lives: the rows of what recurs from event to event (the agents, an entity,
    a coding, an action) are remembered, by the value's JSON text, up to `_MEMO_LIMIT` values.

    Whether the walk may be used at all is settled when the index is made, for the registry
    given (`fast_path_fits`); when it may not, `rows_by_table` gives None and the store's
    indexer runs the generic extractor."""

    def __init__(self, reg: Registry | None = None):
        self.fits = fast_path_fits(reg if reg is not None else registry())
        self._memo: dict[tuple[str, str | bytes], Any] = {}

    def rows_by_table(self, res_type: str, resource: dict[str, Any]) -> dict[str, list[Row]] | None:
        """`rows` of an AuditEvent by table name, for the store's indexer to take (a
        `fhirip.search.index_ahead.RowsAhead`); None for any other resource, or when the walk
        does not fit the registry (the generic extractor then runs)."""
        if res_type != RES_TYPE or not self.fits:
            return None
        return {table_of(kind).name: rows for kind, rows in self.rows(resource).items()}

    def rows(self, event: dict[str, Any]) -> dict[str, list[Row]]:
        """The index rows of `event` by parameter type ("sort" for the sort keys), without `rid`:
        the rows `fhirip.search.index.extract` gives, in its order, as tuples in column order.
        Only where the walk fits the registry (`fits`).

        The agents, and each entity, give the same rows wherever they recur (the same user and
        client, the same patient or consent), so their rows are remembered by their JSON text."""
        sections = [self._param_rows(_root_values(event))]
        if event.get("resourceType") == RES_TYPE:
            root = [event]
            agents = _children(root, "agent")
            if agents:
                sections.append(self._remembered(_AGENTS, agents, self._agent_rows))
            sections += [self._remembered(_ENTITY, [entity], self._entity_rows) for entity in _children(root, "entity")]
        # A parameter's rows in path order (the patient's: the agents' first), each row once.
        by_code: dict[str, list[list[Row]]] = {}
        for section in sections:
            for code, made in section.items():
                by_code.setdefault(code, []).append(made)
        rows: dict[str, list[Row]] = {}
        for kind in _TABLE_ORDER:
            table_rows: list[Row] = []
            for code in _ORDER[kind]:
                parts = by_code.get(code)
                if parts:
                    table_rows += parts[0] if len(parts) == 1 else _once(parts)
            if table_rows:
                rows[kind] = table_rows
        sort = _sort_rows(rows)
        if sort:
            rows["sort"] = sort
        return rows

    def _agent_rows(self, agents: list[Any]) -> dict[str, list[Row]]:
        who = _children(agents, "who")
        return self._param_rows({"address": _children(_children(agents, "network"), "address"), "agent": who,
                                 "agent-name": _children(agents, "name"), "agent-role": _children(agents, "role"),
                                 "altid": _children(agents, "altId"), "patient": who,
                                 "policy": _children(agents, "policy")})

    def _entity_rows(self, entities: list[Any]) -> dict[str, list[Row]]:
        what = _children(entities, "what")
        return self._param_rows({"entity": what, "entity-name": _children(entities, "name"),
                                 "entity-role": _children(entities, "role"),
                                 "entity-type": _children(entities, "type"), "patient": what})

    def _param_rows(self, values: dict[str, list[Any]]) -> dict[str, list[Row]]:
        """Each parameter's rows from its values, in order, each row once."""
        rows: dict[str, list[Row]] = {}
        for code, found in values.items():
            if len(found) == 1:
                made = self._value_rows(code, found[0])
            elif found:
                made = _once([self._value_rows(code, value) for value in found])
            else:
                continue
            if made:
                rows[code] = made
        return rows

    def _value_rows(self, code: str, value: Any) -> list[Row]:
        """The rows one value of a parameter gives, each once."""
        if code in _UNREMEMBERED:
            return _made(code, value)
        return self._remembered(code, value, lambda item: _made(code, item))

    def _remembered(self, kind: str, value: Any, make: Any) -> Any:
        """`make(value)`, remembered by `kind` and the value's JSON text."""
        key = _key(value) if type(value) is not str else value
        if key is None:
            return make(value)
        found = self._memo.get((kind, key))
        if found is None:
            found = make(value)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[(kind, key)] = found
        return found


_SORTED_POSITION = {kind: COLUMNS[kind].index(column) for kind, column in SORTED_COLUMNS.items()
                    if column in COLUMNS.get(kind, ())}


def _sort_rows(rows: dict[str, list[Row]]) -> list[Row]:
    """One sort row per ordered parameter: its lowest and highest key (`sortkeys.sort_rows`)."""
    keys: dict[str, list[str]] = {}
    for kind in _TABLE_ORDER:
        position = _SORTED_POSITION.get(kind)
        if position is None:
            continue
        for row in rows.get(kind, ()):
            key = encode(kind, row[position])
            bounds = keys.get(row[1])
            if bounds is None:
                keys[row[1]] = [key, key]
            elif key < bounds[0]:
                bounds[0] = key
            elif key > bounds[1]:
                bounds[1] = key
    return [(RES_TYPE, param, low, high) for param, (low, high) in keys.items()]


def table_of(kind: str) -> Table:
    """The index table of a row kind of `audit_event_rows`."""
    return search_sort if kind == "sort" else TABLES[kind]
