"""logical references by value (for the access decision)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_reference_ident_value_res_type_param_rid'),
                              ['ident_value', 'res_type', 'param', 'rid'], unique=False,
                              sqlite_where=sa.text('ident_value IS NOT NULL'),
                              postgresql_where=sa.text('ident_value IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_reference_ident_value_res_type_param_rid'))
