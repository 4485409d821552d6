"""Write the synthetic ACOS IP-style sample exports (mappings/acos/samples/). All data invented.

    .venv/bin/python mappings/acos/make_samples.py
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "mappings" / "planpro"))

from fhirip.mapping.acos import write_acos  # noqa: E402
from fhirip.mapping.records import PlanRecord, SourceRow  # noqa: E402
from fhirip.mapping.spec import load_spec  # noqa: E402
from make_samples import FAMILY, GIVEN, ORGANISATIONS, synthetic_fnr  # noqa: E402

AREAS = ["bolig", "okonomi", "helse", "arbeid", "sosialt"]


def acos_plan(number: int, rng: random.Random, *, complete: bool = True) -> PlanRecord:
    key = f"A-{number:04d}"
    plan = PlanRecord("acos", key)
    fnr, birth = synthetic_fnr(rng)
    plan.add(SourceRow("person", f"P-{number}", {"fnr": fnr, "given": rng.choice(GIVEN), "family": rng.choice(FAMILY),
                                                  "birth_date": birth, "phone": "91234567", "address": "Kirkeveien 12",
                                                  "postal_code": "0450", "city": "Oslo"}, "x"))
    plan.add(SourceRow("plan", key, {"status": "Aktiv" if complete else "UnderArbeid", "period_start": "2022-03-01",
                                     "period_end": "2024-03-01", "situation": "Går på videregående; ønsker å bo hjemme.",
                                     "legal_basis": "Samtykke", "next_revision": "2024-01"}, "x"))
    plan.add(SourceRow("relative", f"PR-{number}", {"relationship": "Mor", "given": "Åse", "family": "Nordmann",
                                                    "phone": "47000000"}, "x"))
    staff = []
    for index, role in enumerate(["Koordinator" if complete else "Tjenesteyter", "Fastlege", "Tjenesteyter"], start=1):
        organisation, orgnr = rng.choice(ORGANISATIONS)
        values = {"role": role, "given": rng.choice(GIVEN), "family": rng.choice(FAMILY), "organization": organisation,
                  "phone": "22000000", "email": f"a{number}{index}@example.no", "period_start": "2022-03-01"}
        if orgnr:
            values["orgnr"] = orgnr
        if index != 3:
            values["hpr"] = str(9000000 + number * 10 + index)
        staff.append(f"AD-{number}-{index}")
        plan.add(SourceRow("participant", staff[-1], values, "x"))
    if complete:
        plan.add(SourceRow("consent", f"AS-{number}-1", {"consent_type": "Utarbeidelse", "status": "Gitt", "date": "2022-02-20",
                                                         "valid_from": "2022-03-01", "valid_to": "2024-03-01"}, "x"))
        plan.add(SourceRow("consent", f"AS-{number}-2", {"consent_type": "Deling", "status": "Gitt", "date": "2022-02-20",
                                                         "valid_from": "2022-03-01", "reserved_participant": staff[2]}, "x"))
    plan.add(SourceRow("goal", f"AM-{number}-1", {"life_area": rng.choice(AREAS), "status": "Aktiv",
                                                  "description": "Fullføre videregående skole", "due": "2024-06"}, "x"))
    plan.add(SourceRow("measure", f"AT-{number}-1", {"status": "Igangsatt", "life_area": "arbeid", "goal": f"AM-{number}-1",
                                                     "responsible": staff[0], "name": "Støttekontakt",
                                                     "description": "Støttekontakt to ettermiddager i uka",
                                                     "extent": "6 timer per uke", "start": "2022-04",
                                                     "next_evaluation": "2023-10-01"}, "x"))
    plan.add(SourceRow("meeting", f"MO-{number}-1", {"start": "2023-01-10T10:00:00+01:00", "place": "Bydel Frogner",
                                                     "topic": "Ansvarsgruppemøte: evaluering av tiltak"}, "x"))
    for index, member in enumerate(staff, start=1):
        plan.add(SourceRow("invitation", f"IN-{number}-{index}", {"meeting": f"MO-{number}-1", "invitee": member,
                                                                  "answer": ["Ja", "Nei", "IkkeSvart"][index - 1],
                                                                  "sent": "2022-12-15"}, "x"))
    plan.add(SourceRow("minutes", f"RE-{number}-1", {"meeting": f"MO-{number}-1", "written": "2023-01-11",
                                                     "author": "Koordinator", "text": "Til stede: bruker, mor, koordinator.\nAvtalt: fortsette."}, "x"))
    plan.add(SourceRow("history", f"H-{number}-1", {"time": "2022-03-01T09:15:00+01:00", "user": "koordinator",
                                                    "text": "Plan opprettet"}, "x"))
    return plan


def make_samples(target: Path) -> None:
    spec = load_spec("acos")
    rng = random.Random(5)
    plans = [acos_plan(n, rng) for n in range(1, 4)] + [acos_plan(4, rng, complete=False)]
    plans[1].rows_of("goal")[0].values["life_area"] = "fritid"  # unknown code
    files, _ = write_acos(spec, plans)
    good, bad = target / "good", target / "bad"
    for directory in (good, bad):
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
    for name, data in files.items():
        (good / name).write_bytes(data)
    sample = files["A-0001.xml"]
    (bad / "broken.xml").write_bytes(sample.replace(b"</Planinfo>", b"", 1))
    (bad / "bomb.xml").write_bytes(
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        b' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
        b' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n]>\n'
        b'<IndividuellPlan xmlns="urn:acos:ip:eksport:1" PlanId="BOMB"><Planinfo>&lol3;</Planinfo></IndividuellPlan>\n')
    (bad / "wrong-encoding.xml").write_bytes(sample.decode("utf-8").encode("latin-1"))
    (bad / "impossible-date.xml").write_bytes(sample.replace(b"<Oppstart>2022-04</Oppstart>", b"<Oppstart>2022-13-40</Oppstart>", 1))
    (bad / "missing-fnr.xml").write_bytes(sample.replace(b"<Fodselsnummer>", b"<Fodselsnr>", 1).replace(b"</Fodselsnummer>", b"</Fodselsnr>", 1))


if __name__ == "__main__":
    make_samples(Path(__file__).resolve().parent / "samples")
