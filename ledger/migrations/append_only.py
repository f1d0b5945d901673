"""Database triggers that make a table append-only, for the Alembic revisions."""

from alembic import op

APPEND_ONLY_SQLITE = """
CREATE TRIGGER {table}_no_{op} BEFORE {OP} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} are append-only: {OP} refused'); END
"""

APPEND_ONLY_POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$
"""


def refuse_changes(table: str) -> None:
    """Database triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on ``table``."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_POSTGRESQL_FUNCTION)
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()")
    else:
        for name in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(table=table, op=name, OP=name.upper()))
