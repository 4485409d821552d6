"""dpop_jti: DPoP proofs already seen, shared by every server process

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dpop_jti',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('expires', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_dpop_jti')),
    )
    op.create_index(op.f('ix_dpop_jti_expires'), 'dpop_jti', ['expires'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dpop_jti_expires'), table_name='dpop_jti')
    op.drop_table('dpop_jti')
