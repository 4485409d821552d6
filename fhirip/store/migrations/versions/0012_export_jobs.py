"""export_job: Bulk Data export jobs, their caller, snapshot and progress

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'export_job',
        sa.Column('job_id', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=700), nullable=False),
        sa.Column('caller', sa.Text(), nullable=False),
        sa.Column('request_url', sa.Text(), nullable=False),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('plan', sa.Text(), nullable=False),
        sa.Column('transaction_time', sa.DateTime(), nullable=False),
        sa.Column('snapshot_seq', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('sweep', sa.Integer(), nullable=False),
        sa.Column('after_rid', sa.BigInteger(), nullable=False),
        sa.Column('exported', sa.BigInteger(), nullable=False),
        sa.Column('outputs', sa.Text(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('runner', sa.String(length=128), nullable=True),
        sa.Column('lease_until', sa.DateTime(), nullable=True),
        sa.Column('created', sa.DateTime(), nullable=False),
        sa.Column('finished', sa.DateTime(), nullable=True),
        sa.Column('expires', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('job_id', name=op.f('pk_export_job')),
    )
    op.create_index(op.f('ix_export_job_owner_status'), 'export_job', ['owner', 'status'], unique=False)
    op.create_index(op.f('ix_export_job_status_created'), 'export_job', ['status', 'created'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_export_job_status_created'), table_name='export_job')
    op.drop_index(op.f('ix_export_job_owner_status'), table_name='export_job')
    op.drop_table('export_job')
