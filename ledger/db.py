"""Engine set-up and the write lock.

SQLAlchemy's ``with_for_update()`` does nothing on SQLite, so there a writer that
must not race takes the database's write lock with ``BEGIN IMMEDIATE``; on
PostgreSQL it takes a row lock on the client (or the counter) it changes.
"""

from __future__ import annotations

import functools

from sqlalchemy import bindparam, event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

#: how long a SQLite writer waits for the lock before giving up, in milliseconds
SQLITE_BUSY_TIMEOUT_MS = 30_000


def configure_engine(engine: Engine) -> None:
    """Give a SQLite engine WAL, a busy timeout, foreign keys and explicit BEGINs."""
    if engine.dialect.name != "sqlite":
        return
    in_memory = engine.url.database in (None, "", ":memory:")
    event.listen(engine, "connect", _sqlite_on_connect(in_memory))
    event.listen(engine, "begin", _sqlite_on_begin)


def _sqlite_on_connect(in_memory: bool):
    def on_connect(dbapi_connection, _record) -> None:
        # Python's sqlite3 would otherwise open transactions on its own, too late to lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed charge survives a power cut (NORMAL may lose the last commits).
            cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    return on_connect


def _sqlite_on_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")
    connection.info["immediate"] = False
    connection.info["changes_at_begin"] = connection.connection.dbapi_connection.total_changes


def acquire_write_lock(session: Session) -> None:
    """On SQLite, turn this transaction into a ``BEGIN IMMEDIATE`` one (a no-op elsewhere).

    A transaction that has only read so far is ended and begun again holding the
    write lock, so everything read after this call is current.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite" or connection.info.get("immediate"):
        return
    raw = connection.connection.dbapi_connection
    if raw.total_changes != connection.info.get("changes_at_begin", raw.total_changes):
        # It has written, so it holds the lock already, and (in WAL) a write succeeds
        # only on the newest snapshot: what it read is current.
        connection.info["immediate"] = True
        return
    if raw.in_transaction:
        raw.execute("COMMIT")
    raw.execute("BEGIN IMMEDIATE")
    connection.info["immediate"] = True
    connection.info["changes_at_begin"] = raw.total_changes


def lock_row(session: Session, model, row_id: int):
    """Lock one row for the rest of the transaction and return it freshly loaded."""
    acquire_write_lock(session)
    return session.execute(_locking_select(model), {"row_id": row_id}).scalar_one()


@functools.cache
def _locking_select(model):
    """``SELECT … FOR UPDATE`` of one ``model`` row by id, reloading it: built once per model,
    since building the statement costs about as much as running it."""
    return (
        select(model)
        .where(model.id == bindparam("row_id"))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
