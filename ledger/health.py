"""``GET /healthz`` (the process answers) and ``GET /readyz`` (database, schema and archive ready)."""

from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

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
