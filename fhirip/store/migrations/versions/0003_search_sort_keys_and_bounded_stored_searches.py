"""search sort keys and bounded stored searches

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Sort keys are filled from the index tables already there, so an existing
store sorts correctly without a reindex.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_sort',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('low', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=False),
    sa.Column('high', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_search_sort_rid_resource')),
    sa.PrimaryKeyConstraint('rid', 'param', name=op.f('pk_search_sort'))
    )
    with op.batch_alter_table('search_sort', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_sort_res_type_param_high_rid'), ['res_type', 'param', 'high', 'rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_sort_res_type_param_low_rid'), ['res_type', 'param', 'low', 'rid'], unique=False)

    with op.batch_alter_table('search_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('complete', sa.Boolean(), server_default=sa.true(), nullable=False))

    # The rows of the resources already stored, derived as every later write derives them.
    from fhirip.store.migrations import fill_derived

    fill_derived("search_sort")



def downgrade() -> None:
    with op.batch_alter_table('search_session', schema=None) as batch_op:
        batch_op.drop_column('complete')

    with op.batch_alter_table('search_sort', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_sort_res_type_param_low_rid'))
        batch_op.drop_index(batch_op.f('ix_search_sort_res_type_param_high_rid'))

    op.drop_table('search_sort')
