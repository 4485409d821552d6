"""Build ONE FHIR transaction Bundle per legacy plan, following the family's mapping spec.

https://hl7.org/fhir/R4/http.html#transaction
https://hl7.org/fhir/R4/http.html#ccreate (conditional create, ``ifNoneExist``)

Every resource carries a business identifier (``http://fhirip.no/fhir/sid/legacy/<family>/
<kind>`` + legacy key, or a national identifier such as the fødselsnummer) and is created
with ``ifNoneExist`` on it, so running the same import twice creates nothing new. Entries
reference each other by deterministic ``urn:uuid`` fullUrls. Codes are translated through
ConceptMaps; a code without a translation is reported as a loss, never guessed.
"""

from __future__ import annotations

import base64
import copy
import uuid
from datetime import date
from typing import Any
from urllib.parse import quote

from fhirip.mapping.completeness import LEGAL_BASIS_PATH, has_active_plan_consent, incompleteness
from fhirip.mapping.paths import get_value, set_value
from fhirip.mapping.records import Loss, PlanRecord, SourceRow
from fhirip.mapping.spec import FamilySpec, FieldSpec, KindSpec, OutputRef, OutputSpec, load_spec
from fhirip.mapping.translate import Coding, Translator, default_translator

# Resource types whose `identifier` is a single Identifier, not a list (R4).
_SINGLE_IDENTIFIER = {"QuestionnaireResponse"}
_ORIGINAL_CATEGORY = {"system": "http://fhirip.no/fhir/CodeSystem/ip-document-category",
                      "code": "original", "display": "Opprinnelig dokument fra tidligere plansystem"}


class PlanNotMappable(ValueError):
    """The plan lacks what every bundle needs (the person); it cannot be imported."""


def search_escape(value: str) -> str:
    """Escape a token value for a FHIR search string (https://hl7.org/fhir/R4/search.html#escaping)."""
    return value.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,").replace("$", "\\$")


def identity_query(system: str, value: str) -> str:
    return "identifier=" + quote(f"{system}|{search_escape(value)}", safe=":/|\\")


def full_url_for(system: str, value: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{system}|{value}')}"


def to_bundle(plan: PlanRecord, translator: Translator | None = None) -> tuple[dict[str, Any], list[Loss]]:
    """The transaction Bundle for one plan, and every value that could not be mapped."""
    return _BundleBuilder(load_spec(plan.family), plan, translator or default_translator()).build()


class _BundleBuilder:
    def __init__(self, spec: FamilySpec, plan: PlanRecord, translator: Translator) -> None:
        self.spec, self.plan, self.translator = spec, plan, translator
        self.entries: list[dict[str, Any]] = []
        self.entry_by_query: dict[str, dict[str, Any]] = {}
        self.instances: dict[tuple[str, str, str | None], dict[str, Any]] = {}
        self.full_urls: dict[tuple[str, str, str | None], str] = {}
        self.losses: list[Loss] = list(plan.losses)

    # -- whole plan ------------------------------------------------------------------------
    def build(self) -> tuple[dict[str, Any], list[Loss]]:
        if not self.plan.rows_of("person"):
            raise PlanNotMappable(f"plan {self.plan.key} has no person record")
        for kind in self.spec.kinds.values():
            for row in self.plan.rows_of(kind.name):
                self._row(kind, row)
        self._attach_original()
        self._derive_legal_basis()
        self._apply_completeness()
        return {"resourceType": "Bundle", "type": "transaction", "entry": self._plan_last()}, self.losses

    def _status_column(self) -> str:
        status = self.spec.kinds["plan"].field("status")
        return (status.column or status.field) if status is not None else "status"

    def _plan_last(self) -> list[dict[str, Any]]:
        """The entries with the plan's CarePlan last: a transaction writes its entries in order,
        and activating a plan is checked against the consent and care team stored before it."""
        plan = self.instances.get(("plan", "CarePlan", None))
        return sorted(self.entries, key=lambda entry: entry["resource"] is plan)

    def _lookup(self, target: OutputRef, key: str | None, own_kind: str) -> tuple[str, str, str | None]:
        kind = own_kind if target.kind == "self" else target.kind
        spec_kind = self.spec.kinds.get(kind)
        return (kind, target.output, None if spec_kind is not None and spec_kind.single else key)

    # -- one legacy record -------------------------------------------------------------------
    def _row(self, kind: KindSpec, row: SourceRow) -> None:
        instances = {output.name: copy.deepcopy(output.template) for output in kind.outputs}
        filled: set[str] = set()
        for field in kind.fields:
            value = row.values.get(field.field)
            if field.mapped and value is not None:
                filled |= self._place(kind, field, value, instances, row)
        created = [o for o in kind.outputs if o.always or o.name in filled]
        for output in created:
            _fill_required(instances[output.name], output.fill)
        # resources first: elements and links point at them
        created = [o for o in created
                   if not o.resource or self._register_resource(kind, o, instances[o.name], row)]
        for output in created:
            if output.element_of is not None and not self._attach_element(kind, output, instances, row):
                return
        for output in created:
            instance = instances[output.name]
            for path, target in output.links.items():
                url = self.full_urls.get(self._lookup(target, row.key, kind.name))
                if url:
                    set_value(instance, path, {"reference": url})
            if output.resource:
                own_url = self.full_urls[(kind.name, output.name, None if kind.single else row.key)]
                for target, path in output.referenced_from.items():
                    holder = self.instances.get(self._lookup(target, None, kind.name))
                    if holder is not None:
                        self._list_at(holder, path).append({"reference": own_url})

    def _record(self, row: SourceRow) -> str:
        return row.describe(self.plan.key)

    def _loss(self, row: SourceRow, field: FieldSpec, value: Any, reason: str) -> None:
        self.losses.append(Loss(row.file, row.line, self._record(row), field.column or field.field,
                                str(value), reason))

    def _place(self, kind: KindSpec, field: FieldSpec, value: Any, instances: dict[str, dict[str, Any]],
               row: SourceRow) -> set[str]:
        target = instances[field.output]  # type: ignore[index]
        path = field.path or ""
        if field.type == "ref":
            url = self.full_urls.get(self._lookup(field.ref, str(value), kind.name))  # type: ignore[arg-type]
            if url is None:
                self._loss(row, field, value, f"refers to {field.ref.kind} {value}, which this plan does not have")  # type: ignore[union-attr]
                return set()
            set_value(target, path, {"reference": url})
            for qualified, constant in field.template.items():
                output_name, _, sub_path = qualified.partition(".")
                set_value(instances[output_name], sub_path, copy.deepcopy(constant))
            return {field.output}  # type: ignore[arg-type]
        if field.type == "code":
            return self._place_code(field, str(value), instances, row)
        if field.type == "boolean":
            set_value(target, path, bool(value))
        elif field.encode == "base64":
            set_value(target, path, base64.b64encode(str(value).encode("utf-8")).decode("ascii"))
        else:
            set_value(target, path, value)
        return {field.output}  # type: ignore[arg-type]

    def _translate(self, field: FieldSpec, code: str) -> Coding | None:
        if field.code_system:
            code_list = self.plan.code_lists.get(field.code_system, {})
            if code not in code_list:
                return None
            return Coding(self.spec.code_systems[field.code_system]["system"], code, code_list[code] or None)
        return self.translator.translate(field.concept_map, code)  # type: ignore[arg-type]

    def _place_code(self, field: FieldSpec, code: str, instances: dict[str, dict[str, Any]],
                    row: SourceRow) -> set[str]:
        coding = self._translate(field, code)
        target = instances[field.output]  # type: ignore[index]
        if coding is None:
            where = f"local code list {field.code_system}" if field.code_system else f"ConceptMap {field.concept_map}"
            if field.unknown == "text" and field.as_ == "CodeableConcept":
                _merge_concept(target, field.path or "", {"text": code})
                self._loss(row, field, code, f"code not in {where}; kept as text only, without a coding")
                return {field.output}  # type: ignore[arg-type]
            self._loss(row, field, code, f"code not in {where}; value not mapped")
            return set()
        _put_coding(target, field.path or "", coding, field.as_)
        filled = {field.output}
        for also in field.also:
            source = coding.code if also.from_translated else code
            derived = self.translator.translate(also.concept_map, source)
            if derived is None:
                self._loss(row, field, code, f"no {also.output}.{also.path} for code {source} in ConceptMap {also.concept_map}")
                continue
            _put_coding(instances[also.output], also.path, derived, also.as_)
            filled.add(also.output)
        return filled  # type: ignore[return-value]

    def _output_key(self, output: OutputSpec, row: SourceRow) -> str | None:
        for name in output.key_fields:
            value = row.values.get(name)
            if value not in (None, ""):
                return str(value)
        return None if output.key_fields else row.key

    def _register_resource(self, kind: KindSpec, output: OutputSpec, resource: dict[str, Any],
                           row: SourceRow) -> bool:
        key = self._output_key(output, row)
        if key is None:
            return False
        value = key if output.scope == "global" else f"{self.plan.key}/{key}"
        system = self.spec.legacy_system(output.identifier)
        legacy = {"system": system, "value": value}
        if resource["resourceType"] in _SINGLE_IDENTIFIER:
            resource["identifier"] = legacy
            identifiers = [legacy]
        else:
            identifiers = resource.setdefault("identifier", [])
            identifiers.append(legacy)
        query_system, query_value = system, value
        for match_system in output.match_systems:
            found = [i for i in identifiers if i.get("system") == match_system and i.get("value")]
            if found:
                query_system, query_value = match_system, found[0]["value"]
                break
        query = identity_query(query_system, query_value)
        index = (kind.name, output.name, None if kind.single else row.key)
        existing = self.entry_by_query.get(f"{resource['resourceType']}?{query}")
        if existing is not None:  # the same organisation or practitioner twice in one plan
            self.full_urls[index] = existing["fullUrl"]
            self.instances[index] = existing["resource"]
            return True
        entry = {"fullUrl": full_url_for(query_system, query_value), "resource": resource,
                 "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": query}}
        self.entries.append(entry)
        self.entry_by_query[f"{resource['resourceType']}?{query}"] = entry
        self.full_urls[index] = entry["fullUrl"]
        self.instances[index] = resource
        return True

    def _attach_element(self, kind: KindSpec, output: OutputSpec, instances: dict[str, dict[str, Any]],
                        row: SourceRow) -> bool:
        parent_ref = output.element_of
        assert parent_ref is not None
        if parent_ref.kind == "self":
            parent = instances[parent_ref.output]
        else:
            parent_key = row.values.get(output.parent_field) if output.parent_field else None
            parent = self.instances.get(self._lookup(parent_ref, parent_key, kind.name))
            if parent is None:
                self.losses.append(Loss(row.file, row.line, self._record(row), output.parent_field or kind.name,
                                        str(parent_key or ""), f"no {parent_ref.kind} {parent_key} in this plan; record not imported"))
                return False
        element = instances[output.name]
        value = row.key if output.scope == "global" else f"{self.plan.key}/{row.key}"
        element.setdefault("extension", []).insert(0, {
            "url": self.spec.structure["legacy_key_extension"],
            "valueIdentifier": {"system": self.spec.legacy_system(output.identifier), "value": value}})
        self._list_at(parent, output.path or "").append(element)
        self.instances[(kind.name, output.name, row.key)] = element
        return True

    @staticmethod
    def _list_at(holder: dict[str, Any], path: str) -> list[Any]:
        items = get_value(holder, path)
        if items is None:
            set_value(holder, path, [])
            items = get_value(holder, path)
        return items

    # -- plan-level additions ----------------------------------------------------------------
    def _attach_original(self) -> None:
        original = self.plan.original
        care_plan_url = self.full_urls.get(("plan", "CarePlan", None))
        if original is None or care_plan_url is None:
            return
        system = self.spec.legacy_system("original")
        resource: dict[str, Any] = {
            "resourceType": "DocumentReference", "status": "current",
            "identifier": [{"system": system, "value": self.plan.key}],
            "category": [{"coding": [dict(_ORIGINAL_CATEGORY)]}],
            "type": {"text": f"Opprinnelig plan ({self.spec.family})"},
            "description": f"Planen slik den ble lest fra {original.name}",
            "content": [{"attachment": {"contentType": original.content_type, "title": original.name,
                                        "data": base64.b64encode(original.data).decode("ascii")}}],
            "context": {"related": [{"reference": care_plan_url}]}}
        patient_url = self.full_urls.get(("person", "Patient", None))
        if patient_url:
            resource["subject"] = {"reference": patient_url}
        query = identity_query(system, self.plan.key)
        url = full_url_for(system, self.plan.key)
        self.entries.append({"fullUrl": url, "resource": resource,
                             "request": {"method": "POST", "url": "DocumentReference", "ifNoneExist": query}})
        care_plan = self.instances[("plan", "CarePlan", None)]
        care_plan.setdefault("supportingInfo", []).append({"reference": url})

    def _derive_legal_basis(self) -> None:
        """A family without a legal-basis field (the Word template) states consent to the plan
        instead; an active consent to draw up the plan is the legal basis 'samtykke'."""
        rule = self.spec.derive.get("legal_basis_from_plan_consent")
        care_plan = self.instances.get(("plan", "CarePlan", None))
        if not rule or care_plan is None or get_value(care_plan, LEGAL_BASIS_PATH) is not None:
            return
        resources = [entry["resource"] for entry in self.entries]
        if has_active_plan_consent(resources, date.today()):
            set_value(care_plan, LEGAL_BASIS_PATH, {"coding": [dict(rule)]})

    def _apply_completeness(self) -> None:
        care_plan = self.instances.get(("plan", "CarePlan", None))
        if care_plan is None:
            return
        completeness = self.spec.structure["completeness"]
        if care_plan.get("status") not in completeness["statuses_checked"]:
            return
        resources = [entry["resource"] for entry in self.entries]
        missing = incompleteness(care_plan, resources, completeness["rules"], date.today())
        wanted = completeness["status_when_incomplete"]
        if missing:
            plan_row = self.plan.single("plan")
            self.losses.append(Loss(plan_row.file if plan_row else self.plan.source, plan_row.line if plan_row else None,
                                    plan_row.describe(self.plan.key) if plan_row else f"plan {self.plan.key}",
                                    self._status_column(), str(care_plan.get("status")),
                                    f"plan is incomplete ({'; '.join(missing)}): imported as {wanted}"))
            care_plan["status"] = wanted


def _fill_required(instance: dict[str, Any], fill: dict[str, str]) -> None:
    for path, source in fill.items():
        if get_value(instance, path) is None and (value := get_value(instance, source)) is not None:
            set_value(instance, path, copy.deepcopy(value))


def _merge_concept(target: dict[str, Any], path: str, part: dict[str, Any]) -> None:
    existing = get_value(target, path)
    if isinstance(existing, dict):
        existing.update(part)
    else:
        set_value(target, path, dict(part))


def _put_coding(target: dict[str, Any], path: str, coding: Coding, shape: str) -> None:
    if shape == "code":
        set_value(target, path, coding.code)
    elif shape == "Coding":
        set_value(target, path, coding.to_json())
    else:
        _merge_concept(target, path, {"coding": [coding.to_json()]})
