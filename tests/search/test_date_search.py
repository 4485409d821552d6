"""Date search and prefixes: https://hl7.org/fhir/R4/search.html#date and #prefix

A stored date is the range it covers at its precision (2013-01-14 is the whole
day); a searched date is a range too, and each prefix compares the two ranges.
"""

from datetime import datetime, timezone

import pytest

from fhirip.errors import BadRequest


@pytest.fixture
def born(db):
    db.put({"resourceType": "Patient", "id": "day", "birthDate": "2013-01-14"},
           {"resourceType": "Patient", "id": "month", "birthDate": "2013-02"},
           {"resourceType": "Patient", "id": "year", "birthDate": "2014"})
    return db


@pytest.mark.parametrize("query, expected", [
    ("birthdate=2013", ["day", "month"]),
    ("birthdate=2013-01", ["day"]),
    ("birthdate=2013-01-14", ["day"]),
    ("birthdate=2013-01-14T10:00", []),       # a day is not inside one minute
    ("birthdate=2013-02-10", []),             # a month is not inside one day
    ("birthdate=eq2014", ["year"]),
    ("birthdate=ne2013-01-14", ["month", "year"]),
    ("birthdate=gt2013-01-13", ["day", "month", "year"]),
    ("birthdate=gt2013-01-14", ["month", "year"]),
    ("birthdate=gt2013", ["year"]),
    ("birthdate=lt2013-01-15", ["day"]),
    ("birthdate=lt2013-01-14", []),
    ("birthdate=ge2013-01-14", ["day", "month", "year"]),
    ("birthdate=ge2013-01-15", ["month", "year"]),
    ("birthdate=ge2013", ["day", "month", "year"]),
    ("birthdate=le2013-01-14", ["day"]),
    ("birthdate=le2013-01-13", []),
    ("birthdate=le2013-02-15", ["day", "month"]),  # the month starts before the 15th
    ("birthdate=sa2013-01-13", ["day", "month", "year"]),
    ("birthdate=sa2013-01-14", ["month", "year"]),
    ("birthdate=sa2013", ["year"]),
    ("birthdate=eb2013-01-15", ["day"]),
    ("birthdate=eb2013-02-28", ["day"]),      # February 2013 ends after the 28th starts
    ("birthdate=eb2014", ["day", "month"]),
    ("birthdate=ge2013-01-01&birthdate=le2013-12-31", ["day", "month"]),
    ("birthdate=2014,2013-01", ["day", "year"]),
])
def test_date_prefixes_compare_ranges_at_their_precision(born, query, expected):
    assert born.ids("Patient", query) == expected


def test_approximately_allows_ten_percent_of_the_distance_to_now(born):
    years_ago = datetime.now(timezone.utc).year - 2013
    assert years_ago >= 10  # the margin is then at least a year
    assert born.ids("Patient", "birthdate=ap2013-06-01") == ["day", "month", "year"]
    assert born.ids("Patient", "birthdate=ap2013-01-14") == ["day", "month", "year"]
    assert born.ids("Patient", "birthdate=ap2016-06") == []
    assert born.ids("Patient", "birthdate=ap1990") == []


def test_open_period_extends_to_the_future(db):
    db.put({"resourceType": "CarePlan", "id": "open", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/p"}, "period": {"start": "2013-01-14"}},
           {"resourceType": "CarePlan", "id": "closed", "status": "completed", "intent": "plan",
            "subject": {"reference": "Patient/p"}, "period": {"start": "2012-03", "end": "2013-01-10"}})
    assert db.ids("CarePlan", "date=2013") == []
    assert db.ids("CarePlan", "date=ge2014") == ["open"]
    assert db.ids("CarePlan", "date=gt2013-01-12") == ["open"]
    assert db.ids("CarePlan", "date=lt2013-01-14") == ["closed"]
    assert db.ids("CarePlan", "date=2012") == []
    assert db.ids("CarePlan", "date=eb2013-01-11") == ["closed"]
    assert db.ids("CarePlan", "date=sa2013-01-10") == ["open"]
    assert db.ids("CarePlan", "date=2012-03-01T00:00:00Z,2013") == []


def test_time_zones_are_compared_in_utc(db):
    db.put({"resourceType": "Consent", "id": "late", "status": "active", "scope": {"text": "x"},
            "category": [{"text": "x"}], "dateTime": "2013-01-15T00:30:00+01:00"})
    assert db.ids("Consent", "date=2013-01-14") == ["late"]
    assert db.ids("Consent", "date=2013-01-15") == []
    assert db.ids("Consent", "date=2013-01-14T23:30:00Z") == ["late"]
    assert db.ids("Consent", "date=gt2013-01-14T23:00:00%2B00:00".replace("%2B", "+")) == ["late"]


def test_last_updated_is_the_store_time(db):
    db.put({"resourceType": "Goal", "id": "g", "lifecycleStatus": "active",
            "description": {"text": "x"}, "subject": {"reference": "Patient/p"}})
    this_year = datetime.now(timezone.utc).year
    assert db.ids("Goal", f"_lastUpdated={this_year}") == ["g"]
    assert db.ids("Goal", f"_lastUpdated=ge{this_year}-01-01") == ["g"]
    assert db.ids("Goal", "_lastUpdated=lt2000") == []


def test_timing_covers_its_events(db):
    db.put({"resourceType": "CarePlan", "id": "cp", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/p"},
            "activity": [{"detail": {"status": "scheduled", "scheduledTiming": {
                "event": ["2024-03-01", "2024-05-01"]}}}]})
    assert db.ids("CarePlan", "activity-date=2024") == ["cp"]
    assert db.ids("CarePlan", "activity-date=2024-03") == []
    assert db.ids("CarePlan", "activity-date=ge2024-04-01") == ["cp"]


@pytest.mark.parametrize("value", ["2013-13", "13-01-2013", "xx2013", "2013-01-14T25:00", "today"])
def test_malformed_date_is_refused_naming_the_parameter(born, value):
    with pytest.raises(BadRequest, match="birthdate"):
        born.ids("Patient", f"birthdate={value}")
