"""What a person's current plan may show, as candidate rows, gathered in SQL without any policy.

https://hl7.org/fhir/R4/references.html#literal

From the Patient records of the person: the plans, episodes and consents that name them; and,
following the stored local references (`resource_link`), what those name (goals, care
teams, the performers of measures, care managers), what the care teams name (members,
whom they act for, the managing organisation) and what practitioner roles name.

This is a superset of what the current plan shows and says nothing about access: the
reader applies the caller's policy to these rows in the same statement
(`PolicyReads.around_person`), and walks the references of the visible rows only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, or_, select, union_all

from fhirip.plans.sql import fixed
from fhirip.store.schema import resource, resource_link, search_reference

# The search parameter that ties each resource type of the view to its patient.
PATIENT_PARAMS = {"CarePlan": "subject", "EpisodeOfCare": "patient", "Consent": "patient"}
# The references followed, step by step, from every row reached before (paths as stored in
# `resource_link`, as LIKE patterns; a path begins with its resource type).
FOLLOWED = (
    ("CarePlan.goal[%]", "CarePlan.careTeam[%]", "CarePlan.activity[%].detail.performer[%]",
     "EpisodeOfCare.careManager"),
    ("CareTeam.participant[%].member", "CareTeam.participant[%].onBehalfOf", "CareTeam.managingOrganization[%]"),
    ("PractitionerRole.practitioner", "PractitionerRole.organization"),
)


def _candidates() -> Any:
    naming = search_reference.alias("naming_patient")
    related = (select(naming.c.rid).where(
        or_(*(and_(naming.c.res_type == fixed(res_type), naming.c.param == fixed(param))
              for res_type, param in sorted(PATIENT_PARAMS.items()))),
        naming.c.target_type == fixed("Patient"), naming.c.target_id.in_(bindparam("patients", expanding=True)))
        .cte("naming_patients"))
    reached = [related]
    for number, paths in enumerate(FOLLOWED, start=1):
        link, target = resource_link.alias(f"step{number}_link"), resource.alias(f"step{number}_target")
        sources = union_all(*(select(step.c.rid) for step in reached))
        reached.append(
            select(target.c.rid)
            .select_from(link.join(target, and_(target.c.res_type == link.c.target_type,
                                                target.c.res_id == link.c.target_id)))
            .where(link.c.rid.in_(sources), or_(*(link.c.path.like(fixed(path)) for path in paths)),
                   target.c.deleted.is_(False))
            .cte(f"step{number}"))
    return union_all(*(select(step.c.rid) for step in reached))


# Built once (the hot path of every current-plan call); parameter: patients, the ids of the
# person's (visible) Patient records.
CANDIDATES = _candidates()
