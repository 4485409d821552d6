"""Profile and identifier validation on every write.

https://hl7.org/fhir/R4/validation.html

A resource that claims an individual-plan profile, or a CarePlan in the IP
category, must conform to its profiles; every resource must keep the base
specification's required bindings and invariants. Errors refuse the write (422
with the issues); warnings travel back with the response.
"""

from __future__ import annotations

from typing import Any

from fhirip.errors import Issue
from fhirip.context import Context, Services, WriteHook
from fhirip.store import Current


class ConformanceHook:
    """The write hook that validates every resource written with `validator`."""

    def __init__(self, validator: Any) -> None:
        self.validator = validator

    def __call__(self, ctx: Context, resource: dict[str, Any], previous: Current | None) -> list[Issue]:
        checked = ctx.checked_ahead
        if checked is not None:
            # Validated ahead with this validator: taken only for exactly the content written.
            known = checked.issues_of(resource)
            if known is not None:
                return known
        return self.validator.validate(resource)


def conformance_hook(validator: Any) -> WriteHook:
    return ConformanceHook(validator)


def write_hook_validator(services: Services) -> Any:
    """The validator of the services' one conformance write hook, for checking content ahead of
    the write that will take the results (`fhirip.mapping.checking_ahead`); None without exactly one."""
    hooks = [hook for hook in services.write_hooks if isinstance(hook, ConformanceHook)]
    return hooks[0].validator if len(hooks) == 1 else None
