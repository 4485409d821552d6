"""A transaction request on a store whose writers queue for one lock (SQLite) is checked before its
transaction takes the lock (`fhirip.interactions.bundle.checked_before_the_lock`): the transaction
takes those checks for exactly the content checked and stores what it stores when it checks every
entry itself, refuses what it refuses with the same answer, and on PostgreSQL nothing is checked ahead."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from migration.conftest import FreshStore

from fhirip.auth.actor import Actor, ActorKind
from fhirip.auth.scopes import ScopeSet
from fhirip.context import Services
from fhirip.errors import FhirError
from fhirip.interactions import bundle as bundle_module
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.validation.checked_ahead import CheckedAhead

from .conftest import plan_bundles, write_export, wrong_check_digit
from .store_tables import table_views

CHECKED_BEFORE_THE_LOCK = bundle_module.checked_before_the_lock
SYSTEM = Actor(sub="ehr-system", kind=ActorKind.SYSTEM, issuer="https://helseid.example",
               client_id="ehr-system", scopes=ScopeSet.parse("system/*.cruds"))



def _post(services: Services, bundle: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        response = handle(services, FhirRequest(method="POST", resource=copy.deepcopy(bundle),
                                                base_url="http://fhirip.test/fhir"), [], SYSTEM)
    except FhirError as error:
        return error.status, error.outcome()
    return response.status, response.resource


class _Seen:
    """The checks each transaction was given (None where none were made)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, ahead: bool) -> None:
        self.checks: list[CheckedAhead | None] = []
        def recorded(services: Services, req: FhirRequest, actor: Actor) -> CheckedAhead | None:
            found = CHECKED_BEFORE_THE_LOCK(services, req, actor) if ahead else None
            self.checks.append(found)
            return found

        monkeypatch.setattr(bundle_module, "checked_before_the_lock", recorded)


def _run(fresh: FreshStore, monkeypatch: pytest.MonkeyPatch, label: str, bundles: list[dict[str, Any]],
         *, ahead: bool) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, Any], _Seen]:
    services = fresh.services(label)
    seen = _Seen(monkeypatch, ahead=ahead)
    try:
        answers = [_post(services, bundle) for bundle in bundles]
        services.audit_trail.flush()
        return answers, table_views(services), seen
    finally:
        services.audit_trail.close()
        services.store.dispose()


def _entries(answer: dict[str, Any]) -> list[str]:
    return [entry["response"]["status"] for entry in answer.get("entry", [])]


@pytest.mark.parametrize("fresh", ["sqlite"], indirect=True)
def test_transactions_checked_before_the_lock_store_what_transactions_checking_every_entry_store(
        fresh: FreshStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundles = plan_bundles(write_export(tmp_path / "export", 6))
    plain, plain_tables, plain_seen = _run(fresh, monkeypatch, "plain", bundles, ahead=False)
    checked, checked_tables, checked_seen = _run(fresh, monkeypatch, "ahead", bundles, ahead=True)
    assert [status for status, _ in plain] == [200] * len(bundles)
    assert [(status, _entries(answer)) for status, answer in checked] == \
        [(status, _entries(answer)) for status, answer in plain]
    assert plain_seen.checks == [None] * len(bundles)
    created = [sum(status.startswith("201") for status in _entries(answer)) for _, answer in checked]
    taken = [checks.taken for checks in checked_seen.checks if checks is not None]
    assert len(taken) == len(bundles)
    assert taken[0] == 2 * created[0]  # into an empty store: every entry's parse and validation
    # Later plans name practitioners an earlier one created, under ids the checks could not foresee:
    # the entries that refer to them are checked by the transaction itself.
    assert all(0 < found <= 2 * made for found, made in zip(taken, created, strict=True))
    assert sum(checks.rows_taken for checks in checked_seen.checks if checks is not None) > 0
    assert all(plain_tables[table] for table in ("resource_version", "search_token", "search_reference"))
    for table, rows in plain_tables.items():  # each request's AuditEvent records its own moment
        assert _without_audit(checked_tables[table]) == _without_audit(rows), table


def _without_audit(rows: Any) -> dict[str, int]:
    return {row: count for row, count in rows.items() if '"AuditEvent"' not in row}


@pytest.mark.parametrize("fresh", ["sqlite"], indirect=True)
def test_a_transaction_refused_after_its_checks_ahead_is_refused_with_the_same_answer(
        fresh: FreshStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = plan_bundles(write_export(tmp_path / "export", 1))[0]
    wrong_check_digit(bundle)
    (plain,), _, _ = _run(fresh, monkeypatch, "plain", [bundle], ahead=False)
    (checked,), _, seen = _run(fresh, monkeypatch, "ahead", [bundle], ahead=True)
    assert plain[0] == 422 and "fødselsnummer" in str(plain[1])
    assert checked == plain
    assert seen.checks[0] is not None and seen.checks[0].taken > 0


@pytest.mark.parametrize("fresh", ["sqlite"], indirect=True)
def test_a_caller_whose_token_reaches_no_create_of_a_type_gets_nothing_checked_ahead(
        fresh: FreshStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = plan_bundles(write_export(tmp_path / "export", 1))[0]
    services = fresh.services("scoped")
    try:
        reader = replace(SYSTEM, scopes=ScopeSet.parse("system/*.rs system/Patient.c"))
        request = FhirRequest(method="POST", resource=copy.deepcopy(bundle), base_url="http://fhirip.test/fhir")
        assert CHECKED_BEFORE_THE_LOCK(services, request, reader) is None
        request = FhirRequest(method="POST", resource=copy.deepcopy(bundle), base_url="http://fhirip.test/fhir")
        assert CHECKED_BEFORE_THE_LOCK(services, request, SYSTEM) is not None
    finally:
        services.audit_trail.close()
        services.store.dispose()


@pytest.mark.parametrize("fresh", ["postgresql"], indirect=True)
def test_on_postgresql_a_transaction_is_not_checked_ahead(
        fresh: FreshStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = plan_bundles(write_export(tmp_path / "export", 1))[0]
    (answer,), _, seen = _run(fresh, monkeypatch, "pg", [bundle], ahead=True)
    assert answer[0] == 200
    assert seen.checks == []  # where writers do not queue for one lock there is nothing to gain
