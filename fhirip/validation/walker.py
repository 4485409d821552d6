"""Walk a resource against the base R4 definitions and index every element on the way.

https://hl7.org/fhir/R4/validation.html

One pass over the JSON checks what the base specification itself requires of the
profiled types (known elements, cardinality, required bindings, invariants, no empty
elements) and records each element under its definition path
(`CarePlan.activity.detail.status`), so that profile rules, identifier rules and
extension definitions can then look up their elements without walking again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhirip.errors import Issue
from fhirip.validation import fhirpath
from fhirip.validation.base_valuesets import BaseValueSets
from fhirip.validation.definitions import BaseDefinitions, Constraint, ElementDef
from fhirip.validation.fast_invariants import FAST
from fhirip.validation.fast_profile_invariants import PROFILE_FAST

CODED_TYPES = frozenset({"code", "Coding", "CodeableConcept"})


@dataclass(frozen=True)
class Occurrence:
    """One element of the instance: where it is, what it holds, what type it has."""

    expr: str  # FHIRPath of this element, e.g. CarePlan.activity[0].detail.status
    value: Any
    type_code: str | None  # concrete FHIR type (a choice element's chosen type)
    parent_expr: str
    type_path: str  # what FHIRPath needs to type the node: a type name or an element path


@dataclass
class InstanceIndex:
    """Every element of one resource, by definition path, plus the typed ones rules look for."""

    resource: dict[str, Any]
    # What the element rules evaluate against (%resource, %rootResource): the resource itself, or for
    # a contained resource its container, in which its local references ('#id') resolve (ref-1).
    root: dict[str, Any] = field(default_factory=dict)
    by_path: dict[str, list[Occurrence]] = field(default_factory=dict)
    identifiers: list[Occurrence] = field(default_factory=list)
    codings: list[Occurrence] = field(default_factory=list)
    extensions: list[tuple[Occurrence, str]] = field(default_factory=list)  # (ext, context path)
    contained: list[InstanceIndex] = field(default_factory=list)

    def add(self, path: str, occurrence: Occurrence) -> None:
        self.by_path.setdefault(path, []).append(occurrence)

    def at(self, path: str, scope: tuple[str, ...] | None = None) -> list[Occurrence]:
        """Occurrences of `path`, limited to those inside the elements named by `scope`."""
        found = self.by_path.get(path, [])
        if scope is None:
            return found
        return [o for o in found if any(o.expr == s or o.expr.startswith(s + ".") for s in scope)]


def coded_values(occurrence: Occurrence) -> list[tuple[str | None, str]]:
    """(system, code) pairs a code, Coding or CodeableConcept element carries."""
    value, type_code = occurrence.value, occurrence.type_code
    if type_code == "code" or (type_code in ("string", "uri") and isinstance(value, str)):
        return [(None, value)] if isinstance(value, str) else []
    if type_code == "Coding" and isinstance(value, dict):
        return [(value.get("system"), value["code"])] if "code" in value else []
    if type_code == "CodeableConcept" and isinstance(value, dict):
        return [(c.get("system"), c["code"]) for c in value.get("coding", ()) if "code" in c]
    return []


def issue(severity: str, code: str, expr: str, message: str) -> Issue:
    return Issue(severity, code, message, (expr,))


class BaseWalker:
    """Applies the base specification's rules while indexing a resource."""

    def __init__(self, definitions: BaseDefinitions, value_sets: BaseValueSets) -> None:
        self.defs = definitions
        self.value_sets = value_sets
        self._constraint_cache: dict[tuple[int, str | None], tuple[Constraint, ...]] = {}

    def walk(self, resource: dict[str, Any], issues: list[Issue],
             expr_root: str | None = None, container: dict[str, Any] | None = None) -> InstanceIndex:
        resource_type = resource.get("resourceType", "")
        expr_root = expr_root or resource_type
        index = InstanceIndex(resource, root=container if container is not None else resource)
        index.add(resource_type, Occurrence(expr_root, resource, resource_type, "", resource_type))
        if not self.defs.has_type(resource_type):
            return index
        root = self.defs.root(resource_type)
        constraints = self._constraints_of(root, None)
        if container is not None:
            # Best practice (dom-6, a narrative) is the container's: its narrative covers what it contains.
            constraints = tuple(c for c in constraints if not c.best_practice)
        self._check_constraints(constraints, resource, resource_type, expr_root, index, issues)
        self._walk_object(resource, root, resource_type, expr_root, index, issues)
        return index

    # -- structure ------------------------------------------------------------------

    def _walk_object(self, obj: dict[str, Any], parent: ElementDef, path: str, expr: str,
                     index: InstanceIndex, issues: list[Issue]) -> None:
        children = parent.children
        for key, value in obj.items():
            if key == "resourceType" and parent.path == path and "." not in path:
                continue
            if key.startswith("_"):
                self._walk_primitive_extensions(key[1:], value, children, path, expr, index, issues)
                continue
            entry = children.get(key)
            if entry is None:
                issues.append(issue("error", "structure", expr,
                                    f"{expr}: unknown element '{key}' (not defined in FHIR R4 {path})"))
                continue
            child, choice_type = entry
            items = value if isinstance(value, list) else [value]
            limit = child.max_count
            if limit is not None and len(items) > limit:
                issues.append(issue("error", "structure", f"{expr}.{key}",
                                    f"{expr}.{key}: at most {limit} allowed (FHIR R4 {child.path}), "
                                    f"found {len(items)}"))
            child_path = f"{path}.{child.name}"
            is_list = isinstance(value, list)
            for i, item in enumerate(items):
                if item is None and is_list:
                    continue  # a null holds the place of a primitive that only has extensions (_key)
                item_expr = f"{expr}.{key}[{i}]" if is_list else f"{expr}.{key}"
                type_code = choice_type or (child.types[0].code if len(child.types) == 1 else None)
                self._visit(item, child, type_code, child_path, key if choice_type else None,
                            item_expr, expr, index, issues)
        for child, keys in parent.required:
            if not any(k in obj or f"_{k}" in obj for k in keys):
                issues.append(issue("error", "required", f"{expr}.{child.name.replace('[x]', '')}",
                                    f"{expr}.{child.name}: minimum cardinality {child.min} "
                                    f"(FHIR R4 {child.path}), but it is missing"))

    def _walk_primitive_extensions(self, name: str, value: Any, children: dict, path: str,
                                   expr: str, index: InstanceIndex, issues: list[Issue]) -> None:
        if name not in children:
            issues.append(issue("error", "structure", expr,
                                f"{expr}: unknown element '_{name}' (not defined in FHIR R4 {path})"))
            return
        extension_def = self.defs.root("Extension")
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            item_expr = f"{expr}.{name}[{i}]" if isinstance(value, list) else f"{expr}.{name}"
            for j, extension in enumerate(item.get("extension", ())):
                ext_expr = f"{item_expr}.extension[{j}]"
                self._visit(extension, extension_def, "Extension", f"{path}.{name}.extension", None,
                            ext_expr, item_expr, index, issues)

    def _visit(self, item: Any, element: ElementDef, type_code: str | None, path: str,
               choice_key: str | None, expr: str, parent_expr: str, index: InstanceIndex,
               issues: list[Issue]) -> None:
        if item in ({}, [], "") or item is None:
            issues.append(issue("error", "invariant", expr,
                                f"{expr}: empty element (ele-1: all FHIR elements must have a "
                                f"value or children)"))
            return
        complex_type = type_code is not None and self.defs.is_complex(type_code)
        type_path = type_code if complex_type else element.path
        occurrence = Occurrence(expr, item, type_code, parent_expr, type_path)
        index.add(path, occurrence)
        if choice_key:
            index.add(path.rsplit(".", 1)[0] + "." + choice_key, occurrence)
        if type_code == "Identifier":
            index.identifiers.append(occurrence)
        elif type_code == "Coding":
            index.codings.append(occurrence)
        elif type_code == "Extension":
            index.extensions.append((occurrence, path.rsplit(".", 1)[0]))

        if element.binding_strength == "required" and type_code in CODED_TYPES:
            self._check_required_binding(element, occurrence, issues)
        constraints = self._constraints_of(element, type_code if complex_type else None)
        if constraints:
            self._check_constraints(constraints, item, type_path, expr, index, issues)

        if element.content_reference:
            target_path = element.content_reference.lstrip("#")
            target = self.defs.element(target_path.split(".")[0], target_path)
            if target is not None and isinstance(item, dict):
                self._walk_object(item, target, path, expr, index, issues)
        elif type_code in ("BackboneElement", "Element") and element.children and isinstance(item, dict):
            self._walk_object(item, element, path, expr, index, issues)
        elif complex_type and isinstance(item, dict):
            self._walk_object(item, self.defs.root(type_code), path, expr, index, issues)
        elif type_code == "Resource" and isinstance(item, dict):
            index.contained.append(self.walk(item, issues, expr_root=expr, container=index.root))

    # -- rules ----------------------------------------------------------------------

    def _check_required_binding(self, element: ElementDef, occurrence: Occurrence,
                                issues: list[Issue]) -> None:
        url = element.binding_value_set or ""
        codes = coded_values(occurrence)
        if not codes:
            if occurrence.type_code == "CodeableConcept":
                issues.append(issue("error", "code-invalid", occurrence.expr,
                                    f"{occurrence.expr}: no code from the required value set {url}"))
            return
        verdicts = [self.value_sets.contains(url, system, code) for system, code in codes]
        if any(v is None for v in verdicts) or any(verdicts):
            return
        shown = ", ".join(f"{s}#{c}" if s else repr(c) for s, c in codes)
        issues.append(issue("error", "code-invalid", occurrence.expr,
                            f"{occurrence.expr}: {shown} is not in the required value set {url} "
                            f"(FHIR R4 {element.path})"))

    def _constraints_of(self, element: ElementDef, complex_type: str | None) -> tuple[Constraint, ...]:
        """The invariants an element of this definition and type must meet, deduplicated
        by key, without those the walk checks itself; computed once per pair."""
        key = (id(element), complex_type)
        cached = self._constraint_cache.get(key)
        if cached is None:
            candidates = element.constraints
            if complex_type:
                candidates = candidates + self.defs.root(complex_type).constraints
            unique: dict[str, Constraint] = {}
            for constraint in candidates:
                if constraint.key not in fhirpath.SKIPPED:
                    unique.setdefault(constraint.key, constraint)
            cached = self._constraint_cache[key] = tuple(unique.values())
        return cached

    @staticmethod
    def _check_constraints(constraints: tuple[Constraint, ...], item: Any, type_path: str,
                           expr: str, index: InstanceIndex, issues: list[Issue]) -> None:
        for constraint in constraints:
            check_constraint(constraint, item, type_path, expr, index.resource, issues, root=index.root)


def check_constraint(constraint: Constraint, item: Any, type_path: str, expr: str,
                     resource: dict, issues: list[Issue], source: str = "FHIR R4",
                     root: dict | None = None) -> None:
    """Evaluate one invariant on one element and record an issue when it does not hold.
    `resource` is %resource (a contained resource, for its elements), `root` %rootResource."""
    native = fhirpath.NATIVE.get(constraint.key)
    fast = FAST.get((constraint.key, constraint.expression)) or PROFILE_FAST.get((constraint.key, constraint.expression))
    try:
        ok = native(item, resource if root is None else root) if native else fast(item) if fast else None
        if ok is None:  # no Python equivalent, or one that leaves this shape to the engine
            ok = fhirpath.holds(constraint.expression, item, type_path, resource,
                                empty_passes=source == "FHIR R4")
    except fhirpath.InvariantError as exc:
        issues.append(issue("warning", "exception", expr,
                            f"{expr}: invariant {constraint.key} could not be evaluated: {exc}"))
        return
    if not ok:
        severity = "warning" if constraint.best_practice else constraint.severity
        issues.append(issue(severity, "invariant", expr,
                            f"{expr}: invariant {constraint.key} ({source}) failed: {constraint.human}"))
