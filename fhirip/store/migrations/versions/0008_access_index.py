"""access index: who may see which patient, derived from the resources that decide it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    key = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'access_grant',
        sa.Column('gid', key, autoincrement=True, nullable=False),
        sa.Column('grantee', sa.String(length=300), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('patient_id', sa.String(length=64), nullable=True),
        sa.Column('target', sa.String(length=200), nullable=True),
        sa.Column('via', sa.String(length=200), nullable=True),
        sa.Column('effect', sa.String(length=8), nullable=False),
        sa.Column('action', sa.String(length=8), nullable=False),
        sa.Column('view', sa.String(length=16), nullable=False),
        sa.Column('classes', sa.Text(), nullable=True),
        sa.Column('labels', sa.Text(), nullable=True),
        sa.Column('resources', sa.Text(), nullable=True),
        sa.Column('purposes', sa.Text(), nullable=True),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('valid_from', sa.DateTime(), nullable=True),
        sa.Column('valid_to', sa.DateTime(), nullable=True),
        sa.Column('source_rid', key, nullable=False),
        sa.Column('source_type', sa.String(length=64), nullable=False),
        sa.Column('source_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('gid', name=op.f('pk_access_grant')),
    )
    with op.batch_alter_table('access_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_grant_grantee_kind'), ['grantee', 'kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_grant_patient_id_grantee'), ['patient_id', 'grantee'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_access_grant_source_rid'), ['source_rid'], unique=False)
    # The rows of the resources already stored, derived as every later write derives them.
    from fhirip.store.migrations import fill_derived

    fill_derived("access_grant")


def downgrade() -> None:
    op.drop_table('access_grant')
