"""The legacy-import workload of `make bench`: `fhirip import --format planpro` on a generated export.

The export is `bench.import_throughput`'s synthetic PlanPro-style export (its generator lives
with the PlanPro mapping); the command runs as an operator would run it, in its own process,
into a fresh store. Its throughput is the command's own plans/s figure (the import, without
the process start), and the plans it refused count as errors.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.servers import ROOT

FHIRIP = str(Path(sys.executable).with_name("fhirip"))
_SUMMARY = re.compile(r"imported (\d+).*skipped (\d+).*?([\d.]+) plans/s", re.S)


@dataclass(frozen=True)
class ImportRun:
    plans: int
    refused: int
    plans_per_second: float
    wall_seconds: float


def write_export(directory: Path, plans: int, seed: int = 2003) -> int:
    """Write a generated PlanPro-style export of `plans` plans into `directory`; returns its size in bytes."""
    from bench.import_throughput import synthetic_export  # puts the mapping's generator on the path

    directory.mkdir(parents=True, exist_ok=True)
    files = synthetic_export(plans, seed)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return sum(len(data) for data in files.values())


def parse_summary(output: str) -> tuple[int, int, float]:
    """(imported, skipped, plans/s) from the summary line `fhirip import` prints."""
    found = _SUMMARY.search(output)
    if found is None:
        raise ValueError(f"no import summary in the output of fhirip import: {output[-500:]!r}")
    return int(found.group(1)), int(found.group(2)), float(found.group(3))


def run_import(export: Path, database_url: str, data_dir: Path) -> ImportRun:
    """`fhirip import --format planpro export` into the store at `database_url`."""
    env = {**os.environ, "FHIRIP_DATABASE_URL": database_url, "FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS": "true",
           "PYTHONPATH": str(ROOT)}
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run([FHIRIP, "import", "--format", "planpro", str(export), "--data-dir", str(data_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    try:
        imported, skipped, rate = parse_summary(done.stdout)
    except ValueError:
        raise RuntimeError(f"fhirip import failed (exit {done.returncode}): {done.stderr[-2000:]}") from None
    return ImportRun(imported, skipped, rate, wall)
