"""FHIR errors: each knows its HTTP status and renders as an OperationOutcome.

https://hl7.org/fhir/R4/operationoutcome.html
https://hl7.org/fhir/R4/http.html#summary (status codes)

The core raises these; the HTTP facade and the batch/transaction processor turn
them into responses. Nothing else in the code base builds error bodies by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: what went wrong and where (a FHIRPath expression)."""

    severity: str  # fatal | error | warning | information
    code: str  # http://hl7.org/fhir/issue-type, e.g. invalid, structure, not-found
    diagnostics: str
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code,
                                 "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: list[Issue] | tuple[Issue, ...]) -> dict[str, Any]:
    if not issues:
        issues = [Issue("information", "informational", "All OK")]
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


@dataclass
class FhirError(Exception):
    """Base of all errors that end a FHIR interaction with an OperationOutcome."""

    diagnostics: str
    expression: tuple[str, ...] | list[str] = ()
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    status = 500
    code = "exception"

    def __post_init__(self) -> None:
        super().__init__(self.diagnostics)
        if not self.issues:
            self.issues = [Issue("error", self.code, self.diagnostics, tuple(self.expression))]

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


class BadRequest(FhirError):
    status, code = 400, "invalid"


class Unauthorized(FhirError):
    status, code = 401, "login"


class Forbidden(FhirError):
    status, code = 403, "forbidden"


class NotFound(FhirError):
    status, code = 404, "not-found"


class MethodNotAllowed(FhirError):
    status, code = 405, "not-supported"


class NotAcceptable(FhirError):
    status, code = 406, "not-supported"


class Conflict(FhirError):
    status, code = 409, "conflict"


class Gone(FhirError):
    status, code = 410, "deleted"


class TooCostly(FhirError):
    """The request needed more time than the server gives one (its statement time limit).

    A 400, not a 5xx: the same request would be stopped again, so the client must ask for less
    (a narrower search); the server itself is well, and no Retry-After would help. Microsoft's
    FHIR server answers a search stopped this way likewise (400, too-costly)."""

    status, code = 400, "too-costly"


class PreconditionFailed(FhirError):
    status, code = 412, "conflict"


class PayloadTooLarge(FhirError):
    status, code = 413, "too-costly"


class UnsupportedMediaType(FhirError):
    status, code = 415, "not-supported"


class Unprocessable(FhirError):
    status, code = 422, "processing"


class NotImplementedYet(FhirError):
    status, code = 501, "not-supported"
