"""web sessions and one-time form tokens

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('form_uses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=False),
    sa.Column('result_url', sa.String(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['web_sessions.id'], name=op.f('fk_form_uses_session_id_web_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_uses')),
    sa.UniqueConstraint('nonce', name=op.f('uq_form_uses_nonce'))
    )
    with op.batch_alter_table('form_uses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_uses_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('form_uses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_uses_session_id'))
    op.drop_table('form_uses')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
    op.drop_table('web_sessions')
