"""Import throughput of a generated PlanPro-style export: mapping alone, and through the store.

    .venv/bin/python bench/import_throughput.py [--plans 10000] [--seed 2003]
        [--stores map,sqlite,postgresql] [--profile FILE] [--no-check-ahead] [--segments N]

`map` reads the export and builds every plan's transaction Bundle (no store). `sqlite` and
`postgresql` run the real import (`fhirip.mapping.run_import` with the in-process submitter of
`fhirip.migration`): every Bundle goes through the transaction interaction with the server's
write hooks (profile validation), reference checks, search indexing and SQL, into a fresh
SQLite file or a throw-away PostgreSQL cluster (`fhirip.testing.postgres.TemporaryPostgres`).
Prints the machine, the data size and plans/s per store against the target of 50 plans/s (a
10 000-plan municipality in under 4 minutes), the CPU a plan costs the importing process and
its helper process (which reads, maps and, unless `--no-check-ahead`, parses and validates each
plan's resources ahead of the writer). `--profile FILE` writes a cProfile of each store
run to FILE.<store> and prints where the time goes. `--segments N` prints the same CPU a plan
for every N plans as the run goes, to show whether a plan costs more as the store fills (the
helper's figure runs up to ~130 plans ahead of the writer's, so N should be a few hundred).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "mappings" / "planpro"))

from fhirip.mapping import read_plans, run_import, to_bundle  # noqa: E402
from fhirip.mapping.records import RecordError  # noqa: E402
from make_samples import synthetic_export  # noqa: E402

TARGET_PLANS_PER_SECOND = 50.0
STORES = ("map", "sqlite", "postgresql")
# Where the write path spends its time, by module (cumulative time of the outermost call):
# area → the profile entry (or entries) that mark it.
PROFILE_AREAS: dict[str, str | tuple[str, ...]] = {
    "validation (fhirip/validation)": "fhirip/validation/validator.py:validate",
    "search index rows (fhirip/search/index.py)": "fhirip/search/index.py:",
    "pydantic parse (fhirip/model/resources.py)": "fhirip/model/resources.py:",
    "store writes (Tx.write, fhirip/store/store.py)": "fhirip/store/store.py:write",
    "plan rules (fhirip/plans)": "fhirip/plans/__init__.py:plan_rules",
    "  the plan's narrative (fhirip/plans/narrative.py)": "fhirip/plans/narrative.py:fill_plan_narrative",
    "conditional-create matching (fhirip/interactions/bundle.py)": "fhirip/interactions/bundle.py:_assign_ids",
    "commit": ("<method 'commit' of", "psycopg/connection.py:commit"),
    "mapping (fhirip/mapping)": "fhirip/mapping/bundle.py:to_bundle",
    "reading the export (fhirip/mapping/planpro.py)": "fhirip/mapping/planpro.py:read_planpro",
}


def machine() -> str:
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f" memory={pages / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.machine()} {model} cpus={os.cpu_count()}{memory} python={platform.python_version()} "
            f"{platform.system()} {platform.release()}")


def map_only(directory: Path) -> tuple[float, int, int]:
    started = time.perf_counter()
    plans = entries = 0
    for item in read_plans("planpro", directory):
        if isinstance(item, RecordError):
            continue
        bundle, _ = to_bundle(item)
        plans += 1
        entries += len(bundle["entry"])
    return time.perf_counter() - started, plans, entries


@contextmanager
def store_url(kind: str, tmp: Path) -> Iterator[tuple[str, Callable[[], float]]]:
    """The store's URL, and a function giving the CPU seconds its server has used so far (SQLite: 0,
    its work is in the importing process)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.sqlite3'}", lambda: 0.0
        return
    from fhirip.testing.postgres import TemporaryPostgres

    with TemporaryPostgres() as cluster:
        url = cluster.create_database("bench")
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        yield url, lambda: _server_cpu(postmaster)


def _server_cpu(postmaster: int) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster and its running processes (a backend
    that has ended is in the postmaster's children's time once the postmaster has reaped it)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
        elif parent == postmaster:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class _Segments:
    """A sink that passes every plan on to `sink` and prints, every `size` plans, the wall time
    and CPU a plan of this process, of the helper process (still running, read from /proc) and
    of the database server over those plans."""

    def __init__(self, sink: Any, size: int, server_cpu: Callable[[], float]) -> None:
        self.sink, self.size, self.server_cpu = sink, size, server_cpu
        self.submitted = 0
        self.last: tuple[float, float, float, float] | None = None

    def validator(self) -> Any:
        return self.sink.validator()

    def submit(self, bundle: dict[str, Any], checks: Any = None) -> dict[str, Any]:
        if self.last is None:
            self.last = self._now()
        answer = self.sink.submit(bundle, checks)
        self.submitted += 1
        if self.submitted % self.size == 0:
            now, last = self._now(), self.last
            self.last = now
            wall, cpu, helper, server = (1000 * (a - b) / self.size for a, b in zip(now, last, strict=True))
            print(f"  plans {self.submitted - self.size + 1}-{self.submitted}: {wall:.1f} ms a plan of wall time; "
                  f"CPU ms a plan: this process {cpu:.1f}, helper {helper:.1f}, database server {server:.1f}; "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
        return answer

    def due(self) -> bool:
        return self.sink.due()

    def commit(self) -> None:
        self.sink.commit()

    def rollback(self) -> None:
        self.sink.rollback()

    def _now(self) -> tuple[float, float, float, float]:
        return time.perf_counter(), time.process_time(), _running_children_cpu(), self.server_cpu()


def _running_children_cpu() -> float:
    """CPU seconds of this process's running child processes (the import's helper)."""
    ticks, me, total = os.sysconf("SC_CLK_TCK"), os.getpid(), 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def through_store(kind: str, directory: Path, profile: Path | None, check_ahead: bool = True,
                  segments: int | None = None) -> tuple[float, float, float, float, int, int, int, int, int]:
    """(wall seconds, CPU seconds of this process, CPU seconds of the helper process, CPU seconds
    of the database server, plans imported, resources created, plans refused, checks taken from the
    helper, resources whose index rows were taken from it) for one fresh store.
    CPU time shows the cost on a machine shared with other work."""
    from fhirip.bootstrap import build_services
    from fhirip.config import Settings
    from fhirip.heap import settle_heap
    from fhirip.mapping.store_batches import BatchedStoreSink

    with tempfile.TemporaryDirectory() as tmp, store_url(kind, Path(tmp)) as (url, server_cpu):
        services = build_services(Settings(data_dir=Path(tmp), database_url=url, allow_synthetic_identifiers=True))
        settle_heap()  # as `fhirip import` does
        try:
            profiler = cProfile.Profile(time.process_time) if profile else None  # CPU: waits on a shared machine are noise
            started, cpu_started, helper_started = time.perf_counter(), time.process_time(), _children_cpu()
            server_started = server_cpu()
            if profiler:
                profiler.enable()
            # With a checkpoint file, as `fhirip import` keeps one: its syncs to disk are part of the cost.
            sink: Any = BatchedStoreSink(services)
            if segments:
                sink = _Segments(sink, segments, server_cpu)
            summary = run_import("planpro", directory, sink, progress=False,
                                 prepare_in_background=True, check_ahead=check_ahead,
                                 checkpoint=Path(tmp) / "import.checkpoint")
            if profiler:
                profiler.disable()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            helper_cpu = _children_cpu() - helper_started
            server_used = server_cpu() - server_started
        finally:
            services.store.dispose()
    if profiler and profile:
        target = profile.with_name(f"{profile.name}.{kind}")
        profiler.dump_stats(str(target))
        report_profile(target, seconds)
    for error in summary.errors[:3]:
        print(f"  refused: {error.file}:{error.line} {error.record}: {error.reason[:300]}")
    return (seconds, cpu, helper_cpu, server_used, summary.plans_imported, summary.resources_created, summary.plans_skipped,
            summary.checks_taken, summary.index_rows_taken)


def _children_cpu() -> float:
    """CPU seconds of the ended child processes (the import's helper, once it has been joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _markers(markers: str | tuple[str, ...]) -> tuple[str, ...]:
    return (markers,) if isinstance(markers, str) else markers


def report_profile(path: Path, seconds: float) -> None:
    stats = pstats.Stats(str(path))
    cumulative: dict[str, float] = {}
    for (file, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{file}:{function}"
        for area, markers in PROFILE_AREAS.items():
            if any(marker in where.replace(str(ROOT) + "/", "") for marker in _markers(markers)):
                cumulative[area] = max(cumulative.get(area, 0.0), ct)
    print(f"  profile ({path}): largest cumulative time per area, of {seconds:.1f} s (areas overlap)")
    for area, value in sorted(cumulative.items(), key=lambda item: -item[1]):
        print(f"    {area:62s} {value:7.1f} s  {100 * value / seconds:5.1f} %")
    print("  top functions by own time:")
    stats.sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2003)
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated: " + ", ".join(STORES))
    parser.add_argument("--profile", type=Path, help="write a cProfile of each store run to FILE.<store>")
    parser.add_argument("--no-check-ahead", action="store_true",
                        help="the writer parses and validates every resource itself (no checks from the helper)")
    parser.add_argument("--segments", type=int, metavar="N",
                        help="print the CPU a plan of each process for every N plans as the import goes")
    args = parser.parse_args()
    stores = [s for s in args.stores.split(",") if s]
    unknown = set(stores) - set(STORES)
    if unknown:
        parser.error(f"unknown store(s) {', '.join(sorted(unknown))}")

    started = time.perf_counter()
    files = synthetic_export(args.plans, args.seed)
    generated = time.perf_counter() - started
    size = sum(len(data) for data in files.values())
    print(f"machine: {machine()}")
    print(f"data: generated PlanPro-style export of {args.plans} plans, {len(files)} files, "
          f"{size / 1e6:.1f} MB (generated in {generated:.1f} s)")
    with tempfile.TemporaryDirectory() as directory:
        for name, data in files.items():
            Path(directory, name).write_bytes(data)
        for store in stores:
            if store == "map":
                seconds, plans, entries = map_only(Path(directory))
                print(f"map (read + bundles, no store): {plans} plans, {entries} bundle entries in {seconds:.1f} s "
                      f"= {plans / seconds:.1f} plans/s")
                continue
            load_before = os.getloadavg()[0]
            seconds, cpu, helper_cpu, server_used, plans, created, refused, taken, rows_taken = through_store(
                store, Path(directory), args.profile, check_ahead=not args.no_check_ahead, segments=args.segments)
            rate = plans / seconds if seconds else 0.0
            read = plans + refused
            print(f"{store}: {plans} plans imported ({refused} refused), {created} resources created in "
                  f"{seconds:.1f} s = {rate:.1f} plans/s, {created / seconds:.0f} resources/s "
                  f"(CPU {cpu:.1f} s in this process = {1000 * cpu / read:.1f} ms a plan, {plans / cpu:.1f} plans "
                  f"per CPU-second; helper process {1000 * helper_cpu / read:.1f} ms a plan; database server "
                  f"{1000 * server_used / read:.1f} ms a plan; {taken} parses and "
                  f"validations and {rows_taken} resources' index rows taken from the helper); "
                  f"{rate / TARGET_PLANS_PER_SECOND:.2f}x the target of "
                  f"{TARGET_PLANS_PER_SECOND:.0f} plans/s; load average {load_before:.1f} before, "
                  f"{os.getloadavg()[0]:.1f} after", flush=True)


if __name__ == "__main__":
    main()
