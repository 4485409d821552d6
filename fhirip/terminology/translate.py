"""ConceptMap translation, forward and reverse.

https://hl7.org/fhir/R4/conceptmap-operation-translate.html
https://hl7.org/fhir/R4/valueset-concept-map-equivalence.html (equivalence codes)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Resource = dict[str, Any]

# Best first: the order matches are reported in, so the first match is the closest one.
EQUIVALENCE_RANK = {code: rank for rank, code in enumerate((
    "equal", "equivalent", "relatedto", "wider", "subsumes", "narrower", "specializes",
    "inexact", "unmatched", "disjoint"))}
# Reading a map backwards turns "the target is wider than the source" into "narrower".
REVERSED_EQUIVALENCE = {"wider": "narrower", "narrower": "wider",
                        "subsumes": "specializes", "specializes": "subsumes"}
NOT_A_MATCH = ("unmatched", "disjoint")


@dataclass(frozen=True, slots=True)
class Match:
    equivalence: str
    system: str | None
    code: str | None
    display: str | None
    source: str  # the ConceptMap's canonical url
    comment: str | None = None

    @property
    def is_match(self) -> bool:
        return self.equivalence not in NOT_A_MATCH


def map_scope(concept_map: Resource, side: str) -> str | None:
    """The value set a map translates from (side="source") or to (side="target")."""
    return concept_map.get(f"{side}Canonical") or concept_map.get(f"{side}Uri")


def translate_with(concept_map: Resource, system: str, code: str, *, reverse: bool = False,
                   target_system: str | None = None, system_url=lambda s: s) -> list[Match]:
    """Every match one ConceptMap gives for system#code."""
    url = concept_map.get("url") or f"ConceptMap/{concept_map.get('id')}"
    matches: list[Match] = []
    for group in concept_map.get("group", []):
        source = system_url(group.get("source", ""))
        target = system_url(group.get("target", ""))
        if reverse:
            if target != system or (target_system and source != target_system):
                continue
            for element in group.get("element", []):
                for tgt in element.get("target", []):
                    if tgt.get("code") == code:
                        equivalence = tgt.get("equivalence", "equivalent")
                        matches.append(Match(REVERSED_EQUIVALENCE.get(equivalence, equivalence),
                                             source, element.get("code"), element.get("display"),
                                             url, tgt.get("comment")))
            continue
        if source != system or (target_system and target != target_system):
            continue
        elements = [e for e in group.get("element", []) if e.get("code") == code]
        for element in elements:
            for tgt in element.get("target", []):
                equivalence = tgt.get("equivalence", "equivalent")
                matches.append(Match(equivalence, target if tgt.get("code") else None,
                                     tgt.get("code"), tgt.get("display"), url, tgt.get("comment")))
        if not elements:
            matches.extend(_unmapped(group.get("unmapped"), target, code, url))
    return matches


def _unmapped(unmapped: dict[str, Any] | None, target: str, code: str, url: str) -> list[Match]:
    """The group's rule for codes it does not list (other-map is followed by the caller)."""
    if not unmapped:
        return []
    mode = unmapped.get("mode")
    if mode == "provided":
        return [Match("equal", target, code, None, url)]
    if mode == "fixed" and unmapped.get("code"):
        return [Match("inexact", target, unmapped["code"], unmapped.get("display"), url)]
    if mode == "other-map" and unmapped.get("url"):
        return [Match("other-map", None, None, None, unmapped["url"])]
    return []


def ranked(matches: list[Match]) -> list[Match]:
    unique = list(dict.fromkeys(matches))
    return sorted(unique, key=lambda m: EQUIVALENCE_RANK.get(m.equivalence, len(EQUIVALENCE_RANK)))
