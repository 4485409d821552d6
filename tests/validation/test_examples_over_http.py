"""Every profile example through the server: `$validate` and a real write, on both stores.

Valid examples validate without errors and are stored (dependencies first, so the
plan rules see the consent and the care team an active plan needs); each invalid
example is refused with 422 and the issue `profiles/examples/expectations.json`
names, and `$validate` reports that same issue with 200.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer, make_services, token_for

EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"
EXPECTED = json.loads((EXAMPLES / "expectations.json").read_text())["invalid"]
VALID = sorted(p.name for p in EXAMPLES.glob("ip-*-valid-*.json"))
INVALID = sorted(EXPECTED)
# AuditEvents are written by the server alone (no API write reaches them): their examples go
# through $validate only.
SERVER_WRITTEN = ("ip-AuditEvent-",)
WRITABLE_VALID = [name for name in VALID if not name.startswith(SERVER_WRITTEN)]
WRITABLE_INVALID = [name for name in INVALID if not name.startswith(SERVER_WRITTEN)]


def _load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def _errors(outcome: dict) -> list[dict]:
    return [i for i in outcome.get("issue", []) if i["severity"] in ("error", "fatal")]


def _has_expected(outcome: dict, name: str) -> bool:
    expected = EXPECTED[name]
    return any(expected["rule"] in issue["diagnostics"] and expected["expression"] in issue.get("expression", [])
               for issue in _errors(outcome))


@pytest.mark.parametrize("name", VALID)
def test_valid_example_passes_validate(fhir: Fhir, name: str) -> None:
    resource = _load(name)
    response = fhir.send_json("POST", f"/{resource['resourceType']}/$validate", resource)
    assert response.status_code == 200
    assert _errors(response.json()) == [], name


@pytest.mark.parametrize("name", INVALID)
def test_invalid_example_fails_validate_with_its_issue(fhir: Fhir, name: str) -> None:
    resource = _load(name)
    response = fhir.send_json("POST", f"/{resource['resourceType']}/$validate", resource)
    assert response.status_code == 200
    assert _has_expected(response.json(), name), (name, response.text)


@pytest.mark.parametrize("name", WRITABLE_INVALID)
def test_invalid_example_is_refused_on_write_with_its_issue(fhir: Fhir, name: str) -> None:
    resource = _load(name)
    response = fhir.send_json("PUT", f"/{resource['resourceType']}/{resource['id']}", resource)
    assert response.status_code == 422, (name, response.text)
    assert _has_expected(response.json(), name), (name, response.text)


@pytest.fixture(scope="module")
def lenient(store_kind: str, request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fhir]:
    """A server that does not check references: the examples name practitioners, roles and
    organisations that are not examples themselves."""
    postgres = request.getfixturevalue("postgres") if store_kind == "postgresql" else None
    server = LiveServer(make_services(store_kind, tmp_path_factory.mktemp("examples"), postgres,
                                      "examples", referential_integrity=False))
    token = token_for(server.services, **SYSTEM_CLAIMS)
    with Fhir(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    server.stop()


def test_valid_examples_are_stored_in_one_transaction(lenient: Fhir) -> None:
    fhir = lenient
    resources = [_load(name) for name in WRITABLE_VALID]
    # Plans last: their activation rules look at the consents and teams written before them.
    resources.sort(key=lambda r: r["resourceType"] == "CarePlan")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources]}
    response = fhir.post("/", content=orjson.dumps(bundle), headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    for resource in resources:
        stored = fhir.get(f"/{resource['resourceType']}/{resource['id']}")
        assert stored.status_code == 200
