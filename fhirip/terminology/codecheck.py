"""$validate-code: is a code (Coding, CodeableConcept) valid in a value set or a code system?

https://hl7.org/fhir/R4/valueset-operation-validate-code.html
https://hl7.org/fhir/R4/codesystem-operation-validate-code.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirip.errors import BadRequest

from .codesystem import CodeSystemIndex
from .expansion import Entry, Expander, Expansion
from .parameters import parameters, part


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    message: str | None = None
    display: str | None = None


def codings_to_check(code: str | None, system: str | None, display: str | None,
                     coding: dict[str, Any] | None,
                     codeable_concept: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The codings the caller asks about; exactly one way of giving them is allowed."""
    given = [name for name, value in (("code", code), ("coding", coding),
                                      ("codeableConcept", codeable_concept)) if value]
    if not given:
        raise BadRequest("One of the parameters 'code', 'coding' or 'codeableConcept' is required",
                         ("code",))
    if len(given) > 1:
        raise BadRequest(f"Give only one of the parameters {', '.join(given)}", (given[1],))
    if code:
        return [{"system": system, "code": code, "display": display}]
    if coding:
        return [coding]
    codings = codeable_concept.get("coding", []) if codeable_concept else []
    if not codings:
        raise BadRequest("Parameter 'codeableConcept' has no coding", ("codeableConcept",))
    return codings


def result(verdicts: list[Verdict]) -> dict[str, Any]:
    """Parameters(result, message, display): valid when any of the codings is."""
    valid = [v for v in verdicts if v.valid]
    chosen = valid[0] if valid else verdicts[0]
    messages = [v.message for v in (valid or verdicts) if v.message]
    return parameters(part("result", "Boolean", bool(valid)),
                      part("message", "String", "; ".join(messages)) if messages else None,
                      part("display", "String", chosen.display) if chosen.display else None)


def check_in_value_set(expander: Expander, expansion: Expansion, label: str,
                       coding: dict[str, Any], allow_abstract: bool = False) -> Verdict:
    code = coding.get("code")
    if not code:
        return Verdict(False, "The coding has no code")
    system = coding.get("system")
    if system:
        system = expander.registry.system_url(system)
    else:
        systems = {key[0] for key in expansion.entries if key[1] == code}
        if len(systems) > 1:
            raise BadRequest(f"Parameter 'system' is required: code '{code}' is in several code "
                             f"systems of {label} ({', '.join(sorted(systems))})", ("system",))
        if not systems:
            return Verdict(False, f"The code '{code}' is not in the value set {label}")
        system = systems.pop()
    entry = expansion.entries.get((system, code))
    if entry is None:
        return Verdict(False, _why_not_in(expander, expansion, label, system, code))
    if entry.abstract and not allow_abstract:
        return Verdict(False, f"The code {system}#{code} is abstract (a grouping concept) and "
                              f"cannot be used in data", entry.display)
    known = _known_displays(expander, entry)
    wanted = coding.get("display")
    if wanted and _fold(wanted) not in known:
        return Verdict(False, f"The display '{wanted}' is not a display of {system}#{code}; "
                              f"expected '{entry.display}'", entry.display)
    return Verdict(True, None, entry.display)


def check_in_code_system(index: CodeSystemIndex, coding: dict[str, Any]) -> Verdict:
    code = coding.get("code")
    if not code:
        return Verdict(False, "The coding has no code")
    system = coding.get("system")
    if system and system != index.url and system not in _uris(index):
        return Verdict(False, f"The coding's system '{system}' is not the code system {index.url}")
    concept = index.get(code)
    if concept is None:
        if index.complete:
            return Verdict(False, f"Unknown code '{code}' in code system {index.url}")
        return Verdict(False, f"The code '{code}' is not in this server's {index.content} copy of "
                              f"code system {index.url}; it cannot be validated")
    wanted = coding.get("display")
    known = {_fold(concept.display or "")} | {_fold(d.get("value", ""))
                                              for d in concept.designations}
    if wanted and _fold(wanted) not in known:
        return Verdict(False, f"The display '{wanted}' is not a display of {index.url}#"
                              f"{concept.code}; expected '{concept.display}'", concept.display)
    return Verdict(True, None, concept.display)


def _why_not_in(expander: Expander, expansion: Expansion, label: str, system: str,
                code: str) -> str:
    found = expander.code_system(system)
    if system in expansion.open_systems:
        if found is None:
            return (f"The code system {system} is not available on this server, so the code "
                    f"'{code}' cannot be validated against {label}")
        index = found[0]
        if index.get(code) is None:
            return f"The code '{code}' is not in this server's {index.content} copy of {system}"
    if found is None:
        if not any(key[0] == system for key in expansion.entries):
            return f"Unknown code system '{system}' (not used by the value set {label})"
        return f"The code {system}#{code} is not in the value set {label}"
    if found[0].get(code) is None:
        return f"Unknown code '{code}' in code system {system}"
    return f"The code {system}#{code} is not in the value set {label}"


def _known_displays(expander: Expander, entry: Entry) -> set[str]:
    known = {_fold(entry.display or "")} | {_fold(d.get("value", "")) for d in entry.designations}
    found = expander.code_system(entry.system)
    concept = found[0].get(entry.code) if found else None
    if concept is not None:
        known |= {_fold(concept.display or "")}
        known |= {_fold(d.get("value", "")) for d in concept.designations}
    return known - {""}


def _uris(index: CodeSystemIndex) -> set[str]:
    return {i.get("value") for i in index.resource.get("identifier", [])}


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()
