"""Shared jobs on PostgreSQL: the month's invoices one job per client, the outbox, the daily reminders.

The queue is procrastinate's: its tables live in PostgreSQL beside the books (in a schema of
their own, ``procrastinate``), so any host that reaches the database can queue jobs and any host
running ``ledger worker`` takes them, one at a time each, with ``SELECT … FOR UPDATE SKIP
LOCKED``. A worker sends a heartbeat; a job whose worker stopped beating (killed, host lost) is
put back in the queue by the other workers. That is safe because every job is idempotent: a
client's invoice is issued under the client's row lock and only if it has none for the month
(its number committed with it, so the series stays gapless), and its PDF is rendered and recorded
only if it has none. On SQLite there is no queue: ``ledger invoices run`` runs in-process and
``ledger worker`` polls the outbox (:func:`poll_outbox`).

Why procrastinate rather than a table of our own taken with ``SKIP LOCKED``: the claim is the easy
part. A queue that survives killed workers also needs heartbeats and the detection of stalled
jobs, de-duplication of waiting jobs (its queueing locks), periodic jobs deferred once across
every host, a wake-up on insert (LISTEN/NOTIFY) and a graceful stop on SIGTERM; procrastinate has
all of them, tested, on psycopg 3 (the driver the app already uses), and keeps nothing outside
PostgreSQL. Its schema is plain SQL that migration 0016 applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime

import procrastinate
from flask import Flask
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import func, select
from sqlalchemy import text as sa_text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from . import billing, metrics, observability
from .extensions import db

log = logging.getLogger("ledger.worker")

#: the PostgreSQL schema of the queue's tables and functions (migration 0016 creates it)
SCHEMA = "procrastinate"
#: the first key of the advisory lock that one month's batch holds (the second is YYYYMM)
BATCH_LOCK_KEY = 0x4C45  # "LE"
#: the name of the per-client job, as the queue stores it
ISSUE_TASK = "ledger:issue_client"
#: a worker whose heartbeat is older than this (seconds) is taken for dead and its job queued again
STALLED_AFTER = 30.0

tasks = procrastinate.Blueprint()
#: the Flask app the worker's jobs run in (set by :func:`run_worker`)
_app: Flask | None = None


def uses_queue(app: Flask) -> bool:
    """Whether ``app``'s database carries the job queue (PostgreSQL); SQLite runs batches in-process."""
    return make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "postgresql"


def conninfo(url) -> str:
    """The libpq connection string of a SQLAlchemy URL, with the queue's schema on the search path."""
    from psycopg.conninfo import make_conninfo

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return make_conninfo(plain, options=f"-c search_path={SCHEMA}")


def queue(app: Flask) -> procrastinate.App:
    """A procrastinate app over ``app``'s database, with the ledger's tasks (open it before use)."""
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(app.config["SQLALCHEMY_DATABASE_URI"]))
    jobs = procrastinate.App(connector=connector, periodic_defaults={"max_delay": 3600})
    jobs.add_tasks_from(tasks, namespace="ledger")
    return jobs


# --- the jobs ---------------------------------------------------------------------------------


class ClientNotInvoiced(Exception):
    """The job's client could not be invoiced (the reason is in the message); not retried."""


@tasks.task(name="issue_client", queue="invoices",
            retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2, retry_exceptions={DBAPIError}))
def issue_client(period: str, client: str, today: str, context: dict | None = None) -> None:
    """Issue one client's invoice for the month and archive its PDF; a no-op where both are done.

    ``context`` carries the request id of the run that queued it into this job's log lines.
    """
    from . import batch

    month = billing.Period.parse(period)
    failed = True
    metrics.job_started("invoice")
    try:
        with observability.restored_context(context), _app.app_context():
            try:
                outcome = batch.issue_client(_app, client, month, date.fromisoformat(today))
                if isinstance(outcome, batch.Failure):
                    raise ClientNotInvoiced(f"{client}: {outcome.message} ({outcome.code})")
                archived = batch.archive_client(_app, client, month)
            finally:
                db.session.remove()
            if archived is not None:  # its e-mail, if the client gets one, goes out now that the PDF is there
                _send_invoice_mail(_app, archived)
        failed = False
    finally:
        metrics.job_finished("invoice", failed)


def _send_invoice_mail(app: Flask, invoice_id: int) -> None:
    from .models import utcnow
    from .services.mail import app_transport, send_invoice_mail

    result = send_invoice_mail(app, app_transport(app), utcnow(), invoice_id)
    if result.retrying or result.failed:
        log.warning("invoice mail: %s to retry later, %s failed", result.retrying, result.failed)


@tasks.periodic(cron="* * * * *", periodic_id="outbox")
@tasks.task(name="send_mail", queue="mail", queueing_lock="send-mail", priority=1)  # before waiting invoices
def send_mail(timestamp: int | None = None) -> None:
    """Send what the outbox holds and is due (every minute, and after each invoice with an e-mail)."""
    _send_outbox(_app)


@tasks.periodic(cron="0 6 * * *", periodic_id="daily")
@tasks.task(name="send_reminders", queue="mail", queueing_lock="reminders")
def send_reminders(timestamp: int | None = None) -> None:
    """Queue the reminders due today (each occasion once), then send the outbox. Daily at 06:00 UTC."""
    day = datetime.fromtimestamp(timestamp, UTC).date() if timestamp else date.today()
    queued = _queue_reminders(_app, day)
    log.info("reminders for %s: %s queued", day, queued)
    send_mail()


@metrics.add_database_collector
def queued_jobs(session) -> Iterable:
    """``ledger_queue_jobs{queue,status}``: the PostgreSQL queue's jobs by queue and status, every host's."""
    from prometheus_client.core import GaugeMetricFamily

    if session.get_bind().dialect.name != "postgresql":
        return
    rows = session.execute(sa_text("SELECT queue_name, status::text, count(*) FROM procrastinate.procrastinate_jobs "
                                   "GROUP BY 1, 2")).all()
    family = GaugeMetricFamily("ledger_queue_jobs", "Jobs in the PostgreSQL queue by queue and status "
                               "(todo, doing, succeeded, failed…), read from the database.",
                               labels=["queue", "status"])
    for queue_name, status, count in rows:
        family.add_metric([queue_name, status], count)
    yield family


def _send_outbox(app: Flask) -> None:
    """Send the outbox; what became of its messages is logged when there were any."""
    from .models import utcnow
    from .services.mail import app_transport, send_pending

    result = send_pending(app, app_transport(app), utcnow())
    if result.sent or result.retrying or result.failed:
        log.info("outbox: %s sent, %s to retry later, %s failed", result.sent, result.retrying, result.failed)


def _queue_reminders(app: Flask, day: date) -> int:
    from .db import acquire_write_lock
    from .services.reminders import queue_reminders

    with app.app_context():
        try:
            acquire_write_lock(db.session)
            queued = len(queue_reminders(db.session, day))
            db.session.commit()
        finally:
            db.session.rollback()
            db.session.remove()
    return queued


# --- the worker -------------------------------------------------------------------------------


def run_worker(app: Flask, *, stalled_after: float = STALLED_AFTER) -> None:
    """Take jobs until SIGTERM or SIGINT, then finish the job in hand and return."""
    global _app
    _app = app
    asyncio.run(_work(queue(app), stalled_after))


async def _work(jobs: procrastinate.App, stalled_after: float) -> None:
    async with jobs.open_async():
        # what waited while no worker ran: the outbox now, and today's reminders (each once)
        for task in (send_mail, send_reminders):
            with contextlib.suppress(AlreadyEnqueued):
                await jobs.tasks[task.name].defer_async()
        rescuer = asyncio.create_task(_requeue_stalled(jobs, stalled_after))
        try:
            await jobs.run_worker_async(
                name="ledger", update_heartbeat_interval=max(stalled_after / 3, 0.5),
                stalled_worker_timeout=stalled_after, fetch_job_polling_interval=2.0)
        finally:
            rescuer.cancel()


async def _requeue_stalled(jobs: procrastinate.App, stalled_after: float) -> None:
    """Put back in the queue every job whose worker stopped sending heartbeats (killed, host lost)."""
    while True:
        await asyncio.sleep(max(stalled_after / 2, 0.5))
        try:
            stalled = await jobs.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
        except Exception:  # noqa: BLE001 - the database may be away for a moment; try again later
            log.exception("looking for stalled jobs failed")
            continue
        for job in stalled:
            with contextlib.suppress(Exception):  # another worker put it back first
                await jobs.job_manager.retry_job(job)
                log.warning("job %s (%s %s) was left by a stopped worker: queued again", job.id,
                            job.task_name, job.task_kwargs)


def poll_outbox(app: Flask, *, every: float = 10.0, today: Callable[[], date] = date.today) -> None:
    """SQLite's worker: send the outbox every ``every`` seconds and queue reminders once a day,
    until SIGTERM or SIGINT (the round in hand is finished first)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    reminded = None
    while not stop.is_set():
        if reminded != today():
            reminded = today()
            log.info("reminders for %s: %s queued", reminded, _queue_reminders(app, reminded))
        _send_outbox(app)
        stop.wait(every)


# --- the month's batch, queued --------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Where the month's jobs stand: how many in all, finished well, failed."""

    total: int
    succeeded: int
    failed: int

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


class BatchRunning(Exception):
    """Another ``ledger invoices run`` for the same month holds its lock."""


@contextmanager
def month_lock(app: Flask, period: billing.Period, *, wait: bool,
               on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold the month's batch lock (a PostgreSQL advisory lock) for the block, across all hosts.

    With ``wait`` a second run waits for the first (``on_wait`` is called once first); without it
    BatchRunning is raised.
    """
    import psycopg

    keys = (BATCH_LOCK_KEY, period.year * 100 + period.month)
    with psycopg.connect(conninfo(app.config["SQLALCHEMY_DATABASE_URI"]), autocommit=True) as connection:
        if not connection.execute("SELECT pg_try_advisory_lock(%s, %s)", keys).fetchone()[0]:
            if not wait:
                raise BatchRunning(f"a batch for {period} is running (another `ledger invoices run`)")
            on_wait()
            connection.execute("SELECT pg_advisory_lock(%s, %s)", keys)
        yield  # the lock ends with the connection


def enqueue_month(app: Flask, period: billing.Period, today: date) -> list[int]:
    """Queue one job per client without an invoice for ``period``; returns the month's unfinished job ids.

    Jobs still waiting or running for the month (a run with ``--no-wait``, a worker's retry) are
    followed, not queued again. Run under :func:`month_lock`.
    """
    from .models import Client, Invoice
    from .services.invoicing import check_period
    from .services.vendor import get_vendor, require_complete

    check_period(period, today)  # fails before anything is queued
    require_complete(get_vendor(db.session))
    pending = _pending_jobs(app, period)
    if pending:
        return pending
    invoiced = select(Invoice.client_id).where(Invoice.period == str(period), Invoice.kind == "invoice")
    codes = db.session.scalars(select(Client.code).where(Client.id.not_in(invoiced)).order_by(Client.code)).all()
    db.session.rollback()
    jobs = queue(app)
    with jobs.open():
        task = jobs.tasks[ISSUE_TASK]
        context = observability.job_context()
        queued = [task.configure(queueing_lock=f"invoice:{period}:{code}").defer(
            period=str(period), client=code, today=today.isoformat(), context=context) for code in codes]
    for _ in queued:
        metrics.job_queued("invoice")
    return queued


def _pending_jobs(app: Flask, period: billing.Period) -> list[int]:
    rows = _query(app, f"SELECT id FROM {SCHEMA}.procrastinate_jobs WHERE task_name = %s "
                       "AND args->>'period' = %s AND status IN ('todo', 'doing') ORDER BY id",
                  (ISSUE_TASK, str(period)))
    return [row[0] for row in rows]


def progress(app: Flask, job_ids: list[int]) -> Progress:
    """How far the jobs ``job_ids`` are."""
    rows = _query(app, f"SELECT status::text, count(*) FROM {SCHEMA}.procrastinate_jobs "
                       "WHERE id = ANY(%s) GROUP BY status", (job_ids,))
    counts = dict(rows)
    failed = counts.get("failed", 0) + counts.get("cancelled", 0) + counts.get("aborted", 0)
    return Progress(len(job_ids), counts.get("succeeded", 0), failed)


def failed_clients(app: Flask, job_ids: list[int]) -> list[str]:
    """The clients of the jobs among ``job_ids`` that failed."""
    rows = _query(app, f"SELECT args->>'client' FROM {SCHEMA}.procrastinate_jobs WHERE id = ANY(%s) "
                       "AND status IN ('failed', 'cancelled', 'aborted') ORDER BY 1", (job_ids,))
    return [row[0] for row in rows]


def month_outcome(app: Flask, period: billing.Period) -> tuple[list[str], int]:
    """The month's invoice numbers, and how many clients have none for it."""
    from .models import Client, Invoice

    invoices = select(Invoice).where(Invoice.period == str(period), Invoice.kind == "invoice")
    numbers = db.session.scalars(invoices.with_only_columns(Invoice.number).order_by(Invoice.number)).all()
    without = db.session.scalar(select(func.count(Client.id)).where(
        Client.id.not_in(invoices.with_only_columns(Invoice.client_id))))
    db.session.rollback()
    return list(numbers), without


def _query(app: Flask, sql: str, params: tuple) -> list[tuple]:
    import psycopg

    with psycopg.connect(conninfo(app.config["SQLALCHEMY_DATABASE_URI"]), autocommit=True) as connection:
        return connection.execute(sql, params).fetchall()
