"""Apply a compiled profile's differential to an indexed resource.

https://hl7.org/fhir/R4/profiling.html#slicing

Each rule finds its elements in the InstanceIndex by definition path, optionally
limited to the members of a slice, and checks cardinality per parent element,
fixed and pattern values, bindings, allowed types and reference targets, and
invariants with their declared severity.
"""

from __future__ import annotations

from typing import Any

from fhirip.errors import Issue
from fhirip.fhirpath_simple import children
from fhirip.validation.bindings import BindingChecker
from fhirip.validation.fhirpath import reference_type
from fhirip.validation.profiles import ElementRule, Profile, Slice, Slicing, profile_type
from fhirip.validation.walker import InstanceIndex, Occurrence, check_constraint, issue


def matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern semantics: every element the pattern has, the value has too."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches_pattern(value.get(k), v) for k, v in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(item, p) for item in items) for p in pattern)
    return value == pattern


def _navigate(value: Any, path: str) -> list[Any]:
    """The values at a discriminator path (`$this`, or dotted element names) of a slice item."""
    if path == "$this":
        return [value]
    found = [value]
    for key in path.split("."):
        found = children(found, key)
    return found


class ProfileApplier:
    def __init__(self, profiles: dict[str, Profile], bindings: BindingChecker) -> None:
        self.profiles = profiles
        self.bindings = bindings

    def apply(self, profile: Profile, index: InstanceIndex, issues: list[Issue],
              unknown_value_sets: set[str]) -> None:
        name = profile.resource.get("id", profile.url)
        context = _Context(self, profile, index, issues, unknown_value_sets, name)
        for rule in profile.rules:
            context.apply_rule(rule, scope=None)
        for slicing in profile.slicings.values():
            context.apply_slicing(slicing)


class _Context:
    def __init__(self, applier: ProfileApplier, profile: Profile, index: InstanceIndex,
                 issues: list[Issue], unknown: set[str], name: str) -> None:
        self.applier, self.profile, self.index = applier, profile, index
        self.issues, self.unknown, self.name = issues, unknown, name

    def where(self, rule: ElementRule) -> str:
        return f"profile {self.name}, {rule.id}"

    def _parents(self, rule: ElementRule, scope: tuple[str, ...] | None) -> list[Occurrence]:
        parent_path = rule.path.rsplit(".", 1)[0]
        return self.index.at(parent_path, scope)

    def apply_rule(self, rule: ElementRule, scope: tuple[str, ...] | None,
                   occurrences: list[Occurrence] | None = None) -> None:
        if occurrences is None:
            occurrences = self.index.at(rule.path, scope)
            if "." in rule.path and (rule.min or rule.max is not None):
                self._check_cardinality(rule, scope, occurrences)
        for occurrence in occurrences:
            self._check_occurrence(rule, occurrence)

    def _check_cardinality(self, rule: ElementRule, scope: tuple[str, ...] | None,
                           occurrences: list[Occurrence]) -> None:
        name = rule.path.rsplit(".", 1)[1]
        counts: dict[str, int] = {}
        for occurrence in occurrences:
            counts[occurrence.parent_expr] = counts.get(occurrence.parent_expr, 0) + 1
        limit = rule.max_count
        for parent in self._parents(rule, scope):
            count = counts.get(parent.expr, 0)
            expr = f"{parent.expr}.{name.replace('[x]', '')}"
            if rule.min and count < rule.min:
                self.issues.append(issue("error", "required", expr,
                                         f"{expr}: minimum cardinality {rule.min}, found {count} "
                                         f"({self.where(rule)})"))
            if limit is not None and count > limit:
                what = "is not allowed" if limit == 0 else f"allows at most {limit}"
                self.issues.append(issue("error", "structure", expr,
                                         f"{expr}: {what}, found {count} ({self.where(rule)})"))

    def _check_occurrence(self, rule: ElementRule, occurrence: Occurrence) -> None:
        value, expr = occurrence.value, occurrence.expr
        if rule.fixed and value != rule.fixed[1]:
            self.issues.append(issue("error", "value", expr,
                                     f"{expr}: must be exactly {rule.fixed[1]!r} ({self.where(rule)}), "
                                     f"found {value!r}"))
        if rule.pattern and not matches_pattern(value, rule.pattern[1]):
            self.issues.append(issue("error", "value", expr,
                                     f"{expr}: must match the pattern {rule.pattern[1]!r} "
                                     f"({self.where(rule)})"))
        if rule.binding_strength:
            self.applier.bindings.check(occurrence, rule.binding_strength, rule.binding_value_set,
                                        self.where(rule), self.issues, self.unknown)
        if rule.types:
            self._check_types(rule, occurrence)
        for constraint in rule.constraints:
            check_constraint(constraint, value, occurrence.type_path, expr, self.index.resource,
                             self.issues, source=self.name)

    def _check_types(self, rule: ElementRule, occurrence: Occurrence) -> None:
        allowed = {t.code for t in rule.types}
        if occurrence.type_code and occurrence.type_code not in allowed:
            self.issues.append(issue("error", "structure", occurrence.expr,
                                     f"{occurrence.expr}: type {occurrence.type_code} is not allowed; "
                                     f"expected {' or '.join(sorted(allowed))} ({self.where(rule)})"))
            return
        targets = [tp for t in rule.types if t.code == "Reference" for tp in t.target_profiles]
        if not targets or occurrence.type_code != "Reference":
            return
        target_types = {profile_type(url, self.applier.profiles) for url in targets}
        if None in target_types:
            return  # a target profile whose type cannot be told offline: do not guess
        actual = reference_type(occurrence.value)
        if actual is not None and actual not in target_types:
            self.issues.append(issue("error", "structure", occurrence.expr,
                                     f"{occurrence.expr}: refers to a {actual}; allowed targets are "
                                     f"{' or '.join(sorted(target_types))} ({self.where(rule)})"))

    # -- slicing ----------------------------------------------------------------------

    def _slice_matches(self, slicing: Slicing, slice_: Slice, value: Any) -> bool:
        for _kind, path in slicing.discriminators:
            expected = self._discriminator_value(slice_, path)
            if expected is None:
                return False
            actual = _navigate(value, path)
            if not any(matches_pattern(a, expected) for a in actual):
                return False
        return True

    def _discriminator_value(self, slice_: Slice, path: str) -> Any:
        if path == "$this":
            source = slice_.rule.fixed or slice_.rule.pattern
            return source[1] if source else None
        if path == "url" and slice_.rule.types and slice_.rule.types[0].profiles:
            return slice_.rule.types[0].profiles[0]
        target = f"{slice_.rule.path}.{path}"
        for child in slice_.children:
            if child.path == target:
                source = child.fixed or child.pattern
                if source:
                    return source[1]
        return None

    def apply_slicing(self, slicing: Slicing) -> None:
        occurrences = self.index.at(slicing.path)
        by_parent: dict[str, list[Occurrence]] = {}
        for occurrence in occurrences:
            by_parent.setdefault(occurrence.parent_expr, []).append(occurrence)
        parent_path = slicing.path.rsplit(".", 1)[0]
        parents = [p.expr for p in self.index.at(parent_path)]
        name = slicing.path.rsplit(".", 1)[1]
        for parent in parents:
            items = by_parent.get(parent, [])
            members: dict[str, list[Occurrence]] = {s.name: [] for s in slicing.slices}
            for occurrence in items:
                matched = [s for s in slicing.slices if self._slice_matches(slicing, s, occurrence.value)]
                for s in matched[:1]:
                    members[s.name].append(occurrence)
                if not matched and slicing.rules == "closed":
                    self.issues.append(issue("error", "structure", occurrence.expr,
                                             f"{occurrence.expr}: matches none of the slices of "
                                             f"{slicing.path} and the slicing is closed "
                                             f"(profile {self.name})"))
            for slice_ in slicing.slices:
                found = members[slice_.name]
                rule = slice_.rule
                expr = f"{parent}.{name}"
                if rule.min and len(found) < rule.min:
                    self.issues.append(issue("error", "required", expr,
                                             f"{expr}: slice '{slice_.name}' needs at least {rule.min}, "
                                             f"found {len(found)} ({self.where(rule)})"))
                limit = rule.max_count
                if limit is not None and len(found) > limit:
                    self.issues.append(issue("error", "structure", expr,
                                             f"{expr}: slice '{slice_.name}' allows at most {limit}, "
                                             f"found {len(found)} ({self.where(rule)})"))
                if not found:
                    continue
                self.apply_rule(rule, scope=None, occurrences=found)
                scope = tuple(o.expr for o in found)
                for child in slice_.children:
                    if child.path.startswith(rule.path + "."):
                        self.apply_rule(child, scope=scope)
