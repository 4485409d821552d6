"""The format-neutral shape of one legacy plan, and what went wrong while reading or mapping it.

Every format family reads its sources into a ``PlanRecord``: rows of named fields per record
kind (person, plan, goal, measure …) holding the LEGACY values (legacy codes, parsed dates
as FHIR date strings, booleans). Code translation happens later, in the bundle builder, so
the same record can be written back to the legacy format unchanged (the round trip).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Loss:
    """One value that could not be carried over, and why. Nothing is invented in its place."""

    file: str
    line: int | None
    record: str  # e.g. "measure T-17 of plan P-1001"
    field: str  # the legacy column/element/cell
    value: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecordError:
    """A plan (or a source record) that could not be read or mapped at all; it is skipped."""

    file: str
    line: int | None
    record: str
    reason: str
    plan_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SourceRow:
    """One legacy record: a file row, an XML element or a Word table row."""

    kind: str
    key: str
    values: dict[str, Any]
    file: str
    line: int | None = None

    def describe(self, plan_key: str) -> str:
        return f"{self.kind} {self.key} of plan {plan_key}"


@dataclass
class Original:
    """The legacy document as it was read, kept as a DocumentReference attachment."""

    name: str
    content_type: str
    data: bytes


@dataclass
class PlanRecord:
    family: str
    key: str
    rows: dict[str, list[SourceRow]] = field(default_factory=dict)
    original: Original | None = None
    losses: list[Loss] = field(default_factory=list)
    source: str = ""
    # local code lists shipped with the export (e.g. PlanPro's tiltak kodeverk): name → code → display
    code_lists: dict[str, dict[str, str]] = field(default_factory=dict)

    def rows_of(self, kind: str) -> list[SourceRow]:
        return self.rows.get(kind, [])

    def add(self, row: SourceRow) -> None:
        self.rows.setdefault(row.kind, []).append(row)

    def single(self, kind: str) -> SourceRow | None:
        rows = self.rows_of(kind)
        return rows[0] if rows else None
