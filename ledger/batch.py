"""The monthly invoice batch: issue (numbers, lines) client by client, then render in worker processes.

Issuing and rendering are separate steps: a batch killed half-way and run again
issues nothing twice and renders only what is missing.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import billing, metrics, storage
from .db import acquire_write_lock
from .errors import describe
from .extensions import db
from .models import Client, Invoice, InvoiceDocument, User
from .services import archive
from .services.invoicing import check_period, issue_invoice
from .services.vendor import get_vendor, require_complete

#: niceness of rendering workers: the web app keeps answering while a batch renders
WORKER_NICENESS = 10

_worker_app: Flask | None = None


@dataclass(frozen=True)
class Failure:
    """A client whose invoice could not be issued, and why (the error's code and message)."""

    client: str
    code: str
    message: str

    def as_json(self) -> dict:
        return {"client": self.client, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class BatchResult:
    issued: list[str]
    skipped: list[str]
    failed: list[Failure] = field(default_factory=list)
    rendered: int = 0
    #: peak resident memory of each worker process, in KiB
    worker_peak_kib: tuple[int, ...] = ()


def run(app: Flask, period: billing.Period | str, today: date, *, workers: int = 1, user: User | None = None,
        progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """The month's run, the one issuing path of the API, the finance page and the CLI.

    Refuses the whole run with VendorIncomplete (409) while the vendor's profile is incomplete.
    Issues client by client (one client that cannot be invoiced is listed in ``failed`` and
    stops no one else), then renders and archives every PDF still missing, so each issued
    invoice has its SHA-256 when this returns. A batch worker: it commits per unit of work.
    """
    issued, skipped, failed = issue_month(app, period, today, user)
    rendered, peaks = render_missing(app, workers=workers, progress=progress)
    return BatchResult(issued, skipped, failed, rendered, peaks)


def issue_month(app: Flask, period: billing.Period | str, today: date,
                user: User | None = None) -> tuple[list[str], list[str], list[Failure]]:
    """Issue the month's invoices, one transaction per client; returns (numbers, codes skipped, failures).

    Committing client by client keeps each lock short, so the app's writers are not held up
    for the whole batch; numbers stay gapless because each is committed with its invoice.
    """
    numbers, skipped, failed = [], [], []
    user_id = user.id if user is not None else None
    with app.app_context():
        period = check_period(period, today)  # fails before anything is issued
        # checked once: an incomplete profile would otherwise fail every client the same way
        require_complete(get_vendor(db.session))
        codes = db.session.scalars(select(Client.code).order_by(Client.code)).all()
        db.session.rollback()
        issuer = db.session.get(User, user_id) if user_id is not None else None
        metrics.batch_progress(str(period), 0, len(codes))
        for code in codes:
            outcome = issue_client(app, code, period, today, issuer)
            if isinstance(outcome, Failure):
                failed.append(outcome)
            else:
                (numbers if outcome else skipped).append(outcome or code)
            metrics.batch_progress(str(period), len(numbers), len(codes))
    return numbers, skipped, failed


def issue_client(app: Flask, code: str, period: billing.Period, today: date,
                 issuer: User | None = None) -> str | Failure | None:
    """Issue one client's invoice in a transaction of its own; its number, None (nothing to bill, or
    issued before), or the Failure. Call inside an app context; the unit of work of a batch job too."""
    try:
        acquire_write_lock(db.session)
        client = db.session.scalar(select(Client).where(Client.code == code))
        invoice = issue_invoice(db.session, client, period, today, issuer)
        number = invoice.number if invoice is not None else None
        db.session.commit()
    except Exception as error:  # noqa: BLE001 - one client's failure is reported, not fatal
        db.session.rollback()
        return _failure(app, code, error)
    except BaseException:
        db.session.rollback()
        raise
    return number


def _failure(app: Flask, code: str, error: Exception) -> Failure:
    info = describe(error)
    if info is None:
        app.logger.exception("invoicing %s failed", code)
        return Failure(code, "internal_error", "an unexpected error; the server log has the details")
    return Failure(code, info.code, info.message)


def issue(app: Flask, period: billing.Period | str, today: date,
          user: User | None = None) -> tuple[list[str], list[str]]:
    """Issue the month without rendering; returns (numbers issued, codes skipped). For benchmarks and tests."""
    numbers, skipped, _ = issue_month(app, period, today, user)
    return numbers, skipped


def render_missing(app: Flask, *, workers: int = 2,
                   progress: Callable[[int, int], None] | None = None) -> tuple[int, tuple[int, ...]]:
    """Render and record every issued document without an archived PDF; returns (count, worker peaks)."""
    with app.app_context():
        pending = archive.unrendered(db.session)
        db.session.remove()
        if workers > 1:
            db.engine.dispose()  # no pooled connection may cross the fork
    if not pending:
        return 0, ()
    pool = None
    if workers <= 1:
        _init_worker(app, nice=False)
        results = map(_render, pending)
    else:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_init_worker, initargs=(app, True, os.getpid()))
        results = pool.map(_render, pending, chunksize=1)
    peaks: dict[int, int] = {}
    with app.app_context():
        try:
            for done, (rendered, pid, peak_kib) in enumerate(results, start=1):
                _record(rendered)  # each PDF recorded as soon as it is safely on disk
                peaks[pid] = max(peaks.get(pid, 0), peak_kib)
                if progress:
                    progress(done, len(pending))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            db.session.remove()
    return len(pending), tuple(peaks.values())


def _init_worker(app: Flask, nice: bool = True, parent: int | None = None) -> None:
    global _worker_app
    if parent is not None:
        _end_with_parent(parent)
    if nice:
        os.nice(WORKER_NICENESS)
        with app.app_context():
            db.engine.dispose(close=False)  # the parent's connections are not ours to use
    _worker_app = app


def _end_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when its parent dies, so a killed batch leaves none behind."""
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent check below still helps
        pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _render(invoice_id: int) -> tuple[archive.Rendered, int, int]:
    """Render one PDF into the archive; returns it with this process's id and peak memory (KiB)."""
    app = _worker_app
    with app.app_context():
        try:
            invoice = db.session.get(Invoice, invoice_id)
            rendered = archive.render_to_archive(invoice, storage.for_config(app.config), app.config)
        finally:
            db.session.remove()
    return rendered, os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def archive_client(app: Flask, code: str, period: billing.Period) -> int | None:
    """Make sure ``code``'s invoice for ``period`` has its PDF archived; the invoice's id (None: no invoice).

    A job killed between issuing and recording is retried: the invoice is then found issued, and
    only its PDF is made. Call inside an app context.
    """
    invoice = db.session.scalar(
        select(Invoice).join(Client, Invoice.client_id == Client.id)
        .where(Client.code == code, Invoice.period == str(period), Invoice.kind == "invoice"))
    invoice_id = invoice.id if invoice is not None else None
    if invoice is None or _archived(invoice_id):
        db.session.rollback()
        return invoice_id
    _record(archive.render_to_archive(invoice, storage.for_config(app.config), app.config))
    return invoice_id


def _record(rendered: archive.Rendered) -> None:
    """Record a rendered PDF and commit; a batch or a retried job beside this one may have recorded
    the same bytes first."""
    try:
        archive.record(db.session, rendered)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()


def _archived(invoice_id: int) -> bool:
    return db.session.scalar(select(InvoiceDocument.id).where(InvoiceDocument.invoice_id == invoice_id)) is not None
