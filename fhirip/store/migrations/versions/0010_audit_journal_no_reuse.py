"""audit journal numbers are never reused on SQLite (AUTOINCREMENT)

Without AUTOINCREMENT SQLite numbers a new row one past the largest present, so once the
journal is emptied its numbers start again, and a drain that read rows before another drain
moved them could claim newer rows that took the same numbers: events lost, others stored twice.
PostgreSQL's sequence never hands a number out twice, so there is nothing to change there.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-07
"""
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    keyword = ' AUTOINCREMENT' if autoincrement else ''
    op.execute(
        'CREATE TABLE audit_journal_rebuilt ('
        f'seq INTEGER NOT NULL CONSTRAINT pk_audit_journal PRIMARY KEY{keyword}, '
        'last_updated DATETIME NOT NULL, '
        'content BLOB NOT NULL)')
    op.execute('INSERT INTO audit_journal_rebuilt (seq, last_updated, content) '
               'SELECT seq, last_updated, content FROM audit_journal')
    op.execute('DROP TABLE audit_journal')
    op.execute('ALTER TABLE audit_journal_rebuilt RENAME TO audit_journal')


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
