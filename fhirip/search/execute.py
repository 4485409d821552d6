"""Running a search: matches, total, includes and stable pages.

https://hl7.org/fhir/R4/search.html
https://hl7.org/fhir/R4/http.html#paging

Paging. A search whose matches fit on one page is answered by one query with
LIMIT _count+1 and stores nothing. When there are more, the first MAX_STORED
(1000) rids in sort order are written once to `search_result` under a random
search id (with an expiry), and the `next`/`previous` links read pages from
there. This is chosen over keyset paging because the index holds only current
values: a resource updated between two page requests could move across a
keyset cursor and be shown twice or never, while a stored order cannot shift.
Every stored page is filtered by the caller's policy *again* when it is read
(the links may be followed by someone else, or after a consent change), and the
content served is the resource's current version; a resource deleted meanwhile
drops out.

The bound. The specification lets a server limit how far a client can page.
Storing at most MAX_STORED keeps the first page of a broad search (every active
plan in the country) a bounded index walk (see `sorting`) instead of a sort of
every match. Past the bound the pages end: the last stored page has no `next`
link, there is no `last` link, and an information issue in the Bundle's
OperationOutcome says that only the first MAX_STORED can be paged through.

_total. By default `Bundle.total` is given when it is known without extra work:
for a single page, and when every match was stored (at most MAX_STORED);
for a broader search it is left out, as common FHIR servers do for large
results. `_total=accurate` (and `estimate`, answered exactly) counts every
match under the caller's policy, on the first and on later pages;
`_total=none` never counts; `_summary=count` always counts.

Nothing is filtered in Python: the policy is part of every SQL statement, so
totals, pages and includes only ever count what the actor may see.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection, and_, delete, func, insert, select

from fhirip.errors import BadRequest, Gone, Issue
from fhirip.search.conditions import (
    BuildContext,
    Policy,
    RidSet,
    ValueSetExpander,
    _types_clause,
    compartment_rids,
    criterion_rids,
    filter_only,
    utc_now,
)
from fhirip.search.includes import find_included
from fhirip.search.query import MAX_COUNT, ParsedQuery, QueryParser
from fhirip.search.registry import registry
from fhirip.search.sorting import SortKey, ordered, ordered_steps, sort_keys
from fhirip.store.engine import generic_plans
from fhirip.store.schema import (
    resource,
    resource_version,
    search_result,
    search_session,
)

# How a search stores its pages: runs the given writing step in a short write transaction of
# its own and returns what it returns (see `search`).
PageKeeper = Callable[[Callable[[Connection], Any]], Any]

SEARCH_RESULT_LIFETIME = timedelta(hours=1)
# The most matches one search keeps for paging (the specification lets a server
# limit how far a client can page); past it the pages end and an information
# issue says so.
MAX_STORED = 1000

_R = resource.alias("r")  # the searched resource, one alias object for every statement


@dataclass(frozen=True)
class Entry:
    res_type: str
    res_id: str
    version: int
    content: bytes  # canonical JSON as stored
    mode: str  # match | include


@dataclass
class SearchResult:
    entries: list[Entry]
    total: int | None
    links: dict[str, str]  # relation (self, first, previous, next) -> URL
    issues: list[Issue] = field(default_factory=list)  # warnings for the outcome entry
    summary: str | None = None  # _summary to apply to each resource (None = full)
    elements: list[str] | None = None  # _elements to apply to each resource
    search_id: str | None = None


def search(conn: Connection, res_type: str | None, params: list[tuple[str, str]], *,
           base_url: str, policy: Policy | None = None, strict: bool = False,
           expand: ValueSetExpander | None = None,
           compartment: tuple[str, str] | None = None,
           keep_pages: PageKeeper | None = None) -> SearchResult:
    """Search `res_type` (or, with None, the whole system / `_type`) with `params`.

    `params` are the request's (name, value) pairs in order, from the query
    string or the POST body. `policy(resource_alias)` returns a SQL condition an
    entry must meet; it is applied to matches, includes, chains and `_has`.
    `expand(valueset_url)` gives the (system, code) pairs of a value set for
    :in / :not-in (None if unknown). `compartment=("Patient", id)` restricts the
    search to that patient's compartment. May write to `search_result` (see the
    module docstring): in a write transaction of its own through `keep_pages`, so that a
    search read in a read transaction never holds the write lock while it runs (SQLite has
    one for the whole database); without `keep_pages`, on `conn`, whose caller commits.
    """
    names = {name for name, _ in params}
    ctx = BuildContext(registry(), policy, expand, utc_now())
    if "_getpages" in names:
        return _stored_page(conn, params, base_url, ctx, strict, res_type)
    types = _types(res_type, params, compartment, ctx)
    parsed = QueryParser(ctx.registry, types, strict=strict, base_url=base_url).parse(params)
    return _first_page(conn, parsed, base_url, ctx, compartment, res_type, keep_pages)


def _types(res_type: str | None, params: list[tuple[str, str]],
           compartment: tuple[str, str] | None, ctx: BuildContext) -> tuple[str, ...]:
    known = set(ctx.registry.resource_types())
    if res_type is not None:
        if res_type not in known:
            raise BadRequest(f"Unknown resource type {res_type!r}")
        return (res_type,)
    listed = [t for name, value in params if name == "_type" for t in value.split(",") if t]
    unknown = [t for t in listed if t not in known]
    if unknown:
        raise BadRequest(f"_type: unknown resource type(s) {', '.join(unknown)}",
                         expression=("_type",))
    if not listed and compartment is not None:
        listed = sorted(ctx.registry.patient_compartment)
    return tuple(dict.fromkeys(listed))


# -- the first page --------------------------------------------------------------------------

def _where(parsed: ParsedQuery, r: Any, ctx: BuildContext,
           compartment: tuple[str, str] | None, conn: Connection | None = None, *,
           type_as_filter: bool = False) -> list[Any]:
    """The conditions on `r`; with `conn`, the most selective criterion drives only if few match.

    A driving criterion (`rid IN (...)`) is read first, in full; that is right
    for a patient or an identifier and wrong for `status=active`, where testing
    each candidate (EXISTS) lets a LIMIT or an ordered index walk stop early.
    """
    return _conditions(parsed, r, ctx, compartment, conn, type_as_filter=type_as_filter)[0]


def _conditions(parsed: ParsedQuery, r: Any, ctx: BuildContext,
                compartment: tuple[str, str] | None, conn: Connection | None = None, *,
                type_as_filter: bool = False) -> tuple[list[Any], bool]:
    """`_where`, and whether a reference-like criterion (a reference, chain, `_has` or
    compartment: `SELECTIVE`) drives: the statement then seeks a few rows by index whatever
    the values."""
    sets: list[RidSet] = [criterion_rids(c, ctx) for c in parsed.criteria]
    if compartment is not None:
        sets.append(compartment_rids(parsed.types, compartment, ctx))
    positives = sorted((s for s in sets if not s.negated), key=lambda s: -s.selectivity)
    drive = bool(positives) and (conn is None or positives[0].selectivity >= SELECTIVE
                                 or _few(conn, positives[0]))
    seeks = drive and positives[0].selectivity >= SELECTIVE
    # With types the statement restricts `r` to them (below), and the policy may leave out the rest;
    # a reference-like criterion reaches a few rows, each tested by itself.
    conditions = [ctx.visible(r, parsed.types, per_row=seeks)]
    if parsed.types:
        of_type = _types_clause(r.c.res_type, parsed.types)
        # with a driving set the type is a check on its rows, not another way in
        conditions.append(filter_only(of_type) if drive or type_as_filter else of_type)
    for position, rid_set in enumerate(positives):
        conditions.append(rid_set.test(r.c.rid, drive=drive and position == 0))
    conditions += [s.test(r.c.rid) for s in sets if s.negated]
    return conditions, seeks


# Criteria at least this selective (references, chains, _has, compartments) always drive;
# others drive if fewer than DRIVE_LIMIT index rows match them (one bounded count).
SELECTIVE = 80
DRIVE_LIMIT = 2000


def _few(conn: Connection, rid_set: RidSet) -> bool:
    bounded = rid_set.select.limit(DRIVE_LIMIT).subquery()
    return conn.execute(select(func.count()).select_from(bounded)).scalar_one() < DRIVE_LIMIT


def _first_page(conn: Connection, parsed: ParsedQuery, base_url: str, ctx: BuildContext,
                compartment: tuple[str, str] | None, res_type: str | None,
                keep_pages: PageKeeper | None) -> SearchResult:
    r = _R
    where, seeks = _conditions(parsed, r, ctx, compartment, conn)
    self_link = _self_link(base_url, res_type, compartment, parsed)
    result = SearchResult([], None, {"self": self_link}, parsed.issues, parsed.summary,
                          parsed.elements)
    if parsed.summary == "count" or parsed.count == 0:
        if parsed.total != "none":
            result.total = _count(conn, r, where)
        return result
    keys = sort_keys(r, parsed.sort, parsed.types, ctx.registry)
    # An unordered probe decides between one page (sort the few rows) and several
    # (store the first MAX_STORED in order and read the first page from there).
    # Driven by a reference-like criterion, the probe, the page and its includes are index
    # seeks from a few rows whatever the values: planned once per connection, not per search.
    # An ordered walk over many matches is planned for its values (below, outside the block).
    with generic_plans(conn) if seeks else nullcontext():
        probe = conn.execute(select(r.c.rid).where(*where).limit(parsed.count + 1)).scalars().all()
        if len(probe) <= parsed.count:
            rows = conn.execute(ordered(r, _entry_select(r).where(r.c.rid.in_(probe)), keys)).all()
            if parsed.total != "none":
                result.total = len(probe)
            _fill_entries(conn, result, rows, parsed, ctx)
            return result
    rids, complete = _ordered_matches(conn, r, where, keys)
    result.search_id = _store(conn, keep_pages, parsed, rids, complete, compartment)
    stored = len(rids)
    # read from what was stored: a separate transaction's rows are not seen from this one
    first = rids[:parsed.count]
    place = {rid: position for position, rid in enumerate(first)}
    rows = sorted(conn.execute(_entry_select(r).where(r.c.rid.in_(first))).all(),
                  key=lambda row: place[row[0]])
    result.links.update(_page_links(_page_base(base_url, res_type), result.search_id, 0, parsed.count, stored,
                                    complete))
    total = stored if complete else None
    if not complete:
        result.issues.append(_bound_issue())
        if parsed.total in ("accurate", "estimate"):
            total = _count(conn, r, where)
    if parsed.total != "none":
        result.total = total
    _fill_entries(conn, result, rows, parsed, ctx)
    return result


def _no_jit(conn: Connection) -> None:
    """PostgreSQL would JIT-compile a LIMIT-ed walk for its (unreached) full-scan cost:
    some 200 ms of compiling for a 30 ms query. Off for the rest of this transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


def _count(conn: Connection, r: Any, where: list[Any]) -> int:
    _no_jit(conn)
    return conn.execute(select(func.count()).select_from(r).where(*where)).scalar_one()


def _bound_issue() -> Issue:
    return Issue("information", "informational",
                 f"More than {MAX_STORED} resources match; only the first {MAX_STORED} can be "
                 "paged through. Narrow the search to see the others.")


def _entry_select(r: Any) -> Any:
    return (select(r.c.rid, r.c.res_type, r.c.res_id, r.c.version, resource_version.c.content)
            .join(resource_version, and_(resource_version.c.rid == r.c.rid,
                                         resource_version.c.version == r.c.version)))


def _read_stored(conn: Connection, search_id: str, offset: int, count: int,
                 ctx: BuildContext) -> list[Any]:
    r = _R
    return conn.execute(
        _entry_select(r).join(search_result, search_result.c.rid == r.c.rid)
        .where(search_result.c.search_id == search_id, ctx.visible(r, per_row=True),
               search_result.c.pos > offset, search_result.c.pos <= offset + count)
        .order_by(search_result.c.pos)).all()


def _ordered_matches(conn: Connection, r: Any, where: list[Any],
                     keys: list[SortKey]) -> tuple[list[int], bool]:
    """The first MAX_STORED matches in order, and whether they are all."""
    _no_jit(conn)
    rids: list[int] = []
    for step in ordered_steps(r, select(r.c.rid).where(*where), keys):
        rids += conn.execute(step.limit(MAX_STORED + 1 - len(rids))).scalars().all()
        if len(rids) > MAX_STORED:
            break
    return rids[:MAX_STORED], len(rids) <= MAX_STORED


def _store(conn: Connection, keep_pages: PageKeeper | None, parsed: ParsedQuery, rids: list[int],
           complete: bool, compartment: tuple[str, str] | None) -> str:
    """Store the ordered matches under a new search id (through `keep_pages`, or on `conn`)."""
    search_id = secrets.token_urlsafe(24)

    def write(writer: Connection) -> None:
        now = utc_now()
        expired = select(search_session.c.search_id).where(search_session.c.expires < now)
        writer.execute(delete(search_result).where(search_result.c.search_id.in_(expired)))
        writer.execute(delete(search_session).where(search_session.c.expires < now))
        writer.execute(insert(search_session).values(
            search_id=search_id, created=now, expires=now + SEARCH_RESULT_LIFETIME,
            res_types=json.dumps(list(parsed.types)), query=json.dumps(parsed.accepted),
            compartment="/".join(compartment) if compartment else None, total=len(rids),
            complete=complete))
        _insert_positions(writer, search_id, rids)

    if keep_pages is None:
        write(conn)
    else:
        keep_pages(write)
    return search_id


def _insert_positions(conn: Connection, search_id: str, rids: list[int]) -> None:
    """Straight to the driver: a thousand plain values need no statement compilation."""
    if conn.dialect.name == "postgresql":  # one statement with one array, not a row per rid
        conn.exec_driver_sql(
            "INSERT INTO search_result (search_id, pos, rid) SELECT %s, t.pos, t.rid "
            "FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(rid, pos)", (search_id, rids))
    else:
        conn.exec_driver_sql("INSERT INTO search_result (search_id, pos, rid) VALUES (?, ?, ?)",
                             [(search_id, pos, rid) for pos, rid in enumerate(rids, start=1)])


def _fill_entries(conn: Connection, result: SearchResult, rows: list[Any], parsed: ParsedQuery,
                  ctx: BuildContext) -> None:
    result.entries = [Entry(t, i, v, bytes(c), "match") for _, t, i, v, c in rows]
    matches = {row[0]: row[1] for row in rows}
    included, truncated = find_included(conn, parsed.includes, matches, ctx)
    result.entries += [Entry(t, i, v, bytes(c), "include") for _, t, i, v, c in included]
    if truncated:
        result.issues.append(Issue("warning", "too-costly",
                                   f"Only the first {len(included)} included resources are "
                                   "returned for this page"))


# -- later pages -----------------------------------------------------------------------------

def _stored_page(conn: Connection, params: list[tuple[str, str]], base_url: str,
                 ctx: BuildContext, strict: bool, res_type: str | None = None) -> SearchResult:
    values = dict(params)
    search_id = values["_getpages"]
    try:
        offset = int(values.get("_getpagesoffset", "0"))
        count = min(int(values.get("_count", "20")), MAX_COUNT)
    except ValueError:
        raise BadRequest("_getpagesoffset and _count must be whole numbers") from None
    if offset < 0 or count < 1:
        raise BadRequest("_getpagesoffset must not be negative and _count must be positive")
    session = conn.execute(select(search_session).where(
        search_session.c.search_id == search_id)).first()
    types = tuple(json.loads(session.res_types)) if session is not None else ()
    if session is None or session.expires < ctx.now or (res_type is not None and types != (res_type,)):
        raise Gone(f"Search {search_id} has expired or never existed; run the search again",
                   expression=("_getpages",))
    stored_params = [tuple(p) for p in json.loads(session.query)]
    parsed = QueryParser(ctx.registry, types, strict=strict, base_url=base_url).parse(
        stored_params)  # type: ignore[arg-type]
    rows = _read_stored(conn, search_id, offset, count, ctx)
    page_base = _page_base(base_url, res_type)
    stored = session.total
    if ctx.policy is not None:  # pages reach as far as the last match this caller may see now
        r = _R
        stored = conn.execute(select(func.max(search_result.c.pos)).select_from(search_result).join(
            r, r.c.rid == search_result.c.rid).where(
            search_result.c.search_id == search_id, ctx.visible(r))).scalar_one() or 0
    result = SearchResult([], None, _page_links(page_base, search_id, offset, count,
                                                stored, session.complete),
                          [], parsed.summary, parsed.elements, search_id)
    result.links["self"] = _page_url(page_base, search_id, offset, count)
    r = _R
    # totals are counted again, under this caller's policy
    if parsed.total != "none" and session.complete:
        result.total = conn.execute(select(func.count()).select_from(search_result).join(
            r, r.c.rid == search_result.c.rid).where(
            search_result.c.search_id == search_id, ctx.visible(r))).scalar_one()
    elif parsed.total in ("accurate", "estimate"):
        compartment = tuple(session.compartment.split("/", 1)) if session.compartment else None
        result.total = _count(conn, r, _where(parsed, r, ctx, compartment))  # type: ignore[arg-type]
    if not session.complete and offset + count >= session.total:
        result.issues.append(_bound_issue())
    _fill_entries(conn, result, rows, parsed, ctx)
    return result


# -- links ---------------------------------------------------------------------------------

def _self_link(base_url: str, res_type: str | None, compartment: tuple[str, str] | None,
               parsed: ParsedQuery) -> str:
    path = base_url.rstrip("/")
    if compartment:
        path += f"/{compartment[0]}/{compartment[1]}/{res_type or '*'}"
    elif res_type:
        path += f"/{res_type}"
    pairs = list(parsed.accepted)
    if res_type is None and parsed.types and not compartment:
        pairs.insert(0, ("_type", ",".join(parsed.types)))
    return path + ("?" + urlencode(pairs) if pairs else "")


def _page_base(base_url: str, res_type: str | None) -> str:
    """Where the pages of a search are read: under its type when it has one, so a caller
    allowed to search that type (and no more) can page through it; else at system level."""
    return f"{base_url.rstrip('/')}/{res_type}" if res_type else base_url


def _page_url(base_url: str, search_id: str, offset: int, count: int) -> str:
    return base_url.rstrip("/") + "?" + urlencode(
        [("_getpages", search_id), ("_getpagesoffset", offset), ("_count", count),
         ("_bundletype", "searchset")])


def _page_links(base_url: str, search_id: str, offset: int, count: int,
                stored: int, complete: bool) -> dict[str, str]:
    """first/previous/next, and last when every match was stored (else it is not known)."""
    links = {"first": _page_url(base_url, search_id, 0, count)}
    if offset > 0:
        links["previous"] = _page_url(base_url, search_id, max(offset - count, 0), count)
    if offset + count < stored:
        links["next"] = _page_url(base_url, search_id, offset + count, count)
    if complete:
        last = max((stored - 1) // count * count, 0)
        links["last"] = _page_url(base_url, search_id, last, count)
    return links


# -- every match, in chunks --------------------------------------------------------------------

def matches_by_rid(conn: Connection, types: tuple[str, ...], params: list[tuple[str, str]], *,
                   policy: Policy | None, after_rid: int, limit: int,
                   compartment: tuple[str, str] | None = None) -> list[Any]:
    """The next `limit` matches of a search (the same criteria, compartment and policy as
    `search`), after `after_rid` in the order of their row ids, which never changes: a job that
    reads every match in chunks (a bulk export) keeps only its cursor. Rows of (rid, res_type,
    res_id, version, content, seq, last_updated) of each match's current version."""
    ctx = BuildContext(registry(), policy, None, utc_now())
    parsed = QueryParser(ctx.registry, types, strict=True, base_url="").parse(params)
    r = _R
    # The type is checked on each row of a walk in rid order, never a way in: read by type, every
    # chunk would sort all rows of its types again.
    where = _where(parsed, r, ctx, compartment, conn, type_as_filter=True)
    _no_jit(conn)
    query = (select(r.c.rid, r.c.res_type, r.c.res_id, r.c.version, resource_version.c.content,
                    resource_version.c.seq, resource_version.c.last_updated)
             .join(resource_version, and_(resource_version.c.rid == r.c.rid,
                                          resource_version.c.version == r.c.version))
             # The cursor on both sides of the join: the planner does not carry it across, and a
             # merge join would otherwise walk every version from the first rid to the cursor.
             .where(*where, r.c.rid > after_rid, resource_version.c.rid > after_rid)
             .order_by(r.c.rid).limit(limit))
    return conn.execute(query).all()
