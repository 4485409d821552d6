"""Check every use of a project extension against its definition, wherever it occurs.

https://hl7.org/fhir/R4/extensibility.html#Extension

An extension with one of our URLs must sit on an element its context allows, carry a
value of an allowed type (or, for a complex extension, the defined sub-extensions
with their cardinalities), and satisfy its binding.
"""

from __future__ import annotations

from typing import Any

from fhirip.errors import Issue
from fhirip.validation.bindings import BindingChecker
from fhirip.validation.definitions import base_definitions, choice_key
from fhirip.validation.profiles import ExtensionDefinition, ProfileSet
from fhirip.validation.walker import InstanceIndex, Occurrence, check_constraint, issue


def _value_of(extension: dict[str, Any]) -> tuple[str, str, Any] | None:
    """(JSON key, FHIR type, value) of an extension's value[x]."""
    for key, value in extension.items():
        if key.startswith("value") and len(key) > 5:
            suffix = key[5:]
            primitive = suffix[0].lower() + suffix[1:]
            is_primitive = base_definitions().kinds.get(primitive) == "primitive-type"
            return key, primitive if is_primitive else suffix, value
    return None


class ExtensionChecker:
    def __init__(self, profiles: ProfileSet, bindings: BindingChecker) -> None:
        self.profiles = profiles
        self.bindings = bindings

    def check(self, index: InstanceIndex, issues: list[Issue], unknown: set[str]) -> None:
        for occurrence, context in index.extensions:
            url = occurrence.value.get("url") if isinstance(occurrence.value, dict) else None
            if not isinstance(url, str) or not ProfileSet.is_project_url(url):
                continue
            definition = self.profiles.extensions.get(url)
            if definition is None:
                issues.append(issue("error", "structure", occurrence.expr,
                                    f"{occurrence.expr}: unknown extension {url}; no such "
                                    f"StructureDefinition is published"))
                continue
            self._check_one(definition, occurrence, context, index, issues, unknown)

    def _check_one(self, definition: ExtensionDefinition, occurrence: Occurrence, context: str,
                   index: InstanceIndex, issues: list[Issue], unknown: set[str]) -> None:
        name = definition.resource.get("id", definition.url)
        expr = occurrence.expr
        if definition.contexts and context not in definition.contexts:
            issues.append(issue("error", "structure", expr,
                                f"{expr}: extension {name} is not allowed on {context} "
                                f"(allowed on {', '.join(definition.contexts)})"))
        extension = occurrence.value
        value = _value_of(extension)
        if definition.sub_extensions:
            if value is not None:
                issues.append(issue("error", "structure", expr,
                                    f"{expr}: extension {name} is complex and takes no value[x]"))
            self._check_sub_extensions(definition, name, extension, expr, issues, unknown)
        elif definition.value_types:
            self._check_value(name, definition.value_types, definition.binding_strength,
                              definition.binding_value_set, value, expr, issues, unknown)
        for constraint in definition.constraints:
            check_constraint(constraint, extension, "Extension", expr, index.resource, issues,
                             source=name)

    def _check_value(self, name: str, types: tuple[str, ...], strength: str | None,
                     value_set: str | None, value: tuple[str, str, Any] | None, expr: str,
                     issues: list[Issue], unknown: set[str]) -> None:
        if value is None:
            issues.append(issue("error", "required", f"{expr}.value",
                                f"{expr}: extension {name} needs a value of type {' or '.join(types)}"))
            return
        key, type_code, raw = value
        if type_code not in types:
            allowed = " or ".join(choice_key("value[x]", t) for t in types)
            issues.append(issue("error", "structure", f"{expr}.{key}",
                                f"{expr}.{key}: extension {name} takes {allowed}, not {key}"))
            return
        occurrence = Occurrence(f"{expr}.{key}", raw, type_code, expr, type_code)
        self.bindings.check(occurrence, strength, value_set, f"extension {name}", issues, unknown)

    def _check_sub_extensions(self, definition: ExtensionDefinition, name: str,
                              extension: dict[str, Any], expr: str, issues: list[Issue],
                              unknown: set[str]) -> None:
        children = extension.get("extension", [])
        counts: dict[str, int] = {}
        for i, child in enumerate(children):
            url = child.get("url")
            sub = definition.sub_extensions.get(url)
            child_expr = f"{expr}.extension[{i}]"
            if sub is None:
                issues.append(issue("error", "structure", child_expr,
                                    f"{child_expr}: {url!r} is not a part of extension {name} "
                                    f"(parts: {', '.join(definition.sub_extensions)})"))
                continue
            counts[url] = counts.get(url, 0) + 1
            self._check_value(f"{name}#{url}", sub.value_types, sub.binding_strength,
                              sub.binding_value_set, _value_of(child), child_expr, issues, unknown)
        for url, sub in definition.sub_extensions.items():
            count = counts.get(url, 0)
            if count < sub.min:
                issues.append(issue("error", "required", expr,
                                    f"{expr}: extension {name} needs part {url!r} "
                                    f"(at least {sub.min}), found {count}"))
            if sub.max != "*" and count > int(sub.max):
                issues.append(issue("error", "structure", expr,
                                    f"{expr}: extension {name} allows part {url!r} at most "
                                    f"{sub.max} time(s), found {count}"))
