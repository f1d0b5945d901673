"""Backup and restore: the database and the invoice archive in one tar file, with a manifest of SHA-256s.

The database is copied from one consistent snapshot while the app keeps writing:
SQLite's backup API copies every page in one step; ``pg_dump`` reads in one
transaction. The invoice archive is copied after the snapshot, so every PDF the
snapshot records is on disk already (a PDF is written before it is recorded and
never changed afterwards).

A restore reads the whole backup into a staging folder and checks every checksum
before it touches anything; then it replaces the database in one transaction
and brings the archive in line with the backup.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from .. import retention, storage
from ..db import DatabaseInUse, not_in_use
from .archive import atomic_file

FORMAT = "support-ledger-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARCHIVE_FOLDER = "invoices"
#: the dump's name inside the backup, per engine
DUMP_NAMES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
#: the size of an Item the store found damaged: it is named in the refusal, never written
DAMAGED = -1
#: how long pg_dump and pg_restore wait for a table lock before giving up
LOCK_TIMEOUT = "60s"


class BackupError(Exception):
    """A backup could not be made or restored; the message says which file and why."""


class RestoreRefused(BackupError):
    """The target holds data and ``force`` was not given."""


@dataclass(frozen=True)
class Item:
    """One file in a backup: its path inside the tar, hex SHA-256 and size in bytes."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """What a backup holds."""

    engine: str
    created_at: str
    schema_revision: str | None
    database: Item
    files: tuple[Item, ...]

    def to_json(self) -> bytes:
        """The manifest as stored in the backup."""
        return json.dumps({
            "format": FORMAT, "version": FORMAT_VERSION, "engine": self.engine,
            "created_at": self.created_at, "schema_revision": self.schema_revision,
            "database": vars(self.database), "files": [vars(item) for item in self.files],
        }, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes, source: Path) -> Manifest:
        """Read a stored manifest; BackupError when it is not one of ours."""
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT or raw.get("version") != FORMAT_VERSION:
                raise ValueError("unknown format")
            return cls(raw["engine"], raw["created_at"], raw.get("schema_revision"),
                       Item(**raw["database"]), tuple(Item(**item) for item in raw["files"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupError(f"{source}: {MANIFEST} is not a Support Ledger backup manifest") from None


# --- backup -------------------------------------------------------------------------------------

def create_backup(engine: Engine, archive, target: Path) -> Manifest:
    """Write the database and the invoice archive (a store, or its folder) to ``target`` (a .tar.gz), atomically."""
    target, store = Path(target), storage.as_store(archive)
    if target.exists():
        raise BackupError(f"{target} exists already; give a new file name")
    engine_name = _engine_name(engine)
    revision = _schema_revision(engine)
    with tempfile.TemporaryDirectory(prefix="ledger-backup-") as work:
        dump = Path(work) / DUMP_NAMES[engine_name]
        _DUMPERS[engine_name](engine, dump)  # the snapshot first, then the PDFs it may record
        # read after the snapshot, before the files: every document recorded by then is on disk
        recorded = _recorded_documents(engine)
        database = _file_item(dump, dump.name)
        with atomic_file(target) as draft, tarfile.open(draft, "w:gz") as tar:
            tar.add(dump, arcname=dump.name, recursive=False)
            files = tuple(_add_archive(tar, store))
            _refuse_damaged_documents(recorded, files, store)
            manifest = Manifest(engine_name, datetime.now(UTC).isoformat(timespec="seconds"),
                                revision, database, files)
            _add_bytes(tar, MANIFEST, manifest.to_json())
    return manifest


def _recorded_documents(engine: Engine) -> dict[str, tuple[str, str]]:
    """Every archived document the database records: {path under the archive: (number, SHA-256)}."""
    with engine.connect() as connection:
        if "invoice_documents" not in inspect(connection).get_table_names():
            return {}
        rows = connection.execute(text(
            "SELECT d.path, i.number, d.sha256 FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id"))
        return {row.path: (row.number, row.sha256) for row in rows}


def _refuse_damaged_documents(recorded: dict[str, tuple[str, str]], files: tuple[Item, ...], store) -> None:
    """BackupError naming every recorded document that is missing or differs from its SHA-256, and
    every object the store found damaged (its bytes no longer match the SHA-256 stored with it)."""
    found = {PurePosixPath(item.path).relative_to(ARCHIVE_FOLDER).as_posix(): item for item in files}
    damaged = []
    for path, (number, sha256) in sorted(recorded.items()):
        if path not in found:
            damaged.append(f"{number} ({store.where(path)}) is missing")
        elif found[path].sha256 != sha256 or found[path].size == DAMAGED:
            damaged.append(f"{number} ({store.where(path)}) does not match its recorded SHA-256")
    damaged += [f"{store.where(path)} does not match the SHA-256 stored with it"
                for path, item in sorted(found.items()) if item.size == DAMAGED and path not in recorded]
    if damaged:
        raise BackupError("the invoice archive is damaged, so no backup was written: " + "; ".join(damaged)
                          + ". Restore those files from an earlier backup, then run `ledger verify`.")


def _dump_sqlite(engine: Engine, dump: Path) -> None:
    """Copy every page in one step, which reads one consistent snapshot."""
    if engine.url.database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up")
    source = engine.raw_connection()
    copy = sqlite3.connect(dump)
    try:
        source.driver_connection.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
    finally:
        copy.close()
        source.close()


def _dump_postgresql(engine: Engine, dump: Path) -> None:
    """pg_dump reads every table in one transaction: one snapshot."""
    _run([_tool("pg_dump"), "--format=custom", "--no-password", f"--lock-wait-timeout={LOCK_TIMEOUT}",
          f"--file={dump}", engine.url.database], engine)


def _add_archive(tar: tarfile.TarFile, store):
    """Add every archived file (drafts being written are skipped); yield each as an Item.

    An object the store finds damaged is not added; it is yielded with size DAMAGED, so the
    backup is refused naming it.
    """
    try:
        for relative in store.list():
            name = f"{ARCHIVE_FOLDER}/{relative}"
            try:
                data = store.get(relative)  # read once: what is hashed is what is stored
            except storage.Damaged as error:
                yield Item(name, error.found, DAMAGED)
                continue
            _add_bytes(tar, name, data)
            yield Item(name, hashlib.sha256(data).hexdigest(), len(data))
    except storage.StoreError as error:
        raise BackupError(f"the invoice archive cannot be read, so no backup was written: {error}") from None


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


# --- dated backups with retention ---------------------------------------------------------------

def write_dated_backup(engine: Engine, archive, destination, policy: retention.Policy,
                       now: datetime | None = None) -> tuple[str, Manifest, list[str]]:
    """Write ``ledger-YYYYMMDDTHHMMSSZ.tar.gz`` into ``destination`` (a folder or object store), then remove
    the dated backups there that ``policy`` does not keep; returns (name, manifest, names removed)."""
    name = retention.backup_name(now or datetime.now(UTC))
    if isinstance(destination, storage.FolderStore):
        destination.root.mkdir(parents=True, exist_ok=True)
        manifest = create_backup(engine, archive, destination.root / name)
    else:
        with tempfile.TemporaryDirectory(prefix="ledger-backup-") as work:
            manifest = create_backup(engine, archive, Path(work) / name)
            try:
                destination.put_file_once(name, Path(work) / name)
            except storage.AlreadyStored:
                raise BackupError(f"{destination.where(name)} exists already; try again in a second") from None
    # the one just written stays even if a clock set back made older names look newer
    pruned = [old for old in retention.to_prune(destination.list(), policy) if old != name]
    for old in pruned:
        destination.remove(old)
    return name, manifest, pruned


def read_manifest(source: Path) -> Manifest:
    """The manifest of the backup at ``source``, without checking the rest; BackupError when unreadable."""
    with _reading(source) as tar:
        for member in tar:
            if member.name == MANIFEST and member.isfile():
                return Manifest.from_json(tar.extractfile(member).read(), source)
    raise BackupError(f"{source} is not a Support Ledger backup: it has no {MANIFEST}")


@contextmanager
def _reading(source: Path, consequence: str = "") -> Iterator[tarfile.TarFile]:
    """The backup at ``source`` opened for reading; BackupError (ending with ``consequence``) when it
    is missing, or damaged while it is read."""
    try:
        with tarfile.open(source, "r:*") as tar:
            yield tar
    except FileNotFoundError:
        raise BackupError(f"{source}: no such file") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise BackupError(f"{source} is damaged or not a backup ({error}){consequence}") from None


# --- restore ------------------------------------------------------------------------------------

def restore_backup(engine: Engine, archive, source: Path, *, force: bool = False) -> Manifest:
    """Restore the database and the invoice archive from ``source``.

    Every checksum is verified before anything is touched. A database holding any
    client or invoice, or an archive holding any file, is replaced only with ``force``.
    The caller disposes of its sessions first; this disposes of the engine's pool.
    """
    source, store = Path(source), storage.as_store(archive)
    engine_name = _engine_name(engine)
    with tempfile.TemporaryDirectory(prefix="ledger-restore-") as work:
        staging = Path(work)
        manifest = _unpack_verified(source, staging)
        if manifest.engine != engine_name:
            raise BackupError(f"{source} is a backup of a {manifest.engine} database; "
                              f"it cannot be restored onto {engine_name}")
        _check_revision_known(manifest, source)
        try:
            with not_in_use(engine.url):  # held exclusively: no server may start meanwhile
                if not force:
                    _refuse_if_not_empty(engine, store)
                engine.dispose()
                _RESTORERS[engine_name](engine, staging / manifest.database.path)
                engine.dispose()
                _replace_archive(store, staging / ARCHIVE_FOLDER, manifest)
        except DatabaseInUse as error:
            raise BackupError(f"{error}; nothing was restored") from None
        except storage.StoreError as error:
            raise BackupError(f"the database was restored but the invoice archive could not be: {error}; "
                              "run the restore again with --force once the store answers") from None
    return manifest


def _unpack_verified(source: Path, staging: Path) -> Manifest:
    """Unpack ``source`` into ``staging`` and check it against its manifest; BackupError if anything is off."""
    found: dict[str, Item] = {}
    manifest_data = None
    with _reading(source, "; nothing was restored") as tar:
        for member in tar:
            name = _safe_name(member, source)
            if name is None:
                continue
            if name in found or (name == MANIFEST and manifest_data is not None):
                raise BackupError(f"{source} holds {name} twice")
            if name == MANIFEST:
                manifest_data = tar.extractfile(member).read()
            else:
                found[name] = _extract(tar, member, staging / name, name)
    if manifest_data is None:
        raise BackupError(f"{source} is not a Support Ledger backup: it has no {MANIFEST}")
    manifest = Manifest.from_json(manifest_data, source)
    _compare(manifest, found, source)
    return manifest


def _safe_name(member: tarfile.TarInfo, source: Path) -> str | None:
    """The member's path if it is a plain file inside the backup; None for a folder; BackupError otherwise."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"{source} holds {member.name!r}, a path outside the backup; nothing was restored")
    if member.isdir():
        return None
    if not member.isfile():
        raise BackupError(f"{source} holds {member.name!r}, which is not a plain file; nothing was restored")
    return path.as_posix()


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, destination: Path, name: str) -> Item:
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tar.extractfile(member) as stream, open(destination, "wb") as out:
        shutil.copyfileobj(stream, out)
    return _file_item(destination, name)


def _compare(manifest: Manifest, found: dict[str, Item], source: Path) -> None:
    expected = {item.path: item for item in (manifest.database, *manifest.files)}
    if manifest.database.path != DUMP_NAMES.get(manifest.engine):
        raise BackupError(f"{source}: {MANIFEST} names no database dump for {manifest.engine!r}")
    if any(not PurePosixPath(item.path).is_relative_to(ARCHIVE_FOLDER) for item in manifest.files):
        raise BackupError(f"{source}: {MANIFEST} lists a file outside {ARCHIVE_FOLDER}/")
    for name, item in expected.items():
        if name not in found:
            raise BackupError(f"{name} is missing from {source}; nothing was restored")
        if found[name].sha256 != item.sha256 or found[name].size != item.size:
            raise BackupError(f"{name} in {source} does not match its SHA-256 in the manifest: "
                              "the backup is damaged; nothing was restored")
    unlisted = sorted(found.keys() - expected.keys())
    if unlisted:
        raise BackupError(f"{source} holds {unlisted[0]}, which its manifest does not list; nothing was restored")


def _check_revision_known(manifest: Manifest, source: Path) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from ..migrate import alembic_config

    if manifest.schema_revision is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(manifest.schema_revision)
    except CommandError:
        raise BackupError(f"{source} has schema revision {manifest.schema_revision}, which this version "
                          "of Support Ledger does not know: upgrade it first") from None


def _refuse_if_not_empty(engine: Engine, store) -> None:
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        held = [table for table in ("clients", "invoices")
                if table in tables and connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first()]
    where = engine.url.render_as_string(hide_password=True)
    if held:
        raise RestoreRefused(f"the database {where} is not empty (it has {' and '.join(held)}); "
                             "restoring would replace it: use --force to do so")
    if store.list():
        raise RestoreRefused(f"the invoice archive {store.where()} is not empty; "
                             "restoring would replace it: use --force to do so")


def _restore_sqlite(engine: Engine, dump: Path) -> None:
    """Copy the dump into the live database through SQLite's backup API: one write transaction.

    Unlike replacing the file, this takes SQLite's own locks and leaves no stale -wal
    file for the new database to be mixed with.
    """
    copy = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
    target = engine.raw_connection()
    try:
        copy.backup(target.driver_connection, pages=-1)
    except sqlite3.Error as error:
        raise BackupError(f"restoring {engine.url.database} failed ({error}); it is unchanged") from None
    finally:
        target.close()
        copy.close()


def _restore_postgresql(engine: Engine, dump: Path) -> None:
    """Drop and recreate the dump's objects in one transaction.

    ``--clean`` drops tables (the append-only triggers refuse UPDATE, DELETE and
    TRUNCATE, not DROP) and ``--single-transaction`` makes a failure change nothing.
    """
    _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", "--no-password", f"--dbname={engine.url.database}", str(dump)], engine)


def _replace_archive(store, staged: Path, manifest: Manifest) -> None:
    """Make the archive hold exactly the backup's files, each written whole.

    Documents are write-once, so one that differs from the backup's is removed first; one
    that matches already is left alone (restoring twice rewrites nothing).
    """
    wanted = set()
    for item in manifest.files:
        relative = PurePosixPath(item.path).relative_to(ARCHIVE_FOLDER).as_posix()
        wanted.add(relative)
        if store.exists(relative):
            try:
                store.get(relative, item.sha256)
                continue
            except storage.Damaged:
                store.remove(relative)
        store.put_once(relative, (staged / relative).read_bytes())
    for relative in store.list():
        if relative not in wanted:
            store.remove(relative)


# --- helpers ------------------------------------------------------------------------------------

def _engine_name(engine: Engine) -> str:
    name = engine.dialect.name
    if name not in DUMP_NAMES:
        raise BackupError(f"backups of {name} databases are not supported")
    return name


def _schema_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _file_item(path: Path, name: str) -> Item:
    """The file at ``path`` as the backup lists it under ``name``."""
    with open(path, "rb") as handle:
        return Item(name, hashlib.file_digest(handle, "sha256").hexdigest(), path.stat().st_size)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _run(command: list[str], engine: Engine) -> None:
    """Run a PostgreSQL client tool against the engine's database; BackupError with its message on failure."""
    result = subprocess.run(command, check=False, env=_libpq_environment(engine), capture_output=True, text=True)
    if result.returncode != 0:
        tool = Path(command[0]).name
        detail = result.stderr.strip() or f"exit status {result.returncode}"
        raise BackupError(f"{tool} failed; nothing was changed: {detail}")


def _libpq_environment(engine: Engine) -> dict[str, str]:
    """The environment naming the engine's server and credentials (the password never goes on argv)."""
    url = engine.url
    env = dict(os.environ)
    query = {key: value for key, value in url.query.items() if isinstance(value, str)}
    values = {
        "PGHOST": url.host or query.get("host"),
        "PGPORT": url.port or query.get("port"),
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGSSLMODE": query.get("sslmode"),
    }
    env.update({key: str(value) for key, value in values.items() if value not in (None, "")})
    env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c lock_timeout={LOCK_TIMEOUT}".strip()
    return env


_DUMPERS = {"sqlite": _dump_sqlite, "postgresql": _dump_postgresql}
_RESTORERS = {"sqlite": _restore_sqlite, "postgresql": _restore_postgresql}
