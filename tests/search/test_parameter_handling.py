"""Unknown, malformed and unsupported parameters: lenient by default, strict on request.

https://hl7.org/fhir/R4/search.html#errors
"""

import pytest
from search_support import BASE

from fhirip.errors import BadRequest
from fhirip.search import searchset_bundle


@pytest.fixture
def goal(db):
    db.put({"resourceType": "Goal", "id": "g", "lifecycleStatus": "active",
            "description": {"text": "x"}, "subject": {"reference": "Patient/p"}})
    return db


def test_unknown_parameter_is_ignored_and_reported_when_lenient(goal):
    result = goal.search("Goal", "colour=blue&lifecycle-status=active")
    assert [e.res_id for e in result.entries] == ["g"]
    assert len(result.issues) == 1
    assert result.issues[0].severity == "warning" and "colour" in result.issues[0].diagnostics
    outcome = searchset_bundle(result, BASE)["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    assert outcome["resource"]["issue"][0]["expression"] == ["colour"]


def test_unknown_parameter_is_refused_when_strict(goal):
    with pytest.raises(BadRequest, match="colour"):
        goal.search("Goal", "colour=blue", strict=True)


def test_unknown_chained_parameter_is_refused_when_strict(goal):
    with pytest.raises(BadRequest, match="colour"):
        goal.search("Goal", "subject.colour=blue", strict=True)


@pytest.mark.parametrize("query, name", [
    ("lifecycle-status:exact=active", "lifecycle-status:exact"),   # modifier of another type
    ("lifecycle-status:missing=maybe", "lifecycle-status:missing"),
    ("subject:banana=p", "subject:banana"),
    ("_count=many", "_count"),
    ("_count=-1", "_count"),
    ("_summary=short", "_summary"),
    ("_total=some", "_total"),
    ("_include=Goal", "_include"),
    ("_include=Goal:lifecycle-status", "_include"),
    ("_include:deep=Goal:subject", "_include"),
    ("_has:Goal=x", "_has:Goal"),
    ("start-date=2020-02-30", "start-date"),
    ("lifecycle-status=|", "lifecycle-status"),
])
def test_malformed_input_names_the_parameter(goal, query, name):
    with pytest.raises(BadRequest) as error:
        goal.search("Goal", query)
    assert name in error.value.diagnostics
    assert error.value.issues[0].expression[0].startswith(name.split(":")[0])


def test_empty_values_constrain_nothing(goal):
    assert goal.ids("Goal", "lifecycle-status=") == ["g"]


def test_format_parameters_pass_through_silently(goal):
    result = goal.search("Goal", "_format=json&_pretty=true")
    assert result.issues == [] and len(result.entries) == 1


def test_unknown_resource_type_is_refused(goal):
    with pytest.raises(BadRequest, match="Banana"):
        goal.search("Banana", "")
    with pytest.raises(BadRequest, match="_type"):
        goal.search(None, "_type=Goal,Banana")


def test_system_search_only_takes_common_parameters(goal):
    result = goal.search(None, "lifecycle-status=active&_id=g")
    assert result.issues and "lifecycle-status" in result.issues[0].diagnostics
    # with nothing else asked, ignoring it would answer everything there is
    with pytest.raises(BadRequest, match="lifecycle-status"):
        goal.search(None, "lifecycle-status=active")
