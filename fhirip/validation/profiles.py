"""The project's StructureDefinitions, read from profiles/ and compiled into rules.

https://hl7.org/fhir/R4/profiling.html

Profiles are authored as differentials on a base type. Each differential element
becomes an ElementRule (cardinality, fixed/pattern value, binding, types, invariants);
sliced elements become a Slicing with its Slices (discriminated by value or pattern);
extension definitions become an ExtensionDefinition checked wherever the extension
occurs. The loader rejects differentials it does not understand instead of
silently ignoring a rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhirip.canonical import STRUCTURE_DEFINITION
from fhirip.validation.definitions import CORE_SD, Constraint, TypeRef, constraint_from_json

PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"
NO_BASIS_SD = "http://hl7.no/fhir/StructureDefinition/no-basis-"


class ProfileError(Exception):
    """A StructureDefinition in profiles/ that the validator cannot apply as written."""


@dataclass
class ElementRule:
    id: str
    path: str  # resource-relative definition path, e.g. CarePlan.activity.detail.status
    min: int | None = None
    max: str | None = None
    fixed: tuple[str, Any] | None = None  # (JSON key, value), e.g. ("fixedCode", "plan")
    pattern: tuple[str, Any] | None = None
    binding_strength: str | None = None
    binding_value_set: str | None = None
    types: tuple[TypeRef, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    must_support: bool = False

    @property
    def max_count(self) -> int | None:
        return None if self.max in (None, "*") else int(self.max)


@dataclass
class Slice:
    name: str
    rule: ElementRule
    children: list[ElementRule] = field(default_factory=list)


@dataclass
class Slicing:
    path: str
    discriminators: tuple[tuple[str, str], ...]  # (type, path)
    rules: str  # open | closed | openAtEnd
    slices: list[Slice] = field(default_factory=list)


@dataclass
class Profile:
    url: str
    type: str
    base_definition: str
    resource: dict[str, Any]
    rules: list[ElementRule] = field(default_factory=list)
    slicings: dict[str, Slicing] = field(default_factory=dict)


@dataclass
class SubExtension:
    url: str
    min: int
    max: str
    value_types: tuple[str, ...]
    binding_strength: str | None
    binding_value_set: str | None


@dataclass
class ExtensionDefinition:
    url: str
    resource: dict[str, Any]
    contexts: tuple[str, ...]
    value_types: tuple[str, ...]  # empty for a complex extension
    binding_strength: str | None = None
    binding_value_set: str | None = None
    sub_extensions: dict[str, SubExtension] = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()


def _first_key(element: dict[str, Any], prefix: str) -> tuple[str, Any] | None:
    for key, value in element.items():
        if key.startswith(prefix) and len(key) > len(prefix) and key[len(prefix)].isupper():
            return key, value
    return None


def rule_from_element(element: dict[str, Any], path: str) -> ElementRule:
    binding = element.get("binding") or {}
    value_set = binding.get("valueSet")
    return ElementRule(
        id=element["id"], path=path,
        min=element.get("min"), max=element.get("max"),
        fixed=_first_key(element, "fixed"), pattern=_first_key(element, "pattern"),
        binding_strength=binding.get("strength"),
        binding_value_set=value_set.split("|")[0] if value_set else None,
        types=tuple(TypeRef(t["code"], tuple(t.get("profile", ())), tuple(t.get("targetProfile", ())))
                    for t in element.get("type", ())),
        constraints=tuple(constraint_from_json(c) for c in element.get("constraint", ())
                          if c.get("expression")),
        must_support=bool(element.get("mustSupport")),
    )


def compile_profile(sd: dict[str, Any]) -> Profile:
    profile = Profile(url=sd["url"], type=sd["type"], base_definition=sd.get("baseDefinition", ""),
                      resource=sd)
    slices: dict[str, Slice] = {}  # slice element id -> Slice
    for element in sd.get("differential", {}).get("element", []):
        element_id, path = element["id"], element["path"]
        segments = element_id.split(".")
        sliced = [i for i, s in enumerate(segments) if ":" in s]
        if len(sliced) > 1:
            raise ProfileError(f"{sd['url']}: nested slicing at {element_id} is not supported")
        if not sliced:
            rule = rule_from_element(element, path)
            if "slicing" in element:
                slicing = element["slicing"]
                profile.slicings[path] = Slicing(
                    path, tuple((d["type"], d["path"]) for d in slicing.get("discriminator", ())),
                    slicing.get("rules", "open"))
            profile.rules.append(rule)
            continue
        if sliced[0] == len(segments) - 1:  # the slice itself
            name = segments[-1].split(":", 1)[1]
            slice_ = Slice(name, rule_from_element(element, path))
            slices[element_id] = slice_
            if path not in profile.slicings:
                if not path.endswith("xtension"):
                    raise ProfileError(f"{sd['url']}: slice {element_id} has no slicing on {path}")
                profile.slicings[path] = Slicing(path, (("value", "url"),), "open")
            profile.slicings[path].slices.append(slice_)
            continue
        owner = ".".join(segments[: sliced[0] + 1])
        if owner not in slices:
            raise ProfileError(f"{sd['url']}: {element_id} comes before its slice {owner}")
        slices[owner].children.append(rule_from_element(element, path))
    for slicing in profile.slicings.values():
        for kind, _ in slicing.discriminators:
            if kind not in ("value", "pattern"):
                raise ProfileError(f"{sd['url']}: discriminator type {kind!r} on {slicing.path} "
                                   "is not supported (use value or pattern)")
    return profile


def compile_extension(sd: dict[str, Any]) -> ExtensionDefinition:
    contexts = tuple(c["expression"] for c in sd.get("context", ()) if c.get("type") == "element")
    definition = ExtensionDefinition(url=sd["url"], resource=sd, contexts=contexts, value_types=())
    subs: dict[str, dict[str, Any]] = {}  # sub-extension slice id -> partial info
    for element in sd.get("differential", {}).get("element", []):
        element_id = element["id"]
        if element_id == "Extension":
            definition.constraints = tuple(constraint_from_json(c) for c in element.get("constraint", ())
                                           if c.get("expression"))
        elif element_id == "Extension.value[x]":
            definition.value_types = tuple(t["code"] for t in element.get("type", ()))
            binding = element.get("binding") or {}
            definition.binding_strength = binding.get("strength")
            definition.binding_value_set = binding.get("valueSet")
        elif element_id.startswith("Extension.extension:"):
            name, _, rest = element_id[len("Extension.extension:"):].partition(".")
            info = subs.setdefault(name, {"min": 0, "max": "*", "types": (), "binding": {}})
            if not rest:
                info["min"], info["max"] = element.get("min", 0), element.get("max", "*")
            elif rest == "url":
                info["url"] = element.get("fixedUri")
            elif rest == "value[x]":
                info["types"] = tuple(t["code"] for t in element.get("type", ()))
                info["binding"] = element.get("binding") or {}
    for name, info in subs.items():
        if not info.get("url"):
            raise ProfileError(f"{sd['url']}: sub-extension {name} has no fixed url")
        definition.sub_extensions[info["url"]] = SubExtension(
            info["url"], int(info["min"]), str(info["max"]), info["types"],
            info["binding"].get("strength"), info["binding"].get("valueSet"))
    return definition


def profile_type(url: str, profiles: dict[str, Profile]) -> str | None:
    """The resource type a (target) profile constrains, if it can be told offline."""
    if url in profiles:
        return profiles[url].type
    for prefix in (CORE_SD, NO_BASIS_SD):
        if url.startswith(prefix):
            return url[len(prefix):]
    return None


@dataclass
class ProfileSet:
    profiles: dict[str, Profile]
    extensions: dict[str, ExtensionDefinition]
    resources: list[dict[str, Any]]

    @classmethod
    def load(cls, directory: Path | None = None) -> ProfileSet:
        directory = directory or PROFILES_DIR
        profiles: dict[str, Profile] = {}
        extensions: dict[str, ExtensionDefinition] = {}
        resources: list[dict[str, Any]] = []
        for path in sorted(directory.glob("*.json")):
            sd = json.loads(path.read_text(encoding="utf-8"))
            if sd.get("resourceType") != "StructureDefinition":
                continue
            try:
                if sd.get("type") == "Extension":
                    extensions[sd["url"]] = compile_extension(sd)
                else:
                    profiles[sd["url"]] = compile_profile(sd)
            except (KeyError, ValueError) as exc:
                raise ProfileError(f"{path.name}: malformed StructureDefinition: {exc}") from exc
            resources.append(sd)
        return cls(profiles, extensions, resources)

    @staticmethod
    def is_project_url(url: str) -> bool:
        return url.startswith(STRUCTURE_DEFINITION + "/")
