"""Request ids and JSON logs: every log line of a request (or of a job it queued) names its id.

A request takes a sane incoming ``X-Request-Id`` (1 to 128 letters, digits, ``.``, ``_``,
``-``: a load balancer's id) or gets a new one; the response echoes it in ``X-Request-Id``.
The id lives in a context variable, so a log record made anywhere while the request runs
(the app, SQLAlchemy, a service) carries it as ``request_id``, whatever handler writes it.

Jobs carry it across the queue::

    context = observability.job_context()          # when queuing: store this dict with the job
    ...
    with observability.restored_context(context):  # in the worker, around the job's run
        run_the_job()

Log lines are JSON objects, one a line, written by python-json-logger's formatter: it is
maintained, it is only a :class:`logging.Formatter` (no logging framework of its own), and it
writes every ``extra`` field of a record as a key, which is how the request's fields get in.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.config
import re
import time
import uuid
from collections.abc import Iterator

from flask import Flask, Response, g, request
from sqlalchemy import inspect

from . import metrics

HEADER = "X-Request-Id"
#: a request id we take from a client: bounded, and nothing a log or a header could be bent by
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("user_id", default=None)

logger = logging.getLogger("ledger.requests")


def new_request_id() -> str:
    """A fresh id: 32 hex digits."""
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """``value`` if it is an id we may log and echo as it is, else None."""
    return value if value is not None and SAFE_REQUEST_ID.fullmatch(value) else None


def current_request_id() -> str | None:
    """The id of the request (or job) this code runs for; None outside any."""
    return _request_id.get()


def job_context() -> dict:
    """What to store with a job queued now (JSON-serializable): ``{"request_id": ID or None}``.

    The job-queue code calls this when it enqueues and keeps the dict with the job's
    arguments; the worker hands it back to :func:`restored_context`.
    """
    return {"request_id": current_request_id()}


@contextlib.contextmanager
def restored_context(context: dict | None) -> Iterator[str]:
    """Run a job under the request id stored by :func:`job_context`; yields the id in force.

    A job queued outside any request (``None``, or no sane id stored) gets a new id, so its
    lines still group together. The previous id is restored on exit, so a worker thread
    running one job after another never leaks an id into the next.
    """
    request_id = sane_request_id((context or {}).get("request_id")) or new_request_id()
    token = _request_id.set(request_id)
    user_token = _user_id.set(None)
    try:
        yield request_id
    finally:
        _user_id.reset(user_token)
        _request_id.reset(token)


# --- log records ---------------------------------------------------------------------------------

_base_factory = logging.getLogRecordFactory()


def _record_factory(*args, **kwargs) -> logging.LogRecord:
    """Stamp every record with the request id (and signed-in user) at the moment it is made."""
    record = _base_factory(*args, **kwargs)
    request_id = _request_id.get()
    if request_id is not None:
        record.request_id = request_id
        user_id = _user_id.get()
        if user_id is not None:
            record.user_id = user_id
    return record


def install_record_factory() -> None:
    """Install the stamping record factory once per process (a second call changes nothing)."""
    if logging.getLogRecordFactory() is not _record_factory:
        logging.setLogRecordFactory(_record_factory)


def json_formatter():
    """The formatter of every log line: a JSON object with time, level, logger, message and extras."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter("%(levelname)s %(name)s %(process)d %(message)s",
                         rename_fields={"levelname": "level", "name": "logger"}, timestamp="time",
                         json_ensure_ascii=False)


def logging_config(level: str = "INFO") -> dict:
    """A :func:`logging.config.dictConfig` dict: JSON lines on stderr for the app and gunicorn."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "ledger.observability.json_formatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process (``ledger serve``, ``ledger worker``)."""
    install_record_factory()
    logging.config.dictConfig(logging_config(level))


# --- the request hooks ---------------------------------------------------------------------------

def init_app(app: Flask) -> None:
    """Give every request an id, echo it, and log one line per request when it ends."""
    install_record_factory()
    app.before_request(_begin)
    app.after_request(_finish)
    app.teardown_request(_forget)


def _begin() -> None:
    g.request_started = time.perf_counter()
    request_id = sane_request_id(request.headers.get(HEADER)) or new_request_id()
    g.request_id_token = _request_id.set(request_id)


def _finish(response: Response) -> Response:
    request_id = _request_id.get()
    if request_id is None:  # a response made before our first hook ran
        return response
    response.headers[HEADER] = request_id
    user_id = _signed_in_user_id()
    if user_id is not None:
        _user_id.set(user_id)
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    served_by = route()
    logger.info("%s %s %s", request.method, request.path, response.status_code, extra={
        "method": request.method, "path": request.path, "route": served_by,
        "status": response.status_code, "duration_ms": round(seconds * 1000, 2),
    })
    metrics.observe_request(request.method, served_by, response.status_code, seconds)
    return response


def route() -> str:
    """The URL rule that served the request (``/api/v1/cases/<number>/responses``), not its raw path."""
    rule = request.url_rule
    return rule.rule if rule is not None else "(unmatched)"


def _signed_in_user_id() -> int | None:
    """The API's token user, or the page's signed-in user if this request loaded one (never loads it)."""
    user = g.get("user") or g.get("_login_user")
    if user is None:
        return None
    state = inspect(user, raiseerr=False)  # the key, without reloading a user the commit expired
    identity = state.identity if state is not None else None
    return identity[0] if identity else None


def _forget(_error: BaseException | None = None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        _user_id.set(None)
        try:
            _request_id.reset(token)
        except ValueError:  # torn down in another context than it began in: just forget it
            _request_id.set(None)
