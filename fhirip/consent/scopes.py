"""SMART scopes as an upper bound in SQL, including their query part.

https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters

A scope such as `system/CarePlan.rs?status=draft` admits only the CarePlans that match
its query: the condition is AND-ed into `AccessPolicy.sql` for that type, so a read, a
search, an include or a count never reaches a row outside it. A query the server cannot
evaluate for a type (an unknown parameter) admits nothing of it: default deny.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.sql.expression import FromClause

from fhirip.auth.actor import Actor
from fhirip.auth.scopes import Restriction
from fhirip.consent.vocabulary import all_resource_types
from fhirip.errors import FhirError
from fhirip.search.conditions import BuildContext, criterion_rids
from fhirip.search.query import QueryParser
from fhirip.search.registry import registry


def scope_queries(actor: Actor) -> Mapping[str, tuple[Restriction, ...]]:
    """Type → the queries one of which a row must match to be within the token's read and search
    scopes; a type absent is not limited by a query (its scopes alone decide, elsewhere)."""
    if not any(scope.restriction for scope in actor.scopes.clinical):
        return {}
    limited: dict[str, tuple[Restriction, ...]] = {}
    for res_type in sorted(all_resource_types()):
        found = [actor.scope_restrictions(res_type, interaction) for interaction in ("read", "search")]
        if all(restrictions is None for restrictions in found):
            continue
        limited[res_type] = tuple(dict.fromkeys(r for restrictions in found if restrictions for r in restrictions))
    return limited


def scope_condition(alias: FromClause, queries: Mapping[str, tuple[Restriction, ...]],
                    now: datetime | None = None) -> ColumnElement[bool]:
    """Rows of `alias` within the scopes' queries (every row of a type no query limits)."""
    if not queries:
        return true()
    context = BuildContext(registry(), None, None, now or datetime.now(UTC))
    limited = [and_(alias.c.res_type == res_type, _any_query(alias, res_type, restrictions, context))
               for res_type, restrictions in sorted(queries.items())]
    return or_(alias.c.res_type.not_in(sorted(queries)), *limited)


def _any_query(alias: FromClause, res_type: str, restrictions: tuple[Restriction, ...],
               context: BuildContext) -> ColumnElement[bool]:
    matches: list[ColumnElement[bool]] = []
    for restriction in restrictions:
        try:
            parsed = QueryParser(context.registry, (res_type,), strict=True, base_url=None).parse(list(restriction))
        except FhirError:
            continue  # not a query on this type: it admits none of it
        criteria = [criterion_rids(c, context).test(alias.c.rid) for c in parsed.criteria]
        matches.append(and_(*criteria) if criteria else true())
    return or_(*matches) if matches else false()
