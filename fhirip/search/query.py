"""Parsing a search request into criteria and result parameters.

https://hl7.org/fhir/R4/search.html

Repeated parameters are AND-ed, comma-separated values OR-ed. Unknown
parameters are reported as warnings (lenient) or refused (strict, `Prefer:
handling=strict`); malformed values and unsupported modifiers are always
refused, with the parameter named in the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from fhirip.errors import BadRequest, Issue
from fhirip.search import parameters as pv
from fhirip.search.registry import Registry, SearchParam

DEFAULT_COUNT = 20
MAX_COUNT = 1000
# How many references one criterion may follow, chained (`subject.organization.name`) and
# reverse (`_has:A:r:param`) together: each is a nested subquery, and past three SQLite refuses
# the statement (its parser's stack overflows) while PostgreSQL's plan grows with every level.
# Common servers bound chains likewise (HAPI FHIR, for one).
MAX_LINKS = 3
MAX_HAS_NESTING = 2  # `_has:A:r:_has:B:s:param`

MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"exact", "contains", "missing"}),
    "token": frozenset({"text", "not", "in", "not-in", "of-type", "missing"}),
    "reference": frozenset({"identifier", "missing"}),
    "date": frozenset({"missing"}),
    "number": frozenset({"missing"}),
    "quantity": frozenset({"missing"}),
    "uri": frozenset({"above", "below", "missing"}),
    "composite": frozenset({"missing"}),
}
SUMMARY_MODES = ("true", "text", "data", "count", "false")
TOTAL_MODES = ("none", "estimate", "accurate")
# Accepted and left to the HTTP layer, or about the response format only.
PASSED_THROUGH = frozenset({"_format", "_pretty"})
PAGE_PARAMS = frozenset({"_getpages", "_getpagesoffset", "_bundletype"})


@dataclass
class ValueCriterion:
    """`param[:modifier]=v1,v2`: a resource matches if any value matches."""

    name: str
    param: SearchParam
    types: tuple[str, ...]
    modifier: str | None
    values: list[Any]  # parsed values; for composites, one list of component values each


@dataclass
class ChainCriterion:
    """`ref[:Type].next=...`: the reference `ref` points at a resource matching `next`."""

    name: str
    param: SearchParam
    types: tuple[str, ...]
    target_types: tuple[str, ...]
    next: Criterion


@dataclass
class HasCriterion:
    """`_has:Source:ref:next=...`: some Source whose `ref` points here matches `next`."""

    name: str
    source_type: str
    ref_param: SearchParam
    types: tuple[str, ...]
    next: Criterion


Criterion = Union[ValueCriterion, ChainCriterion, HasCriterion]


@dataclass(frozen=True)
class Include:
    source_type: str
    param: str  # "*" = every reference parameter of source_type
    target_type: str | None
    iterate: bool
    reverse: bool
    # The types a forward include reaches: the one named, else the parameter's declared targets
    # (empty: any type, as for `*` or a parameter that may point at anything).
    targets: tuple[str, ...] = ()


@dataclass
class ParsedQuery:
    types: tuple[str, ...]
    criteria: list[Criterion] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (param, descending)
    count: int = DEFAULT_COUNT
    includes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] | None = None
    total: str | None = None
    issues: list[Issue] = field(default_factory=list)
    accepted: list[tuple[str, str]] = field(default_factory=list)  # for the self link


class QueryParser:
    def __init__(self, registry: Registry, types: tuple[str, ...], *, strict: bool,
                 base_url: str | None):
        self.registry, self.types, self.strict, self.base_url = registry, types, strict, base_url

    def parse(self, params: list[tuple[str, str]]) -> ParsedQuery:
        query = ParsedQuery(self.types)
        understood = False  # any parameter at all that the search takes (a type list, a page size …)
        for name, value in params:
            if name in PASSED_THROUGH or name in PAGE_PARAMS or name == "_type":
                understood = understood or name == "_type"
                continue
            if value == "":
                continue  # an empty value constrains nothing
            if self._result_param(query, name, value):
                query.accepted.append((name, value))
                continue
            criterion = self.criterion(name, value, self.types, query)
            if criterion is not None:
                query.criteria.append(criterion)
                query.accepted.append((name, value))
        if query.issues and not query.accepted and not understood:
            # Nothing of the query is understood: ignoring it all would answer every resource
            # there is, as if nothing had been asked.
            names = [name for issue in query.issues for name in issue.expression]
            raise BadRequest(f"None of the search parameters is supported here ({', '.join(names)}); "
                             f"{query.issues[0].diagnostics.removesuffix(': ignored')}",
                             expression=tuple(names))
        return query

    # -- result parameters ---------------------------------------------------------------

    def _result_param(self, query: ParsedQuery, name: str, value: str) -> bool:
        base = name.split(":")[0]
        if base == "_count":
            query.count = _bounded_int(name, value)
        elif base == "_sort":
            query.sort = [self._sort_key(name, key) for key in value.split(",") if key]
        elif base in ("_include", "_revinclude"):
            modifier = name.partition(":")[2]
            if modifier not in ("", "iterate", "recurse"):
                raise BadRequest(f"{name}: unknown modifier :{modifier} on {base}",
                                 expression=(name,))
            for item in value.split(","):
                query.includes.append(self._include(name, item, modifier != "",
                                                    base == "_revinclude"))
        elif base == "_summary":
            if value not in SUMMARY_MODES:
                raise BadRequest(f"{name} must be one of {', '.join(SUMMARY_MODES)}, not "
                                 f"{value!r}", expression=(name,))
            query.summary = None if value == "false" else value
        elif base == "_elements":
            query.elements = [e.strip() for e in value.split(",") if e.strip()]
        elif base == "_total":
            if value not in TOTAL_MODES:
                raise BadRequest(f"{name} must be one of {', '.join(TOTAL_MODES)}, not "
                                 f"{value!r}", expression=(name,))
            query.total = value
        else:
            return False
        return True

    def _sort_key(self, name: str, key: str) -> tuple[str, bool]:
        descending = key.startswith("-")
        code = key.removeprefix("-")
        if code in ("_id", "_lastUpdated"):
            return code, descending
        for res_type in self.types or ("all resource types",):
            param = self.registry.get(res_type, code) if self.types else None
            if param is None or param.type == "composite":
                raise BadRequest(f"{name}: cannot sort on {code!r}, it is not a sortable search "
                                 f"parameter of {res_type}", expression=(name,))
        return code, descending

    def _include(self, name: str, item: str, iterate: bool, reverse: bool) -> Include:
        if item == "*":
            return Include("*", "*", None, iterate, reverse)
        parts = item.split(":")
        if len(parts) not in (2, 3):
            raise BadRequest(f"{name} must be [type]:[parameter](:[target type]), not {item!r}",
                             expression=(name,))
        source, code = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        targets: tuple[str, ...] = (target,) if target else ()
        if code != "*":
            param = self.registry.get(source, code)
            if param is None or param.type != "reference":
                raise BadRequest(f"{name}: {source} has no reference search parameter {code!r}",
                                 expression=(name,))
            if target and param.targets and target not in param.targets:
                raise BadRequest(f"{name}: {source}:{code} cannot point at {target}",
                                 expression=(name,))
            targets = targets or param.targets
        return Include(source, code, target, iterate, reverse, targets)

    # -- criteria ------------------------------------------------------------------------

    def criterion(self, name: str, value: str, types: tuple[str, ...],
                  query: ParsedQuery, full_name: str | None = None, *, links: int = 0,
                  nesting: int = 0) -> Criterion | None:
        """The criterion `name` (the rest of `full_name` after `links` chained references and
        `nesting` _has levels have been read)."""
        full_name = full_name or name
        if name.startswith("_has:"):
            if nesting == MAX_HAS_NESTING:
                raise BadRequest(f"{full_name}: _has may be nested at most {MAX_HAS_NESTING} deep",
                                 expression=(full_name,))
            _refuse_past_link_limit(full_name, links)
            return self._has(name, full_name, value, types, query, links + 1, nesting + 1)
        head, dot, rest = name.partition(".")
        code, _, modifier = head.partition(":")
        params = self._params(code, types)
        if params is None:
            self._unknown(query, name, f"Unknown search parameter {code!r} for "
                          f"{' | '.join(types) or 'all resource types'}")
            return None
        if dot:
            _refuse_past_link_limit(full_name, links)
            return self._chain(name, full_name, params, modifier or None, rest, value, types,
                               query, links + 1, nesting)
        return self._value(name, params, modifier or None, value, types)

    def _params(self, code: str, types: tuple[str, ...]) -> SearchParam | None:
        """The one definition `code` has for all of `types` (None if any lacks it)."""
        if not types:  # system search: only the parameters every resource has
            return self.registry.get("Resource", code) if code.startswith("_") else None
        found = [self.registry.get(t, code) for t in types]
        if any(p is None for p in found):
            return None
        if len({p.type for p in found}) != 1:  # type: ignore[union-attr]
            return None
        return found[0]

    def _unknown(self, query: ParsedQuery, name: str, message: str) -> None:
        if self.strict:
            raise BadRequest(message, expression=(name,))
        query.issues.append(Issue("warning", "not-supported", message + ": ignored", (name,)))

    def _value(self, name: str, param: SearchParam, modifier: str | None, value: str,
               types: tuple[str, ...]) -> ValueCriterion:
        allowed = MODIFIERS[param.type]
        if param.code == "_id":
            allowed = frozenset({"not", "missing"})
        type_modifier = None
        if modifier and modifier not in allowed:
            if param.type == "reference" and self.registry.is_resource_type(modifier):
                if param.targets and modifier not in param.targets:
                    raise BadRequest(f"{name}: {param.code} cannot point at {modifier}",
                                     expression=(name,))
                type_modifier, modifier = modifier, None
            else:
                raise BadRequest(f"{name}: modifier :{modifier} is not supported on "
                                 f"{param.type} parameter {param.code!r}", expression=(name,))
        try:
            if modifier == "missing":
                if value not in ("true", "false"):
                    raise ValueError("must be true or false")
                values: list[Any] = [value == "true"]
            else:
                values = [self._one_value(param, modifier, type_modifier, v)
                          for v in pv.split_escaped(value, ",")]
        except ValueError as exc:
            raise BadRequest(f"{name}: invalid value {value!r}: {exc}",
                             expression=(name,)) from None
        if type_modifier:
            modifier = f"type:{type_modifier}"
        return ValueCriterion(name, param, types, modifier, values)

    def _one_value(self, param: SearchParam, modifier: str | None, type_modifier: str | None,
                   text: str) -> Any:
        kind = param.type
        if kind == "composite":
            parts = pv.split_escaped(text, "$")
            if len(parts) != len(param.components):
                raise ValueError(f"expected {len(param.components)} components joined by $")
            return [self._one_value(self.registry.by_url[c.definition], None, None, part)
                    for c, part in zip(param.components, parts)]
        if modifier in ("text", "exact", "contains", "above", "below", "in", "not-in"):
            plain = pv.unescape(text)
            if not plain:
                raise ValueError("empty value")
            return plain
        if modifier == "of-type":
            return pv.parse_of_type(text)
        if modifier == "identifier":
            return pv.parse_token(text)
        if kind == "token":
            return pv.parse_token(text)
        if kind == "string":
            return pv.unescape(text)
        if kind == "uri":
            return pv.unescape(text)
        if kind == "date":
            return pv.parse_date(text)
        if kind == "number":
            return pv.parse_number(text)
        if kind == "quantity":
            return pv.parse_quantity(text)
        if kind == "reference":
            return pv.parse_reference(text, type_modifier, self.base_url)
        raise ValueError(f"parameters of type {kind} cannot be searched")

    def _chain(self, name: str, full_name: str, param: SearchParam, type_modifier: str | None,
               rest: str, value: str, types: tuple[str, ...], query: ParsedQuery, links: int,
               nesting: int) -> Criterion | None:
        if param.type != "reference":
            raise BadRequest(f"{name}: only reference parameters can be chained, "
                             f"{param.code!r} is a {param.type}", expression=(name,))
        candidates = (type_modifier,) if type_modifier else (
            param.targets or tuple(self.registry.resource_types()))
        next_code = rest.partition(".")[0].partition(":")[0]
        targets = tuple(t for t in candidates
                        if rest.startswith("_has:") or self.registry.get(t, next_code))
        if not targets:
            self._unknown(query, name, f"No target of {param.code!r} has a search parameter "
                          f"{next_code!r}")
            return None
        if not rest.startswith("_has:"):
            # the chained parameter must mean the same thing on every candidate target
            kinds = {self.registry.get(t, next_code).type for t in targets}  # type: ignore[union-attr]
            if len(kinds) > 1:
                raise BadRequest(f"{name}: {next_code!r} differs between the targets "
                                 f"{', '.join(targets)}; add a type modifier", expression=(name,))
        inner = self.criterion(rest, value, targets, query, full_name, links=links, nesting=nesting)
        if inner is None:
            return None
        return ChainCriterion(name, param, types, targets, inner)

    def _has(self, name: str, full_name: str, value: str, types: tuple[str, ...],
             query: ParsedQuery, links: int, nesting: int) -> Criterion | None:
        parts = name.split(":", 3)
        if len(parts) != 4 or not all(parts[1:]):
            raise BadRequest(f"{full_name} must be _has:[type]:[reference]:[parameter]",
                             expression=(full_name,))
        _, source, ref_code, rest = parts
        ref = self.registry.get(source, ref_code)
        if ref is None or ref.type != "reference":
            self._unknown(query, full_name, f"{source} has no reference parameter {ref_code!r}")
            return None
        if ref.targets and types and not set(types) & set(ref.targets):
            raise BadRequest(f"{full_name}: {source}.{ref_code} never points at "
                             f"{' | '.join(types)}", expression=(full_name,))
        inner = self.criterion(rest, value, (source,), query, full_name, links=links, nesting=nesting)
        if inner is None:
            return None
        return HasCriterion(full_name, source, ref, types, inner)


def _refuse_past_link_limit(full_name: str, links: int) -> None:
    if links == MAX_LINKS:
        raise BadRequest(f"{full_name}: a search criterion may follow at most {MAX_LINKS} references "
                         "(chained and _has together)", expression=(full_name,))


def _bounded_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {value!r}",
                         expression=(name,)) from None
    if number < 0:
        raise BadRequest(f"{name} must not be negative", expression=(name,))
    return min(number, MAX_COUNT)
