"""The HTTP workloads of `make bench`, built from the generated plans of `bench.generate`.

Every workload is a request factory for `bench.loadgen`: request number n → (method, path,
body, headers). Readers call as the plan's coordinator (a practitioner with an HPR number whom
the patient's sharing Consent names through the care team), so each read is a real consent
decision plus an audit record; writers call as a system client. Write workloads consume data
(a person gets one plan, a transaction makes a new person), so a factory is made fresh for each
server and never repeats an item within its count bound.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bench.generate import Plan
from bench.workloads_data import DataSet
from cryptography.hazmat.primitives.asymmetric import ec

from fhirip.auth.devkeys import DevKeys, dpop_confirmation, dpop_proof, person_claims
from fhirip.canonical import CODE_SYSTEM, STRUCTURE_DEFINITION
from fhirip.demo import FNR

JSON = {"Content-Type": "application/fhir+json"}
WORKLIST_DATE = "2026-01-01"  # a fixed day, so the worklist is the same list on every run
TOKEN_SECONDS = 6 * 3600

Request = tuple[str, str, bytes, dict[str, str]]


@dataclass(frozen=True)
class Spec:
    """One workload as printed: its key, its row title and what it means."""

    key: str
    title: str
    meaning: str
    writes: bool = False


SPECS = [
    Spec("read", "read by id", "GET CarePlan/[id] as the plan's coordinator"),
    Spec("read-dpop", "read by id (DPoP)",
         "GET CarePlan/[id] as the coordinator, the token DPoP-bound and a fresh proof on every request"),
    Spec("read-system", "read by id (system)",
         "GET CarePlan/[id] as a system client (system/*.cruds): audited, every row allowed without a Consent"),
    Spec("search", "search", "GET CarePlan?patient.identifier=<fnr>&_include=CarePlan:goal as the coordinator"),
    Spec("current", "current plan", "GET CarePlan/$current?patient-identifier=<fnr> as the coordinator"),
    Spec("worklist", "worklist", f"GET CarePlan/$overdue-measures?date={WORKLIST_DATE} as a coordinator"),
    Spec("update", "update plan", "PUT CarePlan/[id]: the plan's next version (active, validated)", writes=True),
    Spec("create", "create plan", "POST CarePlan: a draft ip-CarePlan for a person without one", writes=True),
    Spec("transaction", "transaction", "POST /: Patient + Goal + draft CarePlan, urn:uuid references",
         writes=True),
    Spec("import", "legacy import (plans)", "fhirip import --format planpro of a generated export (plans/s)",
         writes=True),
]
SPEC = {spec.key: spec for spec in SPECS}
HTTP_KEYS = [spec.key for spec in SPECS if spec.key != "import"]


def careplan(generated: Plan) -> dict[str, Any]:
    return next(r for r in generated.resources if r["resourceType"] == "CarePlan")


def coordinator_hpr(generated: Plan) -> str:
    """The HPR number of the plan's coordinator (the first care-team participant, pr-<m>-<p>)."""
    team = next(r for r in generated.resources if r["resourceType"] == "CareTeam")
    municipality, number = team["participant"][0]["member"]["reference"].rsplit("-", 2)[1:]
    return str(1_000_000 + int(municipality) * 1000 + int(number))


class Tokens:
    """Tokens signed with the server's development key, one per caller, minted once; the DPoP-bound
    ones are bound to the load generator's own P-256 key, which signs their proofs."""

    def __init__(self, keys: DevKeys):
        self.keys = keys
        self.system = keys.mint(person_claims(client_id="bench"), lifetime=TOKEN_SECONDS)
        self._practitioners: dict[str, str] = {}
        self.dpop_key = ec.generate_private_key(ec.SECP256R1())
        self._bound: dict[str, str] = {}

    def practitioner_bound(self, hpr: str) -> str:
        if hpr not in self._bound:
            self._bound[hpr] = self.keys.mint(
                person_claims(practitioner=hpr, client_id="bench", scope="openid user/*.cruds")
                | {"cnf": dpop_confirmation(self.dpop_key)}, lifetime=TOKEN_SECONDS)
        return self._bound[hpr]

    def practitioner(self, hpr: str) -> str:
        if hpr not in self._practitioners:
            self._practitioners[hpr] = self.keys.mint(
                person_claims(practitioner=hpr, client_id="bench", scope="openid user/*.cruds"),
                lifetime=TOKEN_SECONDS)
        return self._practitioners[hpr]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Factory:
    """A request factory whose numbers keep counting across calls of `loadgen.run` (a warm-up, then the
    measurement), so a write workload never sends the same item twice; `issued` counts what it made."""

    def __init__(self, make: Callable[[int], Request]):
        self.make = make
        self.issued = 0

    def __call__(self, _n: int) -> Request:
        number, self.issued = self.issued, self.issued + 1
        return self.make(number)


def draft_plan(person: dict[str, Any], generated: Plan) -> dict[str, Any]:
    """A draft ip-CarePlan for a person without a plan: the generated plan's measures, no goals yet."""
    template = careplan(generated)
    activities = [{"detail": {k: v for k, v in a["detail"].items() if k != "goal"}} for a in template["activity"]]
    body = {k: v for k, v in template.items() if k not in ("id", "careTeam", "goal", "activity", "author")}
    return body | {"status": "draft", "subject": {"reference": f"Patient/{person['id']}"}, "activity": activities}


def small_plan_transaction(fnr: str, number: int) -> dict[str, Any]:
    """A new person's first plan in one transaction: Patient, Goal and a draft CarePlan by urn:uuid."""
    patient, goal, plan_url = (f"urn:uuid:00000000-0000-4000-8000-{number:06d}{k:06d}" for k in range(3))
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": patient, "request": {"method": "POST", "url": "Patient"}, "resource": {
            "resourceType": "Patient", "identifier": [{"system": FNR, "value": fnr}],
            "name": [{"family": "Bakken", "given": ["Jonas"]}], "gender": "male", "birthDate": "1990-03-15"}},
        {"fullUrl": goal, "request": {"method": "POST", "url": "Goal"}, "resource": {
            "resourceType": "Goal", "lifecycleStatus": "proposed", "subject": {"reference": patient},
            "description": {"text": "Bo i egen leilighet"},
            "extension": [{"url": f"{STRUCTURE_DEFINITION}/ip-livsomrade", "valueCodeableConcept": {
                "coding": [{"system": f"{CODE_SYSTEM}/ip-livsomrade", "code": "bolig-og-dagligliv"}]}}]}},
        {"fullUrl": plan_url, "request": {"method": "POST", "url": "CarePlan"}, "resource": {
            "resourceType": "CarePlan", "status": "draft", "intent": "plan", "title": "Individuell plan",
            "category": [{"coding": [{"system": f"{CODE_SYSTEM}/ip-careplan-category",
                                      "code": "individuell-plan"}]}],
            "subject": {"reference": patient}, "goal": [{"reference": goal}]}},
    ]}


class Workloads:
    """Request factories for one server. `prefix` is the server's FHIR base path ("" or "/fhir"),
    `origin` its scheme, host and port (what a DPoP proof's htu names)."""

    def __init__(self, data: DataSet, tokens: Tokens, prefix: str = "", seed: int = 7, origin: str = ""):
        self.data = data
        self.tokens = tokens
        self.prefix = prefix
        self.origin = origin.rstrip("/")
        self.order = list(range(len(data.plans)))
        random.Random(seed).shuffle(self.order)

    def _pick(self, n: int) -> tuple[Plan, dict[str, str]]:
        generated = self.data.plans[self.order[n % len(self.order)]]
        return generated, _bearer(self.tokens.practitioner(coordinator_hpr(generated)))

    def callers(self, key: str) -> int:
        """How many different callers (tokens) a workload sends: each plan's coordinator, or the one system client."""
        return len(self.order) if key in ("read", "read-dpop", "search", "current", "worklist") else 1

    def limit(self, key: str) -> int | None:
        """How many requests a write workload has data for (None: unbounded)."""
        return {"create": len(self.data.extras)}.get(key)

    def factory(self, key: str) -> Factory:
        p = self.prefix

        def read(n: int) -> Request:
            generated, auth = self._pick(n)
            return "GET", f"{p}/CarePlan/{careplan(generated)['id']}", b"", auth

        def read_dpop(n: int) -> Request:
            generated = self.data.plans[self.order[n % len(self.order)]]
            token = self.tokens.practitioner_bound(coordinator_hpr(generated))
            path = f"{p}/CarePlan/{careplan(generated)['id']}"
            proof = dpop_proof(self.tokens.dpop_key, method="GET", url=self.origin + path, access_token=token)
            return "GET", path, b"", {"Authorization": f"DPoP {token}", "DPoP": proof}

        def read_system(n: int) -> Request:
            generated = self.data.plans[self.order[n % len(self.order)]]
            return "GET", f"{p}/CarePlan/{careplan(generated)['id']}", b"", _bearer(self.tokens.system)

        def search(n: int) -> Request:
            generated, auth = self._pick(n)
            return ("GET", f"{p}/CarePlan?patient.identifier={FNR}%7C{generated.fnr}&_include=CarePlan:goal",
                    b"", auth)

        def current(n: int) -> Request:
            generated, auth = self._pick(n)
            return "GET", f"{p}/CarePlan/$current?patient-identifier={FNR}%7C{generated.fnr}", b"", auth

        def worklist(n: int) -> Request:
            _, auth = self._pick(n)
            return "GET", f"{p}/CarePlan/$overdue-measures?date={WORKLIST_DATE}", b"", auth

        system = _bearer(self.tokens.system) | JSON

        def update(i: int) -> Request:
            generated = self.data.plans[self.order[i % len(self.order)]]
            # From the second version on: the first is the stored plan itself, which would change nothing.
            versions = generated.plan_versions
            version = versions[(1 + i // len(self.order)) % len(versions)]
            return "PUT", f"{p}/CarePlan/{version['id']}", orjson.dumps(version), system

        def create(i: int) -> Request:
            person = self.data.extras[i % len(self.data.extras)]
            template = self.data.plans[i % len(self.data.plans)]
            return "POST", f"{p}/CarePlan", orjson.dumps(draft_plan(person, template)), system

        fnrs = self.data.new_fnrs()

        def transaction(n: int) -> Request:
            return "POST", p or "/", orjson.dumps(small_plan_transaction(next(fnrs), n)), system

        factories = {"read": read, "read-dpop": read_dpop, "read-system": read_system, "search": search, "current": current,
                     "worklist": worklist, "update": update, "create": create, "transaction": transaction}
        return Factory(factories[key])
