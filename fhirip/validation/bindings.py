"""Terminology bindings of profiles and extensions: required → error, extensible → warning.

https://hl7.org/fhir/R4/terminologies.html#strength

Base value sets (http://hl7.org/fhir/ValueSet/...) are answered from the vendored
definitions; the project's value sets by the terminology service, whose
`contains(valueset_url, system, code)` returns True, False or None (value set unknown).
"""

from __future__ import annotations

from typing import Any, Protocol

from fhirip.errors import Issue
from fhirip.validation.base_valuesets import BaseValueSets
from fhirip.validation.walker import Occurrence, coded_values, issue


class Terminology(Protocol):
    def contains(self, valueset_url: str, system: str | None, code: str) -> bool | None: ...


class BindingChecker:
    def __init__(self, base: BaseValueSets, terminology: Terminology | Any | None) -> None:
        self.base = base
        self.terminology = terminology

    def contains(self, url: str, system: str | None, code: str) -> bool | None:
        if self.base.knows(url):
            return self.base.contains(url, system, code)
        if self.terminology is None:
            return None
        return self.terminology.contains(url, system, code)

    def check(self, occurrence: Occurrence, strength: str | None, url: str | None, where: str,
              issues: list[Issue], unknown: set[str]) -> None:
        """Check one coded element against a binding; `where` names the rule's source."""
        if strength not in ("required", "extensible") or not url:
            return
        url = url.split("|")[0]
        codes = coded_values(occurrence)
        severity = "error" if strength == "required" else "warning"
        if not codes:
            if strength == "required" and occurrence.type_code == "CodeableConcept":
                issues.append(issue(severity, "code-invalid", occurrence.expr,
                                    f"{occurrence.expr}: needs a code from the required value set "
                                    f"{url} ({where}); text alone is not enough"))
            return
        verdicts = [self.contains(url, system, code) for system, code in codes]
        if any(v is True for v in verdicts):
            return
        if any(v is None for v in verdicts):
            if url not in unknown:
                unknown.add(url)
                issues.append(issue("information", "informational", occurrence.expr,
                                    f"{occurrence.expr}: value set {url} is not known here; "
                                    f"binding ({where}) not checked"))
            return
        shown = ", ".join(f"{s}#{c}" if s else repr(c) for s, c in codes)
        issues.append(issue(severity, "code-invalid", occurrence.expr,
                            f"{occurrence.expr}: {shown} is not in the {strength} value set {url} "
                            f"({where})"))
