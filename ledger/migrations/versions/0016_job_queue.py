"""the job queue on PostgreSQL: procrastinate's tables and functions, in a schema of their own

Nothing on SQLite, where batches run in-process. The queue lives in the schema ``procrastinate``
so the books' schema (and the comparison of models with migrations) is untouched; a worker
connects with that schema on its search path. A later procrastinate whose schema changes needs a
revision that runs its migration scripts (``procrastinate/sql/migrations``) the same way.

Revision ID: 0016
Revises: 0018
Create Date: 2026-12-02 01:20:00.000000
"""
from alembic import op


revision = '0016'
down_revision = '0018'
branch_labels = None
depends_on = None

SCHEMA = "procrastinate"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    cursor = bind.connection.dbapi_connection.cursor()  # the schema's SQL is run as it is, unformatted
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    previous = cursor.execute("SELECT current_setting('search_path')").fetchone()[0]
    cursor.execute(f"SET LOCAL search_path TO {SCHEMA}")
    cursor.execute(SchemaManager.get_schema())
    cursor.execute("SELECT set_config('search_path', %s, true)", (previous,))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
