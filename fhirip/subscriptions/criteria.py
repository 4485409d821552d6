"""A Subscription's criteria: a search on one resource type, `Type?name=value&…`."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fhirip.model.resources import is_resource_type

# Not watched: the audit trail grows with every read, and Subscriptions do not notify of themselves.
UNWATCHED_TYPES = frozenset({"AuditEvent", "Subscription"})


def parse_criteria(criteria: str) -> tuple[str, list[tuple[str, str]]] | None:
    """(type, query pairs) of `Type?query`; None when it is not of that shape."""
    res_type, _, query = criteria.partition("?")
    if not is_resource_type(res_type):
        return None
    try:
        return res_type, parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        return None
