"""resources, versions and links

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('resource',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('res_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('last_updated', sa.DateTime(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('content', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('rid', name=op.f('pk_resource')),
    sa.UniqueConstraint('res_type', 'res_id', name=op.f('uq_resource_res_type_res_id'))
    )
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_res_type_last_updated'), ['res_type', 'last_updated'], unique=False)

    op.create_table('resource_link',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_resource_link_rid_resource'))
    )
    with op.batch_alter_table('resource_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_link_rid'), ['rid'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_link_target_type_target_id'), ['target_type', 'target_id'], unique=False)

    op.create_table('resource_version',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64), nullable=False),
    sa.Column('res_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('last_updated', sa.DateTime(), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], name=op.f('fk_resource_version_rid_resource')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_resource_version')),
    sa.UniqueConstraint('res_type', 'res_id', 'version', name=op.f('uq_resource_version_res_type_res_id_version'))
    )
    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_version_last_updated'), ['last_updated'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_version_res_type_last_updated'), ['res_type', 'last_updated'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_version_rid_version'), ['rid', 'version'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_version_rid_version'))
        batch_op.drop_index(batch_op.f('ix_resource_version_res_type_last_updated'))
        batch_op.drop_index(batch_op.f('ix_resource_version_last_updated'))

    op.drop_table('resource_version')
    with op.batch_alter_table('resource_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_link_target_type_target_id'))
        batch_op.drop_index(batch_op.f('ix_resource_link_rid'))

    op.drop_table('resource_link')
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_res_type_last_updated'))

    op.drop_table('resource')
