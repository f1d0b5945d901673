"""cases keep the description their opener wrote (the portal asks for one)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('description', sa.Text(), server_default='', nullable=False))


def downgrade() -> None:
    op.drop_column('cases', 'description')
