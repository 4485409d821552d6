"""What the store hands out and how a version is stamped: the current state of a resource,
one stored version, and the meta (versionId, lastUpdated) every stored version carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fhirip.model.resources import canonical_bytes


@dataclass(frozen=True)
class Current:
    """The current state of one resource."""

    rid: int | None  # None: created in the open transaction and not yet sent (`fhirip.store.Tx.write`)
    res_type: str
    res_id: str
    version: int
    last_updated: datetime
    deleted: bool


@dataclass(frozen=True)
class StoredVersion:
    """One stored version; `content` is None for a deletion."""

    seq: int
    rid: int
    res_type: str
    res_id: str
    version: int
    last_updated: datetime
    method: str
    deleted: bool
    content: bytes | None


# What the store writes into every version's meta itself.
STAMPS = ("versionId", "lastUpdated")


def _stamped(resource_json: dict[str, Any], version: int, moment: datetime) -> bytes:
    """Set meta.versionId and meta.lastUpdated in the resource; its canonical bytes."""
    resource_json["meta"] = {**(resource_json.get("meta") or {}), "versionId": str(version),
                             "lastUpdated": instant(moment)}
    return canonical_bytes(resource_json)


def first_versions(resources: Sequence[dict[str, Any]], moment: datetime | None = None
                   ) -> list[tuple[dict[str, Any], datetime, bytes]]:
    """New resources as `Tx.insert_new` takes them: each stamped as its version 1 at `moment` (now)."""
    moment = moment or now_utc()
    return [(item, moment, _stamped(item, 1, moment)) for item in resources]


def now_utc() -> datetime:
    """Now, in UTC, at the millisecond precision that meta.lastUpdated carries."""
    moment = datetime.now(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def instant(moment: datetime) -> str:
    """A naive-UTC datetime as a FHIR instant."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"
