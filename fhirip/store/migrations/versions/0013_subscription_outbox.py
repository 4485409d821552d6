"""subscription, subscription_event: Subscriptions' delivery state and their outbox

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    key = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'subscription',
        sa.Column('rid', key, nullable=False),
        sa.Column('res_id', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=300), nullable=False),
        sa.Column('criteria_type', sa.String(length=64), nullable=False),
        sa.Column('watch_id', sa.String(length=64), nullable=True),
        sa.Column('watch_param', sa.String(length=64), nullable=True),
        sa.Column('watch_patient', sa.String(length=64), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('retry_at', sa.DateTime(), nullable=True),
        sa.Column('held_by', sa.String(length=64), nullable=True),
        sa.Column('held_until', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('rid', name=op.f('pk_subscription')),
    )
    op.create_index(op.f('ix_subscription_criteria_type_active'), 'subscription', ['criteria_type', 'active'])
    op.create_index(op.f('ix_subscription_owner'), 'subscription', ['owner'])
    op.create_table(
        'subscription_event',
        sa.Column('seq', key, autoincrement=True, nullable=False),
        sa.Column('subscription_rid', key, nullable=False),
        sa.Column('res_type', sa.String(length=64), nullable=False),
        sa.Column('res_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('number', sa.Integer(), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_subscription_event')),
    )
    op.create_index(op.f('ix_subscription_event_subscription_rid_state_seq'), 'subscription_event',
                    ['subscription_rid', 'state', 'seq'])
    op.create_index(op.f('ix_subscription_event_subscription_rid_number'), 'subscription_event',
                    ['subscription_rid', 'number'])


def downgrade() -> None:
    op.drop_index(op.f('ix_subscription_event_subscription_rid_number'), table_name='subscription_event')
    op.drop_index(op.f('ix_subscription_event_subscription_rid_state_seq'), table_name='subscription_event')
    op.drop_table('subscription_event')
    op.drop_index(op.f('ix_subscription_owner'), table_name='subscription')
    op.drop_index(op.f('ix_subscription_criteria_type_active'), table_name='subscription')
    op.drop_table('subscription')
