"""``ledger backup test FILE``: restore a backup into a scratch database and archive, and verify it.

A backup is only as good as its restore. The test restores into a database made for the
purpose (a temporary SQLite file; for a PostgreSQL backup a scratch database on the
server the app uses, dropped afterwards) and a temporary archive folder, migrates it to
the current schema and runs every ``ledger verify`` check. The live database and archive
are never touched, so an operator can schedule it beside the nightly backup.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.pool import NullPool

from . import storage
from .extensions import db
from .services.backup import BackupError, Manifest, read_manifest, restore_backup
from .services.verify import Finding


@dataclass(frozen=True)
class Outcome:
    """What the test restored and what ``ledger verify`` found in it (nothing, for a good backup)."""

    manifest: Manifest
    findings: list[Finding]
    report: str


def rehearse(app: Flask, source: str) -> Outcome:
    """Restore ``source`` (a file or an s3:// URL) into scratch storage and verify it; BackupError when
    it cannot be restored."""
    with tempfile.TemporaryDirectory(prefix="ledger-backup-test-") as work:
        work = Path(work)
        file = _fetch(app, source, work)
        manifest = read_manifest(file)
        with _scratch_database(app, manifest.engine, work) as url:
            return _restore_and_verify(url, work / "invoices", file)


def _fetch(app: Flask, source: str, work: Path) -> Path:
    """The backup as a local file: itself, or downloaded from the object store."""
    if not source.startswith("s3://"):
        return Path(source)
    folder, _, name = source.rpartition("/")
    store = storage.open_url(folder, app.config.get("S3_ENDPOINT"))
    try:
        data = store.get(name)
    except storage.StoreError as error:
        raise BackupError(str(error)) from None
    (work / PurePosixPath(name).name).write_bytes(data)
    return work / PurePosixPath(name).name


@contextmanager
def _scratch_database(app: Flask, engine: str, work: Path) -> Iterator[str]:
    """The URL of an empty database for a backup of ``engine``, removed afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{work / 'scratch.sqlite3'}"
        return
    live = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if live.get_backend_name() != "postgresql":
        raise BackupError("a PostgreSQL backup is tested in a scratch database on a PostgreSQL server: "
                          "run the test with LEDGER_DATABASE_URL naming one")
    name = f"ledger_backup_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(live, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.SQLAlchemyError as error:
        admin.dispose()
        raise BackupError(f"no scratch database could be created on {live.host} ({error.orig or error}); "
                          "the role needs CREATEDB") from None
    try:
        yield live.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _restore_and_verify(url: str, archive: Path, file: Path) -> Outcome:
    from . import create_app
    from .migrate import is_current, upgrade
    from .services.verify import report, verify

    scratch = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "backup-test",
                          "INVOICE_DIR": str(archive), "ARCHIVE_URL": ""})
    store = storage.FolderStore(archive)
    with scratch.app_context():
        try:
            manifest = restore_backup(db.engine, store, file)
            if not is_current():  # an older backup: what it restores must also migrate
                upgrade()
            findings = verify(db.session, store)
            return Outcome(manifest, findings, report(findings))
        finally:
            db.session.remove()
            db.engine.dispose()
