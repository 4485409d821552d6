"""Bad legacy input is reported per record with file and line, and the run goes on."""

from __future__ import annotations

from pathlib import Path

from fhirip.mapping import read_plans, to_bundle
from fhirip.mapping.records import PlanRecord, RecordError

BAD = Path(__file__).resolve().parents[2] / "mappings" / "planpro" / "samples" / "bad"


def _read(case: str) -> tuple[list[PlanRecord], list[RecordError]]:
    items = list(read_plans("planpro", BAD / case))
    return [i for i in items if isinstance(i, PlanRecord)], [i for i in items if isinstance(i, RecordError)]


def test_an_impossible_date_is_a_loss_with_file_and_line_and_the_plan_still_imports() -> None:
    plans, errors = _read("impossible-date")
    assert errors == [] and len(plans) == 6
    _, losses = to_bundle(plans[0])
    loss = next(l for l in losses if l.value == "30.02.2021")
    assert (loss.file, loss.line, loss.field) == ("tiltak.csv", 2, "oppstartdato")
    assert "impossible date" in loss.reason


def test_a_missing_required_column_drops_those_records_with_their_lines() -> None:
    plans, errors = _read("missing-column")
    assert errors == [] and len(plans) == 6
    losses = [l for p in plans for l in p.losses if l.file == "tiltak.csv"]
    assert any(l.line == 1 and l.field == "status" and "column missing" in l.reason for l in losses)
    assert any(l.line == 2 and "record not imported" in l.reason for l in losses)
    assert all(not p.rows_of("measure") for p in plans)


def test_a_utf8_row_in_a_cp1252_export_skips_its_plan_only() -> None:
    plans, errors = _read("wrong-encoding")
    assert [(e.file, e.line, e.plan_key) for e in errors] == [("deltakere.csv", 2, "IP-000001")]
    assert "UTF-8" in errors[0].reason
    assert {p.key for p in plans} == {"IP-000002", "IP-000003", "IP-000004", "IP-000005", "IP-UFERDIG"}


def test_a_row_with_too_many_fields_and_an_orphan_row_are_reported_and_others_import() -> None:
    plans, errors = _read("broken-rows")
    assert ("plan.csv", 4, "IP-000002") in {(e.file, e.line, e.plan_key) for e in errors}
    orphan = next(e for e in errors if e.plan_key == "IP-FINNES-IKKE")
    assert orphan.file == "mal.csv" and orphan.line is not None
    assert "IP-000002" not in {p.key for p in plans} and len(plans) == 5


def test_a_missing_plan_file_is_one_clear_error() -> None:
    plans, errors = _read("missing-plan-file")
    assert plans == [] and [(e.file, e.reason) for e in errors] == [("plan.csv", "file missing from the export")]


ACOS_BAD = Path(__file__).resolve().parents[2] / "mappings" / "acos" / "samples" / "bad"


def _acos(case: str) -> list[PlanRecord | RecordError]:
    return list(read_plans("acos", ACOS_BAD / case))


def test_an_xml_bomb_is_refused_before_any_entity_is_expanded() -> None:
    [error] = _acos("bomb.xml")
    assert isinstance(error, RecordError) and "DTDForbidden" in error.reason


def test_broken_xml_is_reported_with_its_line() -> None:
    [error] = _acos("broken.xml")
    assert isinstance(error, RecordError) and error.line == 99 and "mismatched tag" in error.reason


def test_latin1_bytes_in_a_utf8_xml_document_are_reported_with_their_line() -> None:
    [error] = _acos("wrong-encoding.xml")
    assert isinstance(error, RecordError) and error.line == 17


def test_a_plan_without_fodselsnummer_is_skipped_with_the_line_of_the_person() -> None:
    [error] = _acos("missing-fnr.xml")
    assert isinstance(error, RecordError) and (error.line, error.plan_key) == (3, "A-0001")


def test_an_impossible_xml_date_is_a_loss_with_its_line() -> None:
    [plan] = _acos("impossible-date.xml")
    loss = next(l for l in plan.losses if l.value == "2022-13-40")
    assert loss.line == 73 and loss.field == "Oppstart"


def test_a_whole_directory_of_bad_documents_reads_to_the_end() -> None:
    items = list(read_plans("acos", ACOS_BAD))
    assert len(items) == 5 and sum(isinstance(i, PlanRecord) for i in items) == 1


DOCX_BAD = Path(__file__).resolve().parents[2] / "mappings" / "docx" / "samples" / "bad"


def test_a_corrupted_docx_is_reported_and_the_directory_read_goes_on() -> None:
    items = list(read_plans("docx", DOCX_BAD))
    errors = {Path(i.file).name: i for i in items if isinstance(i, RecordError)}
    assert "not a readable .docx" in errors["corrupted.docx"].reason
    assert "not a readable .docx" in errors["not-a-docx.docx"].reason
    assert any(isinstance(i, PlanRecord) and i.key == "W-006" for i in items)


def test_a_wrong_fodselsnummer_in_a_word_plan_skips_it_with_the_line() -> None:
    [error] = list(read_plans("docx", DOCX_BAD / "bad-fnr-and-date.docx"))
    assert isinstance(error, RecordError) and error.line == 3 and "control digits" in error.reason


def test_an_impossible_date_in_a_word_table_is_a_loss_with_its_line() -> None:
    [plan] = list(read_plans("docx", DOCX_BAD / "impossible-date.docx"))
    loss = next(l for l in plan.losses if l.value == "30.02.2022")
    assert loss.field == "Oppstart" and loss.line is not None


def test_cp1252_text_whose_bytes_also_form_utf8_is_read_as_cp1252() -> None:
    from fhirip.mapping.delimited import encoding_problem

    assert encoding_problem("Å«".encode("cp1252"), "cp1252") is None  # C5 AB would be "ū" in UTF-8
    assert encoding_problem("Bjørnar Åsen".encode("utf-8"), "cp1252") is not None
