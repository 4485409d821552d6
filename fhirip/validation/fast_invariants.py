"""Base invariants that every write meets, evaluated in Python with fhirpathpy's exact result.

https://hl7.org/fhir/R4/conformance-rules.html#constraints

The DomainResource invariants (dom-2, dom-4, dom-5, dom-6) run on every resource,
and a few datatype and resource invariants on most; through the general FHIRPath
engine they were most of the cost of validating a write. Each function here answers
what `fhirpath.holds` answers for the one expression it is registered under (keyed by
key and expression, so a profile reusing a key with other words still goes to the
engine), navigating JSON the way fhirpathpy does (`fhirip.fhirpath_simple.present`): `name`
and `_name` both count, list items count one by one. Tests compare them with the engine on generated data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirip.fhirpath_simple import present, present_at


def _dom_2(element: Any) -> bool:
    """contained.contained.empty()"""
    return not present_at(element, "contained", "contained")


def _dom_4(element: Any) -> bool:
    """contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()"""
    meta = present_at(element, "contained", "meta")
    return not present(meta, "versionId") and not present(meta, "lastUpdated")


def _dom_5(element: Any) -> bool:
    """contained.meta.security.empty()"""
    return not present_at(element, "contained", "meta", "security")


def _dom_6(element: Any) -> bool:
    """text.`div`.exists()"""
    return bool(present_at(element, "text", "div"))


def _cpt_2(element: Any) -> bool:
    """value.empty() or system.exists()"""
    return not present_at(element, "value") or bool(present_at(element, "system"))


def _ppc_1(element: Any) -> bool:
    """policy.exists() or policyRule.exists()"""
    return bool(present_at(element, "policy")) or bool(present_at(element, "policyRule"))


def _scope_without_patient(code: str) -> Callable[[Any], bool]:
    """patient.exists() or scope.coding.where(system='something' and code=<code>).exists().not()"""

    def holds(element: Any) -> bool:
        if present_at(element, "patient"):
            return True
        return not any(present([coding], "system") == ["something"] and present([coding], "code") == [code]
                       for coding in present_at(element, "scope", "coding"))

    return holds


def _org_1(element: Any) -> bool:
    """(identifier.count() + name.count()) > 0"""
    return len(present_at(element, "identifier")) + len(present_at(element, "name")) > 0


def _cpl_3(element: Any) -> bool:
    """detail.empty() or reference.empty()"""
    return not present_at(element, "detail") or not present_at(element, "reference")


def _ppc_scope(code: str) -> str:
    return f"patient.exists() or scope.coding.where(system='something' and code='{code}').exists().not()"


FAST: dict[tuple[str, str], Callable[[Any], bool]] = {
    ("dom-2", "contained.contained.empty()"): _dom_2,
    ("dom-4", "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()"): _dom_4,
    ("dom-5", "contained.meta.security.empty()"): _dom_5,
    ("dom-6", "text.`div`.exists()"): _dom_6,
    ("cpt-2", "value.empty() or system.exists()"): _cpt_2,
    ("ppc-1", "policy.exists() or policyRule.exists()"): _ppc_1,
    ("ppc-2", _ppc_scope("patient-privacy")): _scope_without_patient("patient-privacy"),
    ("ppc-3", _ppc_scope("research")): _scope_without_patient("research"),
    ("ppc-4", _ppc_scope("adr")): _scope_without_patient("adr"),
    ("ppc-5", _ppc_scope("treatment")): _scope_without_patient("treatment"),
    ("org-1", "(identifier.count() + name.count()) > 0"): _org_1,
    ("cpl-3", "detail.empty() or reference.empty()"): _cpl_3,
}
