"""bank lines posted by reconciliation (each fingerprint once); quotes e-mailed through the outbox

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-02 01:10:00.000000
"""
from alembic import op
import sqlalchemy as sa

from ledger.migrations.append_only import refuse_changes


revision = '0018'
down_revision = '0015'
branch_labels = None
depends_on = None

OLD_KINDS = "kind IN ('invoice', 'credit_note', 'incidents_low', 'incidents_expiring', 'invoice_overdue')"
NEW_KINDS = ("kind IN ('invoice', 'credit_note', 'quote', 'incidents_low', 'incidents_expiring', "
             "'invoice_overdue')")


def upgrade() -> None:
    op.create_table('bank_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_bank_lines_created_by_id_users')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_bank_lines_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_lines')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_bank_lines_fingerprint')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_bank_lines_payment_id'))
    )
    refuse_changes('bank_lines')
    _outbox_kinds(NEW_KINDS)


def downgrade() -> None:
    _outbox_kinds(OLD_KINDS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS bank_lines_append_only ON bank_lines")
        op.execute("DROP TRIGGER IF EXISTS bank_lines_no_truncate ON bank_lines")
    op.drop_table('bank_lines')


def _outbox_kinds(condition: str) -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_kind'), condition)
