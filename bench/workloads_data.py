"""The data every server of `make bench` is loaded with: a generated tier plus persons without a plan.

The tier's plans come from `bench.generate` (people, care teams, goals, measures, consents);
the extra persons are the generator's next people without their plans, so the create workload
has someone to write a first plan for. fhirip's stores are filled with `bench.bulk_load`'s
writer (the rows the server writes, in large batches).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.bulk_load import BulkWriter, finish_load
from bench.generate import Plan, directory, plan
from fhirip.demo import synthetic_fnr
from fhirip.store import Store


@dataclass
class DataSet:
    """The generated tier (plans with their people) plus persons without a plan, for the writes."""

    plan_count: int
    extra_patients: int
    seed: int = 1
    plans: list[Plan] = field(init=False)
    extras: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.plans = [plan(i, self.seed) for i in range(self.plan_count)]
        taken = {p.fnr for p in self.plans}
        self.extras = []
        for index in itertools.count(self.plan_count):
            if len(self.extras) >= self.extra_patients:
                break
            generated = plan(index, self.seed)
            if generated.fnr not in taken:  # one person, one national identifier
                taken.add(generated.fnr)
                self.extras.append(generated.resources[0])
        self.taken_fnrs = taken

    def resources(self) -> Iterator[dict[str, Any]]:
        """Everything a store is loaded with, in write order (fresh dicts: loaders add meta)."""
        yield from directory(self.seed)
        for generated in self.plans:
            yield from (dict(r) for r in generated.resources)
        yield from (dict(p) for p in self.extras)

    def resource_count(self) -> int:
        return len(directory(self.seed)) + sum(len(p.resources) for p in self.plans) + len(self.extras)

    def new_fnrs(self) -> Iterator[str]:
        """Fødselsnummer that no loaded person has: serials from 900, which the generator never starts at."""
        for year, month, day in itertools.product(range(100), range(1, 13), range(1, 29)):
            fnr = synthetic_fnr(day, month, year, 900)
            if fnr not in self.taken_fnrs:
                yield fnr


def load_store(url: str, data: DataSet) -> int:
    """Migrate an empty fhirip store at `url` and bulk-load the data set into it; returns resources written."""
    store = Store(url)
    try:
        store.migrate()
        writer = BulkWriter(store)
        for item in data.resources():
            writer.add(item)
        writer.flush()
        finish_load(store)
        return writer.written
    finally:
        store.dispose()
