"""Provenance builder: valid R4 naming the author, the organisation, the application, activity and reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.provenance import Provenance

from fhirip.audit import provenance
from fhirip.auth.actor import (
    CLAIM_HPR_NUMBER,
    CLAIM_ORG_NUMBER,
    CLAIM_PERSON_ID,
    CLAIM_PURPOSE_OF_USE,
    HPR_SYSTEM,
    ORG_NUMBER_SYSTEM,
    Actor,
    ActorKind,
)

RECORDED = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def make_actor(**claims: Any) -> Actor:
    return Actor.from_claims({"iss": "https://helseid-sts.test.nhn.no", "sub": "pseudonym", "client_id": "ip-app",
                              **claims})


COORDINATOR = make_actor(**{CLAIM_HPR_NUMBER: "9144900", CLAIM_ORG_NUMBER: "974589095",
                            CLAIM_PURPOSE_OF_USE: "COC"})


def build(actor: Actor = COORDINATOR, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = dict(targets=["CarePlan/cp1/_history/2"], activity="update", recorded=RECORDED)
    arguments.update(overrides)
    built = provenance(actor, **arguments)
    Provenance.model_validate(built)
    return built


def test_practitioner_write_names_author_organisation_and_application() -> None:
    author, application = build()["agent"]
    assert author["type"]["coding"][0]["code"] == "author"
    assert author["who"]["identifier"] == {"system": HPR_SYSTEM, "value": "9144900"}
    assert author["onBehalfOf"]["identifier"] == {"system": ORG_NUMBER_SYSTEM, "value": "974589095"}
    assert application["type"]["coding"][0]["code"] == "enterer"
    assert application["who"]["identifier"]["value"] == "ip-app"


def test_system_write_has_the_client_as_performer_on_behalf_of_the_organisation() -> None:
    (performer,) = build(make_actor(**{CLAIM_ORG_NUMBER: "974589095"}))["agent"]
    assert performer["type"]["coding"][0]["code"] == "performer"
    assert performer["onBehalfOf"]["identifier"]["value"] == "974589095"


def test_relative_is_the_author_by_fodselsnummer() -> None:
    relative = make_actor(**{CLAIM_PERSON_ID: "15076500565"}).resolved_as(ActorKind.RELATIVE)
    author = build(relative)["agent"][0]
    assert author["who"]["type"] == "RelatedPerson" and author["who"]["identifier"]["value"] == "15076500565"


@pytest.mark.parametrize(("activity", "code"), [("create", "CREATE"), ("update", "UPDATE"), ("patch", "UPDATE"),
                                                ("delete", "DELETE"), ("NULLIFY", "NULLIFY")])
def test_activity_is_a_v3_data_operation(activity: str, code: str) -> None:
    assert build(activity=activity)["activity"]["coding"][0]["code"] == code


def test_reason_carries_purpose_and_text() -> None:
    built = build(reason="Ny koordinator etter permisjon")
    assert built["reason"] == [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                            "code": "COC"}], "text": "Ny koordinator etter permisjon"}]


def test_targets_are_kept_in_order_without_duplicates() -> None:
    built = build(targets=["CareTeam/t/_history/3", "CarePlan/cp1/_history/2", "CareTeam/t/_history/3"])
    assert built["target"] == [{"reference": "CareTeam/t/_history/3"}, {"reference": "CarePlan/cp1/_history/2"}]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"targets": []}, "at least one target"),
    ({"activity": "read"}, "v3-DataOperation"),
    ({"recorded": datetime(2026, 3, 1)}, "time zone"),
])
def test_bad_arguments_are_refused_clearly(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(**overrides)
