"""Measure what the access decision costs: decide() and policy-filtered reads, against no filter.

Run: .venv/bin/python tests/consent/measure_policy_cost.py [sqlite|postgresql] [patients]

Builds a store of `patients` individual plans (Patient, CareTeam, sharing Consent,
CarePlan, 3 Goals, 2 Observations, a RelatedPerson: 10 resources each) plus a
directory, then times, per request as the server will run it: decide() for a
practitioner who is a team member of 20 patients, a type search with total, an
include search, and a single read through `policy.visible`, each with and without
the policy in the same run. Prints milliseconds (the fastest of repeated runs).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))

import consent_world as world

from fhirip.auth import Actor
from fhirip.consent import decide
from fhirip.model.references import local_references
from fhirip.search import search
from fhirip.testing.live import make_services
from fhirip.testing.postgres import TemporaryPostgres

BASE = "http://fhirip.test/fhir"
MEMBER_OF = 20


def plan_records(index: int, team_member: bool) -> list[dict[str, Any]]:
    pid = f"p{index}"
    ref = {"reference": f"Patient/{pid}"}
    members = [{"member": {"reference": "Practitioner/ingrid"}}] if team_member else []
    members.append({"member": {"reference": f"Practitioner/other{index % 50}"}})
    return [
        {"resourceType": "Patient", "id": pid, "birthDate": "1980-01-01",
         "identifier": [{"system": world.FNR, "value": f"{index:011d}"}], "name": [{"family": f"P{index}"}]},
        {"resourceType": "RelatedPerson", "id": f"rp{index}", "patient": ref,
         "relationship": [{"coding": [{"system": world.ROLE, "code": "FRND"}]}]},
        {"resourceType": "CareTeam", "id": f"team{index}", "status": "active", "subject": ref,
         "participant": members},
        world.sharing_consent(f"consent{index}", pid, {
            "type": "permit", "actor": [{"role": {"text": "IRCP"}, "reference": {"reference": f"CareTeam/team{index}"}}]}),
        {"resourceType": "CarePlan", "id": f"plan{index}", "status": "active", "intent": "plan", "subject": ref,
         "goal": [{"reference": f"Goal/g{index}-{n}"} for n in range(3)]},
        *[{"resourceType": "Goal", "id": f"g{index}-{n}", "lifecycleStatus": "active", "subject": ref,
           "description": {"text": f"Mål {n}"}} for n in range(3)],
        *[{"resourceType": "Observation", "id": f"o{index}-{n}", "status": "final", "code": {"text": "x"},
           "subject": ref} for n in range(2)],
    ]


def load(services: Any, patients: int) -> None:
    directory = [{"resourceType": "Practitioner", "id": "ingrid",
                  "identifier": [{"system": world.HPR, "value": world.INGRID}]}]
    directory += [{"resourceType": "Practitioner", "id": f"other{n}"} for n in range(50)]
    records = directory + [r for i in range(patients) for r in plan_records(i, i % (patients // MEMBER_OF) == 0)]

    def work(tx: Any) -> None:
        for resource in records:
            body = orjson.loads(orjson.dumps(resource))
            tx.write(body, method="PUT", previous=None, links=local_references(body, (BASE,)))
    services.store.run(work, write=True)
    print(f"loaded {len(records)} resources")


def timed(action: Callable[[], Any], repeat: int = 60) -> float:
    """The fastest of `repeat` runs, in ms: on a shared machine the minimum is the run
    least disturbed by other processes, so it compares like with like."""
    action()  # warm caches and compiled statements
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return min(samples)


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    patients = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    with tempfile.TemporaryDirectory() as tmp:
        cluster = TemporaryPostgres() if kind == "postgresql" else None
        if cluster is not None:
            cluster.__enter__()
        try:
            services = make_services(kind, Path(tmp), cluster, "measure")
            load(services, patients)
            actor = Actor.from_claims(world.practitioner_claims(world.INGRID, world.KOMMUNE))
            store = services.store

            def decided() -> Any:
                with store.transaction(write=False) as tx:
                    return decide(tx.conn, actor, now=world.NOW)

            policy = decided()
            print(f"{kind}: practitioner permitted for {len(policy.patients)} of {patients} patients")

            def run_search(query: list[tuple[str, str]], filtered: bool) -> Callable[[], Any]:
                def action() -> Any:
                    with store.transaction(write=False) as tx:
                        current = decide(tx.conn, actor, now=world.NOW) if filtered else None
                        return search(tx.conn, "Goal" if query and query[0][0] == "x" else "CarePlan", query,
                                      base_url=BASE, policy=current.sql if current else None)
                return action

            def run_read(filtered: bool) -> Callable[[], Any]:
                def action() -> Any:
                    with store.transaction(write=False) as tx:
                        if filtered:
                            current = decide(tx.conn, actor, now=world.NOW)
                            assert current.visible(tx.conn, {("CarePlan", "plan0")})
                        return tx.read("CarePlan", "plan0")
                return action

            rows = [
                ("decide() alone", timed(decided), None),
                ("read CarePlan/plan0 (decide + visible + read)", timed(run_read(True)), timed(run_read(False))),
                ("search CarePlan?_total=accurate&_count=20",
                 timed(run_search([("_total", "accurate"), ("_count", "20")], True)),
                 timed(run_search([("_total", "accurate"), ("_count", "20")], False))),
                ("search CarePlan?_include=CarePlan:goal&_count=20",
                 timed(run_search([("_include", "CarePlan:goal"), ("_count", "20")], True)),
                 timed(run_search([("_include", "CarePlan:goal"), ("_count", "20")], False))),
            ]
            for name, with_policy, without in rows:
                extra = f"   unfiltered {without:7.2f} ms" if without is not None else ""
                print(f"{name:52s} {with_policy:7.2f} ms{extra}")
            store.dispose()
        finally:
            if cluster is not None:
                cluster.__exit__(None, None, None)


if __name__ == "__main__":
    main()
