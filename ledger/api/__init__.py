"""The JSON API under /api/v1: bearer tokens, role checks, the error object, idempotent POSTs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from decimal import Decimal
from functools import cache, wraps
from typing import TypeVar

import pydantic
from flask import Blueprint, Response, current_app, g, request
from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..db import acquire_write_lock
from ..errors import (
    BadRequest,
    ErrorInfo,
    Forbidden,
    IdempotencyConflict,
    LedgerError,
    NotFound,
    Unauthorized,
    ValidationError,
    describe,
)
from ..extensions import csrf, db
from ..models import IdempotencyRecord
from ..services.users import live_token, note_use
from .openapi import DEFAULT_LIMIT, MAX_IDEMPOTENCY_KEY, MAX_LIMIT, WRITES
from .schemas import MAX_ID, PAGES, PATTERN_MEANINGS

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies: no cross-site request can carry one
M = TypeVar("M", bound=pydantic.BaseModel)


class UnsupportedMediaType(LedgerError):
    status = 415
    code = "unsupported_media_type"


def json_response(payload, status: int = 200) -> Response:
    """A JSON response; Decimal and dates must already be strings."""
    return current_app.response_class(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        status=status,
        mimetype="application/json",
    )


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    return json_response(ErrorInfo(status, code, message, field).as_json(), status)


@blueprint.before_request
def authenticate() -> None:
    """Every API call carries ``Authorization: Bearer TOKEN`` (the OpenAPI document excepted)."""
    if request.endpoint == "api.openapi":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    row = live_token(db.session, token.strip()) if scheme.lower() == "bearer" else None
    if row is None:
        raise Unauthorized("a valid bearer token is required", "Authorization")
    if note_use(row):
        # its own short transaction, before the request's: reads commit nothing, and a refused
        # write must not take the token's last use back with it
        acquire_write_lock(db.session)
        db.session.commit()
    g.user = row.user


@blueprint.before_request
def refuse_impossible_identifiers() -> None:
    """A path naming no possible row (a NUL byte, an id past the database's range) is a 404."""
    for name, value in (request.view_args or {}).items():
        if (isinstance(value, str) and "\x00" in value) or (isinstance(value, int) and not 0 < value <= MAX_ID):
            field = "id" if name.endswith("_id") else name
            raise NotFound(f"no such {field}", field)


@blueprint.before_request
def refuse_bodies_that_are_not_json() -> None:
    """A POST body is JSON: a form or text sent by mistake is refused before anything reads it."""
    if request.method in WRITES and request.mimetype != "application/json" and request.get_data(cache=True):
        raise UnsupportedMediaType("the body must be application/json", "Content-Type")


def require(*roles: str) -> None:
    """Refuse with 403 unless the signed-in user has one of ``roles`` (admin may do everything)."""
    if g.user.role != "admin" and g.user.role not in roles:
        raise Forbidden(f"the {g.user.role} role may not do this")


@blueprint.errorhandler(Exception)
def handle_error(error: Exception):
    """Domain errors become the error object; nothing the request began is kept."""
    db.session.rollback()
    info = describe(error)
    if info is not None:
        response = json_response(info.as_json(), info.status)
        if info.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response
    if isinstance(error, HTTPException):
        return http_error(error)
    current_app.logger.exception("unexpected failure in %s %s", request.method, request.path)
    return error_response(500, "internal_error", "an unexpected error occurred; nothing was posted")


def http_error(error: HTTPException) -> Response:
    """404, 405, 413 … as the API's error object; 405 says which methods the path serves."""
    codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request"}
    field = "body" if error.code in (400, 413) else None
    response = error_response(error.code or 500, codes.get(error.code, "error"), error.description, field)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


def parse_json(raw: bytes) -> dict:
    """The request body as an object; numbers with a fraction become Decimal, never float."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
        # A lone surrogate ("\ud800") is valid JSON but no text a database can store.
        json.dumps(value, default=str, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadRequest("the body is nested too deeply", "body") from None
    except UnicodeEncodeError:
        raise BadRequest("the body holds text that is not valid Unicode", "body") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}", "body") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", "body")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def read(model: type[M]) -> M:
    """The request's JSON body as ``model`` (python mode, so Decimal stays Decimal)."""
    try:
        return model.model_validate(parse_json(request.get_data(cache=True)))
    except pydantic.ValidationError as error:
        raise field_error(error) from None


def field_error(error: pydantic.ValidationError, name: str | None = None) -> ValidationError:
    """The first problem pydantic found, as the API's error naming its field (``lines[2].quantity``)."""
    return _named_error(error.errors(include_url=False)[0], name)


def field_errors(error: pydantic.ValidationError) -> list[ValidationError]:
    """Every problem pydantic found, each naming its field: a page shows them all beside their fields."""
    return [_named_error(each) for each in error.errors(include_url=False)]


def _named_error(problem: dict, name: str | None = None) -> ValidationError:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"])
    field = name or path.lstrip(".") or "body"
    if problem["type"] == "extra_forbidden":
        return ValidationError(f"unknown field {field!r}", field)
    if problem["type"] == "missing":
        return ValidationError(f"{field} is required", field)
    if problem["type"] == "string_pattern_mismatch":
        meaning = PATTERN_MEANINGS.get(problem["ctx"]["pattern"], f"does not match {problem['ctx']['pattern']}")
        return ValidationError(f"{field} {meaning}", field)
    if problem["type"] == "value_error":
        return ValidationError(f"{field} {problem['msg'].removeprefix('Value error, ')}", field)
    return ValidationError(f"{field}: {problem['msg']}", field)


@cache
def _adapter(kind) -> TypeAdapter:
    return TypeAdapter(kind)


def query_arg(name: str, kind, default=None):
    """Query parameter ``name`` read as ``kind`` (such as :data:`schemas.Day`), or ``default`` if absent."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return _adapter(kind).validate_python(raw)
    except pydantic.ValidationError as error:
        raise field_error(error, name) from None


def page_args() -> tuple[int, int]:
    """``(after_id, limit)`` from ``cursor`` and ``limit``."""
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ValidationError(f"limit is a whole number from 1 to {MAX_LIMIT}", "limit")
    cursor = request.args.get("cursor")
    after = 0
    if cursor:
        try:
            after = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
            if not 0 <= after <= MAX_ID:
                raise ValueError(after)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadRequest("cursor is not one this API gave out", "cursor") from None
    return after, int(raw_limit)


def page(rows: list, limit: int, model: type[pydantic.BaseModel], **context) -> pydantic.BaseModel:
    """One page of ``rows`` as ``model`` objects, with the cursor of the next page or null."""
    following = None
    if len(rows) == limit:
        following = base64.urlsafe_b64encode(str(rows[-1].id).encode()).decode().rstrip("=")
    return PAGES[model](items=[model.of(row, **context) for row in rows], next=following)


def listing(model: type[pydantic.BaseModel], statement, entity, **context) -> pydantic.BaseModel:
    """One page of ``statement``'s rows, by id after the cursor, as ``model`` objects."""
    after, limit = page_args()
    statement = statement.where(entity.id > after).order_by(None).order_by(entity.id).limit(limit)
    return page(db.session.scalars(statement).all(), limit, model, **context)


def writes(view):
    """A POST: one transaction, committed once; with ``Idempotency-Key`` replayed, never posted twice."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        acquire_write_lock(db.session)  # SQLite: one writer at a time from the first read on
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY:
                raise BadRequest(f"Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY} characters",
                                 "Idempotency-Key")
            fingerprint = _request_fingerprint()
            earlier = _replay(key, fingerprint)
            if earlier is not None:
                return earlier
        response = view(*args, **kwargs)
        if key is not None and 200 <= response.status_code < 300:
            db.session.add(IdempotencyRecord(
                user_id=g.user.id, key=key, request_hash=fingerprint,
                status_code=response.status_code, response_body=response.get_data(),
            ))
        try:
            db.session.commit()
        except IntegrityError:  # the same key, committed meanwhile by a parallel request
            db.session.rollback()
            earlier = _replay(key, fingerprint) if key is not None else None
            if earlier is None:
                raise
            return earlier
        return response

    return wrapper


def _request_fingerprint() -> str:
    raw = request.get_data(cache=True)
    try:
        canonical = json.dumps(json.loads(raw or b"{}"), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        canonical = raw.decode("utf-8", "replace")
    text = f"{request.method} {request.path}\n{canonical}"
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(key: str, fingerprint: str) -> Response | None:
    record = db.session.query(IdempotencyRecord).filter_by(user_id=g.user.id, key=key).one_or_none()
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was used with another request", "Idempotency-Key")
    response = current_app.response_class(record.response_body, status=record.status_code,
                                          mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


from . import routes  # noqa: E402,F401  (registers the views; they import this module)
