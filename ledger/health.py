"""``GET /healthz`` (the process answers), ``GET /readyz`` (database, schema and archive ready) and
``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from flask import Blueprint, current_app, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import metrics
from .extensions import db
from .services.users import user_for_token

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    """The process is up: for a process manager's liveness probe (touches nothing)."""
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz():
    """Ready for traffic: 200 when the database answers, its schema is current and the archive is writable."""
    failed = {name: problem for name, check in CHECKS.items() if (problem := check()) is not None}
    if failed:
        return {"status": "unavailable", "failed": failed}, 503
    return {"status": "ok"}


def _database() -> str | None:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:  # any failure to reach it is the answer, not a 500
        db.session.rollback()
        return f"unreachable: {type(error).__name__}"
    return None


def _schema() -> str | None:
    from .migrate import is_current

    try:
        return None if is_current() else "not current: run `ledger init`"
    except SQLAlchemyError as error:
        return f"unknown: {type(error).__name__}"


def _archive() -> str | None:
    from . import storage

    try:
        return storage.for_config(current_app.config).writable()
    except ValueError as error:  # an archive URL that names no store
        return str(error)


CHECKS = {"database": _database, "schema": _schema, "archive": _archive}


#: remote addresses that may read /metrics without a token (a scraper on the host itself)
LOOPBACK = frozenset({"127.0.0.1", "::1"})
#: headers a reverse proxy adds: a request carrying one came from elsewhere, whatever its address
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-Ip")


@blueprint.get("/metrics")
def metrics_view():
    """Prometheus metrics: for a scraper on this host (loopback, not proxied) or with an admin's token."""
    if not _may_read_metrics():
        return {"error": {"code": "forbidden", "message": "metrics are served to loopback or an admin's "
                          "bearer token", "field": None}}, 403
    body, content_type = metrics.exposition(db.session)
    db.session.rollback()  # the scrape's reads end here; nothing was written
    return current_app.response_class(body, content_type=content_type)


def _may_read_metrics() -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        user = user_for_token(db.session, token.strip())
        return user is not None and user.role == "admin"
    proxied = any(name in request.headers for name in PROXY_HEADERS)
    return request.remote_addr in LOOPBACK and not proxied
