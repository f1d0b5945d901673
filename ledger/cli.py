"""The ``ledger`` command line. Each command is one transaction: committed once, or not at all."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from datetime import date

import click

from .db import acquire_write_lock
from .errors import describe
from .extensions import db


@contextmanager
def transaction():
    """One unit of work: commit on success, roll back and report on any error."""
    try:
        acquire_write_lock(db.session)
        yield db.session
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        raise _click_error(error) from None


class AppGroup(click.Group):
    """Runs every command inside an app context of ``create_app()``."""

    def invoke(self, ctx: click.Context):
        from . import create_app

        app = create_app()
        ctx.obj = app
        with app.app_context():
            try:
                return super().invoke(ctx)
            finally:  # a command leaves no connection behind (the server's workers have their own)
                db.session.remove()
                db.engine.dispose()


@click.group(cls=AppGroup)
def main() -> None:
    """Support Ledger: incidents, prepaid hours and maintenance for support vendors."""


def _require_schema() -> None:
    from .migrate import is_current

    if not is_current():
        raise click.ClickException("the database schema is not current: run `ledger init` first")


@main.command()
def init() -> None:
    """Create or migrate the database schema; safe to run again."""
    from flask import current_app

    from .migrate import upgrade
    from .services.seeds import seed_defaults

    upgrade()
    with transaction() as session:
        seeded = seed_defaults(session, current_app.config["HOME_CURRENCY"])
    for what in seeded:
        click.echo(f"seeded {what}")
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing if any client exists already.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Pretend today is this day.")
@click.pass_context
def demo(ctx: click.Context, if_empty: bool, today) -> None:
    """Load demo clients, bundles, cases and months of usage, invoice the last months; print how to
    sign in; send the outbox (``LEDGER_MAIL_URL``, by default .eml files under instance/outbox)."""
    from sqlalchemy import select

    from .demo import issue_demo_invoices, load_demo
    from .models import Client
    from .services.reminders import queue_reminders

    _require_schema()
    day = today.date() if today else date.today()
    with transaction() as session:
        fresh = session.scalar(select(Client.id).limit(1)) is None
        sign_in = load_demo(session, day, if_empty=if_empty)
    if fresh:  # the invoices' e-mails are queued as they are issued, with their PDFs rendered
        issue_demo_invoices(ctx.obj, day)
    with transaction() as session:  # the demo's reminders (and any invoice e-mails), sent to the outbox
        queue_reminders(session, day)
    sent = _send_outbox(ctx.obj)
    click.echo(sign_in)
    click.echo(f"e-mail: {sent.sent} message(s) sent to {ctx.obj.config['MAIL_URL']}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=lambda: int(os.environ.get("LEDGER_WORKERS", 4)),
              show_default="4, or LEDGER_WORKERS", type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn and several worker processes."""
    from .serve import serve as run_server

    _require_schema()
    url = db.engine.url.render_as_string(hide_password=False)
    db.engine.dispose()  # the workers open their own connections after the fork
    run_server(host, port, workers, url)


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["admin", "account_manager", "finance", "client"]))
@click.option("--client", "client_code", help="The client's code, for a client user.")
@click.option("--password", help="Sign-in password; prompted for when omitted on a terminal.")
def create_user(email: str, role: str, client_code: str | None, password: str | None) -> None:
    """Create a user."""
    from .models import Client
    from .services.users import create_user as create

    if password is None and sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with transaction() as session:
        client = None
        if client_code is not None:
            client = session.query(Client).filter_by(code=client_code).one_or_none()
            if client is None:
                raise click.ClickException(f"client: no client {client_code!r}")
        user = create(session, email, role, client=client, password=password)
    click.echo(f"created {user.email} ({user.role})")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the token is for, shown in the token list.")
@click.option("--expires", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="YYYY-MM-DD: the token stops working on that day (UTC); none means never.")
def create_token(email: str, name: str, expires) -> None:
    """Print a new API token for EMAIL, alone on stdout."""
    from .services.users import create_token as create
    from .services.users import find_user

    with transaction() as session:
        token = create(session, find_user(session, email), name=name,
                       expires_on=expires.date() if expires else None)
    click.echo(token)


@main.group()
def terms() -> None:
    """Annual terms."""


@terms.command("close")
@click.option("--as-of", "as_of", required=True, type=click.DateTime(["%Y-%m-%d"]))
def close_terms(as_of) -> None:
    """Close every term that ended on or before --as-of: rollover and expiry. Idempotent."""
    from .models import Client
    from .services.terms import close_terms as close

    with transaction() as session:
        closed = close(session, as_of.date(), date.today())
        codes = {c.id: c.code for c in session.query(Client)}
        lines = [
            f"{codes[r.client_id]}: term ending {r.term_end} closed, "
            f"{r.rolled_over} rolled over, {r.expired} expired"
            for r in closed
        ]
    click.echo("\n".join(lines) if lines else "no term to close")


@main.group()
def invoices() -> None:
    """The monthly invoice batch and exports."""


@invoices.command("run")
@click.option("--period", required=True, help="The month, YYYY-MM.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32),
              help="Processes rendering PDFs (at lower CPU priority).")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Issue date; today if omitted.")
@click.pass_obj
def run_invoices(app, period: str, workers: int, today) -> None:
    """Issue the month's invoices, then render their PDFs; running it again issues nothing new.

    Exits 1 with a summary when any client could not be invoiced (the others are issued).
    """
    from . import batch, storage
    from .billing import Period
    from .db import hold_in_use

    _require_schema()
    hold_in_use(db.engine.url)  # a restore refuses while the batch runs
    issued_on = today.date() if today else date.today()
    with click.progressbar(length=1, label="Issuing, then rendering PDFs") as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(1)

        try:
            result = batch.run(app, Period.parse(period), issued_on, workers=workers, progress=progress)
        except Exception as error:
            raise _click_error(error) from None
    click.echo(f"{period}: {len(result.issued)} issued, {len(result.skipped)} with nothing to bill, "
               f"{len(result.failed)} failed")
    click.echo(f"{result.rendered} PDF(s) rendered into {storage.for_config(app.config).where()}")
    for number in result.issued:
        click.echo(number)
    if result.failed:
        for failure in result.failed:
            click.echo(f"not issued: {failure.client}: {failure.message} ({failure.code})", err=True)
        raise click.ClickException(f"{len(result.failed)} client(s) could not be invoiced for {period}; "
                                   "fix what is listed above and run again (nothing is issued twice)")


@invoices.command("export")
@click.option("--period", required=True, help="The month, YYYY-MM.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File; stdout if omitted.")
def export_invoices(period: str, output: str | None) -> None:
    """Write the month's invoice lines as CSV for the accounting system."""
    from .billing import Period
    from .services.exports import export_csv

    with transaction() as session:
        text = export_csv(session, Period.parse(period))
    if output:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.group()
def mail() -> None:
    """The e-mail outbox."""


def _send_outbox(app):
    from .models import utcnow
    from .services.mail import app_transport, send_pending

    try:
        return send_pending(app, app_transport(app), utcnow())
    except Exception as error:
        raise _click_error(error) from None


@mail.command("send")
@click.pass_obj
def send_mail(app) -> None:
    """Send what the outbox holds and is due, once; a temporary failure waits for a later run."""
    _require_schema()
    result = _send_outbox(app)
    click.echo(f"{result.sent} sent, {result.retrying} to retry later, {result.failed} failed")
    for message_id, state in result.recovered or []:
        click.echo(f"{message_id}: an interrupted send was settled as {state}")


@main.command()
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Pretend today is this day.")
def reminders(today) -> None:
    """Queue the reminders due today (incidents low or expiring, invoices overdue); each once. Idempotent."""
    from .services.reminders import queue_reminders

    _require_schema()
    with transaction() as session:
        queued = queue_reminders(session, today.date() if today else date.today())
        lines = [f"{message.kind}: {', '.join(message.recipients)}: {message.subject}" for message in queued]
    click.echo("\n".join(lines) if lines else "no reminder due")


def _click_error(error: Exception) -> click.ClickException:
    info = describe(error)
    if info is None:
        raise error
    where = f"{info.field}: " if info.field else ""
    return click.ClickException(f"{where}{info.message}")


from .cli_backup import register as _register_backup  # noqa: E402  (adds `backup` and `restore`)

_register_backup(main)
