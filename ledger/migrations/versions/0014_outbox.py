"""the e-mail outbox and its attachments

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-02 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=250), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('occasion', sa.String(length=120), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('invoice', 'credit_note', 'incidents_low', 'incidents_expiring', "
                       "'invoice_overdue')", name=op.f('ck_outbox_kind')),
    sa.CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed')", name=op.f('ck_outbox_state')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_outbox_client_id_clients')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_outbox_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbox_message_id')),
    sa.UniqueConstraint('occasion', name=op.f('uq_outbox_occasion'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index('ix_outbox_state_next_attempt_at', ['state', 'next_attempt_at'], unique=False)

    op.create_table('outbox_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("source IN ('stored', 'archived_pdf', 'facturx_xml')",
                       name=op.f('ck_outbox_attachments_source')),
    sa.CheckConstraint("(source = 'stored') = (content IS NOT NULL)",
                       name=op.f('ck_outbox_attachments_stored_has_content')),
    sa.CheckConstraint("(source = 'stored') OR (invoice_id IS NOT NULL)",
                       name=op.f('ck_outbox_attachments_reference_names_invoice')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'],
                            name=op.f('fk_outbox_attachments_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['message_id'], ['outbox.id'], name=op.f('fk_outbox_attachments_message_id_outbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_attachments'))
    )
    with op.batch_alter_table('outbox_attachments', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_attachments_message_position', ['message_id', 'position'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('outbox_attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_attachments_message_position')
    op.drop_table('outbox_attachments')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_state_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_outbox_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_client_id'))
    op.drop_table('outbox')
