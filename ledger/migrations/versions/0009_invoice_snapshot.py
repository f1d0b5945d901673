"""invoices keep a snapshot of everything they print (seller, buyer, due date, named taxes)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN only: invoices are append-only (triggers refuse UPDATE) and others reference them
    op.add_column('invoices', sa.Column('snapshot', sa.JSON(), server_default='{}', nullable=False))


def downgrade() -> None:
    # not a batch rebuild, which would drop the append-only triggers (SQLite >= 3.35 drops columns)
    op.drop_column('invoices', 'snapshot')
