"""Cross-origin requests from browser applications (CORS), for the configured origins only.

https://fetch.spec.whatwg.org/#http-cors-protocol

Off unless FHIRIP_CORS_ORIGINS lists origins. A preflight (OPTIONS with
Access-Control-Request-Method) carries no token and reveals nothing but what the
server accepts; every answer to an allowed origin says so and exposes the headers
a FHIR client reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_REQUEST_HEADERS = ("Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, "
                    "If-Modified-Since, Prefer, X-Request-Id")
_EXPOSED = "Location, Content-Location, ETag, Last-Modified, X-Request-Id, WWW-Authenticate"
_PREFLIGHT_MAX_AGE = "600"


def allowed_origin(origin: str | None, allowed: Sequence[str]) -> str | None:
    """The value of Access-Control-Allow-Origin for this request's Origin, or None."""
    if not origin or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin.rstrip("/") in allowed else None


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    return method == "OPTIONS" and "Access-Control-Request-Method" in headers


def cors_headers(origin: str | None, allowed: Sequence[str], *, preflight: bool) -> dict[str, str]:
    """The CORS headers of an answer (none for an origin not allowed)."""
    allow = allowed_origin(origin, allowed)
    if allow is None:
        return {"Vary": "Origin"} if allowed else {}
    headers = {"Access-Control-Allow-Origin": allow, "Vary": "Origin"}
    if preflight:
        headers |= {"Access-Control-Allow-Methods": METHODS, "Access-Control-Allow-Headers": _REQUEST_HEADERS,
                    "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE}
    else:
        headers["Access-Control-Expose-Headers"] = _EXPOSED
    return headers
