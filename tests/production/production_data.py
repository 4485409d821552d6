"""Records for the concurrency suite: people with synthetic fødselsnummer, plans, care teams."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from fhirip.canonical import CODE_SYSTEM
from fhirip.demo import synthetic_fnr

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
IP_CATEGORY = {"coding": [{"system": f"{CODE_SYSTEM}/ip-careplan-category", "code": "individuell-plan"}]}
OPEN = "draft,active,on-hold"
# The system client the suite writes as (its token is signed with the served server's key).
SYSTEM = {"sub": "production-system", "client_id": "production-system", "scope": "system/*.cruds"}
_people = itertools.count(random.randrange(0, 400))
T = TypeVar("T")


def new_fnr() -> str:
    """A fødselsnummer no other test of the run uses."""
    serial = next(_people)
    return synthetic_fnr(1 + serial % 28, 1 + serial // 28 % 12, 40 + serial // 336, 100 + serial % 7 * 100)


def patient(fnr: str, family: str = "Nordmann") -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": FNR, "value": fnr}],
            "name": [{"family": family, "given": ["Kari"]}], "birthDate": "1990-06-05"}


def individual_plan(patient_id: str, plan_id: str | None = None) -> dict[str, Any]:
    plan = {"resourceType": "CarePlan", "status": "draft", "intent": "plan", "category": [IP_CATEGORY],
            "title": "Individuell plan", "subject": {"reference": f"Patient/{patient_id}"}}
    return {**plan, "id": plan_id} if plan_id else plan


def coordinator(member: str, start: str, code: str = "8") -> dict[str, Any]:
    return {"role": [{"coding": [{"system": VOLVEN_9034, "code": code}]}],
            "member": {"reference": member}, "period": {"start": start}}


def practitioner(family: str) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "name": [{"family": family, "given": ["Ola"]}],
            "telecom": [{"system": "phone", "value": "+47 55 00 00 00", "use": "work"}]}


def created(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    return response.json()["id"]


def at_once(count: int, work: Callable[[int], T], workers: int = 16) -> list[T]:
    """`work(0) … work(count - 1)` from `workers` threads at once, in order of the numbers."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(work, range(count)))


def statuses(responses: Iterable[httpx.Response]) -> dict[int, int]:
    found: dict[int, int] = {}
    for response in responses:
        found[response.status_code] = found.get(response.status_code, 0) + 1
    return found


def search_all(client: httpx.Client, path: str, **params: str) -> list[dict[str, Any]]:
    """Every match of a search, page after page."""
    found = []
    response = client.get(path, params={**params, "_count": "200"})
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        found += [entry["resource"] for entry in bundle.get("entry") or []
                  if (entry.get("search") or {}).get("mode", "match") == "match"]
        following = [link["url"] for link in bundle.get("link") or [] if link["relation"] == "next"]
        if not following:
            return found
        response = client.get(following[0])
