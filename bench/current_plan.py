"""`python -m bench.current_plan`: latency of `CarePlan/$current` in-process, beside a plain read.

Fills an empty store (SQLite file, or a temporary PostgreSQL cluster) with N
generated plans (bench.generate: 5-25 measures, 3-10 goals, 4-12 team members
each), then calls `$current?patient-identifier=<fnr>` through the core router
(one read transaction per call, no HTTP) for random persons, and the plain read
`CarePlan/[id]` of the same persons as the floor. Prints the machine, the data
size, p50/p95/p99 of both, and the ratio of the $current p95 to the read p95.

Callers: by default each call comes from the coordinator of another random plan (a
coordinator may recur, and then finds their decision kept); `--cold` makes every call a
first call (a new session each time, so every consent decision is made afresh);
`--callers N` lets only N coordinators call (a clinician working through a list).
Also printed: the SQL statements each `$current` call sends, and the load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import platform
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from bench.bulk_load import load
from bench.generate import Plan, plan
from bench.run import database
from fhirip.auth import Actor
from fhirip.bootstrap import build_services
from fhirip.config import Settings
from fhirip.demo import FNR
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.store import Store


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "mean": statistics.fmean(ordered) * 1000}


def timed(call: Callable[[], int], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        status = call()
        samples.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"a benchmark call answered {status}")
    return samples


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the calling thread sends while inside (not the background audit flush)."""
    sent: list[str] = []
    thread = threading.get_ident()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == thread:
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def coordinator_claims(generated: Plan) -> dict[str, str]:
    """The plan's coordinator as a caller: consented through the care team, as in real use."""
    team = next(r for r in generated.resources if r["resourceType"] == "CareTeam")
    member = team["participant"][0]["member"]["reference"]  # the coordinator: pr-<m>-<p>
    municipality, number = member.rsplit("-", 2)[1:]
    hpr = str(1_000_000 + int(municipality) * 1000 + int(number))
    return {"sub": f"hpr-{hpr}", "helseid://claims/hpr/hpr_number": hpr, "scope": "user/*.rs", "iss": "bench"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plans", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database", help="a store already loaded with bench.bulk_load (the same --plans)")
    parser.add_argument("--callers", type=int,
                        help="only this many coordinators call, each for their own plans (a clinician "
                             "working through a list: their decision is reused); default: every call "
                             "comes from another plan's coordinator")
    parser.add_argument("--cold", action="store_true",
                        help="every call is the caller's first: a new session each time, so no consent "
                             "decision is reused")
    parser.add_argument("--audit-mover", choices=("process", "thread"), default="process",
                        help="who moves the audit journal in the background: a process of its own (the "
                             "default, as a server does: FHIRIP_AUDIT_MOVER) or a thread of the serving process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, (
            nullcontext(args.database) if args.database else database(args.store, Path(tmp))) as url:
        written, seconds = 0, 0.0
        if not args.database:
            store = Store(url)
            store.migrate()
            written, seconds = load(store, args.plans, progress=False)
            store.dispose()
        services = build_services(Settings(data_dir=Path(tmp), database_url=url,
                                           allow_synthetic_identifiers=True, audit_mover=args.audit_mover))
        chooser = random.Random(7)
        sample = [plan(i) for i in chooser.sample(range(args.plans), min(args.plans, 2000))]
        if args.callers:
            chosen = {coordinator_claims(p)["helseid://claims/hpr/hpr_number"] for p in sample[:args.callers]}
            sample = [p for p in sample if coordinator_claims(p)["helseid://claims/hpr/hpr_number"] in chosen]
        actors = {hpr: Actor.from_claims(claims) for claims in map(coordinator_claims, sample)
                  for hpr in [claims["helseid://claims/hpr/hpr_number"]]}
        people = [(p.fnr, next(r["id"] for r in p.resources if r["resourceType"] == "CarePlan"),
                   actors[coordinator_claims(p)["helseid://claims/hpr/hpr_number"]]) for p in sample]

        sessions = itertools.count()

        def caller(actor: Actor) -> Actor:
            return dataclasses.replace(actor, sub=f"{actor.sub}-{next(sessions)}") if args.cold else actor

        def current() -> int:
            fnr, _, actor = chooser.choice(people)
            actor = caller(actor)
            request = FhirRequest("GET", params=[("patient-identifier", f"{FNR}|{fnr}")], base_url="")
            return handle(services, request, ["CarePlan", "$current"], actor).status

        def read() -> int:
            _, plan_id, actor = chooser.choice(people)
            actor = caller(actor)
            return handle(services, FhirRequest("GET", base_url=""), ["CarePlan", plan_id], actor).status

        timed(current, 20), timed(read, 20)  # warm caches and compiled statements
        load_before = os.getloadavg()
        with counting_statements(services.store.engine) as statements:
            current_ms = percentiles(timed(current, args.calls))
        read_ms = percentiles(timed(read, args.calls))
        load_after = os.getloadavg()
        services.audit_trail.close()
        services.store.dispose()
    print(f"machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    loaded = f"{written} resources loaded in {seconds:.1f} s" if written else "a store loaded beforehand"
    kind = url.split(":", 1)[0].split("+", 1)[0]  # the store measured, given by --database when set
    print(f"store: {kind}; {args.plans} plans, {loaded}; {args.calls} calls each, in-process, "
          "as the plan's coordinator (consent decided, every call audited); "
          + (f"{len({id(a) for *_, a in people})} coordinators calling" if args.callers
             else "every call from another plan's coordinator")
          + ("; every call a first call (no decision reused)" if args.cold else ""))
    for name, found in (("$current", current_ms), ("read CarePlan/[id]", read_ms)):
        print(f"{name:>20}: p50 {found['p50']:.2f} ms  p95 {found['p95']:.2f} ms  "
              f"p99 {found['p99']:.2f} ms  mean {found['mean']:.2f} ms")
    print(f"$current p95 / read p95 = {current_ms['p95'] / read_ms['p95']:.1f}")
    print(f"SQL statements per $current call (the caller's thread, audit journal included): "
          f"{len(statements) / args.calls:.1f}")
    print(f"load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after: {' '.join(f'{x:.2f}' for x in load_after)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
