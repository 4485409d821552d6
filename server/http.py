"""HTTP ↔ FHIR: turning a Flask request into a FhirRequest and a FhirResponse back.

https://hl7.org/fhir/R4/http.html#mime-type  (content types, _format)
https://hl7.org/fhir/R4/http.html#prefer      (Prefer: return, handling)
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import orjson
from flask import Request, Response

from fhirip.errors import (
    BadRequest,
    FhirError,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from fhirip.interactions.request import FHIR_JSON, FhirRequest, FhirResponse
from fhirip.model.dates import to_naive_utc

_JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir", "text/json"}
_BODY_TYPES = _JSON_TYPES | {"application/json-patch+json"}
_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}
_ACCEPTABLE = _JSON_TYPES | {"*/*", "application/*", "application/json-patch+json",
                             "application/fhir+ndjson", "application/ndjson"}  # export files
# Documents some operations produce (the readable plan): asked for by _format or Accept.
_DOCUMENTS = {"html": "text/html", "text/html": "text/html", "pdf": "application/pdf",
              "application/pdf": "application/pdf"}


def media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _speaks_our_version(value: str) -> bool:
    """Whether a media type's `fhirVersion` parameter, if any, names FHIR R4 (4.0 or 4.0.x).
    https://hl7.org/fhir/R4/http.html#version-parameter"""
    for parameter in value.split(";")[1:]:
        name, _, version = parameter.partition("=")
        if name.strip().lower() == "fhirversion":
            version = version.strip().strip('"')
            return version == "4.0" or version.startswith("4.0.")
    return True


def check_negotiation(request: Request) -> str | None:
    """406 when the client wants a format we do not produce.

    Returns the document media type (HTML or PDF) a GET asked for, which only some
    operations produce; FHIR JSON when the client asked for JSON and nothing else (an
    operation that produces a document then wraps it in a Binary); None when it left it open.
    """
    fmt = request.args.get("_format")
    if fmt is not None:
        key = fmt.split(";")[0].strip().lower()
        if key in _DOCUMENTS and request.method in ("GET", "HEAD"):
            return _DOCUMENTS[key]
        if key not in _FORMATS:
            raise NotAcceptable(f"_format '{fmt}' is not supported; this server speaks FHIR JSON "
                                "(application/fhir+json)", expression=["_format"])
        return FHIR_JSON
    accept = request.headers.get("Accept")
    if accept:
        parts = accept.split(",")
        if not any(_speaks_our_version(part) for part in parts):
            raise NotAcceptable(f"Cannot produce '{accept}'; this server speaks FHIR R4 (fhirVersion=4.0)")
        wanted = {media_type(part) for part in parts if _speaks_our_version(part)}
        if wanted & _JSON_TYPES and not any(w in _DOCUMENTS for w in wanted):
            return FHIR_JSON
        if wanted and not wanted & _ACCEPTABLE:
            documents = [_DOCUMENTS[w] for w in wanted if w in _DOCUMENTS]
            if documents and request.method in ("GET", "HEAD"):
                return documents[0]
            raise NotAcceptable(f"Cannot produce any of '{accept}'; this server speaks "
                                "application/fhir+json")
    return None


def read_body(request: Request, max_bytes: int) -> bytes | None:
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"The body has {length} bytes; the limit is {max_bytes}")
    body = request.stream.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"The body is larger than the limit of {max_bytes} bytes")
    return body


def to_fhir_request(request: Request, base_url: str, max_body: int) -> tuple[FhirRequest, list[str]]:
    document = check_negotiation(request)
    segments = [s for s in request.path.split("/") if s]
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in ("_format", "_pretty")]
    content_type = media_type(request.headers.get("Content-Type"))
    if not _speaks_our_version(request.headers.get("Content-Type") or ""):
        raise UnsupportedMediaType(f"Content-Type '{request.headers.get('Content-Type')}' names another FHIR "
                                   "version; this server speaks FHIR R4 (fhirVersion=4.0)")
    body = read_body(request, max_body)
    is_search_post = request.method == "POST" and segments and segments[-1] == "_search"
    if is_search_post:
        if body and content_type == "application/x-www-form-urlencoded":
            from urllib.parse import parse_qsl

            params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        elif body:
            raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded parameters")
        body = None
    elif body is not None:
        if not body.strip() and request.method != "POST":
            raise BadRequest("The request has no body")
        if content_type not in _BODY_TYPES and not (request.method == "POST" and not body.strip()):
            raise UnsupportedMediaType(
                f"Content-Type '{request.headers.get('Content-Type') or ''}' is not supported; "
                "send application/fhir+json")
    prefer = _prefer(request.headers.get("Prefer"))
    req = FhirRequest(
        method=request.method, params=params, body=body, content_type=content_type or None,
        if_match=request.headers.get("If-Match"), if_none_match=request.headers.get("If-None-Match"),
        if_none_exist=request.headers.get("If-None-Exist"),
        if_modified_since=_http_date(request.headers.get("If-Modified-Since")),
        prefer_return=prefer.get("return"), prefer_handling=prefer.get("handling"),
        prefer_respond_async="respond-async" in prefer,
        base_url=base_url, url=base_url + request.full_path.rstrip('?'), accept=document,
        provenance=request.headers.get("X-Provenance"))
    return req, segments


def _prefer(header: str | None) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for part in (header or "").replace(";", ",").split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            prefs[key.strip().lower()] = value.strip().strip('"')
        elif part.strip():
            prefs[part.strip().lower()] = ""  # a preference without a value: respond-async
    if prefs.get("return") not in (None, "minimal", "representation", "OperationOutcome"):
        raise BadRequest(f"Prefer: return={prefs['return']} is not one of minimal, representation, "
                         "OperationOutcome")
    return prefs


def _http_date(value: str | None) -> Any:
    if not value:
        return None
    try:
        return to_naive_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        raise BadRequest(f"If-Modified-Since '{value}' is not an HTTP date") from None


def to_http(response: FhirResponse, *, pretty: bool, head: bool = False,
            wanted: str | None = None) -> Response:
    """The HTTP response; a document (HTML, PDF) keeps the Content-Type its operation set."""
    own_type = response.headers.get("Content-Type")
    if wanted not in (None, FHIR_JSON) and media_type(own_type) != wanted and response.status < 300:
        raise NotAcceptable(f"This interaction produces FHIR JSON, not {wanted}")
    body = b""
    if response.body is not None:
        body = response.body
    elif response.resource is not None:
        body = orjson.dumps(response.resource)
    if pretty and body and own_type is None:
        # Re-indent the whole: stored bytes and embedded fragments are compact.
        body = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    http = Response(b"" if head else body, status=response.status, headers=response.headers)
    if response.has_content and own_type is None:
        http.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    elif not response.has_content:
        del http.headers["Content-Type"]  # nothing to label (Werkzeug would say text/html)
    return http


def error_response(error: FhirError, *, pretty: bool) -> Response:
    return to_http(FhirResponse(error.status, resource=error.outcome(), headers=dict(error.headers)),
                   pretty=pretty)
