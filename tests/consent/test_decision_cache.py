"""A decision is reused only while nothing it was made from has changed, and is made only
as far as a request needs it until then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fhirip.auth import Actor
from fhirip.consent import decide
from fhirip.consent.cache import DecisionCache, decide_cached
from fhirip.consent.deferred import DeferredPolicy, PartialDecision
from fhirip.consent.policy import AccessPolicy
from fhirip.demo import demo_bundle
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.testing.live import make_services

OLA = {"sub": "ola", "iss": "test", "helseid://claims/hpr/hpr_number": "9144889", "scope": "user/*.rs"}


@pytest.fixture
def services(tmp_path: Path):
    built = make_services("sqlite", tmp_path, None, "cache")
    handle(built, FhirRequest(method="POST", resource=demo_bundle()), [], internal=True)
    yield built
    built.store.dispose()


def _decide(services, cache: DecisionCache, claims=OLA):
    """The whole decision, as a request that needs it all makes it."""
    with services.store.transaction(write=False) as tx:
        policy = decide_cached(tx.conn, Actor.from_claims(claims), cache=cache)
        return policy.whole() if isinstance(policy, DeferredPolicy) else policy


def test_an_unchanged_store_reuses_the_decision(services) -> None:
    cache = DecisionCache()
    assert _decide(services, cache) is _decide(services, cache)


def test_another_caller_never_gets_the_decision(services) -> None:
    cache = DecisionCache()
    other = {**OLA, "helseid://claims/hpr/hpr_number": "9144900", "sub": "ingrid"}
    assert _decide(services, cache) is not _decide(services, cache, other)


def test_a_consent_write_makes_the_next_request_decide_afresh(services) -> None:
    cache = DecisionCache()
    before = _decide(services, cache)
    assert "demo-kari" in before.patients

    def withdraw(tx):
        import orjson

        consent = orjson.loads(tx.read("Consent", "demo-consent-sharing").content)
        consent["status"] = "inactive"
        tx.write(consent, method="PUT", previous=tx.current("Consent", "demo-consent-sharing"))

    services.store.run(withdraw, write=True)
    after = _decide(services, cache)
    assert after is not before
    assert "demo-kari" not in after.patients or after.administrative_only


def test_a_decision_expires_with_time(services) -> None:
    cache = DecisionCache(max_age=timedelta(seconds=10))
    policy = _decide(services, cache)
    key = next(iter(cache._entries))
    assert cache.get(key, policy.decided_at + timedelta(seconds=5)) is policy
    assert cache.get(key, datetime.now(UTC) + timedelta(seconds=11)) is None


def test_a_first_request_decides_only_the_patients_it_asks_about(services) -> None:
    cache = DecisionCache()
    with services.store.transaction(write=False) as tx:
        deferred = decide_cached(tx.conn, Actor.from_claims(OLA), cache=cache)
        assert isinstance(deferred, DeferredPolicy)
        scoped = deferred.scoped(tx.conn, {"demo-kari"})
        whole = decide(tx.conn, Actor.from_claims(OLA), now=deferred.decided_at)
        assert dict(scoped.grants) == {"demo-kari": whole.grants["demo-kari"]}
        assert deferred.consents_for("demo-kari") == whole.consents_for("demo-kari") != ()
        assert deferred.bases("demo-kari") == whole.bases("demo-kari") == ("coordinator",)
        assert [type(kept) for kept in cache._entries.values()] == [PartialDecision]  # no whole decision yet
        assert deferred.whole().grants == whole.grants
        assert [type(kept) for kept in cache._entries.values()] == [AccessPolicy]


def test_the_next_request_reuses_what_a_first_one_decided(services) -> None:
    cache = DecisionCache()
    with services.store.transaction(write=False) as tx:
        first = decide_cached(tx.conn, Actor.from_claims(OLA), cache=cache)
        scoped = first.scoped(tx.conn, {"demo-kari"})
    with services.store.transaction(write=False) as tx:
        second = decide_cached(tx.conn, Actor.from_claims(OLA), cache=cache)
        assert isinstance(second, DeferredPolicy) and second is not first
        assert second.decided_at == first.decided_at
        assert second.scoped(tx.conn, {"demo-kari"}) is scoped  # not decided again
        assert second.consents_for("demo-kari") == first.consents_for("demo-kari") != ()


def test_a_withdrawal_ends_what_a_first_request_decided(services) -> None:
    cache = DecisionCache()
    with services.store.transaction(write=False) as tx:
        before = decide_cached(tx.conn, Actor.from_claims(OLA), cache=cache).scoped(tx.conn, {"demo-kari"})
    assert before.grants["demo-kari"]

    def withdraw(tx):
        import orjson

        consent = orjson.loads(tx.read("Consent", "demo-consent-sharing").content)
        consent["status"] = "inactive"
        tx.write(consent, method="PUT", previous=tx.current("Consent", "demo-consent-sharing"))

    services.store.run(withdraw, write=True)
    with services.store.transaction(write=False) as tx:
        after = decide_cached(tx.conn, Actor.from_claims(OLA), cache=cache).scoped(tx.conn, {"demo-kari"})
    assert after is not before
    assert all(a.basis.value == "administrative" for a in after.grants.get("demo-kari", ()))


def test_a_decision_within_patients_grants_no_one_else(services) -> None:
    with services.store.transaction(write=False) as tx:
        scoped = decide(tx.conn, Actor.from_claims(OLA), within={"someone-else"})
    assert dict(scoped.grants) == {}


def test_a_read_decides_only_the_patients_whose_record_holds_the_resource(services) -> None:
    from fhirip.consent import cache as decision_cache

    actor = Actor.from_claims(OLA)
    response = handle(services, FhirRequest(method="GET", base_url="http://x"), ["CarePlan", "demo-plan"], actor)
    assert response.status == 200
    url = str(services.store.engine.url)
    kept = [value for key, value in decision_cache._CACHE._entries.items() if url in key]
    assert [type(value) for value in kept] == [PartialDecision]
    assert set(kept[0].known) == {"demo-kari"}


def test_a_system_clients_decision_reads_nothing_from_the_store(services) -> None:
    from sqlalchemy import event

    statements: list[str] = []
    system = Actor.from_claims({"sub": "ehr", "iss": "test", "client_id": "ehr", "scope": "system/*.rs"})
    with services.store.transaction(write=False) as tx:
        event.listen(tx.conn, "before_cursor_execute", lambda *args: statements.append(args[2]))
        policy = decide_cached(tx.conn, system, cache=DecisionCache())
    assert statements == []
    assert isinstance(policy, AccessPolicy) and policy.sees_every("CarePlan")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_change_marker_is_each_input_types_newest_version_found_by_its_own_index(
        kind: str, tmp_path: Path, postgres) -> None:
    from sqlalchemy import func, select, text

    from fhirip.consent.cache import _MARKER_POSTGRESQL, INPUT_TYPES, change_marker
    from fhirip.store.schema import resource_version

    if kind == "postgresql" and postgres is None:
        pytest.skip("PostgreSQL is not installed")
    built = make_services(kind, tmp_path, postgres, "marker")
    try:
        handle(built, FhirRequest(method="POST", resource=demo_bundle()), [], internal=True)
        if kind == "postgresql":  # a common input type, then what auditing leaves: many newer AuditEvents
            with built.store.engine.begin() as conn:
                for res_type, count in (("Practitioner", 5000), ("AuditEvent", 20000)):
                    conn.execute(text("INSERT INTO resource (res_type, res_id, version, last_updated, deleted) "
                                      f"SELECT '{res_type}', 'many-' || g, 1, now(), false "
                                      f"FROM generate_series(1, {count}) g"))
                conn.execute(text("INSERT INTO resource_version (rid, res_type, res_id, version, last_updated, "
                                  "method, deleted) SELECT rid, res_type, res_id, 1, now(), 'POST', false "
                                  "FROM resource WHERE res_id LIKE 'many-%' ORDER BY rid"))
                conn.execute(text("ANALYZE resource_version"))
        with built.store.transaction(write=False) as tx:
            newest = [tx.conn.execute(select(func.max(resource_version.c.seq))
                                      .where(resource_version.c.res_type == t)).scalar() for t in INPUT_TYPES]
            assert change_marker(tx.conn) == tuple(newest)
            if kind == "postgresql":
                # Never the primary key walked backwards past every newer AuditEvent.
                sql = str(_MARKER_POSTGRESQL.compile(tx.conn, compile_kwargs={"literal_binds": True}))
                plan = " ".join(row[0] for row in tx.conn.execute(text("EXPLAIN " + sql)))
                assert "pk_resource_version" not in plan and "res_type_seq" in plan
                # And no parameter, not even a LIMIT: a prepared statement with parameters was planned
                # afresh at every execution (custom plans), costing three times its execution.
                assert not _MARKER_POSTGRESQL.compile(dialect=tx.conn.dialect).params
    finally:
        built.store.dispose()
