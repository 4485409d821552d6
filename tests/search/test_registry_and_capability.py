"""The registry and what the CapabilityStatement declares.

Every parameter declared for the individual-plan resource types is run here
against the database (a value search and :missing), so a declared parameter
that the SQL cannot answer fails this test.
"""

import pytest
from ipdata import individual_plan_records

from fhirip.search.registry import capability_search_params, registry

IP_TYPES = ["CarePlan", "Goal", "Consent", "CareTeam", "Patient", "Practitioner",
            "PractitionerRole", "Organization", "RelatedPerson", "EpisodeOfCare", "Task",
            "AuditEvent", "Provenance"]

SAMPLE_VALUES = {"string": "zz", "token": "zz", "reference": "Patient/zz", "date": "1901",
                 "number": "1", "quantity": "1", "uri": "http://zz"}


def declared():
    for res_type in IP_TYPES:
        for entry in capability_search_params(res_type):
            yield res_type, entry


def test_declared_parameters_have_definitions_and_types():
    entries = list(declared())
    assert len(entries) > 200
    for res_type, entry in entries:
        assert set(entry) == {"name", "definition", "type", "documentation"}
        assert registry().by_url[entry["definition"]].type == entry["type"]


def test_project_parameters_are_declared():
    names = {e["name"]: e for e in capability_search_params("CarePlan")}
    assert names["next-evaluation"]["definition"] == \
        "http://fhirip.no/fhir/SearchParameter/careplan-next-evaluation"
    assert {"activity-next-evaluation", "evaluation-due", "legal-basis", "activity-livsomrade",
            "activity-measure-status"} <= set(names)
    assert "coordinator" in {e["name"] for e in capability_search_params("CareTeam")}
    assert "livsomrade" in {e["name"] for e in capability_search_params("Goal")}


def test_parameters_without_an_expression_are_not_declared():
    names = {e["name"] for e in capability_search_params("Patient")}
    assert not names & {"_text", "_content", "_query", "_list"}


def composite_sample(res_type, code):
    param = registry().get(res_type, code)
    return "$".join(SAMPLE_VALUES[registry().by_url[c.definition].type] for c in param.components)


@pytest.mark.parametrize("res_type", IP_TYPES)
def test_every_declared_parameter_runs_against_the_database(db, res_type):
    db.put(*individual_plan_records())
    db.put({"resourceType": res_type, "id": "bare"})
    everything = db.ids(res_type, "_count=1000")
    for entry in capability_search_params(res_type):
        code, kind = entry["name"], entry["type"]
        value = composite_sample(res_type, code) if kind == "composite" else SAMPLE_VALUES[kind]
        if code == "_lastUpdated":
            value = "1901"
        assert db.ids(res_type, f"{code}={value}&_count=1000") == [], code
        missing = db.ids(res_type, f"{code}:missing=true&_count=1000")
        present = db.ids(res_type, f"{code}:missing=false&_count=1000")
        assert sorted(missing + present) == everything, code
        # _id/_lastUpdated always exist; Patient.deceased is computed (false when absent)
        if code not in ("_id", "_lastUpdated", "deceased"):
            assert "bare" in missing, code


def test_deceased_is_false_for_a_patient_without_it(db):
    db.put({"resourceType": "Patient", "id": "alive"},
           {"resourceType": "Patient", "id": "dead", "deceasedDateTime": "2020-01-01"})
    assert db.ids("Patient", "deceased=false") == ["alive"]
    assert db.ids("Patient", "deceased=true") == ["dead"]


def test_project_parameters_find_individual_plan_data(db):
    db.put(*individual_plan_records())
    assert db.ids("CarePlan", "next-evaluation=2025-03") == ["cp1"]
    assert db.ids("CarePlan", "activity-next-evaluation=le2024-12-01") == ["cp1"]
    assert db.ids("CarePlan", "evaluation-due=lt2025-01-01") == ["cp1"]
    assert db.ids("CarePlan", "evaluation-due=2025-03-01") == ["cp1"]
    assert db.ids("CarePlan", "legal-basis=samtykke") == ["cp1"]
    assert db.ids("CarePlan", "activity-measure-status=igangsatt") == ["cp1"]
    assert db.ids("CarePlan", "activity-livsomrade=bolig") == ["cp1"]
    assert db.ids("Goal", "livsomrade=bolig") == ["g1"]


def test_coordinator_is_the_one_with_an_open_period(db):
    db.put(*individual_plan_records())
    assert db.ids("CareTeam", "coordinator=Practitioner/dr1") == ["t1"]
    assert db.ids("CareTeam", "coordinator=Practitioner/old") == []


def test_a_parameter_whose_expression_fails_on_a_resource_leaves_only_itself_unindexed(monkeypatch, caplog):
    """A definition's expression that raises on some valid resource (here `+` on two given
    names) must not refuse the resource: it is indexed by every other parameter."""
    from fhirip.search import index
    from fhirip.search.registry import Registry, load_definitions

    monkeypatch.setattr(index, "_PARAM_CACHE", {})  # the parameters of the registry below, not the server's
    failing = {"resourceType": "SearchParameter", "url": "http://example.org/SearchParameter/only-given",
               "name": "only-given", "status": "active", "code": "only-given", "base": ["Patient"],
               "type": "string", "description": "The one given name", "expression": "Patient.name.given + ''"}
    reg = Registry([*load_definitions(), failing])
    patient = {"resourceType": "Patient", "name": [{"family": "Nordmann", "given": ["Kari", "Ann"]}]}
    rows = index.extract(reg, "Patient", patient)
    params = {row["param"] for table_rows in rows.values() for row in table_rows}
    assert "family" in params and "given" in params and "only-given" not in params
    assert any("only-given" in record.getMessage() for record in caplog.records)
    one_name = index.extract(reg, "Patient", {**patient, "name": [{"given": ["Kari"]}]})
    assert "only-given" in {row["param"] for table_rows in one_name.values() for row in table_rows}
