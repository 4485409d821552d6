"""Shared steps for the mapping tests: a legacy plan through FHIR and back."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from fhirip.mapping import export_plan_with_losses, read_document, resources_from_bundle, to_bundle
from fhirip.mapping.records import Loss, PlanRecord, RecordError
from fhirip.mapping.spec import load_spec


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def read_back(format: str, files: dict[str, bytes]) -> list[PlanRecord | RecordError]:
    """Read exported files again the way an import would."""
    if format == "planpro":
        return list(read_document(format, zipped(files), "export.zip"))
    return [item for name, data in files.items() for item in read_document(format, data, name)]


def through_fhir(plan: PlanRecord) -> tuple[PlanRecord, list[Loss], dict[str, Any]]:
    """legacy record → transaction Bundle → stored resources → legacy files → legacy record."""
    bundle, losses = to_bundle(plan)
    files, _ = export_plan_with_losses(plan.family, resources_from_bundle(bundle))
    again = [item for item in read_back(plan.family, files) if isinstance(item, PlanRecord)]
    assert len(again) == 1, [item for item in read_back(plan.family, files) if isinstance(item, RecordError)]
    return again[0], losses, bundle


def mapped_differences(original: PlanRecord, again: PlanRecord, losses: list[Loss]) -> list[str]:
    """Every mapped field of the original that did not come back, except values reported as lost."""
    spec = load_spec(original.family)
    lost = {(loss.record, loss.field) for loss in losses}
    differences = []
    for kind_name, rows in original.rows.items():
        kind = spec.kinds[kind_name]
        returned = {row.key: row for row in again.rows_of(kind_name)}
        for row in rows:
            record = row.describe(original.key)
            if row.key not in returned:
                if not any(loss.record.startswith(f"{kind_name} {row.key}") for loss in losses):
                    differences.append(f"{record}: missing after the round trip")
                continue
            for field in kind.fields:
                if not field.mapped or (record, field.column or field.field) in lost:
                    continue
                before, after = row.values.get(field.field), returned[row.key].values.get(field.field)
                if before != after:
                    differences.append(f"{record}: {field.field} {before!r} came back as {after!r}")
    return differences
