"""Number, quantity and composite search.

https://hl7.org/fhir/R4/search.html#number   (the precision of the searched number)
https://hl7.org/fhir/R4/search.html#quantity
https://hl7.org/fhir/R4/search.html#composite
"""

import pytest

from fhirip.errors import BadRequest

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"


@pytest.fixture
def risks(db):
    for rid, probability in [("r099", 0.99), ("r100", 100), ("r1004", 100.4), ("r1006", 100.6),
                             ("r150", 150)]:
        db.put({"resourceType": "RiskAssessment", "id": rid, "status": "final",
                "subject": {"reference": "Patient/p"},
                "prediction": [{"probabilityDecimal": probability}]})
    return db


@pytest.mark.parametrize("query, expected", [
    ("probability=100", ["r100", "r1004"]),          # 99.5 <= x < 100.5
    ("probability=100.0", ["r100"]),                 # 99.95 <= x < 100.05
    ("probability=1e2", ["r100", "r1004", "r1006"]), # 50 <= x < 150
    ("probability=ne100", ["r099", "r1006", "r150"]),
    ("probability=gt100", ["r1004", "r1006", "r150"]),
    ("probability=ge100", ["r100", "r1004", "r1006", "r150"]),
    ("probability=lt100.5", ["r099", "r100", "r1004"]),
    ("probability=le100", ["r099", "r100"]),
    ("probability=sa100.4", ["r1006", "r150"]),
    ("probability=eb100", ["r099"]),
    ("probability=ap100", ["r100", "r1004", "r1006"]),  # within 10%
    ("probability=0.99,150", ["r099", "r150"]),
])
def test_number_prefixes_and_precision(risks, query, expected):
    assert risks.ids("RiskAssessment", query) == expected


def test_malformed_number_is_refused(risks):
    with pytest.raises(BadRequest, match="probability"):
        risks.ids("RiskAssessment", "probability=abc")


@pytest.fixture
def observations(db):
    def obs(oid, code, value, unit, components=()):
        return {"resourceType": "Observation", "id": oid, "status": "final",
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": value, "system": UCUM, "code": unit, "unit": unit},
                "component": [{"code": {"coding": [{"system": LOINC, "code": c}]},
                               "valueQuantity": {"value": v, "system": UCUM, "code": "mm[Hg]"}}
                              for c, v in components]}
    db.put(obs("w70", "29463-7", 70, "kg"), obs("w90", "29463-7", 90, "kg"),
           obs("h170", "8302-2", 170, "cm"),
           obs("bp", "85354-9", 1, "1", components=[("8480-6", 140), ("8462-4", 90)]))
    return db


def test_quantity_with_and_without_units(observations):
    assert observations.ids("Observation", "value-quantity=70") == ["w70"]
    assert observations.ids("Observation", f"value-quantity=gt60|{UCUM}|kg") == ["w70", "w90"]
    assert observations.ids("Observation", "value-quantity=gt60||kg") == ["w70", "w90"]
    assert observations.ids("Observation", f"value-quantity=gt60|{UCUM}|cm") == ["h170"]
    assert observations.ids("Observation", "value-quantity=le70||kg") == ["w70"]


def test_composite_components_must_hold_in_the_same_group(observations):
    assert observations.ids("Observation", f"code-value-quantity={LOINC}|29463-7$gt80") == ["w90"]
    assert observations.ids("Observation", "component-code-value-quantity=8480-6$gt130") == ["bp"]
    # 90 belongs to the diastolic component, not the systolic one
    assert observations.ids("Observation", "component-code-value-quantity=8480-6$lt100") == []
    assert observations.ids("Observation",
                            "component-code-value-quantity=8480-6$lt100,8462-4$lt100") == ["bp"]


def test_composite_needs_every_component(observations):
    with pytest.raises(BadRequest, match="code-value-quantity"):
        observations.ids("Observation", "code-value-quantity=29463-7")


CHROMOSOMES = "http://terminology.hl7.org/CodeSystem/chromosome-human"


def _sequence(seq_id: str, chromosome: str, start: int, end: int) -> dict:
    return {"resourceType": "MolecularSequence", "id": seq_id, "type": "dna", "coordinateSystem": 0,
            "referenceSeq": {"chromosome": {"coding": [{"system": CHROMOSOMES, "code": chromosome}]},
                             "genomeBuild": "GRCh37", "strand": "watson", "windowStart": start - 3,
                             "windowEnd": end + 6},
            "variant": [{"start": start, "end": end, "observedAllele": "C", "referenceAllele": "G"}]}


def test_a_composite_whose_component_names_the_resource_is_indexed_and_searchable(db):
    """chromosome-variant-coordinate: the chromosome is `%resource.referenceSeq.chromosome`,
    read from the whole resource while the coordinates come from each variant."""
    db.put(_sequence("ms9", "9", 22125503, 22125504), _sequence("ms7", "7", 22125503, 22125504))
    assert db.ids("MolecularSequence", "chromosome-variant-coordinate=9$22125503$22125504") == ["ms9"]
    assert db.ids("MolecularSequence", "chromosome-variant-coordinate=7$gt1$lt22125600") == ["ms7"]
