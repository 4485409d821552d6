"""search index rid lookups by parameter

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

The per-resource index of each value table leads with (rid, res_type, param):
with all three as equalities a correlated check reads only the rows of one
resource, and SQLite chooses it without statistics.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_date_rid'))
        batch_op.create_index(batch_op.f('ix_search_date_rid_res_type_param'), ['rid', 'res_type', 'param'], unique=False)

    with op.batch_alter_table('search_number', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_number_rid'))
        batch_op.create_index(batch_op.f('ix_search_number_rid_res_type_param'), ['rid', 'res_type', 'param'], unique=False)

    with op.batch_alter_table('search_quantity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_quantity_rid'))
        batch_op.create_index(batch_op.f('ix_search_quantity_rid_res_type_param'), ['rid', 'res_type', 'param'], unique=False)

    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_reference_rid'))
        batch_op.create_index(batch_op.f('ix_search_reference_rid_res_type_param'), ['rid', 'res_type', 'param'], unique=False)

    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_string_rid'))
        batch_op.create_index(batch_op.f('ix_search_string_rid_res_type_param'), ['rid', 'res_type', 'param'], unique=False)

    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_token_rid'))
        batch_op.create_index(batch_op.f('ix_search_token_rid_res_type_param'), ['rid', 'res_type', 'param'], unique=False)

    with op.batch_alter_table('search_uri', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_uri_rid'))
        batch_op.create_index(batch_op.f('ix_search_uri_rid_res_type_param'), ['rid', 'res_type', 'param'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('search_uri', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_uri_rid_res_type_param'))
        batch_op.create_index(batch_op.f('ix_search_uri_rid'), ['rid'], unique=False)

    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_token_rid_res_type_param'))
        batch_op.create_index(batch_op.f('ix_search_token_rid'), ['rid'], unique=False)

    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_string_rid_res_type_param'))
        batch_op.create_index(batch_op.f('ix_search_string_rid'), ['rid'], unique=False)

    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_reference_rid_res_type_param'))
        batch_op.create_index(batch_op.f('ix_search_reference_rid'), ['rid'], unique=False)

    with op.batch_alter_table('search_quantity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_quantity_rid_res_type_param'))
        batch_op.create_index(batch_op.f('ix_search_quantity_rid'), ['rid'], unique=False)

    with op.batch_alter_table('search_number', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_number_rid_res_type_param'))
        batch_op.create_index(batch_op.f('ix_search_number_rid'), ['rid'], unique=False)

    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_date_rid_res_type_param'))
        batch_op.create_index(batch_op.f('ix_search_date_rid'), ['rid'], unique=False)

