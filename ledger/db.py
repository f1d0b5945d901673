"""Engine set-up and the write lock.

SQLAlchemy's ``with_for_update()`` does nothing on SQLite, so there a writer that
must not race takes the database's write lock with ``BEGIN IMMEDIATE``; on
PostgreSQL it takes a row lock on the client (or the counter) it changes.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import os
import re
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session

#: how long a SQLite writer waits for the lock before giving up, in milliseconds
SQLITE_BUSY_TIMEOUT_MS = 30_000


def configure_engine(engine: Engine) -> None:
    """Give a SQLite engine WAL, a busy timeout, foreign keys and explicit BEGINs."""
    if engine.dialect.name != "sqlite":
        return
    in_memory = engine.url.database in (None, "", ":memory:")
    create_sqlite_file(engine)
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
    """Lock one row for the rest of the transaction and return it freshly loaded.

    A row this transaction locked already (:func:`held_lock`) is returned without asking again.
    """
    held = session.info.get(_HELD, {}).get((model, row_id))
    if held is not None:
        return held
    acquire_write_lock(session)
    return held_lock(session, session.execute(_locking_select(model), {"row_id": row_id}).scalar_one())


_HELD = "ledger_locked_rows"


def held_lock(session: Session, row):
    """Note that this transaction holds ``row``'s lock (taken by a ``FOR UPDATE`` that loaded it); returns it.

    Kept (a strong reference) until the transaction, or any savepoint, ends: a savepoint
    rolled back may have released it, so any end forgets every lock, which costs at most
    one more ``SELECT … FOR UPDATE``.
    """
    session.info.setdefault(_HELD, {})[(type(row), row.id)] = row
    return row


@event.listens_for(Session, "after_transaction_end")
def _forget_held_locks(session: Session, transaction) -> None:
    if transaction.nested or transaction.parent is None:  # not a flush's internal subtransaction
        session.info.pop(_HELD, None)


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


# --- the database file --------------------------------------------------------------------------

def create_sqlite_file(engine: Engine) -> None:
    """Create a SQLite database file readable by its owner only (0600) before SQLite creates it (0644).

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    path = sqlite_path(engine.url)
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def sqlite_path(url) -> Path | None:
    """The file of a SQLite URL; None for another engine or an in-memory database."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


# --- "in use": servers and workers hold a shared lock; a restore needs it exclusively ---------------

#: the PostgreSQL advisory lock key that says "a Support Ledger process uses this database"
IN_USE_KEY = 0x4C45_4447_4552  # "LEDGER"
#: what holds this process's shared lock, kept until the process ends
_held_in_use: list = []
# closed at exit rather than by the interpreter's teardown, which warns about each open file it finds
atexit.register(lambda: [held.close() for held in _held_in_use])


class DatabaseInUse(Exception):
    """A restore was refused: a server or worker is using the database."""


def in_use_lock_file(url) -> Path | None:
    """The lock file beside a SQLite database (``ledger.sqlite3.in-use``); None elsewhere."""
    path = sqlite_path(url)
    return path.with_name(path.name + ".in-use") if path is not None else None


def hold_in_use(url) -> None:
    """Hold the shared "in use" lock on the database at ``url`` until this process ends.

    On SQLite an ``flock`` on the file beside the database; on PostgreSQL a session advisory
    lock on a connection of its own (so no pool or fork can close it).
    """
    url = make_url(url)
    lock_file = in_use_lock_file(url)
    if lock_file is not None:
        handle = _open_lock_file(lock_file)  # kept open: the lock lives as long as the file is open
        fcntl.flock(handle, fcntl.LOCK_SH)
        _held_in_use.append(handle)
    elif url.get_backend_name() == "postgresql":
        connection = _libpq_connect(url)
        connection.execute("SELECT pg_advisory_lock_shared(%s)", (IN_USE_KEY,))
        _held_in_use.append(connection)


@contextmanager
def not_in_use(url):
    """Hold the "in use" lock exclusively for the block; DatabaseInUse if a server or worker holds it."""
    url = make_url(url)
    lock_file = in_use_lock_file(url)
    where = url.render_as_string(hide_password=True)
    refusal = DatabaseInUse(
        f"the database {where} is in use by a running `ledger serve`, `ledger worker` or "
        "`ledger invoices run`: stop it first (stop its service, or Ctrl-C / kill its process; for "
        "gunicorn, SIGTERM to the master), then run the restore again")
    if lock_file is not None:
        with _open_lock_file(lock_file) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise refusal from None
            yield
    elif url.get_backend_name() == "postgresql":
        with _libpq_connect(url) as connection:
            if not connection.execute("SELECT pg_try_advisory_lock(%s)", (IN_USE_KEY,)).fetchone()[0]:
                raise refusal
            yield
    else:
        yield


def _open_lock_file(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+")


def _libpq_connect(url):
    import psycopg

    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, autocommit=True)


# --- the app's restricted PostgreSQL role -------------------------------------------------------

#: a role name ``ledger db grant`` accepts (quoted nowhere, so kept to plain identifiers)
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_statements(connection: Connection, role: str) -> list[str]:
    """The SQL that lets ``role`` run the app and nothing more: read and append everywhere, change
    only what is not append-only, no TRUNCATE, no DDL (it owns nothing, so it cannot drop or
    disable a trigger)."""
    from .migrations.append_only import append_only_tables

    if not ROLE_NAME.match(role):
        raise ValueError(f"role: {role!r} is not a plain lower-case PostgreSQL identifier")
    append_only = set(append_only_tables(connection))
    database = connection.exec_driver_sql("SELECT current_database()").scalar()
    statements = [
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f"GRANT USAGE ON SCHEMA public TO {role}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",  # PostgreSQL < 15 lets every role create tables
    ]
    for table in sorted(inspect(connection).get_table_names()):
        statements.append(f"REVOKE ALL ON {table} FROM {role}")
        if table == "alembic_version":
            rights = "SELECT"  # the app checks the schema; only `ledger init` moves it
        elif table in append_only:
            rights = "SELECT, INSERT"
        else:
            rights = "SELECT, INSERT, UPDATE, DELETE"
        statements.append(f"GRANT {rights} ON {table} TO {role}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    if "procrastinate" in inspect(connection).get_schema_names():  # the job queue: `ledger worker` runs jobs
        statements += [
            f"GRANT USAGE ON SCHEMA procrastinate TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA procrastinate TO {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA procrastinate TO {role}",
            f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA procrastinate TO {role}",
        ]
    return statements
