"""Literal references as (type, id), the form the access rules compare them in."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

Ref = tuple[str, str]  # (resource type, id)


def local_ref(reference: Any) -> Ref | None:
    """`{"reference": "Patient/1"}` (or a URL ending in Type/id) → ("Patient", "1")."""
    if not isinstance(reference, dict):
        return None
    text = reference.get("reference")
    if not isinstance(text, str):
        return None
    return _split(text)


@lru_cache(maxsize=65536)
def _split(text: str) -> Ref | None:
    """The (type, id) at the end of a literal reference; decisions meet the same few
    thousand references again and again, so each is split once."""
    if text.startswith("#"):
        return None
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None
    return parts[-2], parts[-1]
