"""Write the synthetic Word plan samples (mappings/docx/samples/) with python-docx. All data invented.

    .venv/bin/python mappings/docx/make_samples.py
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "mappings" / "planpro"))

from fhirip.mapping.records import PlanRecord, SourceRow  # noqa: E402
from fhirip.mapping.spec import load_spec  # noqa: E402
from fhirip.mapping.word import write_docx  # noqa: E402
from make_samples import FAMILY, GIVEN, synthetic_fnr  # noqa: E402


def word_plan(number: int, rng: random.Random, *, complete: bool = True) -> PlanRecord:
    key = f"W-{number:03d}"
    plan = PlanRecord("docx", key)
    fnr, _ = synthetic_fnr(rng)
    plan.add(SourceRow("person", fnr, {"name": f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}", "fnr": fnr,
                                       "address": "Fjordgata 4, 7010 Trondheim", "phone": "93000000"}, "x"))
    plan.add(SourceRow("plan", key, {"status": "Aktiv" if complete else "Under arbeid", "period_start": "2022-03",
                                     "period_end": "2024-03-01", "next_revision": "2023-09-15"}, "x"))
    coordinator = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"
    if complete:
        plan.add(SourceRow("participant", coordinator, {"name": coordinator, "role": "Koordinator",
                                                        "organization": "Trondheim kommune, helse og velferd",
                                                        "phone": "72000000", "period_start": "2022-03-01"}, "x"))
    plan.add(SourceRow("participant", "Dr. Lege", {"name": "Dr. Lege", "role": "Fastlege", "organization": "Byåsen legesenter",
                                                   "phone": "73000000"}, "x"))
    if complete:
        plan.add(SourceRow("consent", "Utarbeidelse", {"consent_type": "Utarbeidelse", "answer": "Ja", "date": "2022-02-28",
                                                       "valid_to": "2024-03-01"}, "x"))
        plan.add(SourceRow("consent", "Deling", {"consent_type": "Deling", "answer": "Ja", "date": "2022-02-28"}, "x"))
        plan.add(SourceRow("goal", "1", {"life_area": "Bolig og dagligliv", "description": "Bo i egen leilighet, med plass til hund",
                                         "due": "2023"}, "x"))
        plan.add(SourceRow("goal", "2", {"life_area": "Sosialt fellesskap", "description": "Få flere venner"}, "x"))
        plan.add(SourceRow("measure", "1", {"name": "Miljøarbeidertjeneste / botrening", "life_area": "Bolig og dagligliv",
                                            "goal": "1", "responsible": coordinator, "start": "2022-04",
                                            "extent": "3 timer per uke", "status": "Igangsatt", "next_evaluation": "2023-03-01"}, "x"))
        plan.add(SourceRow("measure", "2", {"name": "Støttekontakt", "life_area": "Sosialt fellesskap", "goal": "2",
                                            "responsible": "Dr. Lege", "extent": "Brukeren er usikker", "status": "Søkt"}, "x"))
        plan.add(SourceRow("evaluation", "1", {"date": "2023-03-02", "measure": "1",
                                               "assessment": "Fungerer godt; ønsker å fortsette.", "conclusion": "Fortsette"}, "x"))
    plan.add(SourceRow("crisisplan", "kriseplan", {"text": "Varselsignaler: sover dårlig, trekker seg unna.\nRing koordinator eller legevakt 116 117."}, "x"))
    return plan


def make_samples(target: Path) -> None:
    spec = load_spec("docx")
    rng = random.Random(11)
    plans = [word_plan(n, rng) for n in range(1, 4)] + [word_plan(4, rng, complete=False)]
    plans[2].rows_of("goal")[1].values["life_area"] = "Fritid"  # not on the template's list
    files, _ = write_docx(spec, plans)
    good, bad = target / "good", target / "bad"
    for directory in (good, bad):
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
    for name, data in files.items():
        (good / name).write_bytes(data)
    sample = files["W-001.docx"]
    (bad / "corrupted.docx").write_bytes(sample[: len(sample) // 2])
    (bad / "not-a-docx.docx").write_bytes("Individuell plan for Kari\n".encode("cp1252"))
    broken = word_plan(5, rng)
    broken.rows_of("measure")[0].values["start"] = "2022-02-30"  # written as 30.02.2022
    broken.rows_of("person")[0].values["fnr"] = "12345678901"  # wrong control digits
    (bad / "bad-fnr-and-date.docx").write_bytes(write_docx(spec, [broken])[0]["W-005.docx"])
    odd_date = word_plan(6, rng)
    odd_date.rows_of("measure")[0].values["start"] = "2022-02-30"
    (bad / "impossible-date.docx").write_bytes(write_docx(spec, [odd_date])[0]["W-006.docx"])


if __name__ == "__main__":
    make_samples(Path(__file__).resolve().parent / "samples")
