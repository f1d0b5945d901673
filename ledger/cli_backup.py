"""``ledger backup FILE|--to DEST``, ``ledger backup test FILE``, ``ledger restore FILE [--force]``, ``ledger verify``;
``register(main)`` adds them to the group."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db


def register(main: click.Group) -> None:
    """Add the backup and restore commands to the ``ledger`` group."""
    for command in (backup, restore, verify, database):
        main.add_command(command)


@contextmanager
def _as_command_errors() -> Iterator[None]:
    """A backup's or restore's failure as the command's error; no pooled connection outlives it."""
    from .services.backup import BackupError
    from .storage import StoreError

    try:
        yield
    except (BackupError, StoreError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.engine.dispose()

class _BackupGroup(click.Group):
    """``ledger backup FILE`` and ``ledger backup --to DEST`` write a backup; ``ledger backup test FILE``
    tests one: anything that is not a subcommand's name goes to the writing command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["write", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_BackupGroup, context_settings={"help_option_names": ["--help", "-h"]})
def backup() -> None:
    """Back up the database and the invoice archive (`ledger backup FILE` or `ledger backup --to DEST`),
    or test a backup (`ledger backup test FILE`)."""


@backup.command("write")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "destination", metavar="DIR_OR_S3_URL",
              help="Write a dated backup (ledger-YYYYMMDDTHHMMSSZ.tar.gz) into this folder or s3://BUCKET/PREFIX, "
                   "then prune the older ones by the --keep-* policy.")
@click.option("--keep-daily", default=7, show_default=True, type=click.IntRange(0),
              help="Days that keep their newest backup.")
@click.option("--keep-weekly", default=4, show_default=True, type=click.IntRange(0),
              help="ISO weeks that keep their newest backup.")
@click.option("--keep-monthly", default=12, show_default=True, type=click.IntRange(0),
              help="Months that keep their newest backup.")
@click.pass_obj
def write(app, file: Path | None, destination: str | None, keep_daily: int, keep_weekly: int,
          keep_monthly: int) -> None:
    """Write a consistent copy of the database and the invoice archive to FILE (a .tar.gz), or a dated
    one to --to DEST with retention."""
    from . import storage
    from .retention import Policy
    from .services.backup import create_backup, write_dated_backup

    if (file is None) == (destination is None):
        raise click.UsageError("give either FILE or --to DIR_OR_S3_URL")
    archive = storage.for_config(app.config)
    with _as_command_errors():
        if file is not None:
            manifest = create_backup(db.engine, archive, file)
            where, pruned = str(file), []
        else:
            target = _destination(app, destination)
            name, manifest, pruned = write_dated_backup(
                db.engine, archive, target, Policy(keep_daily, keep_weekly, keep_monthly))
            where = target.where(name)
    click.echo(f"backed up the {manifest.engine} database and {len(manifest.files)} archived file(s) "
               f"to {where}")
    for name in pruned:
        click.echo(f"pruned {target.where(name)} (outside the retention policy)")


def _destination(app, url: str):
    """The folder or object store that backups go to (an S3 one uses the archive's endpoint)."""
    from . import storage

    try:
        return storage.open_url(url, app.config.get("S3_ENDPOINT"))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--to") from None


@backup.command("test")
@click.argument("file", metavar="FILE_OR_S3_URL")
@click.pass_obj
def test_backup(app, file: str) -> None:
    """Restore FILE into a scratch database and archive, migrate it, and run `ledger verify` on it;
    exit 1 naming what is wrong. The live database and archive are not touched."""
    from .rehearsal import rehearse
    from .services.backup import BackupError

    try:
        outcome = rehearse(app, file)
    except BackupError as error:
        raise click.ClickException(f"the backup {file} failed its test: {error}") from None
    click.echo(f"restored {file} (made {outcome.manifest.created_at}, {outcome.manifest.engine}, "
               f"{len(outcome.manifest.files)} archived file(s)) into a scratch database")
    click.echo(outcome.report)
    if outcome.findings:
        raise click.ClickException(f"the backup {file} failed its test: `ledger verify` found "
                                   f"{len(outcome.findings)} problem(s) in what it restored")
    click.echo(f"the backup {file} passed its test")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds clients or invoices.")
@click.pass_obj
def restore(app, file: Path, force: bool) -> None:
    """Restore the database and the invoice archive from FILE, after checking every checksum."""
    from . import storage
    from .migrate import is_current
    from .services.backup import restore_backup

    db.session.remove()  # no connection of ours may hold a lock on what is replaced
    with _as_command_errors():
        manifest = restore_backup(db.engine, storage.for_config(app.config), file, force=force)
        current = is_current()
    click.echo(f"restored the database and {len(manifest.files)} archived file(s) "
               f"from {file} (made {manifest.created_at})")
    if not current:
        click.echo("the restored schema is older than this version: run `ledger init` to migrate it")
        return
    _verify_or_exit(app)


@click.command()
@click.pass_obj
def verify(app) -> None:
    """Check every lot against its entries, every archived PDF against its SHA-256, every number
    series for gaps and every billed source for double billing; exit 1 on any mismatch."""
    _verify_or_exit(app)


def _verify_or_exit(app) -> None:
    from . import storage
    from .services.verify import report
    from .services.verify import verify as check_books

    try:
        findings = check_books(db.session, storage.for_config(app.config))
    finally:
        db.session.remove()
    click.echo(report(findings))
    if findings:
        raise SystemExit(1)


@click.group("db")
def database() -> None:
    """The database itself: roles and rights."""


@database.command("grant")
@click.argument("role")
@click.option("--print-only", is_flag=True, help="Print the SQL instead of running it.")
def grant(role: str, print_only: bool) -> None:
    """Let ROLE (an existing PostgreSQL login role) run the app: no UPDATE, DELETE or TRUNCATE on the
    append-only tables, no DDL. Run it as the owner after every `ledger init`."""
    from .db import grant_statements

    if db.engine.dialect.name != "postgresql":
        raise click.ClickException("`ledger db grant` is for PostgreSQL; SQLite has no roles")
    try:
        with db.engine.begin() as connection:
            statements = grant_statements(connection, role)
            for statement in statements if not print_only else ():
                connection.exec_driver_sql(statement)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    except SQLAlchemyError as error:  # e.g. the role does not exist: the server's message says so
        raise click.ClickException(f"granting failed, nothing changed: {error}") from None
    if print_only:
        click.echo(";\n".join(statements) + ";")
    else:
        click.echo(f"{role} may now run the app ({len(statements)} statements)")
