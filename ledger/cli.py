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
        lines = [f"{codes[r.client_id]}: term ending {r.term_end} closed, {r.rolled_over} rolled over, "
                 f"{r.expired} expired" for r in closed]
    click.echo("\n".join(lines) if lines else "no term to close")


@main.group()
def invoices() -> None:
    """The monthly invoice batch and exports."""


@invoices.command("run")
@click.option("--period", required=True, help="The month, YYYY-MM.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32),
              help="SQLite: processes rendering PDFs (at lower CPU priority). PostgreSQL: unused, "
                   "the running `ledger worker`s do the work.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Issue date; today if omitted.")
@click.option("--no-wait", is_flag=True, help="PostgreSQL: queue the month's jobs and return at once.")
@click.pass_obj
def run_invoices(app, period: str, workers: int, today, no_wait: bool) -> None:
    """Issue the month's invoices, then render their PDFs; running it again issues nothing new.

    On PostgreSQL the month is queued as one job per client for the `ledger worker`s of every
    host, and the progress shown as they finish; one batch per month runs at a time. On SQLite
    it runs in this process. Exits 1 with a summary when any client could not be invoiced.
    """
    from . import jobs
    from .billing import Period

    _require_schema()
    issued_on = today.date() if today else date.today()
    try:
        month = Period.parse(period)
    except Exception as error:
        raise _click_error(error) from None
    if jobs.uses_queue(app):
        _run_queued(app, month, issued_on, wait=not no_wait)
    else:
        _run_in_process(app, month, issued_on, workers)


def _run_in_process(app, month, issued_on: date, workers: int) -> None:
    from . import batch, storage
    from .db import hold_in_use

    hold_in_use(db.engine.url)  # a restore refuses while the batch runs
    with click.progressbar(length=1, label="Issuing, then rendering PDFs") as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(1)

        try:
            result = batch.run(app, month, issued_on, workers=workers, progress=progress)
        except Exception as error:
            raise _click_error(error) from None
    _summarise(month, result.issued, len(result.skipped), [
        f"{failure.client}: {failure.message} ({failure.code})" for failure in result.failed],
        f"{result.rendered} PDF(s) rendered into {storage.for_config(app.config).where()}")


def _run_queued(app, month, issued_on: date, *, wait: bool) -> None:
    import time

    from . import jobs, storage

    announce = lambda: click.echo(f"a batch for {month} is running already (another `ledger invoices run`); "
                                  "waiting for it to finish", err=True)
    try:
        with jobs.month_lock(app, month, wait=wait, on_wait=announce):
            job_ids = jobs.enqueue_month(app, month, issued_on)
            click.echo(f"{month}: {len(job_ids)} client job(s) queued for the `ledger worker`s")
            if not wait:
                return
            with click.progressbar(length=max(len(job_ids), 1), label="Issuing and rendering (workers)") as bar:
                while True:
                    state = jobs.progress(app, job_ids)
                    bar.update(state.done - bar.pos)
                    if state.done >= state.total:
                        break
                    time.sleep(0.5)
    except jobs.BatchRunning as error:
        raise click.ClickException(f"{error}: wait for it, or run again without --no-wait to follow it") from None
    except Exception as error:
        raise _click_error(error) from None
    failed = jobs.failed_clients(app, job_ids)
    numbers, unbilled = jobs.month_outcome(app, month)
    _summarise(month, numbers, max(unbilled - len(failed), 0),
               [f"{code}: the `ledger worker` log says why" for code in failed],
               f"every issued PDF archived in {storage.for_config(app.config).where()}")


def _summarise(month, numbers: list[str], skipped: int, failures: list[str], archived: str) -> None:
    click.echo(f"{month}: {len(numbers)} issued, {skipped} with nothing to bill, {len(failures)} failed")
    click.echo(archived)
    for number in numbers:
        click.echo(number)
    if failures:
        for line in failures:
            click.echo(f"not issued: {line}", err=True)
        raise click.ClickException(f"{len(failures)} client(s) could not be invoiced for {month}; "
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
@click.option("--stalled-after", default=30.0, show_default=True, type=click.FloatRange(1, 3600),
              help="PostgreSQL: seconds without a heartbeat after which a worker is taken for dead "
                   "and its job queued again.")
@click.option("--poll", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="SQLite: seconds between two sends of the outbox.")
@click.pass_obj
def worker(app, stalled_after: float, poll: float) -> None:
    """Run queued jobs until stopped (SIGTERM or Ctrl-C: the job in hand is finished first).

    PostgreSQL: the month's invoice jobs, the outbox (every minute and after each invoice) and the
    daily reminders, from the queue shared by every host. SQLite: the outbox every --poll seconds
    and the reminders once a day.
    """
    import logging

    from . import jobs, observability
    from .db import hold_in_use

    _require_schema()
    observability.configure_logging(os.environ.get("LEDGER_LOG_LEVEL", "INFO"))  # JSON lines, as `ledger serve`
    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # a line per rendering step otherwise
    hold_in_use(db.engine.url)  # a restore refuses while a worker runs
    db.session.remove()
    if jobs.uses_queue(app):
        click.echo("worker: taking jobs from the queue in PostgreSQL; SIGTERM to stop", err=True)
        jobs.run_worker(app, stalled_after=stalled_after)
    else:
        click.echo(f"worker: sending the outbox every {poll:g} s (SQLite); SIGTERM to stop", err=True)
        jobs.poll_outbox(app, every=poll)
    click.echo("worker: stopped", err=True)


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
