"""users and clients have a time zone, users a language; API tokens a name, an expiry and a last use

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-02 01:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None

#: a client's zone starts as its support plan's latest (the standard plan's when it has none), else UTC
BACKFILL_CLIENT_ZONES = """
UPDATE clients SET time_zone = COALESCE((
    SELECT v.time_zone FROM support_plan_versions v
    WHERE v.plan_id = COALESCE(clients.support_plan_id,
                               (SELECT p.id FROM support_plans p WHERE p.code = 'standard'))
    ORDER BY v.version DESC LIMIT 1), 'UTC')
"""


def upgrade() -> None:
    op.add_column('clients', sa.Column('time_zone', sa.String(length=64), server_default='UTC', nullable=False))
    op.execute(BACKFILL_CLIENT_ZONES)
    op.add_column('users', sa.Column('time_zone', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('language', sa.String(length=10), nullable=True))
    op.add_column('api_tokens', sa.Column('name', sa.String(length=100), server_default='', nullable=False))
    op.add_column('api_tokens', sa.Column('expires_at', sa.DateTime(), nullable=True))
    op.add_column('api_tokens', sa.Column('last_used_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('last_used_at')
        batch.drop_column('expires_at')
        batch.drop_column('name')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('language')
        batch.drop_column('time_zone')
    with op.batch_alter_table('clients') as batch:
        batch.drop_column('time_zone')
