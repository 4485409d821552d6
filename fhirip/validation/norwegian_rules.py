"""Apply the Norwegian identifier and kommunenummer rules to every Identifier and Coding.

The rules themselves live in fhirip.validation.identifiers; this module finds the
elements they apply to (by Identifier.system, or by Coding.system for kommunenummer)
and turns a problem into an issue that names the element and the rule.
"""

from __future__ import annotations

from fhirip.errors import Issue
from fhirip.validation.identifiers import (
    MUNICIPALITY_SYSTEMS, SYSTEM_NAMES, canonical_system, identifier_problems,
    municipality_number_problems,
)
from fhirip.validation.walker import InstanceIndex, issue


def check_identifiers(index: InstanceIndex, allow_synthetic: bool, issues: list[Issue]) -> None:
    for occurrence in index.identifiers:
        identifier = occurrence.value
        if not isinstance(identifier, dict):
            continue
        system = canonical_system(identifier.get("system"))
        if system not in SYSTEM_NAMES:
            continue
        value = identifier.get("value")
        expr = f"{occurrence.expr}.value"
        if not isinstance(value, str):
            issues.append(issue("error", "required", expr,
                                f"{expr}: an identifier with system {identifier.get('system')} "
                                f"({SYSTEM_NAMES[system]}) needs a value"))
            continue
        for problem in identifier_problems(system, value, allow_synthetic=allow_synthetic):
            issues.append(issue("error", "value", expr,
                                f"{expr}: not a valid {SYSTEM_NAMES[system]} "
                                f"(rule {problem.rule}): {problem.message}"))


def check_municipality_codes(index: InstanceIndex, issues: list[Issue]) -> None:
    for occurrence in index.codings:
        coding = occurrence.value
        if not isinstance(coding, dict) or coding.get("system") not in MUNICIPALITY_SYSTEMS:
            continue
        code = coding.get("code")
        if not isinstance(code, str):
            continue
        for problem in municipality_number_problems(code):
            expr = f"{occurrence.expr}.code"
            issues.append(issue("error", "code-invalid", expr,
                                f"{expr}: not a valid kommunenummer (rule {problem.rule}): "
                                f"{problem.message}"))
