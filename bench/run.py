"""`make bench`: fhirip under gunicorn, driven over loopback, beside its floor, on both stores.

Prints the machine, the data size and, per workload and store, throughput and
p50/p95/p99 latency, with fhirip's read throughput as a ratio to the floor
(a bare WSGI app returning the same stored bytes from the same database).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson

from bench.loadgen import Result, run, shuffled
from bench.servers import THREADS, WORKERS, Gunicorn
from fhirip.auth.devkeys import DevKeys
from fhirip.demo import synthetic_fnr
from fhirip.testing.postgres import TemporaryPostgres

JSON = {"Content-Type": "application/fhir+json"}


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.sqlite3'}"
        return
    with TemporaryPostgres() as pg:
        yield pg.url


def patient(i: int) -> dict:
    fnr = synthetic_fnr(1 + i % 28, 1 + i % 12, 50 + i % 40, i % 900)
    return {"resourceType": "Patient", "id": f"p{i}", "active": True,
            "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": fnr}],
            "name": [{"family": f"Nordmann{i}", "given": ["Kari", "Benchmark"]}],
            "gender": "female", "birthDate": "1980-05-17",
            "address": [{"line": [f"Fjordveien {i}"], "postalCode": "5000", "city": "Bergen"}]}


def seed(url: str, count: int, token: str, batch: int = 200) -> None:
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as client:
        for start in range(0, count, batch):
            entries = [{"resource": patient(i), "request": {"method": "PUT", "url": f"Patient/p{i}"}}
                       for i in range(start, min(count, start + batch))]
            response = client.post("/", content=orjson.dumps(
                {"resourceType": "Bundle", "type": "transaction", "entry": entries}), headers=JSON)
            response.raise_for_status()


def workloads(url: str, ids: list[str], seconds: float, requests: int, token: str) -> list[Result]:
    order = shuffled(ids)
    bodies = {i: orjson.dumps(patient(int(i[1:])) | {"active": False}) for i in order[:2000]}
    update_ids = list(bodies)
    auth = {"Authorization": f"Bearer {token}"}
    return [
        run("read by id", url, lambda n: ("GET", f"/Patient/{order[n % len(order)]}", b"", {}),
            max_seconds=seconds, max_requests=requests, headers=auth),
        run("update (PUT)", url, lambda n: ("PUT", f"/Patient/{update_ids[n % len(update_ids)]}",
                                            bodies[update_ids[n % len(update_ids)]], JSON),
            max_seconds=seconds, max_requests=requests, headers=auth),
    ]


def bench_store(kind: str, patients: int, seconds: float, requests: int) -> list[tuple[str, Result, Result | None]]:
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as db_url:
        env = {"FHIRIP_DATABASE_URL": db_url, "FHIRIP_DATA_DIR": tmp,
               "FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS": "true"}
        # A system client: consent is decided and every request audited, as for any caller.
        token = DevKeys.load_or_create(tmp).mint(
            {"sub": "bench", "client_id": "bench", "scope": "system/*.cruds"}, lifetime=86400)
        with Gunicorn("server.wsgi:app", env) as url:
            seed(url, patients, token)
            ids = [f"p{i}" for i in range(patients)]
            ours = workloads(url, ids, seconds, requests, token)
        with Gunicorn("bench.floor_app:app", {"FLOOR_DATABASE_URL": db_url}, ready_path="/Patient/p0") as floor_url:
            order = shuffled(ids)
            floor = run("read by id", floor_url, lambda n: ("GET", f"/Patient/{order[n % len(order)]}", b"", {}),
                        max_seconds=seconds, max_requests=requests)
    return [(kind, ours[0], floor), (kind, ours[1], None)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0, help="time bound per workload")
    parser.add_argument("--requests", type=int, default=20000, help="count bound per workload")
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"gunicorn {WORKERS} workers x {THREADS} threads (gthread); driver: 8 keep-alive connections; "
          "a system client's bearer token: consent decided and every request audited")
    print(f"data: {args.patients} Patients; bound per workload: {args.seconds:.0f} s or {args.requests} requests\n")
    rows = []
    for kind in args.stores.split(","):
        rows += bench_store(kind, args.patients, args.seconds, args.requests)
    header = f"{'workload':<16} {'store':<11} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs floor':>9}"
    print(header)
    print("-" * len(header))
    for kind, result, floor in rows:
        ratio = f"{result.throughput / floor.throughput:.2f}" if floor and floor.throughput else "-"
        print(f"{result.name:<16} {kind:<11} {result.throughput:>8.0f} {result.percentile(50):>8.2f} "
              f"{result.percentile(95):>8.2f} {result.percentile(99):>8.2f} {result.errors:>7} {ratio:>9}")
        if floor:
            print(f"{'  floor read':<16} {kind:<11} {floor.throughput:>8.0f} {floor.percentile(50):>8.2f} "
                  f"{floor.percentile(95):>8.2f} {floor.percentile(99):>8.2f} {floor.errors:>7} {'1.00':>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
