"""Read legacy plans, convert one document, and export FHIR plans back to a legacy format."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from fhirip.errors import Issue, Unprocessable, operation_outcome
from fhirip.mapping.bundle import PlanNotMappable, to_bundle
from fhirip.mapping.formats import family
from fhirip.mapping.records import Loss, PlanRecord, RecordError
from fhirip.mapping.reverse import plans_from_resources


def read_plans(format: str, path: Path) -> Iterator[PlanRecord | RecordError]:
    """Every plan found at path (a file or a directory), or an error for what cannot be read."""
    kind, spec = family(format)
    yield from kind.read_path(spec, Path(path))


def read_document(format: str, document: bytes, name: str = "document") -> Iterator[PlanRecord | RecordError]:
    kind, spec = family(format)
    yield from kind.read_document(spec, document, name)


def convert_with_losses(document: bytes, format: str, name: str = "document") -> tuple[dict[str, Any], list[Loss]]:
    """One legacy document (PlanPro: a zip of the export files) → its transaction Bundle and losses.

    Raises Unprocessable (422) naming file and line when the document holds no readable plan,
    or more than one.
    """
    plans: list[PlanRecord] = []
    errors: list[RecordError] = []
    for item in read_document(format, document, name):
        (errors if isinstance(item, RecordError) else plans).append(item)  # type: ignore[arg-type]
    if errors:
        issues = [Issue("error", "invalid", f"{e.file}{f' line {e.line}' if e.line else ''}: {e.record}: {e.reason}")
                  for e in errors]
        raise Unprocessable(issues[0].diagnostics, issues=issues)
    if len(plans) != 1:
        raise Unprocessable(f"the document holds {len(plans)} plans; $convert takes exactly one")
    try:
        return to_bundle(plans[0])
    except PlanNotMappable as error:
        raise Unprocessable(str(error)) from None


def convert(document: bytes, format: str) -> dict[str, Any]:
    """One legacy document → one FHIR transaction Bundle (the $convert operation)."""
    return convert_with_losses(document, format)[0]


def export_plan_with_losses(format: str, resources: list[dict[str, Any]]) -> tuple[dict[str, bytes], list[Loss]]:
    kind, spec = family(format)
    records, losses = plans_from_resources(spec, resources)
    if not records:
        raise Unprocessable("no individual plan (CarePlan with category individuell-plan) among the resources")
    files, write_losses = kind.write(spec, records)
    return files, losses + write_losses


def export_plan(format: str, resources: list[dict[str, Any]]) -> dict[str, bytes]:
    """FHIR plan resources (as a search returns them) → legacy files: name → content."""
    return export_plan_with_losses(format, resources)[0]


def losses_outcome(losses: list[Loss]) -> dict[str, Any]:
    """The loss report as an OperationOutcome (warnings), e.g. for $convert responses."""
    return operation_outcome([Issue("warning", "informational",
                                    f"{l.file}{f' line {l.line}' if l.line else ''}: {l.record}: {l.field}={l.value!r}: {l.reason}")
                              for l in losses])
