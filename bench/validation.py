"""Validations per second of a realistic individual plan, beside the model parse it follows.

Run: .venv/bin/python -m bench.validation [--seconds 3]

The plan is profiles/examples/ip-CarePlan-valid-aktiv.json (three measures, goals,
extensions, assessments) grown to ten measures, validated against the base R4 rules,
ip-CarePlan and the project's terminology. The baseline is the fhir.resources R4B
parse the store already does on every write; the ratio says what validation adds.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from fhir.resources.R4B.careplan import CarePlan

from fhirip.terminology import TerminologyService
from fhirip.validation import Validator

EXAMPLE = Path(__file__).resolve().parents[1] / "profiles" / "examples" / "ip-CarePlan-valid-aktiv.json"
MEASURES = 10


def realistic_plan(measures: int = MEASURES) -> dict:
    plan = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    activities = plan["activity"]
    while len(activities) < measures:
        activities.append(copy.deepcopy(activities[len(activities) % 3]))
    return plan


def rate(action: Callable[[], object], seconds: float) -> tuple[int, float]:
    action()  # warm caches (compiled FHIRPath, value-set expansions)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        action()
        count += 1
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--measures", type=int, default=MEASURES, help="measures (tiltak) in the plan")
    args = parser.parse_args()

    plan = realistic_plan(args.measures)
    validator = Validator(terminology=TerminologyService(), allow_synthetic_identifiers=True)
    issues = validator.validate(plan)
    assert not [i for i in issues if i.severity in ("error", "fatal")], issues

    size = len(json.dumps(plan, ensure_ascii=False).encode())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"data: ip-CarePlan with {len(plan['activity'])} measures, {size} bytes of JSON")
    n_parse, t_parse = rate(lambda: CarePlan.model_validate(plan), args.seconds)
    n_val, t_val = rate(lambda: validator.validate(plan), args.seconds)
    parse_ms, val_ms = 1000 * t_parse / n_parse, 1000 * t_val / n_val
    print(f"baseline R4B model parse: {n_parse / t_parse:8.0f} /s  {parse_ms:6.3f} ms")
    print(f"validation (base + ip-CarePlan + terminology): {n_val / t_val:8.0f} /s  {val_ms:6.3f} ms")
    print(f"ratio validation / parse: {val_ms / parse_ms:.2f}")


if __name__ == "__main__":
    main()
