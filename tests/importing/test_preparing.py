"""Plans prepared by a helper process are the plans prepared in-process, in the same order."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirip.mapping.preparing import PreparedPlan, prepared_in_background, prepared_plans
from fhirip.mapping.records import RecordError

from .conftest import MAPPINGS, write_export


def _view(items: list[PreparedPlan | RecordError]) -> list[tuple]:
    return [("error", item.file, item.line, item.reason) if isinstance(item, RecordError)
            else ("plan", item.key, item.identity, item.unmappable, len(item.losses)) for item in items]


@pytest.mark.parametrize("sample", ["good", "bad/wrong-encoding", "bad/missing-column", "bad/impossible-date", "no-such-export"])
def test_a_helper_process_prepares_the_same_plans_in_the_same_order(sample: str) -> None:
    path = MAPPINGS / "planpro" / "samples" / sample
    here = list(prepared_plans("planpro", path))
    there = list(prepared_in_background("planpro", path))
    assert _view(there) == _view(here) and here


def test_more_plans_than_the_helper_may_run_ahead_arrive_complete(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", 300)
    assert _view(list(prepared_in_background("planpro", export))) == _view(list(prepared_plans("planpro", export)))
