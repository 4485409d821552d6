"""A decision is reused only while nothing it was made from has changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fhirip.auth import Actor
from fhirip.consent.cache import DecisionCache, decide_cached
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
    with services.store.transaction(write=False) as tx:
        return decide_cached(tx.conn, Actor.from_claims(claims), cache=cache)


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
