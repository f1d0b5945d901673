"""vendor profile, clients' billing details and named tax components

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-23 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vendor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('vat_id', sa.String(length=40), nullable=False),
    sa.Column('registration', sa.String(length=100), nullable=False),
    sa.Column('iban', sa.String(length=34), nullable=False),
    sa.Column('bic', sa.String(length=11), nullable=False),
    sa.Column('bank_account', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('logo', sa.LargeBinary(), nullable=True),
    sa.Column('logo_type', sa.String(length=20), nullable=False),
    sa.Column('logo_size', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_vendor_single_row')),
    sa.CheckConstraint('logo_size <= 1048576', name=op.f('ck_vendor_logo_at_most_1_mb')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor'))
    )
    op.create_table('client_taxes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('rate', sa.Numeric(precision=6, scale=3), nullable=False),
    sa.CheckConstraint("name <> ''", name=op.f('ck_client_taxes_name_not_empty')),
    sa.CheckConstraint('rate >= 0 AND rate <= 100', name=op.f('ck_client_taxes_rate_percent')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_client_taxes_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_taxes'))
    )
    with op.batch_alter_table('client_taxes', schema=None) as batch_op:
        batch_op.create_index('ix_client_taxes_client_position', ['client_id', 'position'], unique=True)

    # ADD COLUMN only: on SQLite a batch rebuild of 'clients' would drop a table others reference
    op.add_column('clients', sa.Column('country', sa.String(length=2), server_default='', nullable=False))
    op.add_column('clients', sa.Column('vat_id', sa.String(length=40), server_default='', nullable=False))
    op.add_column('clients', sa.Column('billing_emails', sa.JSON(), server_default='[]', nullable=False))
    op.add_column('clients', sa.Column('payment_terms_days', sa.Integer(), server_default='30', nullable=False))
    op.add_column('clients', sa.Column('purchase_order', sa.String(length=100), server_default='',
                                       nullable=False))
    op.add_column('clients', sa.Column('reverse_charge', sa.Boolean(), server_default=sa.false(),
                                       nullable=False))
    if op.get_bind().dialect.name != 'sqlite':
        # SQLite cannot add a CHECK to an existing table; the service refuses negative terms there too
        op.create_check_constraint(op.f('ck_clients_payment_terms_not_negative'), 'clients',
                                   'payment_terms_days >= 0')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('ck_clients_payment_terms_not_negative'), 'clients', type_='check')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        for column in ('reverse_charge', 'purchase_order', 'payment_terms_days', 'billing_emails', 'vat_id',
                       'country'):
            batch_op.drop_column(column)
    with op.batch_alter_table('client_taxes', schema=None) as batch_op:
        batch_op.drop_index('ix_client_taxes_client_position')
    op.drop_table('client_taxes')
    op.drop_table('vendor')
