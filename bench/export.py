"""Bulk Data export throughput and the exporting process's memory, beside plain search.

For each store: bulk-load a generated tier (`bench/generate.py`), then in the same run
1. plain search of the same resources through the full server core (`handle`, a system client,
   decided and audited): the first 1 000 of each type, pages of 200, in resources/s;
2. a system-level export by the same system client (`system/*.read`), run by the export runner
   (`fhirip.export.runner.Runner`) in a process of its own: resources/s, and the process's
   resident memory after its first, middle and last chunk and its peak during the export.

`--database URL` measures an existing store (migrated; loaded only if empty, and kept), so the
national tier is loaded once: `python -m bench.bulk_load URL --tier national`.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.bulk_load import load
from bench.generate import TIERS
from bench.run import database

SYSTEM_CLAIMS = {"sub": "bench-export", "client_id": "bench-export", "scope": "system/*.read"}


def _rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    """Start the kernel's peak resident size (VmHWM) afresh, so it measures the export alone and
    not the start-up (the search registry and the models, read once)."""
    Path("/proc/self/clear_refs").write_text("5")


def export_in_this_process(url: str, out_dir: Path, chunk: int) -> dict[str, Any]:
    """Start a system-level export job and run it to its end here; what it took."""
    from datetime import UTC, datetime

    from fhirip.auth.actor import Actor
    from fhirip.export import jobs
    from fhirip.export.caller import caller_json, owner_key
    from fhirip.export.runner import Runner
    from fhirip.export.sweeps import snapshot_seq
    from fhirip.search import index as search_index
    from fhirip.search.registry import registry
    from fhirip.store import Store
    from fhirip.store.schema import export_job

    store = Store(url, indexer=search_index)
    actor = Actor.from_claims(SYSTEM_CLAIMS)
    job_id = jobs.new_job_id()
    now = datetime.now(UTC).replace(tzinfo=None)
    with store.transaction(write=True) as tx:
        jobs.create(tx.conn, job_id=job_id, owner=owner_key(actor), caller=caller_json(actor),
                    request_url="http://bench/$export", level="system",
                    plan={"types": sorted(t for t in registry().resource_types() if t != "AuditEvent"),
                          "since": None, "elements": None},
                    transaction_time=now, snapshot_seq=snapshot_seq(tx.conn))
    runner = Runner(store, export_dir=out_dir, retention=3600, lease=3600, chunk=chunk)
    rss_by_chunk: list[float] = []  # resident memory after each chunk
    record = runner.audit

    def audit_and_measure(events: Any) -> None:
        record(events)
        rss_by_chunk.append(_rss_mb())

    runner.audit = audit_and_measure  # type: ignore[method-assign]
    start_up_peak = _rss_mb("VmHWM")
    _reset_peak()
    started = time.perf_counter()
    runner.run_once()
    seconds = time.perf_counter() - started
    with store.transaction(write=False) as tx:
        row = tx.conn.execute(select(export_job.c.exported, export_job.c.status)
                              .where(export_job.c.job_id == job_id)).one()
    store.dispose()
    return {"resources": row.exported, "status": row.status, "seconds": seconds,
            "rss_first_chunk_mb": rss_by_chunk[0] if rss_by_chunk else 0.0,
            "rss_middle_mb": rss_by_chunk[len(rss_by_chunk) // 2] if rss_by_chunk else 0.0,
            "rss_last_chunk_mb": rss_by_chunk[-1] if rss_by_chunk else 0.0,
            "rss_peak_mb": _rss_mb("VmHWM"), "start_up_peak_mb": start_up_peak}


def search_throughput(url: str, tmp: Path, per_type: int = 1000, page: int = 200) -> tuple[int, float]:
    """Plain search of the first `per_type` resources of each stored type, through the core."""
    from fhirip.auth.actor import Actor
    from fhirip.bootstrap import build_services
    from fhirip.config import Settings
    from fhirip.interactions.request import FhirRequest
    from fhirip.interactions.router import handle, split_url
    from fhirip.store.schema import resource as resource_table

    services = build_services(Settings(data_dir=tmp, database_url=url), migrate=False)
    actor = Actor.from_claims(SYSTEM_CLAIMS)
    with services.store.transaction(write=False) as tx:
        types = [t for t, n in tx.conn.execute(select(resource_table.c.res_type, func.count())
                                               .group_by(resource_table.c.res_type))
                 if t != "AuditEvent" and n]
    found = 0
    started = time.perf_counter()
    for res_type in types:
        segments, params = [res_type], [("_count", str(page))]
        while found is not None:
            response = handle(services, FhirRequest(method="GET", params=params, base_url="http://bench"),
                              segments, actor)
            bundle = response.resource or {}
            entries = [e for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]
            found += len(entries)
            following = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
            if following is None or sum(1 for _ in entries) == 0:
                break
            segments, params = split_url(following, "http://bench")
    seconds = time.perf_counter() - started
    services.audit_trail.close()
    services.store.dispose()
    return found, seconds


def _bench(url: str, tmp: Path, count: int, chunk: int) -> dict[str, Any]:
    from fhirip.store import Store
    from fhirip.store.schema import resource as resource_table

    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    store = Store(url)
    store.migrate()
    with store.transaction(write=False) as tx:
        empty = tx.conn.execute(select(resource_table.c.rid).limit(1)).first() is None
    if empty:
        written, seconds = load(store, count)
        print(f"{kind}: loaded {written} resources in {seconds:.0f} s", flush=True)
    store.dispose()
    # Search first: the export journals an AuditEvent per patient and chunk, which a search
    # afterwards would first have to move into the resource tables.
    searched, search_seconds = search_throughput(url, tmp)
    child = subprocess.run([sys.executable, "-m", "bench.export", "--child", url, str(tmp / "exports"), str(chunk)],
                           check=True, capture_output=True, text=True)
    exported = json.loads(child.stdout.strip().splitlines()[-1])
    return {"store": kind, **exported, "searched": searched, "search_seconds": search_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", choices=sorted(TIERS), default="medium")
    parser.add_argument("--plans", type=int)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--chunk", type=int, default=1000, help="resources per chunk (FHIRIP_EXPORT_CHUNK)")
    parser.add_argument("--database", action="append", default=[],
                        help="an existing store to use (and keep) instead of a fresh one")
    parser.add_argument("--child", nargs=3, metavar=("URL", "DIR", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, out_dir, chunk = args.child
        print(json.dumps(export_in_this_process(url, Path(out_dir), int(chunk))))
        return 0
    count = args.plans or TIERS[args.tier]
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; {count} plans; "
          f"chunks of {args.chunk}; a system client (system/*.read)", flush=True)
    rows = []
    if args.database:
        for url in args.database:
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(_bench(url, Path(tmp), count, args.chunk))
    for kind in [] if args.database else args.stores.split(","):
        with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
            rows.append(_bench(url, Path(tmp), count, args.chunk))
    print(f"\n{'store':<11} {'exported':>9} {'export res/s':>13} {'RSS MB: 1st chunk':>18} {'middle':>7} "
          f"{'last':>6} {'peak':>6} {'start-up peak':>14} {'searched':>9} {'search res/s':>13}")
    for row in rows:
        print(f"{row['store']:<11} {row['resources']:>9} {row['resources'] / row['seconds']:>13.0f} "
              f"{row['rss_first_chunk_mb']:>18.0f} {row['rss_middle_mb']:>7.0f} {row['rss_last_chunk_mb']:>6.0f} "
              f"{row['rss_peak_mb']:>6.0f} {row['start_up_peak_mb']:>14.0f} {row['searched']:>9} {row['searched'] / row['search_seconds']:>13.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
