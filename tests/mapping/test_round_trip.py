"""Legacy → FHIR → legacy reproduces every mapped field, for every sample and generated plans."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirip.mapping import read_plans
from fhirip.mapping.planpro import read_planpro, write_planpro
from fhirip.mapping.records import PlanRecord
from fhirip.mapping.spec import load_spec

from .helpers import mapped_differences, through_fhir

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
sys.path.insert(0, str(MAPPINGS / "planpro"))
import make_samples  # noqa: E402  (the sample generator doubles as the record factory)


def _good_plans(format: str) -> list[PlanRecord]:
    plans = [p for p in read_plans(format, MAPPINGS / format / "samples" / "good") if isinstance(p, PlanRecord)]
    assert len(plans) >= 3
    return plans


@pytest.mark.parametrize("format", ["planpro", "acos", "docx"])
def test_every_mapped_field_of_every_sample_survives_the_round_trip(format: str) -> None:
    for plan in _good_plans(format):
        again, losses, _ = through_fhir(plan)
        assert mapped_differences(plan, again, losses) == []


def test_a_lost_value_is_the_only_difference_and_it_is_reported() -> None:
    plan = next(p for p in _good_plans("planpro") if p.key == "IP-000002")
    again, losses, _ = through_fhir(plan)
    assert ("measure T-2-1 of plan IP-000002", "tiltakskode") in {(l.record, l.field) for l in losses}
    assert again.rows_of("measure")[0].values.get("code") is None


# -- generated plans -------------------------------------------------------------------------
CP1252_TEXT = st.text(st.sampled_from(list("abcæøåÆØÅ xyzé;\"'«»-–,.\n0123456789")), min_size=1, max_size=40) \
    .filter(lambda text: text.strip() != "")
FHIR_DATE = st.dates(min_value=__import__("datetime").date(1900, 1, 1)).flatmap(
    lambda day: st.sampled_from([day.isoformat(), day.isoformat()[:7], day.isoformat()[:4]]))


@st.composite
def generated_plan(draw: st.DrawFn) -> PlanRecord:
    rng = random.Random(draw(st.integers(0, 2**32)))
    plan = make_samples.synthetic_plans(1, seed=rng.randint(0, 10**6), incomplete_every=draw(st.sampled_from([0, 1])))[0]
    for row in plan.rows_of("plan"):
        row.values["situation"] = draw(CP1252_TEXT)
        row.values["period_start"] = draw(FHIR_DATE)
    for row in plan.rows_of("measure"):
        row.values["start"] = draw(FHIR_DATE)
        row.values["description"] = draw(CP1252_TEXT)
        row.values["extent"] = draw(CP1252_TEXT)
        row.values["status"] = draw(st.sampled_from(["10", "20", "30", "40", "50"]))
    for row in plan.rows_of("person"):
        row.values["family"] = draw(CP1252_TEXT)
        row.values["birth_date"] = draw(FHIR_DATE)
    for row in plan.rows_of("goal"):
        row.values["description"] = draw(CP1252_TEXT)
    return plan


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_plan())
def test_generated_planpro_plans_survive_the_round_trip(plan: PlanRecord) -> None:
    spec = load_spec("planpro")
    files, _ = write_planpro(spec, [plan])
    items = list(read_planpro(spec, files, "generated"))
    read = [item for item in items if isinstance(item, PlanRecord)]
    assert len(read) == 1, [item for item in items if not isinstance(item, PlanRecord)]
    original = read[0]
    assert mapped_differences(plan, original, []) == []  # the writer and reader agree
    again, losses, _ = through_fhir(original)
    assert mapped_differences(original, again, losses) == []
