"""audit journal rows stay uncompressed on PostgreSQL (toast_tuple_target)

A row longer than about 2 KB (an AuditEvent with a person, a client and a few entities) is
compressed when it is inserted, in the transaction a read commits before its response leaves,
and decompressed when the mover reads it, moments later, to delete it. A journal row lives for
about a second, so the space compression saves is worth nothing: rows up to a page's worth
(8160 bytes) are kept as they are. SQLite does not compress: nothing to change there.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE audit_journal SET (toast_tuple_target = 8160)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE audit_journal RESET (toast_tuple_target)')
