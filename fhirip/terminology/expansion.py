"""ValueSet expansion: compose.include / exclude, concept lists, filters, imports, caching.

https://hl7.org/fhir/R4/valueset.html#compose
https://hl7.org/fhir/R4/valueset-operation-expand.html

An expansion knows which code systems it could not enumerate (`open_systems`: included
whole or by filter, but not available here), so membership questions can answer
"don't know" instead of a wrong "no".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fhirip.errors import BadRequest, NotFound

from .codesystem import CodeSystemIndex
from .registry import Resource, TerminologyRegistry


@dataclass(frozen=True, slots=True)
class Entry:
    """One concept of an expansion."""

    system: str
    code: str
    display: str | None
    version: str | None = None
    language: str | None = None  # the language `display` is written in
    designations: tuple[dict[str, Any], ...] = ()
    abstract: bool = False
    inactive: bool = False


Key = tuple[str, str]


@dataclass
class Expansion:
    """The full (unfiltered, unpaged) content of a value set."""

    entries: dict[Key, Entry]
    open_systems: frozenset[str]
    static: bool
    _members: dict[str, set[str]] | None = field(default=None, repr=False)

    def has(self, system: str | None, code: str) -> bool | None:
        """Whether a selectable code is in the set; None when an open system could hold it."""
        if self._members is None:
            members: dict[str, set[str]] = {}
            for entry in self.entries.values():
                if not entry.abstract:
                    members.setdefault(entry.system, set()).add(entry.code)
            members[""] = {code for codes in members.values() for code in codes}
            self._members = members
        if code in self._members.get(system or "", ()):
            return True
        if system is None:
            return None if self.open_systems else False
        return None if system in self.open_systems else False


@dataclass
class _Part:
    """What one include or exclude selects."""

    entries: dict[Key, Entry]
    open_systems: set[str]
    static: bool


class Expander:
    """Expands value sets by canonical URL (cached) or as given."""

    def __init__(self, registry: TerminologyRegistry, dynamic_ttl: float = 30.0) -> None:
        self.registry = registry
        self.dynamic_ttl = dynamic_ttl
        self._cache: dict[str, tuple[Expansion, float | None]] = {}
        self._code_systems: dict[tuple[str, str | None], tuple[CodeSystemIndex, bool] | None] = {}

    def invalidate(self, url: str | None = None) -> None:
        """Forget cached expansions (all, or those of one value set) and code system indexes."""
        if url is None:
            self._cache.clear()
            self._code_systems.clear()
        else:
            # Expansions of server-stored value sets may depend on the changed resource too.
            self._cache = {k: v for k, v in self._cache.items()
                           if not k.startswith(url) and v[0].static}

    def code_system(self, system: str, version: str | None = None
                    ) -> tuple[CodeSystemIndex, bool] | None:
        """The index of a code system and whether it is static, or None when unavailable."""
        key = (self.registry.system_url(system), version)
        if key not in self._code_systems:
            canonical = key[0] if version is None else f"{key[0]}|{version}"
            found = self.registry.find("CodeSystem", canonical)
            value = (CodeSystemIndex(found.resource), found.static) if found else None
            if value is not None and not value[1]:
                return value  # server-stored: never cached here, it can change
            self._code_systems[key] = value
        return self._code_systems[key]

    def expand_url(self, canonical: str, _stack: tuple[str, ...] = ()) -> Expansion:
        cached = self._cache.get(canonical)
        if cached is not None and (cached[1] is None or cached[1] > time.monotonic()):
            return cached[0]
        found = self.registry.find("ValueSet", canonical)
        if found is None:
            raise NotFound(f"Unknown value set '{canonical}'", ("url",))
        expansion = self.expand_resource(found.resource, _stack=_stack)
        expansion.static = expansion.static and found.static
        expires = None if expansion.static else time.monotonic() + self.dynamic_ttl
        self._cache[canonical] = (expansion, expires)
        return expansion

    def expand_resource(self, value_set: Resource, _stack: tuple[str, ...] = ()) -> Expansion:
        label = value_set.get("url") or f"ValueSet/{value_set.get('id', '(inline)')}"
        if label in _stack:
            raise BadRequest("ValueSet import cycle: " + " -> ".join(_stack + (label,)),
                             ("valueSet",))
        stack = _stack + (label,)
        compose = value_set.get("compose")
        if compose is None:
            return self._from_expansion(value_set, label)
        language = value_set.get("language")
        entries: dict[Key, Entry] = {}
        open_systems: set[str] = set()
        static = True
        for index, include in enumerate(compose.get("include", [])):
            part = self._part(include, f"{label} compose.include[{index}]", stack, language)
            for key, entry in part.entries.items():
                entries.setdefault(key, entry)
            open_systems |= part.open_systems
            static = static and part.static
        for index, exclude in enumerate(compose.get("exclude", [])):
            part = self._part(exclude, f"{label} compose.exclude[{index}]", stack, language)
            for key in part.entries:
                entries.pop(key, None)
            # An exclusion we cannot enumerate makes membership in that system uncertain.
            open_systems |= {s for s in part.open_systems if any(k[0] == s for k in entries)}
            static = static and part.static
        if compose.get("inactive") is False:
            entries = {k: e for k, e in entries.items() if not e.inactive}
        return Expansion(entries, frozenset(open_systems), static)

    def _from_expansion(self, value_set: Resource, label: str) -> Expansion:
        expansion = value_set.get("expansion")
        if expansion is None:
            raise BadRequest(f"{label}: the value set has neither compose nor expansion",
                             ("valueSet",))
        entries: dict[Key, Entry] = {}

        def walk(contains: list[dict[str, Any]]) -> None:
            for item in contains:
                if item.get("system") and item.get("code"):
                    entries.setdefault((item["system"], item["code"]), Entry(
                        item["system"], item["code"], item.get("display"), item.get("version"),
                        value_set.get("language"), tuple(item.get("designation", [])),
                        bool(item.get("abstract")), bool(item.get("inactive"))))
                walk(item.get("contains", []))

        walk(expansion.get("contains", []))
        return Expansion(entries, frozenset(), True)

    def _part(self, rule: dict[str, Any], where: str, stack: tuple[str, ...],
              language: str | None) -> _Part:
        imported = [self.expand_url(url, stack) for url in rule.get("valueSet", [])]
        static = all(e.static for e in imported)
        system = rule.get("system")
        if system is None:
            if not imported:
                raise BadRequest(f"{where}: an include/exclude needs a system or a valueSet",
                                 (where,))
            part = _Part(dict(imported[0].entries), set(imported[0].open_systems), static)
            imported = imported[1:]
        else:
            part = self._system_part(rule, where, language)
            part.static = part.static and static
        for other in imported:  # several sources in one include intersect
            part.entries = {k: e for k, e in part.entries.items()
                            if k in other.entries or k[0] in other.open_systems}
            part.open_systems &= set(other.open_systems) | {k[0] for k in other.entries}
        return part

    def _system_part(self, rule: dict[str, Any], where: str, language: str | None) -> _Part:
        system = self.registry.system_url(rule["system"])
        version = rule.get("version")
        found = self.code_system(system, version)
        index, static = found if found else (None, True)
        if rule.get("concept"):
            if rule.get("filter"):
                raise BadRequest(f"{where}: concept and filter cannot both be given", (where,))
            entries = {}
            for position, listed in enumerate(rule["concept"]):
                entry = self._listed(system, listed, index, f"{where}.concept[{position}]",
                                     language)
                entries[(system, entry.code)] = entry
            return _Part(entries, set(), static)
        if index is None or not index.expandable:
            return _Part({}, {system}, static)
        codes = (index.select(rule["filter"], where) if rule.get("filter")
                 else index.concepts.keys())
        entries = {(system, code): _entry(index, code) for code in index.concepts
                   if code in codes}
        # A fragment or example code system does not hold every code of the system.
        return _Part(entries, set() if index.complete else {system}, static)

    def _listed(self, system: str, listed: dict[str, Any], index: CodeSystemIndex | None,
                where: str, language: str | None) -> Entry:
        code = listed["code"]
        designations = tuple(listed.get("designation", []))
        if index is None:
            return Entry(system, code, listed.get("display"), None, language, designations)
        concept = index.get(code)
        if concept is None:
            if index.complete:
                raise BadRequest(f"{where}: code '{code}' is not in code system {system}",
                                 (where,))
            return Entry(system, code, listed.get("display"), index.version, language,
                         designations)
        base = _entry(index, concept.code)
        display = listed.get("display") or base.display
        return Entry(system, concept.code, display, index.version,
                     language if listed.get("display") else base.language,
                     designations + base.designations, base.abstract, base.inactive)


def _entry(index: CodeSystemIndex, code: str) -> Entry:
    concept = index.concepts[code]
    return Entry(index.url, code, concept.display, index.version, index.language,
                 tuple(concept.designations), concept.abstract, concept.inactive)
