"""plan rules held by the database: claims a resource holds alone (one open individual plan per
person, one Patient per national identifier), filled from the stored resources

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# As the rules in fhirip.plans name them when this revision was written.
NATIONAL_ID_SYSTEMS = ('urn:oid:2.16.578.1.12.4.1.4.1', 'urn:oid:2.16.578.1.12.4.1.4.2')
CAREPLAN_CATEGORY = 'http://fhirip.no/fhir/CodeSystem/ip-careplan-category'
OPEN_PLAN_STATUSES = ('draft', 'active', 'on-hold')

_NATIONAL_IDENTIFIERS = sa.text(
    "SELECT r.res_id, t.system, t.code FROM resource r JOIN search_token t ON t.rid = r.rid "
    "WHERE r.res_type = 'Patient' AND r.deleted = :no AND t.res_type = 'Patient' "
    "AND t.param = 'identifier' AND t.system IN :systems AND t.code IS NOT NULL ORDER BY r.rid"
).bindparams(sa.bindparam('systems', expanding=True))

_OPEN_PLANS = sa.text(
    "SELECT p.res_id, s.target_id FROM resource p JOIN search_reference s ON s.rid = p.rid "
    "WHERE p.res_type = 'CarePlan' AND p.deleted = :no AND s.res_type = 'CarePlan' "
    "AND s.param = 'subject' AND s.target_type = 'Patient' "
    "AND EXISTS (SELECT 1 FROM search_token c WHERE c.rid = p.rid AND c.res_type = 'CarePlan' "
    "  AND c.param = 'category' AND c.system = :category AND c.code = 'individuell-plan') "
    "AND EXISTS (SELECT 1 FROM search_token t WHERE t.rid = p.rid AND t.res_type = 'CarePlan' "
    "  AND t.param = 'status' AND t.code IN :statuses) "
    "AND NOT EXISTS (SELECT 1 FROM search_reference o WHERE o.rid = p.rid AND o.res_type = 'CarePlan' "
    "  AND o.param = 'part-of') "
    "ORDER BY p.last_updated DESC, p.rid DESC"
).bindparams(sa.bindparam('statuses', expanding=True))


def upgrade() -> None:
    claims = op.create_table(
        'resource_claim',
        sa.Column('claim', sa.String(length=255), nullable=False),
        sa.Column('res_type', sa.String(length=64), nullable=False),
        sa.Column('res_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('claim', name=op.f('pk_resource_claim')),
    )
    with op.batch_alter_table('resource_claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_claim_res_type_res_id'), ['res_type', 'res_id'],
                              unique=False)
    _backfill(op.get_bind(), claims)


def _backfill(conn: sa.Connection, claims: sa.Table) -> None:
    """The claims of what is stored. Where the rules were broken before (two Patients with one
    fødselsnummer, two open plans of one person) the first Patient and the most recently changed
    plan hold the claim; the others are refused their next write until they are merged or ended
    (`fhirip.plans.find_duplicate_plans` lists such plans)."""
    taken: dict[str, tuple[str, str]] = {}
    holders: dict[tuple[str, str], set[str]] = {}
    for patient_id, system, code in conn.execute(_NATIONAL_IDENTIFIERS,
                                                 {'no': False, 'systems': list(NATIONAL_ID_SYSTEMS)}):
        holders.setdefault((system, code), set()).add(patient_id)
        taken.setdefault(f'national-id|{system}|{code}', ('Patient', patient_id))
    same: dict[str, set[str]] = {}
    for group in holders.values():
        for patient_id in group:
            same.setdefault(patient_id, {patient_id}).update(group)
    rows = conn.execute(_OPEN_PLANS, {'no': False, 'category': CAREPLAN_CATEGORY,
                                      'statuses': list(OPEN_PLAN_STATUSES)})
    for plan_id, patient_id in rows:
        for person in sorted(same.get(patient_id, {patient_id})):
            taken.setdefault(f'open-plan|Patient/{person}', ('CarePlan', plan_id))
    if taken:
        op.bulk_insert(claims, [{'claim': claim, 'res_type': t, 'res_id': i}
                                for claim, (t, i) in sorted(taken.items())])


def downgrade() -> None:
    with op.batch_alter_table('resource_claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_claim_res_type_res_id'))
    op.drop_table('resource_claim')
