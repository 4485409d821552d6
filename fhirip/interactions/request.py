"""A FHIR request and response, independent of HTTP.

The facade builds a `FhirRequest` from an HTTP request; the transaction and batch
processor builds one from each Bundle entry. Every interaction handler takes one
and returns a `FhirResponse`, so both paths run exactly the same code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from fhirip.errors import BadRequest, operation_outcome
from fhirip.store import Current


FHIR_JSON = "application/fhir+json"


# Below U+0020 FHIR text holds only tab, carriage return and line feed (as `check_json_types`
# says of resources); no id, name or value of a URL can hold another (PostgreSQL cannot store NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def refuse_control_characters(params: list[tuple[str, str]], segments: Sequence[str] = ()) -> None:
    """A 400 for a URL path segment or a parameter that holds a control character."""
    for segment in segments:
        if _CONTROL.search(segment):
            raise BadRequest(f"The URL path segment {segment!r} holds a control character")
    for name, value in params:
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise BadRequest(f"Parameter {name!r} holds a control character in its name or value",
                             expression=(name,))


@dataclass
class FhirRequest:
    method: str  # GET, HEAD, POST, PUT, PATCH, DELETE
    res_type: str | None = None
    res_id: str | None = None
    version_id: str | None = None
    operation: str | None = None  # without the '$'
    compartment: str | None = None  # Patient/[id]/[type]: the [type]
    params: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    resource: dict[str, Any] | None = None  # a body already parsed (bundle entries)
    content_type: str | None = None
    if_match: str | None = None
    if_none_match: str | None = None
    if_none_exist: str | None = None
    if_modified_since: datetime | None = None
    prefer_return: str | None = None  # minimal | representation | OperationOutcome
    prefer_handling: str | None = None  # strict | lenient
    prefer_respond_async: bool = False  # `Prefer: respond-async` (Bulk Data kick-off)
    base_url: str = ""
    # The id a transaction gave this create in advance, so references to it resolve.
    assigned_id: str | None = None
    url: str = ""  # the request URL as received, for Bundle self links and audit
    # What the client asked for: a document type (text/html, application/pdf), FHIR_JSON when it
    # asked for JSON alone, None when it left the format open.
    accept: str | None = None
    # The X-Provenance header as sent: the Provenance of the write (`recorded_grant`).
    provenance: str | None = None

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    def params_without(self, *names: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.params if k not in names]

    def query_string(self) -> str:
        return urlencode(self.params)

    def int_param(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.param(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"Parameter '{name}' must be an integer, got '{raw}'",
                             expression=[name]) from None
        if value < minimum:
            raise BadRequest(f"Parameter '{name}' must be at least {minimum}", expression=[name])
        return min(value, maximum) if maximum is not None else value


@dataclass
class FhirResponse:
    status: int
    body: bytes | None = None  # canonical bytes, served as stored
    resource: dict[str, Any] | None = None  # a resource built for this response
    headers: dict[str, str] = field(default_factory=dict)
    # (type, id) of resources an answer in words is about without carrying them (an operation
    # such as `CarePlan/$exists`): the audit record names them, so it lands in their patient's log.
    about: tuple[tuple[str, str], ...] = ()

    @property
    def has_content(self) -> bool:
        return self.body is not None or self.resource is not None


def version_headers(current: Current) -> dict[str, str]:
    """ETag and Last-Modified of a stored version."""
    return {"ETag": f'W/"{current.version}"',
            "Last-Modified": format_datetime(current.last_updated.replace(tzinfo=timezone.utc), usegmt=True)}


def location(base_url: str, current: Current) -> str:
    return f"{base_url}/{current.res_type}/{current.res_id}/_history/{current.version}"


def written(req: FhirRequest, status: int, current: Current, content: bytes,
            extra_issues: list[Any] | None = None) -> FhirResponse:
    """The response to a successful write, shaped by `Prefer: return=`."""
    headers = version_headers(current)
    headers["Location"] = location(req.base_url, current)
    if req.prefer_return == "minimal":
        return FhirResponse(status, headers=headers)
    if req.prefer_return == "OperationOutcome":
        outcome = operation_outcome(extra_issues or [])
        return FhirResponse(status, resource=outcome, headers=headers)
    return FhirResponse(status, body=content, headers=headers)


def parse_etag(value: str) -> str:
    """'W/"3"' or '"3"' or '3' → '3'."""
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')

