"""Memory of the server's workers under many varied requests.

`python -m bench.soak [--requests 20000] [--store postgresql|sqlite] [--workers 2] [--clients 4]`

Starts fhirip the documented way (`fhirip serve`, preloaded workers) on a fresh store, sends a
mix of reads, searches with ever new values, creates, updates, unknown ids and bad input, and
prints each worker's resident memory after the warm-up and every tenth of the run, with the
status histogram. A worker whose memory keeps growing with the number of distinct requests
holds something per request that it should not.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import platform
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from fhirip.testing.live import SYSTEM_CLAIMS
from fhirip.testing.postgres import TemporaryPostgres
from fhirip.testing.served import ServedFhirip

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_request(client, rng: random.Random, ids: list[str], n: int) -> int:  # type: ignore[no-untyped-def]
    word = f"w{n}x{rng.randrange(10**9)}"
    choice = rng.randrange(12)
    if choice == 0 or not ids:
        body = {"resourceType": "Patient", "name": [{"family": word, "given": [f"g{n}"]}],
                "identifier": [{"system": "urn:soak", "value": word}]}
        response = client.post("/Patient", json=body, headers=FHIR_JSON)
        if response.status_code == 201:
            ids.append(response.json()["id"])
        return response.status_code
    if choice == 1:
        rid = rng.choice(ids)
        body = {"resourceType": "Patient", "id": rid, "name": [{"family": word}]}
        return client.put(f"/Patient/{rid}", json=body, headers=FHIR_JSON).status_code
    if choice in (2, 3):
        return client.get(f"/Patient/{rng.choice(ids)}").status_code
    if choice == 4:
        return client.get(f"/Patient/{word}").status_code
    if choice == 5:
        return client.get("/Patient", params={"name": word[: rng.randrange(2, 9)], "_count": str(rng.randrange(1, 60))}).status_code
    if choice == 6:
        return client.get("/Patient", params={"identifier": f"urn:soak|{word}", "_total": "accurate"}).status_code
    if choice == 7:
        return client.get("/CarePlan", params={"subject": f"Patient/{rng.choice(ids)}", "_include": "CarePlan:goal",
                                               "_revinclude": "Provenance:target"}).status_code
    if choice == 8:
        return client.get("/Patient", params={"birthdate": rng.choice(["ge1990", "lt2001-05", "garbage", "eq20x"]),
                                              f"unknown{n % 97}": word}).status_code
    if choice == 9:
        return client.post("/Patient", content=b'{"resourceType": "Patient", "name": [', headers=FHIR_JSON).status_code
    if choice == 10:
        return client.get(f"/Patient/{rng.choice(ids)}/_history").status_code
    return client.get("/Patient", params={"_sort": rng.choice(["name", "-birthdate", "_lastUpdated"]),
                                          "_count": "5", "address-city": word}).status_code


def soak(server: ServedFhirip, requests: int, clients: int, seed: int = 7) -> None:
    token = server.token(**SYSTEM_CLAIMS)
    ids: list[str] = []
    statuses: Counter[int] = Counter()
    checkpoints = 10
    per_step = requests // checkpoints

    def run(offset: int, count: int) -> Counter[int]:
        rng = random.Random(seed + offset)
        seen: Counter[int] = Counter()
        with server.client(token) as client:
            for n in range(count):
                seen[one_request(client, rng, ids, offset * 1_000_000 + n)] += 1
        return seen

    statuses.update(run(999, 300))  # warm-up: every kind of request once or more
    workers = server.worker_pids()
    print(f"workers {workers}; after warm-up: " + ", ".join(f"{rss_mb(p):.0f} MB" for p in workers))
    started = time.monotonic()
    for step in range(checkpoints):
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            for seen in pool.map(lambda c, s=step: run(s * clients + c, per_step // clients), range(clients)):
                statuses.update(seen)
        done = (step + 1) * per_step
        memory = ", ".join(f"{rss_mb(p):.0f} MB" for p in server.worker_pids())
        print(f"{done:>6} requests, {time.monotonic() - started:6.1f} s: {memory}", flush=True)
    print("statuses:", dict(sorted(statuses.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}; "
          f"store {args.store}, {args.workers} workers, {args.clients} clients, {args.requests} requests")
    tmp = Path(tempfile.mkdtemp(prefix="fhirip-soak-"))
    if args.store == "postgresql":
        with TemporaryPostgres() as postgres, \
                ServedFhirip(tmp / "data", postgres.create_database("soak"), workers=args.workers) as server:
            soak(server, args.requests, args.clients)
    else:
        with ServedFhirip(tmp / "data", None, workers=args.workers) as server:
            soak(server, args.requests, args.clients)


if __name__ == "__main__":
    main()
