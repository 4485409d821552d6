"""Import throughput: read + map (bundle building) of a generated PlanPro-style export.

    .venv/bin/python bench/import_throughput.py [--plans 10000] [--seed 2003]

Prints the machine, the data size and plans/s against the target of 50 plans/s (a 10 000-plan
municipality in under 4 minutes). Storing the bundles is not measured here.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "mappings" / "planpro"))

from fhirip.mapping import read_plans, to_bundle  # noqa: E402
from fhirip.mapping.records import RecordError  # noqa: E402
from make_samples import synthetic_export  # noqa: E402

TARGET_PLANS_PER_SECOND = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2003)
    args = parser.parse_args()

    started = time.perf_counter()
    files = synthetic_export(args.plans, args.seed)
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as directory:
        for name, data in files.items():
            Path(directory, name).write_bytes(data)
        size = sum(len(data) for data in files.values())
        started = time.perf_counter()
        plans = entries = errors = 0
        for item in read_plans("planpro", Path(directory)):
            if isinstance(item, RecordError):
                errors += 1
                continue
            bundle, _ = to_bundle(item)
            plans += 1
            entries += len(bundle["entry"])
        seconds = time.perf_counter() - started
    rate = plans / seconds
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
          f"python={platform.python_version()}")
    print(f"data: {plans} plans ({errors} errors), {entries} bundle entries, export {size / 1e6:.1f} MB "
          f"(generated in {generated:.1f} s)")
    print(f"read+map: {seconds:.1f} s = {rate:.0f} plans/s, {entries / seconds:.0f} resources/s; "
          f"{rate / TARGET_PLANS_PER_SECOND:.1f}x the target of {TARGET_PLANS_PER_SECOND:.0f} plans/s")


if __name__ == "__main__":
    main()
