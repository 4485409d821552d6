"""`make bench`: fhirip under gunicorn beside its baselines, on realistic data, on both stores.

For each store (SQLite, a throw-away PostgreSQL): bulk-load the generated tier
(`bench.workloads_data`), start fhirip (`server.wsgi:app`), the unenforced app
(`bench.unenforced_app`: authentication, no consent decision, no audit) and the floor
(`bench.floor_app`) under the same gunicorn settings, drive every workload over loopback with
`bench.loadgen` (a warm-up, then a run bounded in time and count), then run the legacy import
into a fresh store. Then the peer (`bench.peer`: sekmet-fhir in its own venv, on SQLite) with
the same data and every workload it supports. Prints the machine, the data, one table with
throughput and p50/p95/p99 per workload, server and store, fhirip's ratios to the floor and the
peer, the cost of enforcement and audit, and the wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import peer as peer_server
from bench.loadgen import Result, run
from bench.servers import THREADS, WORKERS, FhiripServe, Gunicorn, wait_until_idle
from bench.workloads import HTTP_KEYS, SPEC, Factory, Tokens, Workloads
from bench.workloads_data import DataSet, load_store
from bench.workloads_import import run_import, write_export
from bench.workloads_report import Figure, Table
from fhirip.auth.devkeys import DevKeys
from fhirip.testing.postgres import TemporaryPostgres

BASELINES = {"unenforced": {"read", "read-system", "search"}, "floor": {"read", "search"}}
PEER_WORKLOADS = ["read", "search", "update", "create", "transaction"]
PEER_MISSING = {
    "current": "no $current operation (it answers 404 not-supported); the nearest search is the search row",
    "worklist": "no worklist operation, and no search parameter on the measures' next-evaluation extension",
    "import": "no legacy (PlanPro) import",
}
# Workloads the peer runs with less work than fhirip: said beside the table.
PEER_PARTIAL = {
    "search": "answers with the plan only: it has no CarePlan `goal` search parameter, so it ignores "
              "_include=CarePlan:goal (with a warning in the Bundle)",
    "update": "validates writes structurally only (R4B models), not against profiles or plan rules",
    "create": "validates writes structurally only (R4B models), not against profiles or plan rules",
    "transaction": "validates writes structurally only; no one-plan-per-person or reference rules",
}


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh store of `kind` (sqlite: a file in tmp; postgresql: a throw-away cluster); yields its URL."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.sqlite3'}"
        return
    with TemporaryPostgres() as pg:
        yield pg.url


@contextmanager
def new_stores(kind: str, tmp: Path) -> Iterator[Callable[[str], str]]:
    """A function from a name to the URL of a new, empty store of `kind` (on one throw-away cluster)."""
    if kind == "sqlite":
        yield lambda name: f"sqlite:///{tmp / (name + '.sqlite3')}"
        return
    with TemporaryPostgres() as pg:
        yield pg.create_database


# A workload with many callers warms up until each caller's token has most likely reached both
# workers (each request lands on either): a server verifies a token's signature once and then
# trusts it for a minute, as a real client's token is sent on many requests. Measured cold, a
# short run of the coordinators' 600 tokens charged a signature check to a large share of its
# requests, and none to the system client's one token.
WARM_PASSES = 4
WARM_SECONDS_AT_MOST = 15.0


# The reads and their baselines are measured in rounds: each (workload, server) pair runs a slice of
# its time in every round, in an order that turns round by round. A run on this kind of machine
# drifts (the database grows by every audited read, the WAL and the caches change), so a ratio of
# two figures measured minutes apart said as much about when each ran as about the servers;
# interleaved, both sides of a ratio see the same drift.
ROUND_WARM_SECONDS = 0.5


@dataclass
class Pair:
    """One workload on one server, and what its slices measured so far."""

    key: str
    server: str
    url: str
    workloads: Workloads
    factory: Factory
    result: Result
    slices: list[float]


class Driver:
    """Runs workloads against servers: a warm-up, then the measurement, within the count bounds."""

    def __init__(self, args: argparse.Namespace):
        self.args = args

    def _warm(self, key: str, url: str, workloads: Workloads, factory: Factory) -> None:
        limit = workloads.limit(key)
        callers = workloads.callers(key)
        warmup = min(200, limit // 10) if limit else max(200, WARM_PASSES * callers)
        if self.args.warmup > 0:
            seconds = self.args.warmup if callers == 1 else max(self.args.warmup, WARM_SECONDS_AT_MOST)
            run(key, url, factory, concurrency=self.args.concurrency, max_seconds=seconds,
                max_requests=warmup)

    def measure(self, key: str, server: str, store: str, url: str, workloads: Workloads) -> Figure:
        """One workload on one server in one stretch (the writes: each consumes its data)."""
        factory = workloads.factory(key)
        self._warm(key, url, workloads, factory)
        limit = workloads.limit(key)
        budget = self.args.requests if limit is None else min(self.args.requests, limit - factory.issued)
        result = run(key, url, factory, concurrency=self.args.concurrency, max_seconds=self.args.seconds,
                     max_requests=budget)
        return self._report(Figure.from_result(key, server, store, result))

    def measure_interleaved(self, pairs: list[tuple[str, str, str, Workloads]], store: str) -> list[Figure]:
        """Read workloads on their servers in `--rounds` rounds, each pair a slice of `--seconds` per round."""
        rounds = max(1, self.args.rounds)
        measured = []
        for key, server, url, workloads in pairs:
            factory = workloads.factory(key)
            self._warm(key, url, workloads, factory)
            measured.append(Pair(key, server, url, workloads, factory, Result(key), []))
        for number in range(rounds):
            turn = number % len(measured)
            for pair in measured[turn:] + measured[:turn]:
                run(pair.key, pair.url, pair.factory, concurrency=self.args.concurrency,
                    max_seconds=min(ROUND_WARM_SECONDS, self.args.warmup), max_requests=self.args.requests)
                part = run(pair.key, pair.url, pair.factory, concurrency=self.args.concurrency,
                           max_seconds=self.args.seconds / rounds, max_requests=max(1, self.args.requests // rounds))
                pair.result.latencies_ms += part.latencies_ms
                pair.result.errors += part.errors
                pair.result.elapsed_s += part.elapsed_s
                for status, count in part.statuses.items():
                    pair.result.statuses[status] = pair.result.statuses.get(status, 0) + count
                pair.result.first_error = pair.result.first_error or part.first_error
                pair.slices.append(part.throughput)
        return [self._report(Figure.from_result(p.key, p.server, store, p.result), p.slices) for p in measured]

    @staticmethod
    def _report(figure: Figure, slices: list[float] | None = None) -> Figure:
        each = f"  (rounds: {', '.join(f'{t:.0f}' for t in slices)}/s)" if slices and len(slices) > 1 else ""
        print(f"  {SPEC[figure.workload].title:<22} {figure.server:<10} {figure.throughput:8.1f}/s  "
              f"p50 {figure.p50:7.1f} ms  p95 {figure.p95:7.1f} ms  errors {figure.errors}{each}", flush=True)
        return figure


def bench_store(kind: str, data: DataSet, keys: list[str], driver: Driver) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp, new_stores(kind, Path(tmp)) as new_store:
        db_url = new_store("bench")
        started = time.perf_counter()
        written = load_store(db_url, data)
        print(f"{kind}: loaded {written} resources in {time.perf_counter() - started:.1f} s", flush=True)
        env = {"FHIRIP_DATABASE_URL": db_url, "FHIRIP_DATA_DIR": tmp, "FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS": "true"}
        tokens = Tokens(DevKeys.load_or_create(tmp))
        http_keys = [k for k in HTTP_KEYS if k in keys]
        if http_keys:
            with ExitStack() as servers:
                started_servers: list[FhiripServe | Gunicorn] = [FhiripServe(env, Path(tmp))]
                urls = {"fhirip": servers.enter_context(started_servers[0])}
                if any(k in BASELINES["unenforced"] for k in http_keys):
                    started_servers.append(Gunicorn("bench.unenforced_app:app", env, as_fhirip_serve=True))
                    urls["unenforced"] = servers.enter_context(started_servers[-1])
                if any(k in BASELINES["floor"] for k in http_keys):
                    started_servers.append(
                        Gunicorn("bench.floor_app:app", {"FLOOR_DATABASE_URL": db_url}, ready_path="/Patient/pt-0"))
                    urls["floor"] = servers.enter_context(started_servers[-1])
                # Servers finish starting before anything is measured: fhirip's workers start their audit
                # journal movers and companion processes as they boot, each a new interpreter importing
                # the server; the wait ends when every process of every server is idle.
                settled = wait_until_idle([server.pid for server in started_servers])
                print(f"{kind}: servers idle after {settled:.1f} s", flush=True)
                # Reads first, interleaved with their baselines; then the writes, which change the data.
                reads = [(key, server, url, Workloads(data, tokens, origin=url))
                         for key in http_keys if not SPEC[key].writes
                         for server, url in urls.items() if server == "fhirip" or key in BASELINES[server]]
                if reads:
                    figures += driver.measure_interleaved(reads, kind)
                for key in [k for k in http_keys if SPEC[k].writes]:
                    figures.append(driver.measure(key, "fhirip", kind, urls["fhirip"],
                                                  Workloads(data, tokens, origin=urls["fhirip"])))
        if "import" in keys:
            figures.append(bench_import(kind, Path(tmp), new_store("import"), driver.args.import_plans))
    return figures


def bench_import(kind: str, tmp: Path, url: str, plans: int) -> Figure:
    """`fhirip import` of a generated export of `plans` plans into the empty store at `url`."""
    export = tmp / "planpro-export"
    write_export(export, plans)
    done = run_import(export, url, tmp / "import-data")
    print(f"  {SPEC['import'].title:<22} {'fhirip':<10} {done.plans_per_second:8.1f}/s  "
          f"({done.plans} plans imported, {done.refused} refused, {done.wall_seconds:.1f} s with process start)",
          flush=True)
    return Figure("import", "fhirip", kind, done.plans_per_second, count=done.plans, errors=done.refused)


def bench_peer(data: DataSet, keys: list[str], driver: Driver, version: str) -> tuple[list[Figure], str]:
    python, _ = peer_server.ensure_installed(version)
    installed = peer_server.installed_version(python)
    figures = []
    with tempfile.TemporaryDirectory() as tmp, peer_server.PeerServer(python, Path(tmp) / "peer") as root:
        written, load_seconds = peer_server.load(root, data.resources())
        print(f"peer: loaded {written} resources in {load_seconds:.1f} s", flush=True)
        tokens = Tokens(DevKeys.load_or_create(tmp))  # sent as to fhirip; the peer does not check them
        for key in [k for k in PEER_WORKLOADS if k in keys]:
            figures.append(driver.measure(key, "peer", "sqlite", root,
                                          Workloads(data, tokens, prefix=peer_server.PREFIX)))
    return figures, installed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=600, help="generated plans (the mid-size municipality tier)")
    parser.add_argument("--extra-patients", type=int, default=2000, help="persons without a plan, for create")
    parser.add_argument("--seconds", type=float, default=5.0, help="time bound per workload")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds the reads and their baselines are interleaved in (each a slice of --seconds)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each workload")
    parser.add_argument("--requests", type=int, default=20000, help="count bound per workload")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections of the driver")
    parser.add_argument("--import-plans", type=int, default=30, help="plans in the generated legacy export")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--workloads", default=",".join(SPEC), help="comma-separated: " + ", ".join(SPEC))
    parser.add_argument("--no-peer", action="store_true", help=f"skip the peer ({peer_server.PACKAGE})")
    parser.add_argument("--peer-version", default=peer_server.VERSION)
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)
    for name, allowed in (("stores", ("sqlite", "postgresql")), ("workloads", tuple(SPEC))):
        chosen = [v for v in getattr(args, name).split(",") if v]
        unknown = sorted(set(chosen) - set(allowed))
        if unknown:
            parser.error(f"unknown {name}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
        setattr(args, name, chosen)
    return args


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    data = DataSet(args.plans, args.extra_patients)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"servers: fhirip by `fhirip serve --workers {WORKERS} --threads {THREADS}`, the unenforced app with the same "
          f"gunicorn settings, the floor under gunicorn ({WORKERS} workers x {THREADS} threads); the peer under uvicorn, "
          f"{WORKERS} workers; driver: {args.concurrency} keep-alive connections")
    print(f"data: {args.plans} generated plans + {len(data.extras)} persons without a plan = "
          f"{data.resource_count()} resources; per workload {args.warmup:g} s warm-up, then {args.seconds:g} s "
          f"or {args.requests} requests (the reads and their baselines interleaved in {args.rounds} rounds); "
          f"import: {args.import_plans} plans\n", flush=True)
    driver = Driver(args)
    figures: list[Figure] = []
    peer_version = None
    peer_missing: dict[str, str] = {}
    peer_partial: dict[str, str] = {}
    if not args.no_peer:  # installed first: a failing install shows before the long part
        python, seconds = peer_server.ensure_installed(args.peer_version)
        print(f"peer: {peer_server.PACKAGE} {peer_server.installed_version(python)} in {python.parent.parent} "
              f"({'installed in' if seconds > 5 else 'ready in'} {seconds:.0f} s)\n", flush=True)
    for kind in args.stores:
        figures += bench_store(kind, data, args.workloads, driver)
    if not args.no_peer:
        peer_figures, peer_version = bench_peer(data, args.workloads, driver, args.peer_version)
        figures += peer_figures
        peer_missing = {k: why for k, why in PEER_MISSING.items() if k in args.workloads}
        peer_partial = {k: why for k, why in PEER_PARTIAL.items() if k in args.workloads}
    table = Table(figures, peer_missing, peer_partial)
    print()
    print(table.render())
    print()
    for note in table.notes():
        print(note)
    if peer_version:
        print(f"peer: {peer_server.PACKAGE} {peer_version} (SQLite only: both fhirip stores are compared with it)")
    if args.markdown:
        print("\n" + table.markdown())
    print(f"\nwall time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
