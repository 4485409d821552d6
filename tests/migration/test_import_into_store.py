"""Legacy plans imported into the real store: every good sample lands, re-running adds nothing,
incomplete plans are drafts, bad input is reported per record and the run goes on.

Each test runs on SQLite and on PostgreSQL, through the in-process submitter: the same
transaction interaction, profile validation and reference checks as an HTTP client's Bundle.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirip.context import Services
from fhirip.mapping import run_import
from fhirip.mapping.importer import EXIT_LOSSES, EXIT_OK, EXIT_SKIPPED
from fhirip.migration import submitter

from .store_view import business_identifiers, counts, stored

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
FAMILIES = ["planpro", "acos", "docx"]
GOOD_PLANS = {"planpro": 6, "acos": 4, "docx": 4}


def _import(services: Services, family: str, path: Path, tmp_path: Path):
    return run_import(family, path, submitter(services), progress=False,
                      checkpoint=tmp_path / f"{family}.checkpoint", report_path=tmp_path / f"{family}.json")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_good_sample_imports_and_a_rerun_creates_nothing(services: Services, family: str,
                                                                 tmp_path: Path) -> None:
    first = _import(services, family, MAPPINGS / family / "samples" / "good", tmp_path)
    assert first.errors == []
    assert first.exit_code in (EXIT_OK, EXIT_LOSSES)
    assert first.plans_imported == GOOD_PLANS[family]
    after_first = counts(services)
    assert after_first["CarePlan"] >= GOOD_PLANS[family] and after_first["Patient"] >= 1
    assert first.resources_created == sum(after_first.values())

    (tmp_path / f"{family}.checkpoint").unlink()  # forget the checkpoint: only identifiers keep it idempotent
    second = _import(services, family, MAPPINGS / family / "samples" / "good", tmp_path)
    assert (second.plans_imported, second.resources_created, second.errors) == (GOOD_PLANS[family], 0, [])
    assert counts(services) == after_first
    assert max(business_identifiers(stored(services)).values()) == 1  # nothing stored twice


def test_a_resumed_run_skips_checkpointed_plans_and_still_reports_their_losses(services: Services,
                                                                                tmp_path: Path) -> None:
    path = MAPPINGS / "planpro" / "samples" / "good"
    first = _import(services, "planpro", path, tmp_path)
    second = _import(services, "planpro", path, tmp_path)
    assert second.plans_already_done == first.plans_imported and second.resources_created == 0
    assert [l.to_json() for l in second.losses] == [l.to_json() for l in first.losses] != []
    assert second.exit_code == EXIT_LOSSES


def test_plans_from_all_three_families_share_one_store(services: Services, tmp_path: Path) -> None:
    for family in FAMILIES:
        summary = _import(services, family, MAPPINGS / family / "samples" / "good", tmp_path)
        assert summary.plans_imported == GOOD_PLANS[family], summary.errors
    plans = [r for r in stored(services) if r["resourceType"] == "CarePlan"
             and r["category"][0]["coding"][0]["code"] == "individuell-plan"]
    assert len(plans) == sum(GOOD_PLANS.values())


def test_an_incomplete_active_plan_lands_as_draft_never_active(services: Services, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for source in (MAPPINGS / "planpro" / "samples" / "good").iterdir():
        data = source.read_bytes()
        if source.name == "plan.csv":  # the unfinished plan claims to be active
            lines = data.split(b"\r\n")
            lines = [line.replace(b";UTKAST;", b";AKTIV;") if line.startswith(b"IP-UFERDIG;") else line
                     for line in lines]
            data = b"\r\n".join(lines)
        (export / source.name).write_bytes(data)
    assert [line for line in (export / "plan.csv").read_bytes().split(b"\r\n")
            if line.startswith(b"IP-UFERDIG;") and b";AKTIV;" in line]
    summary = _import(services, "planpro", export, tmp_path)
    assert summary.errors == []
    status_loss = [l for l in summary.losses if l.record.startswith("plan IP-UFERDIG") and l.field == "status"]
    assert status_loss and "imported as draft" in status_loss[0].reason
    by_key = {i["value"]: r for r in stored(services) if r["resourceType"] == "CarePlan"
              for i in r.get("identifier", []) if i["system"].endswith("/planpro/plan")}
    assert by_key["IP-UFERDIG"]["status"] == "draft"
    assert by_key["IP-000001"]["status"] == "active"


@pytest.mark.parametrize("family,sample,where", [
    ("planpro", "broken-rows", ("plan.csv", 4)),
    ("planpro", "wrong-encoding", ("deltakere.csv", 2)),
    ("acos", "broken.xml", ("broken.xml", 99)),
    ("acos", "bomb.xml", ("bomb.xml", None)),
    ("docx", "bad-fnr-and-date.docx", ("bad-fnr-and-date.docx", 3)),
    ("docx", "corrupted.docx", ("corrupted.docx", None)),
])
def test_bad_input_is_reported_with_file_and_line_and_the_run_goes_on(services: Services, tmp_path: Path,
                                                                       family: str, sample: str,
                                                                       where: tuple[str, int | None]) -> None:
    good = MAPPINGS / family / "samples" / "good"
    bad = MAPPINGS / family / "samples" / "bad" / sample
    if family == "planpro":
        path = bad  # an export is one directory: its good rows still import
    else:
        path = tmp_path / "mixed"
        path.mkdir()
        for source in [*good.iterdir(), bad]:
            (path / source.name).write_bytes(source.read_bytes())
    summary = _import(services, family, path, tmp_path)
    assert summary.exit_code == EXIT_SKIPPED
    assert any(Path(e.file).name == where[0] and e.line == where[1] for e in summary.errors), summary.errors
    assert summary.plans_imported >= 1 and counts(services)["CarePlan"] >= summary.plans_imported
    report = json.loads((tmp_path / f"{family}.json").read_text(encoding="utf-8"))
    assert report["exitCode"] == EXIT_SKIPPED and report["errors"]


def test_a_second_open_plan_for_a_person_is_refused_and_reported(services: Services, tmp_path: Path) -> None:
    from fhirip.plans import plan_rules

    if plan_rules not in services.write_hooks:
        pytest.skip("the individual-plan rules are not among this server's write hooks")
    summary = _import(services, "planpro", MAPPINGS / "planpro" / "samples" / "bad" / "second-open-plan", tmp_path)
    refused = [e for e in summary.errors if e.plan_key == "IP-ANDRE"]
    assert refused and (refused[0].file, refused[0].line) == ("plan.csv", 12)
    assert "one individual plan" in refused[0].reason
    assert summary.plans_imported == 5 and summary.exit_code == EXIT_SKIPPED


def test_a_plan_the_store_refuses_is_reported_and_leaves_nothing_behind(services: Services,
                                                                        tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for source in (MAPPINGS / "planpro" / "samples" / "good").iterdir():
        data = source.read_bytes()
        if source.name == "plan.csv":  # a completed plan needs an end of its period (ip-cp-6)
            lines = data.split(b"\r\n")
            header = lines[0].decode("cp1252").split(";")
            status, end = header.index("status"), header.index("periode_til")
            for i, line in enumerate(lines):
                if line.startswith(b"IP-000003;"):
                    cells = line.split(b";")
                    cells[status], cells[end] = b"AVSLUTTET", b""
                    lines[i] = b";".join(cells)
            data = b"\r\n".join(lines)
        (export / source.name).write_bytes(data)
    summary = _import(services, "planpro", export, tmp_path)
    refused = [e for e in summary.errors if e.plan_key == "IP-000003"]
    assert refused and refused[0].file == "plan.csv" and "ip-cp-6" in refused[0].reason
    assert summary.plans_imported == 5 and summary.exit_code == EXIT_SKIPPED
    identifiers = business_identifiers(stored(services))
    assert not [key for key in identifiers if "IP-000003" in key]  # one transaction: nothing of it landed
