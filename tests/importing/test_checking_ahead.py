"""Plans checked ahead in a helper process: the writer takes a check only for exactly the content
checked, refuses what it refused before with the same outcome, and stores what it stored before."""

from __future__ import annotations

import copy
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from migration.conftest import FreshStore
from migration.store_view import stored
from sqlalchemy import select

from fhirip.context import Services
from fhirip.mapping import run_import
from fhirip.mapping.checking_ahead import AheadChecker
from fhirip.mapping.store_batches import BatchedStoreSink
from fhirip.search.index import _PARAM_CACHE, _indexed_params
from fhirip.search.index_ahead import _STAMP_FREE, stamp_free
from fhirip.search.registry import SearchParam, registry
from fhirip.store.schema import search_string
from fhirip.terminology import TerminologyService
from fhirip.validation.checked_ahead import CheckedAhead, StoreFreeValidation, unstamped_digest
from fhirip.validation.fhirpath import watch_clock
from fhirip.validation.validator import Validator

from .conftest import plan_bundles, write_export, wrong_check_digit
from .store_tables import table_views



def _check_into(validator: Any, bundles: list[dict[str, Any]], channel: Any) -> None:
    checker = AheadChecker(validator)
    channel.put([checker.check(bundle) for bundle in bundles])


def checked_in_a_helper_process(services: Services, bundles: list[dict[str, Any]]) -> list[CheckedAhead | None]:
    """The checks the import's helper process makes, made by a forked process as it does."""
    validator = BatchedStoreSink(services).validator()
    assert validator is not None
    context = multiprocessing.get_context("fork")
    channel = context.Queue()
    helper = context.Process(target=_check_into, args=(validator, bundles, channel))
    helper.start()
    try:
        return channel.get(timeout=120)
    finally:
        helper.join(timeout=10)


@contextmanager
def validated_by_the_writer(services: Services) -> Iterator[list[str]]:
    """The resource types the writer's own validator validates while the block runs."""
    validator = BatchedStoreSink(services).validator()
    seen: list[str] = []
    original = validator.validate

    def counting(resource: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        seen.append(resource["resourceType"])
        return original(resource, *args, **kwargs)

    validator.validate = counting
    try:
        yield seen
    finally:
        del validator.validate


def _resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)


def _active_plan_without_period(bundle: dict[str, Any]) -> None:
    plan = _resource(bundle, "CarePlan")
    plan["status"] = "active"
    plan.pop("period")


def _impossible_date(bundle: dict[str, Any]) -> None:
    _resource(bundle, "CarePlan")["period"] = {"start": "2024-02-30"}


def _answers(fresh: FreshStore, bundle: dict[str, Any], checks: CheckedAhead | None) -> tuple[dict, dict, list[str]]:
    """(answer today, answer with the checks, types the writer validated itself) in two fresh stores."""
    today, ahead = fresh.services("today"), fresh.services("ahead")
    try:
        sink = BatchedStoreSink(today)
        plain = sink.submit(copy.deepcopy(bundle))
        sink.commit()
        sink = BatchedStoreSink(ahead)
        with validated_by_the_writer(ahead) as seen:
            answer = sink.submit(copy.deepcopy(bundle), checks)
        sink.commit()
    finally:
        today.store.dispose()
        ahead.store.dispose()
    return plain, answer, seen


def _checked_by_a_helper(fresh: FreshStore, bundle: dict[str, Any]) -> Any:
    """The checks a helper process (with a store of its own) makes of this plan."""
    helper = fresh.services("helper")
    try:
        checks = checked_in_a_helper_process(helper, [bundle])[0]
    finally:
        helper.store.dispose()
    assert checks is not None
    return checks


@pytest.mark.parametrize("break_it", [wrong_check_digit, _active_plan_without_period, _impossible_date])
def test_an_invalid_plan_checked_ahead_is_refused_with_the_outcome_of_today(
        fresh: FreshStore, tmp_path: Path, break_it: Any) -> None:
    bundle = plan_bundles(write_export(tmp_path / "export", 1))[0]
    break_it(bundle)
    checks = _checked_by_a_helper(fresh, bundle)
    plain, answer, _ = _answers(fresh, bundle, checks)
    assert plain["resourceType"] == "OperationOutcome" and plain["issue"][0]["severity"] == "error"
    assert answer == plain
    if break_it is not _impossible_date:  # the model parse fails in the helper too: nothing to take
        assert checks.taken > 0


def test_a_plan_changed_after_its_check_is_checked_again_and_refused_as_today(fresh: FreshStore,
                                                                             tmp_path: Path) -> None:
    bundle = plan_bundles(write_export(tmp_path / "export", 1))[0]
    checks = _checked_by_a_helper(fresh, bundle)
    wrong_check_digit(bundle)  # after the check
    plain, answer, seen = _answers(fresh, bundle, checks)
    assert plain["resourceType"] == "OperationOutcome" and "fødselsnummer" in plain["issue"][0]["diagnostics"]
    assert answer == plain
    assert seen == ["Patient"]  # the changed resource, validated in full by the writer


def test_a_harmless_change_after_the_check_is_validated_by_the_writer_and_stored(services: Services,
                                                                                tmp_path: Path) -> None:
    bundle = plan_bundles(write_export(tmp_path / "export", 1))[0]
    checks = checked_in_a_helper_process(services, [bundle])[0]
    assert checks is not None
    _resource(bundle, "Patient")["name"][0]["family"] = "Endret"
    sink = BatchedStoreSink(services)
    with validated_by_the_writer(services) as seen:
        answer = sink.submit(bundle, checks)
    sink.commit()
    assert answer["resourceType"] == "Bundle"
    assert seen == ["Patient"]
    created = len(answer["entry"])
    assert checks.taken == 2 * (created - 1)  # the parse and validation of all but the changed Patient
    assert [r["name"][0]["family"] for r in stored(services) if r["resourceType"] == "Patient"] == ["Endret"]
    assert checks.rows_taken == created - 1  # not the changed Patient's
    with services.store.engine.connect() as conn:  # the changed Patient's rows come from its stored content
        families = conn.execute(select(search_string.c.value).where(
            search_string.c.res_type == "Patient", search_string.c.param == "family")).scalars().all()
    assert families == ["endret"]


def test_content_seen_before_in_the_run_is_checked_once(tmp_path: Path) -> None:
    bundles = plan_bundles(write_export(tmp_path / "export", 6))
    practitioners = [e["resource"] for bundle in bundles for e in bundle["entry"]
                     if e["resource"]["resourceType"] == "Practitioner"]
    assert len(practitioners) > len({orjson.dumps(p) for p in practitioners})  # the export repeats some
    validator = Validator(terminology=TerminologyService(), allow_synthetic_identifiers=True)
    validated: list[str] = []
    original = validator.validate
    validator.validate = lambda resource: validated.append(resource["resourceType"]) or original(resource)
    checker = AheadChecker(validator)
    try:
        results = [checker.check(bundle) for bundle in bundles]
    finally:
        watch_clock(None)
    assert validated.count("Practitioner") == len({orjson.dumps(p) for p in practitioners})
    for bundle, checks in zip(bundles, results):  # each plan still carries the outcomes of all its resources
        assert checks is not None and len(checks.parsed) == len({orjson.dumps(e["resource"]) for e in bundle["entry"]})


def test_index_rows_are_taken_for_exactly_the_content_they_were_extracted_from() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "meta": {"profile": ["http://example.org/p"]},
               "name": [{"family": "Nordmann"}]}
    checks = CheckedAhead(index_rows={unstamped_digest(patient): {"search_string": [("Patient", "family", 0, "x", "X")]}})
    stamped = copy.deepcopy(patient)
    stamped["meta"] = {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00.000+00:00", **stamped["meta"]}
    assert checks.index_rows_of("Patient", stamped) is not None  # the store's stamps are not content
    assert checks.index_rows_of("Patient", {**stamped, "gender": "female"}) is None
    assert checks.index_rows_of("Patient", {**stamped, "meta": {**stamped["meta"], "tag": [{"code": "t"}]}}) is None
    assert checks.rows_taken == 1
    bare = {"resourceType": "Patient", "id": "p2"}
    assert unstamped_digest({**bare, "meta": {"versionId": "3", "lastUpdated": "x"}}) == unstamped_digest(bare)
    narrated = {**bare, "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">p</div>"}}
    assert unstamped_digest(narrated) == unstamped_digest(bare)


def test_only_types_whose_index_reads_no_stamp_or_narrative_take_rows_extracted_ahead() -> None:
    assert stamp_free("Patient") and stamp_free("CarePlan") and stamp_free("CareTeam")
    reg = registry()
    narrative = SearchParam(code="narrative-status", url="http://example.org/sp/ns", type="token",
                            description="", bases=("Basic",), expressions={"Basic": "Basic.text.status"})
    stamp = SearchParam(code="version", url="http://example.org/sp/v", type="token",
                        description="", bases=("Basic",), expressions={"Basic": "Basic.meta.versionId"})
    for param in (narrative, stamp):
        _STAMP_FREE.pop("Basic", None)
        _PARAM_CACHE["Basic"] = [*(_PARAM_CACHE.get("Basic") or _indexed_params(reg, "Basic")), (param.code, param)]
        try:
            assert not stamp_free("Basic")
        finally:
            _PARAM_CACHE.pop("Basic", None)
            _STAMP_FREE.pop("Basic", None)
    assert stamp_free("Basic")


def test_a_proposed_id_that_is_taken_gives_way_to_a_fresh_one(services: Services, tmp_path: Path) -> None:
    bundle = plan_bundles(write_export(tmp_path / "export", 1))[0]
    checks = checked_in_a_helper_process(services, [bundle])[0]
    assert checks is not None
    patient_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    taken = checks.proposed_id(patient_url)
    with services.store.transaction(write=True) as tx:
        tx.write({"resourceType": "Patient", "id": taken, "active": False}, method="PUT", previous=None)
    sink = BatchedStoreSink(services)
    with validated_by_the_writer(services) as seen:
        answer = sink.submit(bundle, checks)
    sink.commit()
    assert answer["resourceType"] == "Bundle", answer
    patients = [r for r in stored(services) if r["resourceType"] == "Patient"]
    assert len(patients) == 2
    imported = next(r for r in patients if r.get("identifier"))
    assert imported["id"] != taken
    assert "Patient" in seen  # its content (its id) is not the content checked
    plan = next(r for r in stored(services) if r["resourceType"] == "CarePlan")
    assert plan["subject"]["reference"] == f"Patient/{imported['id']}"


def test_an_import_checked_ahead_stores_what_todays_import_stores(fresh: FreshStore, tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", 24)
    today, ahead = fresh.services("today"), fresh.services("ahead")
    try:
        plain = run_import("planpro", export, BatchedStoreSink(today, plans_per_commit=5), progress=False,
                           prepare_in_background=True, check_ahead=False)
        checked = run_import("planpro", export, BatchedStoreSink(ahead, plans_per_commit=5), progress=False,
                             prepare_in_background=True)
        today_tables, ahead_tables = table_views(today), table_views(ahead)
    finally:
        today.store.dispose()
        ahead.store.dispose()
    assert (checked.plans_imported, checked.resources_created, len(checked.errors)) == \
        (plain.plans_imported, plain.resources_created, len(plain.errors))
    assert plain.resources_created > 200 and plain.checks_taken == 0
    assert checked.checks_taken == 2 * checked.resources_created  # each created resource's parse and validation
    assert plain.index_rows_taken == 0  # and with the checks, every created resource's index rows:
    assert checked.index_rows_taken == checked.resources_created  # the plan's narrative is not indexed
    assert all(today_tables[table] for table in ("resource_version", "resource_link", "search_token",
                                                 "search_reference", "search_date", "search_string"))
    for table, rows in today_tables.items():
        assert ahead_tables[table] == rows, table


def test_a_validation_that_needs_stored_terminology_is_left_to_the_writer() -> None:
    asked: list[str] = []
    validator = Validator(terminology=TerminologyService(extra=lambda kind, url: asked.append(url)),
                          allow_synthetic_identifiers=True)
    relative = {"resourceType": "RelatedPerson", "id": "r1", "patient": {"reference": "Patient/p1"},
                "meta": {"profile": ["http://fhirip.no/fhir/StructureDefinition/ip-RelatedPerson"]},
                "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                              "code": "MTH"}]}]}
    expected = validator.validate(copy.deepcopy(relative))
    assert asked  # the writer's validator looks in the store for the code system
    store_free = StoreFreeValidation(validator)
    asked.clear()
    assert store_free.validate(copy.deepcopy(relative)) is None
    assert store_free.validate(copy.deepcopy(relative)) is None  # not hidden by a cached answer
    assert asked == []  # the store's resolver is never called here
    patient = {"resourceType": "Patient", "id": "p1", "active": True}
    same_terminology = Validator(terminology=TerminologyService(), allow_synthetic_identifiers=True)
    assert store_free.validate(patient) == same_terminology.validate(patient)
    assert expected is not None
    watch_clock(None)


def test_a_validation_that_reads_the_clock_is_left_to_the_writer(tmp_path: Path) -> None:
    bundle = plan_bundles(write_export(tmp_path / "export", 1))[0]
    team = dict(_resource(bundle, "CareTeam"), id="t1",
                meta={"profile": ["http://fhirip.no/fhir/StructureDefinition/ip-CareTeam"]})  # invariants with now()
    validator = Validator(terminology=TerminologyService(), allow_synthetic_identifiers=True)
    store_free = StoreFreeValidation(validator)
    try:
        assert store_free.validate(copy.deepcopy(team)) is None
        patient = dict(_resource(bundle, "Patient"), id="p1")
        assert store_free.validate(copy.deepcopy(patient)) == validator.validate(copy.deepcopy(patient))
    finally:
        watch_clock(None)
