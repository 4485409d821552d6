"""Search latency over a generated data set, in-process through the full server core.

For each store: bulk-load the tier, then time each query many times with varied
parameters (warm cache) and print p50/p95. `--tier national` is the 100 000-patient
set of issue 3 (takes a while to load); `large` (5 000 plans) is the default.
`--database URL` (repeatable) measures an existing store instead: it is migrated,
bulk-loaded only if empty, and kept, so a national set is loaded once.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from bench.bulk_load import load
from bench.generate import FNR, MUNICIPALITIES, PRACTITIONERS_PER_MUNICIPALITY, TIERS, plan
from bench.run import database
from fhirip.auth.actor import Actor
from fhirip.bootstrap import build_services
from fhirip.config import Settings
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.store import Store
from fhirip.store.schema import resource

# A backend client with every system scope: decided and audited like any caller.
SYSTEM_ACTOR = Actor.from_claims({"sub": "bench-search", "client_id": "bench-search",
                                  "scope": "system/*.cruds"})

Query = Callable[[random.Random], tuple[str, list[tuple[str, str]]]]


def queries(count: int) -> dict[str, Query]:
    def by_identifier(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
        fnr = plan(rng.randrange(count)).fnr
        return "CarePlan", [("patient.identifier", f"{FNR}|{fnr}"), ("status", "active"),
                            ("_include", "CarePlan:goal"), ("_include", "CarePlan:care-team")]

    def active_by_date(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
        return "CarePlan", [("status", "active"), ("date", f"ge20{rng.randint(18, 25)}-01-01"),
                            ("_sort", "-date")]

    def has_team_member(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
        member = f"Practitioner/pr-{rng.randrange(MUNICIPALITIES)}-{rng.randrange(PRACTITIONERS_PER_MUNICIPALITY)}"
        return "Patient", [("_has:CareTeam:patient:participant", member), ("_count", "20")]

    return {"patient.identifier + includes": by_identifier, "status+date, sort -date": active_by_date,
            "_has:CareTeam:participant": has_team_member}


def measure(services, query: Query, repeats: int, seed: int = 3) -> list[float]:
    rng = random.Random(seed)
    timings = []
    for _ in range(repeats):
        res_type, params = query(rng)
        request = FhirRequest(method="GET", params=params, base_url="http://bench")
        started = time.perf_counter()
        response = handle(services, request, [res_type], SYSTEM_ACTOR)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status == 200
    return timings


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _bench(url: str, tmp: Path, count: int, repeats: int) -> list[tuple[str, str, float, float, float]]:
    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    store = Store(url)
    store.migrate()
    with store.transaction(write=False) as tx:
        empty = tx.conn.execute(select(resource.c.rid).limit(1)).first() is None
    if empty:
        written, seconds = load(store, count)
        print(f"{kind}: loaded {written} resources in {seconds:.0f} s")
    store.dispose()
    services = build_services(Settings(data_dir=tmp, database_url=url))
    rows = []
    for name, query in queries(count).items():
        measure(services, query, 20, seed=99)
        timings = measure(services, query, repeats)
        rows.append((name, kind, percentile(timings, 50), percentile(timings, 95),
                     statistics.mean(timings)))
    services.store.dispose()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", choices=sorted(TIERS), default="large")
    parser.add_argument("--plans", type=int)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--database", action="append", default=[],
                        help="an existing store to use (and keep) instead of a fresh one")
    args = parser.parse_args()
    count = args.plans or TIERS[args.tier]
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; {count} plans; "
          f"{args.repeats} timed runs per query after 20 warm-up runs; in-process, full core")
    rows: list[tuple[str, str, float, float, float]] = []
    if args.database:
        for url in args.database:
            with tempfile.TemporaryDirectory() as tmp:
                rows += _bench(url, Path(tmp), count, args.repeats)
    for kind in [] if args.database else args.stores.split(","):
        with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
            rows += _bench(url, Path(tmp), count, args.repeats)
    print(f"\n{'query':<32} {'store':<11} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name, kind, p50, p95, mean in rows:
        print(f"{name:<32} {kind:<11} {p50:>8.2f} {p95:>8.2f} {mean:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
