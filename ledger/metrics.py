"""Prometheus metrics: requests, charges, invoices, jobs and the month's batch; read at ``GET /metrics``.

Under ``ledger serve`` every gunicorn worker writes its figures to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode) and a scrape of any
worker sums them all. The metric objects are made on first use, not at import, because the
client picks its storage from that variable, which ``ledger serve`` sets before the app loads.

Counts of business events (charges, invoices) are kept with the session and added only when
its transaction commits: a request that rolls back counts nothing.

The job queue reports through :func:`job_queued`, :func:`job_started` and
:func:`job_finished`; anything counted in the database (the mail outbox, a job table) is read
at scrape time by a collector added with :func:`add_database_collector`.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable
from types import SimpleNamespace

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

#: the environment variable naming the multiprocess folder (prometheus-client's own name)
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: latency buckets in seconds: a charge takes milliseconds, a month's run through the API minutes
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120)


#: a gunicorn worker serves on two threads: their first requests must not each make a set of metric
#: objects, for two objects over one multiprocess file overwrite each other's counts
_making = threading.Lock()


def metrics() -> SimpleNamespace:
    """The process's metric objects, made once, on first use, in a registry of their own."""
    with _making:
        return _made()


@functools.cache
def _made() -> SimpleNamespace:
    from prometheus_client import CollectorRegistry, values
    from prometheus_client import Counter as _Counter
    from prometheus_client import Gauge as _Gauge
    from prometheus_client import Histogram as _Histogram

    values.ValueClass = values.get_value_class()  # the storage PROMETHEUS_MULTIPROC_DIR asks for now
    registry = CollectorRegistry()
    Counter, Gauge, Histogram = (functools.partial(kind, registry=registry)
                                 for kind in (_Counter, _Gauge, _Histogram))
    return SimpleNamespace(
        registry=registry,
        requests=Counter("ledger_http_requests", "HTTP requests answered, by route (the URL rule) "
                         "and status.", ["method", "route", "status"]),
        latency=Histogram("ledger_http_request_duration_seconds", "Time to answer a request, by route.",
                          ["method", "route"], buckets=LATENCY_BUCKETS),
        charges=Counter("ledger_charges_posted", "Charges posted (committed), by unit and activity kind.",
                        ["unit", "kind"]),
        charged=Counter("ledger_charged_quantity", "What the committed charges drew: incidents, or minutes "
                        "of prepaid or overage work.", ["unit", "kind"]),
        invoices=Counter("ledger_invoices_issued", "Invoices and credit notes issued (committed).", ["kind"]),
        jobs_queued=Counter("ledger_jobs_queued", "Jobs put on the queue.", ["job"]),
        jobs_running=Gauge("ledger_jobs_running", "Jobs running now in this host's live processes.", ["job"],
                           multiprocess_mode="livesum"),
        jobs_finished=Counter("ledger_jobs_finished", "Jobs that ended, by outcome (succeeded, failed).",
                              ["job", "outcome"]),
        batch_clients=Gauge("ledger_batch_clients", "Clients to invoice in the month's run under way.",
                            ["period"], multiprocess_mode="mostrecent"),
        batch_issued=Gauge("ledger_batch_invoices_issued", "Invoices issued so far in the month's run.",
                           ["period"], multiprocess_mode="mostrecent"),
    )


# --- requests ------------------------------------------------------------------------------------

def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (called once per request by the logging hook)."""
    m = metrics()
    m.requests.labels(method, route, str(status)).inc()
    m.latency.labels(method, route).observe(seconds)


# --- business events, counted when their transaction commits -----------------------------------

def charge_posted(session: Session, unit: str, kind: str, quantity: int) -> None:
    """A charge of ``quantity`` (incidents or minutes) for an activity of ``kind``, counted at commit."""
    _pending(session).append(("charge", unit, kind, quantity))


def invoice_issued(session: Session, kind: str = "invoice") -> None:
    """An invoice (or ``credit_note``) issued, counted at commit."""
    _pending(session).append(("invoice", kind))


def _pending(session: Session) -> list:
    return session.info.setdefault("ledger_metrics", [])


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    pending = session.info.pop("ledger_metrics", None)
    if not pending:
        return
    m = metrics()
    for what, *labels in pending:
        if what == "charge":
            unit, kind, quantity = labels
            m.charges.labels(unit, kind).inc()
            m.charged.labels(unit, kind).inc(quantity)
        else:
            m.invoices.labels(*labels).inc()


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, _previous) -> None:
    session.info.pop("ledger_metrics", None)


# --- jobs and the batch --------------------------------------------------------------------------

def job_queued(job: str) -> None:
    """Call when a job named ``job`` (e.g. ``invoice``, ``mail``) is put on the queue."""
    metrics().jobs_queued.labels(job).inc()


def job_started(job: str) -> None:
    """Call when a worker starts a job; pair it with :func:`job_finished`."""
    metrics().jobs_running.labels(job).inc()


def job_finished(job: str, failed: bool) -> None:
    """Call when the job started with :func:`job_started` ends, whether it succeeded or failed."""
    m = metrics()
    m.jobs_running.labels(job).dec()
    m.jobs_finished.labels(job, "failed" if failed else "succeeded").inc()


def batch_progress(period: str, issued: int, clients: int) -> None:
    """The month's run for ``period``: ``issued`` invoices so far of ``clients`` to invoice."""
    m = metrics()
    m.batch_clients.labels(period).set(clients)
    m.batch_issued.labels(period).set(issued)


# --- figures read from the database at scrape time ------------------------------------------------

DatabaseCollector = Callable[[Session], Iterable]
_database_collectors: list[DatabaseCollector] = []


def add_database_collector(collect: DatabaseCollector) -> DatabaseCollector:
    """Register ``collect(session)``, which yields metric families read from the database at each scrape.

    The figures are the whole deployment's (every host reads the same database): aggregate
    them across hosts with ``max``, not ``sum``.
    """
    _database_collectors.append(collect)
    return collect


@add_database_collector
def outbox_messages(session: Session) -> Iterable:
    """``ledger_outbox_messages{state}``: the mail outbox's messages by state."""
    from prometheus_client.core import GaugeMetricFamily

    from .models import OutboxMessage
    from .models.mail import MAIL_STATES

    counts = dict(session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
    family = GaugeMetricFamily("ledger_outbox_messages", "Mail outbox messages by state (queued, sending, "
                               "sent, failed), read from the database.", labels=["state"])
    for state in MAIL_STATES:
        family.add_metric([state], counts.get(state, 0))
    yield family


class _FromDatabase:
    def __init__(self, session: Session):
        self.session = session

    def collect(self):
        for collect in _database_collectors:
            yield from collect(self.session)


def exposition(session: Session) -> tuple[bytes, str]:
    """The text a scrape answers (every worker's figures summed in multiprocess mode), and its type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    processes = metrics().registry  # made here at the latest: every metric shows (at zero) from the start
    if os.environ.get(MULTIPROC_DIR):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    database = CollectorRegistry(auto_describe=False)
    database.register(_FromDatabase(session))
    return generate_latest(processes) + generate_latest(database), CONTENT_TYPE_LATEST


# --- the multiprocess folder (``ledger serve``) ---------------------------------------------------

def prepare_multiprocess_dir(folder: str) -> None:
    """Start ``folder`` empty of earlier runs' figures and point prometheus-client at it."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    os.environ[MULTIPROC_DIR] = folder
    _made.cache_clear()


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit``: a dead worker's live gauges stop counting."""
    from prometheus_client import multiprocess

    if os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(pid)
