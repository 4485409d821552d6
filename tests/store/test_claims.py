"""A claim has one holder: a resource asking for claims takes the free ones and is told who holds
the others, which stay with their holder (`fhirip.store.claims.claim`)."""

from __future__ import annotations

from typing import Any

from fhirip.store import Store


def _claims_of(store: Store, res_id: str) -> set[str]:
    from fhirip.store.claims import _CLAIMS_OF

    return store.run(lambda tx: set(tx.conn.execute(_CLAIMS_OF, {"t": "Patient", "i": res_id}).scalars()),
                     write=False)


def test_free_claims_are_taken_and_held_ones_named_with_their_holder(store: Store) -> None:
    assert store.run(lambda tx: tx.claim("Patient", "kari", ["fnr|1", "fnr|2"]), write=True) == {}
    held: Any = store.run(lambda tx: tx.claim("Patient", "ola", ["fnr|2", "fnr|3", "fnr|4"]), write=True)
    assert held == {"fnr|2": ("Patient", "kari")}
    assert _claims_of(store, "kari") == {"fnr|1", "fnr|2"}
    assert _claims_of(store, "ola") == {"fnr|3", "fnr|4"}


def test_asking_again_for_what_a_resource_holds_answers_nothing_held_elsewhere(store: Store) -> None:
    assert store.run(lambda tx: tx.claim("Patient", "per", ["fnr|5"]), write=True) == {}
    assert store.run(lambda tx: tx.claim("Patient", "per", ["fnr|5", "fnr|6"]), write=True) == {}
    assert store.run(lambda tx: tx.claim("Patient", "per", ["fnr|6"]), write=True) == {}  # gives up fnr|5
    assert _claims_of(store, "per") == {"fnr|6"}
    assert store.run(lambda tx: tx.claim("Patient", "pål", ["fnr|5", "fnr|6"]), write=True) == \
        {"fnr|6": ("Patient", "per")}
