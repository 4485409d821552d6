"""search index and stored search pages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_result',
    sa.Column('search_id', sa.String(length=64), nullable=False),
    sa.Column('pos', sa.Integer(), nullable=False),
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('search_id', 'pos', name=op.f('pk_search_result'))
    )
    op.create_table('search_session',
    sa.Column('search_id', sa.String(length=64), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('expires', sa.DateTime(), nullable=False),
    sa.Column('res_types', sa.Text(), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('compartment', sa.Text(), nullable=True),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('search_id', name=op.f('pk_search_session'))
    )
    with op.batch_alter_table('search_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_session_expires'), ['expires'], unique=False)

    op.create_table('search_date',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('grp', sa.Integer(), nullable=False),
    sa.Column('low', sa.DateTime(), nullable=False),
    sa.Column('high', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_search_date_rid_resource'))
    )
    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_date_res_type_param_high_rid'), ['res_type', 'param', 'high', 'rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_date_res_type_param_low_rid'), ['res_type', 'param', 'low', 'rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_date_rid'), ['rid'], unique=False)

    op.create_table('search_number',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('grp', sa.Integer(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_search_number_rid_resource'))
    )
    with op.batch_alter_table('search_number', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_number_res_type_param_value_rid'), ['res_type', 'param', 'value', 'rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_number_rid'), ['rid'], unique=False)

    op.create_table('search_quantity',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('grp', sa.Integer(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('system', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('code', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('unit', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_search_quantity_rid_resource'))
    )
    with op.batch_alter_table('search_quantity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_quantity_res_type_param_value_rid'), ['res_type', 'param', 'value', 'rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_quantity_rid'), ['rid'], unique=False)

    op.create_table('search_reference',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('grp', sa.Integer(), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=True),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('url', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('url_version', sa.String(length=64), nullable=True),
    sa.Column('ident_system', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('ident_value', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_search_reference_rid_resource'))
    )
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_reference_res_type_param_url'), ['res_type', 'param', 'url'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_reference_rid'), ['rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_reference_target_id_target_type_res_type_param_rid'), ['target_id', 'target_type', 'res_type', 'param', 'rid'], unique=False)

    op.create_table('search_string',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('grp', sa.Integer(), nullable=False),
    sa.Column('value', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=False),
    sa.Column('exact', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_search_string_rid_resource'))
    )
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_string_res_type_param_value_rid'), ['res_type', 'param', 'value', 'rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_string_rid'), ['rid'], unique=False)

    op.create_table('search_token',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('grp', sa.Integer(), nullable=False),
    sa.Column('system', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('code', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('text', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('type_system', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('type_code', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_search_token_rid_resource'))
    )
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_token_res_type_param_code_rid'), ['res_type', 'param', 'code', 'rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_token_rid'), ['rid'], unique=False)

    op.create_table('search_uri',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('grp', sa.Integer(), nullable=False),
    sa.Column('value', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_search_uri_rid_resource'))
    )
    with op.batch_alter_table('search_uri', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_uri_res_type_param_value_rid'), ['res_type', 'param', 'value', 'rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_uri_rid'), ['rid'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('search_uri', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_uri_rid'))
        batch_op.drop_index(batch_op.f('ix_search_uri_res_type_param_value_rid'))

    op.drop_table('search_uri')
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_token_rid'))
        batch_op.drop_index(batch_op.f('ix_search_token_res_type_param_code_rid'))

    op.drop_table('search_token')
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_string_rid'))
        batch_op.drop_index(batch_op.f('ix_search_string_res_type_param_value_rid'))

    op.drop_table('search_string')
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_reference_target_id_target_type_res_type_param_rid'))
        batch_op.drop_index(batch_op.f('ix_search_reference_rid'))
        batch_op.drop_index(batch_op.f('ix_search_reference_res_type_param_url'))

    op.drop_table('search_reference')
    with op.batch_alter_table('search_quantity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_quantity_rid'))
        batch_op.drop_index(batch_op.f('ix_search_quantity_res_type_param_value_rid'))

    op.drop_table('search_quantity')
    with op.batch_alter_table('search_number', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_number_rid'))
        batch_op.drop_index(batch_op.f('ix_search_number_res_type_param_value_rid'))

    op.drop_table('search_number')
    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_date_rid'))
        batch_op.drop_index(batch_op.f('ix_search_date_res_type_param_low_rid'))
        batch_op.drop_index(batch_op.f('ix_search_date_res_type_param_high_rid'))

    op.drop_table('search_date')
    with op.batch_alter_table('search_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_session_expires'))

    op.drop_table('search_session')
    op.drop_table('search_result')
