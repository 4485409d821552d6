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
