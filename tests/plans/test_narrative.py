"""The plan's generated narrative: the server's own policy-free reads find what a search would."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from plan_data import PlanWorld, created_id, goal, measure, plan_consent

from fhirip.plans.document import build_document
from fhirip.plans.fetching import Fetch
from fhirip.plans.html import narrative_div


class _SearchingFetch(Fetch):
    """The same reads, always as a FHIR search (the path a caller's policy takes)."""

    def by_ids(self, res_type: str, ids: list[str]) -> list[dict[str, Any]]:
        ids = sorted({i for i in ids if i})
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), 100):
            found += self.search(res_type, [("_id", ",".join(ids[start:start + 100]))])
        return found

    def by_patient(self, res_type: str, patient_id: str) -> list[dict[str, Any]]:
        return self.search(res_type, [("patient", f"Patient/{patient_id}")])

    def by_keys(self, keys: Any) -> dict[tuple[str, str], dict[str, Any]]:
        wanted: dict[str, set[str]] = {}
        for res_type, res_id in keys:
            wanted.setdefault(res_type, set()).add(res_id)
        return {(res_type, found["id"]): found for res_type in sorted(wanted)
                for found in self.by_ids(res_type, sorted(wanted[res_type]))}

    def by_patient_of_types(self, res_types: list[str], patient_id: str) -> dict[str, list[dict[str, Any]]]:
        return {res_type: self.by_patient(res_type, patient_id) for res_type in res_types}


def _world_with_much_to_read(fhir: Any) -> tuple[PlanWorld, str, str]:
    world = PlanWorld(fhir)
    goals = [created_id(fhir.create(goal(world.patient_id, f"Mål nummer {n}"))) for n in range(3)]
    gone = created_id(fhir.create(goal(world.patient_id, "Slettet mål")))
    assert fhir.delete(f"/Goal/{gone}").status_code in (200, 204)
    created_id(fhir.create(plan_consent(world.patient_id, start="2026-02-01")))  # supersedes the first
    created_id(fhir.create({"resourceType": "EpisodeOfCare", "status": "active",
                            "patient": {"reference": f"Patient/{world.patient_id}"}}))
    plan = world.active_plan_id(goal_ids=(world.goal_id, *goals), activities=(
        measure(f"Practitioner/{world.coordinator_id}", goals[1], description="Boveiledning"),))
    return world, plan, gone


def test_policy_free_reads_find_the_same_resources_in_the_same_order_as_search(fhir, live_server):
    world, plan_id, gone = _world_with_much_to_read(fhir)
    goal_ids = [g["reference"].split("/")[1] for g in fhir.get(f"/CarePlan/{plan_id}").json()["goal"]]
    goal_ids.append(gone)

    def work(tx: Any) -> None:
        direct = Fetch(tx.conn, base_url="", policy=None)
        searching = _SearchingFetch(tx.conn, base_url="", policy=None)
        assert len(direct.by_ids("Goal", goal_ids)) == len(goal_ids) - 1  # the deleted one is not read
        assert direct.by_ids("Goal", goal_ids) == searching.by_ids("Goal", goal_ids)
        for res_type in ("Consent", "Goal", "CareTeam", "EpisodeOfCare"):
            assert direct.by_patient(res_type, world.patient_id) == \
                searching.by_patient(res_type, world.patient_id)
        assert len(direct.by_patient("Consent", world.patient_id)) == 2
        types = ["EpisodeOfCare", "Consent", "Goal"]
        assert direct.by_patient_of_types(types, world.patient_id) == \
            searching.by_patient_of_types(types, world.patient_id)
        keys = [("Goal", i) for i in goal_ids] + [("Patient", world.patient_id), ("CareTeam", world.team_id),
                                                 ("Practitioner", world.coordinator_id), ("Goal", "no-such")]
        together, by_type = direct.by_keys(keys), searching.by_keys(keys)
        assert together == by_type and len(together) == len(keys) - 2  # the deleted goal and no-such
        for res_type in ("Goal", "Patient"):  # each type's in the order a search gives
            assert [k for k in together if k[0] == res_type] == [k for k in by_type if k[0] == res_type]

    live_server.services.store.run(work, write=False)


def test_generated_narrative_is_the_document_a_search_would_build(fhir, live_server):
    _, plan_id, _ = _world_with_much_to_read(fhir)
    stored = fhir.get(f"/CarePlan/{plan_id}").json()

    def work(tx: Any) -> str:
        plan = orjson.loads(tx.read("CarePlan", plan_id).content)
        return narrative_div(build_document(plan, _SearchingFetch(tx.conn, base_url="", policy=None),
                                            on=date.today()))

    by_search = live_server.services.store.run(work, write=False)
    assert stored["text"]["status"] == "generated"
    assert stored["text"]["div"] == by_search
    assert "Mål nummer 2" in by_search and "Slettet mål" not in by_search
