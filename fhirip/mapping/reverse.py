"""FHIR plan → legacy records: the same mapping spec read backwards.

Given the resources of a patient's plan (as a search returns them, references as
``Type/id``), each IP CarePlan becomes a ``PlanRecord`` whose rows hold legacy values again:
paths are read instead of written, ConceptMaps are applied in reverse, and legacy keys come
back from the business identifiers (or the resource id for resources born in FHIR).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Iterator

from fhirip.mapping.paths import get_value
from fhirip.mapping.records import Loss, PlanRecord, SourceRow
from fhirip.mapping.spec import FamilySpec, FieldSpec, KindSpec, OutputSpec
from fhirip.mapping.translate import Translator, default_translator

LEGACY_PREFIX = "http://fhirip.no/fhir/sid/legacy/"


def _reference_key(reference: str | None) -> str | None:
    if not reference:
        return None
    parts = reference.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference


def _all_references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "reference" and isinstance(value, str):
                yield _reference_key(value) or value
            else:
                yield from _all_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _all_references(item)


def _matches(resource: dict[str, Any], select: dict[str, str]) -> bool:
    return all(get_value(resource, path) == value for path, value in select.items())


class _Index:
    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources
        self.by_reference = {f"{r['resourceType']}/{r['id']}": r for r in resources if r.get("id")}

    def resolve(self, reference: dict[str, Any] | None) -> dict[str, Any] | None:
        if not isinstance(reference, dict):
            return None
        return self.by_reference.get(_reference_key(reference.get("reference")) or "")


def _ref(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource.get('id')}"


def legacy_key(holder: dict[str, Any], output: OutputSpec, plan_key: str, key_extension: str) -> str | None:
    """The legacy key an identifier (resource) or key extension (element) carries."""
    suffix = "/" + output.identifier
    if output.resource:
        identifiers = holder.get("identifier") or []
        identifiers = [identifiers] if isinstance(identifiers, dict) else identifiers
        values = [i.get("value") for i in identifiers
                  if str(i.get("system", "")).startswith(LEGACY_PREFIX) and str(i.get("system")).endswith(suffix)]
    else:
        values = [e.get("valueIdentifier", {}).get("value") for e in holder.get("extension", [])
                  if e.get("url") == key_extension]
    for value in values:
        if value:
            if output.scope == "plan" and "/" in value:  # "<plan key>/<record key>"
                return value.partition("/")[2]
            return value
    return None


class _PlanReader:
    def __init__(self, spec: FamilySpec, index: _Index, plan: dict[str, Any], translator: Translator) -> None:
        self.spec, self.index, self.plan, self.translator = spec, index, plan, translator
        self.key_extension = spec.structure["legacy_key_extension"]
        plan_output = spec.kinds["plan"].outputs[0]
        self.plan_key = legacy_key(plan, plan_output, "", self.key_extension) or str(plan.get("id"))
        self.plan_ref = _ref(plan)
        self.patient = index.resolve(plan.get("subject"))
        self.patient_ref = _ref(self.patient) if self.patient else None
        self.other_plans = {_ref(r) for r in index.resources if r.get("resourceType") == "CarePlan"
                            and r is not plan and _matches(r, plan_output.select)}
        self.record = PlanRecord(spec.family, self.plan_key, source=self.plan_ref)
        self.losses: list[Loss] = []
        self.instances: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}

    def belongs(self, resource: dict[str, Any]) -> bool:
        references = set(_all_references(resource))
        if self.plan_ref in references:
            return True
        return bool(self.patient_ref in references and not references & self.other_plans)

    # -- anchors: the first output of each kind --------------------------------------------
    def _anchors(self, kind: KindSpec) -> list[tuple[str, dict[str, Any], str | None]]:
        """(key, anchor instance, parent key) for every record of the kind."""
        anchor = kind.outputs[0]
        if kind.name == "plan":
            return [(self.plan_key, self.plan, None)]
        if kind.name == "person":
            if self.patient is None:
                return []
            key = legacy_key(self.patient, anchor, self.plan_key, self.key_extension) or str(self.patient.get("id"))
            return [(key, self.patient, None)]
        found: list[tuple[str, dict[str, Any], str | None]] = []
        if anchor.resource:
            for resource in self.index.resources:
                if resource.get("resourceType") == anchor.resource and _matches(resource, anchor.select) \
                        and resource is not self.plan and self.belongs(resource) \
                        and not self._of_another_plan(resource, anchor):
                    key = legacy_key(resource, anchor, self.plan_key, self.key_extension) or str(resource.get("id"))
                    found.append((key, resource, None))
            return found
        parent = anchor.element_of
        assert parent is not None
        parents = self.instances.get((parent.kind, parent.output), [])
        for parent_key, holder in parents:
            for position, element in enumerate(get_value(holder, anchor.path or "") or [], start=1):
                key = legacy_key(element, anchor, self.plan_key, self.key_extension)
                if key is None:
                    key = self._key_from_links(kind, anchor, element) or f"{parent_key}-{position}"
                found.append((key, element, parent_key if anchor.parent_field else None))
        return found

    def _of_another_plan(self, resource: dict[str, Any], output: OutputSpec) -> bool:
        """A plan-scoped record (a relative, a consent …) that names another plan in its legacy
        identifier: the patient's other plans share the compartment, not the record."""
        if output.scope != "plan":
            return False
        suffix = "/" + output.identifier
        identifiers = resource.get("identifier") or []
        identifiers = [identifiers] if isinstance(identifiers, dict) else identifiers
        owners = {str(i.get("value", "")).partition("/")[0] for i in identifiers
                  if str(i.get("system", "")).startswith(LEGACY_PREFIX) and str(i.get("system")).endswith(suffix)
                  and "/" in str(i.get("value", ""))}
        return bool(owners) and self.plan_key not in owners

    def _key_from_links(self, kind: KindSpec, anchor: OutputSpec, element: dict[str, Any]) -> str | None:
        for path, target in anchor.links.items():
            resource = self.index.resolve(get_value(element, path))
            if resource is not None and target.kind == "self":
                return legacy_key(resource, kind.output(target.output), self.plan_key, self.key_extension) \
                    or str(resource.get("id"))
        return None

    def _outputs_of(self, kind: KindSpec, anchor_instance: dict[str, Any]) -> dict[str, dict[str, Any]]:
        instances = {kind.outputs[0].name: anchor_instance}
        for output in kind.outputs[1:]:
            for path, target in kind.outputs[0].links.items():
                if target.output == output.name and target.kind in ("self", kind.name):
                    resolved = self.index.resolve(get_value(anchor_instance, path))
                    if resolved is not None:
                        instances[output.name] = resolved
            if output.element_of is not None and output.element_of.kind == "self":
                items = get_value(instances.get(output.element_of.output), output.path or "") or []
                if items:
                    instances[output.name] = items[0]
        return instances

    # -- values ----------------------------------------------------------------------------
    def _value(self, kind: KindSpec, field: FieldSpec, instances: dict[str, dict[str, Any]]) -> Any:
        holder = instances.get(field.output or "")
        if holder is None:
            return None
        raw = get_value(holder, field.path or "")
        if raw is None:
            return None
        fill_source = kind.output(field.output or "").fill.get(field.path or "")
        if fill_source is not None and raw == get_value(holder, fill_source):
            return None  # filled in on import because the profile requires it; the record had none
        if field.type == "ref":
            target = self.index.resolve(raw)
            if target is None or field.ref is None:
                return None
            target_output = self.spec.kinds[field.ref.kind].output(field.ref.output) if field.ref.kind in self.spec.kinds else None
            if target_output is None:
                return str(target.get("id"))
            return legacy_key(target, target_output, self.plan_key, self.key_extension) or str(target.get("id"))
        if field.type == "code":
            return self._code(field, raw, holder)
        if field.type == "boolean":
            return bool(raw)
        if field.encode == "base64":
            try:
                return base64.b64decode(raw).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                self._loss(holder, field, str(raw)[:40], "attachment is not base64 UTF-8 text")
                return None
        if field.type == "date" and isinstance(raw, str) and "T" in raw:
            return raw[:10]
        return raw if isinstance(raw, str) else str(raw)

    def _code(self, field: FieldSpec, raw: Any, holder: dict[str, Any]) -> str | None:
        if field.as_ == "code":
            codings = [{"code": raw}]
        elif field.as_ == "Coding":
            codings = [raw]
        else:
            codings = raw.get("coding", []) if isinstance(raw, dict) else []
        for coding in codings:
            code = coding.get("code")
            if code is None:
                continue
            if field.code_system:
                info = self.spec.code_systems[field.code_system]
                if coding.get("system") == info["system"]:
                    self.record.code_lists.setdefault(field.code_system, {})[code] = coding.get("display", "")
                    return code
                continue
            legacy = self.translator.translate_back(field.concept_map, coding.get("system"), code)  # type: ignore[arg-type]
            if legacy is not None:
                return legacy
        if field.as_ == "CodeableConcept" and isinstance(raw, dict) and raw.get("text") and field.unknown == "text":
            return raw["text"]
        if codings and not field.code_system:
            shown = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings)
            self._loss(holder, field, shown, f"no legacy code for it in ConceptMap {field.concept_map}")
        return None

    def _loss(self, holder: dict[str, Any], field: FieldSpec, value: str, reason: str) -> None:
        where = _ref(holder) if "resourceType" in holder else self.plan_ref
        self.losses.append(Loss(where, None, f"plan {self.plan_key}", field.column or field.field, value, reason))

    def read(self) -> PlanRecord:
        for kind in self.spec.kinds.values():
            anchors = self._anchors(kind)
            for output in kind.outputs:
                self.instances[(kind.name, output.name)] = []
            for key, anchor, parent_key in anchors:
                instances = self._outputs_of(kind, anchor)
                for name, instance in instances.items():
                    self.instances[(kind.name, name)].append((key, instance))
                values: dict[str, Any] = {}
                for field in kind.fields:
                    if field.type == "parent":
                        values[field.field] = parent_key
                    elif field.type == "join":
                        person = self.spec.kinds["person"].outputs[0]
                        values[field.field] = (legacy_key(self.patient, person, self.plan_key, self.key_extension)
                                               or str(self.patient.get("id"))) if self.patient else None
                    elif field.mapped:
                        value = self._value(kind, field, instances)
                        if value is not None:
                            values[field.field] = value
                self.record.add(SourceRow(kind.name, key, values, self.plan_ref))
        return self.record


def plans_from_resources(spec: FamilySpec, resources: list[dict[str, Any]],
                         translator: Translator | None = None) -> tuple[list[PlanRecord], list[Loss]]:
    """One PlanRecord per individual-plan CarePlan among the resources, and what could not go back."""
    index = _Index(resources)
    plan_output = spec.kinds["plan"].outputs[0]
    records: list[PlanRecord] = []
    losses: list[Loss] = []
    for resource in resources:
        if resource.get("resourceType") == "CarePlan" and _matches(resource, plan_output.select):
            reader = _PlanReader(spec, index, resource, translator or default_translator())
            records.append(reader.read())
            losses.extend(reader.losses)
    return records, losses
