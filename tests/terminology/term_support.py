"""Helpers for the terminology tests: canonical URLs and readers of operation outputs."""

from __future__ import annotations

from fhirip.canonical import CODE_SYSTEM, CONCEPT_MAP, VALUE_SET

VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
V3_ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def cs(name: str) -> str:
    return f"{CODE_SYSTEM}/{name}"


def vs(name: str) -> str:
    return f"{VALUE_SET}/{name}"


def cm(name: str) -> str:
    return f"{CONCEPT_MAP}/{name}"


def codes(expansion: dict) -> list[str]:
    return [item["code"] for item in expansion["expansion"].get("contains", [])]


def out(parameters: dict, name: str):
    """First output parameter value by name."""
    for item in parameters["parameter"]:
        if item["name"] == name:
            return next((v for k, v in item.items() if k.startswith("value")), item.get("part"))
    return None


def matches(parameters: dict) -> list[tuple[str, str | None, str | None]]:
    """(equivalence, system, code) of every match of a $translate result."""
    found = []
    for item in parameters["parameter"]:
        if item["name"] == "match":
            part = {p["name"]: p for p in item["part"]}
            concept = part.get("concept", {}).get("valueCoding", {})
            found.append((part["equivalence"]["valueCode"], concept.get("system"),
                          concept.get("code")))
    return found
