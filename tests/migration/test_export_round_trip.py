"""`fhirip export` of an imported plan gives back every mapped field: legacy → store → legacy.

The plans go into the real store with `run_import`, and come out with the `fhirip export`
command, which reads the patient's compartment from the store; the exported files are read
again as an import would, and every mapped field is compared with the original record.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mapping.helpers import mapped_differences, read_back

from fhirip import cli
from fhirip.context import Services
from fhirip.mapping import read_plans, run_import
from fhirip.mapping.records import PlanRecord
from fhirip.migration import submitter

from .store_view import stored

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
EXPORTED_NAMES = {"planpro": ("plan.csv", "tiltak.csv", "mal.csv"), "acos": (".xml",), "docx": (".docx",)}


def _export(services: Services, family: str, patient_id: str, out: Path,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    monkeypatch.setenv("FHIRIP_DATABASE_URL", services.settings.effective_database_url)
    monkeypatch.setenv("FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS", "true")
    code = cli.main(["export", "--format", family, "--patient", patient_id, "--out", str(out),
                     "--data-dir", str(services.settings.data_dir)])
    assert code == 0
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


@pytest.mark.parametrize("family", ["planpro", "acos", "docx"])
def test_an_exported_plan_gives_back_every_mapped_field(services: Services, family: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    good = MAPPINGS / family / "samples" / "good"
    originals = [p for p in read_plans(family, good) if isinstance(p, PlanRecord)]
    summary = run_import(family, good, submitter(services), progress=False)
    assert summary.plans_imported == len(originals) and summary.errors == []

    patients = {i["value"]: r["id"] for r in stored(services) if r["resourceType"] == "Patient"
                for i in r.get("identifier", []) if i["system"] == FNR}
    compared = 0
    for number, fnr in enumerate(sorted(patients)):
        files = _export(services, family, patients[fnr], tmp_path / f"out-{number}", monkeypatch)
        assert any(name.endswith(suffix) for name in files for suffix in EXPORTED_NAMES[family])
        exported = {p.key: p for p in read_back(family, files) if isinstance(p, PlanRecord)}
        for original in originals:
            if original.key in exported:
                assert mapped_differences(original, exported[original.key], summary.losses) == [], original.key
                compared += 1
    assert compared == len(originals)  # every imported plan came back out of the store


def test_export_of_an_unknown_patient_fails_with_a_message(services: Services, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FHIRIP_DATABASE_URL", services.settings.effective_database_url)
    code = cli.main(["export", "--format", "planpro", "--patient", "nobody", "--out", str(tmp_path / "out"),
                     "--data-dir", str(services.settings.data_dir)])
    assert code == 1 and "Patient/nobody is not known" in capsys.readouterr().err
