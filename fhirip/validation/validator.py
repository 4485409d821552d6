"""Validate a resource: base R4 rules, claimed profiles, extensions, Norwegian identifiers.

https://hl7.org/fhir/R4/validation.html

Runs after the R4B model parse (which has checked JSON shape and primitive formats)
and before a write is stored, and behind `$validate`. Issues carry FHIRPath
`expression`s; errors block a write of a resource that must conform, warnings and
information never block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhirip.canonical import CODE_SYSTEM, STRUCTURE_DEFINITION
from fhirip.errors import Issue
from fhirip.validation.base_valuesets import base_value_sets
from fhirip.validation.bindings import BindingChecker
from fhirip.validation.conformance import ProfileApplier
from fhirip.validation.definitions import base_definitions
from fhirip.validation.extensions import ExtensionChecker
from fhirip.validation.norwegian_rules import check_identifiers, check_municipality_codes
from fhirip.validation.profiles import ProfileSet
from fhirip.validation.walker import BaseWalker, InstanceIndex

IP_CAREPLAN = f"{STRUCTURE_DEFINITION}/ip-CarePlan"
IP_CATEGORY_SYSTEM = f"{CODE_SYSTEM}/ip-careplan-category"
IP_CATEGORY_CODE = "individuell-plan"


def is_individual_plan(resource: dict[str, Any]) -> bool:
    """A CarePlan whose category says it is an individuell plan."""
    if resource.get("resourceType") != "CarePlan":
        return False
    return any(coding.get("system") == IP_CATEGORY_SYSTEM and coding.get("code") == IP_CATEGORY_CODE
               for category in resource.get("category", ()) if isinstance(category, dict)
               for coding in category.get("coding", ()) if isinstance(coding, dict))


class Validator:
    """Validates resource dicts; load once and share (it holds compiled definitions)."""

    def __init__(self, *, profiles_dir: Path | None = None, terminology: object | None = None,
                 allow_synthetic_identifiers: bool = False) -> None:
        self.profile_set = ProfileSet.load(profiles_dir)
        self.allow_synthetic_identifiers = allow_synthetic_identifiers
        value_sets = base_value_sets()
        self.walker = BaseWalker(base_definitions(), value_sets)
        self.bindings = BindingChecker(value_sets, terminology)
        self.applier = ProfileApplier(self.profile_set.profiles, self.bindings)
        self.extension_checker = ExtensionChecker(self.profile_set, self.bindings)

    # -- the public surface ---------------------------------------------------------

    def validate(self, resource: dict[str, Any], extra_profiles: list[str] | tuple[str, ...] = ()
                 ) -> list[Issue]:
        """All issues of `resource` against the base spec, its meta.profile claims and
        `extra_profiles`; an individual plan is held to ip-CarePlan even if it does not claim it."""
        issues: list[Issue] = []
        index = self.walker.walk(resource, issues)
        unknown_value_sets: set[str] = set()
        self._check_typed_elements(index, issues, unknown_value_sets)
        for url in self._profiles_to_apply(resource, extra_profiles):
            self._apply_profile(url, resource, index, issues, unknown_value_sets)
        return issues

    def must_conform(self, resource: dict[str, Any]) -> bool:
        """True when a write of `resource` must pass validation without errors."""
        return any(ProfileSet.is_project_url(url) for url in _claimed(resource)) or is_individual_plan(resource)

    def profile(self, url: str) -> dict[str, Any] | None:
        """A published StructureDefinition (profile or extension) by canonical URL."""
        url = url.split("|")[0]
        if url in self.profile_set.profiles:
            return self.profile_set.profiles[url].resource
        if url in self.profile_set.extensions:
            return self.profile_set.extensions[url].resource
        return None

    def all_profiles(self) -> list[dict[str, Any]]:
        return list(self.profile_set.resources)

    # -- steps ----------------------------------------------------------------------

    def _profiles_to_apply(self, resource: dict[str, Any], extra: list[str] | tuple[str, ...]) -> list[str]:
        urls = [u.split("|")[0] for u in [*_claimed(resource), *extra]]
        if is_individual_plan(resource):
            urls.append(IP_CAREPLAN)
        return list(dict.fromkeys(urls))

    def _check_typed_elements(self, index: InstanceIndex, issues: list[Issue],
                              unknown_value_sets: set[str]) -> None:
        check_identifiers(index, self.allow_synthetic_identifiers, issues)
        check_municipality_codes(index, issues)
        self.extension_checker.check(index, issues, unknown_value_sets)
        for contained in index.contained:
            self._check_typed_elements(contained, issues, unknown_value_sets)

    def _apply_profile(self, url: str, resource: dict[str, Any], index: InstanceIndex,
                       issues: list[Issue], unknown_value_sets: set[str]) -> None:
        resource_type = resource.get("resourceType")
        profile = self.profile_set.profiles.get(url)
        if profile is None:
            severity = "error" if ProfileSet.is_project_url(url) else "warning"
            issues.append(Issue(severity, "not-supported",
                                f"{resource_type}.meta.profile: profile {url} is not known to this "
                                f"server; the resource was not checked against it",
                                (f"{resource_type}.meta.profile",)))
            return
        if profile.type != resource_type:
            issues.append(Issue("error", "invalid",
                                f"{resource_type}: profile {url} constrains {profile.type}, "
                                f"not {resource_type}", (str(resource_type),)))
            return
        self.applier.apply(profile, index, issues, unknown_value_sets)


def _claimed(resource: dict[str, Any]) -> list[str]:
    meta = resource.get("meta")
    profiles = meta.get("profile", []) if isinstance(meta, dict) else []
    return [p for p in profiles if isinstance(p, str)]
