"""``ledger backup FILE`` and ``ledger restore FILE [--force]``; ``register(main)`` adds them to the group."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db


def register(main: click.Group) -> None:
    """Add the backup and restore commands to the ``ledger`` group."""
    main.add_command(backup)
    main.add_command(restore)
    main.add_command(verify)
    main.add_command(database)


@contextmanager
def _as_command_errors() -> Iterator[None]:
    """A backup's or restore's failure as the command's error; no pooled connection outlives it."""
    from .services.backup import BackupError

    try:
        yield
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.engine.dispose()

@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup(app, file: Path) -> None:
    """Write a consistent copy of the database and the invoice archive to FILE (a .tar.gz)."""
    from .services.backup import create_backup

    with _as_command_errors():
        manifest = create_backup(db.engine, Path(app.config["INVOICE_DIR"]), file)
    click.echo(f"backed up the {manifest.engine} database and {len(manifest.files)} archived file(s) "
               f"to {file}")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds clients or invoices.")
@click.pass_obj
def restore(app, file: Path, force: bool) -> None:
    """Restore the database and the invoice archive from FILE, after checking every checksum."""
    from .migrate import is_current
    from .services.backup import restore_backup

    db.session.remove()  # no connection of ours may hold a lock on what is replaced
    with _as_command_errors():
        manifest = restore_backup(db.engine, Path(app.config["INVOICE_DIR"]), file, force=force)
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
    from .services.verify import report
    from .services.verify import verify as check_books

    try:
        findings = check_books(db.session, Path(app.config["INVOICE_DIR"]))
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
