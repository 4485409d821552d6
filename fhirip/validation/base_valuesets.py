"""Membership in the base specification's required value sets (vendored, CC0).

https://hl7.org/fhir/R4/terminologies.html#required

Expands the compose of each vendored ValueSet against the vendored CodeSystems. A
value set that includes a whole external system the package does not enumerate
(BCP-13 mime types, ISO 4217 currencies) has no expansion; mime types are checked by
their grammar instead, other such sets are reported as not checkable.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from fhirip.validation.definitions import SPEC_DIR

MIME_TYPES = "http://hl7.org/fhir/ValueSet/mimetypes"
_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
                   r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"]*\"|[^;\s]+))*$")


def _codes_of(concepts: list[dict[str, Any]]) -> list[str]:
    codes: list[str] = []
    for concept in concepts:
        codes.append(concept["code"])
        codes.extend(_codes_of(concept.get("concept", [])))
    return codes


class BaseValueSets:
    def __init__(self, value_sets: list[dict[str, Any]], code_systems: list[dict[str, Any]]) -> None:
        systems = {cs["url"]: _codes_of(cs.get("concept", [])) for cs in code_systems}
        self._definitions = {vs["url"]: vs for vs in value_sets}
        self._expansions: dict[str, frozenset[tuple[str, str]] | None] = {}
        for url, vs in self._definitions.items():
            members: set[tuple[str, str]] = set()
            enumerable = True
            for include in vs.get("compose", {}).get("include", []):
                system = include.get("system")
                if "concept" in include:
                    members.update((system, c["code"]) for c in include["concept"])
                elif system in systems and not include.get("filter"):
                    members.update((system, code) for code in systems[system])
                else:
                    enumerable = False
            for exclude in vs.get("compose", {}).get("exclude", []):
                members.difference_update((exclude.get("system"), c["code"])
                                          for c in exclude.get("concept", []))
            self._expansions[url] = frozenset(members) if enumerable else None

    @classmethod
    def load(cls, spec_dir: Path = SPEC_DIR) -> BaseValueSets:
        read = lambda name: json.loads((spec_dir / name).read_text(encoding="utf-8"))  # noqa: E731
        return cls(read("base-valuesets.json"), read("base-codesystems.json"))

    def knows(self, url: str) -> bool:
        return url in self._definitions

    def contains(self, url: str, system: str | None, code: str) -> bool | None:
        """True/False for a known, checkable value set; None when it cannot be checked."""
        if url == MIME_TYPES:
            return bool(_MIME.match(code))
        expansion = self._expansions.get(url)
        if expansion is None:
            return None
        if system is None:  # a bare `code` element: the system is implied by the binding
            return any(code == member_code for _, member_code in expansion)
        return (system, code) in expansion


@cache
def base_value_sets() -> BaseValueSets:
    return BaseValueSets.load()
