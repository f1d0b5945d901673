"""Database triggers that make a table append-only, for the Alembic revisions.

UPDATE and DELETE triggers are not enough on SQLite: ``INSERT OR REPLACE`` (and
``REPLACE``) resolves a key conflict by deleting the old row without firing DELETE
triggers (unless ``recursive_triggers`` is on, a per-connection setting anyone can
leave off), then inserts the new one, so an entry, an invoice total or a
document's SHA-256 could be rewritten. A BEFORE INSERT trigger runs before
conflict resolution on every connection: it refuses an insert whose primary key
or any unique key is held already, which only a REPLACE could have turned into a
change. On PostgreSQL the only rewriting insert, ``INSERT … ON CONFLICT DO UPDATE``,
fires the UPDATE trigger and is refused by it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

APPEND_ONLY_SQLITE = """
CREATE TRIGGER {table}_no_{op} BEFORE {OP} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} are append-only: {OP} refused'); END
"""

REFUSE_REPLACE_SQLITE = """
CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table}
WHEN {held}
BEGIN SELECT RAISE(ABORT, '{table} are append-only: a row with this key exists, REPLACE refused'); END
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
    """Database triggers that refuse UPDATE, DELETE and REPLACE (and TRUNCATE on PostgreSQL) on ``table``."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_POSTGRESQL_FUNCTION)
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()")
    else:
        for name in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(table=table, op=name, OP=name.upper()))
        refuse_replace(table)


def refuse_replace(table: str) -> None:
    """On SQLite, (re)create the trigger refusing an insert that would replace a row of ``table``.

    It covers the keys the table has now, so a revision that adds a unique key calls it again.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
    held = " OR ".join(_key_held(table, columns, where) for columns, where in unique_keys(bind, table))
    op.execute(REFUSE_REPLACE_SQLITE.format(table=table, held=held))


def append_only_tables(bind) -> list[str]:
    """The tables that carry the append-only triggers, found in the database itself."""
    if bind.dialect.name == "postgresql":
        query = ("SELECT DISTINCT event_object_table FROM information_schema.triggers "
                 "WHERE trigger_name LIKE '%\\_append\\_only' ORDER BY 1")
    else:
        query = ("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' "
                 "AND name LIKE '%\\_no\\_delete' ESCAPE '\\' ORDER BY 1")
    return list(bind.execute(sa.text(query)).scalars())


def unique_keys(bind, table: str) -> list[tuple[list[str], str | None]]:
    """Every key of ``table`` a REPLACE could collide on: (columns, partial-index condition or None)."""
    inspector = sa.inspect(bind)
    keys = [(inspector.get_pk_constraint(table)["constrained_columns"], None)]
    keys += [(c["column_names"], None) for c in inspector.get_unique_constraints(table)]
    for index in inspector.get_indexes(table):
        if index["unique"]:
            keys.append((index["column_names"], index.get("dialect_options", {}).get("sqlite_where")))
    return [(columns, where) for columns, where in keys if columns]


def _key_held(table: str, columns: list[str], where) -> str:
    match = " AND ".join(f"held.{column} = NEW.{column}" for column in columns)
    if where is None:
        return f"EXISTS (SELECT 1 FROM {table} AS held WHERE {match})"
    # A partial unique index binds only rows meeting its condition: test it on the held row and,
    # through a one-row subquery naming NEW's columns as the table's, on the new one.
    names = [column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)]
    new_row = ", ".join(f"NEW.{name} AS {name}" for name in names)
    return (f"(EXISTS (SELECT 1 FROM (SELECT {new_row}) WHERE {where}) "
            f"AND EXISTS (SELECT 1 FROM {table} AS held WHERE {match} AND {where}))")
