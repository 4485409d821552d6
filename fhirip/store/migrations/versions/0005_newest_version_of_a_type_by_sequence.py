"""newest version of a type by sequence

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_version_res_type_seq'), ['res_type', 'seq'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_version_res_type_seq'))

