"""The terminology service: $expand, $validate-code, $lookup, $subsumes, $translate in Python.

https://hl7.org/fhir/R4/terminology-service.html

Inputs and outputs are FHIR JSON (ValueSet with expansion, Parameters); errors are
fhirip.errors (NotFound for unknown value sets, code systems, codes and maps;
BadRequest for missing or contradictory parameters, naming the parameter).

Wiring: build one service per process; pass `extra=` a function (resourceType, canonical)
-> resource for terminology stored on the server, and call `invalidate(url)` after such a
resource is written. Expansions of the files are cached for the process lifetime, those of
server-stored resources for `dynamic_ttl` seconds (other workers see a change after that).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fhirip.errors import BadRequest, NotFound, PayloadTooLarge

from . import codecheck
from .codesystem import CodeSystemIndex
from .expansion import Entry, Expander, Expansion
from .parameters import coding as make_coding
from .parameters import parameters, part, parts
from .registry import (BASE_SPEC_FILES, TERMINOLOGY_DIR, Resolver, Resource,
                       TerminologyRegistry, read_directory, read_resources)
from .translate import Match, map_scope, ranked, translate_with

Json = dict[str, Any]
NORWEGIAN = {"nb", "no", "nn"}  # a Norwegian request is served by a Bokmål display


class TerminologyService:
    """CodeSystems, ValueSets and ConceptMaps from terminology/ (loaded once), the vendored
    base definitions, and optionally those stored on the server (`extra`)."""

    def __init__(self, directory: Path = TERMINOLOGY_DIR, *, extra: Resolver | None = None,
                 base_files: tuple[Path, ...] = BASE_SPEC_FILES, dynamic_ttl: float = 30.0,
                 max_expansion: int = 10_000) -> None:
        base = [r for path in base_files if path.exists() for r in read_resources(path)]
        self.registry = TerminologyRegistry(read_directory(directory), base, extra)
        self.expander = Expander(self.registry, dynamic_ttl)
        self.max_expansion = max_expansion

    def resources(self) -> list[Resource]:
        """The resources fhirip publishes (terminology/), to serve over FHIR REST."""
        return list(self.registry.published)

    def look_up_others_with(self, extra: Resolver | None) -> None:
        """From now on, find the terminology resources the files do not hold with `extra` (the
        store; None: nowhere), forgetting every expansion made from the earlier answers."""
        self.registry.look_up_others_with(extra)
        self.invalidate()

    def invalidate(self, url: str | None = None) -> None:
        """Forget cached expansions, e.g. after a terminology resource was written to the store."""
        self.expander.invalidate(url)

    # ------------------------------------------------------------------ $expand
    def expand(self, url: str | None = None, value_set: Json | None = None, *,
               filter: str | None = None, offset: int = 0, count: int | None = None,
               display_language: str | None = None, include_designations: bool = False) -> Json:
        definition, expansion = self._value_set(url, value_set)
        if offset < 0:
            raise BadRequest(f"Parameter 'offset' must not be negative, got {offset}", ("offset",))
        if count is not None and count < 0:
            raise BadRequest(f"Parameter 'count' must not be negative, got {count}", ("count",))
        if expansion.open_systems:
            systems = ", ".join(sorted(expansion.open_systems))
            raise NotFound(f"The value set {_label(definition)} cannot be expanded: it includes "
                           f"code systems this server does not hold in full ({systems})",
                           ("url",))
        entries = list(expansion.entries.values())
        if filter:
            terms = filter.casefold().split()
            entries = [e for e in entries if all(t in _haystack(e) for t in terms)]
        total = len(entries)
        if count is None and total - offset > self.max_expansion:
            raise PayloadTooLarge(f"The expansion of {_label(definition)} has {total} concepts; "
                                  f"page it with 'count' (at most {self.max_expansion})",
                                  ("count",))
        page = entries[offset:] if count is None else entries[offset:offset + count]
        used = [("filter", "String", filter), ("offset", "Integer", offset if offset else None),
                ("count", "Integer", count), ("displayLanguage", "Code", display_language)]
        result = {k: v for k, v in definition.items() if k not in ("expansion", "text")}
        result.setdefault("resourceType", "ValueSet")
        result["expansion"] = {
            "identifier": f"urn:uuid:{uuid.uuid4()}",
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "total": total,
            "offset": offset,
            "parameter": [part(name, kind, value) for name, kind, value in used
                          if value is not None],
            "contains": [_contains_item(e, display_language, include_designations)
                         for e in page],
        }
        if not result["expansion"]["parameter"]:
            del result["expansion"]["parameter"]
        return result

    def contains(self, valueset_url: str, system: str | None, code: str) -> bool | None:
        """Whether system#code is a selectable member of the value set; None when the value
        set is unknown or its membership for that system cannot be decided here."""
        try:
            expansion = self.expander.expand_url(valueset_url)
        except (NotFound, BadRequest):
            return None
        if system is not None:
            system = self.registry.system_url(system)
        return expansion.has(system, code)

    # ------------------------------------------------------------------ $validate-code
    def validate_code(self, url: str | None = None, code: str | None = None,
                      system: str | None = None, display: str | None = None,
                      coding: Json | None = None, codeable_concept: Json | None = None, *,
                      value_set: Json | None = None, abstract: bool = False) -> Json:
        """ValueSet/$validate-code: Parameters(result, message, display)."""
        definition, expansion = self._value_set(url, value_set)
        label = _label(definition)
        codings = codecheck.codings_to_check(code, system, display, coding, codeable_concept)
        verdicts = [codecheck.check_in_value_set(self.expander, expansion, label, c, abstract)
                    for c in codings]
        return codecheck.result(verdicts)

    def validate_code_in_system(self, url: str | None = None, code: str | None = None,
                                display: str | None = None, coding: Json | None = None,
                                codeable_concept: Json | None = None, *,
                                version: str | None = None) -> Json:
        """CodeSystem/$validate-code: Parameters(result, message, display)."""
        codings = codecheck.codings_to_check(code, url, display, coding, codeable_concept)
        url = url or next((c.get("system") for c in codings if c.get("system")), None)
        if not url:
            raise BadRequest("Parameter 'url' (the code system) is required", ("url",))
        index = self._code_system(url, version, "url")
        return codecheck.result([codecheck.check_in_code_system(index, c) for c in codings])

    # ------------------------------------------------------------------ $lookup, $subsumes
    def lookup(self, system: str, code: str, version: str | None = None, *,
               display_language: str | None = None) -> Json:
        """CodeSystem/$lookup: Parameters(name, version, display, designation*, property*)."""
        if not system:
            raise BadRequest("Parameter 'system' is required", ("system",))
        if not code:
            raise BadRequest("Parameter 'code' is required", ("code",))
        index = self._code_system(system, version, "system")
        concept = index.get(code)
        if concept is None:
            raise NotFound(f"Code '{code}' is not in code system {index.url}", ("code",))
        entry = Entry(index.url, concept.code, concept.display, index.version, index.language,
                      tuple(concept.designations))
        props = [parts("property", part("code", "Code", "parent"), part("value", "Code", p))
                 for p in concept.parents]
        props += [parts("property", part("code", "Code", "child"), part("value", "Code", c))
                  for c in concept.children]
        if concept.definition:
            props.append(parts("property", part("code", "Code", "definition"),
                               part("value", "String", concept.definition)))
        for prop in concept.properties:
            value = next(((k[5:], v) for k, v in prop.items() if k.startswith("value")), None)
            if value is not None:
                props.append(parts("property", part("code", "Code", prop["code"]),
                                   part("value", *value)))
        designations = [parts("designation",
                              part("language", "Code", d["language"]) if d.get("language") else None,
                              part("use", "Coding", d["use"]) if d.get("use") else None,
                              part("value", "String", d["value"]))
                        for d in concept.designations]
        return parameters(part("name", "String", index.name),
                          part("version", "String", index.version) if index.version else None,
                          part("display", "String", _display(entry, display_language) or code),
                          *designations, *props)

    def subsumes(self, system: str, code_a: str, code_b: str,
                 version: str | None = None) -> Json:
        """CodeSystem/$subsumes: Parameters(outcome) = equivalent|subsumes|subsumed-by|not-subsumed."""
        index = self._code_system(system, version, "system")
        for name, code in (("codeA", code_a), ("codeB", code_b)):
            if not code:
                raise BadRequest(f"Parameter '{name}' is required", (name,))
            if index.get(code) is None:
                raise NotFound(f"Code '{code}' ({name}) is not in code system {index.url}", (name,))
        a, b = index.get(code_a).code, index.get(code_b).code
        outcome = ("equivalent" if a == b else "subsumes" if index.subsumes(a, b)
                   else "subsumed-by" if index.subsumes(b, a) else "not-subsumed")
        return parameters(part("outcome", "Code", outcome))

    # ------------------------------------------------------------------ $translate
    def translate(self, url: str | None = None, system: str | None = None,
                  code: str | None = None, source: str | None = None, target: str | None = None,
                  reverse: bool = False, *, target_system: str | None = None,
                  coding: Json | None = None, codeable_concept: Json | None = None,
                  concept_map: Json | None = None) -> Json:
        """ConceptMap/$translate: Parameters(result, message, match*(equivalence, concept, source))."""
        codings = codecheck.codings_to_check(code, system, None, coding, codeable_concept)
        if any(not c.get("system") for c in codings):
            raise BadRequest("Parameter 'system' is required with 'code'", ("system",))
        maps = self._concept_maps(url, concept_map, source, target, reverse)
        matches: list[Match] = []
        for given in codings:
            given_system = self.registry.system_url(given["system"])
            for concept_map_resource in maps:
                matches += self._follow(concept_map_resource, given_system, given["code"],
                                        reverse, target_system, depth=0)
        matches = ranked(matches)
        ok = any(m.is_match for m in matches)
        asked = ", ".join(f"{c['system']}#{c['code']}" for c in codings)
        message = None if ok else (f"No mapping found for {asked} in "
                                   + ", ".join(m.get("url", "(inline)") for m in maps))
        return parameters(
            part("result", "Boolean", ok),
            part("message", "String", message) if message else None,
            *[parts("match", part("equivalence", "Code", m.equivalence),
                    part("concept", "Coding", make_coding(m.system, m.code, m.display))
                    if m.code else None,
                    part("source", "Uri", m.source)) for m in matches])

    def map_code(self, url: str, code: str, *, system: str | None = None, reverse: bool = False,
                 target_system: str | None = None) -> Json | None:
        """The best Coding one ConceptMap gives for a code (None when it maps to nothing).
        Without `system`, the map's only source (or, reversed, target) system is used."""
        concept_map = self._concept_maps(url, None, None, None, reverse)[0]
        if system is None:
            side = "target" if reverse else "source"
            systems = {g.get(side) for g in concept_map.get("group", [])}
            if len(systems) != 1:
                raise BadRequest(f"Parameter 'system' is required: {url} maps from "
                                 f"{', '.join(sorted(s for s in systems if s))}", ("system",))
            system = systems.pop()
        matches = ranked(self._follow(concept_map, self.registry.system_url(system), code,
                                      reverse, target_system, depth=0))
        best = next((m for m in matches if m.is_match and m.code), None)
        return make_coding(best.system, best.code, best.display) if best else None

    # ------------------------------------------------------------------ helpers
    def _value_set(self, url: str | None, value_set: Json | None) -> tuple[Json, Expansion]:
        if url and value_set:
            raise BadRequest("Give either parameter 'url' or 'valueSet', not both", ("valueSet",))
        if value_set is not None:
            if value_set.get("resourceType") != "ValueSet":
                raise BadRequest("Parameter 'valueSet' must be a ValueSet resource", ("valueSet",))
            return value_set, self.expander.expand_resource(value_set)
        if not url:
            raise BadRequest("Parameter 'url' (or 'valueSet') is required", ("url",))
        expansion = self.expander.expand_url(url)
        return self.registry.find("ValueSet", url).resource, expansion

    def _code_system(self, system: str, version: str | None, parameter: str) -> CodeSystemIndex:
        found = self.expander.code_system(system, version)
        if found is None:
            shown = system if version is None else f"{system}|{version}"
            raise NotFound(f"Unknown code system '{shown}'", (parameter,))
        return found[0]

    def _concept_maps(self, url: str | None, inline: Json | None, source: str | None,
                      target: str | None, reverse: bool) -> list[Json]:
        if url and inline:
            raise BadRequest("Give either parameter 'url' or 'conceptMap', not both", ("url",))
        if inline is not None:
            if inline.get("resourceType") != "ConceptMap":
                raise BadRequest("Parameter 'conceptMap' must be a ConceptMap", ("conceptMap",))
            return [inline]
        if url:
            found = self.registry.find("ConceptMap", url)
            if found is None:
                raise NotFound(f"Unknown concept map '{url}'", ("url",))
            return [found.resource]
        maps = self.registry.static_resources("ConceptMap")
        from_side, to_side = ("target", "source") if reverse else ("source", "target")
        if source:
            maps = [m for m in maps if map_scope(m, from_side) == source]
        if target:
            maps = [m for m in maps if map_scope(m, to_side) == target]
        return maps

    def _follow(self, concept_map: Json, system: str, code: str, reverse: bool,
                target_system: str | None, depth: int) -> list[Match]:
        found = translate_with(concept_map, system, code, reverse=reverse,
                               target_system=target_system, system_url=self.registry.system_url)
        out = [m for m in found if m.equivalence != "other-map"]
        for redirect in (m for m in found if m.equivalence == "other-map"):
            other = self.registry.find("ConceptMap", redirect.source)
            if other is not None and depth < 5:
                out += self._follow(other.resource, system, code, reverse, target_system,
                                    depth + 1)
        return out


def _label(value_set: Json) -> str:
    return value_set.get("url") or f"ValueSet/{value_set.get('id', '(inline)')}"


def _haystack(entry: Entry) -> str:
    texts = [entry.code, entry.display or ""] + [d.get("value", "") for d in entry.designations]
    return " ".join(texts).casefold()


def _language_matches(wanted: str, have: str | None) -> bool:
    if not have:
        return False
    w, h = wanted.lower().split("-")[0], have.lower().split("-")[0]
    return w == h or (w in NORWEGIAN and h in NORWEGIAN)


def _display(entry: Entry, language: str | None) -> str | None:
    """The display in the requested language when there is one, else the default display."""
    if not language or _language_matches(language, entry.language):
        return entry.display
    for designation in entry.designations:
        if _language_matches(language, designation.get("language")) and not designation.get("use"):
            return designation.get("value")
    return entry.display


def _contains_item(entry: Entry, language: str | None, designations: bool) -> Json:
    item: Json = {"system": entry.system}
    if entry.abstract:
        item["abstract"] = True
    if entry.inactive:
        item["inactive"] = True
    if entry.version:
        item["version"] = entry.version
    item["code"] = entry.code
    display = _display(entry, language)
    if display:
        item["display"] = display
    if designations and entry.designations:
        item["designation"] = list(entry.designations)
    return item
