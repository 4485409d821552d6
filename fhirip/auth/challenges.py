"""Bearer-token challenges: the 401/403 errors and their WWW-Authenticate headers.

https://www.rfc-editor.org/rfc/rfc6750#section-3
"""

from __future__ import annotations

import re

from fhirip.errors import Forbidden, Unauthorized

REALM = "fhirip"

# RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E,
# i.e. printable ASCII without the double quote and the backslash.
_NOT_ALLOWED_IN_DESCRIPTION = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')
_MAX_DESCRIPTION = 200


def header_safe(text: str) -> str:
    """Text made safe for a quoted WWW-Authenticate parameter (anything else becomes '?')."""
    cleaned = _NOT_ALLOWED_IN_DESCRIPTION.sub("?", text)
    return cleaned if len(cleaned) <= _MAX_DESCRIPTION else cleaned[: _MAX_DESCRIPTION - 3] + "..."


def missing_token() -> Unauthorized:
    """No credentials at all: a bare challenge, without an error code (RFC 6750 §3.1)."""
    return Unauthorized(
        "This request needs a bearer token (Authorization: Bearer <token>).",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
    )


def invalid_token(description: str) -> Unauthorized:
    """The token is malformed, expired, revoked or not meant for this server."""
    safe = header_safe(description)
    return Unauthorized(
        f"Invalid bearer token: {safe}",
        headers={"WWW-Authenticate":
                 f'Bearer realm="{REALM}", error="invalid_token", error_description="{safe}"'},
    )


def invalid_request(description: str) -> Unauthorized:
    """The Authorization header itself is malformed (e.g. not the Bearer scheme)."""
    safe = header_safe(description)
    return Unauthorized(
        f"Invalid Authorization header: {safe}",
        headers={"WWW-Authenticate":
                 f'Bearer realm="{REALM}", error="invalid_request", error_description="{safe}"'},
    )


def insufficient_scope(needed: str) -> Forbidden:
    """The token is valid but its scopes do not reach this interaction (RFC 6750 §3.1)."""
    safe = header_safe(needed)
    return Forbidden(
        f"The token's scopes do not permit this interaction; it needs {safe}",
        headers={"WWW-Authenticate":
                 f'Bearer realm="{REALM}", error="insufficient_scope", scope="{safe}"'},
    )


# DPoP (RFC 9449 §7.1): the same challenges in the DPoP scheme, naming the proof algorithms.

def dpop_challenge(*, error: str | None = None, description: str | None = None,
                   algs: str, bearer_also: bool) -> str:
    """A WWW-Authenticate value with a DPoP challenge, and a bare Bearer one when Bearer is accepted."""
    parts = [f'realm="{REALM}"']
    if error is not None:
        parts.append(f'error="{error}"')
    if description is not None:
        parts.append(f'error_description="{header_safe(description)}"')
    parts.append(f'algs="{algs}"')
    challenge = "DPoP " + ", ".join(parts)
    return f'{challenge}, Bearer realm="{REALM}"' if bearer_also else challenge


def invalid_dpop_proof(description: str, *, algs: str, bearer_also: bool) -> Unauthorized:
    """The DPoP proof is missing, malformed, or does not match the request or the token."""
    return Unauthorized(
        f"Invalid DPoP proof: {header_safe(description)}",
        headers={"WWW-Authenticate": dpop_challenge(error="invalid_dpop_proof", description=description,
                                                    algs=algs, bearer_also=bearer_also)})


def dpop_invalid_token(description: str, *, algs: str, bearer_also: bool) -> Unauthorized:
    """The access token sent under the DPoP scheme is at fault."""
    return Unauthorized(
        f"Invalid access token: {header_safe(description)}",
        headers={"WWW-Authenticate": dpop_challenge(error="invalid_token", description=description,
                                                    algs=algs, bearer_also=bearer_also)})

