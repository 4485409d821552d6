"""Write the synthetic PlanPro-style sample exports (mappings/planpro/samples/).

All people, numbers and organisations are invented. Fødselsnumre are synthetic (month + 80,
the convention for synthetic test identities) with valid control digits.

    .venv/bin/python mappings/planpro/make_samples.py          # rewrite samples/
    synthetic_export(n, seed) -> dict[str, bytes]                 # used by bench/import_throughput.py
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fhirip.mapping.planpro import write_planpro  # noqa: E402
from fhirip.mapping.records import PlanRecord, SourceRow  # noqa: E402
from fhirip.mapping.spec import load_spec  # noqa: E402
from fhirip.mapping.values import fnr_check_digits, parse_norwegian_datetime  # noqa: E402

GIVEN = ["Kari", "Ola", "Ingrid", "Per", "Åse", "Bjørn", "Sølvi", "Håkon", "Marit", "Øystein", "Linnéa", "Trond"]
FAMILY = ["Nordmann", "Hansen", "Olsen", "Bakke", "Sæther", "Løvås", "Æsøy", "Strøm", "Dahl", "Haugen"]
STREETS = ["Storgata", "Kirkeveien", "Skoleveien", "Fjordgata", "Løkkeveien"]
PLACES = [("4306", "Sandnes"), ("4010", "Stavanger"), ("0450", "Oslo"), ("7030", "Trondheim")]
ORGANISATIONS = [("Sandnes kommune, psykisk helse", "964965137"), ("Helse Stavanger HF", "983974678"),
                 ("NAV Sandnes", "889640782"), ("Sandnes legesenter", "")]
TILTAK = [("PSYK", "Psykoterapi", "HELSE"), ("DAGT", "Dagtilbud ved institusjon", "ARBEID"),
          ("STOTT", "Støttekontakt", "SOSIALT"), ("BOTR", "Miljøarbeidertjeneste / botrening", "BOLIG"),
          ("MEDI", "Hjelp til medisinadministrering", "HELSE"), ("ARBT", "Arbeidstilbud for uføretrygdede", "ARBEID"),
          ("BOLS", "Søknad om kommunal bolig", "BOLIG"), ("KRIS", "Kriseplan", "HELSE"),
          ("PLAN", "Planlegging av arbeid", "ARBEID")]
GOALS = [("BOLIG", "Få egen leilighet i kommunen"), ("SOSIALT", "Få flere venner"),
         ("ARBEID", "Komme i arbeid, gjerne 50 % stilling"), ("HELSE", "Unngå nye innleggelser"),
         ("OKONOMI", "Ha oversikt over egen økonomi")]


def synthetic_fnr(rng: random.Random) -> tuple[str, str]:
    while True:
        day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1950, 2005)
        individual = rng.randint(0, 499) if year < 2000 else rng.randint(500, 999)
        first = f"{day:02d}{month + 80:02d}{year % 100:02d}{individual:03d}"
        digits = fnr_check_digits(first)
        if digits:
            return first + digits, f"{year:04d}-{month:02d}-{day:02d}"


def _date(rng: random.Random, start: int = 2015, end: int = 2024) -> str:
    return f"{rng.randint(start, end):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _oslo_time(day: str, clock: str) -> str:
    year, month, date = day.split("-")
    return parse_norwegian_datetime(f"{date}.{month}.{year} {clock}")


def _partial(rng: random.Random) -> str:
    full = _date(rng, 1987, 2022)
    return rng.choice([full, full, full[:7], full[:4]])  # PlanPro users' "month known" / "year known"


def synthetic_plan(number: int, rng: random.Random, staff: list[SourceRow], code_list: dict[str, str],
                   *, complete: bool = True) -> PlanRecord:
    plan_key = f"IP-{number:06d}"
    record = PlanRecord("planpro", plan_key, code_lists={"tiltak": code_list})
    fnr, birth = synthetic_fnr(rng)
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    postal, city = rng.choice(PLACES)
    person_key = f"PER-{number:06d}"
    record.add(SourceRow("person", person_key, {
        "fnr": fnr, "given": given, "family": family, "birth_date": rng.choice([birth, birth[:4]]),
        "gender": rng.choice("MKU"), "address": f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
        "postal_code": postal, "city": city, "phone": f"9{rng.randint(1000000, 9999999)}",
        "language": rng.choice(["norsk", "norsk", "samisk", "polsk"])}, "person.csv"))
    start = _date(rng, 2019, 2023)
    record.add(SourceRow("plan", plan_key, {
        "person": person_key, "status": "AKTIV" if complete else rng.choice(["AKTIV", "UTKAST"]),
        "created": start, "period_start": rng.choice([start, start[:7]]), "period_end": f"{int(start[:4]) + 2}{start[4:]}",
        "situation": f"{given} bor alene og ønsker mer kontakt med andre.\nLiker å gå tur med hunden; «viktig med plass til hund».",
        "legal_basis": rng.choice(["SAMTYKKE"] * 5 + ["TPH"]), "next_revision": _date(rng, 2024, 2025)}, "plan.csv"))
    record.add(SourceRow("relative", f"PR-{number}-1", {
        "given": rng.choice(GIVEN), "family": family, "relationship": rng.choice(["MOR", "FAR", "SOSKEN", "VENN", "VERGE"]),
        "phone": f"4{rng.randint(1000000, 9999999)}", "address": f"{rng.choice(STREETS)} 3", "postal_code": postal,
        "city": city}, "parorende.csv"))
    team = rng.sample(staff, 3)
    for position, member in enumerate(team):
        role = "KOORD" if position == 0 and complete else rng.choice(["FASTLEGE", "PRIMKONT", "BEHANDLER", "FAGPERSON"])
        values = dict(member.values, role=role, period_start=start)
        record.add(SourceRow("participant", member.key, values, "deltakere.csv"))
    if complete:
        # consent to the plan holds until it is withdrawn: no end date
        record.add(SourceRow("consent", f"S-{number}-1", {"consent_type": "IP", "status": "SIGNERT", "date": start,
                                                          "valid_from": start}, "samtykker.csv"))
        record.add(SourceRow("consent", f"S-{number}-2", {"consent_type": "DELING", "status": "SIGNERT", "date": start,
                                                          "valid_from": start, "reserved_participant": team[2].key}, "samtykker.csv"))
    goals = rng.sample(GOALS, rng.randint(1, 3)) if complete else []
    for index, (area, text) in enumerate(goals, start=1):
        record.add(SourceRow("kartlegging", f"K-{number}-{index}", {
            "life_area": area, "goals_text": text, "own_contribution": "Kan selv ringe og avtale visning.",
            "others_contribution": "Broren kan hjelpe med flytting.", "comment": "Viktig med plass til hund",
            "date": start, "author": f"{given} {family}"}, "kartlegging.csv"))
        record.add(SourceRow("goal", f"M-{number}-{index}", {
            "life_area": area, "description": text, "status": rng.choice(["AKTIV", "AKTIV", "NÅDD"]),
            "main_goal": "J" if index == 1 else "N", "start": start, "due": _date(rng, 2024, 2026)}, "mal.csv"))
    for index in range(1, (rng.randint(1, 4) if complete else 0) + 1):
        code, name, area = rng.choice(TILTAK)
        measure_key = f"T-{number}-{index}"
        values = {"code": code, "name": name, "start": _partial(rng), "description": f"{name} to ganger i uka",
                  "extent": rng.choice(["2 timer per uke", "Brukeren er usikker", "50 % stilling"]),
                  "reason": "Brukerens eget ønske", "responsible": rng.choice(team).key, "follow_up": team[0].key,
                  "follow_up_provisional": rng.random() < 0.3, "next_evaluation": _date(rng, 2024, 2025),
                  "status": rng.choice(["10", "20", "30", "40", "50"]), "life_area": area,
                  "in_plan": rng.random() < 0.9}
        if goals:
            values["goal"] = f"M-{number}-1"
        if index > 1 and rng.random() < 0.3:
            values["part_of"] = f"T-{number}-1"
        record.add(SourceRow("measure", measure_key, values, "tiltak.csv"))
        record.add(SourceRow("measure_note", f"TN-{number}-{index}", {
            "measure": measure_key, "time": _oslo_time(_date(rng, 2023, 2024), "10:30"), "author": "Koordinator",
            "text": "Brukeren kontakter selv psykoterapeuten; avtalt oppfølging om tre uker."}, "tiltaksnotater.csv"))
        if values["status"] == "30":
            record.add(SourceRow("application", f"SO-{number}-{index}", {
                "measure": measure_key, "sent_to": "Tildelingskontoret", "sent": _date(rng, 2023, 2023),
                "answer_due": _date(rng, 2024, 2024), "status": "SENDT"}, "soknader.csv"))
        if rng.random() < 0.5:
            record.add(SourceRow("evaluation", f"E-{number}-{index}", {
                "measure": measure_key, "date": _date(rng, 2023, 2024), "evaluator_type": "BRUKER",
                "evaluator": team[0].key, "how_carried_out": "Gjennomført som avtalt, men ble avlyst to ganger.",
                "satisfied_extent": "Ja", "satisfied_quality": "Delvis", "conclusion": rng.choice(["FORTSETTE", "ENDRES", "OPPHORE"]),
                "comment": "Brukeren og fagpersonen er enige."}, "evalueringer.csv"))
    record.add(SourceRow("note", f"N-{number}-1", {
        "note_type": "Individuell plan-notat", "date": _oslo_time(start, "09:00"), "author": "Koordinator",
        "title": "Referat fra planmøte", "text": f"Møte med {given}.\nAvtalt: ny evaluering om tre måneder."}, "notater.csv"))
    return record


def synthetic_staff(rng: random.Random, count: int = 40) -> list[SourceRow]:
    staff = []
    for number in range(1, count + 1):
        organisation, orgnr = rng.choice(ORGANISATIONS)
        values = {"given": rng.choice(GIVEN), "family": rng.choice(FAMILY), "organization": organisation,
                  "phone": f"5{rng.randint(1000000, 9999999)}", "email": f"ansatt{number}@example.no"}
        if orgnr:
            values["orgnr"] = orgnr
        if rng.random() < 0.7:
            values["hpr"] = str(rng.randint(1000000, 9999999))
        staff.append(SourceRow("participant", f"D-{number:04d}", values, "deltakere.csv"))
    return staff


def synthetic_plans(count: int, seed: int = 2003, incomplete_every: int = 0) -> list[PlanRecord]:
    rng = random.Random(seed)
    staff = synthetic_staff(rng)
    code_list = {code: name for code, name, _ in TILTAK}
    return [synthetic_plan(number, rng, staff, code_list,
                           complete=not (incomplete_every and number % incomplete_every == 0))
            for number in range(1, count + 1)]


def synthetic_export(count: int, seed: int = 2003) -> dict[str, bytes]:
    files, _ = write_planpro(load_spec("planpro"), synthetic_plans(count, seed, incomplete_every=10))
    return files


def _write(directory: Path, files: dict[str, bytes]) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)


def _replace_in(files: dict[str, bytes], name: str, old: bytes, new: bytes) -> dict[str, bytes]:
    assert old in files[name], (name, old)
    changed = dict(files)
    changed[name] = files[name].replace(old, new, 1)
    return changed


def _rekey(plan: PlanRecord, plan_key: str, person_key: str) -> None:
    """Give a generated plan its own plan key and person key."""
    plan.key = plan_key
    for rows in plan.rows.values():
        for item in rows:
            if item.kind == "plan":
                item.key = plan_key
                item.values["person"] = person_key
            elif item.kind == "person":
                item.key = person_key


def make_samples(target: Path) -> None:
    spec = load_spec("planpro")
    plans = synthetic_plans(5, seed=17)
    plans.append(synthetic_plans(1, seed=99, incomplete_every=1)[0])  # an incomplete plan: no coordinator, no consent
    _rekey(plans[-1], "IP-UFERDIG", "PER-UFERDIG")
    # unknown codes: a livsområde and a tiltak code the lists do not hold
    plans[1].rows_of("goal")[0].values["life_area"] = "FRITID"
    plans[1].rows_of("measure")[0].values["code"] = "HUND"
    files, _ = write_planpro(spec, plans)
    _write(target / "good", files)

    bad = target / "bad"
    # impossible date: 30 February in a measure's start
    first_start = files["tiltak.csv"].split(b"\r\n")[1].split(b";")[4]
    _write(bad / "impossible-date", _replace_in(files, "tiltak.csv", b";" + first_start + b";", b";30.02.2021;"))
    # missing column: the measure status column is gone from tiltak.csv
    lines = files["tiltak.csv"].decode("cp1252").split("\r\n")
    status_at = lines[0].split(";").index("status")
    trimmed = "\r\n".join(";".join(c for i, c in enumerate(line.split(";")) if i != status_at) if line else line
                          for line in lines)
    _write(bad / "missing-column", dict(files, **{"tiltak.csv": trimmed.encode("cp1252")}))
    # wrong encoding: one participant row saved as UTF-8 by a text editor
    participant_lines = files["deltakere.csv"].split(b"\r\n")
    utf8_row = participant_lines[1].decode("cp1252").replace(participant_lines[1].decode("cp1252").split(";")[2], "Bjørnar Åsen", 1)
    participant_lines[1] = utf8_row.encode("utf-8")
    _write(bad / "wrong-encoding", dict(files, **{"deltakere.csv": b"\r\n".join(participant_lines)}))
    # a plan row with a field too many, and a goal row pointing at a plan that does not exist
    plan_lines = files["plan.csv"].split(b"\r\n")
    plan_lines[2] = plan_lines[2] + b";ekstra"
    broken = dict(files, **{"plan.csv": b"\r\n".join(plan_lines)})
    broken["mal.csv"] = files["mal.csv"].rstrip(b"\r\n") + "\r\nM-X;IP-FINNES-IKKE;HELSE;Et mål uten plan;AKTIV;N;;\r\n".encode("cp1252")
    _write(bad / "broken-rows", broken)
    # the plan file itself is missing
    _write(bad / "missing-plan-file", {k: v for k, v in files.items() if k != "plan.csv"})
    # a second open plan for a person who already has one (one individual plan per person)
    second = synthetic_plans(1, seed=98, incomplete_every=1)[0]
    _rekey(second, "IP-ANDRE", plans[0].rows_of("person")[0].key)
    second.rows["person"] = list(plans[0].rows_of("person"))
    second_files, _ = write_planpro(spec, [*plans[:5], second])
    _write(bad / "second-open-plan", second_files)


if __name__ == "__main__":
    make_samples(Path(__file__).resolve().parent / "samples")
