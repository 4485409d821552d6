"""The floor answers the benchmark's read and search with the right stored resources, nothing else."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import orjson
import pytest

from bench.workloads import careplan
from bench.workloads_data import DataSet, load_store
from fhirip.demo import FNR


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataSet, ModuleType]:
    data = DataSet(plan_count=3, extra_patients=2)
    url = f"sqlite:///{tmp_path_factory.mktemp('floor') / 'floor.sqlite3'}"
    load_store(url, data)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FLOOR_DATABASE_URL", url)
        sys.modules.pop("bench.floor_app", None)  # it reads its database URL when imported
        floor = importlib.import_module("bench.floor_app")
    return data, floor


def test_floor_search_returns_the_persons_plan_and_exactly_its_goals(loaded: tuple[DataSet, ModuleType]) -> None:
    data, floor = loaded
    generated = data.plans[1]
    bundle = orjson.loads(floor.plans_with_goals(f"{FNR}|{generated.fnr}"))
    found = [(e["search"]["mode"], e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]]
    plan = careplan(generated)
    assert bundle["total"] == 1
    assert found[0] == ("match", "CarePlan", plan["id"])
    assert sorted(found[1:]) == sorted(("include", "Goal", g["reference"].split("/")[1]) for g in plan["goal"])


def test_floor_search_for_an_unknown_person_is_an_empty_searchset(loaded: tuple[DataSet, ModuleType]) -> None:
    _, floor = loaded
    assert orjson.loads(floor.plans_with_goals(f"{FNR}|01010000000")) == {
        "resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}


def test_floor_read_returns_the_stored_resource(loaded: tuple[DataSet, ModuleType]) -> None:
    data, floor = loaded
    body = floor.read("Patient", data.extras[0]["id"])
    assert orjson.loads(body)["identifier"] == data.extras[0]["identifier"]
    assert floor.read("Patient", "nobody") is None
