"""payments against invoices, append-only; reversals carry a reason

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-01 23:20:00.000000
"""
from alembic import op
import sqlalchemy as sa

from ledger.migrations.append_only import refuse_changes


revision = '0013'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('method', sa.String(length=40), nullable=True),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('reverses_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount_minor <> 0', name=op.f('ck_payments_amount_not_zero')),
    sa.CheckConstraint('(reverses_id IS NULL) = (amount_minor > 0)', name=op.f('ck_payments_reversals_negative')),
    sa.CheckConstraint("reverses_id IS NULL OR reason <> ''", name=op.f('ck_payments_reversals_have_reason')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_payments_created_by_id_users')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_payments_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['reverses_id'], ['payments.id'], name=op.f('fk_payments_reverses_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_payments_reverses_id'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_invoice_id'), ['invoice_id'], unique=False)
    refuse_changes('payments')


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_invoice_id'))
    op.drop_table('payments')
