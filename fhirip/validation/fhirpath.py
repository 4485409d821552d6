"""FHIRPath invariants: compiled once, evaluated on an element with its type known.

https://hl7.org/fhir/R4/conformance-rules.html#constraints

A handful of base invariants cannot be evaluated faithfully by fhirpathpy (it has no
hasValue()/htmlChecks(), and compares partial dates as if they were precise), or need
resolve() across resources; those run as the small Python functions in NATIVE instead,
keyed by the invariant's key. Everything else is evaluated as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from fhirip.validation.partial_dates import compare_partial

R4_MODEL = models["r4"]

_QUIET = {"traceFn": lambda label, value: None}  # invariants use trace(); keep it off stdout
_WITH_HAS_VALUE = {
    **_QUIET,
    "userInvocationTable": {
        # hasValue(): true for a single primitive that carries a value, not only extensions.
        "hasValue": {"fn": lambda inputs: len(inputs) == 1 and inputs[0] is not None
                     and not isinstance(inputs[0], (dict, list))},
    },
}


# now(), today() and timeOfDay(): the only way a validation's outcome can depend on when it runs.
_READS_CLOCK = re.compile(r"\b(?:now|today|timeOfDay)\s*\(")


class ClockWatch:
    """Notes whether an invariant that reads the clock was evaluated while it was watching."""

    def __init__(self) -> None:
        self.read = False


_clock_watch: ClockWatch | None = None


def watch_clock(watch: ClockWatch | None) -> None:
    """Report to `watch` (None: to nobody) every evaluation of an invariant that reads the clock."""
    global _clock_watch
    _clock_watch = watch


@lru_cache(maxsize=2048)
def reads_clock(expression: str) -> bool:
    return bool(_READS_CLOCK.search(expression))


class InvariantError(Exception):
    """An invariant expression that cannot be compiled or evaluated."""


@lru_cache(maxsize=2048)
def compiled(expression: str) -> Callable[..., list]:
    try:
        # fhirpathpy rebuilds the user function table on every call, so pass it only when used.
        options = _WITH_HAS_VALUE if "hasValue" in expression else _QUIET
        return compile_fhirpath(expression, R4_MODEL, options)
    except Exception as exc:  # the parser raises bare Exceptions
        raise InvariantError(f"cannot compile FHIRPath {expression!r}: {exc}") from exc


def holds(expression: str, element: Any, type_path: str, resource: dict, *,
          empty_passes: bool = True) -> bool:
    """Evaluate an invariant on `element` (of FHIR type or element path `type_path`).

    The invariant holds when the result is true. For the base specification's
    invariants an empty result also passes: FHIRPath yields empty where it cannot
    decide (e.g. dates of different precision), and an undecidable rule must not reject
    data. The project's own invariants are written to be decisive, so for them
    (empty_passes=False) empty fails, as in the reference validator.
    """
    if _clock_watch is not None and reads_clock(expression):
        _clock_watch.read = True
    node = ResourceNode.create_node(element, type_path)
    try:
        result = compiled(expression)(node, {"resource": resource, "rootResource": resource})
    except InvariantError:
        raise
    except Exception as exc:
        raise InvariantError(f"cannot evaluate FHIRPath {expression!r}: {exc}") from exc
    if len(result) == 1 and isinstance(result[0], bool):
        return result[0]
    return empty_passes and not result


# --- native implementations -----------------------------------------------------------

def _ext_1(element: Any, resource: dict) -> bool:
    """ext-1: an extension has either nested extensions or a value, never both or neither."""
    if not isinstance(element, dict):
        return True
    has_value = any(key.startswith("value") for key in element)
    return bool(element.get("extension")) != has_value


def _per_1(element: Any, resource: dict) -> bool:
    """per-1: start <= end, where dates of different precision compare only as far as
    both are known (2024-05 and 2024-05-20 are not in conflict)."""
    if not isinstance(element, dict):
        return True
    start, end = element.get("start"), element.get("end")
    if not isinstance(start, str) or not isinstance(end, str):
        return True
    order = compare_partial(start, end)
    return order is None or order <= 0


def _ref_1(element: Any, resource: dict) -> bool:
    """ref-1: a local reference '#id' points at a contained resource ('#' alone is the container).
    `resource` is %rootResource, so one contained resource may point at another."""
    reference = element.get("reference") if isinstance(element, dict) else None
    if not isinstance(reference, str) or not reference.startswith("#"):
        return True
    if reference == "#":
        return True
    return any(c.get("id") == reference[1:] for c in resource.get("contained", ()))


_REFERENCE_TYPE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[^/]+)?$")


def reference_type(reference: dict) -> str | None:
    """The resource type a Reference names, from `type` or its literal reference."""
    if not isinstance(reference, dict):
        return None
    if isinstance(reference.get("type"), str):
        return reference["type"]
    literal = reference.get("reference")
    if isinstance(literal, str):
        match = _REFERENCE_TYPE.search(literal)
        if match:
            return match.group(1)
    return None


def _ctm_1(element: Any, resource: dict) -> bool:
    """ctm-1: onBehalfOf only for a Practitioner member; unresolvable members pass, as in
    the spec's expression (resolve() empty -> true)."""
    if not isinstance(element, dict) or "onBehalfOf" not in element:
        return True
    member_type = reference_type(element.get("member", {}))
    return member_type in (None, "Practitioner")


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _dom_3(element: Any, resource: dict) -> bool:
    """dom-3: every contained resource is referred to from the resource ('#id' as a
    reference, canonical or uri), or itself refers to its container ('#')."""
    contained = element.get("contained") if isinstance(element, dict) else None
    if not contained:
        return True
    used = set(_strings({k: v for k, v in element.items() if k != "contained"}))
    for item in contained:
        used.update(s for other in contained if other is not item for s in _strings(other))
    return all(("#" + str(item.get("id"))) in used or "#" in set(_strings(item))
               for item in contained if isinstance(item, dict))


_FORBIDDEN_XHTML = re.compile(r"<\s*(script|iframe|object|embed|form|input|base|link|meta|style)\b"
                              r"|\son[a-z]+\s*=", re.IGNORECASE)


def _txt_1(element: Any, resource: dict) -> bool:
    """txt-1: the narrative is an XHTML div with only basic formatting (no active content)."""
    return (isinstance(element, str) and element.lstrip().startswith("<div")
            and "http://www.w3.org/1999/xhtml" in element and not _FORBIDDEN_XHTML.search(element))


def _txt_2(element: Any, resource: dict) -> bool:
    """txt-2: the narrative has some non-whitespace text content."""
    return isinstance(element, str) and bool(re.sub(r"<[^>]*>", "", element).strip())


# Each is called with the element and %rootResource.
NATIVE: dict[str, Callable[[Any, dict], bool]] = {
    "ext-1": _ext_1, "per-1": _per_1, "ref-1": _ref_1, "ctm-1": _ctm_1,
    "txt-1": _txt_1, "txt-2": _txt_2, "dom-3": _dom_3,
}
# ele-1 (no empty elements) is checked by the element walker itself, which sees every node.
SKIPPED = frozenset({"ele-1"})
