"""Base invariants that every write meets, evaluated in Python with fhirpathpy's exact result.

https://hl7.org/fhir/R4/conformance-rules.html#constraints

The DomainResource invariants (dom-2, dom-4, dom-5, dom-6) run on every resource,
and a few datatype and resource invariants on most; through the general FHIRPath
engine they were most of the cost of validating a write. Each function here answers
what `fhirpath.holds` answers for the one expression it is registered under (keyed by
key and expression, so a profile reusing a key with other words still goes to the
engine), navigating JSON the way fhirpathpy does: `name` and `_name` both count,
list items count one by one. Tests compare them with the engine on generated data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _children(items: list[Any], name: str) -> list[Any]:
    """FHIRPath member navigation (`items.name`) over JSON, as fhirpathpy does it."""
    found: list[Any] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        for key in (name, "_" + name):
            value = item.get(key)
            if value is None:
                continue
            if isinstance(value, list):
                found.extend(value)
            else:
                found.append(value)
    return found


def _path(element: Any, *names: str) -> list[Any]:
    items = [element]
    for name in names:
        items = _children(items, name)
        if not items:
            break
    return items


def _dom_2(element: Any) -> bool:
    """contained.contained.empty()"""
    return not _path(element, "contained", "contained")


def _dom_4(element: Any) -> bool:
    """contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()"""
    meta = _path(element, "contained", "meta")
    return not _children(meta, "versionId") and not _children(meta, "lastUpdated")


def _dom_5(element: Any) -> bool:
    """contained.meta.security.empty()"""
    return not _path(element, "contained", "meta", "security")


def _dom_6(element: Any) -> bool:
    """text.`div`.exists()"""
    return bool(_path(element, "text", "div"))


def _cpt_2(element: Any) -> bool:
    """value.empty() or system.exists()"""
    return not _path(element, "value") or bool(_path(element, "system"))


def _ppc_1(element: Any) -> bool:
    """policy.exists() or policyRule.exists()"""
    return bool(_path(element, "policy")) or bool(_path(element, "policyRule"))


def _scope_without_patient(code: str) -> Callable[[Any], bool]:
    """patient.exists() or scope.coding.where(system='something' and code=<code>).exists().not()"""

    def holds(element: Any) -> bool:
        if _path(element, "patient"):
            return True
        return not any(_children([coding], "system") == ["something"] and _children([coding], "code") == [code]
                       for coding in _path(element, "scope", "coding"))

    return holds


def _org_1(element: Any) -> bool:
    """(identifier.count() + name.count()) > 0"""
    return len(_path(element, "identifier")) + len(_path(element, "name")) > 0


def _cpl_3(element: Any) -> bool:
    """detail.empty() or reference.empty()"""
    return not _path(element, "detail") or not _path(element, "reference")


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
