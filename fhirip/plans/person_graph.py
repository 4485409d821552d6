"""What a person's current plan may show, as candidate rows, gathered in SQL without any policy.

https://hl7.org/fhir/R4/references.html#literal

From the Patient records of the person: the plans, episodes and consents that name them; and,
following the stored local references (`resource_link`), what those name (goals, care
teams, the performers of measures, care managers), what the care teams name (members,
whom they act for, the managing organisation) and what practitioner roles name.

This is a superset of what the current plan shows and says nothing about access: the
reader applies the caller's policy to these rows in the same statement
(`PolicyReads.person_around`), and walks the references of the visible rows only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, literal_column, or_, select

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


def candidates(patients: Any) -> Any:
    """The candidates' rids around the Patients `patients` (a subquery of their ids)."""
    naming = search_reference.alias("naming_patient")
    reached = (select(naming.c.rid, literal_column("0").label("depth")).where(
        or_(*(and_(naming.c.res_type == fixed(res_type), naming.c.param == fixed(param))
              for res_type, param in sorted(PATIENT_PARAMS.items()))),
        naming.c.target_type == fixed("Patient"), naming.c.target_id.in_(patients))
        .cte("reached", recursive=True))
    # One recursive step for every depth: a path begins with its resource type, so each
    # pattern only matches where it belongs; what else it reaches is a harmless extra row.
    link, target = resource_link.alias("followed_link"), resource.alias("followed")
    patterns = [path for step in FOLLOWED for path in step]
    step = (select(target.c.rid, (reached.c.depth + literal_column("1")).label("depth"))
            .select_from(reached.join(link, link.c.rid == reached.c.rid)
                         .join(target, and_(target.c.res_type == link.c.target_type,
                                            target.c.res_id == link.c.target_id)))
            .where(reached.c.depth < literal_column(str(len(FOLLOWED))), or_(*(link.c.path.like(fixed(p)) for p in patterns)),
                   target.c.deleted.is_(False)))
    reached = reached.union(step)
    return select(reached.c.rid)


# Built once; parameter: patients, the ids of the person's Patient records (`$exists`).
CANDIDATES = candidates(bindparam("patients", expanding=True))
