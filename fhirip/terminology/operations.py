"""FHIR operation entry points for the terminology service, with their CapabilityStatement metadata.

https://hl7.org/fhir/R4/operations.html (invocation: GET query pairs or a Parameters body)
https://hl7.org/fhir/R4/terminology-service.html

The HTTP facade routes e.g. `ValueSet/$expand` or `ValueSet/[id]/$expand` here without
knowing the parameters: `run(service, "expand", "ValueSet", instance, params, body)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhirip.errors import BadRequest, MethodNotAllowed
from fhirip.model.json_types import INTEGER_RANGE, check_json_types
from fhirip.model.parameters import parameter_parts

from .parameters import parse_coding_token
from .service import TerminologyService

Json = dict[str, Any]
HL7_OPERATION = "http://hl7.org/fhir/OperationDefinition"
REPEATABLE = {"property"}  # inputs with cardinality 0..* that this module reads as lists


@dataclass(frozen=True)
class Operation:
    """One operation on one resource type, as a CapabilityStatement declares it."""

    name: str  # without the leading $
    resource_type: str
    definition: str  # the official OperationDefinition canonical
    instance: bool  # also invocable on [type]/[id]/$name
    parameters: dict[str, str]  # input parameter -> how it is read: string|integer|boolean|coding|resource|codeableConcept

    def capability(self) -> Json:
        return {"name": self.name, "definition": self.definition}


_CODING_INPUTS = {"code": "string", "system": "string", "display": "string",
                  "coding": "coding", "codeableConcept": "codeableConcept"}
OPERATIONS: tuple[Operation, ...] = (
    Operation("expand", "ValueSet", f"{HL7_OPERATION}/ValueSet-expand", True,
              {"url": "string", "valueSet": "resource", "valueSetVersion": "string",
               "filter": "string", "offset": "integer", "count": "integer",
               "displayLanguage": "string", "includeDesignations": "boolean"}),
    Operation("validate-code", "ValueSet", f"{HL7_OPERATION}/ValueSet-validate-code", True,
              {"url": "string", "valueSet": "resource", "valueSetVersion": "string",
               "systemVersion": "string", "abstract": "boolean", **_CODING_INPUTS}),
    Operation("validate-code", "CodeSystem", f"{HL7_OPERATION}/CodeSystem-validate-code", True,
              {"url": "string", "version": "string", **_CODING_INPUTS}),
    Operation("lookup", "CodeSystem", f"{HL7_OPERATION}/CodeSystem-lookup", True,
              {"code": "string", "system": "string", "version": "string", "coding": "coding",
               "displayLanguage": "string", "property": "string"}),
    Operation("subsumes", "CodeSystem", f"{HL7_OPERATION}/CodeSystem-subsumes", True,
              {"codeA": "string", "codeB": "string", "system": "string", "version": "string"}),
    Operation("translate", "ConceptMap", f"{HL7_OPERATION}/ConceptMap-translate", True,
              {"url": "string", "conceptMap": "resource", "conceptMapVersion": "string",
               "source": "string", "target": "string", "targetsystem": "string",
               "reverse": "boolean", **_CODING_INPUTS}),
)


def capability_operations(resource_type: str) -> list[Json]:
    """CapabilityStatement.rest.resource.operation entries for one resource type."""
    return [op.capability() for op in OPERATIONS if op.resource_type == resource_type]


def find_operation(operation: str, resource_type: str) -> Operation:
    name = operation.lstrip("$")
    for op in OPERATIONS:
        if op.name == name and op.resource_type == resource_type:
            return op
    raise MethodNotAllowed(f"Operation ${name} is not supported on {resource_type}")


def run(service: TerminologyService, operation: str, resource_type: str,
        instance: Json | None, params: list[tuple[str, str]], body: Json | None) -> Json:
    """Execute a terminology operation; returns the output resource (ValueSet or Parameters).

    `instance` is the resource for [type]/[id]/$op calls; `params` the query pairs; `body`
    a Parameters resource (POST) or None.
    """
    op = find_operation(operation, resource_type)
    inputs = read_inputs(op, params, body)
    handler = _HANDLERS[(op.name, op.resource_type)]
    return handler(service, inputs, instance)


def read_inputs(op: Operation, params: list[tuple[str, str]], body: Json | None) -> dict[str, Any]:
    """Input parameters by name, typed as the operation reads them."""
    inputs: dict[str, Any] = {}
    for name, text in params:
        if name.startswith("_"):
            continue  # _format, _pretty and other general parameters are the facade's business
        kind = _kind(op, name)
        if kind in ("resource", "codeableConcept"):
            raise BadRequest(f"Parameter '{name}' of ${op.name} can only be given in a "
                             f"Parameters body (POST)", (name,))
        _put(inputs, op, name, _from_text(kind, name, text))
    if body is not None:
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            kind = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
            raise BadRequest(f"The body of ${op.name} must be a Parameters resource, got {kind!r}",
                             ("resourceType",))
        check_json_types(body)  # each value of the JSON type its element has
        for index, item in enumerate(parameter_parts(body, op.name)):
            name = item.get("name")
            if not name:
                raise BadRequest(f"Parameters.parameter[{index}] has no name",
                                 (f"Parameters.parameter[{index}]",))
            _put(inputs, op, name, _from_part(_kind(op, name), name, item))
    return inputs


def _kind(op: Operation, name: str) -> str:
    kind = op.parameters.get(name)
    if kind is None:
        raise BadRequest(f"Unknown parameter '{name}' for {op.resource_type}/${op.name} "
                         f"(known: {', '.join(op.parameters)})", (name,))
    return kind


def _put(inputs: dict[str, Any], op: Operation, name: str, value: Any) -> None:
    if name in REPEATABLE:
        inputs.setdefault(name, []).append(value)
        return
    if name in inputs and inputs[name] != value:
        raise BadRequest(f"Parameter '{name}' of ${op.name} is given more than once", (name,))
    inputs[name] = value


def _from_text(kind: str, name: str, text: str) -> Any:
    if kind == "integer":
        try:
            number = int(text)
        except ValueError:
            raise BadRequest(f"Parameter '{name}' must be an integer, got '{text}'", (name,))
        if number not in INTEGER_RANGE:
            raise BadRequest(f"Parameter '{name}' is {text}, out of the range of a FHIR integer "
                             "(32 bits)", (name,))
        return number
    if kind == "boolean":
        if text not in ("true", "false"):
            raise BadRequest(f"Parameter '{name}' must be true or false, got '{text}'", (name,))
        return text == "true"
    if kind == "coding":
        return parse_coding_token(text, name)
    return text


_PART_FIELDS = {"integer": ("valueInteger", "valueUnsignedInt", "valuePositiveInt"),
                "boolean": ("valueBoolean",), "coding": ("valueCoding",),
                "codeableConcept": ("valueCodeableConcept",), "resource": ("resource",),
                "string": ("valueString", "valueCode", "valueUri", "valueCanonical", "valueUrl")}


def _from_part(kind: str, name: str, item: Json) -> Any:
    for field in _PART_FIELDS[kind]:
        if field in item:
            return item[field]
    given = [k for k in item if k.startswith("value") or k == "resource"]
    raise BadRequest(f"Parameter '{name}' must be given as {' or '.join(_PART_FIELDS[kind])}"
                     + (f", not {given[0]}" if given else ""), (name,))


def _instance_url(instance: Json | None, inputs: dict[str, Any], name: str) -> str | None:
    """For [type]/[id]/$op: the instance's canonical url, which an explicit one must match."""
    if instance is None:
        return inputs.get(name)
    url = instance.get("url")
    if inputs.get(name) and inputs[name] != url:
        raise BadRequest(f"Parameter '{name}' ({inputs[name]}) contradicts the instance's url "
                         f"({url})", (name,))
    return url


def _expand(service: TerminologyService, inputs: Json, instance: Json | None) -> Json:
    url = _instance_url(instance, inputs, "url")
    value_set = inputs.get("valueSet")
    if instance is not None and (not url or service.registry.find("ValueSet", url) is None):
        url, value_set = None, instance  # a stored value set the registry does not resolve
    if url and inputs.get("valueSetVersion"):
        url = f"{url}|{inputs['valueSetVersion']}"
    return service.expand(url, value_set, filter=inputs.get("filter"),
                          offset=inputs.get("offset", 0), count=inputs.get("count"),
                          display_language=inputs.get("displayLanguage"),
                          include_designations=inputs.get("includeDesignations", False))


def _validate_in_value_set(service: TerminologyService, inputs: Json,
                           instance: Json | None) -> Json:
    url = _instance_url(instance, inputs, "url")
    value_set = inputs.get("valueSet")
    if instance is not None and (not url or service.registry.find("ValueSet", url) is None):
        url, value_set = None, instance
    if url and inputs.get("valueSetVersion"):
        url = f"{url}|{inputs['valueSetVersion']}"
    return service.validate_code(url, inputs.get("code"), inputs.get("system"),
                                 inputs.get("display"), inputs.get("coding"),
                                 inputs.get("codeableConcept"), value_set=value_set,
                                 abstract=inputs.get("abstract", False))


def _validate_in_code_system(service: TerminologyService, inputs: Json,
                             instance: Json | None) -> Json:
    url = _instance_url(instance, inputs, "url") or inputs.get("system")
    return service.validate_code_in_system(url, inputs.get("code"), inputs.get("display"),
                                           inputs.get("coding"), inputs.get("codeableConcept"),
                                           version=inputs.get("version"))


def _lookup(service: TerminologyService, inputs: Json, instance: Json | None) -> Json:
    system, code = _instance_url(instance, inputs, "system"), inputs.get("code")
    coding = inputs.get("coding")
    if coding is not None:
        if code or (system and coding.get("system") and coding["system"] != system):
            raise BadRequest("Give either 'code' (+ 'system') or 'coding', not both", ("coding",))
        system, code = coding.get("system") or system, coding.get("code")
    return service.lookup(system, code, inputs.get("version"),
                          display_language=inputs.get("displayLanguage"))


def _subsumes(service: TerminologyService, inputs: Json, instance: Json | None) -> Json:
    system = _instance_url(instance, inputs, "system")
    if not system:
        raise BadRequest("Parameter 'system' is required", ("system",))
    return service.subsumes(system, inputs.get("codeA"), inputs.get("codeB"),
                            inputs.get("version"))


def _translate(service: TerminologyService, inputs: Json, instance: Json | None) -> Json:
    url = _instance_url(instance, inputs, "url")
    if url and inputs.get("conceptMapVersion"):
        url = f"{url}|{inputs['conceptMapVersion']}"
    concept_map = inputs.get("conceptMap")
    if instance is not None and (not url or service.registry.find("ConceptMap", url) is None):
        url, concept_map = None, instance
    return service.translate(url, inputs.get("system"), inputs.get("code"),
                             inputs.get("source"), inputs.get("target"),
                             inputs.get("reverse", False),
                             target_system=inputs.get("targetsystem"),
                             coding=inputs.get("coding"),
                             codeable_concept=inputs.get("codeableConcept"),
                             concept_map=concept_map)


Handler = Callable[[TerminologyService, Json, Json | None], Json]
_HANDLERS: dict[tuple[str, str], Handler] = {
    ("expand", "ValueSet"): _expand,
    ("validate-code", "ValueSet"): _validate_in_value_set,
    ("validate-code", "CodeSystem"): _validate_in_code_system,
    ("lookup", "CodeSystem"): _lookup,
    ("subsumes", "CodeSystem"): _subsumes,
    ("translate", "ConceptMap"): _translate,
}
