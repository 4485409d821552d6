"""_include and _revinclude (with :iterate) for one page of matches.

https://hl7.org/fhir/R4/search.html#include

Included resources are found through the reference index and pass the same
policy as matches: an include never shows a resource the actor may not see. A forward
include reaches the types its parameter is declared to point at (or the one it names),
a reverse include the referring type it names; the statements say so, which lets the
policy leave out what concerns no other type.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, or_, select

from fhirip.search.conditions import BuildContext, filter_only
from fhirip.search.query import Include
from fhirip.store.schema import resource, resource_version, search_reference

# Iterations of :iterate and included resources per page; more is refused by omission
# and reported, so a cyclic graph cannot make one page unbounded.
MAX_ITERATIONS = 5
MAX_INCLUDED = 1000

# built once: an alias makes a proxy of every column on first use
_LINK = search_reference.alias("link")
_TARGET = resource.alias("target")
_SOURCE = resource.alias("source")

Row = tuple[int, str, str, int, bytes]  # rid, type, id, version, content


def _entry_columns(alias):  # type: ignore[no-untyped-def]
    return (alias.c.rid, alias.c.res_type, alias.c.res_id, alias.c.version,
            resource_version.c.content)


def _with_content(query, alias):  # type: ignore[no-untyped-def]
    return query.join(resource_version, and_(resource_version.c.rid == alias.c.rid,
                                             resource_version.c.version == alias.c.version))


def _forward(conn: Connection, rules: list[Include], sources: dict[int, str],
             ctx: BuildContext) -> list[Row]:
    link, target = _LINK, _TARGET
    conditions = []
    types: set[str] | None = set()  # the types the rules reach (None: some rule may reach any)
    for rule in rules:
        source_rids = [rid for rid, t in sources.items() if rule.source_type in ("*", t)]
        if not source_rids:
            continue
        condition = link.c.rid.in_(source_rids)
        if rule.param != "*":
            condition = and_(condition, link.c.param == rule.param,
                             link.c.res_type == rule.source_type)
        if rule.targets:  # `CarePlan:goal` includes Goals, whatever else a reference names
            # A check on the links found, not a way in: SQLite would carry an equality over the
            # join to the target's type and walk every resource of it.
            condition = and_(condition, filter_only(link.c.target_type.in_(rule.targets)))
        conditions.append(condition)
        types = types | set(rule.targets) if types is not None and rule.targets else None
    if not conditions:
        return []
    query = (select(*_entry_columns(target)).distinct()
             .select_from(link)
             .join(target, and_(target.c.res_type == link.c.target_type,
                                target.c.res_id == link.c.target_id)))
    query = _with_content(query, target).where(or_(*conditions), ctx.visible(target, types, per_row=True))
    if types:  # said in the statement, so that the policy may leave out what concerns no other type
        query = query.where(filter_only(target.c.res_type.in_(sorted(types))))
    return [tuple(row) for row in conn.execute(query.limit(MAX_INCLUDED + 1))]  # type: ignore[misc]


def _reverse(conn: Connection, rules: list[Include], targets: dict[int, str],
             ctx: BuildContext) -> list[Row]:
    link, referenced, source = _LINK, _TARGET, _SOURCE
    conditions = []
    types: set[str] | None = set()  # the referring types (None: some rule takes any)
    for rule in rules:
        target_rids = [rid for rid, t in targets.items()
                       if rule.target_type in (None, t)]
        if not target_rids:
            continue
        condition = referenced.c.rid.in_(target_rids)
        if rule.source_type != "*":
            condition = and_(condition, link.c.res_type == rule.source_type)
        if rule.param != "*":
            condition = and_(condition, link.c.param == rule.param)
        conditions.append(condition)
        types = types | {rule.source_type} if types is not None and rule.source_type != "*" else None
    if not conditions:
        return []
    referring = (select(link.c.rid)
                 .join(referenced, and_(referenced.c.res_type == link.c.target_type,
                                        referenced.c.res_id == link.c.target_id))
                 .where(or_(*conditions)))
    query = _with_content(select(*_entry_columns(source)), source).where(
        source.c.rid.in_(referring), ctx.visible(source, types, per_row=True))
    if types:  # a link row carries its resource's own type: every referrer is of these
        query = query.where(filter_only(source.c.res_type.in_(sorted(types))))
    return [tuple(row) for row in conn.execute(query.limit(MAX_INCLUDED + 1))]  # type: ignore[misc]


def find_included(conn: Connection, includes: list[Include], matches: dict[int, str],
                  ctx: BuildContext) -> tuple[list[Row], bool]:
    """Resources to include for `matches` (rid → type); True if the cap cut the list."""
    if not includes or not matches:
        return [], False
    seen = set(matches)
    included: list[Row] = []
    frontier = dict(matches)
    for iteration in range(MAX_ITERATIONS):
        active = [rule for rule in includes if iteration == 0 or rule.iterate]
        if not active or not frontier:
            break
        found = (_forward(conn, [r for r in active if not r.reverse], frontier, ctx)
                 + _reverse(conn, [r for r in active if r.reverse], frontier, ctx))
        frontier = {}
        for row in found:
            if row[0] not in seen:
                seen.add(row[0])
                included.append(row)
                frontier[row[0]] = row[1]
        if len(included) > MAX_INCLUDED:
            return included[:MAX_INCLUDED], True
    return included, False
