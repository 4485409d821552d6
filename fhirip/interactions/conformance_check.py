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
from fhirip.interactions.context import Context, WriteHook
from fhirip.store import Current


def conformance_hook(validator: Any) -> WriteHook:
    def check(ctx: Context, resource: dict[str, Any], previous: Current | None) -> list[Issue]:
        return validator.validate(resource)

    return check
