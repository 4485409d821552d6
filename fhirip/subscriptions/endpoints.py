"""Which URLs a rest-hook may call: a rest-hook makes the server send requests, so only to
endpoints an operator allowed (`FHIRIP_SUBSCRIPTION_ENDPOINTS`, URL prefixes), over https
unless the endpoint is on this machine's loopback."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _prefix_admits(prefix: str, url: str) -> bool:
    """Scheme, host and port equal, and the path under the prefix's path (whole segments), so
    `http://127.0.0.1` admits neither `http://127.0.0.1.example.com` nor `http://127.0.0.1@evil`."""
    want, have = urlsplit(prefix), urlsplit(url)
    if (want.scheme.lower(), want.hostname, want.port) != (have.scheme.lower(), have.hostname, have.port) \
            and not (want.port is None and (want.scheme.lower(), want.hostname) == (have.scheme.lower(), have.hostname)):
        return False
    base = want.path.rstrip("/")
    return not base or have.path == base or have.path.startswith(base + "/")


def endpoint_refusal(url: str, allowed: Sequence[str]) -> str | None:
    """Why `url` may not be a rest-hook endpoint; None when it may."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return f"The endpoint {url!r} is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"The endpoint {url!r} must be an absolute http(s) URL"
    if parts.username or parts.password:
        return "The endpoint may not carry a user name or password; use channel.header"
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        return f"The endpoint {url!r} must use https (plain http only on this machine's loopback)"
    if not any(_prefix_admits(prefix, url) for prefix in allowed):
        return (f"The endpoint {url!r} is not among the endpoints this server may call "
                "(FHIRIP_SUBSCRIPTION_ENDPOINTS)" if allowed else
                "This server calls no rest-hook endpoints (FHIRIP_SUBSCRIPTION_ENDPOINTS is empty)")
    return None
