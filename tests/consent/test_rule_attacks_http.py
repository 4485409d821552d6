"""What a caller may make the plan rules and a recorded grant do, tried as an attacker would.

A withdrawal revokes only the plans of the consent's own patient, whatever the withdrawn
version names; a recorded grant's Provenance keeps only what the server decides it may.
Real server, real tokens, both stores.
"""

from __future__ import annotations

from typing import Any

import pytest

from matrix_client import load_world
from test_access_index_http import client, demo, system  # noqa: F401  (fixtures)

from fhirip.demo import KARI_FNR
from fhirip.testing.live import Fhir, LiveServer

KARI = {"sub": "kari", "helseid://claims/identity/pid": KARI_FNR, "scope": "patient/*.cruds"}


def _others_plan(demo: LiveServer, system: Fhir) -> dict[str, Any]:  # noqa: F811
    plan = system.get("/CarePlan/demo-plan").json()
    others = {**plan, "id": "other-plan", "subject": {"reference": "Patient/other"}, "meta": {}}
    load_world(demo, [others])
    return others


@pytest.mark.parametrize("named", ["CarePlan/other-plan", "https://elsewhere.example/fhir/CarePlan/other-plan",
                                   "CarePlan/other-plan/_history/1", "urn:x:CarePlan/other-plan"])
def test_a_withdrawal_naming_another_persons_plan_does_not_revoke_it(
        demo: LiveServer, system: Fhir, named: str) -> None:  # noqa: F811
    """Kari withdraws her plan consent and, in the same version, names Olsen's plan as its
    data: the rule revokes plans of Kari's alone."""
    _others_plan(demo, system)
    status = system.get("/CarePlan/other-plan").json()["status"]
    consent = system.get("/Consent/demo-consent-plan").json()
    provision = {**(consent.get("provision") or {}),
                 "data": [{"meaning": "related", "reference": {"reference": named}}]}
    with client(demo, KARI) as kari:
        assert kari.get("/CarePlan/other-plan").status_code == 404
        kari.put("/Consent/demo-consent-plan", json={**consent, "status": "inactive", "provision": provision})
    assert system.get("/CarePlan/other-plan").json()["status"] == status
    assert system.get("/Provenance", params={"target": "CarePlan/other-plan"}).json()["total"] == 0
