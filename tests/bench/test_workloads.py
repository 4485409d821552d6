"""The benchmark's data and write workloads: each write item is new, so no write fails on a rule."""

from __future__ import annotations

import orjson

from bench.workloads import Factory, Workloads, coordinator_hpr, draft_plan, small_plan_transaction
from bench.workloads_data import DataSet
from fhirip.demo import FNR


class NoTokens:
    system = "system-token"

    def practitioner(self, hpr: str) -> str:
        return f"token-{hpr}"


def test_persons_without_a_plan_have_identifiers_no_other_person_has() -> None:
    data = DataSet(plan_count=40, extra_patients=60)
    plan_fnrs = {p.fnr for p in data.plans}
    extra_fnrs = [p["identifier"][0]["value"] for p in data.extras]
    assert len(data.extras) == 60
    assert len(set(extra_fnrs)) == 60 and not plan_fnrs & set(extra_fnrs)


def test_transaction_identifiers_are_new_and_distinct() -> None:
    data = DataSet(plan_count=40, extra_patients=10)
    fnrs = data.new_fnrs()
    fresh = [next(fnrs) for _ in range(500)]
    assert len(set(fresh)) == 500 and not set(fresh) & data.taken_fnrs


def test_a_factory_keeps_counting_across_runs_so_writes_never_repeat() -> None:
    data = DataSet(plan_count=5, extra_patients=30)
    factory = Workloads(data, NoTokens()).factory("create")  # type: ignore[arg-type]
    first_run = [factory(n) for n in range(10)]
    second_run = [factory(n) for n in range(10)]  # loadgen numbers each run from 0 again
    subjects = [orjson.loads(body)["subject"]["reference"] for _, _, body, _ in first_run + second_run]
    assert len(set(subjects)) == 20 and factory.issued == 20


def test_readers_call_as_the_coordinator_of_the_plan_they_read() -> None:
    data = DataSet(plan_count=5, extra_patients=0)
    method, path, _, headers = Workloads(data, NoTokens()).factory("read")(0)  # type: ignore[arg-type]
    read = next(p for p in data.plans if path.endswith("/cp-" + p.patient_id.split("-")[1]))
    assert method == "GET" and headers["Authorization"] == f"Bearer token-{coordinator_hpr(read)}"


def test_the_peer_gets_the_same_requests_under_its_base_path() -> None:
    data = DataSet(plan_count=5, extra_patients=0)
    ours = Workloads(data, NoTokens()).factory("search")(3)  # type: ignore[arg-type]
    peer = Workloads(data, NoTokens(), prefix="/fhir").factory("search")(3)  # type: ignore[arg-type]
    assert peer[1] == "/fhir" + ours[1] and f"patient.identifier={FNR}%7C" in ours[1]


def test_a_draft_plan_is_for_the_person_and_references_nothing_they_lack() -> None:
    data = DataSet(plan_count=2, extra_patients=1)
    body = draft_plan(data.extras[0], data.plans[0])
    assert body["status"] == "draft" and body["subject"]["reference"] == f"Patient/{data.extras[0]['id']}"
    assert "goal" not in body and "careTeam" not in body and "id" not in body
    assert all("goal" not in activity["detail"] for activity in body["activity"])


def test_the_small_plan_transaction_links_its_entries_by_urn_uuid() -> None:
    bundle = small_plan_transaction("01810090150", 7)
    patient, goal, plan = bundle["entry"]
    assert plan["resource"]["subject"]["reference"] == patient["fullUrl"]
    assert plan["resource"]["goal"] == [{"reference": goal["fullUrl"]}]
    assert len({e["fullUrl"] for e in bundle["entry"]}) == 3


def test_factory_numbers_requests_itself() -> None:
    numbers: list[int] = []
    factory = Factory(lambda n: numbers.append(n) or ("GET", "/", b"", {}))
    for n in (0, 1, 0, 1):
        factory(n)
    assert numbers == [0, 1, 2, 3]


def test_the_dpop_read_sends_a_bound_token_with_a_fresh_proof_for_its_url(tmp_path) -> None:
    from bench.workloads import Tokens
    from fhirip.auth.devkeys import DevKeys
    from fhirip.auth.dpop import ProofVerifier, bound_key
    from fhirip.auth.tokens import AuthSettings, TokenVerifier

    data = DataSet(plan_count=3, extra_patients=1)
    origin = "http://127.0.0.1:8123"
    factory = Workloads(data, Tokens(DevKeys.load_or_create(tmp_path)), origin=origin).factory("read-dpop")
    seen: set[str] = set()
    proofs = ProofVerifier(lambda key, _until: key not in seen and not seen.add(key))
    tokens = TokenVerifier(AuthSettings.from_env({}, dev_data_dir=tmp_path))
    for n in range(4):
        method, path, _, headers = factory(n)
        scheme, token = headers["Authorization"].split(" ")
        assert (method, scheme) == ("GET", "DPoP") and path.startswith("/CarePlan/")
        proofs.verify([headers["DPoP"]], method=method, url=origin + path, access_token=token,
                      jkt=bound_key(tokens.verify(token)))
    assert len(seen) == 4
