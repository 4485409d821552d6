"""Turn the raw strings a format reader found into typed field values, and back.

Readers hand over ``{field name: raw text}`` for one legacy record; this module applies the
family's date style and yes/no words, drops values it cannot read (each becomes a ``Loss``
with file and line) and refuses the record when a required field is missing or unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirip.mapping import values
from fhirip.mapping.records import Loss, SourceRow
from fhirip.mapping.spec import FamilySpec, FieldSpec, KindSpec

PRECISION_SUFFIX = "#precision"


@dataclass
class ParsedRow:
    row: SourceRow | None  # None when a required field is missing or unreadable
    losses: list[Loss]
    refusal: str | None = None  # why the record was refused


def _parse(spec: FamilySpec, field: FieldSpec, text: str, precision: str | None) -> Any:
    style = spec.format.get("date_style", "planpro")
    if field.type == "date":
        if style == "planpro":
            return values.parse_planpro_date(text, precision)
        if style == "iso":
            return values.parse_iso_date(text)
        return values.parse_written_date(text)
    if field.type == "dateTime":
        return values.parse_iso_datetime(text) if style == "iso" else values.parse_norwegian_datetime(text)
    if field.type == "boolean":
        return values.parse_boolean(text, spec.format.get("true", "J"), spec.format.get("false", "N"))
    if field.type == "fnr":
        return values.parse_fnr(text)
    if field.type in ("string", "text"):
        return text  # the user's own words, exactly as written
    return text.strip()


def parse_row(spec: FamilySpec, kind: KindSpec, raw: dict[str, str | None], *, file: str,
              line: int | None, plan_key: str, key: str) -> ParsedRow:
    """Typed values for one legacy record; unreadable values become losses."""
    record = f"{kind.name} {key} of plan {plan_key}"
    parsed: dict[str, Any] = {}
    losses: list[Loss] = []
    refusal: str | None = None
    for field in kind.fields:
        text = raw.get(field.field)
        column = field.column or field.field
        if text is None or text.strip() == "":
            if field.required and refusal is None:
                refusal = f"required field {column} is empty"
            continue
        try:
            parsed[field.field] = _parse(spec, field, text, raw.get(field.field + PRECISION_SUFFIX))
        except ValueError as error:
            losses.append(Loss(file, line, record, column, text, str(error)))
            if field.required and refusal is None:
                refusal = f"required field {column} cannot be read ({error})"
    if refusal is not None:
        return ParsedRow(None, losses, refusal)
    return ParsedRow(SourceRow(kind.name, key, parsed, file, line), losses)


def format_value(spec: FamilySpec, field: FieldSpec, value: Any) -> tuple[str, str | None]:
    """A typed value as the legacy format writes it: (text, precision marker or None)."""
    style = spec.format.get("date_style", "planpro")
    if value is None:
        return "", None
    if field.type == "date":
        if style == "planpro":
            text, marker = values.format_planpro_date(str(value))
            return text, marker
        if style == "iso":
            return str(value)[:10] if "T" in str(value) else str(value), None
        return values.format_written_date(str(value)), None
    if field.type == "dateTime":
        return (str(value), None) if style == "iso" else (values.format_norwegian_datetime(str(value)), None)
    if field.type == "boolean":
        return (spec.format.get("true", "J") if value else spec.format.get("false", "N")), None
    return str(value), None
