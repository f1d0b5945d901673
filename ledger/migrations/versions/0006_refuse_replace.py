"""refuse INSERT OR REPLACE on the append-only tables

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""
import sqlalchemy as sa
from alembic import op

from ledger.migrations.append_only import append_only_tables, refuse_replace

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite only: PostgreSQL's rewriting insert (ON CONFLICT DO UPDATE) meets the UPDATE trigger.
    for table in append_only_tables(op.get_bind()):
        refuse_replace(table)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in append_only_tables(op.get_bind()):
        op.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_no_replace"))
